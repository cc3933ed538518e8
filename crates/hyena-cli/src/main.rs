//! `hyena`: conformance runs, benchmarks and training for the Hyena operator.

/// The three raw copies of a [`hyena_kernels::device::Device`] wrapper, forwarded unchanged to
/// the wrapped device `self.$inner` (the profiling and timing wrappers change only launches,
/// GEMMs and allocation bookkeeping). Defined before the modules that use it (textual scope).
#[allow(unused_macros)]
macro_rules! forward_raw_copies {
    ($inner:ident) => {
        unsafe fn copy_htod_raw(&self, src: &[u8], dst: u64) -> hyena_kernels::Result<()> {
            // SAFETY: forwarded under the caller's contract.
            unsafe { self.$inner.copy_htod_raw(src, dst) }
        }
        unsafe fn copy_dtoh_raw(&self, src: u64, dst: &mut [u8]) -> hyena_kernels::Result<()> {
            // SAFETY: forwarded under the caller's contract.
            unsafe { self.$inner.copy_dtoh_raw(src, dst) }
        }
        unsafe fn copy_dtod_raw(&self, src: u64, dst: u64, bytes: usize) -> hyena_kernels::Result<()> {
            // SAFETY: forwarded under the caller's contract.
            unsafe { self.$inner.copy_dtod_raw(src, dst, bytes) }
        }
    };
}

mod backend;
mod bench;
mod files;
mod kernels_info;
#[cfg(feature = "cuda")]
mod measure;
mod profile;
mod run;
mod run_lm;
mod train_recall;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "hyena", version, about = "Hyena operator: conformance runs, benchmarks, training")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run an operator (forward, and backward when `input.grad_y` is given) on a weights file and
    /// an inputs file; write the outputs and gradients under the golden files' names.
    Run(run::RunArgs),
    /// Time the Hyena operator against exact causal attention at several sequence lengths.
    Bench(bench::BenchArgs),
    /// List the CUDA kernels built into this binary; `--info` adds nvcc's ptxas resource report,
    /// `--sass` the static SASS per kernel, `--profile` the H100/H200 time model of the operator's
    /// launches (model, not a GPU measurement).
    Kernels(kernels_info::KernelsArgs),
    /// Train a Hyena LM on the associative recall task and report held-out accuracy.
    TrainRecall(train_recall::TrainRecallArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Run(a) => run::run(a),
        Cmd::Bench(a) => bench::bench(a),
        Cmd::Kernels(a) => kernels_info::kernels(a),
        Cmd::TrainRecall(a) => train_recall::train_recall(a),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
