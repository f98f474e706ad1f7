//! Running, merging and redrawing: [`run_experiment`] skips up-to-date results and writes new
//! ones atomically, [`merge_experiment`] assembles sharded runs from their stored jobs, and
//! [`draw_figures`] redraws from stored results.

use crate::context::{Context, Mode, Shard, ShardIncomplete};
use crate::experiment::AnyExperiment;
use crate::profile::Profile;
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
    /// Results for the same profile and parameters existed.
    UpToDate,
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

/// Runs `exp` under `profile`, storing results under `paths.results/<id>/` and drawing its
/// figures into `paths.figures/<id>/`. Skips it when results for the same profile and
/// parameters exist, unless `force` (which also discards checkpoints); a skipped experiment's
/// figures are drawn when none exist.
///
/// With a `shard`, its sweeps compute only the shard's jobs ([`Context::jobs`]); when jobs of
/// other shards are missing the run ends [`RunStatus::Partial`] and writes no results, and the
/// shard that finds every job stored (on a shared file system) writes them. `force` cannot be
/// combined with a shard: it would discard the other shards' jobs.
pub fn run_experiment(
    exp: &dyn AnyExperiment,
    profile: Profile,
    paths: &Paths,
    force: bool,
    shard: Option<Shard>,
    multi: &MultiProgress,
) -> anyhow::Result<RunStatus> {
    if force && shard.is_some() {
        anyhow::bail!(
            "--force cannot be combined with --shard: it would discard the other shards' jobs; \
             delete {} once before starting the shards instead",
            paths.results.join(exp.id()).join("steps").display()
        );
    }
    let hash = params_hash(exp, profile);
    let dir = ExperimentDir::new(&paths.results, exp.id())?;
    if !force && is_up_to_date(paths, exp.id(), &hash) {
        if !has_png(&paths.figures_dir(exp.id())) {
            draw_figures(exp, paths)?;
        }
        return Ok(RunStatus::UpToDate);
    }
    let key = steps_key(profile, &hash);
    if force {
        let _ = std::fs::remove_dir_all(dir.path().join("steps").join(&key));
    }
    let mode = shard.map_or(Mode::All, Mode::Shard);
    execute(exp, profile, paths, &dir, mode, multi)
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
    if is_up_to_date(paths, exp.id(), &hash) || !steps.is_dir() {
        return Ok(None);
    }
    let dir = ExperimentDir::new(&paths.results, exp.id())?;
    execute(exp, profile, paths, &dir, Mode::MergeOnly, multi).map(Some)
}

/// Whether `results/<id>/results.json` holds results of the parameters hashed to `hash`.
fn is_up_to_date(paths: &Paths, id: &str, hash: &str) -> bool {
    read_json::<ResultsFile>(&paths.results_file(id)).is_some_and(|old| old.params_hash == hash)
}

/// The name of the checkpoint directory of `profile` and a parameters hash.
fn steps_key(profile: Profile, hash: &str) -> String {
    format!("{}-{}", profile, &hash[..12])
}

/// Runs `exp` in `mode` with its checkpoints in `dir`, then writes its results and figures.
fn execute(
    exp: &dyn AnyExperiment,
    profile: Profile,
    paths: &Paths,
    dir: &ExperimentDir,
    mode: Mode,
    multi: &MultiProgress,
) -> anyhow::Result<RunStatus> {
    let params = exp.params_json(profile);
    let hash = params_hash(exp, profile);
    let ctx = Context {
        id: exp.id(),
        profile,
        steps: dir.steps_dir(&steps_key(profile, &hash))?,
        dir: dir.clone(),
        multi: multi.clone(),
        mode,
        incomplete: Mutex::new(Vec::new()),
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
        ftnn_version: env!("CARGO_PKG_VERSION").to_string(),
        seconds,
        conclusion: outcome.conclusion.clone(),
        finished: Some(utc_string(std::time::SystemTime::now())),
        results: outcome.results,
    };
    write_json(&paths.results_file(exp.id()), &file)?;
    let figures = exp
        .figures(&file, &paths.figures_dir(exp.id()))
        .with_context(|| format!("figures of `{}`", exp.id()))?;
    Ok(RunStatus::Ran {
        seconds,
        conclusion: outcome.conclusion,
        figures,
    })
}

/// Whether `dir` holds a PNG.
fn has_png(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "png"))
        })
        .unwrap_or(false)
}
