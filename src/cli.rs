//! The command line (architecture.md "The command line"): clap derive, one Args struct per command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "keta",
    version,
    about = "Text to 3D human motion: motion diffusion with kinematic-phrase guidance"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate motions from text (needs a trained model; see the README)
    #[command(
        after_help = "Example:\n  keta generate --text \"a person walks forward, then waves\" --seconds 6"
    )]
    Generate(GenerateArgs),
    /// Train a model: the denoiser (mdm), the text-KP aligner (aligner) or the evaluator
    #[command(
        after_help = "Examples:\n  keta train mdm --data data/synth --out runs/mdm --config configs/default-model.json\n  keta train mdm --data data/synth --out runs/mdm --resume --steps 80000\n  keta train aligner --data data/synth --out runs/aligner --config configs/aligner-tiny.json\n  keta train mdm --data data/synth --out runs/keta --lambda-kp 0.001 --aligner runs/aligner\n  keta train mdm --data data/synth --out runs/keta-dec --config configs/keta-decoder-tiny.json --aligner runs/aligner\n  keta train evaluator --data data/synth --out runs/evaluator --config configs/evaluator-tiny.json\n  keta train mdm --data data/synth --out runs/mdm --gpus 4   # one machine, 4 GPUs\n  keta train mdm ... --gpus 8 --nodes 2 --node-rank 0 --rendezvous node0:29500   # on node0\n  keta train mdm ... --gpus 8 --nodes 2 --node-rank 1 --rendezvous node0:29500   # on node1"
    )]
    Train(TrainArgs),
    /// Evaluate a model by the HumanML3D protocol (R-precision, FID, MM-Dist, Diversity,
    /// MultiModality, KP accuracy) on a data folder's test split
    #[command(
        after_help = "Examples:\n  keta eval --model runs/mdm --data data/synth --evaluator runs/evaluator --out eval.json\n  keta eval --model runs/keta --data data/synth --evaluator runs/evaluator --replications 5 --refine-rounds 2"
    )]
    Eval(EvalArgs),
    /// Model folders: pack a checkpoint for shipping (fp16 weights, no optimizer state)
    #[command(subcommand)]
    Model(ModelCommand),
    /// Convert between joint positions and 263-d HumanML3D feature rows
    #[command(subcommand)]
    Features(FeaturesCommand),
    /// Inspect HumanML3D-layout data folders
    #[command(subcommand)]
    Data(DataCommand),
    /// Split captions into short time-ordered sentences (offline rules)
    #[command(
        after_help = "Examples:\n  keta decompose \"a man walks forward, then jumps twice\" --json\n  keta decompose --data data/synth   # all captions; scores against texts/*.json where present"
    )]
    Decompose(DecomposeArgs),
    /// Kinematic phrases: extract them, explain a motion with them, write the KP-accuracy prompts
    #[command(subcommand)]
    Kp(KpCommand),
    /// Draw a motion: a PNG strip of frames or an animated GIF (stick figures, front and side views)
    #[command(
        after_help = "Examples:\n  keta render --joints joints.npy --out strip.png\n  keta render --joints joints.npy --out motion.gif"
    )]
    Render {
        /// Joints, T x 22 x 3 (metres, Y up, 20 fps)
        #[arg(long)]
        joints: PathBuf,
        /// Output; the format follows the extension (.png strip, .gif animation, .bvh)
        #[arg(long)]
        out: PathBuf,
        /// Frames in a PNG strip
        #[arg(long, default_value_t = 8)]
        panels: usize,
    },
    /// Measure performance (times name the machine; see docs/BENCHMARKS.md)
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Args)]
pub struct DecomposeArgs {
    /// The caption to decompose
    #[arg(required_unless_present = "data", conflicts_with = "data")]
    pub caption: Option<String>,
    /// A data folder: decompose every caption into DIR/decompositions/<backend>-none.jsonl
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Decomposition backend
    #[arg(long, value_enum, default_value_t = BackendArg::Rules)]
    pub backend: BackendArg,
    /// OpenAI-compatible endpoint for --backend llm, e.g. http://127.0.0.1:8080/v1 (else KETA_LLM_ENDPOINT)
    #[arg(long)]
    pub llm_endpoint: Option<String>,
    /// Model name for --backend llm (else KETA_LLM_MODEL, else "default"); the key comes only from
    /// KETA_LLM_API_KEY and is never printed
    #[arg(long)]
    pub llm_model: Option<String>,
    /// Requests in flight at once when decomposing a data folder with --backend llm
    #[arg(long, default_value_t = 4)]
    pub llm_workers: usize,
    /// Print exactly one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// Offline, deterministic rules
    Rules,
    /// An OpenAI-compatible chat server; falls back to the rules (with a warning) when it fails
    Llm,
}

