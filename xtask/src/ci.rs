//! `cargo xtask ci`: the CI gate, exactly what `.ci/run` runs (burn's `run-checks` habit).
//!
//! Steps, in order, each stopping the gate on failure:
//! 1. `cargo fmt --all --check`
//! 2. `cargo clippy --workspace --all-targets -- -D warnings`
//! 3. `cargo test --workspace` (the README's test command; it also compiles every example)
//! 4. the README's "From Rust" examples, run (`cargo run --example …`)
//! 5. `cargo bench --workspace --no-run` (benches compile; they are not run in CI)
//! 6. `cargo xtask data verify`
//! 7. `cargo xtask reproduce-all --profile smoke` into `target/ci-*` (every experiment, seconds)
//!
//! `--skip STEP,…` leaves steps out for a local run (`fmt`, `clippy`, `test`, `examples`,
//! `benches`, `data`, `smoke`); CI skips nothing.

use anyhow::{bail, Context as _};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// The steps of the gate, by name.
pub const STEPS: [&str; 7] = [
    "fmt", "clippy", "test", "examples", "benches", "data", "smoke",
];

/// The examples that README's "From Rust" sections quote, as `(package, example)`.
pub const EXAMPLES: [(&str, &str); 3] = [
    ("ftnn-model", "monte_carlo"),
    ("ftnn-bounds", "bounds"),
    ("ftnn-train", "train"),
];

/// Runs the gate in the workspace `root`, leaving out the steps named in `skip`.
pub fn run(skip: &[String], root: &Path) -> anyhow::Result<()> {
    for s in skip {
        if !STEPS.contains(&s.as_str()) {
            bail!("unknown step `{s}` in --skip (steps: {})", STEPS.join(", "));
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let skipped = |name: &str| skip.iter().any(|s| s == name);
    let start = Instant::now();
    let step = |name: &str, args: &[&str]| -> anyhow::Result<()> {
        if skipped(name) {
            println!("== {name}: skipped");
            return Ok(());
        }
        println!("== {name}: cargo {}", args.join(" "));
        let t = Instant::now();
        let status = Command::new(&cargo)
            .args(args)
            .current_dir(root)
            .status()
            .with_context(|| format!("cannot start `cargo {}`", args.join(" ")))?;
        if !status.success() {
            bail!(
                "step `{name}` failed: `cargo {}` ({status})",
                args.join(" ")
            );
        }
        println!(
            "== {name}: ok in {:.0} s{}",
            t.elapsed().as_secs_f64(),
            disk_free(root)
                .map(|gb| format!(" ({gb:.1} GB free on the target's disk)"))
                .unwrap_or_default()
        );
        Ok(())
    };
    step("fmt", &["fmt", "--all", "--check"])?;
    step(
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    step("test", &["test", "--workspace"])?;
    for (package, example) in EXAMPLES {
        step(
            "examples",
            &["run", "--release", "-p", package, "--example", example],
        )?;
    }
    step("benches", &["bench", "--workspace", "--no-run"])?;
    step(
        "data",
        &["run", "--release", "-p", "xtask", "--", "data", "verify"],
    )?;
    step(
        "smoke",
        &[
            "run",
            "--release",
            "-p",
            "xtask",
            "--",
            "reproduce-all",
            "--profile",
            "smoke",
            "--results",
            "target/ci-results",
            "--figures",
            "target/ci-figures",
            "--report",
            "target/ci-REPORT.md",
            "--force",
        ],
    )?;
    println!(
        "== ci: all steps passed in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Free space, in GB, on the file system that holds `root` (from `df -Pk`), so a CI log
/// shows how close the build comes to a full disk; `None` where `df` is unavailable.
fn disk_free(root: &Path) -> Option<f64> {
    let out = Command::new("df").arg("-Pk").arg(root).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let line = text.lines().nth(1)?;
    let available_kb: f64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(available_kb / 1e6)
}
