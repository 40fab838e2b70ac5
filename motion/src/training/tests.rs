use std::path::Path;
use std::sync::Arc;

use kernels::DenseAttention;
use tch::{Device, Kind, Tensor};

use super::*;
use crate::checkpoint::MotionModel;
use crate::data::batch::Batch;
use crate::data::dataset::{Dataset, LoadOptions};
use crate::error::Result;
use crate::guide::KpGuide;
use crate::sample::SampleOptions;
use crate::synth::{synthesize, SynthOptions};
use crate::training::{KetaCondition, KpAlignLoss, SubSentences};

fn data(dir: &Path) -> (Dataset, Dataset) {
    let root = dir.join("data");
    synthesize(
        &root,
        &SynthOptions {
            count: 24,
            seed: 5,
            ..Default::default()
        },
        |_, _| {},
    )
    .unwrap();
    let opts = LoadOptions {
        min_rows: 16,
        max_rows: 1000,
    };
    (
        Dataset::load(&root, "train", &opts, |_, _| {}).unwrap(),
        Dataset::load(&root, "val", &opts, |_, _| {}).unwrap(),
    )
}

fn captions(sets: &[&Dataset]) -> CaptionTable {
    let caps = CaptionTable::captions_of(sets);
    tch::manual_seed(11);
    let emb = Tensor::randn([caps.len() as i64, 384], (Kind::Float, Device::Cpu));
    CaptionTable::new(caps, emb).unwrap()
}

fn config(steps: u64) -> TrainConfig {
    TrainConfig {
        steps,
        log_every: 2,
        val_every: 4,
        ckpt_every: 4,
        ..TrainConfig::tiny()
    }
}

fn run<'a>(
    out: &Path,
    cfg: TrainConfig,
    sets: (&'a Dataset, &'a Dataset),
    table: &'a CaptionTable,
    resume: bool,
    aux: Option<(f64, &'a mut dyn AuxLoss)>,
) -> Result<TrainSummary> {
    let job = TrainJob {
        config: cfg,
        out: out.to_path_buf(),
        device: Device::Cpu,
        attention: Arc::new(DenseAttention),
        train: sets.0,
        val: Some(sets.1),
        captions: table,
        text_encoder: "test-encoder".into(),
        resume,
        aux,
        condition: None,
        kp_tau: None,
        aligner_dir: None,
        group: None,
    };
    struct Quiet;
    impl train::Observer for Quiet {}
    train_mdm(job, &mut Quiet)
}

fn losses(out: &Path) -> Vec<(u64, String, f64)> {
    train::read_records(&out.join("train_log.jsonl"))
        .unwrap()
        .iter()
        .flat_map(|r| {
            ["loss", "val_loss"].into_iter().filter_map(move |k| {
                Some((r["step"].as_u64()?, k.to_string(), r.get(k)?.as_f64()?))
            })
        })
        .collect()
}

