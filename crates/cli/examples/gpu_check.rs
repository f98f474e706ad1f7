//! The engine half of `cargo xtask gpu-check` (xtask/src/gpu_check.rs builds and runs it):
//! the same seeded analyses and one training epoch on the CPU and on a CUDA GPU, compared
//! within float tolerance, with the speed of each.
//!
//! ```text
//! cargo run --release -p ftnn-cli --example gpu_check --features cuda    # CPU and cuda:0
//! cargo run --release -p ftnn-cli --example gpu_check -- --cpu-only      # the CPU half
//! ```
//!
//! Checked on each device (SPEC §3, §4, §11, §14): Monte Carlo (same seed, so the same host-drawn
//! crash masks) on a 784-1000-100-10 ReLU MLP and on the shipped MNIST CNN
//! (`data/models/mnist-cnn.pth`, `Sequential::mnist_cnn`), exact enumeration on a small MLP,
//! b3 and b4 on both networks, and one crash-dropout training epoch of the 784-1000-100-10 MLP.
//! Inputs are seeded uniform values in [0, 1] (the speed does not depend on them). Agreement:
//! |gpu − cpu| ≤ tol·(1 + max|cpu|) per quantity, tol = 1e-3 for the analyses (f32 GEMMs in
//! another order), 1e-2 for the trained weights (one Adam epoch amplifies rounding).
//!
//! Exit codes: 0 all agree (or the CPU half ran), 1 a disagreement or failure, 2 no CUDA
//! build, 3 a CUDA build without a usable GPU.

