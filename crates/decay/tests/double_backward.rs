//! The analytic Hessian against candle's double backward (reverse-over-reverse autodiff).
//!
//! candle detaches every gradient in `Tensor::backward` unless the environment variable
//! `CANDLE_GRAD_DO_NOT_DETACH` is set to a non-empty value other than `0`. candle 0.11 reads it
//! into a `thread_local!` the first time a thread runs `backward`, so it must be set before
//! any backward pass of the thread. This file therefore holds a single test that sets it first;
//! being its own integration-test binary, no other test shares the process.
//!
//! The network is rebuilt from y_1 onwards with candle ops on f64 tensors, y_1 a `Var`:
//! `z = y Wᵀ + b`, then φ written with ops whose backward formulas are themselves
//! differentiable in candle 0.11:
//! * sigmoid σ(4Kz) as `recip(exp(−4K z) + 1)` (candle-core has no sigmoid op; candle-nn's
//!   is a custom op whose backward is not built from differentiable ops);
//! * tanh(Kz) with `tanh` (backward uses the op's output, `1 − tanh²`);
//! * softplus as `log(exp(K z) + 1)`;
//! * ReLU as `K · relu(z)`: its backward multiplies by a comparison mask, which carries no
//!   gradient, so the double backward yields only the loss-curvature term — exactly the
//!   analytic result, since φ'' = 0 away from the kink.
//!
//! Loss: Keras' MSE `mean((y_L − t)²)` and softmax cross-entropy `−Σ t log_softmax(y_L)`.
//! All four activations worked with double backward; nothing had to be left out.

use candle_core::{DType, Device, Tensor, Var, D};
use ftnn_decay::{hessian, Loss};
use ftnn_model::{Activation, Init, Mlp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Clone, Copy, Debug)]
enum LossKind {
    Mse,
    CrossEntropy,
}

fn y1_of(net: &Mlp, x: &[f32]) -> Vec<f64> {
    let d = &net.layers()[0];
    (0..d.n_out())
        .map(|o| {
            let z = d.bias()[o] as f64
                + (0..d.n_in())
                    .map(|i| d.weight()[o * d.n_in() + i] as f64 * x[i] as f64)
                    .sum::<f64>();
            net.activation().apply_f64(z, net.k_lips())
        })
        .collect()
}

/// The Hessian of the loss with respect to y_1 by candle: one backward for the gradient g,
/// then one backward per entry g_i for row i.
fn candle_hessian(net: &Mlp, y1: &[f64], t: &[f64], kind: LossKind) -> Vec<f64> {
    let dev = Device::Cpu;
    let n1 = y1.len();
    let k = net.k_lips();
    let y = Var::from_slice(y1, (1, n1), &dev).unwrap();
    let mut h = y.as_tensor().clone();
    let big_l = net.output_layer();
    for m in 2..=big_l {
        let d = &net.layers()[m - 1];
        let w = Tensor::from_slice(d.weight(), (d.n_out(), d.n_in()), &dev)
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap();
        let b = Tensor::from_slice(d.bias(), (1, d.n_out()), &dev)
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap();
        let z = h
            .matmul(&w.t().unwrap())
            .unwrap()
            .broadcast_add(&b)
            .unwrap();
        h = if m == big_l {
            z
        } else {
            match net.activation() {
                Activation::Sigmoid => ((z * (-4.0 * k)).unwrap().exp().unwrap() + 1.0)
                    .unwrap()
                    .recip()
                    .unwrap(),
                Activation::Tanh => (z * k).unwrap().tanh().unwrap(),
                Activation::Softplus => ((z * k).unwrap().exp().unwrap() + 1.0)
                    .unwrap()
                    .log()
                    .unwrap(),
                Activation::Relu => (z.relu().unwrap() * k).unwrap(),
            }
        };
    }
    let t = Tensor::from_slice(t, (1, t.len()), &dev).unwrap();
    let loss = match kind {
        LossKind::Mse => (h - t).unwrap().sqr().unwrap().mean_all().unwrap(),
        LossKind::CrossEntropy => {
            // log_softmax(y) = y − max − log Σ exp(y − max); the max is a constant shift.
            let max = h.max_keepdim(D::Minus1).unwrap().detach();
            let shifted = h.broadcast_sub(&max).unwrap();
            let lse = shifted
                .exp()
                .unwrap()
                .sum_keepdim(D::Minus1)
                .unwrap()
                .log()
                .unwrap();
            let log_sm = shifted.broadcast_sub(&lse).unwrap();
            (log_sm * t).unwrap().sum_all().unwrap().neg().unwrap()
        }
    };
    let grads = loss.backward().unwrap();
    let g = grads.get(&y).expect("gradient with respect to y_1").clone();
    let mut out = vec![0.0; n1 * n1];
    for i in 0..n1 {
        let gi = g.get(0).unwrap().get(i).unwrap();
        let second = gi.backward().unwrap();
        if let Some(row) = second.get(&y) {
            let row = row.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            out[i * n1..(i + 1) * n1].copy_from_slice(&row);
        }
    }
    out
}

/// Both sides are f64 reverse-mode computations of the same function, differing only in
/// summation order: agreement to 1e-10·(1 + |H_ij|) is expected (observed ~1e-15), and any
/// missing or mis-signed term of the recursion is O(0.01–1).
#[test]
fn hessian_matches_candle_double_backward() {
    // Must happen before the first backward pass of this thread (see the module docs).
    std::env::set_var("CANDLE_GRAD_DO_NOT_DETACH", "1");
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    for act in Activation::ALL {
        for sizes in [&[4usize, 6, 5, 3][..], &[4, 6, 5, 4, 3], &[4, 7, 3]] {
            let net = Mlp::init(sizes, act, 0.9, Init::Paper, &mut rng).unwrap();
            for (kind, loss) in [
                (LossKind::Mse, Loss::Mse),
                (LossKind::CrossEntropy, Loss::CrossEntropy),
            ] {
                let x: Vec<f32> = (0..4).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
                let n_out = *sizes.last().unwrap();
                let t: Vec<f32> = (0..n_out).map(|_| rng.random::<f32>()).collect();
                let t64: Vec<f64> = t.iter().map(|&v| v as f64).collect();
                let ours = hessian(&net, &x, &t, loss).unwrap();
                let theirs = candle_hessian(&net, &y1_of(&net, &x), &t64, kind);
                let scale = theirs.iter().fold(0f64, |a, v| a.max(v.abs()));
                assert!(
                    scale > 1e-4,
                    "{act} {sizes:?} {kind:?}: candle's second backward returned zeros \
                     (was the gradient detached?)"
                );
                for (k, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                    assert!(
                        (a - b).abs() < 1e-10 * (1.0 + b.abs()),
                        "{act} {sizes:?} {kind:?} entry {k}: ours {a} vs candle {b}"
                    );
                }
            }
        }
    }
}
