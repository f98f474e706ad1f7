//! # ftnn-experiments — the catalogue of the paper's experiments
//!
//! Each experiment of SPEC §10 implements [`ftnn_lab::Experiment`] with its own parameter and
//! result types; [`registry`] lists them in the order `reproduce-all` runs them, and
//! `cargo xtask` hands it to the lab's driver and report writer. One folder per family
//! ([`error`], [`limit`], [`training`], [`decay`], [`guarantee`], [`convnet`]), one file or folder per experiment; what
//! several experiments share lives in [`common`], and no experiment imports another.
//!
//! Dependencies point down only: this crate uses `ftnn-lab` (the framework), `ftnn-plot` (the
//! figures) and the numerical crates (model, bounds, decay, train, data, continuity, certify).

pub mod common;
pub mod convnet;
pub mod decay;
pub mod error;
pub mod guarantee;
pub mod limit;
pub mod training;

use ftnn_lab::{AnyExperiment, Planned};

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
        Box::new(convnet::mnist::ConvnetMnist),
        Box::new(convnet::ft::ConvnetFt),
        Box::new(convnet::vgg16::ConvnetVgg16),
        Box::new(convnet::adversarial_dropout::AdversarialDropout),
    ]
}

/// The paper's catalogue (SPEC §10): all 23 experiment ids with their original notebooks, in
/// the SPEC's order. The report lists those [`registry`] lacks as *not implemented*.
pub const CATALOGUE: [Planned; 23] = [
    planned(
        "dropout-comparison",
        "ComparisonIncreasingDropoutMNIST.ipynb",
    ),
    planned("regularization", "Regularization.ipynb"),
    planned("convnet-mnist", "ConvNetTest-MNIST.ipynb"),
    planned("convnet-vgg16", "ConvNetTest-VGG16.ipynb"),
    planned("convnet-ft", "ConvNetTest-ft.ipynb"),
    planned("continuity-ft", "FaultTolerance-Continuity-FC-MNIST.ipynb"),
    planned("the-algorithm", "TheAlgorithm.ipynb"),
    planned("filter-playground", "FilterPlayground.ipynb"),
    planned("weight-decay", "WeightDecay-FC-MNIST.ipynb"),
    planned("derivative-decay", "DerivativeDecay-FC-MNIST.ipynb"),
    planned(
        "weight-decay-continuity",
        "WeightDecay-Continuity-FC-MNIST.ipynb (+ -Fashion)",
    ),
    planned("decay-boston", "DerivativeWeightDecay-FC-Boston.ipynb"),
    planned(
        "decay-fashion",
        "DerivativeWeightDecay-FC-MNIST-Fashion.ipynb",
    ),
    planned("error-comparison-random", "ErrorComparisonRandom.ipynb"),
    planned(
        "error-comparison-boston",
        "ErrorComparisonBoston.ipynb (+ -Architecture)",
    ),
    planned("error-additivity", "ErrorAdditivityRandom.ipynb"),
    planned("error-on-training", "ErrorOnTraining.ipynb"),
    planned("taylor-checks", "BostonTh7Test.ipynb, Bound5-test.ipynb"),
    planned("tail-bound", "TailBound-FC-MNIST.ipynb"),
    planned("ntk", "NTK.ipynb"),
    planned("riemann", "Riemann.ipynb"),
    planned("worst-input-search", "bad_input_search.py"),
    planned(
        "adversarial-dropout",
        "AE_fgsm_mnist.ipynb, AE_onepixel_mnist.ipynb",
    ),
];

const fn planned(id: &'static str, origin: &'static str) -> Planned {
    Planned { id, origin }
}

/// Looks an experiment up by id.
pub fn find(id: &str) -> Option<Box<dyn AnyExperiment>> {
    registry().into_iter().find(|e| e.id() == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_experiment_is_in_the_catalogue_once() {
        let ids: Vec<&str> = CATALOGUE.iter().map(|p| p.id).collect();
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "duplicate ids in CATALOGUE");
        for e in registry() {
            assert!(
                ids.contains(&e.id()),
                "{} is not in SPEC §10's catalogue",
                e.id()
            );
        }
    }
}
