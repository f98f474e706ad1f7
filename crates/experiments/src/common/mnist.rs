//! Shared machinery of the experiments that train fully connected MNIST networks
//! (`dropout-comparison`, `regularization`, …): load MNIST once per run ([`LazyMnist`]),
//! train one network from a seed ([`train_net`]), and measure the set of fault-tolerance
//! quantities of a trained network ([`measure`], [`NetQuantities`]) — accuracies with and
//! without crashes, the correct and crashed MAE, and the bounds b2–b4 (SPEC §4) averaged over
//! the training inputs (SPEC §15).
//!
//! Everything is deterministic from the seeds: the training (initialisation, data order,
//! crash-dropout masks) from [`TrainConfig::seed`], the crashed evaluation from the seed
//! given to [`measure`].

use anyhow::Context as _;
use ftnn_bounds::{b2, b3, b4, MeanStd};
use ftnn_data::{load_mnist, DataDir, ImageSet, Split};
use ftnn_model::{FailureVector, Inputs, Mlp};
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

/// The fault-tolerance quantities of one trained network: the 14 of the original notebook
/// `ComparisonIncreasingDropoutMNIST` (SPEC §15). Crashes are those of the failure vector
/// given to [`measure`]; MAEs are against the one-hot targets; bound means are the signed mean
/// of E Δ and bound variances the mean of std², both over the bound inputs (the training
/// inputs, as the original) and the outputs.
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
    /// Mean absolute error of the correct network on the training set.
    pub correct_mae_train: f64,
    /// Mean absolute error of the correct network on the test set.
    pub correct_mae_test: f64,
    /// Mean absolute error under crashes on the training set.
    pub crash_mae_train: f64,
    /// Mean absolute error under crashes on the test set.
    pub crash_mae_test: f64,
    /// b2: mean E Δ.
    pub b2_mean: f64,
    /// b2: mean Var Δ.
    pub b2_var: f64,
    /// b3: mean E Δ.
    pub b3_mean: f64,
    /// b3: mean Var Δ (p(1 − p) Σ_i d_i², SPEC §4; the original wrote p for p(1 − p)).
    pub b3_var: f64,
    /// b4: mean E Δ.
    pub b4_mean: f64,
    /// b4: mean Var Δ.
    pub b4_var: f64,
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
    /// [`NetQuantities::correct_mae_train`].
    CorrectMaeTrain,
    /// [`NetQuantities::correct_mae_test`].
    CorrectMaeTest,
    /// [`NetQuantities::crash_mae_train`].
    CrashMaeTrain,
    /// [`NetQuantities::crash_mae_test`].
    CrashMaeTest,
    /// [`NetQuantities::b2_mean`].
    B2Mean,
    /// [`NetQuantities::b2_var`].
    B2Var,
    /// [`NetQuantities::b3_mean`].
    B3Mean,
    /// [`NetQuantities::b3_var`].
    B3Var,
    /// [`NetQuantities::b4_mean`].
    B4Mean,
    /// [`NetQuantities::b4_var`].
    B4Var,
}

impl Quantity {
    /// All 14, in the order of [`NetQuantities`].
    pub const ALL: [Quantity; 14] = [
        Self::CorrectAccTrain,
        Self::CorrectAccTest,
        Self::CrashAccTrain,
        Self::CrashAccTest,
        Self::CorrectMaeTrain,
        Self::CorrectMaeTest,
        Self::CrashMaeTrain,
        Self::CrashMaeTest,
        Self::B2Mean,
        Self::B2Var,
        Self::B3Mean,
        Self::B3Var,
        Self::B4Mean,
        Self::B4Var,
    ];

    /// A short label for tables and figures.
    pub fn label(self) -> &'static str {
        match self {
            Self::CorrectAccTrain => "correct accuracy (train)",
            Self::CorrectAccTest => "correct accuracy (test)",
            Self::CrashAccTrain => "crashed accuracy (train)",
            Self::CrashAccTest => "crashed accuracy (test)",
            Self::CorrectMaeTrain => "correct MAE (train)",
            Self::CorrectMaeTest => "correct MAE (test)",
            Self::CrashMaeTrain => "crashed MAE (train)",
            Self::CrashMaeTest => "crashed MAE (test)",
            Self::B2Mean => "b2 mean",
            Self::B2Var => "b2 variance",
            Self::B3Mean => "b3 mean",
            Self::B3Var => "b3 variance",
            Self::B4Mean => "b4 mean",
            Self::B4Var => "b4 variance",
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
            Quantity::CorrectMaeTrain => self.correct_mae_train,
            Quantity::CorrectMaeTest => self.correct_mae_test,
            Quantity::CrashMaeTrain => self.crash_mae_train,
            Quantity::CrashMaeTest => self.crash_mae_test,
            Quantity::B2Mean => self.b2_mean,
            Quantity::B2Var => self.b2_var,
            Quantity::B3Mean => self.b3_mean,
            Quantity::B3Var => self.b3_var,
            Quantity::B4Mean => self.b4_mean,
            Quantity::B4Var => self.b4_var,
        }
    }
}

/// How the crashed metrics and the bounds of [`measure`] are estimated (SPEC §15: p_inf = 0.05
/// at hidden layer 1, 6 passes over the data, bounds over the 60 000 training inputs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CrashEvalParams {
    /// Crash probability at hidden layer 1 (p_inf).
    pub p_inf: f64,
    /// Passes over each data set, each with fresh crash patterns.
    pub repetitions: usize,
    /// The bounds are averaged over the first this many training inputs (all of them when
    /// there are fewer).
    pub bound_train_inputs: usize,
}

/// Measures [`NetQuantities`] of `net` with crashes `p_inf` at hidden layer 1: crashed
/// metrics over `eval.repetitions` passes (crash patterns from `seed`), bounds over the first
/// `eval.bound_train_inputs` training inputs.
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
    let correct_train = evaluate(net, &data.train, Loss::Mse)?;
    let correct_test = evaluate(net, &data.test, Loss::Mse)?;
    let k = eval.bound_train_inputs.min(data.train.rows());
    anyhow::ensure!(k > 0, "bound_train_inputs must be ≥ 1");
    let w = data.train.n_in();
    let x = Inputs::new(data.train.x()[..k * w].to_vec(), k, w)?;
    let (b3_mean, b3_var) = mean_and_variance(&b3(net, &p, &x)?);
    let (b4_mean, b4_var) = mean_and_variance(&b4(net, &p, &x)?);
    let (b2_mean, b2_var) = mean_and_variance(&b2(net, &p, &x)?);
    Ok(NetQuantities {
        correct_acc_train: accuracy(correct_train)?,
        correct_acc_test: accuracy(correct_test)?,
        crash_acc_train: accuracy(crash_train)?,
        crash_acc_test: accuracy(crash_test)?,
        correct_mae_train: correct_train.mae,
        correct_mae_test: correct_test.mae,
        crash_mae_train: crash_train.mae,
        crash_mae_test: crash_test.mae,
        b2_mean,
        b2_var,
        b3_mean,
        b3_var,
        b4_mean,
        b4_var,
    })
}

/// Mean E Δ (signed, as the original's `np.mean(bound['mean'])`) and mean std² over inputs
/// and outputs.
fn mean_and_variance(b: &MeanStd) -> (f64, f64) {
    let var: Vec<f64> = b.std.iter().map(|s| s * s).collect();
    (mean(&b.mean), mean(&var))
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
}
