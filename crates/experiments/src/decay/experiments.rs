//! The six continuity and decay experiments of SPEC §10 (the original notebooks
//! `DerivativeDecay-FC-MNIST`, `WeightDecay-FC-MNIST`, `WeightDecay-Continuity-FC-MNIST` (+
//! `-Fashion`), `DerivativeWeightDecay-FC-Boston`, `DerivativeWeightDecay-FC-MNIST-Fashion` and
//! `FaultTolerance-Continuity-FC-MNIST`), as thin specifications over the width-sweep engine
//! [`crate::decay::sweep`]: which sweeps each profile runs, and the paper's numbers.
//!
//! **The claim under test.** In the continuous limit (a network whose layers become continuous
//! functions as n → ∞) the derivative of the loss with respect to one neuron of the first
//! hidden layer falls like 1/n (D slope −1), its second derivatives like 1/n² (H slope −2),
//! the weight norms stay bounded and the crash variance falls like 1/n (Var Δ slope −1): wide
//! networks become fault tolerant. Plain training does **not** reach that limit (D, H decay
//! more slowly, the weights grow with n: `derivative-decay`, `weight-decay`, `decay-fashion`);
//! training with the `continuous` regularizer (smooth(), Eq. 1) does (`weight-decay-continuity`,
//! `continuity-ft`, the paper's main empirical result). Boston (`decay-boston`), trained 1000
//! full-batch epochs without regularization, comes close for H.
//!
//! **Set-ups (SPEC §15, which overrides §7–§10)**, the same in every profile:
//! * networks `n_0 → n → 100 → n_L`, sigmoid σ(4z) (K = 1), the paper's initialisation, MSE,
//!   Adam (lr 1e-3, β 0.9/0.999, ε 1e-7), batches of 1000 (the original's
//!   `derivative_decay.get_exp` hard-codes `batch_size = 1000`; for Boston, with 404 training
//!   rows, that is full batch);
//! * widths `[int(t) for t in np.linspace(a, b, k)]` as in the notebooks ([`int_linspace`]);
//! * MNIST and Fashion-MNIST pixels /255, one-hot targets, all 60 000 training examples;
//!   Boston **raw** (unstandardised) features and the raw median value, the Keras split;
//! * D over all training examples, H (SPEC §15: |·| of the signed Hessian averaged over the
//!   first 10 training examples, [`ftnn_decay::mean_hessian_stats`]), Var Δ at the first
//!   training example with p = 0.01 at hidden layer 1 and 5·10⁴ crash patterns (as
//!   `fault_tolerance_var_delta` in the original);
//! * networks per width: derivative-decay, weight-decay and continuity-ft 10, decay-boston 5,
//!   weight-decay-continuity 10 (MNIST) and 1 (Fashion-MNIST), decay-fashion 1; epochs 15
//!   (unregularized MNIST / Fashion), 30 (regularized), 1000 (Boston);
//! * **continuity-ft's vardelta penalises hidden layer 2.** The original's b3 graph
//!   (`get_bound_v3`) differentiates with respect to `model.layers[0].output`, which without a
//!   training-dropout layer is the *second* dense layer's output (SPEC §12's layer-index bug);
//!   SPEC §15 confirms that the published continuity-ft numbers come from that run (h2,
//!   λ = 1e-3, p = 0.01). ftnn's regularizer penalises whichever layer it is given (default:
//!   the crashing layer h1); to reproduce the published run this experiment gives it layer 2
//!   and says so in its label. Var Δ itself is still measured at hidden layer 1;
//! * each network's seed is derived from the sweep's seed, its width and its repetition; every
//!   sweep of every experiment has its own seed, so no two experiments share networks.
//!
//! **Profiles.** `paper` is §15 exactly (every report estimates its wall time on this
//! machine). `quick` changes sizes only — fewer widths and networks, never the optimizer,
//! batch, data, epochs or definitions ([`DecayExperiment::sweeps`]); `smoke` checks every
//! code path in seconds (widths 20, 40, 80, one network each, one epoch on the first 2000
//! examples; Boston 20 epochs). The report states each stored run's sizes beside the
//! paper's, from its stored parameters.

