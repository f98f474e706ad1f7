//! `cargo xtask gpu-check`: builds the engine with `--features cuda` and runs the same seeded
//! analyses (Monte Carlo, exact, b3, b4 on an MLP and the MNIST CNN) and one training epoch on
//! the CPU and on `cuda:0`, compares them within float tolerance and prints the speed of each
//! (`crates/cli/examples/gpu_check.rs` does the work). Not part of CI: CI has no GPU and no
//! nvcc. `--cpu-only` builds without CUDA and runs the CPU half, so the check itself can be
//! exercised anywhere.

use anyhow::{bail, Context};
use std::path::Path;
use std::process::Command;

/// Options of `cargo xtask gpu-check`.
#[derive(clap::Args, Debug)]
pub struct GpuCheckArgs {
    /// Run only the CPU half (no CUDA build, no GPU needed).
    #[arg(long)]
    cpu_only: bool,
    /// Smaller sizes (10 inputs × 200 repetitions, 1000 training examples) for a quick look.
    #[arg(long)]
    small: bool,
}

/// Builds and runs the check; fails (non-zero exit) when the CUDA build fails, when there is
/// no GPU, or when CPU and GPU disagree.
pub fn run(args: GpuCheckArgs, root: &Path) -> anyhow::Result<()> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root).args([
        "run",
        "--release",
        "-p",
        "ftnn-cli",
        "--example",
        "gpu_check",
    ]);
    if !args.cpu_only {
        cmd.args(["--features", "cuda"]);
    }
    cmd.arg("--");
    if args.cpu_only {
        cmd.arg("--cpu-only");
    }
    if args.small {
        cmd.arg("--small");
    }
    println!("gpu-check: {cmd:?}");
    let status = cmd.status().context("cannot run cargo")?;
    match status.code() {
        Some(0) => Ok(()),
        Some(2) => bail!("gpu-check: the engine was built without the cuda feature"),
        Some(3) => bail!("gpu-check: no usable GPU on this machine (see the message above)"),
        Some(101) if !args.cpu_only => bail!(
            "gpu-check: the CUDA build failed (it needs the CUDA toolkit: nvcc on PATH); \
             `cargo xtask gpu-check --cpu-only` runs the CPU half"
        ),
        _ => bail!("gpu-check: failed ({status}); CPU and GPU disagree or a run failed"),
    }
}
