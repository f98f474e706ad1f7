//! b3, b4 and b5 on Sequential networks (`seq_b3`, `seq_b4`, `seq_b5`) against references
//! computed here, independent of the code under test:
//!
//! * b3 against central finite differences of the network's own forward pass from each site
//!   (`forward_from_site`), element by element (`y_{s,i}` scaled by 1 ± h);
//! * b4 against single-crash forward passes with explicit 0/1 masks (`forward_masked`);
//! * b5's second-order term against central second differences;
//! * the comparisons with the MLP bounds and with exact enumeration are in `seq_bounds_exact.rs`.

mod seq_common;

use candle_core::Tensor;
use ftnn_bounds::{seq_b3, seq_b4, seq_b5};
use ftnn_model::seq::{Architecture, Sequential};
use seq_common::*;

#[test]
fn b3_matches_finite_differences_on_every_layer_kind() {
    // The f32 forward pass carries its own rounding δ ≈ 1e-7..1e-6 of |F|, which a difference
    // divides by its step: the steps are as large as the network allows.
    // Smooth networks: least-squares fit over steps up to h = 0.2 (truncation ~h⁶, rounding
    // ~δ/h per element, summed over up to 196 elements of both signs): 1e-3 of the largest
    // entry (seen: 2.5e-4).
    for (json, seed, p) in [
        (smooth(ZOO), 1, vec![0.01, 0.02, 0.05, 0.1]),
        (smooth(STRIDES), 2, vec![0.03, 0.01, 0.2, 0.05]),
    ] {
        let net = network(&json, seed, 1.0);
        assert_eq!(net.n_sites(), p.len());
        let x = inputs(&net, 3, seed + 10, -1.0, 1.0);
        check_b3(&net, &p, &x, Fd::Fit(0.2), 1e-3, &json);
    }
    // Max pooling on separated values: the fit over steps up to h = 0.08 never moves a
    // window's maximum (seen: 1e-4).
    for (i, json) in maxnets().iter().enumerate() {
        let net = network(json, 3 + i as u64, 1.0);
        let x = separated(&net, 2, 13 + i as u64);
        check_b3(&net, &[0.02, 0.05, 0.1], &x, Fd::Fit(0.08), 1e-3, json);
    }
    // With the kinks (max pooling of tanh and sigmoid outputs, relu6): the fit over steps up
    // to h = 0.01, small enough not to cross a kink at these seeds; rounding ~δ/h per element,
    // summed over up to 196 elements: 1 % (seen: 6.5e-3).
    for (json, seed, p) in [
        (ZOO, 1, vec![0.01, 0.02, 0.05, 0.1]),
        (STRIDES, 2, vec![0.03, 0.01, 0.2, 0.05]),
    ] {
        let net = network(json, seed, 1.0);
        let x = inputs(&net, 3, seed + 10, -1.0, 1.0);
        check_b3(&net, &p, &x, Fd::Fit(0.01), 1e-2, json);
    }
}

#[test]
fn b3_and_b4_respect_the_input_crash_mask() {
    let net = network(STRIDES, 3, 1.0);
    let x = inputs(&net, 2, 4, -1.0, 1.0);
    let mut mask = vec![0f32; 72];
    for i in [3, 10, 17, 40, 41, 70] {
        mask[i] = 1.0;
    }
    let p = [0.1, 0.0, 0.05, 0.0];
    let got = seq_b3(&net, &fv(&p), &x, Some(&mask)).unwrap();
    // Plain differences, h = 1e-3 (rounding ~δ/h per element; kinks as in the test above).
    let (mean, std) = b3_reference(&net, &p, &x, Some(&mask), Fd::Plain(1e-3));
    assert_close(&got.mean, &mean, 1e-2, 1e-9, "masked b3 mean");
    assert_close(&got.std, &std, 1e-2, 1e-9, "masked b3 std");
    let got = seq_b4(&net, &fv(&p), &x, Some(&mask)).unwrap();
    let (mean, std) = b4_reference(&net, &p, &x, Some(&mask));
    assert_close(&got.mean, &mean, 1e-5, 1e-7, "masked b4 mean");
    assert_close(&got.std, &std, 1e-5, 1e-7, "masked b4 std");
    // An all-zero mask: nothing at the input can crash.
    let zero = vec![0f32; 72];
    let p = [0.5, 0.0, 0.0, 0.0];
    for b in [
        seq_b3(&net, &fv(&p), &x, Some(&zero)).unwrap(),
        seq_b4(&net, &fv(&p), &x, Some(&zero)).unwrap(),
    ] {
        assert!(b.mean.iter().chain(&b.std).all(|&v| v == 0.0));
    }
    assert!(seq_b5(&net, &fv(&p), &x, Some(&zero))
        .unwrap()
        .iter()
        .all(|&v| v == 0.0));
}

