//! The bounds against exact enumeration, finite differences and hand computations.

use ftnn_bounds::{b1, b2, b3, b3_loss, b4, b5, BoundKind, BoundsError, Loss, Norm};
use ftnn_model::{exact_delta, Activation, Dense, FailureVector, Init, Inputs, Mlp};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn net(sizes: &[usize], act: Activation, seed: u64, scale: f64) -> Mlp {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Mlp::init(sizes, act, 1.0, Init::Random { scale, mean: 0.1 }, &mut rng).unwrap()
}

fn inputs(n: usize, w: usize, seed: u64) -> Inputs {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let d = (0..n * w)
        .map(|_| {
            let z: f32 = StandardNormal.sample(&mut rng);
            z
        })
        .collect();
    Inputs::new(d, n, w).unwrap()
}

/// y_L as a function of the outputs of layer l, in f64 (no crashes).
fn forward_from(net: &Mlp, l: usize, y_l: &[f64]) -> Vec<f64> {
    let (act, k) = (net.activation(), net.k_lips());
    let big_l = net.output_layer();
    let mut y = y_l.to_vec();
    for m in l + 1..=big_l {
        let d = &net.layers()[m - 1];
        y = (0..d.n_out())
            .map(|o| {
                let z = d.bias()[o] as f64
                    + (0..d.n_in())
                        .map(|i| d.weight()[o * d.n_in() + i] as f64 * y[i])
                        .sum::<f64>();
                if m == big_l {
                    z
                } else {
                    act.apply_f64(z, k)
                }
            })
            .collect();
    }
    y
}

/// Clean outputs of layer l for one input, in f64.
fn layer_outputs(net: &Mlp, x: &[f32], l: usize) -> Vec<f64> {
    let ys = net.forward_layers(x, 1).unwrap();
    ys[l].iter().map(|&v| v as f64).collect()
}

fn close(a: f64, b: f64, rel: f64, abs: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()) + abs
}

/// b3's d_{l,i} sums against central finite differences of the f64 forward pass.
#[test]
fn b3_matches_finite_differences_at_every_layer() {
    for act in [Activation::Sigmoid, Activation::Tanh, Activation::Softplus] {
        let net = net(&[4, 6, 5, 3], act, 1, 2.0);
        let x = inputs(2, 4, 2);
        for l in 0..=3 {
            let p = FailureVector::single(4, l, 0.01).unwrap();
            let est = b3(&net, &p, &x).unwrap();
            for n in 0..2 {
                let y = layer_outputs(&net, x.row(n), l);
                let (mut s1, mut s2) = (vec![0f64; 3], vec![0f64; 3]);
                for i in 0..y.len() {
                    let h = 1e-5;
                    let (mut a, mut b) = (y.clone(), y.clone());
                    a[i] += h;
                    b[i] -= h;
                    let (fa, fb) = (forward_from(&net, l, &a), forward_from(&net, l, &b));
                    for k in 0..3 {
                        let d = y[i] * (fa[k] - fb[k]) / (2.0 * h);
                        s1[k] += d;
                        s2[k] += d * d;
                    }
                }
                for k in 0..3 {
                    let (m, s) = (est.mean[n * 3 + k], est.std[n * 3 + k]);
                    assert!(
                        close(m, -0.01 * s1[k], 1e-4, 1e-7),
                        "{act} l={l}: {m} vs {}",
                        -0.01 * s1[k]
                    );
                    let sd = (0.01 * 0.99 * s2[k]).sqrt();
                    assert!(close(s, sd, 1e-4, 1e-7), "{act} l={l}: {s} vs {sd}");
                }
            }
        }
    }
}

/// When only the last hidden layer or the output crashes, Δ is linear in the crash
/// indicators, so b3 and b4 coincide — and b4 is then exact.
#[test]
fn b3_equals_b4_at_the_last_layers() {
    let net = net(&[3, 5, 4, 2], Activation::Sigmoid, 3, 3.0);
    let x = inputs(3, 3, 4);
    for p in [
        vec![0.0, 0.0, 0.2, 0.0],
        vec![0.0, 0.0, 0.0, 0.3],
        vec![0.0, 0.0, 0.1, 0.1],
    ] {
        let p = FailureVector::new(p).unwrap();
        let (a, b) = (b3(&net, &p, &x).unwrap(), b4(&net, &p, &x).unwrap());
        for i in 0..a.mean.len() {
            assert!(
                close(a.mean[i], b.mean[i], 1e-5, 1e-7),
                "{} vs {}",
                a.mean[i],
                b.mean[i]
            );
            assert!(close(a.std[i], b.std[i], 1e-5, 1e-7));
        }
        if p[3] == 0.0 {
            let ex = exact_delta(&net, &p, &x, 20).unwrap();
            for i in 0..a.mean.len() {
                assert!(close(b.mean[i], ex.mean[i], 1e-5, 1e-7));
                assert!(close(b.std[i], ex.std[i], 1e-5, 1e-7));
            }
        }
    }
}