fn weights(ckpt: &Path) -> Vec<(String, Tensor)> {
    let mut w = Tensor::read_safetensors(ckpt.join("weights.safetensors")).unwrap();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

#[test]
fn resume_replays_an_uninterrupted_run_exactly() {
    let _rng = crate::global_rng();
    let dir = tempfile::tempdir().unwrap();
    let (tr, va) = data(dir.path());
    let table = captions(&[&tr, &va]);
    let whole = dir.path().join("whole");
    let s = run(&whole, config(8), (&tr, &va), &table, false, None).unwrap();
    assert_eq!((s.first_step, s.last_step), (0, 8));
    assert!(s.final_loss.is_finite());

    let split = dir.path().join("split");
    run(&split, config(4), (&tr, &va), &table, false, None).unwrap();
    let e = run(&split, config(8), (&tr, &va), &table, false, None).unwrap_err();
    assert!(e.to_string().contains("--resume"), "{e}");
    let s = run(&split, config(8), (&tr, &va), &table, true, None).unwrap();
    assert_eq!((s.first_step, s.last_step), (4, 8));

    assert_eq!(losses(&whole), losses(&split));
    assert_eq!(losses(&whole).len(), 4 + 2);
    let (a, b) = (
        weights(&whole.join("ckpt-8")),
        weights(&split.join("ckpt-8")),
    );
    assert_eq!(a.len(), b.len());
    for ((ka, ta), (kb, tb)) in a.iter().zip(&b) {
        assert_eq!(ka, kb);
        assert!(ta.equal(tb), "{ka} differs after resume");
    }
    for f in [
        "loss.png",
        "latest",
        "ckpt-8/optimizer.safetensors",
        "ckpt-8/Mean.npy",
    ] {
        assert!(split.join(f).is_file(), "{f}");
    }
    // A resumed run with another configuration is refused, naming the field.
    let other = TrainConfig {
        cond_drop: 0.2,
        ..config(12)
    };
    let e = run(&split, other, (&tr, &va), &table, true, None).unwrap_err();
    assert!(e.to_string().contains("cond_drop"), "{e}");

    // The checkpoint is a model folder: it loads and samples finite motions.
    let model = MotionModel::load(&split, Device::Cpu, Arc::new(DenseAttention)).unwrap();
    let text = table
        .lookup(&[tr.samples[0].captions[0].caption.clone()])
        .unwrap();
    let opts = SampleOptions {
        rows: 24,
        steps: 5,
        ..SampleOptions::default()
    };
    let mut calls = 0;
    let rows = model
        .sample(&text, None, &opts, &mut |_, _| calls += 1)
        .unwrap()
        .features;
    assert_eq!((rows.size(), calls), (vec![1, 24, 263], 5));
    assert!(bool::try_from(rows.isfinite().all()).unwrap());
    let again = model
        .sample(&text, None, &opts, &mut |_, _| {})
        .unwrap()
        .features;
    assert!(rows.equal(&again), "same seed, same motion");
}

/// Returns `value` from step `at` on, else a real loss on x0_hat.
struct Injected {
    at: usize,
    calls: usize,
    value: f64,
}

impl AuxLoss for Injected {
    fn name(&self) -> &str {
        "injected"
    }
    fn loss(&mut self, x0_hat: &Tensor, _valid: &Tensor, _b: &Batch) -> Result<Tensor> {
        self.calls += 1;
        let l = x0_hat.mean(Kind::Float);
        Ok(if self.calls > self.at {
            l * 0.0 + self.value
        } else {
            l
        })
    }
}

#[test]
fn a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint() {
    let _rng = crate::global_rng();
    let dir = tempfile::tempdir().unwrap();
    let (tr, va) = data(dir.path());
    let table = captions(&[&tr, &va]);
    let out = dir.path().join("run");
    let mut aux = Injected {
        at: 5,
        calls: 0,
        value: f64::NAN,
    };
    let e = run(
        &out,
        config(12),
        (&tr, &va),
        &table,
        false,
        Some((1.0, &mut aux)),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("aux loss became NaN at step 6"),
        "{e}"
    );
    assert_eq!(
        train::latest_checkpoint(&out).unwrap().unwrap(),
        out.join("ckpt-4")
    );
    assert!(!out.join("ckpt-8").exists());
}

#[test]
fn the_auxiliary_loss_reaches_the_denoiser() {
    let _rng = crate::global_rng();
    let dir = tempfile::tempdir().unwrap();
    let (tr, va) = data(dir.path());
    let table = captions(&[&tr, &va]);
    let (plain, with_aux) = (dir.path().join("plain"), dir.path().join("aux"));
    run(&plain, config(4), (&tr, &va), &table, false, None).unwrap();
    let mut aux = Injected {
        at: usize::MAX,
        calls: 0,
        value: 0.0,
    };
    run(
        &with_aux,
        config(4),
        (&tr, &va),
        &table,
        false,
        Some((10.0, &mut aux)),
    )
    .unwrap();
    assert_eq!(aux.calls, 4);
    assert_most_weights_differ(&plain.join("ckpt-4"), &with_aux.join("ckpt-4"));
}

/// More than half of the EMA weight tensors of two checkpoints differ.
fn assert_most_weights_differ(a: &Path, b: &Path) {
    let (a, b) = (weights(a), weights(b));
    let moved = a
        .iter()
        .zip(&b)
        .filter(|((_, x), (_, y))| !x.equal(y))
        .count();
    assert!(
        moved > a.len() / 2,
        "{moved} of {} tensors changed",
        a.len()
    );
}

/// The real KETA loss through the hook: the denoiser's weights move differently with it, the frozen
/// aligner's do not move at all, and the loss is logged.
#[test]
fn the_kp_alignment_loss_trains_the_denoiser_and_leaves_the_aligner_frozen() {
    let _rng = crate::global_rng();
    let dir = tempfile::tempdir().unwrap();
    let (tr, va) = data(dir.path());
    let table = captions(&[&tr, &va]);
    // One sub-sentence per caption (the caption itself), embedded at random.
    let caps = CaptionTable::captions_of(&[&tr]);
    let split = caps.iter().map(|c| (c.clone(), vec![c.clone()])).collect();
    let emb = Tensor::randn([caps.len() as i64, 384], (Kind::Float, Device::Cpu));
    let subs = SubSentences::new(split, CaptionTable::new(caps, emb).unwrap()).unwrap();
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let aligner = aligner::Aligner::new(vs.root(), &aligner::AlignerConfig::tiny());
    let live = vs.variables();
    let weights_before: Vec<(String, Tensor)> =
        live.iter().map(|(k, v)| (k.clone(), v.copy())).collect();
    let guide = KpGuide::new(aligner, vs, tiny_card(), &tr.normalization, Device::Cpu).unwrap();
    assert!(
        live.values().all(|v| !v.requires_grad()),
        "frozen: no aligner weight requires grad"
    );
    let mut kp_loss = KpAlignLoss::new(&guide, &subs, 4);
    let (plain, with_kp) = (dir.path().join("plain"), dir.path().join("kp"));
    run(&plain, config(4), (&tr, &va), &table, false, None).unwrap();
    run(
        &with_kp,
        config(4),
        (&tr, &va),
        &table,
        false,
        Some((100.0, &mut kp_loss)),
    )
    .unwrap();
    assert_most_weights_differ(&plain.join("ckpt-4"), &with_kp.join("ckpt-4"));
    for (name, w) in &weights_before {
        assert!(w.equal(&live[name]), "the aligner's {name} changed");
    }
    let logged = losses_with_aux(&with_kp);
    assert!(logged.iter().all(|v| v.is_finite() && *v > 0.0) && !logged.is_empty());
}

fn losses_with_aux(out: &Path) -> Vec<f64> {
    train::read_records(&out.join("train_log.jsonl"))
        .unwrap()
        .iter()
        .filter_map(|r| r.get("aux_loss")?.as_f64())
        .collect()
}

fn tiny_card() -> aligner::AlignerCard {
    aligner::AlignerCard {
        format: aligner::ALIGNER_FORMAT,
        model: aligner::AlignerConfig::tiny(),
        text_encoder: "test-encoder".into(),
        kp_tau: vec![0.02, 0.01, 0.5, 0.05, 0.05],
        max_sentences: 4,
    }
}

/// A random tiny aligner written as an aligner folder (what `keta train aligner` leaves).
fn aligner_folder(dir: &Path) {
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let _ = aligner::Aligner::new(vs.root(), &aligner::AlignerConfig::tiny());
    std::fs::create_dir_all(dir).unwrap();
    train::save_json(&dir.join("config.json"), &tiny_card()).unwrap();
    let named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    train::save_safetensors(&dir.join("weights.safetensors"), &named).unwrap();
}

/// KETA's decoder end to end: trained with sub-sentences and guide tokens read from x_t, saved with
/// its aligner, sampled with guide tokens at every step and refinement rounds whose text-KP
/// distances are reported; without its aligner the folder is refused.
#[test]
fn a_decoder_with_guide_tokens_trains_samples_and_refines() {
    let _rng = crate::global_rng();
    let dir = tempfile::tempdir().unwrap();
    let (tr, va) = data(dir.path());
    let table = captions(&[&tr, &va]);
    // Sub-sentences: the caption cut at ", then " (synthetic captions chain actions that way).
    let caps = CaptionTable::captions_of(&[&tr, &va]);
    let split: std::collections::HashMap<String, Vec<String>> = caps
        .iter()
        .map(|c| (c.clone(), c.split(", then ").map(str::to_string).collect()))
        .collect();
    let mut parts: Vec<String> = split.values().flatten().cloned().collect();
    parts.sort();
    parts.dedup();
    let emb = Tensor::randn([parts.len() as i64, 384], (Kind::Float, Device::Cpu));
    let subs = SubSentences::new(split, CaptionTable::new(parts, emb).unwrap()).unwrap();
    let aligner_dir = dir.path().join("aligner");
    aligner_folder(&aligner_dir);
    let guide = KpGuide::load(
        &aligner_dir,
        "test-encoder",
        384,
        &tr.normalization,
        Device::Cpu,
    )
    .unwrap();
    let mut cfg = config(4);
    cfg.model.variant = crate::model::Variant::Decoder;
    cfg.model.guide_tokens = true;
    cfg.model.max_sentences = 4;
    let condition = KetaCondition {
        sentences: &subs,
        max_sentences: 4,
        guide: Some(&guide),
    };
    let out = dir.path().join("run");
    let job = TrainJob {
        config: cfg,
        out: out.clone(),
        device: Device::Cpu,
        attention: Arc::new(DenseAttention),
        train: &tr,
        val: Some(&va),
        captions: &table,
        text_encoder: "test-encoder".into(),
        resume: false,
        aux: None,
        condition: Some(&condition),
        kp_tau: Some(tiny_card().kp_tau),
        aligner_dir: Some(aligner_dir.clone()),
        group: None,
    };
    struct Quiet;
    impl train::Observer for Quiet {}
    train_mdm(job, &mut Quiet).unwrap();
    let ckpt = out.join("ckpt-4");
    assert!(ckpt.join("aligner/weights.safetensors").is_file());
    let val: Vec<f64> = train::read_records(&out.join("train_log.jsonl"))
        .unwrap()
        .iter()
        .filter_map(|r| r.get("val_loss")?.as_f64())
        .collect();
    assert!(!val.is_empty() && val.iter().all(|v| v.is_finite()));

    let model = MotionModel::load(&out, Device::Cpu, Arc::new(DenseAttention)).unwrap();
    assert!(model.guide.is_some());
    let caption = caps.iter().find(|c| c.contains(", then ")).unwrap();
    let text = table.lookup(std::slice::from_ref(caption)).unwrap();
    let sentences = vec![subs.embed(subs.of(caption).unwrap()).unwrap()];
    let opts = SampleOptions {
        rows: 24,
        steps: 6,
        refine_rounds: 2,
        ..SampleOptions::default()
    };
    let (mut calls, mut last_total) = (0, 0);
    let sampled = model
        .sample(&text, Some(&sentences), &opts, &mut |done, total| {
            calls += 1;
            assert_eq!(done, calls);
            last_total = total;
        })
        .unwrap();
    // 6 steps, then twice from the kept step nearest the middle of the schedule down to 0.
    let re_entry = model.schedule.respace(6).unwrap().nearest(0.5);
    assert_eq!(
        re_entry, 2,
        "kept t = 0, 200, 400, 600, 800, 999: 400 is nearest 499.5"
    );
    assert_eq!((calls, last_total), (6 + 2 * 3, 12));
    assert_eq!(sampled.text_kp_distance.len(), 3);
    assert!(sampled
        .text_kp_distance
        .iter()
        .all(|round| round.len() == 1 && round[0].is_finite() && round[0] >= 0.0));
    assert!(bool::try_from(sampled.features.isfinite().all()).unwrap());
    let again = model
        .sample(&text, Some(&sentences), &opts, &mut |_, _| {})
        .unwrap();
    assert!(sampled.features.equal(&again.features), "same seed");
    let from_x0 = SampleOptions {
        refine_from: crate::sample::RefineFrom::X0,
        ..opts.clone()
    };
    let other = model
        .sample(&text, Some(&sentences), &from_x0, &mut |_, _| {})
        .unwrap();
    assert!(
        !sampled.features.equal(&other.features),
        "guide tokens read from x0_hat change the motion"
    );
    let e = model
        .sample(&text, None, &opts, &mut |_, _| {})
        .unwrap_err();
    assert!(e.to_string().contains("sub-sentences"), "{e}");
    // Shorter real lengths pad the rest: fine up to `rows`, refused beyond.
    let short = SampleOptions {
        lengths: Some(vec![16]),
        ..opts.clone()
    };
    let padded = model
        .sample(&text, Some(&sentences), &short, &mut |_, _| {})
        .unwrap();
    assert_eq!(padded.features.size(), [1, 24, 263]);
    assert!(!padded
        .features
        .narrow(1, 0, 16)
        .equal(&sampled.features.narrow(1, 0, 16)));
    let long = SampleOptions {
        lengths: Some(vec![30]),
        ..opts.clone()
    };
    let e = model
        .sample(&text, Some(&sentences), &long, &mut |_, _| {})
        .unwrap_err();
    assert!(e.to_string().contains("1..=24"), "{e}");

    std::fs::remove_dir_all(ckpt.join("aligner")).unwrap();
    match MotionModel::load(&ckpt, Device::Cpu, Arc::new(DenseAttention)) {
        Err(e) => assert!(e.to_string().contains("needs the aligner"), "{e}"),
        Ok(_) => panic!("a guide-token model without its aligner loaded"),
    }
}

/// Two ranks (threads joined by `train::LocalGroup`), each stepping on its half of every global
/// batch, end with the weights of one process stepping on the whole batches (dropout 0: dropout
/// masks are drawn per shard).
#[test]
fn data_parallel_ranks_match_one_process_on_the_global_batch() {
    let _rng = crate::global_rng();
    let dir = tempfile::tempdir().unwrap();
    let (tr, _) = data(dir.path());
    // Tensors cannot be shared between threads: each rank rebuilds the caption table from these.
    let caps = CaptionTable::captions_of(&[&tr]);
    tch::manual_seed(11);
    let emb = Vec::<f32>::try_from(
        Tensor::randn([caps.len() as i64, 384], (Kind::Float, Device::Cpu)).view([-1]),
    )
    .unwrap();
    let mut cfg = config(3);
    cfg.batch_size = 8;
    cfg.model.dropout = 0.0;
    let run = |group: Option<Arc<dyn train::Collective>>| -> (Vec<f32>, Vec<f64>) {
        let rows = Tensor::from_slice(&emb).view([caps.len() as i64, 384]);
        let table = CaptionTable::new(caps.clone(), rows).unwrap();
        let attention: Arc<dyn kernels::Attention> = Arc::new(DenseAttention);
        let mut trainer = Trainer::new(&cfg, Device::Cpu, &attention).unwrap();
        let (rank, world) = group.as_ref().map_or((0, 1), |g| (g.rank(), g.world()));
        if let Some(g) = group {
            trainer.distribute(g).unwrap();
        }
        let opts = crate::data::batch::BatchOptions {
            batch_size: cfg.batch_size,
            max_rows: cfg.max_rows,
            seed: cfg.seed,
            ..Default::default()
        };
        let mut stream = BatchStream::new(&tr, opts, 0, 0).unwrap();
        let mut losses = Vec::new();
        for s in 0..cfg.steps {
            let (shard, rows) = stream.next_shard(rank, world);
            let b = DeviceBatch::with_rows(&shard, rows, &table, Device::Cpu).unwrap();
            let out = trainer
                .step(&b, step_seed(cfg.seed, s), 1e-3, None)
                .unwrap();
            losses.push(out.loss.double_value(&[]));
        }
        let flat = Vec::<f32>::try_from(trainer.models.master_flat.flat()).unwrap();
        (flat, losses)
    };
    let initial = {
        let attention: Arc<dyn kernels::Attention> = Arc::new(DenseAttention);
        let t = Trainer::new(&cfg, Device::Cpu, &attention).unwrap();
        Vec::<f32>::try_from(t.models.master_flat.flat()).unwrap()
    };
    let (alone, alone_losses) = run(None);
    let ranks: Vec<(Vec<f32>, Vec<f64>)> = std::thread::scope(|s| {
        let handles: Vec<_> = train::LocalGroup::new(2)
            .into_iter()
            .map(|g| s.spawn(|| run(Some(Arc::new(g)))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(ranks[0].0, ranks[1].0, "the ranks' weights differ");
    let moved = alone
        .iter()
        .zip(&initial)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(moved > 1e-4, "training did not move the weights ({moved})");
    // The key bias (middle third of each `qkv.bias`) has an exact gradient of zero (it adds the
    // same logit to a whole softmax row), so AdamW's g / (|g| + eps) turns its rounding noise,
    // which differs between one batch mean and a mean of shard means, into steps of up to lr. It
    // does not change what the model computes; every other weight must match.
    let key_bias = key_bias_ranges(&cfg);
    let diff = alone
        .iter()
        .zip(&ranks[0].0)
        .enumerate()
        .filter(|(i, _)| !key_bias.iter().any(|r| r.contains(i)))
        .map(|(_, (a, b))| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        diff < 1e-5,
        "2 ranks vs one process: max weight difference {diff}"
    );
    // Every rank logs the global batch's loss, as one process does.
    for (a, b) in alone_losses.iter().zip(&ranks[1].1) {
        assert!(
            (a - b).abs() < 1e-5,
            "losses {alone_losses:?} vs {:?}",
            ranks[1].1
        );
    }
}

#[test]
fn shards_split_each_global_batch_without_overlap() {
    let _rng = crate::global_rng();
    let dir = tempfile::tempdir().unwrap();
    let (tr, _) = data(dir.path());
    let opts = crate::data::batch::BatchOptions {
        batch_size: 6,
        max_rows: 60,
        seed: 1,
        ..Default::default()
    };
    let stream = || BatchStream::new(&tr, opts.clone(), 0, 0).unwrap();
    let mut whole = stream();
    let mut ranks: Vec<BatchStream> = (0..3).map(|_| stream()).collect();
    for _ in 0..2 {
        let batch = whole.next_batch();
        let shards: Vec<(Batch, i64)> = ranks
            .iter_mut()
            .enumerate()
            .map(|(r, s)| s.next_shard(r, 3))
            .collect();
        let names: Vec<String> = shards.iter().flat_map(|s| s.0.names.clone()).collect();
        assert_eq!(names, batch.names);
        let parts: Vec<Tensor> = shards.iter().map(|s| s.0.motions.shallow_clone()).collect();
        assert!(Tensor::cat(&parts, 0).equal(&batch.motions));
        let longest = *batch.lengths.iter().max().unwrap();
        assert!(
            shards.iter().all(|s| s.1 == longest),
            "shards pad to the global longest clip"
        );
    }
}

/// Flat-parameter index ranges of the key part of every attention `qkv.bias`.
fn key_bias_ranges(cfg: &TrainConfig) -> Vec<std::ops::Range<usize>> {
    let attention: Arc<dyn kernels::Attention> = Arc::new(DenseAttention);
    let t = Trainer::new(cfg, Device::Cpu, &attention).unwrap();
    let flat = &t.models.master_flat;
    let mut at = 0;
    let mut out = Vec::new();
    for (name, v) in flat.views(flat.flat()).unwrap() {
        let n = v.numel();
        if name.ends_with("attn.qkv.bias") {
            out.push(at + n / 3..at + 2 * n / 3);
        }
        at += n;
    }
    out
}
