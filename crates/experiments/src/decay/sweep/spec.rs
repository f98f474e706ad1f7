//! What a sweep is: the data sets, the specification of a sweep (widths, networks, epochs,
//! regulariser, what is measured) and the tolerances its claims are judged with.

use ftnn_train::{Regularizer, TrainConfig};
use serde::{Deserialize, Serialize};

/// Rows per chunk when D is accumulated over the training set (bounds the memory of the
/// copies handed to `ftnn_decay`).
pub(crate) const D_CHUNK_ROWS: usize = 4096;
/// Salt of the Monte Carlo seed of Var Δ (distinct from the training seed of the same job).
pub(crate) const VAR_DELTA_SALT: u64 = 0x5641_5244_454c_5441;
/// SPEC §16 modelling tolerance of every log–log slope rule (on top of 2 standard errors of
/// our fit; the paper's standard errors are not published). Fixed before the run, for this
/// reason: [`SLOPE_TOLERANCE_REASON`].
pub(crate) const SLOPE_TOLERANCE: f64 = 0.10;
/// Why [`SLOPE_TOLERANCE`] is what it is.
pub(crate) const SLOPE_TOLERANCE_REASON: &str =
    "another framework's initialisation, data order and float arithmetic move a fitted slope \
     beyond our fit's own standard error; 0.10 is about a third of the half-gap 0.285 between \
     plain training's H slope and the continuous limit's, so the two stay distinguishable";
/// The paper's H slope of plain training (derivative-decay, H_diag and H_all) …
pub(crate) const PLAIN_H_SLOPE: f64 = -1.36;
/// … and the nearest of its continuous-limit H slopes (continuity-ft's H_diag): the contrast
/// the paper draws. An H slope rule decides only while its window 2σ + tolerance is narrower
/// than half of their gap ([`h_contrast_half_gap`]); otherwise one value could reproduce
/// both, and the verdict is *not comparable* (too imprecise).
pub(crate) const LIMIT_H_SLOPE: f64 = -1.93;
/// Half the gap between [`PLAIN_H_SLOPE`] and [`LIMIT_H_SLOPE`] (0.285).
pub(crate) fn h_contrast_half_gap() -> f64 {
    0.5 * (PLAIN_H_SLOPE - LIMIT_H_SLOPE).abs()
}
/// A weight norm "levels off" when its log–log slope over the upper widths ([`upper_from`]) is
/// within this of 0 (the rule's modelling tolerance, plus 2 standard errors of that fit).
///
/// [`upper_from`]: super::upper_from
pub(crate) const LEVEL_SLOPE: f64 = 0.2;
/// A level agrees with the paper's within this factor (log-scale tolerance ln 2): the paper
/// states it as "≈ 1.1e3", read off a plot.
pub(crate) const LEVEL_FACTOR: f64 = 2.0;

/// The data set a sweep trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSet {
    /// MNIST digits, 784 pixels in [0, 1], one-hot targets (10 outputs).
    Mnist,
    /// Fashion-MNIST, as MNIST.
    Fashion,
    /// Boston Housing, the Keras split (404 training rows), the 13 raw (unstandardised)
    /// features as the original (SPEC §15), the raw median value as the single target.
    Boston,
}

impl DataSet {
    /// Human-readable name.
    pub fn label(self) -> &'static str {
        match self {
            Self::Mnist => "MNIST",
            Self::Fashion => "Fashion-MNIST",
            Self::Boston => "Boston Housing",
        }
    }
    /// Inputs per example.
    pub fn n_in(self) -> usize {
        match self {
            Self::Mnist | Self::Fashion => 784,
            Self::Boston => 13,
        }
    }
    /// Outputs of the network.
    pub fn n_out(self) -> usize {
        match self {
            Self::Mnist | Self::Fashion => 10,
            Self::Boston => 1,
        }
    }
    /// Rows of the full training set.
    pub fn full_train_rows(self) -> usize {
        match self {
            Self::Mnist | Self::Fashion => 60_000,
            Self::Boston => 404,
        }
    }
    /// Whether the task is classification (accuracy) rather than regression (MAE).
    pub fn classification(self) -> bool {
        !matches!(self, Self::Boston)
    }
}

/// The Monte Carlo estimate of Var Δ (SPEC §8).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VarDeltaSpec {
    /// Crash probability of every neuron of hidden layer 1.
    pub p: f64,
    /// Crash patterns drawn (SPEC: 50 000).
    pub repetitions: usize,
}

/// One sweep over widths: what to train, how often, and what to measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSpec {
    /// Short name, a plain file name: the jobs are sweep `nets-<name>`, the figures
    /// `<name>_*.png`.
    pub name: String,
    /// The data set.
    pub data: DataSet,
    /// Training examples: the first k of the training set (all when `None`).
    pub train_examples: Option<usize>,
    /// Width of the second hidden layer (100 in every experiment of the paper).
    pub second_hidden: usize,
    /// First-hidden widths n (ascending).
    pub widths: Vec<usize>,
    /// Networks per width.
    pub reps: usize,
    /// Training epochs.
    pub epochs: usize,
    /// Mini-batch size (at least the training rows means full batch).
    pub batch_size: usize,
    /// Regularization terms (none: plain MSE).
    pub regularizers: Vec<Regularizer>,
    /// Whether to measure D and H (the Hessian costs 100·n² per example).
    pub derivatives: bool,
    /// Whether (and how) to measure Var Δ.
    pub var_delta: Option<VarDeltaSpec>,
    /// Base seed of the sweep's networks.
    pub seed: u64,
}

