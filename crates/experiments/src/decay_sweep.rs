//! The width-sweep engine behind the continuity and decay experiments (SPEC §8, §10): train
//! many `n_0 → n → h → n_L` sigmoid networks over a range of first-hidden widths n, measure
//! each one, and fit how every measurement scales with n on log–log axes.
//!
//! An experiment is a list of [`SweepSpec`]s (usually one; `weight-decay-continuity` has one
//! for MNIST and one for Fashion-MNIST) and a list of the paper's numbers ([`Claim`]s); the
//! six experiments in [`crate::decay_experiments`] are nothing more. For each sweep the engine
//! 1. runs one job per (width n, repetition r) through [`Context::jobs`] (sweep
//!    `nets-<name>`, key `w<n>-r<r>`): each job trains one network with its own seed — derived
//!    from the sweep's seed, n and r only ([`net_seed`]), never from earlier jobs — and returns
//!    a [`NetRecord`]; jobs are stored one by one, so a run resumes job by job and shards with
//!    `--shard i/k`;
//! 2. measures every trained network (SPEC §8, with y = y_1 the first hidden layer and the
//!    per-sample loss Keras' MSE, [`ftnn_decay::Loss::Mse`]):
//!    * `D` = mean over **all training examples of the sweep** of mean_i |∂L/∂y_i|;
//!    * `H_diag`, `H_all` = mean_i |H_ii|, mean_ij |H_ij| of H = ∂²L/∂y², over the first 10
//!      training examples;
//!    * `W_l` = ‖W_l‖_∞ (max row sum of |W_l|, W_l of shape [n_l, n_{l−1}]) for l = 1, 2, 3 and
//!      `W_prod` = W_1 W_2 W_3;
//!    * `var_delta` (when asked for) = mean over outputs of the Monte Carlo Var Δ at the first
//!      training example, with crashes p at hidden layer 1;
//!    * the test accuracy (classification) or MAE (regression), and the seconds spent training
//!      and measuring;
//! 3. fits log(metric) = a·log(n) + c by least squares with a free slope over the per-width
//!    mean of log(metric) ([`fit_loglog`]; the band of the figures is that mean ± 1 sd over the
//!    repetitions), for D, H_diag, H_all, var_delta, every W_l and W_prod; the weight norms are
//!    also fitted over the upper widths alone ([`upper_from`]: the upper half, at least the
//!    last three), to tell "levels off" from "grows";
//! 4. estimates the wall time of the experiment's `paper` profile on this machine
//!    ([`ProfileEstimate`]): a few of its training steps are timed at each of its widths with
//!    its batch size and regularizers (`calibrate`; a step's cost depends on the width, the
//!    batch and the regularizers, not on the profile's epochs or examples), multiplied by its
//!    epochs and steps per epoch, plus the measuring seconds of the networks just run fitted
//!    linearly in n ([`MeasureTiming`]).
//!
//! The report compares each of our slopes with the paper's ([`Claim::Slope`]: distance in
//! slope units and in standard errors; reproduced when within max(15 % of the paper's value,
//! 0.10)), the growth of a weight norm between two widths ([`Claim::Growth`], compared through
//! the log–log slope it implies) and the level a weight norm settles at ([`Claim::Level`]).
//!
//! **Which weight matrix is the paper's `W_1`.** The original's `W_inf_norm` names the norms
//! `W_0, W_1, …` from 0; its `W_1` — which "grows 12.8 → 82.6" — is therefore the *second*
//! matrix, `n → 100`, whose rows sum over the n inputs. We number layers from 1 (SPEC §8), so
//! the paper's `W_1` is our `W_2`; claims say so.
//!
//! **Hessian convention.** The original takes the Hessian of the loss *averaged* over its 10
//! examples and averages the 10 diagonal blocks before the absolute value; we (the
//! `ftnn_decay` crate) average |H| of each example's own Hessian. The two differ by a constant
//! factor (1/10) and by where the absolute value is taken, which moves the level, not the
//! slope.

use crate::error_comparison_boston::BostonData;
use crate::fit::{fit_loglog, LogLogFit, StoredFit};
use crate::mnist_training::job_seed;
use crate::plot::{self, signed, Axes, FitLine, LogLogSeries, Series};
use crate::report::{PaperRow, ReportSection, Verdict};
use crate::runner::{Context, Csv, Outcome, ResultsFile};
use crate::Profile;
use anyhow::Context as _;
use ftnn_data::{load_mnist, DataDir, ImageSet, Split};
use ftnn_decay::{
    hessian_stats, mean_abs_gradient, var_delta, weight_norms, Loss, HESSIAN_SAMPLES,
};
use ftnn_model::{Inputs, Mlp};
use ftnn_train::{evaluate, Dataset, LossKind, Metrics, Regularizer, TrainConfig, Trainer};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

/// Rows per chunk when D is accumulated over the training set (bounds the memory of the
/// copies handed to `ftnn_decay`).
const D_CHUNK_ROWS: usize = 4096;
/// Salt of the Monte Carlo seed of Var Δ (distinct from the training seed of the same job).
const VAR_DELTA_SALT: u64 = 0x5641_5244_454c_5441;
/// A slope agrees with the paper's when within this fraction of the paper's value …
const SLOPE_REL_TOL: f64 = 0.15;
/// … or within this absolute distance, whichever is larger.
const SLOPE_ABS_TOL: f64 = 0.10;
/// A slope is "at the continuous limit" when within this fraction of it (D: ±0.1, H: ±0.2).
const LIMIT_REL_TOL: f64 = 0.1;
/// A weight norm "levels off" when its log–log slope over the upper widths ([`upper_from`]) is
/// at most this in absolute value.
const LEVEL_SLOPE: f64 = 0.2;
/// A level agrees with the paper's when within this factor.
const LEVEL_FACTOR: f64 = 2.0;

/// The data set a sweep trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSet {
    /// MNIST digits, 784 pixels in [0, 1], one-hot targets (10 outputs).
    Mnist,
    /// Fashion-MNIST, as MNIST.
    Fashion,
    /// Boston Housing, the Keras split (404 training rows), 13 features standardised with the
    /// training rows' mean and population sd, the raw median value as the single target.
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
                    Regularizer::VarDelta { .. } => "vardelta".to_string(),
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
fn count(k: usize, noun: &str) -> String {
    if k == 1 {
        format!("1 {noun}")
    } else {
        format!("{k} {noun}s")
    }
}

/// `continuous(ψ_d = 1e-4, ψ_s = 1e-2)`, `vardelta(λ = 1e-3, p = 0.01 at layer 1)`.
fn regularizer_label(r: &Regularizer) -> String {
    match *r {
        Regularizer::Continuous { psi_d, psi_s } => {
            format!("continuous(ψ_d = {psi_d:e}, ψ_s = {psi_s:e})")
        }
        Regularizer::VarDelta { lambda, p, layer } => {
            format!("vardelta(λ = {lambda:e}, p = {p} at layer {layer})")
        }
        other => other.to_string(),
    }
}

