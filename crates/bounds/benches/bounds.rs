//! Bound timings (SPEC §14): b3 for 1000 inputs and b4 single-crash evaluations per second,
//! for 784-200-50-10 and 784-1000-100-10 sigmoid networks with p = 0.01 at hidden layer 1.
//! Both include the crash-free forward pass of the inputs.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ftnn_bounds::{b3, b4, b5};
use ftnn_model::{Activation, FailureVector, Init, Inputs, Mlp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// A retaining allocator: the batched GEMM paths allocate and free multi-megabyte buffers, which
/// the system allocator returns to the kernel and page-faults back in on every call.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    // The thread settings of the binaries (candle parses /proc/cpuinfo on every GEMM otherwise).
    ftnn_model::runtime::configure_candle_threads();
    for sizes in [vec![784, 200, 50, 10], vec![784, 1000, 100, 10]] {
        let name = sizes
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("-");
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let net = Mlp::init(&sizes, Activation::Sigmoid, 1.0, Init::Paper, &mut rng).unwrap();
        let n = 1000;
        let x = Inputs::new((0..n * 784).map(|_| rng.random::<f32>()).collect(), n, 784).unwrap();
        let p = FailureVector::new(vec![0.0, 0.01, 0.0, 0.0]).unwrap();
        let mut g = c.benchmark_group(format!("bounds/{name}"));
        g.sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("b3", "1000 inputs"), |b| {
            b.iter(|| b3(&net, &p, &x).unwrap())
        });
        g.bench_function(BenchmarkId::new("b5", "1000 inputs"), |b| {
            b.iter(|| b5(&net, &p, &x).unwrap())
        });
        // Single-crash evaluations: every neuron of hidden layer 1 for every input.
        g.throughput(Throughput::Elements((n * sizes[1]) as u64));
        g.bench_function(BenchmarkId::new("b4", "single crashes"), |b| {
            b.iter(|| b4(&net, &p, &x).unwrap())
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
