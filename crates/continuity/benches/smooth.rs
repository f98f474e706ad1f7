//! Criterion benchmark of smooth() (SPEC §7, Eq. 1): one forward + backward pass on f32 weight
//! matrices of the MNIST first layer, [100, 784] and [1500, 784] (Algorithm 1's largest N).

use candle_core::{DType, Device, Tensor, Var};
use criterion::{criterion_group, criterion_main, Criterion};
use ftnn_continuity::Smoother;

fn forward_backward(c: &mut Criterion) {
    // The thread settings of the binaries (candle parses /proc/cpuinfo on every GEMM otherwise).
    ftnn_model::runtime::configure_candle_threads();
    let device = Device::Cpu;
    let mut group = c.benchmark_group("smooth_forward_backward_f32");
    group.sample_size(10);
    for n_out in [100, 1500] {
        let w = Tensor::randn(0f32, 0.05, (n_out, 784), &device).expect("random weights");
        let w = Var::from_tensor(&w).expect("variable");
        let smoother = Smoother::new(n_out, DType::F32, &device).expect("smoother");
        group.bench_function(format!("{n_out}x784"), |b| {
            b.iter(|| {
                let loss = smoother.apply(&w, 1e-4, 1e-2).expect("forward");
                loss.backward().expect("backward")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, forward_backward);
criterion_main!(benches);