/// Where tensors live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    /// CUDA when available, else the CPU
    Auto,
    Cpu,
    Cuda,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KpModeArg {
    /// -1 / 0 / +1 with a dead zone of 1e-3
    Sign,
    /// tanh(raw / tau_type), differentiable
    Soft,
}

#[derive(Debug, Subcommand)]
pub enum KpCommand {
    /// Joints (T x 22 x 3) -> kinematic phrases (T x 392, float32)
    #[command(
        after_help = "Example:\n  keta kp extract --joints joints.npy --out kp.npy --mode soft"
    )]
    Extract {
        #[arg(long)]
        joints: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t = KpModeArg::Sign)]
        mode: KpModeArg,
    },
    /// Print a motion as a timeline of phrase events; optionally draw a phrases x time heat map
    #[command(after_help = "Example:\n  keta kp explain --joints joints.npy --plot kp.png")]
    Explain {
        #[arg(long)]
        joints: PathBuf,
        /// Write a heat map (PNG) of the sign KP, grouped by phrase type
        #[arg(long)]
        plot: Option<PathBuf>,
    },
    /// Write the KP-accuracy benchmark prompts (JSON), generated from phrase templates
    #[command(after_help = "Example:\n  keta kp prompts --out kp/prompts/kp-prompts-v1.json")]
    Prompts {
        #[arg(long)]
        out: PathBuf,
    },
}

/// What every benchmark takes.
#[derive(Debug, Args)]
pub struct BenchOpts {
    /// Print one JSON object instead of a table
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// Timed repetitions (the median is reported)
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Sentence-encoder throughput (all-MiniLM-L6-v2) at batch 1 and batch 64
    #[command(after_help = "Example:\n  keta bench text --device cpu")]
    Text(BenchOpts),
    /// Joints -> 263-d features and back on a 64 x 196-frame batch (float32)
    #[command(after_help = "Example:\n  keta bench features --device cpu")]
    Features(BenchOpts),
    /// Soft KP forward and forward + backward on a 64 x 196-frame batch
    #[command(after_help = "Example:\n  keta bench kp --device cpu --json")]
    Kp(BenchOpts),
    /// Denoiser training steps/s at the reference size (batch 64, 196 frames), fp32 and bf16
    #[command(after_help = "Example:\n  keta bench train --device cuda --json")]
    Train(BenchOpts),
    /// Sampling time for 1 and 32 motions (50 steps, CFG 2.5, 196 frames) at the reference size
    #[command(after_help = "Example:\n  keta bench generate --device cuda --json")]
    Generate(BenchOpts),
    /// Attention forward: dense SDPA vs radial block-gather vs the fused radial kernels (bf16,
    /// 8 heads, 1k-64k tokens, head dims 64 and 128; CUDA only). The default fused kernel and every
    /// other one the GPU runs (mma.sync; on Hopper also wgmma and warp-specialized) are timed in
    /// the same process, each as the median of `--runs` windows of up to 50 calls between CUDA
    /// events after up to 200 warm-up calls (scripts/flex_steady.py times FlexAttention alike)
    #[command(
        after_help = "Examples:\n  keta bench attention --device cuda --json\n  keta bench attention --device cuda --tokens 65536 --head-dims 64\n\nKETA_RADIAL_KERNEL=mma|wgmma|ws|pws picks the fused kernel (here and in generate/train); unset,\non Hopper the persistent warp-specialized kernel (pws) runs at head dim 64 and ws at 128 from\n4,096 tokens, wgmma below; mma.sync elsewhere."
    )]
    Attention(BenchAttentionOpts),
}

