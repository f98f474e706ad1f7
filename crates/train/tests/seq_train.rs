//! Sequential (CNN) training: autodiff gradients against finite differences, the optimizer
//! formulas, crash-dropout at the input, configuration errors and thread-count independence.

use candle_core::{DType, Device};
use ftnn_model::seq::{ActKind, Architecture};
use ftnn_train::seq::{presets, SeqTrainConfig, SeqTrainer};
use ftnn_train::{Dataset, Optimizer, TrainError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// conv (padding 1) → softplus → maxpool → conv → tanh → flatten → linear →
/// sigmoid → linear → softmax, on [2, 6, 6] inputs.
const TINY: &str = r#"{"input_shape": [2, 6, 6], "layers": [
    {"op": "conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": 3, "padding": 1},
    {"op": "softplus"},
    {"op": "maxpool2d", "kernel_size": 2},
    {"op": "conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 2, "stride": 1},
    {"op": "tanh"},
    {"op": "flatten"},
    {"op": "linear", "in_features": 16, "out_features": 5},
    {"op": "sigmoid"},
    {"op": "linear", "in_features": 5, "out_features": 3},
    {"op": "softmax"}]}"#;

fn tiny() -> Architecture {
    Architecture::from_json(TINY).unwrap()
}

fn random_data(n: usize, n_in: usize, classes: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = (0..n * n_in)
        .map(|_| rng.random_range(0.0..1.0f32))
        .collect();
    let labels = (0..n)
        .map(|_| rng.random_range(0..classes as u32))
        .collect();
    Dataset::classification(x, n_in, labels, classes).unwrap()
}

/// (a) The autodiff gradient of one batch equals central finite differences of the loss.
/// The graph runs in f64 (the parameters are f32, upcast exactly); the actual f32 step
/// `(θ + h) − θ` is used as the denominator. With h = 1e-3 the truncation error of the
/// central difference is O(h²·|L'''|) ≈ 1e-6 for these O(1) derivatives and the f64
/// rounding error ≈ 1e-16/1e-3; the gradient is returned in f32 (relative 6e-8).
/// Tolerance: 2e-5 + 1e-4·|g|.
#[test]
fn gradient_matches_finite_differences() {
    check_gradient(&tiny(), 72, 3);
}

/// conv 3×3 stride 2 padding 2 → softplus → maxpool 2 on an odd 5×5 map (floor mode drops
/// the last row and column) → conv 2×2 → relu → flatten → linear, on [2, 7, 7] inputs: the
/// strided, padded and floor-mode paths of the CPU kernels (TINY covers stride 1).
const STRIDED: &str = r#"{"input_shape": [2, 7, 7], "layers": [
    {"op": "conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": 3, "stride": 2,
     "padding": 2},
    {"op": "softplus"},
    {"op": "maxpool2d", "kernel_size": 2},
    {"op": "conv2d", "in_channels": 3, "out_channels": 2, "kernel_size": 2},
    {"op": "tanh"},
    {"op": "flatten"},
    {"op": "linear", "in_features": 2, "out_features": 3},
    {"op": "softmax"}]}"#;

#[test]
fn gradient_matches_finite_differences_strided_padded_floor_pooled() {
    check_gradient(&Architecture::from_json(STRIDED).unwrap(), 98, 3);
}