/// Output-only crashes: E Δ = −p·y and std Δ = sqrt(p(1−p))·|y|, for b3 and b4.
#[test]
fn output_crashes_give_minus_p_y() {
    let net = net(&[3, 5, 2], Activation::Relu, 5, 3.0);
    let x = inputs(4, 3, 6);
    let y = net.forward(x.data(), 4).unwrap();
    let p = FailureVector::new(vec![0.0, 0.0, 0.05]).unwrap();
    for est in [b3(&net, &p, &x).unwrap(), b4(&net, &p, &x).unwrap()] {
        for (i, &yk) in y.iter().enumerate() {
            assert!(close(est.mean[i], -0.05 * yk as f64, 1e-6, 0.0));
            assert!(close(
                est.std[i],
                (0.05f64 * 0.95).sqrt() * (yk as f64).abs(),
                1e-6,
                0.0
            ));
        }
    }
}

/// b4 is correct to first order: its error against exact enumeration is O(p²), so it
/// shrinks about 100× when p shrinks 10×.
#[test]
fn b4_error_is_second_order() {
    let net = net(&[3, 6, 5, 2], Activation::Sigmoid, 7, 3.0);
    let x = inputs(2, 3, 8);
    let err = |pv: f64| {
        let p = FailureVector::new(vec![0.0, pv, pv, 0.0]).unwrap();
        let (b, ex) = (
            b4(&net, &p, &x).unwrap(),
            exact_delta(&net, &p, &x, 20).unwrap(),
        );
        let em = b
            .mean
            .iter()
            .zip(&ex.mean)
            .map(|(a, c)| (a - c).abs())
            .fold(0.0, f64::max);
        let ev = b
            .std
            .iter()
            .zip(&ex.std)
            .map(|(a, c)| (a * a - c * c).abs())
            .fold(0.0, f64::max);
        (em, ev)
    };
    let (m1, v1) = err(0.1);
    let (m2, v2) = err(0.01);
    assert!(
        m1 / m2 > 50.0 && m1 / m2 < 200.0,
        "mean error ratio {}",
        m1 / m2
    );
    assert!(
        v1 / v2 > 50.0 && v1 / v2 < 200.0,
        "variance error ratio {}",
        v1 / v2
    );
    // b3 is only first-order accurate in y: at p = 0.01 its error is not O(p²).
    let p = FailureVector::new(vec![0.0, 0.01, 0.01, 0.0]).unwrap();
    let (a, ex) = (
        b3(&net, &p, &x).unwrap(),
        exact_delta(&net, &p, &x, 20).unwrap(),
    );
    let e3 = a
        .mean
        .iter()
        .zip(&ex.mean)
        .map(|(u, v)| (u - v).abs())
        .fold(0.0, f64::max);
    assert!(e3 > 5.0 * m2, "b3 error {e3} vs b4 error {m2}");
}

/// b5's second derivatives against finite differences, and b5 closer to b4 than b3.
#[test]
fn b5_second_order_term() {
    let net = net(&[3, 6, 5, 2], Activation::Sigmoid, 9, 2.0);
    let x = inputs(2, 3, 10);
    let trace = net.forward_trace(x.data(), 2).unwrap();
    let second = ftnn_bounds::taylor::second_derivatives(&net, &trace, 1).unwrap();
    for n in 0..2 {
        let y = layer_outputs(&net, x.row(n), 1);
        for i in 0..6 {
            let h = 1e-3;
            let (mut a, mut b) = (y.clone(), y.clone());
            a[i] += h;
            b[i] -= h;
            let (fa, f0, fb) = (
                forward_from(&net, 1, &a),
                forward_from(&net, 1, &y),
                forward_from(&net, 1, &b),
            );
            for k in 0..2 {
                let fd = (fa[k] - 2.0 * f0[k] + fb[k]) / (h * h);
                let an = second[(n * 6 + i) * 2 + k] as f64;
                assert!(close(an, fd, 1e-3, 1e-5), "n={n} i={i} k={k}: {an} vs {fd}");
            }
        }
    }
    let p = FailureVector::new(vec![0.0, 0.01, 0.0, 0.0]).unwrap();
    let (m3, m4, m5) = (
        b3(&net, &p, &x).unwrap().mean,
        b4(&net, &p, &x).unwrap().mean,
        b5(&net, &p, &x).unwrap(),
    );
    for i in 0..m3.len() {
        assert!(
            (m5[i] - m4[i]).abs() < (m3[i] - m4[i]).abs(),
            "{i}: b3 {} b4 {} b5 {}",
            m3[i],
            m4[i],
            m5[i]
        );
    }
}

