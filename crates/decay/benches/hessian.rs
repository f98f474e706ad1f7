//! Timing of the SPEC §8 metrics on the MNIST architecture 784→1500→100→10 (sigmoid, paper
//! init, inputs uniform in [0, 1], one-hot targets, Keras MSE):
//! * `hessian_stats/10`: H_diag and H_all over 10 samples (≈ 10 × 1500² × 100 multiply–adds
//!   in f64);
//! * `derivative_decay/10000`: D over 10 000 samples (one batched forward and backward).

use criterion::{criterion_group, criterion_main, Criterion};
use ftnn_decay::{derivative_decay, hessian_stats, Loss, HESSIAN_SAMPLES};
use ftnn_model::{Activation, Init, Inputs, Mlp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// A retaining allocator, as in the other benches: the batched GEMM paths allocate and free
/// multi-megabyte buffers that the system allocator would return to the kernel every call.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SIZES: [usize; 4] = [784, 1500, 100, 10];

fn setup(rows: usize) -> (Mlp, Inputs, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let net = Mlp::init(&SIZES, Activation::Sigmoid, 1.0, Init::Paper, &mut rng).unwrap();
    let x: Vec<f32> = (0..rows * SIZES[0]).map(|_| rng.random::<f32>()).collect();
    let mut targets = vec![0f32; rows * 10];
    for r in 0..rows {
        targets[r * 10 + rng.random_range(0..10)] = 1.0;
    }
    (net, Inputs::new(x, rows, SIZES[0]).unwrap(), targets)
}

fn bench(c: &mut Criterion) {
    // The thread settings of the binaries (candle parses /proc/cpuinfo on every GEMM otherwise).
    ftnn_model::runtime::configure_candle_threads();
    let (net, x, targets) = setup(10_000);
    let mut group = c.benchmark_group("decay_784_1500_100_10");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("hessian_stats/10", |b| {
        b.iter(|| hessian_stats(&net, &x, &targets, HESSIAN_SAMPLES).unwrap())
    });
    group.bench_function("derivative_decay/10000", |b| {
        b.iter(|| derivative_decay(&net, &x, &targets, Loss::Mse).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
