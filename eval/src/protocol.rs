//! The evaluation protocol (method.md section 8) over a test split: per replication, a seeded
//! draw of up to ~1,000 test clips (a whole number of batches of 32), one caption each, the
//! model's motions at the clips' lengths, and the metrics on evaluator embeddings beside the same
//! metrics on the real clips; MultiModality on its own draws; KP accuracy on the kinematic-phrase
//! prompt set. Text encoding and decomposition come from the caller ([`Conditioner`]).

use std::time::Instant;

use motion::checkpoint::MotionModel;
use motion::data::captions::CaptionLine;
use motion::data::dataset::Dataset;
use motion::sample::SampleOptions;
use motion::FEATURE_DIM;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::evaluator::{Evaluator, UNIT_LENGTH};
use crate::metrics::{self, R_PRECISION_BATCH};
use crate::pos::humanml3d_tokens;
use crate::report::{Report, RowValues};

/// What turns captions into the model's condition.
pub trait Conditioner {
    /// Caption embeddings `[N, E]` on `device` and, when `sentences`, each caption's sub-sentence
    /// embeddings `[n_i, E]`.
    fn condition(
        &mut self,
        captions: &[String],
        sentences: bool,
        device: Device,
    ) -> Result<(Tensor, Option<Vec<Tensor>>)>;
}

/// What is reported along the way.
pub trait Progress {
    /// `done` of `total` motions generated in the current phase `what`.
    fn generated(&mut self, _what: &str, _done: usize, _total: usize) {}
    /// A replication finished.
    fn replicated(&mut self, _r: usize, _of: usize) {}
}

/// The protocol's knobs (defaults: the reference's).
#[derive(Debug, Clone)]
pub struct ProtocolOptions {
    pub replications: usize,
    /// Replications that also measure MultiModality (the reference: all of them; it costs
    /// `mm_captions * mm_generations` motions each).
    pub mm_replications: usize,
    /// Test clips drawn per replication (rounded down to whole batches of 32).
    pub max_motions: usize,
    pub mm_captions: usize,
    pub mm_generations: usize,
    pub mm_times: usize,
    pub diversity_times: usize,
    /// Motions per sampling call.
    pub chunk: usize,
    /// Replications that score the KP-accuracy prompt set (0: skip it).
    pub kp_replications: usize,
    /// Steps, guidance, sampler and refinement of every call (rows and lengths are set per call).
    pub sample: SampleOptions,
    pub seed: u64,
}

impl Default for ProtocolOptions {
    fn default() -> Self {
        Self {
            replications: 20,
            mm_replications: 5,
            max_motions: 1000,
            mm_captions: 100,
            mm_generations: 30,
            mm_times: 10,
            diversity_times: 300,
            chunk: 256,
            kp_replications: 20,
            sample: SampleOptions::default(),
            seed: 0,
        }
    }
}

/// One test clip with the model's usable length.
struct Clip {
    sample: usize,
    length: usize,
}

