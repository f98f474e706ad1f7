//! `cargo xtask` — project automation for ftnn.
//!
//! ```text
//! cargo xtask list                                   the registered experiments
//! cargo xtask run ID [--profile P] [--force]         one experiment
//! cargo xtask reproduce-all [--profile P] [--only ID,…] [--force]
//! cargo xtask data verify | import-vgg16 PATH        data checks
//! ```
//!
//! Results go to `results/<id>/` (atomic writes). An experiment whose results exist for the
//! same profile and parameters is skipped unless `--force`; an interrupted one resumes from
//! its stored steps. Exit code 2 for bad usage or input, 1 for failures.

mod data;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use ftnn_experiments::{registry, run_experiment, Experiment, Profile, RunStatus};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", about = "ftnn project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the registered experiments.
    List,
    /// Run one experiment.
    Run {
        /// Experiment id (see `cargo xtask list`).
        id: String,
        #[command(flatten)]
        opts: RunOpts,
    },
    /// Run every experiment (or those named by --only), skipping up-to-date results.
    ReproduceAll {
        #[command(flatten)]
        opts: RunOpts,
        /// Comma-separated experiment ids to run.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Data checks.
    #[command(subcommand)]
    Data(data::DataCmd),
}

#[derive(clap::Args, Debug)]
struct RunOpts {
    /// smoke (seconds, CI), quick (minutes, default) or paper (the paper's parameters).
    #[arg(long, default_value = "quick", value_parser = |s: &str| s.parse::<Profile>())]
    profile: Profile,
    /// Recompute even when results for this profile and these parameters exist.
    #[arg(long)]
    force: bool,
    /// Results directory (default: results/ in the workspace root).
    #[arg(long)]
    results: Option<PathBuf>,
}

/// The workspace root (xtask lives in `<root>/xtask`).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent directory")
        .to_path_buf()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = workspace_root();
    let result = match cli.command {
        Command::List => {
            list();
            Ok(())
        }
        Command::Run { id, opts } => match ftnn_experiments::find(&id) {
            Some(e) => run_many(&[e], &opts, &root),
            None => {
                eprintln!("error: unknown experiment `{id}`; `cargo xtask list` shows them");
                return ExitCode::from(2);
            }
        },
        Command::ReproduceAll { opts, only } => {
            let all = registry();
            let unknown: Vec<&String> = only
                .iter()
                .filter(|id| !all.iter().any(|e| e.id() == id.as_str()))
                .collect();
            if !unknown.is_empty() {
                eprintln!(
                    "error: unknown experiment(s) {unknown:?}; `cargo xtask list` shows them"
                );
                return ExitCode::from(2);
            }
            let chosen: Vec<Box<dyn Experiment>> = all
                .into_iter()
                .filter(|e| only.is_empty() || only.iter().any(|id| id == e.id()))
                .collect();
            run_many(&chosen, &opts, &root)
        }
        Command::Data(cmd) => match data::run(cmd, &root) {
            Ok(()) => Ok(()),
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn list() {
    for e in registry() {
        println!("{:<28} {}  [{}]", e.id(), e.title(), e.origin());
    }
}

fn run_many(exps: &[Box<dyn Experiment>], opts: &RunOpts, root: &Path) -> anyhow::Result<()> {
    let results = opts.results.clone().unwrap_or_else(|| root.join("results"));
    std::fs::create_dir_all(&results)
        .with_context(|| format!("cannot create {}", results.display()))?;
    let multi = MultiProgress::new();
    let overall = multi.add(ProgressBar::new(exps.len() as u64));
    overall.set_style(
        ProgressStyle::with_template("{msg:<30} [{bar:30}] {pos}/{len} experiments, {elapsed}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut failed = Vec::new();
    for e in exps {
        overall.set_message(format!("{} ({})", e.id(), opts.profile));
        match run_experiment(e.as_ref(), opts.profile, &results, opts.force, &multi) {
            Ok(RunStatus::UpToDate) => {
                say(
                    &multi,
                    format!(
                        "[{}] up to date for profile {} (use --force to recompute)",
                        e.id(),
                        opts.profile
                    ),
                );
            }
            Ok(RunStatus::Ran {
                seconds,
                conclusion,
            }) => {
                say(
                    &multi,
                    format!("[{}] done in {seconds:.1} s\n  {conclusion}", e.id()),
                );
            }
            Err(err) => {
                say(&multi, format!("[{}] FAILED: {err:#}", e.id()));
                failed.push(e.id());
            }
        }
        overall.inc(1);
    }
    overall.finish_and_clear();
    if !failed.is_empty() {
        bail!(
            "{} experiment(s) failed: {}",
            failed.len(),
            failed.join(", ")
        );
    }
    println!("results in {}", results.display());
    Ok(())
}

/// Prints above the progress bars, or plainly when they are hidden (not a terminal).
fn say(multi: &MultiProgress, line: String) {
    if multi.is_hidden() {
        eprintln!("{line}");
    } else {
        let _ = multi.println(line);
    }
}