/// `n` widths evenly spaced from `a` to `b`, truncated to integers as the original does
/// (`[int(t) for t in np.linspace(a, b, n)]`).
pub fn int_linspace(a: usize, b: usize, n: usize) -> Vec<usize> {
    crate::mnist_training::linspace(a as f64, b as f64, n)
        .into_iter()
        // The tiny margin keeps an exact integer computed as k − ε from truncating to k − 1.
        .map(|t| (t + 1e-9).floor() as usize)
        .collect()
}

/// What one trained network measured (one job).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetRecord {
    /// First-hidden width n.
    pub width: usize,
    /// Repetition index at this width.
    pub rep: usize,
    /// Seed of its training (initialisation, data order).
    pub seed: u64,
    /// D = mean over training examples of mean_i |∂L/∂y_{1,i}|.
    pub d: Option<f64>,
    /// H_diag = mean_i |H_ii| over the first 10 training examples.
    pub h_diag: Option<f64>,
    /// H_all = mean_ij |H_ij| over the first 10 training examples.
    pub h_all: Option<f64>,
    /// ‖W_l‖_∞ for l = 1, 2, 3.
    pub w: Vec<f64>,
    /// Π_l ‖W_l‖_∞.
    pub w_prod: f64,
    /// Mean over outputs of the Monte Carlo Var Δ at the first training example.
    pub var_delta: Option<f64>,
    /// Metrics of the trained network on the test set (accuracy, MAE, MSE).
    pub test: Metrics,
    /// Mean objective (loss + regularization) of the last epoch.
    pub final_objective: f64,
    /// Seconds of training (all epochs).
    pub train_seconds: f64,
    /// Seconds computing D.
    pub derivative_seconds: f64,
    /// Seconds estimating Var Δ.
    pub var_delta_seconds: f64,
    /// Seconds of the rest: Hessian, norms, test evaluation.
    pub other_seconds: f64,
}

/// A metric fitted against width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// D.
    D,
    /// H_diag.
    HDiag,
    /// H_all.
    HAll,
    /// Var Δ.
    VarDelta,
    /// ‖W_l‖_∞, l from 1.
    W(usize),
    /// Π_l ‖W_l‖_∞.
    WProd,
}

impl Metric {
    /// Key in the stored fits and the CSV: `D`, `H_diag`, `H_all`, `var_delta`, `W_1`, `W_prod`.
    pub fn key(self) -> String {
        match self {
            Self::D => "D".into(),
            Self::HDiag => "H_diag".into(),
            Self::HAll => "H_all".into(),
            Self::VarDelta => "var_delta".into(),
            Self::W(l) => format!("W_{l}"),
            Self::WProd => "W_prod".into(),
        }
    }
    /// Legend / table label.
    pub fn label(self) -> String {
        match self {
            Self::D => "D = mean |∂L/∂y₁|".into(),
            Self::HDiag => "H_diag = mean |H_ii|".into(),
            Self::HAll => "H_all = mean |H_ij|".into(),
            Self::VarDelta => "Var Δ".into(),
            Self::W(l) => format!("‖W_{l}‖_∞"),
            Self::WProd => "W_prod = Π ‖W_l‖_∞".into(),
        }
    }
    /// Its value for one network.
    pub fn value(self, net: &NetRecord) -> Option<f64> {
        match self {
            Self::D => net.d,
            Self::HDiag => net.h_diag,
            Self::HAll => net.h_all,
            Self::VarDelta => net.var_delta,
            Self::W(l) => l.checked_sub(1).and_then(|i| net.w.get(i).copied()),
            Self::WProd => Some(net.w_prod),
        }
    }
    /// The slope of the continuous limit (SPEC §8): D −1, H −2, Var Δ −1.
    pub fn limit_slope(self) -> Option<f64> {
        match self {
            Self::D | Self::VarDelta => Some(-1.0),
            Self::HDiag | Self::HAll => Some(-2.0),
            Self::W(_) | Self::WProd => None,
        }
    }
    /// Whether this is a weight norm (also fitted over the upper widths).
    fn is_norm(self) -> bool {
        matches!(self, Self::W(_) | Self::WProd)
    }
    /// The metrics measured by `spec`.
    pub fn measured(spec: &SweepSpec) -> Vec<Metric> {
        let mut out = Vec::new();
        if spec.derivatives {
            out.extend([Self::D, Self::HDiag, Self::HAll]);
        }
        if spec.var_delta.is_some() {
            out.push(Self::VarDelta);
        }
        out.extend([Self::W(1), Self::W(2), Self::W(3), Self::WProd]);
        out
    }
}

/// A fit of one metric: over all widths and (weight norms) over the upper widths.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricFit<F> {
    /// [`Metric::key`].
    pub metric: String,
    /// Over every width.
    pub fit: F,
    /// Over the upper widths, [`upper_from`] on (weight norms only).
    pub upper: Option<F>,
}

/// Least squares y = intercept + slope·x.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    /// Value at x = 0.
    pub intercept: f64,
    /// Change per unit of x.
    pub slope: f64,
}

impl Linear {
    /// The least-squares line through the points (a constant when all x are equal, 0 with no
    /// points).
    pub fn fit(points: &[(f64, f64)]) -> Self {
        let k = points.len() as f64;
        if points.is_empty() {
            return Self {
                intercept: 0.0,
                slope: 0.0,
            };
        }
        let mx = points.iter().map(|p| p.0).sum::<f64>() / k;
        let my = points.iter().map(|p| p.1).sum::<f64>() / k;
        let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        Self {
            intercept: my - slope * mx,
            slope,
        }
    }
    /// The value at `x`, never negative (a time).
    pub fn at(&self, x: f64) -> f64 {
        (self.intercept + self.slope * x).max(0.0)
    }
}

/// Seconds of the measurements (everything but training) as linear functions of the width n,
/// for extrapolating to another profile. They are a small part of a network's time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeasureTiming {
    /// Seconds of D per 1000 training examples (zero when not measured).
    pub derivative_per_kilorow: Linear,
    /// Seconds of Var Δ per 1000 crash patterns (zero when not measured).
    pub var_delta_per_kilorep: Linear,
    /// Seconds of the rest per network (Hessian, norms, test evaluation).
    pub other_per_net: Linear,
}