/// Runs the protocol for `model` on `test` and returns the report (ground-truth and model rows).
pub fn evaluate(
    model: &MotionModel,
    evaluator: &Evaluator,
    test: &Dataset,
    conditioner: &mut dyn Conditioner,
    opts: &ProtocolOptions,
    progress: &mut dyn Progress,
) -> Result<Report> {
    let started = Instant::now();
    evaluator.check_layout(FEATURE_DIM)?;
    let clips = usable_clips(model, evaluator, test)?;
    let per_replication =
        (opts.max_motions.min(clips.len()) / R_PRECISION_BATCH) * R_PRECISION_BATCH;
    if per_replication == 0 {
        return Err(Error::TooFew {
            what: format!(
                "usable clips in the {} split of {}",
                test.split,
                test.dir.display()
            ),
            got: clips.len(),
            need: R_PRECISION_BATCH,
            fix: "R-precision ranks each caption among 32 motions: use a larger test split".into(),
        });
    }
    let wants_sentences = model.card.model.variant == motion::model::Variant::Decoder;
    // Real clips once, for FID's reference statistics.
    let all: Vec<usize> = (0..clips.len()).collect();
    let real_all = embed_real(evaluator, test, &clips, &all)?;
    let (mut gt, mut gen) = (RowValues::default(), RowValues::default());
    let mut timing = Timing::default();
    for r in 0..opts.replications {
        let seed = opts.seed.wrapping_add(r as u64);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut order = all.clone();
        order.shuffle(&mut rng);
        order.truncate(per_replication);
        let drawn: Vec<&CaptionLine> = order
            .iter()
            .map(|&i| {
                let caps = &test.samples[clips[i].sample].captions;
                &caps[rng.random_range(0..caps.len())]
            })
            .collect();
        let captions: Vec<String> = drawn.iter().map(|c| c.caption.clone()).collect();
        let lengths: Vec<usize> = order.iter().map(|&i| clips[i].length).collect();
        let t = Instant::now();
        let text = encode_texts(evaluator, &drawn)?;
        // Ground truth: the drawn clips themselves (their rows of the embeddings made above).
        let drawn_rows: Vec<i64> = order.iter().map(|&i| i as i64).collect();
        let real = real_all.index_select(
            0,
            &Tensor::from_slice(&drawn_rows).to_device(real_all.device()),
        );
        gt.push(score(&text, &real, &real_all, opts, seed, 0)?);
        timing.encode_s += t.elapsed().as_secs_f64();
        // The model.
        let t = Instant::now();
        let feats = generate(
            model,
            conditioner,
            &captions,
            &lengths,
            wants_sentences,
            opts,
            seed,
            &mut |done, total| progress.generated("test captions", done, total),
        )?;
        timing.generate_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let valid = finite_motions(&feats, &lengths);
        let motions = evaluator.encode_motions(&feats, &lengths)?;
        let (motions, dropped) = metrics::keep_valid(&motions, &valid)?;
        let (text_kept, _) = metrics::keep_valid(&text, &valid)?;
        let mut values = score(&text_kept, &motions, &real_all, opts, seed, dropped)?;
        timing.encode_s += t.elapsed().as_secs_f64();
        if r < opts.mm_replications {
            let t = Instant::now();
            values.multimodality = Some(multimodality(
                model,
                evaluator,
                conditioner,
                &captions,
                &lengths,
                wants_sentences,
                opts,
                seed,
                progress,
            )?);
            timing.multimodality_s += t.elapsed().as_secs_f64();
        }
        if r < opts.kp_replications {
            let t = Instant::now();
            values.kp_accuracy = Some(kp_accuracy(
                model,
                conditioner,
                wants_sentences,
                opts,
                seed,
            )?);
            timing.kp_s += t.elapsed().as_secs_f64();
        }
        gen.push(values);
        progress.replicated(r + 1, opts.replications);
    }
    timing.total_s = started.elapsed().as_secs_f64();
    Report::new(gt, gen, per_replication, opts, timing, evaluator.origin())
}

/// Where the time went, seconds.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timing {
    pub generate_s: f64,
    pub encode_s: f64,
    pub multimodality_s: f64,
    pub kp_s: f64,
    pub total_s: f64,
}

/// Test clips the model and the evaluator can both take, with lengths cut to the shorter limit and
/// down to whole movement units (as the reference's loader does).
fn usable_clips(model: &MotionModel, evaluator: &Evaluator, test: &Dataset) -> Result<Vec<Clip>> {
    let spec = &model.card.motion;
    let cap = spec.max_rows.min(evaluator.config().max_motion_length);
    Ok(test
        .samples
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let length = (s.rows.len().min(cap) / UNIT_LENGTH) * UNIT_LENGTH;
            (length >= spec.min_rows.max(UNIT_LENGTH)).then_some(Clip { sample: i, length })
        })
        .collect())
}

/// Evaluator text embeddings `[N, E]`, in chunks: from the data's `word/POS` tokens where the
/// caption file has them (HumanML3D), else from our tagger.
fn encode_texts(evaluator: &Evaluator, captions: &[&CaptionLine]) -> Result<Tensor> {
    let tokens: Vec<Vec<String>> = captions
        .iter()
        .map(|c| {
            if c.tokens.is_empty() {
                humanml3d_tokens(&c.caption)
            } else {
                c.tokens.clone()
            }
        })
        .collect();
    let parts = tokens
        .chunks(512)
        .map(|t| evaluator.encode_tokens(t))
        .collect::<Result<Vec<_>>>()?;
    Ok(Tensor::cat(&parts, 0))
}

/// Evaluator embeddings `[N, E]` of the clips `which` (their first `length` rows), in chunks.
fn embed_real(
    evaluator: &Evaluator,
    test: &Dataset,
    clips: &[Clip],
    which: &[usize],
) -> Result<Tensor> {
    let mut parts = Vec::new();
    for chunk in which.chunks(256) {
        let rows = chunk.iter().map(|&i| clips[i].length).max().unwrap_or(1);
        let mut data = vec![0f32; chunk.len() * rows * FEATURE_DIM];
        for (k, &i) in chunk.iter().enumerate() {
            let src = test.sample_rows(&test.samples[clips[i].sample]);
            let n = clips[i].length * FEATURE_DIM;
            data[k * rows * FEATURE_DIM..k * rows * FEATURE_DIM + n].copy_from_slice(&src[..n]);
        }
        let feats =
            Tensor::from_slice(&data).view([chunk.len() as i64, rows as i64, FEATURE_DIM as i64]);
        let lengths: Vec<usize> = chunk.iter().map(|&i| clips[i].length).collect();
        parts.push(evaluator.encode_motions(&feats, &lengths)?);
    }
    Ok(Tensor::cat(&parts, 0))
}