/// b5's summed second-order term on deeper networks with crashes at several layers (the
/// tangents carried over two and three layers, the input layer included): b5 − b3 against
/// `½ Σ_l p_l Σ_i y_{l,i}² ∂²y_L/∂y_{l,i}²` with every second derivative a central finite
/// difference of the f64 forward pass.
#[test]
fn b5_second_order_sum_matches_finite_differences() {
    for (sizes, act, p) in [
        (
            vec![3usize, 6, 5, 4, 2],
            Activation::Tanh,
            vec![0.0, 0.02, 0.05, 0.0, 0.0],
        ),
        (
            vec![4, 5, 7, 3, 3],
            Activation::Sigmoid,
            vec![0.03, 0.01, 0.0, 0.04, 0.0],
        ),
        (
            vec![3, 4, 6, 2],
            Activation::Softplus,
            vec![0.1, 0.0, 0.2, 0.0],
        ),
    ] {
        let net = net(&sizes, act, 21, 1.5);
        let x = inputs(3, sizes[0], 22);
        let pv = FailureVector::new(p.clone()).unwrap();
        let (m3, m5) = (b3(&net, &pv, &x).unwrap().mean, b5(&net, &pv, &x).unwrap());
        let n_out = *sizes.last().unwrap();
        for n in 0..3 {
            let mut expect = vec![0f64; n_out];
            for (l, &pl) in p.iter().enumerate().filter(|(_, &pl)| pl > 0.0) {
                let y = layer_outputs(&net, x.row(n), l);
                let f0 = forward_from(&net, l, &y);
                for i in 0..sizes[l] {
                    let h = 1e-3;
                    let (mut a, mut b) = (y.clone(), y.clone());
                    a[i] += h;
                    b[i] -= h;
                    let (fa, fb) = (forward_from(&net, l, &a), forward_from(&net, l, &b));
                    for k in 0..n_out {
                        let fd = (fa[k] - 2.0 * f0[k] + fb[k]) / (h * h);
                        expect[k] += 0.5 * pl * y[i] * y[i] * fd;
                    }
                }
            }
            for k in 0..n_out {
                let got = m5[n * n_out + k] - m3[n * n_out + k];
                assert!(
                    close(got, expect[k], 2e-3, 1e-6),
                    "{sizes:?} n={n} k={k}: b5 − b3 = {got}, finite differences {}",
                    expect[k]
                );
                assert!(
                    expect[k].abs() > 1e-5,
                    "the term must not vanish: {}",
                    expect[k]
                );
            }
        }
    }
}

/// b3 on a loss: −p Σ_i y_i ∂L/∂y_i against finite differences of the loss.
#[test]
fn b3_loss_matches_finite_differences() {
    let net = net(&[4, 6, 3], Activation::Tanh, 11, 2.0);
    let x = inputs(2, 4, 12);
    let targets = [0.0f32, 1.0, 0.0, 1.0, 0.0, 0.0];
    let p = FailureVector::new(vec![0.0, 0.02, 0.0]).unwrap();
    let mse = |y: &[f64], t: &[f32]| {
        y.iter()
            .zip(t)
            .map(|(a, &b)| (a - b as f64).powi(2))
            .sum::<f64>()
            / 3.0
    };
    let est = b3_loss(&net, &p, &x, &targets, Loss::Mse).unwrap();
    for n in 0..2 {
        let y = layer_outputs(&net, x.row(n), 1);
        let t = &targets[n * 3..(n + 1) * 3];
        let (mut s1, mut s2) = (0.0, 0.0);
        for i in 0..6 {
            let h = 1e-5;
            let (mut a, mut b) = (y.clone(), y.clone());
            a[i] += h;
            b[i] -= h;
            let d = y[i]
                * (mse(&forward_from(&net, 1, &a), t) - mse(&forward_from(&net, 1, &b), t))
                / (2.0 * h);
            s1 += d;
            s2 += d * d;
        }
        assert!(close(est.mean[n], -0.02 * s1, 1e-4, 1e-9));
        assert!(close(est.var[n], 0.02 * 0.98 * s2, 1e-4, 1e-12));
    }
    assert!(b3_loss(&net, &p, &x, &targets, Loss::CrossEntropy).is_ok());
    let mut bad = targets;
    bad[2] = f32::NAN;
    assert!(matches!(
        b3_loss(&net, &p, &x, &bad, Loss::Mse),
        Err(BoundsError::Model(ftnn_model::ModelError::NonFinite { .. }))
    ));
    assert!(b3_loss(&net, &p, &x, &targets[..5], Loss::Mse).is_err());
}

