//! Monte Carlo throughput (crashed forward passes per second), SPEC §14.
//!
//! For 784-100-50-10 and 784-1000-100-10 sigmoid networks:
//! * `fast/h1`: the incremental engine, p = 0.01 at hidden layer 1 only;
//! * `fast/hidden`: the incremental engine, p = 0.01 at every hidden layer;
//! * `dense/h1`: the engine's dense reference path (same masks, full recompute);
//! * `naive/h1`: what a PyTorch user writes — inputs repeated R times, a full Bernoulli mask
//!   per layer, dense masked forwards as tensor ops (candle);
//! * `sgemm`: the plain GEMMs of one crash-free forward pass over the same rows (the FLOP-rate
//!   yardstick: 2·Σ n_{l−1} n_l flops per row).
//!
//! Throughput is in rows (crashed forward passes) per second.

use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ftnn_model::{Activation, FailureVector, Init, Inputs, Mlp, MonteCarlo, Strategy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// A retaining allocator: the batched GEMM paths allocate and free multi-megabyte buffers, which
/// the system allocator returns to the kernel and page-faults back in on every call.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const INPUTS: usize = 8;

fn setup(sizes: &[usize]) -> (Mlp, Inputs) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let net = Mlp::init(sizes, Activation::Sigmoid, 1.0, Init::Paper, &mut rng).unwrap();
    let x: Vec<f32> = (0..INPUTS * sizes[0])
        .map(|_| rng.random::<f32>())
        .collect();
    (net, Inputs::new(x, INPUTS, sizes[0]).unwrap())
}

/// The naive masked forward of `reps` repetitions of each input, as tensor ops.
fn naive(net: &Mlp, x: &Inputs, reps: usize, p: &[f64], rng: &mut ChaCha8Rng) -> Tensor {
    let dev = Device::Cpu;
    let rows = x.rows() * reps;
    let mut rep = Vec::with_capacity(rows * x.cols());
    for r in 0..x.rows() {
        for _ in 0..reps {
            rep.extend_from_slice(x.row(r));
        }
    }
    let mask = |n: usize, p: f64, rng: &mut ChaCha8Rng| {
        let m: Vec<f32> = (0..rows * n)
            .map(|_| if rng.random::<f64>() < p { 0.0 } else { 1.0 })
            .collect();
        Tensor::from_vec(m, (rows, n), &dev).unwrap()
    };
    let sizes = net.sizes();
    let mut y = Tensor::from_vec(rep, (rows, x.cols()), &dev).unwrap();
    y = (y * mask(sizes[0], p[0], rng)).unwrap();
    for (l, d) in net.layers().iter().enumerate() {
        let b = Tensor::from_slice(d.bias(), d.n_out(), &dev).unwrap();
        let mut z = y
            .matmul(d.weight_t_tensor())
            .unwrap()
            .broadcast_add(&b)
            .unwrap();
        if l + 1 < net.layers().len() {
            // σ(4z) = 1 / (1 + e^{−4z})
            z = z
                .affine(-4.0, 0.0)
                .unwrap()
                .exp()
                .unwrap()
                .affine(1.0, 1.0)
                .unwrap()
                .recip()
                .unwrap();
        }
        y = (z * mask(d.n_out(), p[l + 1], rng)).unwrap();
    }
    y
}

fn bench(c: &mut Criterion) {
    // The thread settings of the binaries (candle parses /proc/cpuinfo on every GEMM otherwise).
    ftnn_model::runtime::configure_candle_threads();
    for sizes in [vec![784, 100, 50, 10], vec![784, 1000, 100, 10]] {
        let name = sizes
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("-");
        let (net, x) = setup(&sizes);
        let reps = 2048;
        let rows = (INPUTS * reps) as u64;
        let mut g = c.benchmark_group(format!("montecarlo/{name}"));
        g.sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4))
            .throughput(Throughput::Elements(rows));
        let mut p_h1 = vec![0.0; sizes.len()];
        p_h1[1] = 0.01;
        let mut p_hidden = vec![0.0; sizes.len()];
        for p in &mut p_hidden[1..sizes.len() - 1] {
            *p = 0.01;
        }
        for (label, p) in [("h1", &p_h1), ("hidden", &p_hidden)] {
            let fv = FailureVector::new(p.clone()).unwrap();
            let mc = MonteCarlo::new(&net, fv).unwrap().repetitions(reps).seed(1);
            g.bench_function(BenchmarkId::new("fast", label), |b| {
                b.iter(|| mc.run(&x).unwrap())
            });
            let dense = mc.clone().strategy(Strategy::Dense);
            g.bench_function(BenchmarkId::new("dense", label), |b| {
                b.iter(|| dense.run(&x).unwrap())
            });
            let mut rng = ChaCha8Rng::seed_from_u64(2);
            g.bench_function(BenchmarkId::new("naive", label), |b| {
                b.iter(|| naive(&net, &x, reps, p, &mut rng))
            });
        }
        let y = Tensor::from_vec(
            (0..rows as usize * sizes[0])
                .map(|i| (i % 7) as f32 / 7.0)
                .collect::<Vec<f32>>(),
            (rows as usize, sizes[0]),
            &Device::Cpu,
        )
        .unwrap();
        g.bench_function("sgemm", |b| {
            b.iter(|| {
                let mut t = y.clone();
                for d in net.layers() {
                    t = t.matmul(d.weight_t_tensor()).unwrap();
                }
                t
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
