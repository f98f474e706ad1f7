//! `cargo xtask` — project automation for ftnn.
//!
//! ```text
//! cargo xtask list                                 the registered experiments
//! cargo xtask run ID [--profile P] [--force | --shard i/k] [--keep-stale] [--publish]
//! cargo xtask reproduce-all [--profile P] [--only ID,…] [--force | --shard i/k] [--keep-stale]
//!                           [--publish] [--report PATH]
//! cargo xtask figures [--profile P] [--publish] [--results DIR] [--figures DIR]
//! cargo xtask report [--profile P] [--publish] [--results DIR] [--figures DIR] [--output PATH]
//! cargo xtask data verify | import-vgg16 PATH      data checks
//! cargo xtask bench-peers [--quick] [--only …] [--python PATH]   ftnn vs PyTorch (peers.rs)
//! cargo xtask ci [--skip STEP,…]                   the CI gate that .ci/run runs (ci.rs)
//! cargo xtask fuzz [--cases N]                     fuzz every parser, N cases each (fuzz.rs)
//! ```
//!
//! The committed `results/`, `figures/` and `REPORT.md` at the workspace root are the
//! *published snapshot*; the paper profile's results have their own store beside them,
//! `results/paper/`, `figures/paper/` and `REPORT-paper.md`, and `REPORT.md` shows their
//! verdicts in a *Paper profile* section (paper.rs). Every command works by default on the *working tree* `out/`
//! (`out/results/<id>/`, `out/figures/<id>/`, `out/REPORT.md`; git ignores it); `--publish`
//! targets the snapshot instead, which is how developers refresh it. `--results DIR` moves all
//! three (figures and report beside it), `--figures`/`--report`/`--output` override. Writes
//! are atomic.
//!
//! An experiment whose results exist for the same profile and parameters and were computed
//! by the code of the working tree is skipped unless `--force`; results of other code are
//! *stale* (`ftnn_lab::provenance`) and recomputed unless `--keep-stale`; an interrupted run
//! resumes from its stored steps. `run` and `reproduce-all` show the running experiment, its
//! steps and the time left for the whole profile (reproduce.rs), and end by comparing the new
//! numbers with the snapshot's. Exit code 2 for bad usage or input, 1 for failures.
//!
//! `--shard i/k` computes only the jobs `i`, `i + k`, … of each sweep (the experiments'
//! `Context::jobs`); an experiment whose other jobs are missing stops there without results
//! (exit code 0), and a sharded `reproduce-all` writes no report. After copying every shard's
//! `results/<id>/steps/` together, `figures` and `report` with `--profile P` assemble the
//! results of profile P from the stored jobs, computing nothing, for every experiment whose P
//! results are missing or stale (without `--profile`: quick, and results of another profile
//! are kept).

mod ci;
mod data;
mod fuzz;
mod gpu_check;
mod paper;
mod peers;
mod reproduce;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use ftnn_experiments::registry;
use ftnn_lab::{
    abbreviate, draw_figures, merge_experiment, run_experiment_on, AnyExperiment, Paths, Profile,
    ResultsFile, RunOptions, RunStatus, Shard,
};
use ftnn_model::runtime::DeviceSpec;
use indicatif::MultiProgress;
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
    /// Run every experiment (or those named by --only) into the working tree out/ (the
    /// snapshot with --publish), skipping up-to-date results, and compare with the snapshot.
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
        merge: MergeOpts,
        #[command(flatten)]
        dirs: Dirs,
    },
    /// Write REPORT.md: the paper's numbers beside ours, verdicts, figures.
    Report {
        #[command(flatten)]
        merge: MergeOpts,
        #[command(flatten)]
        dirs: Dirs,
        /// Output file (default: REPORT.md beside the results directory).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Data checks.
    #[command(subcommand)]
    Data(data::DataCmd),
    /// ftnn's criterion benches beside a PyTorch/NumPy baseline (benches/peers; not in CI).
    BenchPeers(peers::PeersArgs),
    /// The CI gate, exactly what `.ci/run` runs: fmt, clippy, tests, examples, benches
    /// compile, data verify, smoke reproduction.
    Ci {
        /// Steps to leave out (fmt, clippy, test, examples, benches, data, smoke).
        #[arg(long, value_delimiter = ',')]
        skip: Vec<String>,
    },
    /// Property-based fuzzing of every parser of untrusted bytes, in release, with a table of
    /// parsers, cases and failures (minutes; not in CI, whose tests run a few thousand cases).
    Fuzz {
        /// Cases per property.
        #[arg(long, default_value_t = 100_000)]
        cases: u32,
    },
    /// Builds with `--features cuda` and compares the analyses and a training epoch on the CPU
    /// and the GPU, with the speed of each (not in CI; `--cpu-only` runs the CPU half).
    GpuCheck(gpu_check::GpuCheckArgs),
}

