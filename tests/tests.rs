//! End-to-end tests of the `keta` binary: one test binary, one module per command.

mod data;
mod decompose;
mod eval;
mod features;
mod generate;
mod gpu;
mod kp;
mod synth;
mod train;
mod util;
