//! Shared machinery of the experiments that train fully connected MNIST networks
//! (`dropout-comparison`, `regularization`, …): load MNIST once per run ([`LazyMnist`]),
//! train one network from a seed ([`train_net`]), and measure the set of fault-tolerance
//! quantities of a trained network ([`measure`], [`NetQuantities`]) — accuracies with and
//! without crashes, the crashed MAE and MSE, the bounds b1–b4 (SPEC §4) averaged over a fixed
//! set of test inputs, and the Frobenius sum norm.
//!
//! Everything is deterministic from the seeds: the training (initialisation, data order,
//! crash-dropout masks) from [`TrainConfig::seed`], the crashed evaluation from the seed
//! given to [`measure`].

use anyhow::Context as _;
use ftnn_bounds::{b1, b2, b3, b4, sum_norms, MeanStd, Norm};
use ftnn_data::{load_mnist, DataDir, ImageSet, Split};
use ftnn_model::{FailureVector, Inputs, Mlp};
use ftnn_plot::Series;
use ftnn_train::{evaluate, evaluate_crashed, Dataset, Loss, Metrics, TrainConfig, Trainer};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

pub use super::grids::linspace;

/// Which part of MNIST an experiment uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataParams {
    /// Training examples: the first n of the 60 000 (all of them when `None`).
    pub train_examples: Option<usize>,
    /// Test examples: the first n of the 10 000 (all of them when `None`).
    pub test_examples: Option<usize>,
    /// Test inputs (the first n of the test set) over which the bounds are averaged.
    pub bound_inputs: usize,
}

impl DataParams {
    /// All of MNIST, the bounds averaged over the first `bound_inputs` test images.
    pub fn full(bound_inputs: usize) -> Self {
        Self {
            train_examples: None,
            test_examples: None,
            bound_inputs,
        }
    }
}

/// MNIST as the training code needs it.
pub struct MnistData {
    /// Training set (one-hot targets).
    pub train: Dataset,
    /// Test set (one-hot targets).
    pub test: Dataset,
    /// The test inputs over which the bounds are averaged.
    pub bound_inputs: Inputs,
}

impl MnistData {
    /// Loads MNIST from the data directory ([`DataDir::locate`]), checksums verified.
    pub fn load(params: &DataParams) -> anyhow::Result<Self> {
        let dir = DataDir::locate().context("locating the data directory for MNIST")?;
        let train = load_mnist(&dir, ImageSet::Mnist, Split::Train)?;
        let test = load_mnist(&dir, ImageSet::Mnist, Split::Test)?;
        let cut = |n: Option<usize>, all: usize| n.unwrap_or(all).min(all);
        let train = train.subset(0..cut(params.train_examples, train.len()));
        let test = test.subset(0..cut(params.test_examples, test.len()));
        anyhow::ensure!(
            !train.is_empty() && !test.is_empty(),
            "the MNIST subsets are empty (train_examples, test_examples must be ≥ 1)"
        );
        let k = params.bound_inputs.min(test.len());
        anyhow::ensure!(k > 0, "bound_inputs must be ≥ 1");
        let bound_inputs =
            Inputs::new(test.images[..k * test.pixels()].to_vec(), k, test.pixels())?;
        Ok(Self {
            train: Dataset::from_images(&train)?,
            test: Dataset::from_images(&test)?,
            bound_inputs,
        })
    }
}

/// MNIST loaded on first use, at most once per run: a run whose networks are all stored
/// (resumed or merged) never reads the data.
pub struct LazyMnist {
    params: DataParams,
    cell: OnceLock<MnistData>,
}

impl LazyMnist {
    /// Nothing is loaded yet.
    pub fn new(params: DataParams) -> Self {
        Self {
            params,
            cell: OnceLock::new(),
        }
    }
    /// The data, loading it on the first call.
    pub fn get(&self) -> anyhow::Result<&MnistData> {
        if let Some(d) = self.cell.get() {
            return Ok(d);
        }
        let data = MnistData::load(&self.params)?;
        Ok(self.cell.get_or_init(|| data))
    }
}

/// Trains one network on `data.train` as `config` says (its seed fixes initialisation, data
/// order and crash-dropout masks); returns the network and the mean objective of the last
/// epoch.
pub fn train_net(config: TrainConfig, data: &MnistData) -> anyhow::Result<(Mlp, f64)> {
    let mut trainer = Trainer::new(config)?;
    let history = trainer.fit(&data.train, None, &mut |_| {})?;
    let objective = history.epochs.last().map_or(f64::NAN, |e| e.objective);
    Ok((trainer.model()?, objective))
}

