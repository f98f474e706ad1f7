//! Monte Carlo throughput on the shipped MNIST CNN (`data/models/mnist-cnn.pth`, SPEC §9, §14):
//! crashed forward passes per second with p = 0.01 at the input only and at every crash site,
//! beside the naive masked forward (inputs repeated R times, a full Bernoulli mask per site,
//! the network's plain forward ops) and the clean forward pass of the same number of rows.
//!
//! `cargo bench -p ftnn-model --bench seq_montecarlo`

use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ftnn_data::{load_mnist, DataDir, ImageSet, Split};
use ftnn_model::seq::{SeqMonteCarlo, Sequential};
use ftnn_model::FailureVector;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Test digits analysed per run.
const INPUTS: usize = 4;
/// Repetitions per digit.
const REPS: usize = 256;

fn setup() -> (Sequential, Tensor) {
    let dir = DataDir::locate().expect("data directory (run from the repository)");
    let net = Sequential::mnist_cnn(&dir, &Device::Cpu).expect("the MNIST CNN");
    let test = load_mnist(&dir, ImageSet::Mnist, Split::Test)
        .expect("MNIST")
        .subset(0..INPUTS);
    let x: Vec<f32> = test.images.iter().map(|&v| (v - 0.1307) / 0.3081).collect();
    let x = Tensor::from_vec(x, (INPUTS, 1, 28, 28), &Device::Cpu).expect("inputs");
    (net, x)
}

/// The naive masked forward: every input repeated `REPS` times, a Bernoulli(1 − p) mask drawn
/// for every element of every crashing site, the whole network evaluated on every row.
fn naive(net: &Sequential, x: &Tensor, p: &[f64], rng: &mut ChaCha8Rng) -> Tensor {
    let dev = Device::Cpu;
    let rows = INPUTS * REPS;
    let xr = x
        .unsqueeze(1)
        .and_then(|t| t.repeat((1, REPS, 1, 1, 1)))
        .and_then(|t| t.reshape((rows, 1, 28, 28)))
        .expect("repeat");
    let masks: Vec<Option<Tensor>> = net
        .sites()
        .iter()
        .zip(p)
        .map(|(s, &ps)| {
            (ps > 0.0).then(|| {
                let m: Vec<f32> = (0..rows * s.size)
                    .map(|_| if rng.random::<f64>() < ps { 0.0 } else { 1.0 })
                    .collect();
                Tensor::from_vec(m, (rows, s.size), &dev).expect("mask")
            })
        })
        .collect();
    net.forward_masked(&xr, &masks).expect("forward")
}

fn bench(c: &mut Criterion) {
    ftnn_model::runtime::configure_candle_threads();
    let (net, x) = setup();
    let n_sites = net.n_sites();
    let rows = (INPUTS * REPS) as u64;
    let mut g = c.benchmark_group("seq_montecarlo/mnist-cnn");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6))
        .throughput(Throughput::Elements(rows));
    let mut input = vec![0.0; n_sites];
    input[0] = 0.01;
    let every = vec![0.01; n_sites];
    for (label, p) in [("input", &input), ("every", &every)] {
        let fv = FailureVector::new(p.clone()).expect("p");
        let mc = SeqMonteCarlo::new(&net, fv)
            .expect("mc")
            .repetitions(REPS)
            .seed(1);
        g.bench_function(BenchmarkId::new("ftnn", label), |b| {
            b.iter(|| mc.run(&x).expect("run"))
        });
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        g.bench_function(BenchmarkId::new("naive", label), |b| {
            b.iter(|| naive(&net, &x, p, &mut rng))
        });
    }
    let xr = x
        .unsqueeze(1)
        .and_then(|t| t.repeat((1, REPS, 1, 1, 1)))
        .and_then(|t| t.reshape((INPUTS * REPS, 1, 28, 28)))
        .expect("repeat");
    g.bench_function("clean_forward", |b| {
        b.iter(|| net.forward(&xr).expect("forward"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