#[derive(Debug, Args)]
pub struct BenchAttentionOpts {
    #[command(flatten)]
    pub opts: BenchOpts,
    /// Sequence lengths to time, comma-separated
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1024,2048,4096,16384,65536"
    )]
    pub tokens: Vec<i64>,
    /// Head dims to time, comma-separated (64 and 128 have fused kernels)
    #[arg(long, value_delimiter = ',', default_value = "64,128")]
    pub head_dims: Vec<i64>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What the motion should show
    #[arg(long, required_unless_present = "input")]
    pub text: Option<String>,
    /// A file with one prompt a line (blank lines skipped); all are generated in one batch
    #[arg(long, conflicts_with = "text")]
    pub input: Option<PathBuf>,
    /// Length of each motion in seconds (the model's card gives the supported range; see --long)
    #[arg(long, default_value_t = 6.0)]
    pub seconds: f64,
    /// Motions per prompt
    #[arg(long, default_value_t = 1)]
    pub num: usize,
    /// Seeds the noise: the same seed repeats a run on the same device
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Model folder, a checkpoint or a training output folder (default: the shipped models/default/)
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Classifier-free guidance scale (1 = no guidance)
    #[arg(long, default_value_t = 2.5)]
    pub guidance: f64,
    /// Sampling steps (respaced from the 1000 training steps)
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    #[arg(long, value_enum, default_value_t = SamplerArg::Ddpm)]
    pub sampler: SamplerArg,
    /// How the caption is split into sub-sentences (shown, stored in summary.json; used by KETA models)
    #[arg(long, value_enum, default_value_t = DecomposeArg::Rules)]
    pub decompose: DecomposeArg,
    /// Extra re-noise/denoise rounds with fresh guide tokens (KETA decoder models)
    #[arg(long, default_value_t = 0)]
    pub refine_rounds: usize,
    /// Where guide tokens come from at each step
    #[arg(long, value_enum, default_value_t = RefineFromArg::Xt)]
    pub refine_from: RefineFromArg,
    #[arg(long, value_enum, default_value_t = AttentionArg::Auto)]
    pub attention: AttentionArg,
    /// Sampling precision: bf16 is faster on a GPU and lets radial attention use the fused CUDA
    /// kernel (memory flat in the length); fp32 is the reference
    #[arg(long, value_enum, default_value_t = PrecisionArg::Fp32)]
    pub precision: PrecisionArg,
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// Output folder (default: out/<YYYYmmdd-HHMMSS>-<slug>/, new each run)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write into a non-empty --out: its sample_<k> folders are replaced (all of them), other files stay
    #[arg(long)]
    pub force: bool,
    /// Files per sample, comma-separated: npy (joints.npy + features.npy), bvh, gif
    #[arg(long, value_delimiter = ',', default_value = "npy,bvh,gif")]
    pub format: Vec<FormatArg>,
    /// Print the sub-sentences, their time windows and the kinematic-phrase events found in each
    #[arg(long)]
    pub explain: bool,
    /// Allow --seconds beyond the model's training lengths (up to 64k frames): extrapolation,
    /// quality not guaranteed; --attention radial keeps attention O(n log n)
    #[arg(long)]
    pub long: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SamplerArg {
    /// Ancestral posterior sampling (MDM)
    Ddpm,
    /// Deterministic DDIM (eta 0)
    Ddim,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DecomposeArg {
    Rules,
    Llm,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RefineFromArg {
    Xt,
    X0,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AttentionArg {
    /// Radial sparse attention where it is faster (measured): from 2,048 frames with the fused CUDA
    /// kernel (GPU, bf16/fp16), from 8,192 with block-gather (CPU, fp32); dense below
    Auto,
    /// Dense attention at every length (libtorch SDPA)
    Dense,
    /// Radial sparse attention at every length (O(n log n); block-gather, or the fused CUDA kernel
    /// for bf16/fp16 inference)
    Radial,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Npy,
    Bvh,
    Gif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TrainWhat {
    /// The motion diffusion denoiser
    Mdm,
    /// The text-KP aligner (KETA), on ground-truth motions and rules sub-sentences
    Aligner,
    /// The text-motion evaluator that `keta eval` scores with (our own, 50-d GloVe)
    Evaluator,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// What to train
    #[arg(value_enum)]
    pub what: TrainWhat,
    /// HumanML3D-layout data folder (train.txt, val.txt, new_joint_vecs/, texts/)
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder: ckpt-<step>/, latest, train_log.jsonl, loss.png
    #[arg(long)]
    pub out: PathBuf,
    /// Training configuration (JSON; unknown fields are refused). Default: the reference MDM size
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Total optimizer steps (overrides the config; a resumed run continues up to it)
    #[arg(long)]
    pub steps: Option<u64>,
    /// Continue from OUT/latest (the config is the checkpoint's unless --config is given)
    #[arg(long)]
    pub resume: bool,
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// mdm: weight of KETA's auxiliary KP alignment loss (0 = plain MDM; needs --aligner)
    #[arg(long)]
    pub lambda_kp: Option<f64>,
    /// mdm: a folder from `keta train aligner`, frozen, for --lambda-kp
    #[arg(long)]
    pub aligner: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = AttentionArg::Auto)]
    pub attention: AttentionArg,
    /// mdm: GPUs of this machine to train on, one process each (data parallel through NCCL;
    /// batch_size is the global batch, split evenly)
    #[arg(long, default_value_t = 1)]
    pub gpus: usize,
    /// mdm, several machines: where the ranks meet, FILE (on storage every machine reads) or
    /// HOST:PORT (the first machine listens there). One machine needs none
    #[arg(long)]
    pub rendezvous: Option<String>,
    /// mdm: machines in the run (each runs this command with its own --node-rank)
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// mdm: this machine's index, 0..nodes (machine 0 hosts rank 0)
    #[arg(long, default_value_t = 0)]
    pub node_rank: usize,
    /// mdm: seconds a rank waits on the others (rendezvous, NCCL) before it stops with an error
    #[arg(long, default_value_t = 300)]
    pub dist_timeout: u64,
    /// Set by the launcher for each process it starts: this process's global rank
    #[arg(long, hide = true)]
    pub rank: Option<usize>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The model: a model folder, a checkpoint or a training output folder
    #[arg(long)]
    pub model: PathBuf,
    /// HumanML3D-layout data folder; its test split is evaluated
    #[arg(long)]
    pub data: PathBuf,
    /// Evaluator folder (from `keta train evaluator`, or the official one converted by
    /// scripts/convert_evaluator.py)
    #[arg(long, default_value = "models/evaluator")]
    pub evaluator: PathBuf,
    /// Replications (mean and 95% interval over them)
    #[arg(long, default_value_t = 20)]
    pub replications: usize,
    /// Replications that also measure MultiModality (100 captions x 30 motions each)
    #[arg(long, default_value_t = 5)]
    pub mm_replications: usize,
    /// Replications that also score the KP-accuracy prompt set (default: all)
    #[arg(long)]
    pub kp_replications: Option<usize>,
    /// Test clips per replication (whole batches of 32)
    #[arg(long, default_value_t = 1000)]
    pub max_motions: usize,
    /// How captions are split into sub-sentences (KETA decoder models)
    #[arg(long, value_enum, default_value_t = DecomposeArg::Rules)]
    pub decompose: DecomposeArg,
    /// Report file (JSON); a Markdown table is written beside it (.md)
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    #[arg(long, default_value_t = 2.5)]
    pub guidance: f64,
    #[arg(long, value_enum, default_value_t = SamplerArg::Ddpm)]
    pub sampler: SamplerArg,
    /// Extra re-noise/denoise rounds with fresh guide tokens (KETA decoder models)
    #[arg(long, default_value_t = 0)]
    pub refine_rounds: usize,
    #[arg(long, value_enum, default_value_t = RefineFromArg::Xt)]
    pub refine_from: RefineFromArg,
    /// Sampling precision: bf16 is 3-5x faster on a GPU (numbers shift slightly; say which you used)
    #[arg(long, value_enum, default_value_t = PrecisionArg::Fp32)]
    pub precision: PrecisionArg,
    /// Motions per sampling call
    #[arg(long, default_value_t = 256)]
    pub chunk: usize,
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    Fp32,
    Bf16,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Copy a checkpoint's model (config, EMA weights, Mean/Std) into a new folder, fp16 by default
    #[command(
        after_help = "Example:\n  keta model pack --from runs/default --out models/default --dtype f16"
    )]
    Pack {
        /// A checkpoint folder or a training output folder (its `latest` is used)
        #[arg(long)]
        from: PathBuf,
        /// New folder (must not exist, or be empty)
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t = DtypeArg::F16)]
        dtype: DtypeArg,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DtypeArg {
    F16,
    F32,
}

