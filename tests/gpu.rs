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
