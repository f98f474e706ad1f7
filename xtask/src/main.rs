//! `cargo xtask` — project automation for ftnn.
//!
//! ```text
//! cargo xtask list                                   the registered experiments
//! cargo xtask run ID [--profile P] [--force]         one experiment
//! cargo xtask reproduce-all [--profile P] [--only ID,…] [--force] [--report PATH]
//! cargo xtask figures [--results DIR] [--figures DIR]   redraw figures from stored results
//! cargo xtask report [--results DIR] [--figures DIR] [--output PATH]
//! cargo xtask data verify | import-vgg16 PATH        data checks
//! ```
//!
//! Results go to `results/<id>/` (atomic writes), figures to `figures/<id>/` (SVG + PNG) and
//! the report to `REPORT.md`; figures and report default to `figures/` and `REPORT.md` beside
//! the results directory (`--results DIR` moves all three, `--figures`/`--report`/`--output`
//! override). An experiment whose results exist for the same profile and parameters is
//! skipped unless `--force`; an interrupted one resumes from its stored steps. Exit code 2 for
//! bad usage or input, 1 for failures.

mod data;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use ftnn_experiments::{
    draw_figures, registry, report, run_experiment, Experiment, Paths, Profile, RunStatus,
};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A retaining allocator: the batched GEMM paths allocate and free multi-megabyte buffers, which
/// the system allocator returns to the kernel and page-faults back in on every call.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        /// Where to write the report (default: REPORT.md beside the results directory).
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Redraw every experiment's figures from its stored results (no recomputation).
    Figures {
        #[command(flatten)]
        dirs: Dirs,
    },
    /// Write REPORT.md: the paper's numbers beside ours, verdicts, figures.
    Report {
        #[command(flatten)]
        dirs: Dirs,
        /// Output file (default: REPORT.md beside the results directory).
        #[arg(long)]
        output: Option<PathBuf>,
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
    #[command(flatten)]
    dirs: Dirs,
}

#[derive(clap::Args, Debug)]
struct Dirs {
    /// Results directory (default: results/ in the workspace root).
    #[arg(long)]
    results: Option<PathBuf>,
    /// Figures directory (default: figures/ beside the results directory).
    #[arg(long)]
    figures: Option<PathBuf>,
}

impl Dirs {
    fn paths(&self, root: &Path) -> Paths {
        let results = self.results.clone().unwrap_or_else(|| root.join("results"));
        let mut paths = Paths::beside(results);
        if let Some(f) = &self.figures {
            paths.figures = f.clone();
        }
        paths
    }
}

/// `REPORT.md` beside the results directory.
fn default_report(paths: &Paths) -> PathBuf {
    paths
        .results
        .parent()
        .map(|p| p.join("REPORT.md"))
        .unwrap_or_else(|| PathBuf::from("REPORT.md"))
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
        Command::Figures { dirs } => figures(&dirs.paths(&root)),
        Command::Report { dirs, output } => {
            let paths = dirs.paths(&root);
            let out = output.unwrap_or_else(|| default_report(&paths));
            write_report(&paths, &out)
        }
        Command::Run { id, opts } => match ftnn_experiments::find(&id) {
            Some(e) => run_many(&[e], &opts, &root),
            None => {
                eprintln!("error: unknown experiment `{id}`; `cargo xtask list` shows them");
                return ExitCode::from(2);
            }
        },
        Command::ReproduceAll { opts, only, report } => {
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
            let paths = opts.dirs.paths(&root);
            // The report covers every experiment with stored results, even after a failure.
            let ran = run_many(&chosen, &opts, &root);
            let out = report.unwrap_or_else(|| default_report(&paths));
            let written = write_report(&paths, &out);
            ran.and(written)
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

/// Redraws the figures of every registered experiment that has stored results.
fn figures(paths: &Paths) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    for e in registry() {
        match draw_figures(e.as_ref(), paths) {
            Ok(Some(drawn)) => {
                println!("[{}] {} figure(s):", e.id(), drawn.len());
                for p in drawn {
                    println!("  {}", p.display());
                }
            }
            Ok(None) => println!(
                "[{}] no results in {} — skipped (`cargo xtask run {}`)",
                e.id(),
                paths.results_file(e.id()).display(),
                e.id()
            ),
            Err(err) => {
                eprintln!("[{}] FAILED: {err:#}", e.id());
                failed.push(e.id());
            }
        }
    }
    if !failed.is_empty() {
        bail!("figures of {} failed", failed.join(", "));
    }
    Ok(())
}

/// Writes the report (redrawing figures from stored results) and says where.
fn write_report(paths: &Paths, out: &Path) -> anyhow::Result<()> {
    report::write_report(&paths.results, &paths.figures, out)?;
    println!("report in {}", out.display());
    Ok(())
}

fn run_many(exps: &[Box<dyn Experiment>], opts: &RunOpts, root: &Path) -> anyhow::Result<()> {
    let paths = opts.dirs.paths(root);
    let results = paths.results.clone();
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
        match run_experiment(e.as_ref(), opts.profile, &paths, opts.force, &multi) {
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
                figures,
            }) => {
                say(
                    &multi,
                    format!(
                        "[{}] done in {seconds:.1} s, {} figure(s) in {}\n  {conclusion}",
                        e.id(),
                        figures.len(),
                        paths.figures_dir(e.id()).display()
                    ),
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
    println!(
        "results in {}, figures in {}",
        results.display(),
        paths.figures.display()
    );
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
