//! Shared machinery of the CNN experiments (`convnet-mnist`, `convnet-ft`; SPEC §9): MNIST as
//! CNN inputs, training SPEC §9's MNIST CNN ([`train_mnist_cnn`]), and Monte Carlo statistics
//! of Δ in independent runs with standard errors from the spread over the runs
//! ([`batched_mc`]).
//!
//! **Standard errors over runs.** A run r of `R_r` draws gives per input and output the
//! sample mean `m_r` and variance `v_r`. The pooled moments are the exact ones of all
//! `N = Σ R_r` draws: `m = Σ R_r m_r / N`,
//! `v = (Σ (R_r − 1) v_r + Σ R_r (m_r − m)²) / (N − 1)`. Their standard errors come from the
//! spread over the B runs, `se(v) = sd_r(v_r)/√B` (no assumption on the shape of Δ, whose
//! distribution at small p is mostly zeros and heavy tailed), and by the delta method
//! `se(std) = se(v) / (2 std)`.

use anyhow::Context as _;
use candle_core::{Device, Tensor};
use ftnn_data::{load_mnist, DataDir, ImageData, ImageSet, Split};
use ftnn_model::seq::{ActKind, SeqMonteCarlo, Sequential};
use ftnn_model::FailureVector;
use ftnn_train::seq::{presets, SeqTrainConfig, SeqTrainer};
use ftnn_train::{Dataset, Optimizer};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Pooled Monte Carlo moments with standard errors over runs (module docs), flat `[N, n_L]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// Inputs N.
    pub n_inputs: usize,
    /// Outputs n_L.
    pub n_outputs: usize,
    /// Draws per run.
    pub per_run: Vec<usize>,
    /// Pooled mean of Δ.
    pub mean: Vec<f64>,
    /// Pooled standard deviation of Δ.
    pub std: Vec<f64>,
    /// Standard error of `std` (delta method on the spread of the runs' variances).
    pub std_se: Vec<f64>,
    /// Per run: the runs' means, flat `[N, n_L]` each.
    pub run_means: Vec<Vec<f64>>,
    /// Per run: the runs' variances, flat `[N, n_L]` each.
    pub run_vars: Vec<Vec<f64>>,
}

/// Monte Carlo of Δ on `net` for the inputs `x` in `runs` independent runs of `repetitions`
/// draws each (seeds `seed + r`), pooled with standard errors (module docs). Needs ≥ 2 runs.
pub fn batched_mc(
    net: &Sequential,
    p: &FailureVector,
    x: &Tensor,
    runs: usize,
    repetitions: usize,
    seed: u64,
) -> anyhow::Result<RunStats> {
    anyhow::ensure!(runs >= 2, "need at least 2 Monte Carlo runs, got {runs}");
    anyhow::ensure!(repetitions >= 2, "need at least 2 draws per run");
    let mut run_means = Vec::with_capacity(runs);
    let mut run_vars = Vec::with_capacity(runs);
    let (mut n_inputs, mut n_outputs) = (0, 0);
    for r in 0..runs {
        let st = SeqMonteCarlo::new(net, p.clone())?
            .repetitions(repetitions)
            .seed(seed.wrapping_add(r as u64))
            .run(x)?;
        n_inputs = st.n_inputs;
        n_outputs = st.n_outputs;
        run_means.push(st.mean);
        run_vars.push(st.std.iter().map(|s| s * s).collect::<Vec<f64>>());
    }
    Ok(pool(
        n_inputs,
        n_outputs,
        vec![repetitions; runs],
        run_means,
        run_vars,
    ))
}

/// Pools per-run means and variances (module docs).
pub fn pool(
    n_inputs: usize,
    n_outputs: usize,
    per_run: Vec<usize>,
    run_means: Vec<Vec<f64>>,
    run_vars: Vec<Vec<f64>>,
) -> RunStats {
    let len = n_inputs * n_outputs;
    let b = per_run.len() as f64;
    let total: f64 = per_run.iter().map(|&r| r as f64).sum();
    let mut mean = vec![0.0; len];
    let mut std = vec![0.0; len];
    let mut std_se = vec![0.0; len];
    for j in 0..len {
        let m = per_run
            .iter()
            .zip(&run_means)
            .map(|(&r, rm)| r as f64 * rm[j])
            .sum::<f64>()
            / total;
        let ss: f64 = per_run
            .iter()
            .zip(run_means.iter().zip(&run_vars))
            .map(|(&r, (rm, rv))| (r as f64 - 1.0) * rv[j] + r as f64 * (rm[j] - m).powi(2))
            .sum();
        let v = ss / (total - 1.0);
        let vs: Vec<f64> = run_vars.iter().map(|rv| rv[j]).collect();
        let se_v = super::mnist::sd(&vs) / b.sqrt();
        mean[j] = m;
        std[j] = v.max(0.0).sqrt();
        std_se[j] = if std[j] > 0.0 {
            se_v / (2.0 * std[j])
        } else {
            0.0
        };
    }
    RunStats {
        n_inputs,
        n_outputs,
        per_run,
        mean,
        std,
        std_se,
        run_means,
        run_vars,
    }
}

/// MNIST training and test images (pixels /255, labels), the first `train`/`test` of each.
pub struct MnistImages {
    /// Training images.
    pub train: ImageData,
    /// Test images.
    pub test: ImageData,
}

/// Loads MNIST (checksums verified), cut to the first `train` and `test` images when given.
pub fn load_images(train: Option<usize>, test: Option<usize>) -> anyhow::Result<MnistImages> {
    let dir = DataDir::locate().context("locating the data directory for MNIST")?;
    let tr = load_mnist(&dir, ImageSet::Mnist, Split::Train)?;
    let te = load_mnist(&dir, ImageSet::Mnist, Split::Test)?;
    let cut = |n: Option<usize>, all: usize| n.unwrap_or(all).min(all);
    let (a, b) = (cut(train, tr.len()), cut(test, te.len()));
    anyhow::ensure!(a > 0 && b > 0, "the MNIST subsets are empty");
    Ok(MnistImages {
        train: tr.subset(0..a),
        test: te.subset(0..b),
    })
}

/// Index of the first test image of each class 0..10 (the notebook crashed one digit; SPEC §9
/// takes one test digit per class: the first of each).
pub fn first_of_each_class(test: &ImageData) -> anyhow::Result<Vec<usize>> {
    (0..10u8)
        .map(|c| {
            test.labels
                .iter()
                .position(|&l| l == c)
                .with_context(|| format!("no test image of class {c}"))
        })
        .collect()
}

/// The images `idx` as a batch `[n, c, 28, 28]`: each 28×28 plane (pixels /255) mapped by
/// `f` and repeated over `c` channels.
pub fn batch(
    test: &ImageData,
    idx: &[usize],
    c: usize,
    f: impl Fn(f32) -> f32,
    device: &Device,
) -> anyhow::Result<Tensor> {
    let mut v = Vec::with_capacity(idx.len() * c * test.pixels());
    for &i in idx {
        let plane: Vec<f32> = test.image(i).iter().map(|&x| f(x)).collect();
        for _ in 0..c {
            v.extend_from_slice(&plane);
        }
    }
    Ok(Tensor::from_vec(
        v,
        (idx.len(), c, test.rows, test.cols),
        device,
    )?)
}

/// The test accuracy below which a trained MNIST CNN counts as *not trained*: its crash
/// error says nothing about the paper's trained networks (.9919 in ConvNetTest-MNIST), so the
/// verdicts that rest on it are *not comparable* (rule fixed before the run, SPEC §16).
/// The softplus CNN sits on a plateau at the majority class's 0.1135 for hundreds of
/// Adadelta steps before it learns — Keras's own run of the notebook did, for its whole first
/// epoch of 469 steps — so a too-short training shows as this accuracy, not as an error.
pub const TRAINED_ACCURACY: f64 = 0.95;

/// `Some(why)` when `info` is below [`TRAINED_ACCURACY`].
pub fn untrained(what: &str, info: &TrainedInfo) -> Option<String> {
    (info.test_accuracy < TRAINED_ACCURACY).then(|| {
        format!(
            "{what} did not train: test accuracy {:.4} < {TRAINED_ACCURACY} after {} epoch(s) \
             on {} examples ({} Adadelta steps of batch 128 at most)",
            info.test_accuracy,
            info.epochs,
            info.examples,
            info.epochs * info.examples.div_ceil(128)
        )
    })
}

/// How one MNIST CNN is trained (SPEC §9, §15 row convnet-mnist: Adadelta lr 1.0,
/// cross-entropy, batch 128).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CnnTraining {
    /// Epochs.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Training examples (the first n of the 60 000; all when `None`).
    pub train_examples: Option<usize>,
    /// Test examples for the accuracy (the first n of the 10 000; all when `None`).
    pub test_examples: Option<usize>,
}

/// A trained network's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainedInfo {
    /// Width multiplier.
    pub width: f64,
    /// Epochs trained.
    pub epochs: usize,
    /// Training examples used.
    pub examples: usize,
    /// Test accuracy.
    pub test_accuracy: f64,
    /// Wall-clock seconds of the training.
    pub seconds: f64,
}

/// Trains SPEC §9's MNIST CNN (activation `act`, widths × `width`, input repeated to 3
/// channels) with Adadelta as `t` says, from `seed`; returns the network, the architecture's
/// JSON and its record.
pub fn train_mnist_cnn(
    act: ActKind,
    width: f64,
    t: &CnnTraining,
    data: &MnistImages,
    seed: u64,
    device: &Device,
) -> anyhow::Result<(Sequential, TrainedInfo)> {
    let arch = presets::mnist_cnn(act, width)?;
    let mut config = SeqTrainConfig::new()
        .optimizer(Optimizer::adadelta())
        .epochs(t.epochs)
        .batch_size(t.batch_size)
        .seed(seed)
        .repeat_channels(3);
    if let Some(n) = t.train_examples {
        config = config.train_subset(n);
    }
    let train = Dataset::from_images(&data.train)?;
    let test = Dataset::from_images(&data.test)?;
    let start = Instant::now();
    let mut trainer = SeqTrainer::new(config, &arch, device)?;
    trainer.fit(&train, None, &mut |_| {})?;
    let seconds = start.elapsed().as_secs_f64();
    let net = trainer.model()?;
    let test_accuracy = ftnn_train::seq::accuracy(&net, &test, 500)?;
    let examples = t
        .train_examples
        .map_or(train.rows(), |n| n.min(train.rows()));
    Ok((
        net,
        TrainedInfo {
            width,
            epochs: t.epochs,
            examples,
            test_accuracy,
            seconds,
        },
    ))
}

/// Accuracy of the shipped MNIST CNN (input `[1, 28, 28]`, MNIST normalisation) on `test`.
pub fn shipped_accuracy(net: &Sequential, test: &ImageData) -> anyhow::Result<f64> {
    let mut correct = 0usize;
    let n = test.len();
    let mut first = 0;
    while first < n {
        let last = (first + 500).min(n);
        let idx: Vec<usize> = (first..last).collect();
        let x = batch(test, &idx, 1, mnist_normalise, net.device())?;
        let y = net.forward(&x)?.argmax(1)?.to_vec1::<u32>()?;
        correct += y
            .iter()
            .zip(&test.labels[first..last])
            .filter(|(a, b)| **a == u32::from(**b))
            .count();
        first = last;
    }
    Ok(correct as f64 / n as f64)
}

/// The shipped MNIST CNN's input normalisation `(x − 0.1307)/0.3081` (x = pixel/255).
pub fn mnist_normalise(x: f32) -> f32 {
    (x - ftnn_data::images::MNIST_MEAN) / ftnn_data::images::MNIST_STD
}

/// Least-squares line `y = a + b x`: `(a, b, se(b))` (se from the residuals, n − 2 degrees of
/// freedom; NaN with fewer than 3 points).
pub fn ols(x: &[f64], y: &[f64]) -> (f64, f64, f64) {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let b = sxy / sxx;
    let a = my - b * mx;
    let se = if x.len() > 2 {
        let rss: f64 = x.iter().zip(y).map(|(u, v)| (v - a - b * u).powi(2)).sum();
        (rss / (n - 2.0) / sxx).sqrt()
    } else {
        f64::NAN
    };
    (a, b, se)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_equals_one_big_sample() {
        // Two runs of the values {1,2,3} and {5,7}: pooled over all five.
        let all = [1.0, 2.0, 3.0, 5.0, 7.0];
        let m = all.iter().sum::<f64>() / 5.0;
        let v = all.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / 4.0;
        let s = pool(
            1,
            1,
            vec![3, 2],
            vec![vec![2.0], vec![6.0]],
            vec![vec![1.0], vec![2.0]],
        );
        assert!((s.mean[0] - m).abs() < 1e-12);
        assert!((s.std[0] - v.sqrt()).abs() < 1e-12);
        // sd of {1, 2} = 1/√2, over √2 runs = 0.5; / (2 std)
        assert!((s.std_se[0] - 0.5 / (2.0 * v.sqrt())).abs() < 1e-12);
    }

    #[test]
    fn a_network_on_the_plateau_is_untrained() {
        let info = |acc| TrainedInfo {
            width: 1.0,
            epochs: 1,
            examples: 12_000,
            test_accuracy: acc,
            seconds: 1.0,
        };
        let why = untrained("the CNN", &info(0.1135)).expect("0.1135 is the plateau");
        assert!(
            why.contains("0.1135") && why.contains("94 Adadelta steps"),
            "{why}"
        );
        assert_eq!(untrained("the CNN", &info(0.9919)), None);
        assert!(untrained("the CNN", &info(TRAINED_ACCURACY - 1e-9)).is_some());
        assert_eq!(untrained("the CNN", &info(TRAINED_ACCURACY)), None);
    }

    #[test]
    fn ols_recovers_a_line() {
        let x = [0.0, 1.0, 2.0, 3.0];
        let y = [1.0, 3.1, 4.9, 7.0];
        let (a, b, se) = ols(&x, &y);
        assert!((b - 1.98).abs() < 1e-9, "{b}");
        assert!((a - 1.03).abs() < 1e-9, "{a}");
        assert!(se > 0.0 && se < 0.1);
    }
}