/// The fault-tolerance quantities of one trained network (the 14 of the original notebook
/// `ComparisonIncreasingDropoutMNIST`). Crashes are those of the failure vector given to
/// [`measure`]; bound means are mean |E Δ| and bound variances mean std², both over the
/// bound inputs and the outputs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NetQuantities {
    /// Accuracy of the correct network on the training set.
    pub correct_acc_train: f64,
    /// Accuracy of the correct network on the test set.
    pub correct_acc_test: f64,
    /// Accuracy under crashes on the training set.
    pub crash_acc_train: f64,
    /// Accuracy under crashes on the test set.
    pub crash_acc_test: f64,
    /// Mean absolute error (against the one-hot targets) under crashes on the test set.
    pub crash_mae_test: f64,
    /// Mean squared error (against the one-hot targets) under crashes on the test set.
    pub crash_mse_test: f64,
    /// b3: mean |E Δ|.
    pub b3_mean: f64,
    /// b3: mean Var Δ.
    pub b3_var: f64,
    /// b4: mean |E Δ|.
    pub b4_mean: f64,
    /// b4: mean Var Δ.
    pub b4_var: f64,
    /// b2: mean |E Δ|.
    pub b2_mean: f64,
    /// b2: mean Var Δ.
    pub b2_var: f64,
    /// b1 with q = 2, mean over the bound inputs.
    pub b1: f64,
    /// Σ_l ‖W_l‖_F.
    pub fro_norm: f64,
}

/// One of the [`NetQuantities`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// [`NetQuantities::correct_acc_train`].
    CorrectAccTrain,
    /// [`NetQuantities::correct_acc_test`].
    CorrectAccTest,
    /// [`NetQuantities::crash_acc_train`].
    CrashAccTrain,
    /// [`NetQuantities::crash_acc_test`].
    CrashAccTest,
    /// [`NetQuantities::crash_mae_test`].
    CrashMae,
    /// [`NetQuantities::crash_mse_test`].
    CrashMse,
    /// [`NetQuantities::b3_mean`].
    B3Mean,
    /// [`NetQuantities::b3_var`].
    B3Var,
    /// [`NetQuantities::b4_mean`].
    B4Mean,
    /// [`NetQuantities::b4_var`].
    B4Var,
    /// [`NetQuantities::b2_mean`].
    B2Mean,
    /// [`NetQuantities::b2_var`].
    B2Var,
    /// [`NetQuantities::b1`].
    B1,
    /// [`NetQuantities::fro_norm`].
    FroNorm,
}

impl Quantity {
    /// All 14, in the order of [`NetQuantities`].
    pub const ALL: [Quantity; 14] = [
        Self::CorrectAccTrain,
        Self::CorrectAccTest,
        Self::CrashAccTrain,
        Self::CrashAccTest,
        Self::CrashMae,
        Self::CrashMse,
        Self::B3Mean,
        Self::B3Var,
        Self::B4Mean,
        Self::B4Var,
        Self::B2Mean,
        Self::B2Var,
        Self::B1,
        Self::FroNorm,
    ];

    /// A short label for tables and figures.
    pub fn label(self) -> &'static str {
        match self {
            Self::CorrectAccTrain => "correct accuracy (train)",
            Self::CorrectAccTest => "correct accuracy (test)",
            Self::CrashAccTrain => "crashed accuracy (train)",
            Self::CrashAccTest => "crashed accuracy (test)",
            Self::CrashMae => "crashed MAE (test)",
            Self::CrashMse => "crashed MSE (test)",
            Self::B3Mean => "b3 mean",
            Self::B3Var => "b3 variance",
            Self::B4Mean => "b4 mean",
            Self::B4Var => "b4 variance",
            Self::B2Mean => "b2 mean",
            Self::B2Var => "b2 variance",
            Self::B1 => "b1 (q = 2)",
            Self::FroNorm => "Σ Frobenius norms",
        }
    }
}

impl NetQuantities {
    /// The value of quantity `q`.
    pub fn get(&self, q: Quantity) -> f64 {
        match q {
            Quantity::CorrectAccTrain => self.correct_acc_train,
            Quantity::CorrectAccTest => self.correct_acc_test,
            Quantity::CrashAccTrain => self.crash_acc_train,
            Quantity::CrashAccTest => self.crash_acc_test,
            Quantity::CrashMae => self.crash_mae_test,
            Quantity::CrashMse => self.crash_mse_test,
            Quantity::B3Mean => self.b3_mean,
            Quantity::B3Var => self.b3_var,
            Quantity::B4Mean => self.b4_mean,
            Quantity::B4Var => self.b4_var,
            Quantity::B2Mean => self.b2_mean,
            Quantity::B2Var => self.b2_var,
            Quantity::B1 => self.b1,
            Quantity::FroNorm => self.fro_norm,
        }
    }
}

/// How the crashed metrics of [`measure`] are estimated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CrashEvalParams {
    /// Crash probability at hidden layer 1 (p_inf).
    pub p_inf: f64,
    /// Passes over each data set, each with fresh crash patterns.
    pub repetitions: usize,
}

