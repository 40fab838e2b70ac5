//! `keta train aligner`: the text-KP aligner trained on ground-truth motions (method.md section 5).
//! As architecture.md puts it, this command builds the aligner's batches from motion's reader, kp
//! and text, and hands them to the aligner's training step: captions -> rules sub-sentences ->
//! sentence embeddings (once); motion crops -> joints -> soft KP -> windows (each step).

use std::path::{Path, PathBuf};

use aligner::{AlignerCard, AlignerInput, AlignerRunConfig, AlignerTrainer, WindowLayout};
use motion::data::batch::{Batch, BatchOptions};
use motion::data::dataset::Dataset;
use motion::data::normalization::Normalization;
use motion::guide::{card_scales, soft_kp, soft_kp_raw};
use motion::training::{BatchStream, SubSentences};
use serde_json::json;
use tch::{Device, Kind, Tensor};

use crate::cli::TrainArgs;
use crate::cmd::run_config;

pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    let device = super::device(args.device)?;
    let cfg: AlignerRunConfig = run_config::load(args)?;
    let resume = run_config::resume_point(args)?;
    let (train_set, val_set) = run_config::load_splits(&args.data, cfg.min_rows, cfg.max_rows, 1)?;
    let truth = val_set
        .as_ref()
        .map(|v| GroundTruth::read(v, cfg.max_sentences))
        .unwrap_or_default();
    let sentences = super::sub_sentences::build_with(
        &[&train_set, val_set.as_ref().unwrap_or(&train_set)],
        cfg.max_sentences,
        truth.texts(),
        device,
    )?;
    eprintln!(
        "keta: training the aligner on {} samples ({} validation) for {} steps, batch {}, on {}",
        train_set.samples.len(),
        val_set.as_ref().map_or(0, |d| d.samples.len()),
        cfg.steps,
        cfg.batch_size,
        if device.is_cuda() { "CUDA" } else { "the CPU" }
    );
    let card = AlignerCard {
        format: aligner::ALIGNER_FORMAT,
        model: cfg.model.clone(),
        text_encoder: text::ENCODER_ID.to_string(),
        kp_tau: scales_vector(&kp::SoftScales::default()),
        max_sentences: cfg.max_sentences,
    };
    tch::manual_seed(cfg.seed as i64);
    let kp_maker = KpMaker::new(&train_set.normalization, &card, device)?;
    let opts = BatchOptions {
        batch_size: cfg.batch_size,
        max_rows: cfg.max_rows,
        seed: cfg.seed,
        ..BatchOptions::default()
    };
    let mut run = Run {
        trainer: AlignerTrainer::new(card, cfg.optim.clone(), device)?,
        batches: BatchStream::new(&train_set, opts.clone(), 0, 0)?,
        val: val_set.as_ref(),
        truth: &truth,
        kp_maker: &kp_maker,
        sentences: &sentences,
        cfg: &cfg,
        out: &args.out,
    };
    if let Some(ckpt) = &resume {
        let state = run.trainer.restore(ckpt)?;
        run.batches = run_config::resumed_stream(&train_set, opts, &state)?;
    }
    run_config::record(args, &cfg)?;
    let done = run_config::drive(args, &cfg.cadence(), &mut run, "training the aligner")?;
    eprintln!(
        "keta: aligner trained to step {} in {:.1} s; log {out}/train_log.jsonl, curve {out}/loss.png",
        done.last_step,
        done.seconds,
        out = args.out.display()
    );
    Ok(())
}

/// The aligner's run as the shared training loop sees it.
struct Run<'a> {
    trainer: AlignerTrainer,
    batches: BatchStream<'a>,
    val: Option<&'a Dataset>,
    truth: &'a GroundTruth,
    kp_maker: &'a KpMaker,
    sentences: &'a SubSentences,
    cfg: &'a AlignerRunConfig,
    out: &'a Path,
}

impl train::Trainee for Run<'_> {
    type Error = anyhow::Error;

    fn steps(&self) -> u64 {
        self.trainer.steps()
    }

    fn step(&mut self) -> anyhow::Result<Vec<(&'static str, Tensor)>> {
        let batch = self.batches.next_batch();
        let kp = self.kp_maker.of_batch(&batch)?;
        let prepared = Prepared::new(
            &kp,
            &batch.lengths,
            &batch.captions,
            self.sentences,
            &self.trainer.card,
        )?;
        Ok(vec![("loss", self.trainer.step(&prepared.input())?)])
    }

    fn log_fields(&mut self) -> anyhow::Result<serde_json::Value> {
        Ok(json!({"epoch": self.batches.epoch}))
    }

    fn validate(&mut self) -> anyhow::Result<Option<serde_json::Value>> {
        let Some(val) = self.val else {
            return Ok(None);
        };
        let (loss, accuracy) =
            validate(&self.trainer, val, self.kp_maker, self.sentences, self.cfg)?;
        let mut rec = json!({"val_loss": loss, "val_retrieval": accuracy});
        if let Some((hits, middle)) =
            self.truth
                .hit_rate(&self.trainer, self.kp_maker, val, self.sentences)?
        {
            rec["val_centre_hits"] = json!(hits);
            rec["val_window_middle_hits"] = json!(middle);
        }
        Ok(Some(rec))
    }

    fn checkpoint(&mut self) -> anyhow::Result<PathBuf> {
        let state = run_config::stream_state(self.trainer.steps(), self.cfg.seed, &self.batches);
        let dir = self
            .trainer
            .save(self.out, self.cfg.keep_checkpoints, &state)?;
        train::plot_log(self.out, "aligner loss")?;
        Ok(dir)
    }
}

