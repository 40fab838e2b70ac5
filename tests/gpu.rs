//! GPU smoke test: ignored in CI (CPU only); run on the GPU machine with `scripts/device.sh`.

use tch::{Device, Kind, Tensor};

#[test]
#[ignore = "needs a GPU: run through scripts/device.sh"]
fn a_cuda_tensor_computes_and_the_device_has_a_name() {
    assert!(
        tch::Cuda::is_available(),
        "libtorch sees no CUDA device (is libtorch_cuda linked?)"
    );
    let name = kernels::cuda::device_name(0).expect("the CUDA driver names device 0");
    let x = Tensor::arange(1024, (Kind::Float, Device::Cuda(0)));
    let sum = x.sum(Kind::Float).double_value(&[]);
    assert_eq!(sum, 1023.0 * 1024.0 / 2.0);
    // The representation runs on CUDA too, and agrees with the CPU.
    let j = Tensor::randn([2, 30, 22, 3], (Kind::Double, Device::Cpu));
    let cpu = motion::joints_from_features(&motion::features_from_joints(&j).unwrap()).unwrap();
    let gpu = motion::joints_from_features(
        &motion::features_from_joints(&j.to_device(Device::Cuda(0))).unwrap(),
    )
    .unwrap();
    let err = (cpu - gpu.to_device(Device::Cpu))
        .abs()
        .max()
        .double_value(&[]);
    assert!(err < 1e-9, "{err}");
    println!(
        "cuda device 0: {name}; {} device(s); cpu/gpu round-trip difference {err:e} m",
        tch::Cuda::device_count()
    );
}

#[test]
#[ignore = "needs a GPU: run through scripts/device.sh"]
fn uploads_go_through_pinned_memory_and_arrive_intact() {
    let t = Tensor::arange(24, (Kind::Float, Device::Cpu)).view([2, 3, 4]);
    let pinned = kernels::cuda::pinned(&t).unwrap();
    assert!(pinned.is_pinned(Device::Cuda(0)));
    // Pinning a pinned tensor is free: the same storage comes back.
    assert_eq!(
        kernels::cuda::pinned(&pinned).unwrap().data_ptr(),
        pinned.data_ptr()
    );
    // A non-contiguous view arrives with its values, and the source may go at once: the copy is
    // asynchronous, and libtorch's pinned allocator keeps the block until it is done.
    let view = t.narrow(1, 1, 2);
    let up = kernels::cuda::upload(&view, Device::Cuda(0));
    drop(pinned);
    assert_eq!(up.device(), Device::Cuda(0));
    assert_eq!(up.to_device(Device::Cpu), view);
}

#[test]
#[ignore = "needs a GPU: run through scripts/device.sh"]
fn the_sentence_encoder_network_gives_the_same_states_on_cuda() {
    // Random weights (the real ones do not travel to the GPU machine): the check is the device path.
    tch::manual_seed(3);
    let cfg = text::BertConfig::minilm_l6();
    let cpu = tch::nn::VarStore::new(Device::Cpu);
    let model_cpu = text::BertModel::new(cpu.root(), &cfg);
    let mut gpu = tch::nn::VarStore::new(Device::Cuda(0));
    let model_gpu = text::BertModel::new(gpu.root(), &cfg);
    gpu.copy(&cpu).unwrap();
    let ids = Tensor::from_slice(&[
        101i64, 1037, 2158, 7365, 2830, 102, 101, 1037, 3336, 102, 0, 0,
    ])
    .reshape([2, 6]);
    let mask = ids.ne(0).to_kind(Kind::Int64);
    let a = tch::no_grad(|| model_cpu.forward(&ids, &mask));
    let b = tch::no_grad(|| {
        model_gpu.forward(
            &ids.to_device(Device::Cuda(0)),
            &mask.to_device(Device::Cuda(0)),
        )
    });
    let err = (a - b.to_device(Device::Cpu)).abs().max().double_value(&[]);
    assert!(err < 1e-3, "CPU and CUDA hidden states differ by {err}");
    println!("BERT CPU/CUDA max difference {err:e}");
}

#[test]
#[ignore = "needs a GPU: run through scripts/device.sh"]
fn a_cuda_graph_replays_recorded_work_on_new_inputs() {
    let device = Device::Cuda(0);
    let x = Tensor::zeros([1000], (Kind::Float, device));
    let w = Tensor::randn([1000], (Kind::Float, device));
    let (graph, y) = kernels::CudaGraph::capture(0, || (&x * &w + 1.0).relu()).unwrap();
    for k in 0..3 {
        let _ = x.shallow_clone().fill_(k as f64 - 1.0);
        graph.replay().unwrap();
        let want = (&x * &w + 1.0).relu();
        assert_eq!((&y - want).abs().max().double_value(&[]), 0.0);
    }
}

