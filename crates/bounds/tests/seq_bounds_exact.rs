//! b3, b4 and b5 on Sequential networks against the MLP bounds on an MLP converted with
//! `Sequential::from_mlp`, and against exact enumeration (`seq_exact_delta`) at a tiny p, b5
//! closer to it than b3 where the network is curved.

mod seq_common;

use candle_core::{Device, Tensor};
use ftnn_bounds::{b3, b4, b5, seq_b3, seq_b4, seq_b5, BoundsError, SEQ_B5_MAX_SITE};
use ftnn_model::seq::{seq_exact_delta, Sequential};
use ftnn_model::{Activation, FailureVector, Init, Inputs, Mlp, ModelError};
use seq_common::*;

#[test]
fn equal_the_mlp_bounds_on_a_converted_mlp() {
    for (act, k, seed) in [
        (Activation::Sigmoid, 1.0, 11),
        (Activation::Tanh, 0.7, 12),
        (Activation::Softplus, 1.3, 13),
        (Activation::Relu, 1.0, 14),
    ] {
        let sizes = [6, 9, 7, 5, 3];
        let mlp = Mlp::init(&sizes, act, k, Init::Paper, &mut rng(seed)).unwrap();
        let net = Sequential::from_mlp(&mlp, &Device::Cpu).unwrap();
        let n = 5;
        let xv = uniform(&mut rng(seed + 100), n * 6, -1.5, 1.5);
        let xi = Inputs::new(xv.clone(), n, 6).unwrap();
        let xt = Tensor::from_vec(xv, (n, 6), &Device::Cpu).unwrap();
        for p in [
            vec![0.01, 0.02, 0.03, 0.05, 0.1],
            vec![0.0, 0.1, 0.0, 0.0, 0.0],
            vec![0.2, 0.0, 0.0, 0.3, 0.0],
        ] {
            let p = fv(&p);
            let what = format!("{act:?} p = {:?}", p.as_slice());
            let (a, b) = (
                seq_b3(&net, &p, &xt, None).unwrap(),
                b3(&mlp, &p, &xi).unwrap(),
            );
            assert_close(&a.mean, &b.mean, 1e-5, 1e-9, &format!("b3 mean, {what}"));
            assert_close(&a.std, &b.std, 1e-5, 1e-9, &format!("b3 std, {what}"));
            let (a, b) = (
                seq_b4(&net, &p, &xt, None).unwrap(),
                b4(&mlp, &p, &xi).unwrap(),
            );
            assert_close(&a.mean, &b.mean, 1e-5, 1e-9, &format!("b4 mean, {what}"));
            assert_close(&a.std, &b.std, 1e-5, 1e-9, &format!("b4 std, {what}"));
            let (a, b) = (
                seq_b5(&net, &p, &xt, None).unwrap(),
                b5(&mlp, &p, &xi).unwrap(),
            );
            assert_close(&a, &b, 1e-5, 1e-9, &format!("b5, {what}"));
        }
    }
}

/// p = 1e-4 at the input (8 pixels allowed), at the 3-element softplus site and at the
/// output: 13 crashable elements, 2^13 patterns.
fn exact_case(x_scale: f32) -> (Sequential, FailureVector, Tensor, Vec<f32>, usize) {
    let net = network(SMALL, 21, 1.0);
    let x = inputs(&net, 3, 22, -x_scale, x_scale);
    let mut mask = vec![0f32; 16];
    for i in [0, 2, 5, 6, 9, 11, 12, 15] {
        mask[i] = 1.0;
    }
    let m = 8 + 3 + 2;
    (net, fv(&[1e-4, 0.0, 1e-4, 1e-4]), x, mask, m)
}