impl MeasureTiming {
    /// Fits the model to the networks of `spec`.
    fn fit(spec: &SweepSpec, nets: &[NetRecord]) -> Self {
        let kilorows = spec.train_rows() as f64 / 1000.0;
        let line = |f: &dyn Fn(&NetRecord) -> f64| {
            Linear::fit(
                &nets
                    .iter()
                    .map(|r| (r.width as f64, f(r)))
                    .collect::<Vec<_>>(),
            )
        };
        let kilorep = spec
            .var_delta
            .map_or(1.0, |v| v.repetitions as f64 / 1000.0);
        Self {
            derivative_per_kilorow: line(&|r| r.derivative_seconds / kilorows),
            var_delta_per_kilorep: line(&|r| r.var_delta_seconds / kilorep),
            other_per_net: line(&|r| r.other_seconds),
        }
    }
    /// Predicted measuring seconds of one network of width `n` under `spec`.
    pub fn seconds(&self, spec: &SweepSpec, n: usize) -> f64 {
        let n = n as f64;
        let mut s = self.other_per_net.at(n);
        if spec.derivatives {
            s += spec.train_rows() as f64 / 1000.0 * self.derivative_per_kilorow.at(n);
        }
        if let Some(v) = spec.var_delta {
            s += v.repetitions as f64 / 1000.0 * self.var_delta_per_kilorep.at(n);
        }
        s
    }
}

/// The seconds of one training step at one width, measured (after a warm-up epoch) on
/// [`CALIBRATION_BATCHES`] mini-batches of a target sweep's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepTime {
    /// First-hidden width n.
    pub width: usize,
    /// Seconds per step (forward, backward, regularizers, Adam update).
    pub seconds: f64,
}

/// The results of one sweep, generic over the stored form of a fit (`LogLogFit` when written,
/// [`StoredFit`] when read back, where NaN became `null`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepResult<F> {
    /// The sweep.
    pub spec: SweepSpec,
    /// Every network, width-major.
    pub nets: Vec<NetRecord>,
    /// One fit per measured metric.
    pub fits: Vec<MetricFit<F>>,
    /// Measuring seconds as functions of n.
    pub timing: MeasureTiming,
}

impl<F> SweepResult<F> {
    /// The fit of `metric`, if measured.
    pub fn fit(&self, metric: Metric) -> Option<&MetricFit<F>> {
        let key = metric.key();
        self.fits.iter().find(|f| f.metric == key)
    }
    /// Per width (ascending, as in the spec): the values of `metric` over the repetitions.
    pub fn values(&self, metric: Metric) -> Vec<Vec<f64>> {
        self.spec
            .widths
            .iter()
            .map(|&n| {
                self.nets
                    .iter()
                    .filter(|r| r.width == n)
                    .filter_map(|r| metric.value(r))
                    .collect()
            })
            .collect()
    }
    /// The geometric mean of `metric` at width index `w`.
    fn geo_mean(&self, metric: Metric, w: usize) -> f64 {
        geo_mean(&self.values(metric)[w])
    }
}

/// exp(mean log) of the positive values (NaN if none).
fn geo_mean(v: &[f64]) -> f64 {
    let logs: Vec<f64> = v.iter().filter(|&&x| x > 0.0).map(|x| x.ln()).collect();
    if logs.is_empty() {
        return f64::NAN;
    }
    (logs.iter().sum::<f64>() / logs.len() as f64).exp()
}

/// The estimated wall time of a profile (the paper's, or the smoke profile's own in smoke
/// runs) on this machine: its training steps timed at its own widths and batch size
/// ([`StepTime`]), plus the measuring seconds of the networks just run, fitted linearly in n
/// ([`MeasureTiming`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileEstimate {
    /// The profile estimated.
    pub profile: Profile,
    /// Estimated seconds in all.
    pub seconds: f64,
    /// Networks of that profile.
    pub nets: usize,
    /// Per sweep.
    pub sweeps: Vec<SweepEstimate>,
    /// Threads available to this run.
    pub threads: usize,
}

/// The estimated wall time of one sweep of another profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepEstimate {
    /// Sweep name.
    pub name: String,
    /// [`SweepSpec::describe`] of the sweep estimated.
    pub description: String,
    /// Its mini-batch size (the one its steps were timed with).
    pub batch_size: usize,
    /// Seconds per training step at each of its widths.
    pub step_times: Vec<StepTime>,
    /// Estimated seconds of training, all networks.
    pub train_seconds: f64,
    /// Estimated seconds in all.
    pub seconds: f64,
}

/// Everything an experiment stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results<F> {
    /// One per sweep.
    pub sweeps: Vec<SweepResult<F>>,
    /// Estimated wall time of the target profile (the paper's).
    pub estimate: Option<ProfileEstimate>,
}

/// One of the paper's numbers for an experiment.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The log–log slope of `metric` in sweep `sweep` is `paper`.
    Slope {
        /// Sweep name.
        sweep: &'static str,
        /// The metric.
        metric: Metric,
        /// The paper's slope.
        paper: f64,
    },
    /// `metric` grows from `from` at n = `n_from` to `to` at n = `n_to`: compared through the
    /// log–log slope this implies.
    Growth {
        /// Sweep name.
        sweep: &'static str,
        /// The metric (ours).
        metric: Metric,
        /// How the paper names it.
        paper_name: &'static str,
        /// The paper's value at the smallest width.
        from: f64,
        /// The paper's value at the largest width.
        to: f64,
        /// Smallest width of the paper.
        n_from: f64,
        /// Largest width of the paper.
        n_to: f64,
    },
    /// `metric` levels off at about `level` over the large widths.
    Level {
        /// Sweep name.
        sweep: &'static str,
        /// The metric.
        metric: Metric,
        /// The paper's level.
        level: f64,
    },
}

/// MNIST / Fashion-MNIST / Boston as a sweep uses them, loaded at most once per run and only
/// when a job has to be computed.
struct LazyData {
    spec: SweepSpec,
    cell: OnceLock<SweepData>,
}

/// The training and test sets of a sweep.
struct SweepData {
    train: Dataset,
    test: Dataset,
}

impl LazyData {
    fn new(spec: &SweepSpec) -> Self {
        Self {
            spec: spec.clone(),
            cell: OnceLock::new(),
        }
    }
    fn get(&self) -> anyhow::Result<&SweepData> {
        if let Some(d) = self.cell.get() {
            return Ok(d);
        }
        let data = load_data(&self.spec)?;
        Ok(self.cell.get_or_init(|| data))
    }
}

/// Loads the data of `spec` (checksums verified), cut to its training examples.
fn load_data(spec: &SweepSpec) -> anyhow::Result<SweepData> {
    let rows = spec.train_rows();
    anyhow::ensure!(
        rows >= 1,
        "the sweep `{}` has no training examples",
        spec.name
    );
    let (train, test) = match spec.data {
        DataSet::Boston => {
            let b = BostonData::load(true)?;
            (b.train, b.test)
        }
        DataSet::Mnist | DataSet::Fashion => {
            let set = if spec.data == DataSet::Mnist {
                ImageSet::Mnist
            } else {
                ImageSet::FashionMnist
            };
            let dir = DataDir::locate()
                .with_context(|| format!("locating the data directory for {}", set.name()))?;
            let train = load_mnist(&dir, set, Split::Train)?;
            let test = load_mnist(&dir, set, Split::Test)?;
            (Dataset::from_images(&train)?, Dataset::from_images(&test)?)
        }
    };
    let train = if rows < train.rows() {
        train.subset(0..rows)?
    } else {
        train
    };
    anyhow::ensure!(
        !spec.derivatives || train.rows() >= HESSIAN_SAMPLES,
        "the Hessian needs at least {HESSIAN_SAMPLES} training examples, the sweep `{}` has {}",
        spec.name,
        train.rows()
    );
    Ok(SweepData { train, test })
}

