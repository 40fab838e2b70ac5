//! The protocol end to end on the CPU with a random tiny denoiser and a random small evaluator:
//! the report's shape, repeatability on a fixed seed, the ground-truth row's self-consistency, and
//! the refusals (a split smaller than one batch of 32).

use std::collections::HashMap;
use std::path::Path;

use eval::protocol::{evaluate, Conditioner, Progress, ProtocolOptions};
use eval::{Evaluator, EvaluatorConfig, FeatureStats, VocabSource};
use motion::checkpoint::{ModelCard, MotionModel, MotionSpec, CARD_FORMAT};
use motion::data::dataset::{Dataset, LoadOptions};
use motion::diffusion::NoiseSchedule;
use motion::model::{Denoiser, DenoiserConfig};
use motion::sample::SampleOptions;
use motion::synth::{synthesize, SynthOptions};
use tch::{Device, Kind, Tensor};

/// Random but fixed caption embeddings (one per distinct caption).
struct RandomText(HashMap<String, Tensor>);

impl Conditioner for RandomText {
    fn condition(
        &mut self,
        captions: &[String],
        _sentences: bool,
        device: Device,
    ) -> eval::Result<(Tensor, Option<Vec<Tensor>>)> {
        let rows: Vec<Tensor> = captions
            .iter()
            .map(|c| {
                let n = self.0.len() as i64;
                self.0
                    .entry(c.clone())
                    .or_insert_with(|| {
                        Tensor::from_slice(&[n as f32]).sin().expand([384], false) * 0.1
                            + Tensor::arange(384, (Kind::Float, Device::Cpu)).cos()
                                * (n as f64).cos()
                    })
                    .shallow_clone()
            })
            .collect();
        Ok((Tensor::stack(&rows, 0).to_device(device), None))
    }
}

struct Quiet;
impl Progress for Quiet {}

fn model(stats: &motion::data::normalization::Normalization) -> MotionModel {
    tch::manual_seed(3);
    let cfg = DenoiserConfig {
        max_frames: 196,
        ..DenoiserConfig::tiny()
    };
    let mut vs = tch::nn::VarStore::new(Device::Cpu);
    let denoiser = Denoiser::new(vs.root(), &cfg).unwrap();
    vs.freeze();
    MotionModel {
        dir: "random".into(),
        card: ModelCard {
            format: CARD_FORMAT,
            model: cfg,
            diffusion: Default::default(),
            text_encoder: "test".into(),
            motion: MotionSpec {
                fps: 20.0,
                min_rows: 40,
                max_rows: 120,
            },
            kp_tau: None,
            training: None,
        },
        vs,
        denoiser,
        normalization: stats.clone(),
        schedule: NoiseSchedule::cosine(1000).unwrap(),
        guide: None,
    }
}

fn evaluator(dir: &Path, stats: &motion::data::normalization::Normalization) -> Evaluator {
    tch::manual_seed(4);
    let words = [
        "unk", "sos", "eos", "a", "person", "walk", "forward", "jump",
    ];
    let vocab_dir = dir.join("vocab");
    std::fs::create_dir_all(&vocab_dir).unwrap();
    std::fs::write(vocab_dir.join("words.txt"), words.join("\n") + "\n").unwrap();
    let vectors = ndarray::Array2::<f32>::from_shape_fn((words.len(), 8), |(i, j)| {
        ((i * 8 + j) as f32).sin()
    });
    ndarray_npy::write_npy(vocab_dir.join("vectors.npy"), &vectors).unwrap();
    let vocab = eval::glove::WordVectors::load(&vocab_dir).unwrap();
    let cfg = EvaluatorConfig {
        word_dim: 8,
        movement_hidden: 16,
        movement_latent: 16,
        motion_hidden: 16,
        text_hidden: 16,
        embedding_dim: 8,
        ..EvaluatorConfig::default()
    };
    let stats = FeatureStats {
        mean: stats.mean.clone(),
        std: stats.std.clone(),
    };
    Evaluator::new(
        cfg,
        stats,
        VocabSource::Folder(vocab_dir),
        vocab,
        "keta",
        Device::Cpu,
    )
    .unwrap()
}

#[test]
fn the_protocol_reports_every_metric_repeatably_and_refuses_a_tiny_split() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    synthesize(
        &data,
        &SynthOptions {
            count: 400,
            seed: 2,
            tagger: Some(eval::pos::humanml3d_tokens),
        },
        |_, _| {},
    )
    .unwrap();
    let load = LoadOptions {
        min_rows: 40,
        max_rows: 200,
    };
    let test = Dataset::load(&data, "test", &load, |_, _| {}).unwrap();
    assert!(
        test.samples.len() >= 32,
        "{} test clips",
        test.samples.len()
    );
    let model = model(&test.normalization);
    let evaluator = evaluator(dir.path(), &test.normalization);
    let opts = ProtocolOptions {
        replications: 2,
        mm_replications: 1,
        max_motions: 32,
        mm_captions: 3,
        mm_generations: 4,
        mm_times: 2,
        diversity_times: 10,
        chunk: 16,
        kp_replications: 1,
        sample: SampleOptions {
            steps: 3,
            ..SampleOptions::default()
        },
        seed: 9,
    };
    let run = || {
        evaluate(
            &model,
            &evaluator,
            &test,
            &mut RandomText(HashMap::new()),
            &opts,
            &mut Quiet,
        )
        .unwrap()
    };
    let report = run();
    assert_eq!(report.replications, 2);
    assert_eq!(report.motions_per_replication, 32);
    assert_eq!(report.seeds, vec![9, 10]);
    let m = &report.model;
    assert_eq!(m.r_precision_top1.count, 2);
    assert!(m.r_precision_top1.mean <= m.r_precision_top2.mean);
    assert!(m.r_precision_top2.mean <= m.r_precision_top3.mean);
    assert_eq!(m.multimodality.as_ref().unwrap().count, 1);
    let kp = m.kp_accuracy.as_ref().unwrap();
    assert!((0.0..=1.0).contains(&kp.mean));
    assert_eq!(m.non_finite_motions, 0);
    for v in [&m.fid, &m.mm_dist, &m.diversity, &report.ground_truth.fid] {
        assert!(v.mean.is_finite() && v.mean >= 0.0, "{v:?}");
    }
    // The real clips' own FID against all real clips is far smaller than a random model's.
    assert!(report.ground_truth.fid.mean < m.fid.mean, "{report:?}");
    let again = run();
    assert_eq!(
        again.model.fid.values, m.fid.values,
        "same seed, same numbers"
    );
    let table = report.markdown("random tiny model");
    assert!(table.contains("| real test clips |") && table.contains("| random tiny model |"));

    // A split that cannot fill one batch of 32 is refused, naming the need.
    let small = Dataset {
        samples: test.samples[..20].to_vec(),
        ..Dataset::load(&data, "test", &load, |_, _| {}).unwrap()
    };
    let e = evaluate(
        &model,
        &evaluator,
        &small,
        &mut RandomText(HashMap::new()),
        &opts,
        &mut Quiet,
    )
    .unwrap_err();
    assert!(e.to_string().contains("32"), "{e}");
}