#[test]
#[ignore = "needs a GPU: run through scripts/device.sh"]
fn sampling_with_a_cuda_graph_matches_eager_sampling() {
    use motion::sample::SampleOptions;
    // On the GPU machine the tree sits elsewhere: .device/run.sh exports KETA_HOME.
    let home = std::env::var("KETA_HOME").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    let dir = std::path::Path::new(&home).join("models/default");
    let model = motion::checkpoint::MotionModel::load(
        &dir,
        Device::Cuda(0),
        std::sync::Arc::new(kernels::DenseAttention),
    )
    .unwrap();
    tch::manual_seed(5);
    let text = Tensor::randn([3, 384], (Kind::Float, Device::Cuda(0)));
    let run = |cuda_graph: bool| {
        let opts = SampleOptions {
            rows: 80,
            steps: 20,
            seed: 9,
            cuda_graph,
            ..SampleOptions::default()
        };
        model.sample(&text, None, &opts, &mut |_, _| {}).unwrap()
    };
    let (eager, graphed) = (run(false), run(true));
    assert!(!eager.cuda_graph && graphed.cuda_graph);
    let err = (&eager.features - &graphed.features)
        .abs()
        .max()
        .double_value(&[]);
    let scale = eager.features.abs().max().double_value(&[]);
    assert!(
        err <= 1e-4 * scale.max(1.0),
        "graph vs eager differ by {err}"
    );
    println!("CUDA-graph vs eager sampling: max difference {err:e} (scale {scale:.2})");
}

/// Max difference on real frames between `model`'s packed and masked calls on `x [B, 60, 263]`
/// with per-motion `lengths` (as f32).
fn packed_vs_masked(
    model: &motion::model::Denoiser,
    x: &Tensor,
    t: &Tensor,
    cond: &motion::model::Condition,
    lengths: &[i64],
) -> f64 {
    use motion::model::Padding;
    let packed = Padding::from_lengths(lengths, x.size()[1], x.device());
    let masked = Padding::from_mask(packed.mask.copy());
    let a = model.forward(x, t, cond, Some(&packed), false).unwrap();
    let b = model.forward(x, t, cond, Some(&masked), false).unwrap();
    let real = packed.mask.logical_not().unsqueeze(-1).to_kind(Kind::Float);
    ((a.to_kind(Kind::Float) - b.to_kind(Kind::Float)) * &real)
        .abs()
        .max()
        .double_value(&[])
}

#[test]
#[ignore = "needs a GPU: run through scripts/device.sh"]
fn packed_bf16_training_matches_masked_training_on_real_frames() {
    use motion::model::{Condition, Denoiser, DenoiserConfig};
    let device = Device::Cuda(0);
    tch::manual_seed(1);
    let mut vs = tch::nn::VarStore::new(device);
    let model = Denoiser::new(vs.root(), &DenoiserConfig::mdm()).unwrap();
    vs.bfloat16();
    let x = Tensor::randn([4, 60, 263], (Kind::Float, device));
    let t = Tensor::from_slice(&[1i64, 200, 500, 999]).to_device(device);
    let cond = Condition::caption(&Tensor::randn([4, 384], (Kind::Float, device)));
    let err = packed_vs_masked(&model, &x, &t, &cond, &[60, 12, 33, 47]);
    assert!(err < 0.05, "packed vs masked (bf16) differ by {err}");
    println!("packed vs masked bf16 forward: max difference {err:e}");
}

/// The KETA decoder (sub-sentences, guide tokens) packed and masked on CUDA in fp32: equal on real
/// frames (bitwise on an H100).
#[test]
#[ignore = "needs a GPU: run through scripts/device.sh"]
fn packed_keta_decoder_matches_masked_on_real_frames() {
    use motion::model::{Condition, Denoiser, DenoiserConfig, Variant, GUIDE_DIM};
    let device = Device::Cuda(0);
    tch::manual_seed(2);
    let vs = tch::nn::VarStore::new(device);
    let cfg = DenoiserConfig {
        variant: Variant::Decoder,
        guide_tokens: true,
        max_sentences: 4,
        dropout: 0.0,
        ..DenoiserConfig::mdm()
    };
    let model = Denoiser::new(vs.root(), &cfg).unwrap();
    let x = Tensor::randn([2, 60, 263], (Kind::Float, device));
    let t = Tensor::from_slice(&[3i64, 700]).to_device(device);
    let absent = Tensor::from_slice(&[false, false, true, false, false, false]).view([2, 3]);
    let cond = Condition {
        sentences: Some((
            Tensor::randn([2, 3, 384], (Kind::Float, device)),
            absent.to_device(device),
        )),
        guide: Some(Tensor::randn([2, 3, GUIDE_DIM], (Kind::Float, device))),
        ..Condition::caption(&Tensor::randn([2, 384], (Kind::Float, device)))
    };
    let err = packed_vs_masked(&model, &x, &t, &cond, &[60, 44]);
    assert!(err < 1e-4, "packed vs masked KETA decoder differ by {err}");
    println!("packed vs masked KETA decoder forward (fp32): max difference {err:e}");
}