/// The seed of network `rep` of width `n` in a sweep seeded `sweep_seed`: distinct for every
/// (n, rep) of a sweep, unrelated across sweep seeds, the same in every run and shard.
pub fn net_seed(sweep_seed: u64, n: usize, rep: usize) -> u64 {
    // Spreads the sweep seeds apart (odd multiplier: a bijection) so that they do not collide
    // with the n·2³² + rep offsets of `job_seed`.
    job_seed(sweep_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), n, rep)
}

/// Trains the network of width `n`, repetition `rep` and measures it.
fn train_and_measure(
    ctx: &Context,
    spec: &SweepSpec,
    data: &SweepData,
    n: usize,
    rep: usize,
) -> anyhow::Result<NetRecord> {
    let seed = net_seed(spec.seed, n, rep);
    let config = spec.config(n, seed);
    let bar = ctx.progress(
        spec.epochs as u64,
        &format!("{}: n = {n}, net {rep}", spec.name),
    );
    let start = Instant::now();
    let mut trainer = Trainer::new(config)?;
    let history = trainer.fit(&data.train, None, &mut |b| {
        if b.batch == b.batches {
            bar.inc(1);
        }
    })?;
    let train_seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let net = trainer.model()?;
    let final_objective = history.epochs.last().map_or(f64::NAN, |e| e.objective);

    let start = Instant::now();
    let d = if spec.derivatives {
        Some(derivative(&net, &data.train)?)
    } else {
        None
    };
    let derivative_seconds = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let var = match spec.var_delta {
        Some(v) => Some(var_delta(
            &net,
            data.train.input(0),
            v.p,
            1,
            v.repetitions,
            seed ^ VAR_DELTA_SALT,
        )?),
        None => None,
    };
    let var_delta_seconds = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let (h_diag, h_all) = if spec.derivatives {
        let k = HESSIAN_SAMPLES;
        let n_in = data.train.n_in();
        let x = Inputs::new(data.train.x()[..k * n_in].to_vec(), k, n_in)?;
        let t = &data.train.targets()[..k * data.train.n_out()];
        let h = hessian_stats(&net, &x, t, k)?;
        (Some(h.diag), Some(h.all))
    } else {
        (None, None)
    };
    let norms = weight_norms(&net);
    let test = evaluate(&net, &data.test, LossKind::Mse)?;
    let other_seconds = start.elapsed().as_secs_f64();
    Ok(NetRecord {
        width: n,
        rep,
        seed,
        d,
        h_diag,
        h_all,
        w: norms.per_layer,
        w_prod: norms.product,
        var_delta: var,
        test,
        final_objective,
        train_seconds,
        derivative_seconds,
        var_delta_seconds,
        other_seconds,
    })
}

/// D over every row of `data`, in chunks of [`D_CHUNK_ROWS`].
fn derivative(net: &Mlp, data: &Dataset) -> anyhow::Result<f64> {
    let (n_in, n_out) = (data.n_in(), data.n_out());
    let mut sum = 0.0;
    for start in (0..data.rows()).step_by(D_CHUNK_ROWS) {
        let end = (start + D_CHUNK_ROWS).min(data.rows());
        let x = Inputs::new(
            data.x()[start * n_in..end * n_in].to_vec(),
            end - start,
            n_in,
        )?;
        let t = &data.targets()[start * n_out..end * n_out];
        sum += mean_abs_gradient(net, &x, t, Loss::Mse)?
            .iter()
            .sum::<f64>();
    }
    Ok(sum / data.rows() as f64)
}

