//! # ftnn-experiments — the catalogue of the paper's experiments
//!
//! Each experiment of SPEC §10 implements [`ftnn_lab::Experiment`] with its own parameter and
//! result types; [`registry`] lists them in the order `reproduce-all` runs them, and
//! `cargo xtask` hands it to the lab's driver and report writer. One folder per family
//! ([`error`], [`limit`], [`training`], [`decay`], [`guarantee`]), one file or folder per experiment; what
//! several experiments share lives in [`common`], and no experiment imports another.
//!
//! Dependencies point down only: this crate uses `ftnn-lab` (the framework), `ftnn-plot` (the
//! figures) and the numerical crates (model, bounds, decay, train, data, continuity, certify).

pub mod common;
pub mod decay;
pub mod error;
pub mod guarantee;
pub mod limit;
pub mod training;

use ftnn_lab::AnyExperiment;

/// Every registered experiment, in the order `reproduce-all` runs them.
pub fn registry() -> Vec<Box<dyn AnyExperiment>> {
    vec![
        Box::new(error::comparison_random::ErrorComparisonRandom),
        Box::new(error::comparison_boston::ErrorComparisonBoston),
        Box::new(error::on_training::ErrorOnTraining),
        Box::new(limit::filter_playground::FilterPlayground),
        Box::new(error::additivity::ErrorAdditivity),
        Box::new(limit::ntk::Ntk),
        Box::new(limit::taylor_checks::TaylorChecks),
        Box::new(limit::riemann::Riemann),
        Box::new(training::dropout_comparison::DropoutComparison),
        Box::new(training::regularization::Regularization),
        Box::new(decay::experiments::DecayExperiment::DerivativeDecay),
        Box::new(decay::experiments::DecayExperiment::WeightDecay),
        Box::new(decay::experiments::DecayExperiment::WeightDecayContinuity),
        Box::new(decay::experiments::DecayExperiment::DecayBoston),
        Box::new(decay::experiments::DecayExperiment::DecayFashion),
        Box::new(decay::experiments::DecayExperiment::ContinuityFt),
        Box::new(guarantee::the_algorithm::TheAlgorithm),
        Box::new(guarantee::tail_bound::TailBound),
        Box::new(guarantee::worst_input_search::WorstInputSearch),
    ]
}

/// Looks an experiment up by id.
pub fn find(id: &str) -> Option<Box<dyn AnyExperiment>> {
    registry().into_iter().find(|e| e.id() == id)
}