/// The five soft-KP scales in the card's order: PP, PDP, PRPP, LAP, GVP.
fn scales_vector(s: &kp::SoftScales) -> Vec<f64> {
    vec![s.pp, s.pdp, s.prpp, s.lap, s.gvp]
}

/// Soft KP of batches: the normalisation and the card's scales, on the device, made once.
struct KpMaker {
    mean: Tensor,
    std: Tensor,
    scales: kp::SoftScales,
}

impl KpMaker {
    fn new(norm: &Normalization, card: &AlignerCard, device: Device) -> anyhow::Result<Self> {
        Ok(Self {
            mean: Tensor::from_slice(&norm.mean).to_device(device),
            std: Tensor::from_slice(&norm.std).to_device(device),
            scales: card_scales(card)?,
        })
    }

    /// Soft KP `[B, N, 392]` of a batch's normalised crops, N = its longest crop.
    fn of_batch(&self, batch: &Batch) -> anyhow::Result<Tensor> {
        let n = batch.lengths.iter().copied().max().unwrap_or(1);
        let rows = batch.motions.narrow(1, 0, n).to_device(self.mean.device());
        Ok(soft_kp(
            &rows,
            &self.mean,
            &self.std,
            &batch.lengths,
            &self.scales,
        )?)
    }
}

/// One batch turned into aligner inputs.
struct Prepared {
    sentences: Tensor,
    layout: WindowLayout,
    window_kp: Tensor,
}

impl Prepared {
    /// `kp [B, N, 392]` of the batch's motions, aligned with `captions` (the batch's own, or
    /// others for retrieval validation).
    fn new(
        kp: &Tensor,
        lengths: &[i64],
        captions: &[String],
        sentences: &SubSentences,
        card: &AlignerCard,
    ) -> anyhow::Result<Self> {
        let n = kp.size()[1];
        let (layout, sentences) = sentences.layout(captions, lengths, n, card.max_sentences)?;
        Ok(Self {
            sentences,
            window_kp: layout.gather(kp),
            layout,
        })
    }

    fn input(&self) -> AlignerInput<'_> {
        AlignerInput {
            sentences: &self.sentences,
            slot_pad: &self.layout.slot_pad,
            window_kp: &self.window_kp,
            frame_pad: &self.layout.frame_pad,
        }
    }
}

/// Validation loss on fixed batches, and retrieval accuracy: how often a motion's own caption's
/// sub-sentences align better (lower per-motion loss) than the next motion's caption's.
fn validate(
    trainer: &AlignerTrainer,
    val: &Dataset,
    kp_maker: &KpMaker,
    sentences: &SubSentences,
    cfg: &AlignerRunConfig,
) -> anyhow::Result<(f64, f64)> {
    let opts = BatchOptions {
        batch_size: cfg.batch_size,
        max_rows: cfg.max_rows,
        seed: cfg.seed ^ 0xA11D,
        drop_last: false,
        ..BatchOptions::default()
    };
    let card = &trainer.card;
    tch::no_grad(|| {
        let (mut loss, mut right, mut total, mut batches) = (0.0, 0usize, 0usize, 0usize);
        for batch in val.batches(&opts, 0).take(cfg.val_batches) {
            // The motions' KP once; aligned with their own captions and with the next motion's.
            let kp = kp_maker.of_batch(&batch)?;
            let own = Prepared::new(&kp, &batch.lengths, &batch.captions, sentences, card)?;
            let a = trainer.aligner.forward(&own.input());
            loss += a.loss(&own.layout.slot_pad).double_value(&[]);
            batches += 1;
            if batch.captions.len() < 2 {
                continue;
            }
            let mut shifted = batch.captions.clone();
            shifted.rotate_left(1);
            let other = Prepared::new(&kp, &batch.lengths, &shifted, sentences, card)?;
            let b = trainer.aligner.forward(&other.input());
            let distances = |al: &aligner::Alignment, pad: &Tensor| {
                Vec::<f64>::try_from(al.motion_distances(pad).to_kind(Kind::Double))
            };
            let mine = distances(&a, &own.layout.slot_pad)?;
            let theirs = distances(&b, &other.layout.slot_pad)?;
            for (i, (m, t)) in mine.iter().zip(&theirs).enumerate() {
                if batch.captions[i] != shifted[i] {
                    right += usize::from(m < t);
                    total += 1;
                }
            }
        }
        let mean = if batches == 0 {
            f64::NAN
        } else {
            loss / batches as f64
        };
        let accuracy = if total == 0 {
            f64::NAN
        } else {
            right as f64 / total as f64
        };
        Ok((mean, accuracy))
    })
}