/// A random tiny KETA decoder with guide tokens and its (random) aligner, as a model folder.
fn random_keta_model(dir: &std::path::Path) {
    use motion::checkpoint::{ModelCard, CARD_FORMAT};
    use motion::model::{Denoiser, DenoiserConfig, Variant};
    tch::manual_seed(2);
    let cfg = DenoiserConfig {
        variant: Variant::Decoder,
        guide_tokens: true,
        max_sentences: 4,
        ..DenoiserConfig::tiny()
    };
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let _ = Denoiser::new(vs.root(), &cfg).unwrap();
    let card = ModelCard {
        format: CARD_FORMAT,
        model: cfg,
        diffusion: Default::default(),
        text_encoder: "test".into(),
        motion: Default::default(),
        kp_tau: Some(vec![0.02, 0.01, 0.5, 0.05, 0.05]),
        training: None,
    };
    std::fs::create_dir_all(dir.join("aligner")).unwrap();
    card.write(&dir.join("config.json")).unwrap();
    let named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    train::save_safetensors(&dir.join("weights.safetensors"), &named).unwrap();
    let (mean, std) = (vec![0.0f32; 263], vec![0.1f32; 263]);
    motion::data::normalization::Normalization { mean, std }
        .write(dir)
        .unwrap();
    let avs = tch::nn::VarStore::new(Device::Cpu);
    let _ = aligner::Aligner::new(avs.root(), &aligner::AlignerConfig::tiny());
    let acard = aligner::AlignerCard {
        format: aligner::ALIGNER_FORMAT,
        model: aligner::AlignerConfig::tiny(),
        text_encoder: "test".into(),
        kp_tau: card.kp_tau.clone().unwrap(),
        max_sentences: 4,
    };
    train::save_json(&dir.join("aligner/config.json"), &acard).unwrap();
    let named: Vec<(String, Tensor)> = avs.variables().into_iter().collect();
    train::save_safetensors(&dir.join("aligner/weights.safetensors"), &named).unwrap();
}

/// Guide tokens are written into the CUDA graph's input tensor every step: replaying the graph
/// must give what eager sampling gives, refinement rounds and text-KP distances included.
#[test]
#[ignore = "needs a GPU: run through scripts/device.sh"]
fn guide_tokens_through_a_cuda_graph_match_eager_sampling() {
    use motion::sample::{RefineFrom, SampleOptions};
    let dir = tempfile::tempdir().unwrap();
    random_keta_model(dir.path());
    let device = Device::Cuda(0);
    let model = motion::checkpoint::MotionModel::load(
        dir.path(),
        device,
        std::sync::Arc::new(kernels::DenseAttention),
    )
    .unwrap();
    tch::manual_seed(5);
    let text = Tensor::randn([2, 384], (Kind::Float, device));
    let sentences = vec![
        Tensor::randn([2, 384], (Kind::Float, device)),
        Tensor::randn([3, 384], (Kind::Float, device)),
    ];
    // Full-length motions: sampling records no graph for motions of several lengths (see
    // motion/src/sample.rs: with padding masked in the graph and packed in the eager calls, this
    // model's walks ended 1.5 apart, although one packed and one masked call agree bitwise).
    let run = |cuda_graph: bool| {
        let opts = SampleOptions {
            rows: 60,
            steps: 10,
            seed: 4,
            cuda_graph,
            refine_rounds: 1,
            refine_from: RefineFrom::X0,
            ..SampleOptions::default()
        };
        model
            .sample(&text, Some(&sentences), &opts, &mut |_, _| {})
            .unwrap()
    };
    let (eager, graphed) = (run(false), run(true));
    assert!(!eager.cuda_graph && graphed.cuda_graph);
    let err = (&eager.features - &graphed.features)
        .abs()
        .max()
        .double_value(&[]);
    let scale = eager.features.abs().max().double_value(&[]);
    assert!(err <= 1e-3 * scale.max(1.0), "graph vs eager: {err}");
    assert_eq!(eager.text_kp_distance.len(), 2);
    for (a, b) in eager.text_kp_distance.iter().zip(&graphed.text_kp_distance) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-3 * x.abs().max(1e-3), "{x} vs {y}");
        }
    }
    println!(
        "guide tokens, CUDA graph vs eager: max difference {err:e}; distances {:?}",
        eager.text_kp_distance
    );
}
