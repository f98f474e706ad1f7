//! The experiment trait, the per-run [`Context`] with resumable steps, sweeps of independent
//! jobs and progress bars, and [`run_experiment`], which skips up-to-date results and writes new
//! ones atomically.
//!
//! A sweep ([`Context::jobs`]) stores every job on its own, so it resumes job by job, and a
//! [`Shard`] `i/k` computes only the jobs whose index is `i` modulo `k`: the shards of a sweep
//! can run on several machines (a Slurm array, GNU parallel). A shard that leaves jobs of its
//! sweep missing ends [`RunStatus::Partial`] without writing `results.json`; once the shards'
//! `results/<id>/steps/` are copied together, [`merge_experiment`] assembles the results from
//! the stored jobs alone.

use crate::profile::Profile;
use crate::report::ReportSection;
use crate::store::{hash_json, read_json, write_csv, write_json, ExperimentDir};
use anyhow::Context as _;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// A table written next to `results.json` as CSV.
#[derive(Debug, Clone)]
pub struct Csv {
    /// File name, e.g. `widths.csv`.
    pub name: String,
    /// Column names.
    pub header: Vec<&'static str>,
    /// Rows of formatted values.
    pub rows: Vec<Vec<String>>,
}

/// What an experiment returns.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Everything needed to redraw its figures and write its report section.
    pub results: serde_json::Value,
    /// The conclusion in a few sentences, with the key numbers.
    pub conclusion: String,
    /// Tabular results.
    pub tables: Vec<Csv>,
}

/// One experiment of SPEC §10.
pub trait Experiment: Send + Sync {
    /// Identifier, e.g. `ntk`.
    fn id(&self) -> &'static str;
    /// One-line description.
    fn title(&self) -> &'static str;
    /// The original notebook it reproduces.
    fn origin(&self) -> &'static str;
    /// Parameters of a profile (also the identity of its results).
    fn params(&self, profile: Profile) -> serde_json::Value;
    /// Runs it; independent pieces of work should go through [`Context::step`], sweeps of
    /// independent jobs (widths × repetitions) through [`Context::jobs`].
    fn run(&self, ctx: &Context) -> anyhow::Result<Outcome>;
    /// Draws its figures from stored results (no recomputation) into `dir`
    /// (`figures/<id>/`) with the helpers of [`crate::plot`]; returns the PNG paths, in the
    /// order the report shows them.
    fn figures(&self, stored: &ResultsFile, dir: &Path) -> anyhow::Result<Vec<PathBuf>>;
    /// Its section of `REPORT.md`: the paper's numbers (SPEC §10) beside ours, and the verdict.
    fn report(&self, stored: &ResultsFile) -> ReportSection;
}

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

/// One part `index/count` of every sweep: the jobs whose index is `index` modulo `count`
/// (0-based, `index < count`). Parsed from `i/k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl Shard {
    /// Shard `index` of `count`; an error unless `index < count`.
    pub fn new(index: usize, count: usize) -> Result<Self, String> {
        if count == 0 {
            return Err(format!(
                "shard {index}/{count}: the number of shards k must be at least 1"
            ));
        }
        if index >= count {
            return Err(format!(
                "shard {index}/{count}: the index i is 0-based and must be below k \
                 (0/{count} … {}/{count})",
                count - 1
            ));
        }
        Ok(Self { index, count })
    }
    /// The 0-based index `i`.
    pub fn index(self) -> usize {
        self.index
    }
    /// The number of shards `k`.
    pub fn count(self) -> usize {
        self.count
    }
    /// Whether job `job` of a sweep belongs to this shard.
    pub fn contains(self, job: usize) -> bool {
        job % self.count == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, k) = s
            .split_once('/')
            .ok_or_else(|| format!("shard `{s}` is not of the form i/k (e.g. 0/4)"))?;
        let number = |part: &str| {
            part.trim().parse::<usize>().map_err(|_| {
                format!("shard `{s}`: `{part}` is not a non-negative integer (form i/k, e.g. 0/4)")
            })
        };
        Self::new(number(i)?, number(k)?)
    }
}