/// Ground-truth segmentation of validation clips (`texts/<id>.json`, written by `keta data synth`):
/// for whole clips, each caption's sub-sentences with their frame spans.
#[derive(Default)]
struct GroundTruth {
    /// (sample index, its segments) for at most `MAX_TRUTH_CLIPS` clips.
    clips: Vec<(usize, Vec<Segment>)>,
}

/// A sub-sentence and the feature rows it covers (end exclusive).
type Segment = (String, usize, usize);

/// Clips the hit rate looks at (each is one aligner call).
const MAX_TRUTH_CLIPS: usize = 64;

impl GroundTruth {
    fn read(val: &Dataset, max_sentences: usize) -> Self {
        let mut clips = Vec::new();
        for (i, sample) in val.samples.iter().enumerate() {
            if clips.len() == MAX_TRUTH_CLIPS || sample.name.contains('#') {
                continue;
            }
            let path = val.dir.join("texts").join(format!("{}.json", sample.name));
            let Some(doc) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            else {
                continue;
            };
            let Some(segs) = doc["captions"][0]["segments"].as_array() else {
                continue;
            };
            let spans: Vec<Segment> = segs
                .iter()
                .filter_map(|s| {
                    Some((
                        s["text"].as_str()?.to_string(),
                        s["start"].as_u64()? as usize,
                        s["end"].as_u64()? as usize,
                    ))
                })
                .collect();
            if !spans.is_empty() && spans.len() <= max_sentences {
                clips.push((i, spans));
            }
        }
        Self { clips }
    }

    fn texts(&self) -> Vec<String> {
        self.clips
            .iter()
            .flat_map(|(_, spans)| spans.iter().map(|(t, _, _)| t.clone()))
            .collect()
    }

    /// How often the Gaussian's centre (window start + mu) falls inside the true segment of its
    /// sub-sentence, and the same for the window's middle (what a centre that learned nothing
    /// would score); None without ground truth.
    fn hit_rate(
        &self,
        trainer: &AlignerTrainer,
        kp_maker: &KpMaker,
        val: &Dataset,
        sentences: &SubSentences,
    ) -> anyhow::Result<Option<(f64, f64)>> {
        if self.clips.is_empty() {
            return Ok(None);
        }
        let device = sentences.device();
        let card = &trainer.card;
        let (mut hits, mut middle_hits, mut total) = (0usize, 0usize, 0usize);
        tch::no_grad(|| -> anyhow::Result<()> {
            for (index, spans) in &self.clips {
                let sample = &val.samples[*index];
                let raw = val.sample_rows(sample);
                let t = (raw.len() / 263) as i64;
                let rows = Tensor::from_slice(raw).view([1, t, 263]).to_device(device);
                let kp = soft_kp_raw(&rows, &[t], &kp_maker.scales)?; // whole clip, raw rows
                let texts: Vec<String> = spans.iter().map(|(s, _, _)| s.clone()).collect();
                let layout = WindowLayout::new(
                    &[t as usize],
                    &[texts.len()],
                    t as usize,
                    card.max_sentences,
                    device,
                )?;
                let embedded = layout.pad_sentences(&[sentences.embed(&texts)?]);
                let window_kp = layout.gather(&kp);
                let a = trainer.aligner.forward(&AlignerInput {
                    sentences: &embedded,
                    slot_pad: &layout.slot_pad,
                    window_kp: &window_kp,
                    frame_pad: &layout.frame_pad,
                });
                let mu = Vec::<f64>::try_from(a.mu.get(0).to_kind(Kind::Double))?;
                for ((window, (_, start, end)), m) in layout.windows[0].iter().zip(spans).zip(mu) {
                    let inside = |c: f64| usize::from(c >= *start as f64 && c < *end as f64);
                    hits += inside(window.start as f64 + m);
                    middle_hits += inside(window.start as f64 + window.len() as f64 / 2.0);
                    total += 1;
                }
            }
            Ok(())
        })?;
        let rate = |h: usize| h as f64 / total as f64;
        Ok((total > 0).then(|| (rate(hits), rate(middle_hits))))
    }
}