use crate::common::grids::int_linspace;
use crate::decay::sweep::{self, Claim, DataSet, Metric, Results, SweepSpec};
use ftnn_lab::Profile;
use ftnn_lab::ReportSection;
use ftnn_lab::{Context, Experiment, Outcome, Stored};
use ftnn_train::Regularizer;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One of the six continuity / decay experiments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecayExperiment {
    /// `derivative-decay` (DerivativeDecay-FC-MNIST): MNIST, no regularization; D and H
    /// decay more slowly than the continuous limit (paper D −0.86, H −1.36).
    DerivativeDecay,
    /// `weight-decay` (WeightDecay-FC-MNIST): MNIST, no regularization; the weight norms grow
    /// with n (paper: W_1 12.8 → 82.6, W_prod 1.1e4 → 6.2e4 over n = 50 → 2500).
    WeightDecay,
    /// `weight-decay-continuity` (WeightDecay-Continuity-FC-MNIST and -Fashion): with
    /// continuous(1e-4, 1e-2), D and H reach −1 and −2 and W_prod levels off.
    WeightDecayContinuity,
    /// `decay-boston` (DerivativeWeightDecay-FC-Boston): 13-n-100-1, 1000 full-batch epochs.
    DecayBoston,
    /// `decay-fashion` (DerivativeWeightDecay-FC-MNIST-Fashion): Fashion-MNIST, no
    /// regularization (paper D −0.73, H −1.30/−1.31).
    DecayFashion,
    /// `continuity-ft` (FaultTolerance-Continuity-FC-MNIST): continuous + vardelta
    /// regularization; D, H, W and Var Δ — the paper's main empirical result.
    ContinuityFt,
}

/// Parameters of every decay experiment: its sweeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// The sweeps over widths.
    pub sweeps: Vec<SweepSpec>,
}

/// The continuous regularizer of the paper's continuity runs, continuous(ψ_d = 1e-4, ψ_s = 1e-2).
const CONTINUOUS: Regularizer = Regularizer::Continuous {
    psi_d: 1e-4,
    psi_s: 1e-2,
};
/// vardelta(λ = 1e-3, p = 0.01) at hidden layer **2** (`continuity-ft`): the layer the
/// original's run penalised (SPEC §12 layer-index bug, §15; module documentation).
const VARDELTA: Regularizer = Regularizer::VarDelta {
    lambda: 1e-3,
    p: 0.01,
    layer: 2,
};
/// SPEC §8: Var Δ with p = 0.01 at hidden layer 1 …
const VAR_DELTA_P: f64 = ftnn_decay::VAR_DELTA_P;
/// … and 50 000 crash patterns.
const VAR_DELTA_REPS: usize = ftnn_decay::VAR_DELTA_REPETITIONS;
/// Batch size of every run (the original's `get_exp`; full batch for Boston's 404 rows).
const BATCH: usize = 1000;
/// The smoke profile's widths …
const SMOKE_WIDTHS: [usize; 3] = [20, 40, 80];
/// … and training examples (MNIST, Fashion-MNIST).
const SMOKE_EXAMPLES: usize = 2000;
/// The quick profile's widths of unregularized MNIST / Fashion-MNIST sweeps …
const QUICK_WIDTHS: [usize; 4] = [50, 100, 200, 400];
/// … and of the regularized ones (their steps cost more, and they train 30 epochs).
const QUICK_WIDTHS_REGULARIZED: [usize; 3] = [50, 100, 200];

impl DecayExperiment {
    /// All six, in registry order.
    pub const ALL: [DecayExperiment; 6] = [
        Self::DerivativeDecay,
        Self::WeightDecay,
        Self::WeightDecayContinuity,
        Self::DecayBoston,
        Self::DecayFashion,
        Self::ContinuityFt,
    ];

