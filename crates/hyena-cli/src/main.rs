//! `hyena`: conformance runs, benchmarks and training for the Hyena operator.

mod bench;
mod run;

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
    /// Time the Hyena operator (and, later, attention) at several sequence lengths.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Run(a) => run::run(a),
        Cmd::Bench(a) => bench::bench(a),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
