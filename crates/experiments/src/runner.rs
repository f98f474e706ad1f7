//! The experiment trait, the per-run [`Context`] with resumable steps and progress bars, and
//! [`run_experiment`], which skips up-to-date results and writes new ones atomically.

use crate::profile::Profile;
use crate::report::ReportSection;
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

/// Runs `exp` under `profile`, storing results under `paths.results/<id>/` and drawing its
/// figures into `paths.figures/<id>/`. Skips it when results for the same profile and
/// parameters exist, unless `force` (which also discards checkpoints); a skipped experiment's
/// figures are drawn when none exist.
pub fn run_experiment(
    exp: &dyn Experiment,
    profile: Profile,
    paths: &Paths,
    force: bool,
    multi: &MultiProgress,
) -> anyhow::Result<RunStatus> {
    let params = exp.params(profile);
    let hash = params_hash(exp, profile);
    let dir = ExperimentDir::new(&paths.results, exp.id())?;
    let results_path = dir.file("results.json");
    if !force {
        if let Some(old) = read_json::<ResultsFile>(&results_path) {
            if old.params_hash == hash {
                if !has_png(&paths.figures_dir(exp.id())) {
                    draw_figures(exp, paths)?;
                }
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
        finished: Some(utc_string(std::time::SystemTime::now())),
        results: outcome.results,
    };
    write_json(&results_path, &file)?;
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