#[derive(clap::Args, Debug)]
struct RunOpts {
    /// smoke (seconds, CI), quick (minutes, default) or paper (the paper's parameters).
    #[arg(long, default_value = "quick", value_parser = |s: &str| s.parse::<Profile>())]
    profile: Profile,
    /// Recompute even when results for this profile and these parameters exist.
    #[arg(long)]
    force: bool,
    /// Compute only the jobs i, i+k, i+2k, … of each sweep (0-based i < k); merge the shards'
    /// results/<id>/steps/ afterwards with `cargo xtask report --profile P`.
    #[arg(long, conflicts_with = "force", value_parser = |s: &str| s.parse::<Shard>())]
    shard: Option<Shard>,
    /// Keep results computed by other code (stale) instead of recomputing them.
    #[arg(long)]
    keep_stale: bool,
    /// Device of the experiments' tensors: cpu, cuda or cuda:N (xtask built with
    /// `--features cuda`: `cargo run --release -p xtask --features cuda -- run ID --device
    /// cuda`). Experiments keep their CPU fast paths; crash masks are drawn on the host.
    #[arg(long, default_value = "cpu", value_parser = |s: &str| s.parse::<DeviceSpec>())]
    device: DeviceSpec,
    #[command(flatten)]
    dirs: Dirs,
}

#[derive(clap::Args, Debug)]
struct MergeOpts {
    /// Assemble results of this profile from stored steps (the merged steps/ of sharded runs)
    /// where they are missing or stale [default: quick, keeping results of other profiles].
    #[arg(long, value_parser = |s: &str| s.parse::<Profile>())]
    profile: Option<Profile>,
}

#[derive(clap::Args, Debug)]
struct Dirs {
    /// Work on the published snapshot (results/, figures/, REPORT.md in the workspace root)
    /// instead of the working tree out/.
    #[arg(long)]
    publish: bool,
    /// Results directory (default: out/results/, or results/ with --publish; the paper
    /// profile's store results/paper/ beside it).
    #[arg(long)]
    results: Option<PathBuf>,
    /// Figures directory (default: figures/ beside the results directory; figures/paper/ for
    /// the paper profile's store).
    #[arg(long)]
    figures: Option<PathBuf>,
}