impl SweepSpec {
    /// A sweep of `reps` unregularized networks per width with D, H and the weight norms
    /// measured; seed 0, second hidden layer 100.
    pub fn new(
        name: &str,
        data: DataSet,
        widths: Vec<usize>,
        reps: usize,
        epochs: usize,
        batch_size: usize,
    ) -> Self {
        Self {
            name: name.to_string(),
            data,
            train_examples: None,
            second_hidden: 100,
            widths,
            reps,
            epochs,
            batch_size,
            regularizers: Vec::new(),
            derivatives: true,
            var_delta: None,
            seed: 0,
        }
    }
    /// Trains on the first `k` training examples only.
    pub fn train_examples(mut self, k: usize) -> Self {
        self.train_examples = Some(k);
        self
    }
    /// Adds a regularizer.
    pub fn regularizer(mut self, r: Regularizer) -> Self {
        self.regularizers.push(r);
        self
    }
    /// Measures the weight norms only (no D, no H).
    pub fn norms_only(mut self) -> Self {
        self.derivatives = false;
        self
    }
    /// Also measures Var Δ.
    pub fn with_var_delta(mut self, p: f64, repetitions: usize) -> Self {
        self.var_delta = Some(VarDeltaSpec { p, repetitions });
        self
    }
    /// Sets the base seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Training rows actually used.
    pub fn train_rows(&self) -> usize {
        self.train_examples
            .unwrap_or(usize::MAX)
            .min(self.data.full_train_rows())
    }
    /// Layer sizes of the network of width `n`.
    pub fn sizes(&self, n: usize) -> Vec<usize> {
        vec![self.data.n_in(), n, self.second_hidden, self.data.n_out()]
    }
    /// Optimizer steps per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        let rows = self.train_rows();
        rows.div_ceil(self.batch_size.clamp(1, rows.max(1)))
    }
    /// The training configuration of the network of width `n` with seed `seed` (SPEC §7:
    /// sigmoid, K = 1, the paper's initialisation, MSE, Adam).
    pub fn config(&self, n: usize, seed: u64) -> TrainConfig {
        let mut config = TrainConfig::new(self.sizes(n))
            .epochs(self.epochs)
            .batch_size(self.batch_size)
            .seed(seed);
        for r in &self.regularizers {
            config = config.regularizer(*r);
        }
        config
    }
    /// `MNIST, continuous(ψ_d = 1e-4, ψ_s = 1e-2)`, `Boston Housing, no regularization`.
    pub fn label(&self) -> String {
        let regs = if self.regularizers.is_empty() {
            "no regularization".to_string()
        } else {
            self.regularizers
                .iter()
                .map(regularizer_label)
                .collect::<Vec<_>>()
                .join(" + ")
        };
        format!("{}, {regs}", self.data.label())
    }
    /// `MNIST, continuous + vardelta`: the label of a figure title.
    pub fn short_label(&self) -> String {
        let regs = if self.regularizers.is_empty() {
            "no regularization".to_string()
        } else {
            self.regularizers
                .iter()
                .map(|r| match r {
                    Regularizer::Continuous { .. } => "continuous".to_string(),
                    Regularizer::VarDelta { layer, .. } => format!("vardelta at h{layer}"),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" + ")
        };
        format!("{}, {regs}", self.data.label())
    }
    /// `784-n-100-10, n = 50…1000 (15 widths) × 10, 15 epochs, batch 1000, 60 000 examples`.
    pub fn describe(&self) -> String {
        let (lo, hi) = (
            self.widths.first().copied().unwrap_or(0),
            self.widths.last().copied().unwrap_or(0),
        );
        let batch = if self.batch_size >= self.train_rows() {
            "full batch".to_string()
        } else {
            format!("batch {}", self.batch_size)
        };
        format!(
            "{}-n-{}-{}, n = {lo}…{hi} ({} widths) × {}, {}, {batch}, {} training examples",
            self.data.n_in(),
            self.second_hidden,
            self.data.n_out(),
            self.widths.len(),
            count(self.reps, "net"),
            count(self.epochs, "epoch"),
            self.train_rows()
        )
    }
    /// Networks in the sweep.
    pub fn nets(&self) -> usize {
        self.widths.len() * self.reps
    }
}

/// `1 net`, `10 nets`.
pub(crate) fn count(k: usize, noun: &str) -> String {
    if k == 1 {
        format!("1 {noun}")
    } else {
        format!("{k} {noun}s")
    }
}

/// `continuous(ψ_d = 1e-4, ψ_s = 1e-2)`, `vardelta(λ = 1e-3, p = 0.01 at layer 1)`.
pub(crate) fn regularizer_label(r: &Regularizer) -> String {
    match *r {
        Regularizer::Continuous { psi_d, psi_s } => {
            format!("continuous(ψ_d = {psi_d:e}, ψ_s = {psi_s:e})")
        }
        Regularizer::VarDelta { lambda, p, layer } => {
            format!("vardelta(λ = {lambda:e}, p = {p} at hidden layer {layer})")
        }
        other => other.to_string(),
    }
}