/// The model's motions for `captions` at `lengths`: raw features `[N, max length, 263]` on the
/// model's device (the evaluator reads them there: no round trip through host memory), generated
/// in chunks of similar lengths (less padding), returned in the given order.
#[allow(clippy::too_many_arguments)]
fn generate(
    model: &MotionModel,
    conditioner: &mut dyn Conditioner,
    captions: &[String],
    lengths: &[usize],
    sentences: bool,
    opts: &ProtocolOptions,
    seed: u64,
    on_done: &mut dyn FnMut(usize, usize),
) -> Result<Tensor> {
    let n = captions.len();
    let rows = lengths.iter().copied().max().unwrap_or(1) as i64;
    let mut by_length: Vec<usize> = (0..n).collect();
    by_length.sort_by_key(|&i| lengths[i]);
    let device = model.vs.device();
    let out = Tensor::zeros([n as i64, rows, FEATURE_DIM as i64], (Kind::Float, device));
    let mut done = 0;
    for (c, chunk) in by_length.chunks(opts.chunk.max(1)).enumerate() {
        let caps: Vec<String> = chunk.iter().map(|&i| captions[i].clone()).collect();
        let lens: Vec<i64> = chunk.iter().map(|&i| lengths[i] as i64).collect();
        let (text, subs) = conditioner.condition(&caps, sentences, device)?;
        let chunk_rows = *lens.iter().max().expect("a chunk is not empty");
        let sample = SampleOptions {
            rows: chunk_rows,
            lengths: Some(lens),
            seed: seed.wrapping_mul(1_000_003).wrapping_add(c as u64),
            ..opts.sample.clone()
        };
        let sampled = model
            .sample(&text, subs.as_deref(), &sample, &mut |_, _| {})
            .map_err(|e| Error::Invalid(format!("sampling: {e}")))?;
        let index = Tensor::from_slice(&chunk.iter().map(|&i| i as i64).collect::<Vec<_>>())
            .to_device(device);
        // [C, chunk_rows, 263] into the first chunk_rows rows (the rest stays zero padding).
        let _ = out
            .narrow(1, 0, chunk_rows)
            .index_copy_(0, &index, &sampled.features);
        done += chunk.len();
        on_done(done, n);
    }
    Ok(out)
}

/// Whether each generated motion `feats [N, T, 263]` is finite on its real frames, in one pass on
/// the tensor's device and one transfer: a frame whose sum is finite has only finite values; the
/// rare motion with a non-finite sum on a real frame (a NaN, an infinity, or an overflowing sum) is
/// then checked value by value.
fn finite_motions(feats: &Tensor, lengths: &[usize]) -> Vec<bool> {
    let (n, rows) = (lengths.len() as i64, feats.size()[1]);
    let device = feats.device();
    let lens: Vec<i64> = lengths.iter().map(|&l| l as i64).collect();
    let padded = Tensor::arange(rows, (Kind::Int64, device))
        .view([1, rows])
        .ge_tensor(&Tensor::from_slice(&lens).to_device(device).view([n, 1])); // [N, T]
    let sums_finite = feats
        .sum_dim_intlist(2, false, Kind::Float)
        .isfinite()
        .logical_or(&padded)
        .all_dim(1, false);
    let sums_finite =
        Vec::<bool>::try_from(sums_finite).unwrap_or_else(|_| vec![false; lengths.len()]);
    sums_finite
        .into_iter()
        .zip(lengths)
        .enumerate()
        .map(|(i, (ok, &l))| {
            ok || bool::try_from(feats.get(i as i64).narrow(0, 0, l as i64).isfinite().all())
                .unwrap_or(false)
        })
        .collect()
}

