//! The experiment trait, the per-run [`Context`] with resumable steps and progress bars, and
//! [`run_experiment`], which skips up-to-date results and writes new ones atomically.

use crate::profile::Profile;
use crate::store::{hash_json, read_json, write_csv, write_json, ExperimentDir};
use anyhow::Context as _;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::path::{Path, PathBuf};
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
    /// Runs it; independent pieces of work should go through [`Context::step`].
    fn run(&self, ctx: &Context) -> anyhow::Result<Outcome>;
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
    },
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
    /// The results.
    pub results: serde_json::Value,
}

/// Per-run services for an experiment.
pub struct Context {
    profile: Profile,
    params: serde_json::Value,
    dir: ExperimentDir,
    steps: PathBuf,
    multi: MultiProgress,
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
    pub fn step<T, F>(&self, key: &str, f: F) -> anyhow::Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> anyhow::Result<T>,
    {
        let path = self.steps.join(format!("{key}.json"));
        if let Some(v) = read_json(&path) {
            return Ok(v);
        }
        let v = f()?;
        write_json(&path, &v)?;
        Ok(v)
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

/// Runs `exp` under `profile`, storing results under `root/<id>/`. Skips it when results for
/// the same profile and parameters exist, unless `force` (which also discards checkpoints).
pub fn run_experiment(
    exp: &dyn Experiment,
    profile: Profile,
    root: &Path,
    force: bool,
    multi: &MultiProgress,
) -> anyhow::Result<RunStatus> {
    let params = exp.params(profile);
    let identity = serde_json::json!({ "id": exp.id(), "profile": profile, "params": params });
    let hash = hash_json(&identity);
    let dir = ExperimentDir::new(root, exp.id())?;
    let results_path = dir.file("results.json");
    if !force {
        if let Some(old) = read_json::<ResultsFile>(&results_path) {
            if old.params_hash == hash {
                return Ok(RunStatus::UpToDate);
            }
        }
    }
    let key = format!("{}-{}", profile, &hash[..12]);
    if force {
        let _ = std::fs::remove_dir_all(dir.path().join("steps").join(&key));
    }
    let ctx = Context {
        profile,
        params: params.clone(),
        steps: dir.steps_dir(&key)?,
        dir: dir.clone(),
        multi: multi.clone(),
    };
    let start = Instant::now();
    let outcome = exp
        .run(&ctx)
        .with_context(|| format!("experiment `{}` failed", exp.id()))?;
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
        results: outcome.results,
    };
    write_json(&results_path, &file)?;
    Ok(RunStatus::Ran {
        seconds,
        conclusion: outcome.conclusion,
    })
}