/// Jobs of a sweep are missing after a pass that does not compute them all: a shard, which
/// computes only its own ([`RunStatus::Partial`] then), or a merge ([`merge_experiment`]),
/// which computes none. Reaches the caller through `anyhow` (downcast it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardIncomplete {
    /// Jobs this pass computed.
    pub computed: usize,
    /// Jobs of the sweeps in all.
    pub total: usize,
    /// The missing jobs, as `<sweep>/<key>`.
    pub missing: Vec<String>,
    /// `cargo xtask` commands that compute them: the shards holding them when the sweep was
    /// sharded, else an unsharded run.
    pub commands: Vec<String>,
}

impl fmt::Display for ShardIncomplete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let commands: Vec<String> = self.commands.iter().map(|c| format!("`{c}`")).collect();
        write!(
            f,
            "{} of {} jobs stored, {} missing: {}; compute them with {}",
            self.total - self.missing.len(),
            self.total,
            self.missing.len(),
            abbreviate(&self.missing, 8),
            commands.join(", ")
        )
    }
}

impl std::error::Error for ShardIncomplete {}

impl ShardIncomplete {
    /// The incomplete sweeps of one run as one.
    fn combine(parts: Vec<Self>) -> Self {
        let mut all = Self {
            computed: 0,
            total: 0,
            missing: Vec::new(),
            commands: Vec::new(),
        };
        for p in parts {
            all.computed += p.computed;
            all.total += p.total;
            all.missing.extend(p.missing);
            for c in p.commands {
                if !all.commands.contains(&c) {
                    all.commands.push(c);
                }
            }
        }
        all
    }
}

/// The first `n` items joined by `, `, then how many more.
pub fn abbreviate(items: &[String], n: usize) -> String {
    let shown = items[..items.len().min(n)].join(", ");
    match items.len().saturating_sub(n) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// The stored form of `results/<id>/results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultsFile {
    /// Experiment id.
    pub id: String,
    /// Description.
    pub title: String,
    /// Original notebook.
    pub origin: String,
    /// Profile of the run.
    pub profile: Profile,
    /// Parameters of the run.
    pub params: serde_json::Value,
    /// Hash of id, profile and parameters.
    pub params_hash: String,
    /// ftnn version that produced it.
    pub ftnn_version: String,
    /// Wall-clock seconds of the last run.
    pub seconds: f64,
    /// Conclusion.
    pub conclusion: String,
    /// When the run finished (`YYYY-MM-DD HH:MM UTC`; absent in files of older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// The results.
    pub results: serde_json::Value,
}

impl ResultsFile {
    /// Reads `path`; `None` if it does not exist or does not parse.
    pub fn load(path: &Path) -> Option<Self> {
        read_json(path)
    }
    /// When the run finished: the stored time, else the file's modification time.
    pub fn finished_or_mtime(&self, path: &Path) -> Option<String> {
        self.finished.clone().or_else(|| {
            let t = std::fs::metadata(path).ok()?.modified().ok()?;
            Some(utc_string(t))
        })
    }
}

/// `YYYY-MM-DD HH:MM UTC` of a system time.
pub fn utc_string(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// The hash that identifies results of `exp` under `profile` with its current parameters.
pub fn params_hash(exp: &dyn Experiment, profile: Profile) -> String {
    let identity =
        serde_json::json!({ "id": exp.id(), "profile": profile, "params": exp.params(profile) });
    hash_json(&identity)
}

/// Redraws the figures of `exp` from its stored results under `paths` into
/// `paths.figures/<id>/`; `Ok(None)` when it has no stored results.
pub fn draw_figures(exp: &dyn Experiment, paths: &Paths) -> anyhow::Result<Option<Vec<PathBuf>>> {
    let file = paths.results_file(exp.id());
    let Some(stored) = ResultsFile::load(&file) else {
        return Ok(None);
    };
    let dir = paths.figures_dir(exp.id());
    let drawn = exp
        .figures(&stored, &dir)
        .with_context(|| format!("figures of `{}` from {}", exp.id(), file.display()))?;
    Ok(Some(drawn))
}

/// Which stored pieces a run computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Every missing step and job.
    All,
    /// Every missing step, and the missing jobs of this shard.
    Shard(Shard),
    /// Nothing: steps and jobs are read, missing ones are errors.
    MergeOnly,
}