#[test]
fn b4_matches_explicit_single_crash_passes() {
    for (json, seed, p) in [
        (ZOO, 5, vec![0.01, 0.02, 0.05, 0.1]),
        (STRIDES, 6, vec![0.03, 0.01, 0.2, 0.05]),
    ] {
        let net = network(json, seed, 1.0);
        let x = inputs(&net, 3, seed + 10, -1.0, 1.0);
        let got = seq_b4(&net, &fv(&p), &x, None).unwrap();
        let (mean, std) = b4_reference(&net, &p, &x, None);
        // Both are f32 forward passes differenced in f64; the reference differences full
        // outputs, so it carries ~ε·|y| per crash.
        assert_close(&got.mean, &mean, 1e-4, 1e-7, "b4 mean");
        assert_close(&got.std, &std, 1e-4, 1e-7, "b4 std");
    }
}

#[test]
fn b5_second_order_term_matches_second_differences() {
    // b5 − b3 = ½ Σ_s p_s Σ_i y_{s,i}² ∂²F/∂y_{s,i}², against central second differences of
    // the f32 forward pass, site by site. Their error is truncation ~h²/12·y⁴∂⁴F plus
    // rounding ~4δ/h² per element, δ ≈ 1e-6 the forward pass's own rounding — against
    // per-element terms of 1e-5..1e-3 that leaves ~10 % at the best h (0.2; 0.08 on the
    // max-pooling networks, whose windows' maxima must not move). So this checks the
    // structure of the jets through every layer kind (a wrong or missing term is O(1)); the
    // converted MLPs check them to 1e-5 and the exact enumeration checks b5's accuracy.
    let mut cases: Vec<(String, Sequential, Tensor, Vec<f64>, f32)> = Vec::new();
    for (json, seed, p) in [
        (smooth(ZOO), 7, vec![0.01, 0.02, 0.05, 0.1]),
        (smooth(STRIDES), 8, vec![0.03, 0.01, 0.2, 0.05]),
    ] {
        let net = network(&json, seed, 1.0);
        let x = inputs(&net, 2, seed + 10, -1.0, 1.0);
        cases.push((json, net, x, p, 0.2));
    }
    for (i, json) in maxnets().into_iter().enumerate() {
        let net = network(&json, 9 + i as u64, 1.0);
        let x = separated(&net, 2, 19 + i as u64);
        cases.push((json, net, x, vec![0.02, 0.05, 0.1], 0.08));
    }
    let curved = |json: &str, net: &Sequential, s: usize| {
        let after = net.sites()[s].layer_after.map_or(0, |j| j + 1);
        let arch = Architecture::from_json(json).unwrap();
        arch.layers[after..].iter().any(|l| {
            !matches!(
                l.op(),
                "relu" | "relu6" | "conv2d" | "linear" | "flatten" | "dropout"
            ) && !l.op().contains("pool")
                && l.op() != "batchnorm2d"
        })
    };
    for (json, net, x, p, h) in cases {
        for s in 0..p.len() {
            let mut q = vec![0.0; p.len()];
            q[s] = p[s];
            let got = seq_b5(&net, &fv(&q), &x, None).unwrap();
            let first = seq_b3(&net, &fv(&q), &x, None).unwrap();
            if s + 1 == p.len() || !curved(&json, &net, s) {
                // The output site, or only piecewise-linear layers after the site.
                assert_eq!(got, first.mean);
                continue;
            }
            let term: Vec<f64> = got.iter().zip(&first.mean).map(|(a, b)| a - b).collect();
            let want = b5_term_reference(&net, &q, &x, Fd::Plain(h));
            assert_close(
                &term,
                &want,
                0.15,
                1e-9,
                &format!("{json}: b5 − b3, p {q:?}"),
            );
        }
    }
}