    /// The sweeps of `profile`.
    pub fn sweeps(self, profile: Profile) -> Vec<SweepSpec> {
        match profile {
            Profile::Paper => self.paper_sweeps(),
            Profile::Quick => self.quick_sweeps(),
            Profile::Smoke => self
                .paper_sweeps()
                .into_iter()
                .map(|mut s| {
                    s.widths = SMOKE_WIDTHS.to_vec();
                    s.reps = 1;
                    s.epochs = 1;
                    if s.data == DataSet::Boston {
                        s.epochs = 20;
                    } else {
                        s.train_examples = Some(SMOKE_EXAMPLES);
                    }
                    s
                })
                .collect(),
        }
    }

    /// The paper's sweeps (SPEC §10).
    fn paper_sweeps(self) -> Vec<SweepSpec> {
        let sweeps = match self {
            Self::DerivativeDecay => vec![SweepSpec::new(
                "mnist",
                DataSet::Mnist,
                int_linspace(50, 1000, 15),
                10,
                15,
                BATCH,
            )],
            Self::WeightDecay => vec![SweepSpec::new(
                "mnist",
                DataSet::Mnist,
                int_linspace(50, 2500, 15),
                10,
                15,
                BATCH,
            )
            .norms_only()],
            Self::WeightDecayContinuity => {
                [("mnist", DataSet::Mnist), ("fashion", DataSet::Fashion)]
                    .into_iter()
                    .map(|(name, data)| {
                        // SPEC §15: 10 networks per width on MNIST, 1 on Fashion-MNIST.
                        let reps = if data == DataSet::Mnist { 10 } else { 1 };
                        SweepSpec::new(name, data, int_linspace(50, 1500, 10), reps, 30, BATCH)
                            .regularizer(CONTINUOUS)
                    })
                    .collect()
            }
            Self::DecayBoston => vec![SweepSpec::new(
                "boston",
                DataSet::Boston,
                int_linspace(100, 400, 7),
                5,
                1000,
                BATCH,
            )],
            Self::DecayFashion => vec![SweepSpec::new(
                "fashion",
                DataSet::Fashion,
                int_linspace(50, 1000, 15),
                1,
                15,
                BATCH,
            )],
            Self::ContinuityFt => vec![SweepSpec::new(
                "mnist",
                DataSet::Mnist,
                int_linspace(50, 1500, 10),
                10,
                30,
                BATCH,
            )
            .regularizer(CONTINUOUS)
            .regularizer(VARDELTA)
            .with_var_delta(VAR_DELTA_P, VAR_DELTA_REPS)],
        };
        // Every sweep of every experiment gets its own networks: base seed 10·(experiment) +
        // (sweep), so that e.g. `weight-decay` does not retrain `derivative-decay`'s networks.
        let experiment = Self::ALL.iter().position(|&e| e == self).unwrap_or(0) as u64;
        sweeps
            .into_iter()
            .enumerate()
            .map(|(k, s)| s.seed(10 * experiment + k as u64))
            .collect()
    }

    /// The quick profile: the paper's set-up (optimizer, batch, data, epochs, definitions)
    /// with fewer widths and networks only.
    /// * Unregularized MNIST / Fashion-MNIST: widths [`QUICK_WIDTHS`], at most two networks
    ///   each (decay-fashion keeps the paper's one).
    /// * Regularized (continuous, vardelta): widths [`QUICK_WIDTHS_REGULARIZED`], one network
    ///   each — 30 epochs of 60 regularized steps per network.
    /// * Boston: the paper's seven widths, two networks each (the paper: five).
    fn quick_sweeps(self) -> Vec<SweepSpec> {
        self.paper_sweeps()
            .into_iter()
            .map(|mut s| {
                match s.data {
                    DataSet::Boston => s.reps = s.reps.min(2),
                    DataSet::Mnist | DataSet::Fashion => {
                        if s.regularizers.is_empty() {
                            s.reps = s.reps.min(2);
                            s.widths = QUICK_WIDTHS.to_vec();
                        } else {
                            s.reps = 1;
                            s.widths = QUICK_WIDTHS_REGULARIZED.to_vec();
                        }
                    }
                }
                s
            })
            .collect()
    }