fn check_gradient(arch: &Architecture, n_in: usize, classes: usize) {
    let arch = arch.clone();
    let data = random_data(5, n_in, classes, 1);
    let config = SeqTrainConfig::new().label_smoothing(0.1).seed(3);
    let mut t = SeqTrainer::new(config, &arch, &Device::Cpu)
        .unwrap()
        .with_dtype(DType::F64)
        .unwrap();
    let idx: Vec<u32> = (0..5).collect();
    let (_, grads, _) = t.batch_gradients(&data, &idx, 0).unwrap();
    let base = t.parameters().to_vec();
    let h = 1e-3f32;
    let mut checked = 0;
    for (k, g) in grads.iter().enumerate() {
        for i in (0..g.len()).step_by(1 + g.len() / 7) {
            let mut loss = |d: f32| {
                let mut p = base.clone();
                p[k][i] += d;
                let step = p[k][i] as f64 - base[k][i] as f64;
                t.set_parameters(p).unwrap();
                (t.batch_gradients(&data, &idx, 0).unwrap().0, step)
            };
            let ((lp, sp), (lm, sm)) = (loss(h), loss(-h));
            let fd = (lp - lm) / (sp - sm);
            let tol = 2e-5 + 1e-4 * fd.abs();
            assert!(
                (g[i] as f64 - fd).abs() < tol,
                "tensor {k} element {i}: autodiff {} vs finite difference {fd}",
                g[i]
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} derivatives checked");
    assert!(grads.iter().flatten().any(|g| g.abs() > 1e-3));
}

/// Flat parameters (or gradients) per tensor.
type Flat = Vec<Vec<f32>>;

/// (parameters before, gradients, parameters after) of one optimizer step.
fn one_step(opt: Optimizer) -> (Flat, Flat, Flat) {
    let arch = tiny();
    let data = random_data(8, 72, 3, 2);
    let config = SeqTrainConfig::new().optimizer(opt).seed(5);
    let mut t = SeqTrainer::new(config, &arch, &Device::Cpu).unwrap();
    let idx: Vec<u32> = (0..8).rev().collect();
    let (_, g, _) = t.batch_gradients(&data, &idx, 7).unwrap();
    let before = t.parameters().to_vec();
    t.train_batch(&data, &idx, 7).unwrap();
    (before, g, t.parameters().to_vec())
}

/// (b) One Adam step: m = (1−β₁)g, v = (1−β₂)g², α = lr·√(1−β₂)/(1−β₁),
/// θ ← θ − α·m/(√v + ε), evaluated here in f64; the trainer runs it in f32, so the two agree
/// to a few f32 ulps of θ (|θ| < 1): tolerance 1e-6.
#[test]
fn adam_step_follows_the_formula() {
    let (lr, b1, b2, eps) = (1e-3, 0.9, 0.999, 1e-7);
    let (before, grads, after) = one_step(Optimizer::adam());
    let alpha = lr * (1.0f64 - b2).sqrt() / (1.0 - b1);
    let mut moved = 0;
    for ((w0, g), w1) in before
        .iter()
        .flatten()
        .zip(grads.iter().flatten())
        .zip(after.iter().flatten())
    {
        let g = *g as f64;
        let (m, v) = ((1.0 - b1) * g, (1.0 - b2) * g * g);
        let expected = *w0 as f64 - alpha * m / (v.sqrt() + eps);
        assert!((*w1 as f64 - expected).abs() < 1e-6, "{w1} vs {expected}");
        moved += usize::from(w1 != w0);
    }
    assert!(moved > 100);
}

/// (b) One Adadelta step (lr 1, ρ 0.95, ε 1e-7): a = (1−ρ)g², u = √ε/√(a + ε)·g, θ ← θ − u.
#[test]
fn adadelta_step_follows_the_formula() {
    let (rho, eps) = (0.95f64, 1e-7f64);
    let (before, grads, after) = one_step(Optimizer::adadelta());
    let mut moved = 0;
    for ((w0, g), w1) in before
        .iter()
        .flatten()
        .zip(grads.iter().flatten())
        .zip(after.iter().flatten())
    {
        let g = *g as f64;
        let a = (1.0 - rho) * g * g;
        let u = eps.sqrt() / (a + eps).sqrt() * g;
        let expected = *w0 as f64 - u;
        assert!((*w1 as f64 - expected).abs() < 1e-6, "{w1} vs {expected}");
        moved += usize::from(w1 != w0);
    }
    assert!(moved > 100);
}

/// (d) Crash-dropout p = 1 at the input zeroes every input: all logits of a batch are the
/// same whatever the inputs; with p = 0 they differ.
#[test]
fn input_crash_dropout_one_hides_the_input() {
    let arch = tiny();
    let data = random_data(6, 72, 3, 4);
    let idx: Vec<u32> = (0..6).collect();
    let logits = |p: f64| {
        let config = SeqTrainConfig::new().crash_dropout(0, p).seed(1);
        let t = SeqTrainer::new(config, &arch, &Device::Cpu).unwrap();
        t.batch_gradients(&data, &idx, 3).unwrap().2
    };
    let crashed = logits(1.0);
    assert!(crashed.chunks(3).all(|r| r == &crashed[..3]));
    let clean = logits(0.0);
    assert!(clean.chunks(3).any(|r| r != &clean[..3]));
}

#[test]
fn bad_configurations_and_data_are_typed_errors() {
    let arch = tiny();
    let dev = Device::Cpu;
    let config_err =
        |c: SeqTrainConfig| matches!(SeqTrainer::new(c, &arch, &dev), Err(TrainError::Config(_)));
    assert!(config_err(SeqTrainConfig::new().crash_dropout(0, 1.5)));
    assert!(config_err(SeqTrainConfig::new().crash_dropout(0, -0.1)));
    assert!(config_err(SeqTrainConfig::new().crash_dropout(1, f64::NAN)));
    assert!(config_err(SeqTrainConfig::new().batch_size(0)));
    assert!(config_err(SeqTrainConfig::new().epochs(0)));
    // Sites of TINY: input, softplus, tanh, sigmoid, output (4): the output and beyond fail.
    assert!(!config_err(SeqTrainConfig::new().crash_dropout(3, 0.1)));
    assert!(config_err(SeqTrainConfig::new().crash_dropout(4, 0.1)));
    assert!(config_err(SeqTrainConfig::new().crash_dropout(9, 0.1)));
    assert!(config_err(
        SeqTrainConfig::new().optimizer(Optimizer::adam().with_lr(f64::NAN))
    ));
    let mut t = SeqTrainer::new(SeqTrainConfig::new().epochs(1), &arch, &dev).unwrap();
    let wrong_width = random_data(4, 36, 3, 1);
    assert!(matches!(
        t.fit(&wrong_width, None, &mut |_| {}),
        Err(TrainError::Data(_))
    ));
    let wrong_classes = random_data(4, 72, 4, 1);
    assert!(matches!(
        t.fit(&wrong_classes, None, &mut |_| {}),
        Err(TrainError::Data(_))
    ));
    let regression = Dataset::regression(vec![0.5; 72], 72, vec![1.0; 3], 3).unwrap();
    assert!(matches!(
        t.fit(&regression, None, &mut |_| {}),
        Err(TrainError::Data(_))
    ));
    assert!(presets::mnist_cnn(ActKind::Softplus, 0.0).is_err());
    assert!(presets::mnist_cnn(ActKind::Softplus, f64::NAN).is_err());
    // 784-pixel rows need repeat_channels(3) for the [3, 28, 28] MNIST CNN.
    let cnn = presets::mnist_cnn(ActKind::Softplus, 0.25).unwrap();
    let gray = random_data(2, 784, 10, 1);
    let mut t = SeqTrainer::new(SeqTrainConfig::new().epochs(1), &cnn, &dev).unwrap();
    assert!(matches!(
        t.fit(&gray, None, &mut |_| {}),
        Err(TrainError::Data(_))
    ));
    let mut t = SeqTrainer::new(
        SeqTrainConfig::new().epochs(1).repeat_channels(3),
        &cnn,
        &dev,
    )
    .unwrap();
    assert!(t.fit(&gray, None, &mut |_| {}).is_ok());
    let bn = Architecture::from_json(
        r#"{"input_shape": [1, 4, 4], "layers": [
        {"op": "conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3},
        {"op": "batchnorm2d", "num_features": 2}, {"op": "flatten"},
        {"op": "linear", "in_features": 8, "out_features": 2}]}"#,
    )
    .unwrap();
    assert!(matches!(
        SeqTrainer::new(SeqTrainConfig::new(), &bn, &dev),
        Err(TrainError::Config(_))
    ));
}

/// (f) The same seed gives bit-identical parameters with 1 and 2 rayon threads (dropout
/// layers and crash-dropout active).
#[test]
fn same_seed_same_parameters_whatever_the_thread_count() {
    let arch = presets::mnist_cnn(ActKind::Relu, 0.25).unwrap();
    let data = random_data(96, 784, 10, 8);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let config = SeqTrainConfig::new()
                    .epochs(1)
                    .batch_size(32)
                    .repeat_channels(3)
                    .crash_dropout(1, 0.1)
                    .seed(11);
                let mut t = SeqTrainer::new(config, &arch, &Device::Cpu).unwrap();
                t.fit(&data, None, &mut |_| {}).unwrap();
                t.parameters().to_vec()
            })
    };
    let (a, b) = (run(1), run(2));
    assert_eq!(a, b);
    let fresh = SeqTrainer::new(SeqTrainConfig::new().seed(11), &arch, &Device::Cpu).unwrap();
    assert_ne!(a, fresh.parameters());
}