#[derive(Debug, Subcommand)]
pub enum FeaturesCommand {
    /// Feature rows (T-1 x 263, raw) -> joints (T-1 x 22 x 3, canonical placement)
    #[command(
        after_help = "Example:\n  keta features to-joints --features 000001.npy --out joints.npy"
    )]
    ToJoints {
        /// Input .npy, T x 263 (float32 or float64)
        #[arg(long)]
        features: PathBuf,
        /// Output .npy (float32)
        #[arg(long)]
        out: PathBuf,
    },
    /// Joints (T x 22 x 3, metres, Y up) -> feature rows (T-1 x 263, raw)
    #[command(
        after_help = "Example:\n  keta features from-joints --joints clip.npy --out features.npy"
    )]
    FromJoints {
        /// Input .npy, T x 22 x 3 (float32 or float64), T >= 2
        #[arg(long)]
        joints: PathBuf,
        /// Output .npy (float32)
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Make a captioned training set procedurally (HumanML3D layout, with ground-truth segments)
    #[command(after_help = "Example:\n  keta data synth --out data/synth --count 20000 --seed 0")]
    Synth {
        /// New folder to create (must not exist, or be empty)
        #[arg(long)]
        out: PathBuf,
        /// Number of clips
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Every clip is a function of (seed, index)
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Import real motion (BVH, CMU ASF/AMC) as a HumanML3D-layout folder, descriptions as captions
    #[command(
        after_help = "Examples:\n  keta data import ../shared/data/cmu-asfamc --out data/cmu\n  keta data import walk.bvh jump.bvh --out data/mine"
    )]
    Import {
        /// .bvh or .amc files (an .amc needs its subject's .asf beside it), or folders of them
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// New folder to create (must not exist, or be empty)
        #[arg(long)]
        out: PathBuf,
    },
    /// Report counts, lengths, captions per motion and every bad file of a data folder (exit 1 if any)
    #[command(after_help = "Example:\n  keta data check ~/data/HumanML3D")]
    Check {
        /// The data folder (new_joint_vecs/, texts/, train.txt, ...)
        dir: PathBuf,
    },
}