    /// How the sweeps of a stored run differ from the paper profile's, generated from its
    /// stored parameters (empty when they are the paper's).
    pub fn profile_note(self, stored: &[SweepSpec]) -> String {
        let paper = self.paper_sweeps();
        let mut parts = Vec::new();
        for s in stored {
            let Some(p) = paper.iter().find(|p| p.name == s.name) else {
                continue;
            };
            let mut diff = Vec::new();
            if s.widths != p.widths {
                diff.push(format!(
                    "widths {:?} (paper: {} widths {}…{})",
                    s.widths,
                    p.widths.len(),
                    p.widths.first().copied().unwrap_or(0),
                    p.widths.last().copied().unwrap_or(0)
                ));
            }
            if s.reps != p.reps {
                diff.push(format!(
                    "{} per width (paper: {})",
                    sweep::count(s.reps, "net"),
                    p.reps
                ));
            }
            if s.epochs != p.epochs {
                diff.push(format!("{} epochs (paper: {})", s.epochs, p.epochs));
            }
            if s.train_rows() != p.train_rows() {
                diff.push(format!(
                    "the first {} training examples (paper: {})",
                    s.train_rows(),
                    p.train_rows()
                ));
            }
            if s.batch_size != p.batch_size || s.regularizers != p.regularizers {
                diff.push("another batch size or regularizer".into());
            }
            if !diff.is_empty() {
                parts.push(format!("{}: {}", s.name, diff.join(", ")));
            }
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(
                "This run's sweeps differ from the paper profile's: {}.",
                parts.join("; ")
            )
        }
    }

    /// The paper's numbers (SPEC §10, with §15's H_diag / H_all assignment).
    pub fn claims(self) -> Vec<Claim> {
        let slope = |sweep, metric, paper| Claim::Slope {
            sweep,
            metric,
            paper,
        };
        match self {
            Self::DerivativeDecay => vec![
                slope("mnist", Metric::D, -0.86),
                slope("mnist", Metric::HDiag, -1.36),
                slope("mnist", Metric::HAll, -1.36),
            ],
            Self::WeightDecay => vec![
                Claim::Growth {
                    sweep: "mnist",
                    metric: Metric::W(2),
                    paper_name: "W_1 (0-based: the n → 100 matrix)",
                    from: 12.8,
                    to: 82.6,
                    n_from: 50.0,
                    n_to: 2500.0,
                },
                Claim::Growth {
                    sweep: "mnist",
                    metric: Metric::WProd,
                    paper_name: "W_prod",
                    from: 1.1e4,
                    to: 6.2e4,
                    n_from: 50.0,
                    n_to: 2500.0,
                },
            ],
            Self::WeightDecayContinuity => vec![
                slope("mnist", Metric::D, -0.97),
                slope("mnist", Metric::HDiag, -1.95),
                slope("mnist", Metric::HAll, -1.95),
                Claim::Level {
                    sweep: "mnist",
                    metric: Metric::WProd,
                    level: 1.1e3,
                },
                slope("fashion", Metric::D, -0.96),
                slope("fashion", Metric::HDiag, -1.99),
                slope("fashion", Metric::HAll, -1.94),
            ],
            Self::DecayBoston => vec![
                slope("boston", Metric::D, -1.37),
                slope("boston", Metric::HDiag, -2.00),
                slope("boston", Metric::HAll, -1.96),
            ],
            Self::DecayFashion => vec![
                slope("fashion", Metric::D, -0.73),
                slope("fashion", Metric::HDiag, -1.31),
                slope("fashion", Metric::HAll, -1.30),
            ],
            Self::ContinuityFt => vec![
                slope("mnist", Metric::D, -0.97),
                slope("mnist", Metric::HDiag, -1.93),
                slope("mnist", Metric::HAll, -1.95),
                slope("mnist", Metric::VarDelta, -1.06),
            ],
        }
    }

