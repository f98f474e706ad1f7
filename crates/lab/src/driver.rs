//! Running, merging and redrawing: [`run_experiment`] skips up-to-date results and writes new
//! ones atomically, [`merge_experiment`] assembles sharded runs from their stored jobs, and
//! [`draw_figures`] redraws from stored results.
//!
//! Results are up to date when they hold the same profile and parameters *and* were computed
//! by the code of the working tree ([`crate::provenance`]); stale ones are recomputed unless
//! [`RunOptions::keep_stale`]. The checkpoints of a run record the revision that wrote them
//! (`steps/<key>/.revision.json`): checkpoints of other code are discarded before a run
//! resumes, so a resumed run never mixes the numbers of two revisions.

use crate::context::{Context, Mode, Shard, ShardIncomplete};
use crate::experiment::AnyExperiment;
use crate::profile::Profile;
use crate::provenance::{current_revision, freshness, ftnn_version, Freshness};
use crate::results_file::{utc_string, ResultsFile};
use crate::store::{hash_json, read_json, write_csv, write_json, ExperimentDir};
use anyhow::Context as _;
use indicatif::MultiProgress;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Where results and figures live: `results/<id>/…` and `figures/<id>/…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Root of the results (`results/` by default).
    pub results: PathBuf,
    /// Root of the figures (`figures/` by default).
    pub figures: PathBuf,
}

impl Paths {
    /// Explicit roots.
    pub fn new(results: impl Into<PathBuf>, figures: impl Into<PathBuf>) -> Self {
        Self {
            results: results.into(),
            figures: figures.into(),
        }
    }
    /// `results` with figures in `figures/` beside it (`results/` → `figures/`).
    pub fn beside(results: impl Into<PathBuf>) -> Self {
        let results = results.into();
        let figures = results
            .parent()
            .map(|p| p.join("figures"))
            .unwrap_or_else(|| PathBuf::from("figures"));
        Self { results, figures }
    }
    /// `results/<id>/results.json`.
    pub fn results_file(&self, id: &str) -> PathBuf {
        self.results.join(id).join("results.json")
    }
    /// `figures/<id>/`.
    pub fn figures_dir(&self, id: &str) -> PathBuf {
        self.figures.join(id)
    }
}

/// What [`run_experiment`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum RunStatus {
    /// Results for the same profile and parameters, computed by the current code, existed.
    UpToDate,
    /// Results for the same profile and parameters existed but were computed by other code
    /// (why); kept because of [`RunOptions::keep_stale`].
    KeptStale(String),
    /// The experiment ran (seconds, conclusion).
    Ran {
        /// Wall-clock seconds of this run (resumed steps cost nothing).
        seconds: f64,
        /// The conclusion.
        conclusion: String,
        /// The figures drawn from the new results (PNG paths).
        figures: Vec<PathBuf>,
    },
    /// A sharded run computed its jobs, but jobs of other shards are still missing: nothing
    /// but the jobs was written (no `results.json`, no figures).
    Partial {
        /// Jobs this run computed.
        computed: usize,
        /// Jobs of the experiment's sweeps in all.
        total: usize,
        /// The missing jobs, as `<sweep>/<key>`.
        missing: Vec<String>,
    },
}

/// The hash that identifies results of `exp` under `profile` with its current parameters.
pub fn params_hash(exp: &dyn AnyExperiment, profile: Profile) -> String {
    let identity = serde_json::json!({
        "id": exp.id(),
        "profile": profile,
        "params": exp.params_json(profile),
    });
    hash_json(&identity)
}

/// Redraws the figures of `exp` from its stored results under `paths` into
/// `paths.figures/<id>/`; `Ok(None)` when it has no stored results.
pub fn draw_figures(
    exp: &dyn AnyExperiment,
    paths: &Paths,
) -> anyhow::Result<Option<Vec<PathBuf>>> {
    let file = paths.results_file(exp.id());
    let Some(stored) = ResultsFile::load(&file) else {
        return Ok(None);
    };
    let dir = paths.figures_dir(exp.id());
    // Results that parse but lack what the figures read are an error naming the file.
    let drawn =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exp.figures(&stored, &dir)))
            .unwrap_or_else(|panic| {
                Err(anyhow::anyhow!(
                    "the results do not hold what the figures read: {}",
                    crate::report::panic_message(&*panic)
                ))
            })
            .with_context(|| format!("figures of `{}` from {}", exp.id(), file.display()))?;
    Ok(Some(drawn))
}

/// How [`run_experiment_with`] runs an experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunOptions {
    /// The profile.
    pub profile: Profile,
    /// Recompute even up-to-date results, discarding checkpoints.
    pub force: bool,
    /// Compute only this shard's jobs of each sweep.
    pub shard: Option<Shard>,
    /// Keep results (and checkpoints) computed by other code instead of recomputing them.
    pub keep_stale: bool,
}

/// Runs `exp` under `profile`, storing results under `paths.results/<id>/` and drawing its
/// figures into `paths.figures/<id>/`: [`run_experiment_with`] with stale results recomputed.
pub fn run_experiment(
    exp: &dyn AnyExperiment,
    profile: Profile,
    paths: &Paths,
    force: bool,
    shard: Option<Shard>,
    multi: &MultiProgress,
) -> anyhow::Result<RunStatus> {
    let opts = RunOptions {
        profile,
        force,
        shard,
        keep_stale: false,
    };
    run_experiment_with(exp, &opts, paths, multi)
}

/// Runs `exp` under `opts.profile`, storing results under `paths.results/<id>/` and drawing
/// its figures into `paths.figures/<id>/`. Skips it when results for the same profile and
/// parameters exist and were computed by the current code (or, with `keep_stale`, by any
/// code), unless `force` (which also discards checkpoints); a skipped experiment's figures
/// are drawn when none exist.
///
/// With a `shard`, its sweeps compute only the shard's jobs ([`Context::jobs`]); when jobs of
/// other shards are missing the run ends [`RunStatus::Partial`] and writes no results, and the
/// shard that finds every job stored (on a shared file system) writes them. `force` cannot be
/// combined with a shard: it would discard the other shards' jobs.
pub fn run_experiment_with(
    exp: &dyn AnyExperiment,
    opts: &RunOptions,
    paths: &Paths,
    multi: &MultiProgress,
) -> anyhow::Result<RunStatus> {
    run_experiment_on(exp, opts, &candle_core::Device::Cpu, paths, multi)
}

/// [`run_experiment_with`] with the experiment's tensors on `device` ([`Context::device`]);
/// `run_experiment_with` is this on the host. Results do not record the device: a run on a GPU
/// is the same experiment, equal within float tolerance.
pub fn run_experiment_on(
    exp: &dyn AnyExperiment,
    opts: &RunOptions,
    device: &candle_core::Device,
    paths: &Paths,
    multi: &MultiProgress,
) -> anyhow::Result<RunStatus> {
    let (profile, force, shard) = (opts.profile, opts.force, opts.shard);
    if force && shard.is_some() {
        anyhow::bail!(
            "--force cannot be combined with --shard: it would discard the other shards' jobs; \
             delete {} once before starting the shards instead",
            paths.results.join(exp.id()).join("steps").display()
        );
    }
    let hash = params_hash(exp, profile);
    let dir = ExperimentDir::new(&paths.results, exp.id())?;
    if !force {
        let up_to_date = match stored_state(paths, exp.id(), &hash) {
            StoredState::Current => Some(RunStatus::UpToDate),
            StoredState::Stale(why) if opts.keep_stale => Some(RunStatus::KeptStale(why)),
            StoredState::Stale(_) | StoredState::Missing => None,
        };
        if let Some(status) = up_to_date {
            if !has_png(&paths.figures_dir(exp.id())) {
                draw_figures(exp, paths)?;
            }
            return Ok(status);
        }
    }
    let key = steps_key(profile, &hash);
    if force {
        let _ = std::fs::remove_dir_all(dir.path().join("steps").join(&key));
    }
    let mode = shard.map_or(Mode::All, Mode::Shard);
    execute(
        exp,
        profile,
        paths,
        &dir,
        mode,
        opts.keep_stale,
        device,
        multi,
    )
}

/// Assembles the results of `exp` under `profile` from its stored steps and jobs alone,
/// computing none — the merge of sharded runs whose `results/<id>/steps/` were copied
/// together — then writes `results.json` (replacing results of another profile) and draws the
/// figures, like [`run_experiment`].
///
/// `Ok(None)` when there is nothing to merge: the results are up to date for `profile`, or
/// nothing is stored for it and the current parameters. An error when a step or job is
/// missing; for jobs it carries a [`ShardIncomplete`] naming them and the commands that
/// compute them.
pub fn merge_experiment(
    exp: &dyn AnyExperiment,
    profile: Profile,
    paths: &Paths,
    multi: &MultiProgress,
) -> anyhow::Result<Option<RunStatus>> {
    let hash = params_hash(exp, profile);
    let steps = paths
        .results
        .join(exp.id())
        .join("steps")
        .join(steps_key(profile, &hash));
    let same_params = read_json::<ResultsFile>(&paths.results_file(exp.id()))
        .is_some_and(|old| old.params_hash == hash);
    if same_params || !steps.is_dir() {
        return Ok(None);
    }
    let dir = ExperimentDir::new(&paths.results, exp.id())?;
    // A merge computes nothing: the host is as good as any device.
    let host = candle_core::Device::Cpu;
    execute(
        exp,
        profile,
        paths,
        &dir,
        Mode::MergeOnly,
        true,
        &host,
        multi,
    )
    .map(Some)
}

/// The state of the stored results of one experiment and parameters hash.
enum StoredState {
    /// None, unreadable, or of other parameters.
    Missing,
    /// Of these parameters, computed by other code (why).
    Stale(String),
    /// Of these parameters, computed by the current code.
    Current,
}

/// The state of `results/<id>/results.json` for the parameters hashed to `hash`.
fn stored_state(paths: &Paths, id: &str, hash: &str) -> StoredState {
    match read_json::<ResultsFile>(&paths.results_file(id)) {
        Some(old) if old.params_hash == hash => match old.freshness() {
            Freshness::Current => StoredState::Current,
            Freshness::Stale(why) => StoredState::Stale(why),
        },
        _ => StoredState::Missing,
    }
}

/// The file in a checkpoint directory that records the revision that wrote it.
const REVISION_MARKER: &str = ".revision.json";

/// Prepares the checkpoints in `steps` for a run in `mode` and returns the revision to record
/// in the results: checkpoints written by other code (or by an ftnn that recorded no revision)
/// are discarded unless `keep_stale`; a merge keeps them and records their revision.
fn prepare_steps(steps: &Path, mode: Mode, keep_stale: bool) -> anyhow::Result<String> {
    let marker = steps.join(REVISION_MARKER);
    let written: Option<String> = read_json(&marker);
    if mode == Mode::MergeOnly {
        return Ok(written.unwrap_or_else(|| current_revision().to_string()));
    }
    let has_checkpoints = std::fs::read_dir(steps)
        .map(|rd| rd.flatten().any(|e| e.file_name() != REVISION_MARKER))
        .unwrap_or(false);
    let foreign = has_checkpoints && freshness(written.as_deref()).is_stale();
    if foreign && !keep_stale {
        std::fs::remove_dir_all(steps)
            .with_context(|| format!("cannot discard stale checkpoints {}", steps.display()))?;
        crate::store::create_dir_all(steps)?;
    }
    if written.is_none() || (foreign && !keep_stale) {
        write_json(&marker, current_revision())?;
    }
    Ok(current_revision().to_string())
}

/// The name of the checkpoint directory of `profile` and a parameters hash.
fn steps_key(profile: Profile, hash: &str) -> String {
    format!("{}-{}", profile, &hash[..12])
}

/// Runs `exp` in `mode` with its checkpoints in `dir` (stale ones discarded unless
/// `keep_stale`), then writes its results and figures.
#[allow(clippy::too_many_arguments)] // the run's settings, each used once
fn execute(
    exp: &dyn AnyExperiment,
    profile: Profile,
    paths: &Paths,
    dir: &ExperimentDir,
    mode: Mode,
    keep_stale: bool,
    device: &candle_core::Device,
    multi: &MultiProgress,
) -> anyhow::Result<RunStatus> {
    let params = exp.params_json(profile);
    let hash = params_hash(exp, profile);
    let steps = dir.steps_dir(&steps_key(profile, &hash))?;
    let revision = prepare_steps(&steps, mode, keep_stale)?;
    let ctx = Context {
        id: exp.id(),
        profile,
        steps,
        dir: dir.clone(),
        multi: multi.clone(),
        mode,
        incomplete: Mutex::new(Vec::new()),
        device: device.clone(),
    };
    let start = Instant::now();
    let outcome = match exp.run_json(&ctx) {
        Ok(outcome) => outcome,
        Err(err) if err.downcast_ref::<ShardIncomplete>().is_some() => {
            let parts = ctx
                .incomplete
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner);
            let all = ShardIncomplete::combine(parts);
            return match mode {
                Mode::Shard(_) => Ok(RunStatus::Partial {
                    computed: all.computed,
                    total: all.total,
                    missing: all.missing,
                }),
                Mode::All | Mode::MergeOnly => Err(anyhow::Error::new(all)
                    .context(format!("cannot assemble `{}` from stored jobs", exp.id()))),
            };
        }
        Err(err) => return Err(err.context(format!("experiment `{}` failed", exp.id()))),
    };
    let seconds = start.elapsed().as_secs_f64();
    for t in &outcome.tables {
        write_csv(&dir.file(&t.name), &t.header, &t.rows)?;
    }
    let file = ResultsFile {
        id: exp.id().to_string(),
        title: exp.title().to_string(),
        origin: exp.origin().to_string(),
        profile,
        params,
        params_hash: hash,
        ftnn_version: ftnn_version().to_string(),
        revision: Some(revision),
        seconds,
        conclusion: outcome.conclusion.clone(),
        finished: Some(utc_string(std::time::SystemTime::now())),
        results: outcome.results,
    };
    // `results.json` is the commit point: written after the figures, so that a run killed
    // while drawing them is not taken for up to date with figures missing; a figure error
    // still leaves the results stored.
    crate::store::pause_point(|| format!("figures:{}", exp.id()));
    let figures = exp
        .figures(&file, &paths.figures_dir(exp.id()))
        .with_context(|| format!("figures of `{}`", exp.id()));
    write_json(&paths.results_file(exp.id()), &file)?;
    let figures = figures?;
    Ok(RunStatus::Ran {
        seconds,
        conclusion: outcome.conclusion,
        figures,
    })
}

/// Whether `dir` holds a PNG (not counting the hidden temporary file of one being drawn).
fn has_png(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten().any(|e| {
                let name = e.file_name();
                !name.to_string_lossy().starts_with('.')
                    && e.path().extension().is_some_and(|x| x == "png")
            })
        })
        .unwrap_or(false)
}