#[test]
fn b3_and_b4_agree_with_exact_enumeration_at_tiny_p() {
    // With m crashable elements, each crashing with probability p, and single-crash changes
    // e_i (pair changes Δ_ij ≈ e_i + e_j):
    //   E Δ = (1 − p)^{m−1} p Σ_i e_i + p²(1 − p)^{m−2} Σ_{i<j} Δ_ij + O(p³)
    //       = p Σ_i e_i + R,   |R| ≲ (m − 1)p·pΣ|e_i| + (m − 1)p·pΣ|e_i| ≤ 2pm·pΣ_i|e_i|,
    //   Var Δ = p(1−p) Σ_i e_i² (1 + O(pm))  ⇒  std relative error O(pm).
    // So b4 is within 2pm·pΣ|e_i| (pm = 1.3e-3) of the exact mean, and its std within a
    // relative 2pm. b3 differs from b4 by the single-crash Taylor remainders r_i = e_i + d_i:
    //   b3 − b4 = −p Σ_i r_i,  so |b3 − exact| ≤ |b4 − exact| + p Σ_i |r_i|,
    // with e_i from explicit single crashes and d_i from finite differences. The inputs are
    // small (|x| ≤ 0.2) so that the remainders are a small part of the mean.
    let (net, p, x, mask, m) = exact_case(0.2);
    let exact = seq_exact_delta(&net, &p, &x, Some(&mask), 20).unwrap();
    assert_eq!(exact.crashable, m);
    let pm = 1e-4 * m as f64;
    let bound4 = seq_b4(&net, &p, &x, Some(&mask)).unwrap();
    let bound3 = seq_b3(&net, &p, &x, Some(&mask)).unwrap();
    let (b3_mean, _) = b3_reference(&net, p.as_slice(), &x, Some(&mask), Fd::Fit(0.05));
    let (b4_mean, _) = b4_reference(&net, p.as_slice(), &x, Some(&mask));
    // p Σ_i |e_i| and p Σ_i |r_i| per input and output, from the references.
    let n_out = net.n_outputs();
    let mut first = vec![0f64; exact.mean.len()];
    let mut remainder = vec![0f64; exact.mean.len()];
    for (s, &ps) in p.as_slice().iter().enumerate() {
        if ps == 0.0 {
            continue;
        }
        let size = net.sites()[s].size;
        let e = single_crashes(&net, s, &x);
        let d = derivatives(&net, s, &x, 1, Fd::Fit(0.05));
        for j in 0..3 {
            for i in 0..size {
                if s == 0 && mask[i] == 0.0 {
                    continue;
                }
                for k in 0..n_out {
                    let at = (j * size + i) * n_out + k;
                    first[j * n_out + k] += ps * e[at].abs();
                    remainder[j * n_out + k] += ps * (e[at] + d[at]).abs();
                }
            }
        }
    }
    for i in 0..exact.mean.len() {
        let (g, w) = (bound4.mean[i], exact.mean[i]);
        let tol4 = 2.0 * pm * first[i] + 1e-12;
        assert!(
            (g - w).abs() <= tol4,
            "b4 mean[{i}]: {g:e} vs exact {w:e} (tol {tol4:e})"
        );
        let (g, w) = (bound4.std[i], exact.std[i]);
        assert!(
            (g - w).abs() <= 2.0 * pm * w,
            "b4 std[{i}]: {g:e} vs exact {w:e}"
        );
        let (g, w) = (bound3.mean[i], exact.mean[i]);
        let tol = tol4 + remainder[i];
        assert!(
            (g - w).abs() <= tol,
            "b3 mean[{i}]: {g:e} vs exact {w:e} (tol {tol:e})"
        );
        // The remainders are a small part of the mean: b3 is a first-order estimate here.
        assert!(
            remainder[i] < 0.2 * w.abs(),
            "remainder {:e} vs mean {w:e}",
            remainder[i]
        );
        assert_close(&[g], &[b3_mean[i]], 1e-4, 1e-12, "b3 vs its reference");
        assert_close(
            &[bound4.mean[i]],
            &[b4_mean[i]],
            1e-4,
            1e-12,
            "b4 vs its reference",
        );
        // std: first order in p, b3's Taylor error enters through e_i² vs d_i².
        let (g, w) = (bound3.std[i], exact.std[i]);
        assert!(
            (g - w).abs() <= 0.2 * w,
            "b3 std[{i}]: {g:e} vs exact {w:e}"
        );
    }
}

#[test]
fn b5_is_closer_to_exact_than_b3_where_the_network_is_curved() {
    // Inputs in [−1, 1), p = 1e-4 at the input (8 pixels) and at the softplus site (not at
    // the output, whose exact −p·y is the same in every bound): the single-crash Taylor
    // remainders are a noticeable part of E Δ, and the second-order term captures most of
    // them (the third-order rest is smaller). b4 is the reference for what is left at O(p²).
    let (net, _, x, mask, _) = exact_case(1.0);
    let p = fv(&[1e-4, 0.0, 1e-4, 0.0]);
    let exact = seq_exact_delta(&net, &p, &x, Some(&mask), 20).unwrap();
    let first = seq_b3(&net, &p, &x, Some(&mask)).unwrap();
    let second = seq_b5(&net, &p, &x, Some(&mask)).unwrap();
    let single = seq_b4(&net, &p, &x, Some(&mask)).unwrap();
    let err = |b: &[f64]| -> f64 { b.iter().zip(&exact.mean).map(|(a, w)| (a - w).abs()).sum() };
    let (e3, e5, e4) = (err(&first.mean), err(&second), err(&single.mean));
    let scale: f64 = exact.mean.iter().map(|v| v.abs()).sum();
    assert!(
        e3 > 0.03 * scale,
        "noticeable curvature: b3 error {e3:e} vs |E Δ| {scale:e}"
    );
    assert!(e5 < 0.35 * e3, "b5 error {e5:e} vs b3 error {e3:e}");
    assert!(e4 < 1e-3 * scale, "b4 error {e4:e} vs |E Δ| {scale:e}");
}

/// A saturating softplus (|scale·z| up to ~60): candle's backward of the network's
/// `log1p(e^{−|t|})` is 0/0 there; the bounds must stay finite and right.
#[test]
fn saturated_softplus_stays_finite() {
    let json = r#"{"input_shape": [4], "layers": [
        {"op": "linear", "in_features": 4, "out_features": 5},
        {"op": "softplus", "scale": 30.0, "gain": 0.1},
        {"op": "linear", "in_features": 5, "out_features": 2}]}"#;
    let net = network(json, 51, 1.0);
    let x = inputs(&net, 4, 52, -1.0, 1.0);
    let p = [0.05, 0.1, 0.0];
    check_b3(&net, &p, &x, Fd::Fit(0.05), 1e-3, "saturated softplus");
    let b = seq_b5(&net, &fv(&p), &x, None).unwrap();
    assert!(b.iter().all(|v| v.is_finite()));
}