use candle_core::{Device, Tensor};
use ftnn_bounds::{seq_b3, seq_b4};
use ftnn_model::runtime::{DeviceError, DeviceSpec};
use ftnn_model::seq::{seq_exact_delta, SeqMonteCarlo, Sequential};
use ftnn_model::{Activation, FailureVector, Init, Mlp};
use ftnn_train::{Dataset, TrainConfig, Trainer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::process::ExitCode;
use std::time::Instant;

/// Sizes of one run.
struct Sizes {
    inputs: usize,
    repetitions: usize,
    train_rows: usize,
}

/// The numbers of one device and their timings.
struct Outcome {
    values: Vec<(&'static str, Vec<f64>, f64)>,
    timings: Vec<String>,
}

fn uniform(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random::<f32>()).collect()
}

fn interior(n_sites: usize, p: f64) -> anyhow::Result<FailureVector> {
    let v = (0..n_sites)
        .map(|s| if s == 0 || s + 1 == n_sites { 0.0 } else { p })
        .collect();
    Ok(FailureVector::new(v)?)
}

/// Monte Carlo on `net`: mean and std of Δ, seconds.
fn monte_carlo(
    net: &Sequential,
    p: &FailureVector,
    x: &Tensor,
    reps: usize,
) -> anyhow::Result<(Vec<f64>, f64)> {
    let t = Instant::now();
    let s = SeqMonteCarlo::new(net, p.clone())?
        .repetitions(reps)
        .seed(7)
        .run(x)?;
    let secs = t.elapsed().as_secs_f64();
    Ok(([s.mean, s.std].concat(), secs))
}

fn run_on(device: &Device, sz: &Sizes) -> anyhow::Result<Outcome> {
    let (mut values, mut timings) = (Vec::new(), Vec::new());
    let n = sz.inputs;
    let rows = (n * sz.repetitions) as f64;

    // 784-1000-100-10 ReLU MLP, on the Sequential engine of the device.
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mlp = Mlp::init(
        &[784, 1000, 100, 10],
        Activation::Relu,
        1.0,
        Init::LeCun,
        &mut rng,
    )?;
    let net = Sequential::from_mlp(&mlp, device)?;
    let x = Tensor::from_vec(uniform(n * 784, 2), (n, 784), device)?;
    let p = interior(net.n_sites(), 0.01)?;
    let (mc, secs) = monte_carlo(&net, &p, &x, sz.repetitions)?;
    values.push(("MLP Monte Carlo mean|std", mc, 1e-3));
    timings.push(format!(
        "MLP 784-1000-100-10 Monte Carlo: {:.0} crashed passes/s ({} × {} in {secs:.2} s)",
        rows / secs,
        n,
        sz.repetitions
    ));
    let t = Instant::now();
    let b3 = seq_b3(&net, &p, &x, None)?;
    let secs = t.elapsed().as_secs_f64();
    timings.push(format!(
        "MLP b3: {:.3} s per 1000 inputs",
        secs / n as f64 * 1000.0
    ));
    values.push(("MLP b3 mean|std", [b3.mean, b3.std].concat(), 1e-3));
    let b4 = seq_b4(&net, &p, &x, None)?;
    values.push(("MLP b4 mean|std", [b4.mean, b4.std].concat(), 1e-3));

    // Exact enumeration on a small MLP (9 crashable neurons, 512 patterns).
    let small = Mlp::init(
        &[6, 5, 4, 2],
        Activation::Sigmoid,
        1.0,
        Init::LeCun,
        &mut rng,
    )?;
    let small = Sequential::from_mlp(&small, device)?;
    let xs = Tensor::from_vec(uniform(10 * 6, 3), (10, 6), device)?;
    let ps = interior(small.n_sites(), 0.1)?;
    let ex = seq_exact_delta(&small, &ps, &xs, None, 20)?;
    values.push(("small MLP exact mean|std", [ex.mean, ex.std].concat(), 1e-3));

    // The shipped MNIST CNN.
    let dir = ftnn_data::DataDir::locate()?;
    let cnn = Sequential::mnist_cnn(&dir, device)?;
    let xc = Tensor::from_vec(uniform(n * 784, 4), (n, 1, 28, 28), device)?;
    let pc = interior(cnn.n_sites(), 0.01)?;
    let (mc, secs) = monte_carlo(&cnn, &pc, &xc, sz.repetitions)?;
    values.push(("CNN Monte Carlo mean|std", mc, 1e-3));
    timings.push(format!(
        "MNIST CNN Monte Carlo: {:.0} crashed passes/s ({} × {} in {secs:.2} s)",
        rows / secs,
        n,
        sz.repetitions
    ));
    let t = Instant::now();
    let b3 = seq_b3(&cnn, &pc, &xc, None)?;
    let secs = t.elapsed().as_secs_f64();
    timings.push(format!(
        "MNIST CNN b3: {:.3} s per 1000 inputs",
        secs / n as f64 * 1000.0
    ));
    values.push(("CNN b3 mean|std", [b3.mean, b3.std].concat(), 1e-3));
    let b4 = seq_b4(&cnn, &pc, &xc, None)?;
    values.push(("CNN b4 mean|std", [b4.mean, b4.std].concat(), 1e-3));

    // One crash-dropout epoch of 784-1000-100-10 on seeded random data.
    let labels: Vec<u32> = {
        let mut r = ChaCha8Rng::seed_from_u64(5);
        (0..sz.train_rows).map(|_| r.random_range(0..10)).collect()
    };
    let data = Dataset::classification(uniform(sz.train_rows * 784, 6), 784, labels, 10)?;
    let config = TrainConfig::new(vec![784, 1000, 100, 10])
        .activation(Activation::Relu)
        .epochs(1)
        .p_train(FailureVector::new(vec![0.0, 0.01, 0.01, 0.0])?);
    let mut trainer = Trainer::new_on(config, device)?;
    let record = trainer.epoch(&data, None, &mut |_| {})?;
    timings.push(format!(
        "MLP 784-1000-100-10 training epoch: {:.2} s ({} examples, batches of 100)",
        record.seconds, sz.train_rows
    ));
    let model = trainer.model()?;
    let weights: Vec<f64> = model
        .layers()
        .iter()
        .flat_map(|d| d.weight().iter().chain(d.bias()).map(|&v| v as f64))
        .collect();
    values.push(("training objective", vec![record.objective], 1e-3));
    values.push(("trained weights", weights, 1e-2));
    Ok(Outcome { values, timings })
}

fn main() -> ExitCode {
    ftnn_model::runtime::configure_candle_threads();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cpu_only = args.iter().any(|a| a == "--cpu-only");
    let sz = if args.iter().any(|a| a == "--small") {
        Sizes {
            inputs: 10,
            repetitions: 200,
            train_rows: 1000,
        }
    } else {
        Sizes {
            inputs: 100,
            repetitions: 1000,
            train_rows: 10_000,
        }
    };
    let gpu = if cpu_only {
        None
    } else {
        match DeviceSpec::Cuda(0).open() {
            Ok(d) => Some(d),
            Err(e @ DeviceError::NoCudaBuild(_)) => {
                eprintln!("gpu-check: {e}; use --cpu-only for the CPU half");
                return ExitCode::from(2);
            }
            Err(e) => {
                eprintln!("gpu-check: no usable GPU on this machine: {e}");
                return ExitCode::from(3);
            }
        }
    };
    let run = |name: &str, device: &Device| -> Option<Outcome> {
        println!("== {name}");
        match run_on(device, &sz) {
            Ok(o) => {
                for t in &o.timings {
                    println!("  {t}");
                }
                Some(o)
            }
            Err(e) => {
                eprintln!("gpu-check: the {name} run failed: {e:#}");
                None
            }
        }
    };
    let Some(cpu) = run("cpu", &Device::Cpu) else {
        return ExitCode::FAILURE;
    };
    let Some(gpu) = gpu else {
        println!(
            "CPU half done ({} quantities computed); no GPU compared",
            cpu.values.len()
        );
        return ExitCode::SUCCESS;
    };
    let Some(on_gpu) = run("cuda:0", &gpu) else {
        return ExitCode::FAILURE;
    };
    let mut ok = true;
    println!("== agreement (|gpu − cpu| ≤ tol·(1 + max|cpu|))");
    for ((name, a, tol), (_, b, _)) in cpu.values.iter().zip(&on_gpu.values) {
        let scale = 1.0 + a.iter().fold(0f64, |m, v| m.max(v.abs()));
        let diff = a.iter().zip(b).fold(0f64, |m, (x, y)| m.max((x - y).abs()));
        let pass = a.len() == b.len() && diff <= tol * scale;
        ok &= pass;
        println!(
            "  {} {name}: max |diff| {diff:.3e} (tol {:.3e})",
            if pass { "OK  " } else { "FAIL" },
            tol * scale
        );
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
