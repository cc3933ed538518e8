//! `hyena`: conformance runs, benchmarks and training for the Hyena operator.

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