impl Dirs {
    /// The workspace root with `--publish`, else the working tree `out/`.
    fn base(&self, root: &Path) -> PathBuf {
        if self.publish {
            root.to_path_buf()
        } else {
            reproduce::working_tree(root)
        }
    }
    /// The store of `profile`: `--results`/`--figures` when given, else the paper store
    /// (`results/paper/`, `figures/paper/`, paper.rs) for the paper profile and the main
    /// store (`results/`, `figures/`) otherwise, under [`Dirs::base`].
    fn paths(&self, root: &Path, profile: Option<Profile>) -> Paths {
        let base = self.base(root);
        let mut paths = match (&self.results, profile) {
            (Some(r), _) => Paths::beside(r.clone()),
            (None, Some(Profile::Paper)) => paper::store(&base),
            (None, _) => Paths::beside(base.join("results")),
        };
        if let Some(f) = &self.figures {
            paths.figures = f.clone();
        }
        paths
    }
    /// The base of the two-store layout (main and paper stores, `REPORT.md` and
    /// `REPORT-paper.md`), or `None` when `--results` or `--figures` names one store.
    fn layout(&self, root: &Path) -> Option<PathBuf> {
        (self.results.is_none() && self.figures.is_none()).then(|| self.base(root))
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
    ftnn_model::runtime::configure_candle_threads();
    let cli = Cli::parse();
    let root = workspace_root();
    let result = match cli.command {
        Command::List => {
            list();
            Ok(())
        }
        Command::Figures { merge, dirs } => {
            let paths = dirs.paths(&root, merge.profile);
            let merged = merge_stored(&paths, merge.profile);
            let drawn = figures(&paths);
            // The other store of the two-store layout is redrawn too.
            let other = match (dirs.layout(&root), merge.profile) {
                (Some(base), Some(Profile::Paper)) => Some(Paths::beside(base.join("results"))),
                (Some(base), _) if paper::store(&base).results.is_dir() => {
                    Some(paper::store(&base))
                }
                _ => None,
            };
            let drawn_other = other.map_or(Ok(()), |p| figures(&p));
            merged.and(drawn).and(drawn_other)
        }
        Command::Report {
            merge,
            dirs,
            output,
        } => {
            let paths = dirs.paths(&root, merge.profile);
            // The report covers what is stored even when a merge fails.
            let merged = merge_stored(&paths, merge.profile);
            let written = write_reports(&dirs, &root, &paths, output);
            merged.and(written)
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
            let chosen: Vec<Box<dyn AnyExperiment>> = all
                .into_iter()
                .filter(|e| only.is_empty() || only.iter().any(|id| id == e.id()))
                .collect();
            let paths = opts.dirs.paths(&root, Some(opts.profile));
            // The report covers every experiment with stored results, even after a failure;
            // a shard leaves it to the merge.
            let ran = run_many(&chosen, &opts, &root);
            if opts.shard.is_some() {
                return exit_code(ran);
            }
            let written = write_reports(&opts.dirs, &root, &paths, report);
            ran.and(written)
        }
        Command::BenchPeers(args) => peers::run(args, &root),
        Command::Ci { skip } => ci::run(&skip, &root),
        Command::Fuzz { cases } => fuzz::run(cases, &root),
        Command::GpuCheck(args) => gpu_check::run(args, &root),
        Command::Data(cmd) => match data::run(cmd, &root) {
            Ok(()) => Ok(()),
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        },
    };
    exit_code(result)
}

/// 0, or 1 after printing the error.
fn exit_code(result: anyhow::Result<()>) -> ExitCode {
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

/// Assembles, from stored steps alone, the results of `profile` (default quick) of every
/// experiment whose results for it are missing or stale and whose steps for it are stored —
/// the merge of sharded runs. Without an explicit profile, results of another profile are
/// kept. Fails, after trying every experiment, when one cannot be assembled.
fn merge_stored(paths: &Paths, profile: Option<Profile>) -> anyhow::Result<()> {
    let p = profile.unwrap_or_default();
    let multi = MultiProgress::new();
    let mut failed = Vec::new();
    for e in registry() {
        if profile.is_none() {
            let stored = ResultsFile::load(&paths.results_file(e.id()));
            if stored.is_some_and(|r| r.profile != p) {
                continue;
            }
        }
        match merge_experiment(e.as_ref(), p, paths, &multi) {
            Ok(None) => {}
            Ok(Some(RunStatus::Ran {
                conclusion,
                figures,
                ..
            })) => say(
                &multi,
                format!(
                    "[{}] assembled {p} results from stored steps, {} figure(s) in {}\n  \
                     {conclusion}",
                    e.id(),
                    figures.len(),
                    paths.figures_dir(e.id()).display()
                ),
            ),
            Ok(Some(status)) => say(
                &multi,
                format!("[{}] {}", e.id(), summary(&status, p, paths, e.id())),
            ),
            Err(err) => {
                say(
                    &multi,
                    format!("[{}] cannot assemble {p} results: {err:#}", e.id()),
                );
                failed.push(e.id());
            }
        }
    }
    if !failed.is_empty() {
        bail!("{} could not be assembled", failed.join(", "));
    }
    Ok(())
}

/// What a run or a merge did, for the line after `[id] `.
fn summary(status: &RunStatus, profile: Profile, paths: &Paths, id: &str) -> String {
    match status {
        RunStatus::UpToDate => {
            format!(
                "up to date for profile {profile} in {} (use --force to recompute)",
                paths.results_file(id).display()
            )
        }
        RunStatus::KeptStale(why) => format!(
            "kept stale results for profile {profile} ({why}); recompute without --keep-stale"
        ),
        RunStatus::Ran {
            seconds,
            conclusion,
            figures,
        } => format!(
            "done in {seconds:.1} s, {} figure(s) in {}\n  {conclusion}",
            figures.len(),
            paths.figures_dir(id).display()
        ),
        RunStatus::Partial {
            computed,
            total,
            missing,
        } => format!(
            "computed {computed} job(s), {} of {total} stored; missing {}; merge with \
             `cargo xtask report --profile {profile}` once all shards ran",
            total - missing.len(),
            abbreviate(missing, 4)
        ),
    }
}

/// Writes the report of the store `paths` (redrawing figures from stored results) and says
/// where.
fn write_report(paths: &Paths, out: &Path) -> anyhow::Result<()> {
    let exps = registry();
    let refs: Vec<&dyn AnyExperiment> = exps.iter().map(|e| e.as_ref()).collect();
    ftnn_lab::write_catalogue_report(&refs, &ftnn_experiments::CATALOGUE, paths, out)?;
    println!("report in {}", out.display());
    Ok(())
}

/// The reports after a run or a merge. With `--report`/`--output`, or with `--results` or
/// `--figures` naming one store, the report of `paths` alone (at `out`, default `REPORT.md`
/// beside the results directory). Otherwise the two-store layout: `REPORT.md` of the main
/// store with the *Paper profile* section, and `REPORT-paper.md` of the paper store when it
/// holds results (paper.rs).
fn write_reports(
    dirs: &Dirs,
    root: &Path,
    paths: &Paths,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let base = match (dirs.layout(root), out) {
        (Some(base), None) => base,
        (_, out) => {
            let out = out.unwrap_or_else(|| default_report(paths));
            return write_report(paths, &out);
        }
    };
    let main = Paths::beside(base.join("results"));
    let store = paper::store(&base);
    let main_report = base.join("REPORT.md");
    let written = write_report(&main, &main_report);
    let exps = registry();
    let refs: Vec<&dyn AnyExperiment> = exps.iter().map(|e| e.as_ref()).collect();
    if !paper::has_results(&refs, &store) {
        return written;
    }
    let paper_report = paper::report_path(&base);
    let paper_written = write_report(&store, &paper_report);
    let name = paper_report
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let inserted = (|| -> anyhow::Result<()> {
        let Some(section) = paper::section(&refs, &main, &store, &name) else {
            return Ok(());
        };
        let text = std::fs::read_to_string(&main_report)
            .with_context(|| format!("cannot read {}", main_report.display()))?;
        let text = paper::insert_after_summary(&text, &section);
        ftnn_lab::store::write_atomic(&main_report, text.as_bytes())?;
        Ok(())
    })();
    written.and(paper_written).and(inserted)
}

fn run_many(exps: &[Box<dyn AnyExperiment>], opts: &RunOpts, root: &Path) -> anyhow::Result<()> {
    let paths = opts.dirs.paths(root, Some(opts.profile));
    let results = paths.results.clone();
    std::fs::create_dir_all(&results)
        .with_context(|| format!("cannot create {}", results.display()))?;
    let ids: Vec<&str> = exps.iter().map(|e| e.id()).collect();
    // Read before the run: with --publish the run replaces them.
    let snapshot = reproduce::Stored::load(&reproduce::snapshot_results(root, opts.profile), &ids);
    let target = reproduce::Stored::load(&results, &ids);
    let expected = reproduce::expected(&ids, opts.profile, &snapshot, &target);
    let device = opts.device.open()?;
    let multi = MultiProgress::new();
    let overall = reproduce::Overall::new(&multi, &ids, expected, opts.profile);
    let run_opts = RunOptions {
        profile: opts.profile,
        force: opts.force,
        shard: opts.shard,
        keep_stale: opts.keep_stale,
    };
    let mut failed = Vec::new();
    for (i, e) in exps.iter().enumerate() {
        say(&multi, overall.start(i));
        let status = run_experiment_on(e.as_ref(), &run_opts, &device, &paths, &multi);
        overall.finish_one();
        match status {
            Ok(status) => {
                let shard = opts
                    .shard
                    .map(|s| format!("shard {s}: "))
                    .unwrap_or_default();
                say(
                    &multi,
                    format!(
                        "[{}] {shard}{}",
                        e.id(),
                        summary(&status, opts.profile, &paths, e.id())
                    ),
                );
            }
            Err(err) => {
                say(&multi, format!("[{}] FAILED: {err:#}", e.id()));
                failed.push(e.id());
            }
        }
    }
    overall.finish();
    if opts.shard.is_none() {
        println!(
            "comparison with the published snapshot ({}):",
            snapshot.dir.display()
        );
        for line in reproduce::comparison(&ids, &snapshot, &paths) {
            println!("  {}", line.replace("\n", "\n  "));
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn paths_of(args: &[&str]) -> (Paths, Option<PathBuf>) {
        let cli = Cli::try_parse_from(args).unwrap();
        match cli.command {
            Command::ReproduceAll { opts, report, .. } => {
                (opts.dirs.paths(Path::new("/w"), Some(opts.profile)), report)
            }
            Command::Report {
                dirs,
                output,
                merge,
            } => (dirs.paths(Path::new("/w"), merge.profile), output),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// A plain `reproduce-all` computes into the working tree, never into the snapshot.
    #[test]
    fn reproduce_all_defaults_to_the_working_tree_not_the_snapshot() {
        let (paths, report) = paths_of(&["cargo xtask", "reproduce-all"]);
        assert_eq!(paths.results, Path::new("/w/out/results"));
        assert_eq!(paths.figures, Path::new("/w/out/figures"));
        assert_eq!(default_report(&paths), Path::new("/w/out/REPORT.md"));
        assert!(report.is_none());
        assert_ne!(
            paths.results,
            reproduce::snapshot_results(Path::new("/w"), Profile::Quick)
        );
        let (paths, _) = paths_of(&["cargo xtask", "report"]);
        assert_eq!(paths.results, Path::new("/w/out/results"));
    }

    #[test]
    fn publish_targets_the_snapshot_and_explicit_dirs_win() {
        let (paths, _) = paths_of(&["cargo xtask", "reproduce-all", "--publish"]);
        assert_eq!(
            paths.results,
            reproduce::snapshot_results(Path::new("/w"), Profile::Quick)
        );
        assert_eq!(paths.figures, Path::new("/w/figures"));
        assert_eq!(default_report(&paths), Path::new("/w/REPORT.md"));
        // What CI passes.
        let (paths, report) = paths_of(&[
            "cargo xtask",
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
        ]);
        assert_eq!(paths.results, Path::new("target/ci-results"));
        assert_eq!(paths.figures, Path::new("target/ci-figures"));
        assert_eq!(report.as_deref(), Some(Path::new("target/ci-REPORT.md")));
    }

    /// The paper profile has its own store beside the main one, in the snapshot and in the
    /// working tree; `--results` still names one store whatever the profile.
    #[test]
    fn the_paper_profile_computes_into_its_own_store() {
        let (paths, _) = paths_of(&["cargo xtask", "reproduce-all", "--profile", "paper"]);
        assert_eq!(paths.results, Path::new("/w/out/results/paper"));
        assert_eq!(paths.figures, Path::new("/w/out/figures/paper"));
        let (paths, _) = paths_of(&[
            "cargo xtask",
            "reproduce-all",
            "--profile",
            "paper",
            "--publish",
        ]);
        assert_eq!(paths.results, Path::new("/w/results/paper"));
        assert_eq!(paths.figures, Path::new("/w/figures/paper"));
        assert_eq!(
            reproduce::snapshot_results(Path::new("/w"), Profile::Paper),
            Path::new("/w/results/paper")
        );
        let (paths, _) = paths_of(&["cargo xtask", "report", "--profile", "paper", "--publish"]);
        assert_eq!(paths.results, Path::new("/w/results/paper"));
        let (paths, _) = paths_of(&[
            "cargo xtask",
            "reproduce-all",
            "--profile",
            "paper",
            "--results",
            "x/results",
        ]);
        assert_eq!(paths.results, Path::new("x/results"));
        assert_eq!(paths.figures, Path::new("x/figures"));
        // The quick profile keeps the main store.
        let (paths, _) = paths_of(&["cargo xtask", "reproduce-all", "--publish"]);
        assert_eq!(paths.results, Path::new("/w/results"));
    }
}
