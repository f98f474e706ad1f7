//! `ftnn` — analyse the crash fault tolerance of a neural network.
//!
//! ```text
//! ftnn analyze --model M.safetensors --inputs X.npy --p 0,0.01,0,0 [--repetitions 10000]
//!              [--seed 0] [--exact] [--output OUT.json] [--format table|json]
//!              [--max-memory 16G]    refused (exit 2) beyond it: see limits.rs
//!
//! ftnn compare --model M.safetensors --inputs X.npy --p 0,0.01,0,0 [--bounds all]
//!              [--output RANKING.csv|.json] [--format table|json|csv]
//! ftnn certify --model M.safetensors --inputs X.npy --targets Y.npy --loss mse|ce \
//!              --p 0,0.01,0,0 --epsilon 0.01 --delta 1e-5 [--verify 10000] [--seed 0]
//!              [--output OUT.json] [--format table|json]
//! ftnn algorithm1 --output-dir run/ [--train-examples 60000] [--epochs 30] [--epsilon 0.009] \
//!                 [--delta 1e-5] [--p 0.01] [--max-iterations 20] [--seed 0]
//! ftnn analyze --model cnn.safetensors --inputs X.npy --p 0.01,0,0,0 --exact
//! ftnn inspect --model mnist-cnn.pth --architecture mnist-cnn.arch.json
//! ftnn init --sizes 20,15,14,1 --activation relu --init random --scale 3 --mean 0.1 \
//!           --seed 0 --output net.safetensors
//! ftnn train --data mnist --hidden 100,50 --epochs 10 --p-train 0,0.02,0,0 \
//!            --reg vardelta=3.25@0.05 --output mnist.safetensors
//! ```
//!
//! Exit codes: 0 success, 2 invalid usage or input (nothing is written), 1 other failures.

mod algorithm1;
mod analyze;
mod certify;
mod common;
mod compare;
mod images;
mod init;
mod inspect;
mod limits;
mod network;
mod npy;
mod report;
mod train;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// A retaining allocator: the batched GEMM paths allocate and free multi-megabyte buffers, which
/// the system allocator returns to the kernel and page-faults back in on every call.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Probabilistic fault tolerance of neural networks: Monte Carlo crash injection, exact
/// enumeration and analytic bounds.
#[derive(Parser, Debug)]
#[command(name = "ftnn", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Distribution of the output error Δ = ŷ − y when neurons crash with probabilities p.
    Analyze(analyze::AnalyzeArgs),
    /// Rank the analytic bounds by how well they follow the Monte Carlo error over the inputs.
    Compare(compare::CompareArgs),
    /// Tail guarantee P(Δ > ε) ≤ δ on the loss (SPEC §6) per input, with its Monte Carlo check.
    Certify(certify::CertifyArgs),
    /// Algorithm 1 (SPEC §6): grow and regularize an MNIST network until it is certified and
    /// verified; resumable.
    Algorithm1(algorithm1::Algorithm1Args),
    /// Write a new network with seeded random weights in the ftnn model format.
    Init(init::InitArgs),
    /// Show the network as ftnn understands it: layers, shapes, functions and crash sites.
    Inspect(inspect::InspectArgs),
    /// Train a network on MNIST, Fashion-MNIST or Boston with crash-dropout and regularizers.
    Train(train::TrainArgs),
}

/// An error together with the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    /// 2 for invalid usage or input, 1 otherwise.
    pub code: u8,
    /// The error with its context chain.
    pub error: anyhow::Error,
}

impl CliError {
    /// Invalid usage or input (exit code 2).
    pub fn input(error: impl Into<anyhow::Error>) -> Self {
        Self {
            code: 2,
            error: error.into(),
        }
    }
    /// Any other failure (exit code 1).
    pub fn failure(error: impl Into<anyhow::Error>) -> Self {
        Self {
            code: 1,
            error: error.into(),
        }
    }
}

impl From<ftnn_model::ModelError> for CliError {
    fn from(e: ftnn_model::ModelError) -> Self {
        let code = if e.is_input_error() { 2 } else { 1 };
        Self {
            code,
            error: e.into(),
        }
    }
}

fn main() -> ExitCode {
    ftnn_model::runtime::configure_candle_threads();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => analyze::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Certify(args) => certify::run(args),
        Command::Algorithm1(args) => algorithm1::run(args),
        Command::Init(args) => init::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Train(args) => train::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {:#}", e.error);
            ExitCode::from(e.code)
        }
    }
}