/// Per-run services for an experiment.
pub struct Context {
    id: &'static str,
    profile: Profile,
    params: serde_json::Value,
    dir: ExperimentDir,
    steps: PathBuf,
    multi: MultiProgress,
    mode: Mode,
    incomplete: Mutex<Vec<ShardIncomplete>>,
}

impl Context {
    /// The profile being run.
    pub fn profile(&self) -> Profile {
        self.profile
    }
    /// The parameters, deserialised into the experiment's own type.
    pub fn params<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_value(self.params.clone()).context("experiment parameters")
    }
    /// The experiment's results directory.
    pub fn dir(&self) -> &ExperimentDir {
        &self.dir
    }
    /// Runs `f` once and stores its result as `steps/<profile>-<hash>/<key>.json`; when that
    /// file exists (an interrupted run), returns the stored value instead of recomputing.
    ///
    /// A sharded run computes its steps like an unsharded one (every shard does); a merge
    /// ([`merge_experiment`]) computes none and fails on a missing one.
    pub fn step<T, F>(&self, key: &str, f: F) -> anyhow::Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> anyhow::Result<T>,
    {
        let path = self.steps.join(format!("{key}.json"));
        if let Some(v) = read_json(&path) {
            return Ok(v);
        }
        if self.mode == Mode::MergeOnly {
            anyhow::bail!(
                "step `{key}` is not stored in {} and merging computes nothing; compute it with \
                 `{}`",
                self.steps.display(),
                self.command()
            );
        }
        let v = f()?;
        write_json(&path, &v)?;
        Ok(v)
    }
    /// A sweep of independent jobs, one per key: job `i` is `f(i, &keys[i])` (seed it from
    /// `i` or the key, never from what ran before), stored as
    /// `steps/<profile>-<hash>/<name>/<key>.json`. Returns the values in the order of `keys`.
    ///
    /// Stored jobs are loaded and the others computed one after the other (a job uses the
    /// cores itself), under a progress bar `name: done/total`. In a sharded run (`--shard i/k`)
    /// only the missing jobs with index `i` modulo `k` are computed; if jobs of other shards
    /// are then still missing, the result is a [`ShardIncomplete`] error, which
    /// [`run_experiment`] reports as [`RunStatus::Partial`]. A merge ([`merge_experiment`])
    /// computes no job. With several sweeps, call `jobs` for each before applying `?`, so
    /// that a shard computes its part of every sweep.
    ///
    /// `name` and the keys must be plain file names, the keys distinct.
    pub fn jobs<T, F>(&self, name: &str, keys: &[String], f: F) -> anyhow::Result<Vec<T>>
    where
        T: Serialize + DeserializeOwned + Send,
        F: Fn(usize, &str) -> anyhow::Result<T> + Sync,
    {
        check_file_name("sweep name", name)?;
        let mut seen = BTreeSet::new();
        for k in keys {
            check_file_name("job key", k)?;
            anyhow::ensure!(
                seen.insert(k),
                "job key `{k}` occurs twice in sweep `{name}`"
            );
        }
        let dir = self.steps.join(name);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = |k: &str| dir.join(format!("{k}.json"));
        let mut values: Vec<Option<T>> = keys.iter().map(|k| read_json(&path(k))).collect();
        let todo: Vec<usize> = (0..keys.len())
            .filter(|&i| values[i].is_none())
            .filter(|&i| match self.mode {
                Mode::All => true,
                Mode::Shard(s) => s.contains(i),
                Mode::MergeOnly => false,
            })
            .collect();
        let bar = self.progress(keys.len() as u64, name);
        bar.set_position(values.iter().filter(|v| v.is_some()).count() as u64);
        for &i in &todo {
            let v =
                f(i, &keys[i]).with_context(|| format!("job `{}` of sweep `{name}`", keys[i]))?;
            write_json(&path(&keys[i]), &v)?;
            values[i] = Some(v);
            bar.inc(1);
        }
        bar.finish_and_clear();
        if let Mode::Shard(s) = self.mode {
            // Records the shard count for the hints of a merge.
            let marker = dir.join(format!("shard-{}-of-{}.done", s.index, s.count));
            write_json(&marker, &s.to_string())?;
            // On a shared file system the other shards may have stored theirs meanwhile.
            for (i, v) in values.iter_mut().enumerate() {
                if v.is_none() {
                    *v = read_json(&path(&keys[i]));
                }
            }
        }
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| values[i].is_none()).collect();
        if missing.is_empty() {
            return Ok(values.into_iter().flatten().collect());
        }
        let err = ShardIncomplete {
            computed: todo.len(),
            total: keys.len(),
            missing: missing
                .iter()
                .map(|&i| format!("{name}/{}", keys[i]))
                .collect(),
            commands: self.commands_for(&dir, &missing),
        };
        self.incomplete
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(err.clone());
        Err(err.into())
    }
    /// `cargo xtask run <id> --profile <profile>`.
    fn command(&self) -> String {
        format!("cargo xtask run {} --profile {}", self.id, self.profile)
    }
    /// Commands that compute the jobs `missing` of the sweep stored in `dir`: for each shard
    /// count that ran there, the shards holding them; an unsharded run if none did.
    fn commands_for(&self, dir: &Path, missing: &[usize]) -> Vec<String> {
        let counts: BTreeSet<usize> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        let name = e.file_name().into_string().ok()?;
                        let rest = name.strip_prefix("shard-")?.strip_suffix(".done")?;
                        rest.split_once("-of-")?.1.parse().ok()
                    })
                    .filter(|&k| k > 0)
                    .collect()
            })
            .unwrap_or_default();
        if counts.is_empty() {
            return vec![self.command()];
        }
        counts
            .into_iter()
            .flat_map(|k| {
                let shards: BTreeSet<usize> = missing.iter().map(|j| j % k).collect();
                shards
                    .into_iter()
                    .map(move |i| format!("{} --shard {i}/{k}", self.command()))
            })
            .collect()
    }
    /// A progress bar of `len` units under the run's progress display.
    pub fn progress(&self, len: u64, message: &str) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new(len));
        bar.set_style(
            ProgressStyle::with_template("  {msg:<28} [{bar:30}] {pos}/{len} ({eta} left)")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(message.to_string());
        bar
    }
    /// Prints a line above the progress bars.
    pub fn println(&self, line: &str) {
        if self.multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }
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
    exp: &dyn Experiment,
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
    exp: &dyn Experiment,
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

/// An error unless `name` is a plain file name (not empty, no separators, not `.` or `..`).
fn check_file_name(what: &str, name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\']),
        "{what} `{name}` is not a plain file name"
    );
    Ok(())
}

/// Runs `exp` in `mode` with its checkpoints in `dir`, then writes its results and figures.
fn execute(
    exp: &dyn Experiment,
    profile: Profile,
    paths: &Paths,
    dir: &ExperimentDir,
    mode: Mode,
    multi: &MultiProgress,
) -> anyhow::Result<RunStatus> {
    let params = exp.params(profile);
    let hash = params_hash(exp, profile);
    let ctx = Context {
        id: exp.id(),
        profile,
        params: params.clone(),
        steps: dir.steps_dir(&steps_key(profile, &hash))?,
        dir: dir.clone(),
        multi: multi.clone(),
        mode,
        incomplete: Mutex::new(Vec::new()),
    };
    let start = Instant::now();
    let outcome = match exp.run(&ctx) {
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
