//! The typed experiment interface and its object-safe form.
//!
//! An experiment implements [`Experiment`] with its own parameter and result types; the blanket
//! implementation of [`AnyExperiment`] does all the JSON (through [`crate::nonfinite`], so NaN
//! and ±inf survive), and the driver ([`crate::run_experiment`]), the report and `cargo xtask`
//! work on `dyn AnyExperiment`.

use crate::context::Context;
use crate::error::LabError;
use crate::nonfinite;
use crate::profile::Profile;
use crate::results_file::ResultsFile;
use crate::section::ReportSection;
use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};

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
pub struct Outcome<R> {
    /// Everything needed to redraw its figures and write its report section.
    pub results: R,
    /// The conclusion in a few sentences, with the key numbers.
    pub conclusion: String,
    /// Tabular results.
    pub tables: Vec<Csv>,
}

/// Stored results, read back into the experiment's own types.
#[derive(Debug, Clone)]
pub struct Stored<P, R> {
    /// Experiment id.
    pub id: String,
    /// Profile of the run.
    pub profile: Profile,
    /// Parameters of the run.
    pub params: P,
    /// Hash of id, profile and parameters.
    pub params_hash: String,
    /// ftnn version that produced it.
    pub ftnn_version: String,
    /// Wall-clock seconds of the last run.
    pub seconds: f64,
    /// Conclusion.
    pub conclusion: String,
    /// When the run finished, if stored.
    pub finished: Option<String>,
    /// The results.
    pub results: R,
}

impl<P: DeserializeOwned, R: DeserializeOwned> Stored<P, R> {
    /// Reads the parameters and results of a results file into their types.
    pub fn from_file(file: &ResultsFile) -> Result<Self, LabError> {
        let json = |what: &str| {
            let what = format!("reading the stored {what} of `{}`", file.id);
            move |source| LabError::Json { what, source }
        };
        Ok(Self {
            id: file.id.clone(),
            profile: file.profile,
            params: nonfinite::from_value(file.params.clone()).map_err(json("parameters"))?,
            params_hash: file.params_hash.clone(),
            ftnn_version: file.ftnn_version.clone(),
            seconds: file.seconds,
            conclusion: file.conclusion.clone(),
            finished: file.finished.clone(),
            results: nonfinite::from_value(file.results.clone()).map_err(json("results"))?,
        })
    }
}

/// One experiment of SPEC §10, with its parameter and result types.
pub trait Experiment: Send + Sync {
    /// The parameters (their JSON is the identity of the results: keep it stable).
    type Params: Serialize + DeserializeOwned;
    /// What `results.json` stores under `results`.
    type Results: Serialize + DeserializeOwned;
    /// Identifier, e.g. `ntk`.
    fn id(&self) -> &'static str;
    /// One-line description.
    fn title(&self) -> &'static str;
    /// The original notebook it reproduces.
    fn origin(&self) -> &'static str;
    /// Parameters of a profile.
    fn params(&self, profile: Profile) -> Self::Params;
    /// Runs it; independent pieces of work should go through [`Context::step`], sweeps of
    /// independent jobs (widths × repetitions) through [`Context::jobs`].
    fn run(&self, ctx: &Context, params: &Self::Params) -> anyhow::Result<Outcome<Self::Results>>;
    /// Draws its figures from stored results (no recomputation) into `dir` (`figures/<id>/`);
    /// returns the PNG paths, in the order the report shows them.
    fn figures(
        &self,
        stored: &Stored<Self::Params, Self::Results>,
        dir: &Path,
    ) -> anyhow::Result<Vec<PathBuf>>;
    /// Its section of `REPORT.md`: the paper's numbers beside ours, and the verdict.
    fn report(&self, stored: &Stored<Self::Params, Self::Results>) -> ReportSection;
}

/// What [`AnyExperiment::run_json`] returns: an [`Outcome`] with the results as JSON.
pub type JsonOutcome = Outcome<serde_json::Value>;

/// The object-safe form of an [`Experiment`], with parameters and results as JSON; every
/// [`Experiment`] is one.
pub trait AnyExperiment: Send + Sync {
    /// Identifier, e.g. `ntk`.
    fn id(&self) -> &'static str;
    /// One-line description.
    fn title(&self) -> &'static str;
    /// The original notebook it reproduces.
    fn origin(&self) -> &'static str;
    /// The parameters of a profile as JSON.
    fn params_json(&self, profile: Profile) -> serde_json::Value;
    /// Runs it under `ctx` with the parameters of `ctx.profile()`.
    fn run_json(&self, ctx: &Context) -> anyhow::Result<JsonOutcome>;
    /// Draws its figures from a results file.
    fn figures(&self, stored: &ResultsFile, dir: &Path) -> anyhow::Result<Vec<PathBuf>>;
    /// Its report section from a results file ([`ReportSection::unreadable`] when the file
    /// does not hold this experiment's types).
    fn report(&self, stored: &ResultsFile) -> ReportSection;
}

impl<E: Experiment> AnyExperiment for E {
    fn id(&self) -> &'static str {
        Experiment::id(self)
    }
    fn title(&self) -> &'static str {
        Experiment::title(self)
    }
    fn origin(&self) -> &'static str {
        Experiment::origin(self)
    }
    fn params_json(&self, profile: Profile) -> serde_json::Value {
        nonfinite::to_value(&self.params(profile)).expect("parameters are plain data")
    }
    fn run_json(&self, ctx: &Context) -> anyhow::Result<JsonOutcome> {
        let params = self.params(ctx.profile());
        let outcome = self.run(ctx, &params)?;
        let results = nonfinite::to_value(&outcome.results).map_err(|source| LabError::Json {
            what: format!("serialising the results of `{}`", Experiment::id(self)),
            source,
        })?;
        Ok(Outcome {
            results,
            conclusion: outcome.conclusion,
            tables: outcome.tables,
        })
    }
    fn figures(&self, stored: &ResultsFile, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        let typed = Stored::from_file(stored)?;
        Experiment::figures(self, &typed, dir)
    }
    fn report(&self, stored: &ResultsFile) -> ReportSection {
        match Stored::from_file(stored) {
            Ok(typed) => Experiment::report(self, &typed),
            Err(e) => ReportSection::unreadable(e),
        }
    }
}
