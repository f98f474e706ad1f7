//! What a sweep stores: one record per trained network, the metrics and their fits, step
//! timings and the estimate of a profile's wall time, and the paper's claims.

use super::spec::SweepSpec;
use crate::common::fit::LogLogFit;
use ftnn_lab::Profile;
use ftnn_train::Metrics;
use serde::{Deserialize, Serialize};

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
    /// H_diag = mean_i |H̄_ii|, H̄ the signed Hessian averaged over the first 10 training
    /// examples (SPEC §15).
    pub h_diag: Option<f64>,
    /// H_all = mean_ij |H̄_ij| (SPEC §15).
    pub h_all: Option<f64>,
    /// mean over the first 10 training examples of mean_i |H_ii| of each example's own Hessian
    /// (not the original's definition; reported beside it).
    #[serde(default)]
    pub h_diag_per_sample: Option<f64>,
    /// The same for mean_ij |H_ij|.
    #[serde(default)]
    pub h_all_per_sample: Option<f64>,
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
    /// H_diag of each sample's own |H| (the per-sample variant, not the original's).
    HDiagPerSample,
    /// H_all of each sample's own |H|.
    HAllPerSample,
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
            Self::HDiagPerSample => "H_diag_per_sample".into(),
            Self::HAllPerSample => "H_all_per_sample".into(),
            Self::VarDelta => "var_delta".into(),
            Self::W(l) => format!("W_{l}"),
            Self::WProd => "W_prod".into(),
        }
    }
    /// Legend / table label.
    pub fn label(self) -> String {
        match self {
            Self::D => "D = mean |∂L/∂y₁|".into(),
            Self::HDiag => "H_diag = mean |H̄_ii|".into(),
            Self::HAll => "H_all = mean |H̄_ij|".into(),
            Self::HDiagPerSample => "mean over samples of mean |H_ii|".into(),
            Self::HAllPerSample => "mean over samples of mean |H_ij|".into(),
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
            Self::HDiagPerSample => net.h_diag_per_sample,
            Self::HAllPerSample => net.h_all_per_sample,
            Self::VarDelta => net.var_delta,
            Self::W(l) => l.checked_sub(1).and_then(|i| net.w.get(i).copied()),
            Self::WProd => Some(net.w_prod),
        }
    }
    /// The slope of the continuous limit (SPEC §8): D −1, H −2, Var Δ −1.
    pub fn limit_slope(self) -> Option<f64> {
        match self {
            Self::D | Self::VarDelta => Some(-1.0),
            Self::HDiag | Self::HAll | Self::HDiagPerSample | Self::HAllPerSample => Some(-2.0),
            Self::W(_) | Self::WProd => None,
        }
    }
    /// Whether this is a weight norm (also fitted over the upper widths).
    pub(crate) fn is_norm(self) -> bool {
        matches!(self, Self::W(_) | Self::WProd)
    }
    /// The metrics measured by `spec`.
    pub fn measured(spec: &SweepSpec) -> Vec<Metric> {
        let mut out = Vec::new();
        if spec.derivatives {
            out.extend([
                Self::D,
                Self::HDiag,
                Self::HAll,
                Self::HDiagPerSample,
                Self::HAllPerSample,
            ]);
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
pub struct MetricFit {
    /// [`Metric::key`].
    pub metric: String,
    /// Over every width.
    pub fit: LogLogFit,
    /// Over the upper widths, [`upper_from`] on (weight norms only).
    pub upper: Option<LogLogFit>,
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
    /// The least-squares line through the points ([`ftnn_decay::fit_line`]; a constant when
    /// all x are equal, 0 with no points).
    pub fn fit(points: &[(f64, f64)]) -> Self {
        if points.is_empty() {
            return Self {
                intercept: 0.0,
                slope: 0.0,
            };
        }
        let (xs, ys): (Vec<f64>, Vec<f64>) = points.iter().copied().unzip();
        let f = ftnn_decay::fit_line(&xs, &ys);
        let slope = if f.slope.is_finite() { f.slope } else { 0.0 };
        Self {
            intercept: f.mean_y - slope * f.mean_x,
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
    pub(crate) fn fit(spec: &SweepSpec, nets: &[NetRecord]) -> Self {
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

/// The results of one sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepResult {
    /// The sweep.
    pub spec: SweepSpec,
    /// Every network, width-major.
    pub nets: Vec<NetRecord>,
    /// One fit per measured metric.
    pub fits: Vec<MetricFit>,
    /// Measuring seconds as functions of n.
    pub timing: MeasureTiming,
}

impl SweepResult {
    /// The fit of `metric`, if measured.
    pub fn fit(&self, metric: Metric) -> Option<&MetricFit> {
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
    pub(crate) fn geo_mean(&self, metric: Metric, w: usize) -> f64 {
        geo_mean(&self.values(metric)[w])
    }
}

/// exp(mean log) of the positive values (NaN if none).
pub(crate) fn geo_mean(v: &[f64]) -> f64 {
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
pub struct Results {
    /// One per sweep.
    pub sweeps: Vec<SweepResult>,
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