/// Runs every sweep of `specs` (each through its own [`Context::jobs`]), fits, and estimates
/// the wall time of the `target` profile's sweeps (matched by name; usually the paper's) by
/// timing a few of their training steps at each of their widths (`calibrate`, stored as the
/// step `calibration-<name>`). The jobs and the calibration of every sweep are attempted
/// before an error is returned, so that a shard computes its part of each and stores every
/// calibration a later merge needs.
pub fn run_sweeps(
    ctx: &Context,
    specs: &[SweepSpec],
    (target_profile, target): (Profile, &[SweepSpec]),
) -> anyhow::Result<Results<LogLogFit>> {
    let mut done = Vec::new();
    let mut first_err = None;
    for spec in specs {
        let data = LazyData::new(spec);
        let nets = run_jobs(ctx, spec, &data);
        let calibration = target
            .iter()
            .find(|t| t.name == spec.name)
            .map(|t| {
                ctx.step(&format!("calibration-{}", spec.name), || {
                    calibrate(t, data.get()?)
                })
            })
            .transpose();
        match (nets, calibration) {
            (Ok(nets), Ok(cal)) => done.push((summarise(spec, nets), cal)),
            (Err(e), _) | (_, Err(e)) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let estimate = estimate(&done, target_profile, target);
    Ok(Results {
        sweeps: done.into_iter().map(|(s, _)| s).collect(),
        estimate,
    })
}

/// The jobs of one sweep: one trained and measured network per (width, repetition).
fn run_jobs(ctx: &Context, spec: &SweepSpec, data: &LazyData) -> anyhow::Result<Vec<NetRecord>> {
    anyhow::ensure!(
        spec.widths.len() >= 2 && spec.reps >= 1,
        "the sweep `{}` needs at least two widths and one network per width",
        spec.name
    );
    let jobs: Vec<(usize, usize)> = spec
        .widths
        .iter()
        .flat_map(|&n| (0..spec.reps).map(move |r| (n, r)))
        .collect();
    let keys: Vec<String> = jobs.iter().map(|(n, r)| format!("w{n}-r{r}")).collect();
    ctx.jobs(&format!("nets-{}", spec.name), &keys, |i, _| {
        let (n, r) = jobs[i];
        train_and_measure(ctx, spec, data.get()?, n, r)
    })
}

/// Mini-batches timed per width by `calibrate` (after as many for warming up).
pub const CALIBRATION_BATCHES: usize = 3;

/// Seconds per training step of `target`'s networks at each of its widths: one epoch over
/// the first [`CALIBRATION_BATCHES`] mini-batches of `data` warms up, a second is timed.
/// The networks are those of `target` (sizes, regularizers, batch size, seed of repetition 0);
/// the data are the sweep's own training set, which has the same inputs and targets.
fn calibrate(target: &SweepSpec, data: &SweepData) -> anyhow::Result<Vec<StepTime>> {
    let rows = (CALIBRATION_BATCHES * target.batch_size).min(data.train.rows());
    let subset = data.train.subset(0..rows)?;
    let steps = rows.div_ceil(target.batch_size.min(rows));
    target
        .widths
        .iter()
        .map(|&n| {
            let mut trainer = Trainer::new(target.config(n, net_seed(target.seed, n, 0)))?;
            trainer.epoch(&subset, None, &mut |_| {})?;
            let start = Instant::now();
            trainer.epoch(&subset, None, &mut |_| {})?;
            Ok(StepTime {
                width: n,
                seconds: start.elapsed().as_secs_f64() / steps as f64,
            })
        })
        .collect()
}

/// First index of the "upper" widths over which a weight norm's levelling off is judged: the
/// upper half, but at least the last three widths (all of them if fewer).
pub fn upper_from(widths: usize) -> usize {
    (widths / 2).min(widths.saturating_sub(3))
}

/// Fits every measured metric and the measuring seconds.
fn summarise(spec: &SweepSpec, nets: Vec<NetRecord>) -> SweepResult<LogLogFit> {
    let timing = MeasureTiming::fit(spec, &nets);
    let mut result = SweepResult {
        spec: spec.clone(),
        nets,
        fits: Vec::new(),
        timing,
    };
    let widths: Vec<f64> = spec.widths.iter().map(|&n| n as f64).collect();
    let from = upper_from(widths.len());
    for metric in Metric::measured(spec) {
        let values = result.values(metric);
        let fit = fit_loglog(&widths, &values);
        let upper = metric
            .is_norm()
            .then(|| fit_loglog(&widths[from..], &values[from..]));
        result.fits.push(MetricFit {
            metric: metric.key(),
            fit,
            upper,
        });
    }
    result
}

/// The wall time of the `target` sweeps: their epochs × steps per epoch × the timed seconds
/// per step at each width, plus the measuring seconds of the matching sweep just run;
/// `None` if a target sweep has no calibrated counterpart.
fn estimate(
    done: &[(SweepResult<LogLogFit>, Option<Vec<StepTime>>)],
    profile: Profile,
    target: &[SweepSpec],
) -> Option<ProfileEstimate> {
    let mut parts = Vec::new();
    for t in target {
        let (measured, steps) = done.iter().find(|(s, _)| s.spec.name == t.name)?;
        let steps = steps.as_ref()?;
        let per_net_steps = (t.epochs * t.steps_per_epoch()) as f64;
        let mut train_seconds = 0.0;
        let mut seconds = 0.0;
        for &n in &t.widths {
            let step = steps.iter().find(|s| s.width == n)?.seconds;
            let train = t.reps as f64 * per_net_steps * step;
            train_seconds += train;
            seconds += train + t.reps as f64 * measured.timing.seconds(t, n);
        }
        parts.push(SweepEstimate {
            name: t.name.clone(),
            description: t.describe(),
            batch_size: t.batch_size,
            step_times: steps.clone(),
            train_seconds,
            seconds,
        });
    }
    Some(ProfileEstimate {
        profile,
        seconds: parts.iter().map(|p| p.seconds).sum(),
        nets: target.iter().map(SweepSpec::nets).sum(),
        sweeps: parts,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
    })
}

/// `12 s`, `4.2 min`, `3.1 h`.
pub fn fmt_duration(s: f64) -> String {
    if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 5400.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// How a slope compares with the continuous limit of its metric (SPEC §8).
/// "At" the limit means within [`LIMIT_REL_TOL`] of it, tighter than the comparison with the
/// paper: the paper's unregularized D slope (−0.86) is 0.14 from −1 and counts as "above".
fn limit_phrase(metric: Metric, slope: f64) -> String {
    let Some(e) = metric.limit_slope() else {
        return String::new();
    };
    if !slope.is_finite() {
        "no slope".into()
    } else if (slope - e).abs() <= LIMIT_REL_TOL * e.abs() {
        format!("at the continuous limit's {}", signed(e, 0))
    } else if slope > e {
        format!("shallower than the continuous limit's {}", signed(e, 0))
    } else {
        format!("steeper than the continuous limit's {}", signed(e, 0))
    }
}

/// The tolerance of a slope comparison against `reference`.
fn slope_tolerance(reference: f64) -> f64 {
    (SLOPE_REL_TOL * reference.abs()).max(SLOPE_ABS_TOL)
}

/// The outcome of an experiment: results, CSV tables and a conclusion that sets each sweep's
/// slopes beside the paper's and the continuous limit, and states the paper profile's
/// estimated time.
pub fn outcome(results: Results<LogLogFit>, claims: &[Claim]) -> anyhow::Result<Outcome> {
    let mut nets_rows = Vec::new();
    let mut fit_rows = Vec::new();
    let mut sentences = Vec::new();
    for s in &results.sweeps {
        for r in &s.nets {
            let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6e}"));
            let mut row = vec![
                s.spec.name.clone(),
                r.width.to_string(),
                r.rep.to_string(),
                r.seed.to_string(),
                opt(r.d),
                opt(r.h_diag),
                opt(r.h_all),
                opt(r.var_delta),
            ];
            row.extend((0..3).map(|l| opt(r.w.get(l).copied())));
            row.extend([
                format!("{:.6e}", r.w_prod),
                opt(r.test.accuracy),
                format!("{:.6}", r.test.mae),
                format!("{:.6}", r.final_objective),
                format!("{:.3}", r.train_seconds),
                format!(
                    "{:.3}",
                    r.derivative_seconds + r.var_delta_seconds + r.other_seconds
                ),
            ]);
            nets_rows.push(row);
        }
        for f in &s.fits {
            let paper = claims
                .iter()
                .find_map(|c| match c {
                    Claim::Slope {
                        sweep,
                        metric,
                        paper,
                    } if *sweep == s.spec.name && metric.key() == f.metric => Some(*paper),
                    _ => None,
                })
                .map_or(String::new(), |p| format!("{p}"));
            fit_rows.push(vec![
                s.spec.name.clone(),
                f.metric.clone(),
                format!("{:.4}", f.fit.slope),
                format!("{:.4}", f.fit.slope_stderr),
                format!("{:.4}", f.fit.intercept),
                f.upper
                    .as_ref()
                    .map_or(String::new(), |u| format!("{:.4}", u.slope)),
                paper,
            ]);
        }
        sentences.push(sweep_sentence(s, claims));
    }
    if let Some(e) = &results.estimate {
        sentences.push(format!(
            "The {} profile ({} networks) would take about {} on this machine ({} threads): its \
             training steps timed at each of its widths, times its epochs and steps per epoch, \
             plus the measured seconds of measuring.",
            e.profile,
            e.nets,
            fmt_duration(e.seconds),
            e.threads
        ));
    }
    let mut header = vec![
        "sweep",
        "width",
        "rep",
        "seed",
        "D",
        "H_diag",
        "H_all",
        "var_delta",
    ];
    header.extend([
        "W_1",
        "W_2",
        "W_3",
        "W_prod",
        "test_accuracy",
        "test_mae",
        "final_objective",
        "train_seconds",
        "measure_seconds",
    ]);
    Ok(Outcome {
        results: serde_json::to_value(&results).context("serialising the results")?,
        conclusion: sentences.join(" "),
        tables: vec![
            Csv {
                name: "nets.csv".into(),
                header,
                rows: nets_rows,
            },
            Csv {
                name: "fits.csv".into(),
                header: vec![
                    "sweep",
                    "metric",
                    "slope",
                    "slope_stderr",
                    "intercept",
                    "upper_widths_slope",
                    "paper_slope",
                ],
                rows: fit_rows,
            },
        ],
    })
}

/// One sweep in a few sentences: slopes (ours, the paper's, the continuous limit), the weight
/// norms from the smallest to the largest width, the test score and the time.
fn sweep_sentence(s: &SweepResult<LogLogFit>, claims: &[Claim]) -> String {
    let last = s.spec.widths.len() - 1;
    let mut parts = Vec::new();
    for metric in [Metric::D, Metric::HDiag, Metric::HAll, Metric::VarDelta] {
        let Some(f) = s.fit(metric) else { continue };
        let paper = claims.iter().find_map(|c| match c {
            Claim::Slope {
                sweep,
                metric: m,
                paper,
            } if *sweep == s.spec.name && *m == metric => Some(*paper),
            _ => None,
        });
        let paper = paper.map_or(String::new(), |p| format!(", paper {}", signed(p, 2)));
        parts.push(format!(
            "{} slope {} ± {:.2}{paper} ({})",
            metric.key(),
            signed(f.fit.slope, 2),
            f.fit.slope_stderr,
            limit_phrase(metric, f.fit.slope)
        ));
    }
    let from = upper_from(s.spec.widths.len());
    for metric in [Metric::W(1), Metric::W(2), Metric::WProd] {
        let Some(f) = s.fit(metric) else { continue };
        let upper = match f.upper.as_ref().map(|u| u.slope) {
            Some(u) if u.abs() <= LEVEL_SLOPE => format!(
                "; {} over n ≥ {}: levels off",
                signed(u, 2),
                s.spec.widths[from]
            ),
            Some(u) if u > 0.0 => format!(
                "; {} over n ≥ {}: still grows",
                signed(u, 2),
                s.spec.widths[from]
            ),
            Some(u) => format!(
                "; {} over n ≥ {}: falls there",
                signed(u, 2),
                s.spec.widths[from]
            ),
            None => String::new(),
        };
        parts.push(format!(
            "{} {} → {} (slope {}{upper})",
            metric.key(),
            plot::fmt_value(s.geo_mean(metric, 0)),
            plot::fmt_value(s.geo_mean(metric, last)),
            signed(f.fit.slope, 2),
        ));
    }
    let score = if s.spec.data.classification() {
        let acc: Vec<f64> = s.nets.iter().filter_map(|r| r.test.accuracy).collect();
        format!(
            "test accuracy {:.3}–{:.3}",
            acc.iter().copied().fold(f64::INFINITY, f64::min),
            acc.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        )
    } else {
        let mae: Vec<f64> = s.nets.iter().map(|r| r.test.mae).collect();
        format!(
            "test MAE {:.2}–{:.2}",
            mae.iter().copied().fold(f64::INFINITY, f64::min),
            mae.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        )
    };
    let seconds: f64 = s
        .nets
        .iter()
        .map(|r| r.train_seconds + r.derivative_seconds + r.var_delta_seconds + r.other_seconds)
        .sum();
    format!(
        "{} ({}): {}; {score}; {} of training and measuring.",
        s.spec.label(),
        s.spec.describe(),
        parts.join("; "),
        fmt_duration(seconds)
    )
}

/// Reads the stored results.
fn stored(file: &ResultsFile) -> anyhow::Result<Results<StoredFit>> {
    let r: Results<StoredFit> =
        serde_json::from_value(file.results.clone()).context("reading the stored results")?;
    anyhow::ensure!(
        r.sweeps.iter().all(|s| s.spec.widths.len() >= 2),
        "a stored sweep has fewer than two widths"
    );
    Ok(r)
}

/// The figures of an experiment from its stored results: per sweep the derivatives (D, H) with
/// their fits and the continuous-limit slopes, Var Δ when measured, and the weight norms; then
/// the training seconds per epoch against n for every sweep.
pub fn figures(file: &ResultsFile, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let r = stored(file)?;
    let mut out = Vec::new();
    for s in &r.sweeps {
        let widths: Vec<f64> = s.spec.widths.iter().map(|&n| n as f64).collect();
        let (lo, hi) = (widths[0], widths[widths.len() - 1]);
        let series = |metrics: &[Metric], reference: bool| -> Vec<LogLogSeries> {
            metrics
                .iter()
                .filter_map(|&m| {
                    let f = s.fit(m)?;
                    let values = s.values(m);
                    let mut fits = vec![f.fit.line(&format!("{} fit", m.key()), lo, hi)];
                    if reference {
                        if let Some(e) = m.limit_slope() {
                            fits.push(reference_line(e, widths[0], &values[0], hi));
                        }
                    }
                    // With three widths or fewer the upper widths are all of them: no second line.
                    let upper = f.upper.as_ref().filter(|_| upper_from(widths.len()) > 0);
                    if let Some(u) = upper {
                        let from = widths[upper_from(widths.len())];
                        fits.push(u.line(&format!("{} fit, n ≥ {from}", m.key()), from, hi));
                    }
                    Some(LogLogSeries {
                        label: m.label(),
                        widths: widths.clone(),
                        values,
                        fits,
                    })
                })
                .collect()
        };
        let title = s.spec.short_label();
        let derivs = series(&[Metric::D, Metric::HDiag, Metric::HAll], true);
        if !derivs.is_empty() {
            out.push(plot::loglog_fit(
                dir,
                &format!("{}_derivatives", s.spec.name),
                &Axes::new(
                    format!("D and H vs width — {title}"),
                    "first hidden width n",
                    "D, H_diag, H_all (dashed: continuous-limit slope)",
                ),
                &derivs,
            )?);
        }
        let var = series(&[Metric::VarDelta], true);
        if !var.is_empty() {
            let p = s.spec.var_delta.map_or(0.0, |v| v.p);
            out.push(plot::loglog_fit(
                dir,
                &format!("{}_var_delta", s.spec.name),
                &Axes::new(
                    format!("Crash variance vs width — {title}"),
                    "first hidden width n",
                    format!("Var Δ, p = {p} at hidden layer 1 (dashed: slope −1)"),
                ),
                &var,
            )?);
        }
        let mut norms = series(
            &[Metric::W(1), Metric::W(2), Metric::W(3), Metric::WProd],
            false,
        );
        // The upper-width fit is drawn for W_prod only (it decides "levels off"), to keep the
        // legend short.
        for s in norms.iter_mut().take(3) {
            s.fits.truncate(1);
        }
        out.push(plot::loglog_fit(
            dir,
            &format!("{}_weights", s.spec.name),
            &Axes::new(
                format!("Weight norms vs width — {title}"),
                "first hidden width n",
                "‖W_l‖_∞ and their product",
            ),
            &norms,
        )?);
    }
    let mut timing = Vec::new();
    for s in &r.sweeps {
        let steps = (s.spec.epochs * s.spec.steps_per_epoch()).max(1) as f64;
        let ys: Vec<f64> = s
            .spec
            .widths
            .iter()
            .map(|&n| {
                let t: Vec<f64> = s
                    .nets
                    .iter()
                    .filter(|r| r.width == n)
                    .map(|r| r.train_seconds / steps)
                    .collect();
                t.iter().sum::<f64>() / t.len().max(1) as f64
            })
            .collect();
        let xs = s.spec.widths.iter().map(|&n| n as f64).collect();
        timing.push(Series::new(
            format!(
                "{}: this run's training (batch {})",
                s.spec.name, s.spec.batch_size
            ),
            xs,
            ys,
        ));
    }
    if let Some(e) = &r.estimate {
        for t in &e.sweeps {
            let (xs, ys) = t
                .step_times
                .iter()
                .map(|s| (s.width as f64, s.seconds))
                .unzip();
            timing.push(Series::new(
                format!(
                    "{}: timed steps of the {} profile (batch {})",
                    t.name, e.profile, t.batch_size
                ),
                xs,
                ys,
            ));
        }
    }
    out.push(plot::line_plot(
        dir,
        "timing",
        &Axes::new(
            "Seconds per training step vs width (this machine)",
            "first hidden width n",
            "seconds per step (mean over networks)",
        ),
        &timing,
    )?);
    Ok(out)
}

/// A dashed line of slope `slope` through the geometric mean of `first` at width `n0`, drawn
/// to `to`: the continuous limit's prediction from the smallest width on.
fn reference_line(slope: f64, n0: f64, first: &[f64], to: f64) -> FitLine {
    let m = geo_mean(first).ln();
    FitLine {
        label: format!("continuous limit: slope {}", signed(slope, 0)),
        slope,
        intercept: m - slope * n0.ln(),
        from: n0,
        to,
    }
}

/// The report section of an experiment: one row per claim (ours beside the paper's, with the
/// distance), a row for the estimated time of the paper profile, and the verdict.
pub fn report(file: &ResultsFile, claims: &[Claim], notes: &str) -> ReportSection {
    let r = match stored(file) {
        Ok(r) => r,
        Err(e) => return ReportSection::unreadable(format!("{e:#}")),
    };
    let mut rows = Vec::new();
    let mut differ = Vec::new();
    for c in claims {
        let row = claim_row(&r, c);
        if let Verdict::Differs(why) = &row.verdict {
            differ.push(format!("{}: {why}", row.quantity));
        }
        rows.push(row);
    }
    if let Some(e) = &r.estimate {
        let detail: Vec<String> = e
            .sweeps
            .iter()
            .map(|s| {
                let (lo, hi) = (s.step_times.first(), s.step_times.last());
                let range = match (lo, hi) {
                    (Some(a), Some(b)) => format!(
                        "{:.3} s per step at n = {} … {:.3} s at n = {}",
                        a.seconds, a.width, b.seconds, b.width
                    ),
                    _ => String::new(),
                };
                format!(
                    "{}: {} → {} ({range})",
                    s.name,
                    s.description,
                    fmt_duration(s.seconds)
                )
            })
            .collect();
        rows.push(PaperRow::new(
            format!("wall time of the {} profile on this machine", e.profile),
            "— (the original ran on 12 CPUs and 2 GTX 1080 GPUs)",
            format!(
                "≈ {} for {} networks ({} threads; {})",
                fmt_duration(e.seconds),
                e.nets,
                e.threads,
                detail.join("; ")
            ),
            Verdict::NotComparable(
                "an estimate: training steps of that profile timed at each of its widths \
                 (after a warm-up) × its epochs and steps per epoch, plus the measuring \
                 seconds of this run fitted linearly in n; other load on the machine inflates \
                 it"
                .into(),
            ),
        ));
    }
    let compared = claims.len();
    let verdict = if differ.is_empty() {
        Verdict::Reproduced
    } else {
        Verdict::Differs(format!(
            "{} of {compared} numbers differ — {}",
            differ.len(),
            differ.join("; ")
        ))
    };
    let profile_note = if file.profile == Profile::Paper {
        String::new()
    } else {
        format!(
            " These are `{}`-profile results (fewer widths, networks, epochs or examples than \
             the paper; see the parameters), so slopes carry larger errors and may not have \
             reached their trained values.",
            file.profile
        )
    };
    let general = format!(
        "Each slope is a least-squares fit of the per-width mean of log(metric) against log n \
         (free slope and intercept; ± its standard error); a slope agrees with the paper's when \
         within max({:.0} % of the paper's value, {SLOPE_ABS_TOL:.2}). A weight norm levels off \
         when its slope over the upper widths (the upper half, at least the last three) is \
         within ±{LEVEL_SLOPE}. The paper's \
         `W_1` is numbered from 0 in the original code: it is the n → 100 matrix, our `W_2`. \
         In the figures, small points are single networks, large points the geometric mean per \
         width with a ±1 sd band of log(metric), solid lines the fits and dashed lines the \
         continuous-limit slopes (or the upper-width fits).{profile_note}",
        100.0 * SLOPE_REL_TOL
    );
    ReportSection {
        rows,
        verdict,
        notes: format!("{}\n\n{general}", notes.trim()),
    }
}

/// The report row of one claim.
fn claim_row(r: &Results<StoredFit>, claim: &Claim) -> PaperRow {
    let sweep_of = |name: &str| r.sweeps.iter().find(|s| s.spec.name == name);
    let missing = |quantity: String, paper: String| {
        PaperRow::new(
            quantity,
            paper,
            "—",
            Verdict::NotComparable("not measured in this run".into()),
        )
    };
    match *claim {
        Claim::Slope {
            sweep,
            metric,
            paper,
        } => {
            let quantity = match sweep_of(sweep) {
                Some(s) if r.sweeps.len() > 1 => {
                    format!("{} slope ({})", metric.key(), s.spec.data.label())
                }
                _ => format!("{} slope", metric.key()),
            };
            let paper_text = signed(paper, 2);
            let Some(f) = sweep_of(sweep).and_then(|s| s.fit(metric)) else {
                return missing(quantity, paper_text);
            };
            let (a, se) = (f.fit.slope(), f.fit.stderr());
            let diff = a - paper;
            let sigmas = if se.is_finite() && se > 0.0 {
                format!(", {:.1} se", diff.abs() / se)
            } else {
                String::new()
            };
            let ours = format!(
                "{} ± {se:.3} (Δ = {}{sigmas}; {})",
                signed(a, 3),
                signed(diff, 2),
                limit_phrase(metric, a)
            );
            let verdict = if !a.is_finite() {
                Verdict::NotComparable("no slope (too few widths with positive values)".into())
            } else if diff.abs() <= slope_tolerance(paper) {
                Verdict::Reproduced
            } else {
                Verdict::Differs(format!(
                    "{} from the paper's {}",
                    signed(diff, 2),
                    signed(paper, 2)
                ))
            };
            PaperRow::new(quantity, paper_text, ours, verdict)
        }
        Claim::Growth {
            sweep,
            metric,
            paper_name,
            from,
            to,
            n_from,
            n_to,
        } => {
            let implied = (to / from).ln() / (n_to / n_from).ln();
            let quantity = format!("{} vs n (the paper's {paper_name})", metric.key());
            let paper_text = format!(
                "{} → {} (n = {n_from} → {n_to}; log–log slope {})",
                plot::fmt_value(from),
                plot::fmt_value(to),
                signed(implied, 2)
            );
            let Some((s, f)) = sweep_of(sweep).and_then(|s| Some((s, s.fit(metric)?))) else {
                return missing(quantity, paper_text);
            };
            let last = s.spec.widths.len() - 1;
            let a = f.fit.slope();
            let ours = format!(
                "{} → {} (n = {} → {}); slope {}",
                plot::fmt_value(s.geo_mean(metric, 0)),
                plot::fmt_value(s.geo_mean(metric, last)),
                s.spec.widths[0],
                s.spec.widths[last],
                f.fit.text()
            );
            let verdict = if (a - implied).abs() <= slope_tolerance(implied) {
                Verdict::Reproduced
            } else {
                Verdict::Differs(format!(
                    "slope {} against the paper's {}",
                    signed(a, 2),
                    signed(implied, 2)
                ))
            };
            PaperRow::new(quantity, paper_text, ours, verdict)
        }
        Claim::Level {
            sweep,
            metric,
            level,
        } => {
            let quantity = format!("{} level at large n", metric.key());
            let paper_text = format!("levels off at ≈ {}", plot::fmt_value(level));
            let Some((s, f)) = sweep_of(sweep).and_then(|s| Some((s, s.fit(metric)?))) else {
                return missing(quantity, paper_text);
            };
            let half = upper_from(s.spec.widths.len());
            let upper: Vec<f64> = s.values(metric)[half..].concat();
            let ours_level = geo_mean(&upper);
            let upper_slope = f.upper.as_ref().map_or(f64::NAN, |u| u.slope());
            let ours = format!(
                "{} (geometric mean over n ≥ {}); slope there {}",
                plot::fmt_value(ours_level),
                s.spec.widths[half],
                signed(upper_slope, 2)
            );
            let ratio = ours_level / level;
            let flat = upper_slope.abs() <= LEVEL_SLOPE;
            let close = (1.0 / LEVEL_FACTOR..=LEVEL_FACTOR).contains(&ratio);
            let verdict = match (flat, close) {
                (true, true) => Verdict::Reproduced,
                (true, false) => {
                    Verdict::Differs(format!("levels off, but {ratio:.2}× the paper's level"))
                }
                (false, _) => Verdict::Differs(format!(
                    "does not level off (slope {} over the upper widths)",
                    signed(upper_slope, 2)
                )),
            };
            PaperRow::new(quantity, paper_text, ours, verdict)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_truncate_like_the_original() {
        assert_eq!(
            int_linspace(50, 1000, 15),
            vec![50, 117, 185, 253, 321, 389, 457, 525, 592, 660, 728, 796, 864, 932, 1000]
        );
        assert_eq!(int_linspace(50, 1500, 5), vec![50, 412, 775, 1137, 1500]);
        assert_eq!(
            int_linspace(100, 400, 7),
            vec![100, 150, 200, 250, 300, 350, 400]
        );
    }

    #[test]
    fn linear_fit_and_clamping() {
        let l = Linear::fit(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]);
        assert!((l.intercept - 1.0).abs() < 1e-12 && (l.slope - 2.0).abs() < 1e-12);
        assert_eq!(Linear::fit(&[(1.0, 2.0), (1.0, 4.0)]).at(5.0), 3.0);
        assert_eq!(
            Linear {
                intercept: -1.0,
                slope: 0.0
            }
            .at(3.0),
            0.0
        );
    }

    fn record(width: usize, seconds: f64) -> NetRecord {
        NetRecord {
            width,
            rep: 0,
            seed: 0,
            d: Some(1.0 / width as f64),
            h_diag: None,
            h_all: None,
            w: vec![1.0, 2.0, 3.0],
            w_prod: 6.0,
            var_delta: None,
            test: Metrics::default(),
            final_objective: 0.0,
            train_seconds: seconds,
            derivative_seconds: 0.0,
            var_delta_seconds: 0.0,
            other_seconds: 1.0,
        }
    }

    #[test]
    fn estimate_multiplies_timed_steps_and_adds_measuring() {
        // Measured: D takes 0.1 s per 1000 rows at every width, the rest 1 s per network.
        let spec =
            SweepSpec::new("s", DataSet::Mnist, vec![100, 200], 1, 2, 100).train_examples(1000);
        let mut nets = vec![record(100, 3.0), record(200, 5.0)];
        for r in &mut nets {
            r.derivative_seconds = 0.1;
        }
        let measured = summarise(&spec, nets);
        // Target: 10 epochs of 60 batches of 1000, 3 networks at each of two widths.
        let target = SweepSpec::new("s", DataSet::Mnist, vec![100, 300], 3, 10, 1000);
        assert_eq!(target.steps_per_epoch(), 60);
        let steps = vec![
            StepTime {
                width: 100,
                seconds: 0.5,
            },
            StepTime {
                width: 300,
                seconds: 2.0,
            },
        ];
        let e =
            estimate(&[(measured, Some(steps))], Profile::Paper, &[target]).expect("calibrated");
        let per_net = |step: f64| 10.0 * 60.0 * step + 60.0 * 0.1 + 1.0;
        let want = 3.0 * (per_net(0.5) + per_net(2.0));
        assert!((e.seconds - want).abs() < 1e-9, "{} vs {want}", e.seconds);
        assert_eq!(e.nets, 6);
        assert!((e.sweeps[0].train_seconds - 3.0 * 600.0 * 2.5).abs() < 1e-9);
    }

    #[test]
    fn upper_widths_are_the_upper_half_but_at_least_three() {
        assert_eq!(upper_from(10), 5);
        assert_eq!(upper_from(4), 1);
        assert_eq!(upper_from(3), 0);
        assert_eq!(upper_from(2), 0);
    }

    #[test]
    fn metric_values_and_keys() {
        let r = record(10, 1.0);
        assert_eq!(Metric::W(2).value(&r), Some(2.0));
        assert_eq!(Metric::W(0).value(&r), None);
        assert_eq!(Metric::WProd.key(), "W_prod");
        assert_eq!(Metric::HAll.limit_slope(), Some(-2.0));
        let spec =
            SweepSpec::new("s", DataSet::Boston, vec![1, 2], 1, 1, 1).with_var_delta(0.01, 10);
        assert!(Metric::measured(&spec).contains(&Metric::VarDelta));
        assert_eq!(spec.sizes(7), vec![13, 7, 100, 1]);
    }
}