#[test]
fn typed_errors() {
    let net = network(SMALL, 31, 1.0);
    let x = inputs(&net, 2, 32, -1.0, 1.0);
    // Wrong number of probabilities.
    let p3 = fv(&[0.1, 0.1, 0.1]);
    for e in [
        seq_b3(&net, &p3, &x, None).unwrap_err(),
        seq_b4(&net, &p3, &x, None).unwrap_err(),
        seq_b5(&net, &p3, &x, None).unwrap_err(),
    ] {
        assert!(
            matches!(
                e,
                BoundsError::Model(ModelError::SiteCount {
                    expected: 4,
                    got: 3
                })
            ),
            "{e}"
        );
    }
    let p = fv(&[0.1, 0.1, 0.1, 0.1]);
    // Wrong input shapes.
    for bad in [
        Tensor::zeros((2, 1, 4, 5), candle_core::DType::F32, &Device::Cpu).unwrap(),
        Tensor::zeros((2, 15), candle_core::DType::F32, &Device::Cpu).unwrap(),
        Tensor::zeros(16, candle_core::DType::F32, &Device::Cpu).unwrap(),
    ] {
        let e = seq_b3(&net, &p, &bad, None).unwrap_err();
        assert!(
            matches!(e, BoundsError::Model(ModelError::Shape { .. })),
            "{e}"
        );
        let e = seq_b4(&net, &p, &bad, None).unwrap_err();
        assert!(
            matches!(e, BoundsError::Model(ModelError::Shape { .. })),
            "{e}"
        );
    }
    // The flat layout `[N, input size]` is accepted and means the same.
    let flat = x.reshape((2, 16)).unwrap();
    assert_eq!(
        seq_b3(&net, &p, &flat, None).unwrap(),
        seq_b3(&net, &p, &x, None).unwrap()
    );
    // Bad crash masks.
    let e = seq_b3(&net, &p, &x, Some(&[1.0; 15])).unwrap_err();
    assert!(
        matches!(e, BoundsError::Model(ModelError::Shape { .. })),
        "{e}"
    );
    let mut m = vec![1.0f32; 16];
    m[3] = 0.5;
    let e = seq_b4(&net, &p, &x, Some(&m)).unwrap_err();
    assert!(
        matches!(e, BoundsError::Model(ModelError::Shape { .. })),
        "{e}"
    );
    // Non-finite inputs give non-finite bounds: an error, not NaN.
    let mut v = vals(&x);
    v[5] = f32::NAN;
    let nan = Tensor::from_vec(v, (2, 1, 4, 4), &Device::Cpu).unwrap();
    for e in [
        seq_b3(&net, &p, &nan, None).unwrap_err(),
        seq_b4(&net, &p, &nan, None).unwrap_err(),
        seq_b5(&net, &p, &nan, None).unwrap_err(),
    ] {
        assert!(
            matches!(e, BoundsError::Model(ModelError::NonFinite { .. })),
            "{e}"
        );
    }
}

#[test]
fn b5_refuses_large_curved_sites_only() {
    // A tanh site of 2·40·40 = 3200 elements is fine; 3·40·40 = 4800 is not, unless only
    // piecewise-linear layers follow it (then its second-order term is zero).
    let json = |c: usize, act: &str| {
        format!(
            r#"{{"input_shape": [1, 40, 40], "layers": [
            {{"op": "conv2d", "in_channels": 1, "out_channels": {c}, "kernel_size": 1}},
            {{"op": "relu"}},
            {{"op": "adaptive_avgpool2d", "output_size": [1, 1]}},
            {{"op": "flatten"}},
            {{"op": "linear", "in_features": {c}, "out_features": 2}},
            {{"op": "{act}"}},
            {{"op": "linear", "in_features": 2, "out_features": 2}}]}}"#
        )
    };
    let p = fv(&[0.0, 0.01, 0.0, 0.0]);
    let big = network(&json(3, "tanh"), 41, 1.0);
    assert!(big.sites()[1].size > SEQ_B5_MAX_SITE);
    let x = inputs(&big, 1, 42, -1.0, 1.0);
    let e = seq_b5(&big, &p, &x, None).unwrap_err();
    assert!(
        matches!(e, BoundsError::NotApplicable { bound: "b5", .. }),
        "{e}"
    );
    assert!(e.to_string().contains("4800"), "{e}");
    let flat = network(&json(3, "relu"), 41, 1.0);
    let b = seq_b5(&flat, &p, &x, None).unwrap();
    assert_eq!(b, seq_b3(&flat, &p, &x, None).unwrap().mean);
    let ok = network(&json(2, "tanh"), 43, 1.0);
    assert!(seq_b5(&ok, &p, &x, None).is_ok());
}