    /// What the experiment reproduces, for its report section.
    fn notes(self) -> &'static str {
        match self {
            Self::DerivativeDecay => {
                "Without regularization the derivatives of the loss with respect to the first \
                 hidden layer fall with n, but more slowly than the continuous limit predicts \
                 (D ∝ n^−1, H ∝ n^−2): the paper finds −0.86 and −1.36 and concludes that plain \
                 training does not approach the continuous limit."
            }
            Self::WeightDecay => {
                "Without regularization the weight norms grow with the width: the paper's \
                 W_1 — the n → 100 matrix, whose rows sum over n inputs — from 12.8 to 82.6 and \
                 the product of the three norms from 1.1e4 to 6.2e4 over n = 50 … 2500. In the \
                 continuous limit they would stay bounded. Only the norms are measured here."
            }
            Self::WeightDecayContinuity => {
                "With the continuous regularizer (smooth() of every hidden layer's weights and \
                 biases, ψ_d = 1e-4, ψ_s = 1e-2) the derivatives reach the continuous limit's \
                 slopes (D ≈ −1, H ≈ −2) and the product of the weight norms levels off, on \
                 MNIST and on Fashion-MNIST (SPEC §15: 10 networks per width on MNIST, 1 on \
                 Fashion-MNIST)."
            }
            Self::DecayBoston => {
                "13-n-100-1 networks trained 1000 full-batch epochs on the Keras split of Boston \
                 Housing without regularization; the paper finds D −1.37 and H close to −2. \
                 Raw features and the raw median value, as the original (SPEC §15)."
            }
            Self::DecayFashion => {
                "The `derivative-decay` experiment on Fashion-MNIST: without regularization the \
                 paper finds slopes (−0.73, −1.30) even further from the continuous limit."
            }
            Self::ContinuityFt => {
                "The paper's main empirical result: networks trained with the continuous \
                 regularizer and the b3-variance penalty vardelta(λ = 1e-3, p = 0.01) approach \
                 the continuous limit, and their crash variance (50 000 crash \
                 patterns, p = 0.01 at hidden layer 1, at the first training example) falls \
                 like 1/n: wider networks are more fault tolerant. The penalty acts on hidden \
                 layer 2, as in the original's run (its layer-index bug, SPEC §12 and §15), \
                 not on the crashing layer 1. The last row estimates the \
                 wall time of the full paper profile (100 networks up to n = 1500, 30 epochs on \
                 60 000 examples) on this machine from training steps timed at each of the \
                 paper's widths."
            }
        }
    }
}

impl Experiment for DecayExperiment {
    type Params = Params;
    type Results = Results;