/// Measures [`NetQuantities`] of `net` with crashes `p_inf` at hidden layer 1: crashed
/// metrics over `eval.repetitions` passes (crash patterns from `seed`), bounds over
/// `data.bound_inputs`.
pub fn measure(
    net: &Mlp,
    data: &MnistData,
    eval: CrashEvalParams,
    seed: u64,
) -> anyhow::Result<NetQuantities> {
    let p = FailureVector::single(net.n_neuron_layers(), 1, eval.p_inf)?;
    let accuracy = |m: Metrics| {
        m.accuracy
            .context("MNIST metrics carry an accuracy (classification data)")
    };
    let crashed =
        |d: &Dataset, s: u64| evaluate_crashed(net, d, Loss::Mse, &p, eval.repetitions, s);
    let crash_train = crashed(&data.train, seed)?;
    let crash_test = crashed(&data.test, seed.wrapping_add(1))?;
    let x = &data.bound_inputs;
    let b1_values = b1(net, &p, x, Norm::Two)?;
    let (b3_mean, b3_var) = mean_and_variance(&b3(net, &p, x)?);
    let (b4_mean, b4_var) = mean_and_variance(&b4(net, &p, x)?);
    let (b2_mean, b2_var) = mean_and_variance(&b2(net, &p, x)?);
    Ok(NetQuantities {
        correct_acc_train: accuracy(evaluate(net, &data.train, Loss::Mse)?)?,
        correct_acc_test: accuracy(evaluate(net, &data.test, Loss::Mse)?)?,
        crash_acc_train: accuracy(crash_train)?,
        crash_acc_test: accuracy(crash_test)?,
        crash_mae_test: crash_test.mae,
        crash_mse_test: crash_test.mse,
        b3_mean,
        b3_var,
        b4_mean,
        b4_var,
        b2_mean,
        b2_var,
        b1: mean(&b1_values),
        fro_norm: sum_norms(net).fro,
    })
}

/// Mean |E Δ| and mean std² over inputs and outputs.
fn mean_and_variance(b: &MeanStd) -> (f64, f64) {
    let abs: Vec<f64> = b.mean.iter().map(|m| m.abs()).collect();
    let var: Vec<f64> = b.std.iter().map(|s| s * s).collect();
    (mean(&abs), mean(&var))
}

/// Arithmetic mean (NaN for no values).
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sample standard deviation (0 for fewer than two values).
pub fn sd(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

/// `items` grouped by the value of `key` (ascending), each group in the order of `items`.
pub fn group_by_value<T>(items: &[T], key: impl Fn(&T) -> f64) -> Vec<(f64, Vec<&T>)> {
    let mut groups: Vec<(f64, Vec<&T>)> = Vec::new();
    for item in items {
        let k = key(item);
        match groups.iter_mut().find(|g| g.0 == k) {
            Some(g) => g.1.push(item),
            None => groups.push((k, vec![item])),
        }
    }
    groups.sort_by(|a, b| a.0.total_cmp(&b.0));
    groups
}

/// The mean of `values` (one list per x) and its ± 1 sd envelope as one line in one colour:
/// the mean from left to right, then mean + sd from right to left, then mean − sd from left
/// to right — a band with its centre line, joined at the ends.
pub fn band_series(label: &str, xs: &[f64], values: &[Vec<f64>]) -> Series {
    let means: Vec<f64> = values.iter().map(|v| mean(v)).collect();
    let sds: Vec<f64> = values.iter().map(|v| sd(v)).collect();
    let mut px: Vec<f64> = xs.to_vec();
    let mut py: Vec<f64> = means.clone();
    px.extend(xs.iter().rev());
    py.extend(means.iter().zip(&sds).rev().map(|(m, s)| m + s));
    px.extend(xs);
    py.extend(means.iter().zip(&sds).map(|(m, s)| m - s));
    Series::new(format!("{label} (mean, ± 1 sd)"), px, py)
}

/// A per-run seed for job `(group, member)`: distinct for every pair, the same across runs.
pub fn job_seed(base: u64, group: usize, member: usize) -> u64 {
    base.wrapping_add((group as u64) << 32)
        .wrapping_add(member as u64)
}

/// `n` values from 10^a to 10^b, evenly spaced in the exponent (numpy's `logspace`).
pub fn logspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    linspace(a, b, n)
        .into_iter()
        .map(|e| 10f64.powf(e))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_match_numpy() {
        let l = linspace(0.0, 0.06, 10);
        assert_eq!(l.len(), 10);
        assert!((l[3] - 0.02).abs() < 1e-15);
        assert_eq!(l[9], 0.06);
        let g = logspace(-5.0, 2.0, 5);
        assert!((g[0] - 1e-5).abs() < 1e-20);
        assert!((g[1] - 10f64.powf(-3.25)).abs() < 1e-15);
        assert!((g[4] - 100.0).abs() < 1e-12);
    }

    #[test]
    fn sample_statistics() {
        assert_eq!(mean(&[1.0, 2.0, 3.0]), 2.0);
        assert_eq!(sd(&[1.0, 2.0, 3.0]), 1.0);
        assert_eq!(sd(&[5.0]), 0.0);
        assert_ne!(job_seed(0, 1, 0), job_seed(0, 0, 1));
    }

    #[test]
    fn band_is_mean_then_upper_then_lower() {
        let b = band_series("x", &[0.0, 1.0], &[vec![1.0, 3.0], vec![2.0, 2.0]]);
        assert_eq!(b.xs, vec![0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
        let s = 2f64.sqrt();
        assert_eq!(b.ys, vec![2.0, 2.0, 2.0, 2.0 + s, 2.0 - s, 2.0]);
    }
}
