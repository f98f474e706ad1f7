//! b3 on the shipped MNIST CNN (`data/models/mnist-cnn.pth`, SPEC §9, §14): 100 test digits
//! (x/255, then (x − 0.1307)/0.3081), p = 0.01 at the input only — the gradient of all 10
//! outputs with respect to the input, for every digit, through the whole network (conv,
//! relu, max pooling, linear), by candle's autodiff layer by layer.
//!
//! `cargo bench -p ftnn-bounds --bench seq_bounds`

use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ftnn_bounds::seq_b3;
use ftnn_data::{load_mnist, DataDir, ImageSet, Split};
use ftnn_model::seq::Sequential;
use ftnn_model::FailureVector;
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Test digits per run.
const INPUTS: usize = 100;

fn setup() -> (Sequential, Tensor) {
    let dir = DataDir::locate().expect("data directory (run from the repository)");
    let net = Sequential::mnist_cnn(&dir, &Device::Cpu).expect("the MNIST CNN");
    let test = load_mnist(&dir, ImageSet::Mnist, Split::Test)
        .expect("MNIST")
        .subset(0..INPUTS);
    // `load_mnist` gives x/255.
    let x: Vec<f32> = test.images.iter().map(|&v| (v - 0.1307) / 0.3081).collect();
    let x = Tensor::from_vec(x, (INPUTS, 1, 28, 28), &Device::Cpu).expect("inputs");
    (net, x)
}

fn bench(c: &mut Criterion) {
    ftnn_model::runtime::configure_candle_threads();
    let (net, x) = setup();
    let mut p = vec![0.0; net.n_sites()];
    p[0] = 0.01;
    let p = FailureVector::new(p).expect("p");
    let mut g = c.benchmark_group("seq_bounds/mnist-cnn");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(INPUTS as u64));
    g.bench_function(BenchmarkId::new("b3", "input p=0.01, 100 digits"), |b| {
        b.iter(|| seq_b3(&net, &p, &x, None).expect("b3"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