    fn id(&self) -> &'static str {
        match self {
            Self::DerivativeDecay => "derivative-decay",
            Self::WeightDecay => "weight-decay",
            Self::WeightDecayContinuity => "weight-decay-continuity",
            Self::DecayBoston => "decay-boston",
            Self::DecayFashion => "decay-fashion",
            Self::ContinuityFt => "continuity-ft",
        }
    }
    fn title(&self) -> &'static str {
        match self {
            Self::DerivativeDecay => {
                "Decay of ∂L/∂y₁ and ∂²L/∂y₁² with width, MNIST without regularization"
            }
            Self::WeightDecay => "Weight norms vs width, MNIST without regularization",
            Self::WeightDecayContinuity => {
                "Derivative decay and weight norms with the continuous regularizer, MNIST and \
                 Fashion-MNIST"
            }
            Self::DecayBoston => "Derivative decay and weight norms vs width, Boston Housing",
            Self::DecayFashion => {
                "Derivative decay and weight norms vs width, Fashion-MNIST without regularization"
            }
            Self::ContinuityFt => {
                "Crash variance and derivative decay vs width with continuity regularization, MNIST"
            }
        }
    }
    fn origin(&self) -> &'static str {
        match self {
            Self::DerivativeDecay => "DerivativeDecay-FC-MNIST.ipynb",
            Self::WeightDecay => "WeightDecay-FC-MNIST.ipynb",
            Self::WeightDecayContinuity => "WeightDecay-Continuity-FC-MNIST.ipynb (+ -Fashion)",
            Self::DecayBoston => "DerivativeWeightDecay-FC-Boston.ipynb",
            Self::DecayFashion => "DerivativeWeightDecay-FC-MNIST-Fashion.ipynb",
            Self::ContinuityFt => "FaultTolerance-Continuity-FC-MNIST.ipynb",
        }
    }
    fn params(&self, profile: Profile) -> Params {
        Params {
            sweeps: self.sweeps(profile),
        }
    }
    fn run(&self, ctx: &Context, params: &Params) -> anyhow::Result<Outcome<Results>> {
        // The paper profile's wall time is estimated in quick and paper runs; smoke runs
        // estimate their own (timing the paper's widths would take longer than the run).
        let target = match ctx.profile() {
            Profile::Smoke => (Profile::Smoke, params.sweeps.clone()),
            Profile::Quick | Profile::Paper => (Profile::Paper, self.paper_sweeps()),
        };
        let results = sweep::run_sweeps(ctx, &params.sweeps, (target.0, &target.1))?;
        sweep::outcome(results, &self.claims())
    }
    fn figures(
        &self,
        stored: &Stored<Params, Results>,
        dir: &Path,
    ) -> anyhow::Result<Vec<PathBuf>> {
        sweep::figures(&stored.results, dir)
    }
    fn report(&self, stored: &Stored<Params, Results>) -> ReportSection {
        let sizes = self.profile_note(&stored.params.sweeps);
        let notes = if sizes.is_empty() {
            self.notes().to_string()
        } else {
            format!("{}\n\n{sizes}", self.notes())
        };
        sweep::report(&stored.results, stored.profile, &self.claims(), &notes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_profiles_match_the_spec() {
        let ft = DecayExperiment::ContinuityFt.sweeps(Profile::Paper);
        assert_eq!(ft.len(), 1);
        assert_eq!(
            ft[0].widths,
            vec![50, 211, 372, 533, 694, 855, 1016, 1177, 1338, 1500]
        );
        assert_eq!((ft[0].reps, ft[0].epochs, ft[0].batch_size), (10, 30, 1000));
        assert_eq!(ft[0].nets(), 100);
        assert_eq!(ft[0].regularizers, vec![CONTINUOUS, VARDELTA]);
        assert_eq!(ft[0].var_delta.map(|v| v.repetitions), Some(50_000));
        let wd = DecayExperiment::WeightDecay.sweeps(Profile::Paper);
        assert_eq!(wd[0].widths.last(), Some(&2500));
        assert!(!wd[0].derivatives);
        let b = DecayExperiment::DecayBoston.sweeps(Profile::Paper);
        assert_eq!((b[0].epochs, b[0].reps, b[0].train_rows()), (1000, 5, 404));
        assert_eq!(
            DecayExperiment::WeightDecayContinuity
                .sweeps(Profile::Paper)
                .len(),
            2
        );
    }

    #[test]
    fn no_two_sweeps_share_a_seed() {
        let seeds: Vec<u64> = DecayExperiment::ALL
            .iter()
            .flat_map(|e| e.sweeps(Profile::Paper))
            .map(|s| s.seed)
            .collect();
        let unique: std::collections::BTreeSet<u64> = seeds.iter().copied().collect();
        assert_eq!(unique.len(), seeds.len(), "{seeds:?}");
    }

    #[test]
    fn every_profile_is_consistent() {
        for e in DecayExperiment::ALL {
            for profile in [Profile::Smoke, Profile::Quick, Profile::Paper] {
                let sweeps = e.sweeps(profile);
                assert!(!sweeps.is_empty());
                for s in &sweeps {
                    assert!(s.widths.len() >= 3, "{} {profile}", e.id());
                    assert!(s.widths.windows(2).all(|w| w[0] < w[1]));
                    assert!(s.reps >= 1 && s.epochs >= 1);
                }
                // Every claim names a sweep of the profile and a metric it measures.
                for c in e.claims() {
                    let (sweep, metric) = match c {
                        Claim::Slope { sweep, metric, .. }
                        | Claim::Growth { sweep, metric, .. }
                        | Claim::Level { sweep, metric, .. } => (sweep, metric),
                    };
                    let s = sweeps.iter().find(|s| s.name == sweep).expect("sweep");
                    assert!(Metric::measured(s).contains(&metric), "{}", e.id());
                }
            }
        }
    }
}
