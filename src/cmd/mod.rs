//! One file per command: arguments -> validated values -> library calls -> outputs.

mod bench;
mod bench_attention;
mod bench_model;
mod data;
mod decompose;
mod eval;
mod features;
mod generate;
mod kp;
mod launch;
mod model;
mod render;
mod run_config;
mod sub_sentences;
mod train;
mod train_aligner;
mod train_evaluator;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Generate(args) => generate::run(args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Model(cmd) => model::run(cmd),
        Command::Features(cmd) => features::run(cmd),
        Command::Data(cmd) => data::run(cmd),
        Command::Kp(cmd) => kp::run(cmd),
        Command::Decompose(args) => decompose::run(args),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Render {
            joints,
            out,
            panels,
        } => render::run(&joints, &out, panels),
    }
}

/// The device a `--device` flag names; `cuda` without a GPU is an error, not a silent CPU run.
/// A CUDA device also caps libtorch's CPU threads ([`limit_cpu_threads`]).
pub fn device(arg: crate::cli::DeviceArg) -> anyhow::Result<tch::Device> {
    use crate::cli::DeviceArg;
    let device = match arg {
        DeviceArg::Cpu => tch::Device::Cpu,
        DeviceArg::Auto => tch::Device::cuda_if_available(),
        DeviceArg::Cuda if tch::Cuda::is_available() => tch::Device::Cuda(0),
        DeviceArg::Cuda => {
            anyhow::bail!("--device cuda: libtorch sees no CUDA device here; use --device cpu")
        }
    };
    limit_cpu_threads(device);
    Ok(device)
}

/// libtorch's CPU threads in a process whose tensors live on a GPU.
const CPU_THREADS_BESIDE_A_GPU: usize = 4;

/// On CUDA the host does little tensor work (batch assembly, transfers, a few checks), yet
/// libtorch starts one OpenMP thread per core for it, and idle OpenMP threads spin before they
/// sleep: one job per GPU on a many-core machine then keeps every core busy and slows the kernel
/// launches of all the jobs. A CUDA run therefore uses at most [`CPU_THREADS_BESIDE_A_GPU`]
/// threads, unless OMP_NUM_THREADS sets the number; CPU runs keep libtorch's one per core.
pub fn limit_cpu_threads(device: tch::Device) {
    if device.is_cuda() && std::env::var_os("OMP_NUM_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        tch::set_num_threads(cores.min(CPU_THREADS_BESIDE_A_GPU) as i32);
    }
}

/// The self-attention backend an `--attention` flag names, for a denoiser of `variant` (the
/// encoder prepends one condition token, which radial attention keeps dense).
pub fn attention(
    arg: crate::cli::AttentionArg,
    variant: motion::model::Variant,
) -> anyhow::Result<std::sync::Arc<dyn kernels::Attention>> {
    use crate::cli::AttentionArg;
    use kernels::radial::{RadialAttention, RadialBackend, RadialConfig};
    let cfg = match arg {
        AttentionArg::Dense => return Ok(std::sync::Arc::new(kernels::DenseAttention)),
        AttentionArg::Auto => RadialConfig::default(),
        AttentionArg::Radial => RadialConfig {
            auto_dense_below: 0,
            gather_dense_below: 0,
            ..RadialConfig::default()
        },
    };
    let condition = usize::from(variant == motion::model::Variant::Encoder);
    Ok(RadialAttention::new(cfg, RadialBackend::Auto)?
        .with_condition_tokens(condition)?
        .shared())
}