/// b1 and b2 by hand on a 2-2-1 network.
#[test]
fn b1_b2_by_hand() {
    // W1 = I, b1 = 0, relu; W2 = [2, −3], b2 = 1.
    let l1 = Dense::new(vec![1.0, 0.0, 0.0, 1.0], vec![0.0, 0.0], 2, 2).unwrap();
    let l2 = Dense::new(vec![2.0, -3.0], vec![1.0], 1, 2).unwrap();
    let net = Mlp::new(vec![l1, l2], Activation::Relu, 1.0).unwrap();
    let x = Inputs::new(vec![1.0, 2.0], 1, 2).unwrap(); // y1 = (1, 2)
    let p = FailureVector::new(vec![0.0, 0.1, 0.0]).unwrap();
    let e = b2(&net, &p, &x).unwrap();
    // R = |W2| = [2, 3]: mean = 0.1·(2·1 + 3·2) = 0.8; R₂ = [4, 9]: std = sqrt(0.1·(4 + 36)) = 2.
    assert!(close(e.mean[0], 0.8, 1e-12, 0.0));
    assert!(close(e.std[0], 2.0, 1e-12, 0.0));
    // b1: p · ‖W2‖_q · ‖x‖_q: q=1: max column sum 3 · 3 = 9 → 0.9; q=∞: row sum 5 · 2 → 1.0;
    // q=2: ‖W2‖ = sqrt(13), ‖x‖ = sqrt(5) → 0.1·sqrt(65).
    assert!(close(
        b1(&net, &p, &x, Norm::One).unwrap()[0],
        0.9,
        1e-12,
        0.0
    ));
    assert!(close(
        b1(&net, &p, &x, Norm::Inf).unwrap()[0],
        1.0,
        1e-12,
        0.0
    ));
    assert!(close(
        b1(&net, &p, &x, Norm::Two).unwrap()[0],
        0.1 * 65f64.sqrt(),
        1e-9,
        0.0
    ));
}

#[test]
fn undefined_bounds_are_refused() {
    let net = net(&[3, 4, 4, 2], Activation::Relu, 1, 1.0);
    let x = inputs(1, 3, 1);
    for p in [
        vec![0.0, 0.1, 0.1, 0.0],
        vec![0.1, 0.1, 0.0, 0.0],
        vec![0.0, 0.0, 0.0, 0.0],
    ] {
        let p = FailureVector::new(p).unwrap();
        assert!(matches!(
            b2(&net, &p, &x),
            Err(BoundsError::NotApplicable { bound: "b2", .. })
        ));
        assert!(matches!(
            b1(&net, &p, &x, Norm::Two),
            Err(BoundsError::NotApplicable { .. })
        ));
    }
    let shallow = net_shallow();
    let p = FailureVector::new(vec![0.0, 0.1]).unwrap();
    let err = BoundKind::B2
        .check_applicable(&shallow, &p)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no hidden layer"), "{err}");
    // Wrong failure vector length.
    let p = FailureVector::new(vec![0.0, 0.1]).unwrap();
    assert!(b3(&net, &p, &x).is_err());
    assert_eq!(
        BoundKind::parse_list("b3,b1,all").unwrap().len(),
        BoundKind::ALL.len()
    );
    assert!(BoundKind::parse_list("b9").is_err());
}

fn net_shallow() -> Mlp {
    let l1 = Dense::new(vec![1.0, 2.0], vec![0.0], 1, 2).unwrap();
    Mlp::new(vec![l1], Activation::Relu, 1.0).unwrap()
}

/// Huge weights make the bound overflow f64: a clear error, not inf in a report.
#[test]
fn non_finite_results_are_errors() {
    let l1 = Dense::new(vec![3e38, 3e38], vec![0.0, 0.0], 2, 1).unwrap();
    let l2 = Dense::new(vec![3e38, 3e38], vec![0.0], 1, 2).unwrap();
    let net = Mlp::new(vec![l1, l2], Activation::Relu, 1.0).unwrap();
    let x = Inputs::new(vec![1.0], 1, 1).unwrap();
    let p = FailureVector::new(vec![0.0, 0.5, 0.0]).unwrap();
    let err = b3(&net, &p, &x).unwrap_err();
    assert!(err.to_string().contains("non-finite"), "{err}");
    assert!(b4(&net, &p, &x).is_err());
}
