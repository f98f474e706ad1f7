//! b3 and b4 on Sequential networks with skip connections (`add`) and zero padding, against
//! the references of `seq_common`: b3 against finite differences of the network's forward
//! pass from each site (inside a block, with the clean skip tensor of the same input), b4
//! against single-crash passes with explicit masks (`forward_masked`, which runs the whole
//! network). b5 refuses networks with skip connections.

mod seq_common;

use ftnn_bounds::{seq_b3, seq_b4, seq_b5, BoundsError};
use seq_common::*;

/// Two MBConv-like blocks: an expand conv, softplus (site 2, inside the first block), padded
/// depthwise conv, sigmoid (site 3, inside), project conv, `add` from the block's first layer;
/// a strided conv after asymmetric padding, tanh (site 4, the second block's input, which
/// feeds both its body and its skip), a 1×1 conv and an `add`.
const BLOCKS: &str = r#"{"input_shape": [2, 5, 5], "layers": [
    {"op": "conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": 3, "padding": 1},
    {"op": "tanh"},
    {"op": "conv2d", "in_channels": 3, "out_channels": 6, "kernel_size": 1, "bias": false},
    {"op": "batchnorm2d", "num_features": 6},
    {"op": "softplus"},
    {"op": "zeropad2d", "padding": 1},
    {"op": "conv2d", "in_channels": 6, "out_channels": 6, "kernel_size": 3, "groups": 6},
    {"op": "sigmoid", "scale": 1.5},
    {"op": "conv2d", "in_channels": 6, "out_channels": 3, "kernel_size": 1},
    {"op": "add", "from": 2},
    {"op": "zeropad2d", "padding": [0, 1, 0, 1]},
    {"op": "conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3, "stride": 2},
    {"op": "tanh"},
    {"op": "conv2d", "in_channels": 4, "out_channels": 4, "kernel_size": 1},
    {"op": "add", "from": 13},
    {"op": "adaptive_avgpool2d", "output_size": 1},
    {"op": "flatten"},
    {"op": "linear", "in_features": 4, "out_features": 3}]}"#;

const P: [f64; 6] = [0.01, 0.02, 0.05, 0.1, 0.03, 0.05];

#[test]
fn b3_matches_finite_differences_with_skip_connections() {
    let net = network(BLOCKS, 1, 1.0);
    assert_eq!(net.n_sites(), 6);
    let x = inputs(&net, 2, 11, -1.0, 1.0);
    // Every site alone (so a wrong skip gradient at one site cannot hide), then all at once.
    for s in 0..P.len() {
        let mut q = [0.0; 6];
        q[s] = P[s];
        let got = seq_b3(&net, &fv(&q), &x, None).unwrap();
        let (mean, std) = b3_reference(&net, &q, &x, None, Fd::Fit(0.2));
        assert_close(&got.mean, &mean, 1e-3, 1e-9, &format!("b3 mean, site {s}"));
        assert_close(&got.std, &std, 1e-3, 1e-9, &format!("b3 std, site {s}"));
    }
    let got = seq_b3(&net, &fv(&P), &x, None).unwrap();
    let (mean, std) = b3_reference(&net, &P, &x, None, Fd::Fit(0.2));
    assert_close(&got.mean, &mean, 1e-3, 1e-9, "b3 mean");
    assert_close(&got.std, &std, 1e-3, 1e-9, "b3 std");
}

#[test]
fn b4_matches_single_crash_passes_with_skip_connections() {
    let net = network(BLOCKS, 2, 1.0);
    let x = inputs(&net, 3, 12, -1.0, 1.0);
    for s in 0..P.len() {
        let mut q = [0.0; 6];
        q[s] = P[s];
        let got = seq_b4(&net, &fv(&q), &x, None).unwrap();
        let (mean, std) = b4_reference(&net, &q, &x, None);
        assert_close(&got.mean, &mean, 1e-4, 1e-7, &format!("b4 mean, site {s}"));
        assert_close(&got.std, &std, 1e-4, 1e-7, &format!("b4 std, site {s}"));
    }
}

#[test]
fn b5_refuses_skip_connections() {
    let net = network(BLOCKS, 3, 1.0);
    let x = inputs(&net, 1, 13, -1.0, 1.0);
    let e = seq_b5(&net, &fv(&P), &x, None).unwrap_err();
    assert!(
        matches!(e, BoundsError::NotApplicable { bound: "b5", .. }),
        "{e}"
    );
    assert!(e.to_string().contains("skip"), "{e}");
}

/// Few crashable elements and many outputs: b3 goes forward (one tangent per element) —
/// against the same finite differences, with an input crash mask of 5 pixels and at the
/// 16-element site 4 (with its skip) alone, on a 40-output head.
#[test]
fn b3_forward_mode_matches_finite_differences() {
    let json = BLOCKS.replace(r#""out_features": 3"#, r#""out_features": 40"#);
    let net = network(&json, 4, 1.0);
    assert_eq!(net.n_outputs(), 40);
    let x = inputs(&net, 2, 14, -1.0, 1.0);
    let mut mask = [0f32; 50];
    for i in [0, 7, 12, 31, 49] {
        mask[i] = 1.0;
    }
    for (q, m) in [
        ([0.1, 0.0, 0.0, 0.0, 0.0, 0.0], Some(&mask[..])),
        ([0.0, 0.0, 0.0, 0.0, 0.2, 0.0], None),
        ([0.05, 0.0, 0.0, 0.0, 0.1, 0.02], Some(&mask[..])),
    ] {
        let got = seq_b3(&net, &fv(&q), &x, m).unwrap();
        let (mean, std) = b3_reference(&net, &q, &x, m, Fd::Fit(0.2));
        assert_close(&got.mean, &mean, 1e-3, 1e-9, &format!("b3 mean, p {q:?}"));
        assert_close(&got.std, &std, 1e-3, 1e-9, &format!("b3 std, p {q:?}"));
    }
    // Max pooling, batch norm and softmax on the way (ZOO, 3 outputs): one crashable pixel
    // goes forward; differences as in seq_bounds.rs's test with the kinks (steps up to 0.01).
    let net = network(ZOO, 1, 1.0);
    let x = inputs(&net, 3, 11, -1.0, 1.0);
    let mut mask = vec![0f32; 98];
    mask[24] = 1.0;
    let q = [0.1, 0.0, 0.0, 0.0];
    let got = seq_b3(&net, &fv(&q), &x, Some(&mask)).unwrap();
    let (mean, std) = b3_reference(&net, &q, &x, Some(&mask), Fd::Fit(0.01));
    assert_close(&got.mean, &mean, 1e-2, 1e-9, "ZOO b3 mean");
    assert_close(&got.std, &std, 1e-2, 1e-9, "ZOO b3 std");
}
