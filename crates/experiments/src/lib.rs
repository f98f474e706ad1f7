//! # ftnn-experiments — the paper's experiments, reproducible and resumable
//!
//! Each experiment of SPEC §10 implements [`Experiment`]: an id, its parameters for each
//! [`Profile`] (`smoke` for CI, `quick` by default, `paper` for the paper's settings), and a
//! `run` that returns a JSON result plus a one-paragraph conclusion. The [`runner`] writes
//! `results/<id>/results.json` atomically, skips an experiment whose results exist for the same
//! profile and parameters, and lets an experiment checkpoint its independent steps
//! ([`Context::step`]) so that an interrupted run resumes where it stopped.
//!
//! From the stored results alone each experiment draws its figures ([`Experiment::figures`],
//! with the helpers of `ftnn_plot`) into `figures/<id>/` and writes its section of `REPORT.md`
//! ([`Experiment::report`], assembled by [`report::write_report`]): the paper's numbers beside
//! ours and a verdict.

pub mod decay_experiments;
pub mod decay_sweep;
pub mod dropout_comparison;
pub mod error_additivity;
pub mod error_comparison_boston;
pub mod error_comparison_random;
pub mod error_on_training;
pub mod filter_playground;
pub mod fit;
pub mod mnist_training;
pub mod ntk;
pub mod regularization;
pub mod riemann;
pub mod taylor_checks;

use ftnn_lab::AnyExperiment;

/// Every registered experiment, in the order `reproduce-all` runs them.
pub fn registry() -> Vec<Box<dyn AnyExperiment>> {
    vec![
        Box::new(error_comparison_random::ErrorComparisonRandom),
        Box::new(error_comparison_boston::ErrorComparisonBoston),
        Box::new(error_on_training::ErrorOnTraining),
        Box::new(filter_playground::FilterPlayground),
        Box::new(error_additivity::ErrorAdditivity),
        Box::new(ntk::Ntk),
        Box::new(taylor_checks::TaylorChecks),
        Box::new(riemann::Riemann),
        Box::new(dropout_comparison::DropoutComparison),
        Box::new(regularization::Regularization),
        Box::new(decay_experiments::DecayExperiment::DerivativeDecay),
        Box::new(decay_experiments::DecayExperiment::WeightDecay),
        Box::new(decay_experiments::DecayExperiment::WeightDecayContinuity),
        Box::new(decay_experiments::DecayExperiment::DecayBoston),
        Box::new(decay_experiments::DecayExperiment::DecayFashion),
        Box::new(decay_experiments::DecayExperiment::ContinuityFt),
    ]
}

/// Looks an experiment up by id.
pub fn find(id: &str) -> Option<Box<dyn AnyExperiment>> {
    registry().into_iter().find(|e| e.id() == id)
}
