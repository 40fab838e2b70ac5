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
