//! # ftnn-lab — the experiment framework, with no neural-network knowledge
//!
//! An experiment implements [`Experiment`]: an id, its typed parameters for each [`Profile`]
//! (`smoke` for CI, `quick` by default, `paper` for the paper's settings), and a `run` that
//! returns typed results plus a one-paragraph conclusion. The blanket [`AnyExperiment`] does
//! all the JSON, CSV and hashing. [`run_experiment`] writes `results/<id>/results.json`
//! atomically, skips an experiment whose results exist for the same profile and parameters,
//! and lets an experiment checkpoint its independent steps ([`Context::step`]) and sweeps
//! ([`Context::jobs`], shardable with [`Shard`]) so that an interrupted run resumes where it
//! stopped. NaN and ±inf are stored as the strings `"NaN"`, `"inf"`, `"-inf"`
//! ([`nonfinite`]).
//!
//! From the stored results alone each experiment draws its figures ([`Experiment::figures`])
//! into `figures/<id>/` and writes its section of `REPORT.md` ([`Experiment::report`]),
//! assembled by [`report::write_report`] for the registry of experiments it is given.
//!
//! Every results file records the ftnn version and source revision that computed it
//! ([`provenance`]); results of other code are *stale*: the report marks them and a run
//! recomputes them. [`compare()`] sets new results beside a published snapshot, number by number.

pub mod compare;
pub mod context;
pub mod driver;
pub mod error;
pub mod experiment;
pub mod nonfinite;
pub mod profile;
pub mod provenance;
pub mod report;
pub mod results_file;
pub mod rule;
pub mod section;
pub mod store;

pub use compare::{compare, describe, Comparison, Deviation};
pub use context::{abbreviate, Context, Shard, ShardIncomplete};
pub use driver::{
    draw_figures, merge_experiment, params_hash, run_experiment, run_experiment_on,
    run_experiment_with, Paths, RunOptions, RunStatus,
};
pub use error::LabError;
pub use experiment::{AnyExperiment, Csv, Experiment, JsonOutcome, Outcome, Stored};
pub use profile::Profile;
pub use provenance::Freshness;
pub use report::{read_section, write_catalogue_report, write_report, Planned};
pub use results_file::{utc_string, ResultsFile};
pub use rule::{Judgement, Rule, Target};
pub use section::{PaperRow, ReportSection, Verdict};