/// The adversarial CNN of AE_fgsm_mnist.ipynb: [1, 28, 28] → 10, the input is site 0.
#[test]
fn adversarial_cnn_shape_and_input_site() {
    let arch = presets::adversarial_cnn();
    assert_eq!(arch.output_shape().unwrap(), vec![10]);
    let data = random_data(4, 784, 10, 2);
    let config = SeqTrainConfig::new().epochs(1).crash_dropout(0, 0.5);
    let mut t = SeqTrainer::new(config, &arch, &Device::Cpu).unwrap();
    t.fit(&data, None, &mut |_| {}).unwrap();
    let net = t.model().unwrap();
    assert_eq!(net.sites()[0].label, "input");
    assert_eq!(net.n_sites(), 5); // input, three relu, output
}

/// `from_model(model())` continues from the same parameters.
#[test]
fn from_model_round_trips_the_parameters() {
    let arch = tiny();
    let data = random_data(8, 72, 3, 6);
    let mut t = SeqTrainer::new(
        SeqTrainConfig::new().epochs(1).batch_size(4),
        &arch,
        &Device::Cpu,
    )
    .unwrap();
    t.fit(&data, None, &mut |_| {}).unwrap();
    let again = SeqTrainer::from_model(SeqTrainConfig::new(), &t.model().unwrap()).unwrap();
    assert_eq!(again.parameters(), t.parameters());
}