/// R-precision, MM-Dist, FID against `real_all`, Diversity of one set of pairs.
fn score(
    text: &Tensor,
    motion: &Tensor,
    real_all: &Tensor,
    opts: &ProtocolOptions,
    seed: u64,
    dropped: usize,
) -> Result<crate::report::Values> {
    let r = metrics::r_precision_batched(text, motion)?;
    Ok(crate::report::Values {
        top1: r[0],
        top2: r[1],
        top3: r[2],
        mm_dist: metrics::mm_dist(text, motion)?,
        fid: metrics::fid(motion, real_all)?,
        diversity: metrics::diversity(
            motion,
            opts.diversity_times.min(motion.size()[0] as usize - 1),
            seed,
        )?,
        multimodality: None,
        kp_accuracy: None,
        non_finite: dropped,
    })
}

/// MultiModality: `mm_generations` motions for each of the first `mm_captions` captions.
#[allow(clippy::too_many_arguments)]
fn multimodality(
    model: &MotionModel,
    evaluator: &Evaluator,
    conditioner: &mut dyn Conditioner,
    captions: &[String],
    lengths: &[usize],
    sentences: bool,
    opts: &ProtocolOptions,
    seed: u64,
    progress: &mut dyn Progress,
) -> Result<f64> {
    let k = opts.mm_captions.min(captions.len());
    let g = opts.mm_generations;
    let caps: Vec<String> = captions[..k]
        .iter()
        .flat_map(|c| std::iter::repeat_n(c.clone(), g))
        .collect();
    let lens: Vec<usize> = lengths[..k]
        .iter()
        .flat_map(|&l| std::iter::repeat_n(l, g))
        .collect();
    let feats = generate(
        model,
        conditioner,
        &caps,
        &lens,
        sentences,
        opts,
        seed ^ 0x3D3D,
        &mut |done, total| progress.generated("MultiModality", done, total),
    )?;
    let valid = finite_motions(&feats, &lens);
    let emb = evaluator.encode_motions(&feats, &lens)?;
    let groups: Vec<Tensor> = (0..k)
        .map(|i| {
            let rows = (i * g..(i + 1) * g)
                .filter(|&j| valid[j])
                .map(|j| j as i64)
                .collect::<Vec<_>>();
            emb.index_select(0, &Tensor::from_slice(&rows).to_device(emb.device()))
        })
        .collect();
    metrics::multimodality(&groups, opts.mm_times.min(g.saturating_sub(1)), seed)
}

/// Fraction of the KP-accuracy prompts (kp/prompts) whose expectations a generated motion meets.
fn kp_accuracy(
    model: &MotionModel,
    conditioner: &mut dyn Conditioner,
    sentences: bool,
    opts: &ProtocolOptions,
    seed: u64,
) -> Result<f64> {
    let set = kp::accuracy::prompt_set();
    let spec = &model.card.motion;
    let mut passed = 0usize;
    // One call per length: prompts of one duration share a batch.
    let mut durations: Vec<f64> = set.prompts.iter().map(|p| p.seconds).collect();
    durations.sort_by(f64::total_cmp);
    durations.dedup();
    for (c, seconds) in durations.iter().enumerate() {
        let prompts: Vec<&kp::accuracy::Prompt> = set
            .prompts
            .iter()
            .filter(|p| p.seconds == *seconds)
            .collect();
        let rows =
            ((seconds * spec.fps).round() as usize).clamp(spec.min_rows, spec.max_rows) as i64;
        let caps: Vec<String> = prompts.iter().map(|p| p.text.clone()).collect();
        let (text, subs) = conditioner.condition(&caps, sentences, model.vs.device())?;
        let sample = SampleOptions {
            rows,
            lengths: None,
            seed: seed.wrapping_mul(7_919).wrapping_add(c as u64),
            ..opts.sample.clone()
        };
        let sampled = model
            .sample(&text, subs.as_deref(), &sample, &mut |_, _| {})
            .map_err(|e| Error::Invalid(format!("sampling: {e}")))?;
        // Joints and sign KP on the model's device, then one transfer of every prompt's values.
        let joints = motion::joints_from_features(&sampled.features)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let sign = kp::extract(&joints, None, kp::Mode::Sign, &kp::SoftScales::default())
            .map_err(|e| Error::Invalid(e.to_string()))?; // [N, T, 392] of -1 / 0 / +1
        let values =
            Vec::<i8>::try_from(sign.to_kind(Kind::Int8).flatten(0, -1)).map_err(Error::Torch)?;
        let per_prompt = values.len() / prompts.len();
        for (prompt, values) in prompts.iter().zip(values.chunks(per_prompt)) {
            let score = kp::accuracy::score_prompt(&set, prompt, values)
                .map_err(|e| Error::Invalid(e.to_string()))?;
            passed += usize::from(score.passed());
        }
    }
    Ok(passed as f64 / set.prompts.len() as f64)
}
