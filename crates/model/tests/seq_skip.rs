//! The `zeropad2d` and `add` (skip connection) layers of the Sequential architecture: forward
//! passes against direct f64 loops, resuming inside a block with the clean skip tensor, exact
//! enumeration against crash patterns enumerated by hand through the f64 reference, Monte Carlo
//! against exact enumeration (crashes inside the block, before it, both), and bad input.

mod seq_common;

use candle_core::{Device, Tensor};
use ftnn_model::seq::{seq_exact_delta, Architecture, SeqMonteCarlo};
use ftnn_model::{FailureVector, ModelError};
use seq_common::{
    batch, batchnorm, conv, flat, linear, map, random_inputs, random_net, sigmoid, T,
};
use std::collections::BTreeMap;

/// An MBConv-like block on a 3×3 image: the tanh output (site 1) enters the block (layer 2),
/// which pads asymmetrically, convolves, applies a sigmoid (site 2, inside the block), a
/// depthwise 1×1 conv with a folded batch norm, and adds the block's input back.
const SKIP: &str = r#"{"input_shape": [1, 3, 3], "layers": [
    {"op": "conv2d", "in_channels": 1, "out_channels": 1, "kernel_size": 3, "padding": 1},
    {"op": "tanh"},
    {"op": "zeropad2d", "padding": [1, 0, 0, 1]},
    {"op": "conv2d", "in_channels": 1, "out_channels": 1, "kernel_size": 2},
    {"op": "sigmoid", "scale": 2.0},
    {"op": "conv2d", "in_channels": 1, "out_channels": 1, "kernel_size": 1, "groups": 1, "bias": false},
    {"op": "batchnorm2d", "num_features": 1},
    {"op": "add", "from": 2},
    {"op": "flatten"},
    {"op": "linear", "in_features": 9, "out_features": 2}
]}"#;

/// `nn.ZeroPad2d([left, right, top, bottom])` on `[C, H, W]`, written out.
fn zeropad(x: &T, [l, r, t, b]: [usize; 4]) -> T {
    let (c, h, w) = (x.s[0], x.s[1], x.s[2]);
    let (ho, wo) = (t + h + b, l + w + r);
    let mut y = vec![0f64; c * ho * wo];
    for ch in 0..c {
        for i in 0..h {
            for j in 0..w {
                y[(ch * ho + i + t) * wo + j + l] = x.v[(ch * h + i) * w + j];
            }
        }
    }
    T::new(&[c, ho, wo], y)
}

/// The f64 forward pass of [`SKIP`], with optional 0/1 masks at sites 1 and 2.
fn reference(
    p: &BTreeMap<String, Vec<f32>>,
    x: &T,
    m1: Option<&[f64]>,
    m2: Option<&[f64]>,
) -> Vec<f64> {
    let crash = |t: T, m: Option<&[f64]>| match m {
        Some(m) => T::new(&t.s, t.v.iter().zip(m).map(|(a, b)| a * b).collect()),
        None => t,
    };
    let h = conv(
        x,
        &p["0.weight"],
        1,
        (3, 3),
        Some(&p["0.bias"]),
        (1, 1),
        (1, 1),
        1,
    );
    let h = crash(map(&h, f64::tanh), m1);
    let skip = h.clone();
    let h = zeropad(&h, [1, 0, 0, 1]);
    let h = conv(
        &h,
        &p["3.weight"],
        1,
        (2, 2),
        Some(&p["3.bias"]),
        (1, 1),
        (0, 0),
        1,
    );
    let h = crash(map(&h, |t| sigmoid(2.0 * t)), m2);
    let h = conv(&h, &p["5.weight"], 1, (1, 1), None, (1, 1), (0, 0), 1);
    let h = batchnorm(
        &h,
        &p["6.weight"],
        &p["6.bias"],
        &p["6.running_mean"],
        &p["6.running_var"],
        1e-5,
    );
    let h = T::new(&h.s, h.v.iter().zip(&skip.v).map(|(a, b)| a + b).collect());
    linear(
        &seq_common::flatten(&h),
        &p["9.weight"],
        2,
        Some(&p["9.bias"]),
    )
    .v
}

/// zeropad2d alone against the loop, for an integer and a four-sided padding.
#[test]
fn zeropad2d_forward_matches_the_loop() {
    for (json_pad, pad) in [("2", [2, 2, 2, 2]), ("[0, 3, 1, 0]", [0, 3, 1, 0])] {
        let json = format!(
            r#"{{"input_shape": [2, 3, 4], "layers": [{{"op": "zeropad2d", "padding": {json_pad}}}]}}"#
        );
        let (net, _) = random_net(&json, 1);
        let xs = random_inputs(&[2, 3, 4], 2, 2);
        let y = flat(&net.forward(&batch(&xs)).unwrap());
        let want: Vec<f64> = xs.iter().flat_map(|x| zeropad(x, pad).v).collect();
        seq_common::assert_close(&y, &want, 0.0, "zeropad2d");
        assert_eq!(
            net.output_shape(),
            &[2, 3 + pad[2] + pad[3], 4 + pad[0] + pad[1]]
        );
        // The JSON round trip keeps the four sides.
        let back = Architecture::from_json(&net.architecture().to_json()).unwrap();
        assert_eq!(&back, net.architecture());
    }
}

/// The whole block network against the f64 loops: forward, forward_masked,
/// forward_layers, and forward_from_site at every site (inside the block with the clean skip
/// tensor from forward_trace_with_inputs).
#[test]
fn add_forward_matches_the_loop() {
    let (net, p) = random_net(SKIP, 3);
    assert_eq!(net.n_sites(), 4, "input, tanh, sigmoid, output");
    let xs = random_inputs(&[1, 3, 3], 3, 4);
    let x = batch(&xs);
    let want: Vec<f64> = xs
        .iter()
        .flat_map(|x| reference(&p, x, None, None))
        .collect();
    seq_common::assert_close(&flat(&net.forward(&x).unwrap()), &want, 1e-5, "forward");
    seq_common::assert_close(
        &flat(&net.forward_layers(0..10, &x).unwrap()),
        &want,
        1e-5,
        "forward_layers",
    );
    // Skip tensors: none needed from site 0 or 1, layer 2's input from site 2.
    assert_eq!(net.site_skip_inputs(0), Vec::<usize>::new());
    assert_eq!(net.site_skip_inputs(1), Vec::<usize>::new());
    assert_eq!(net.site_skip_inputs(2), vec![2]);
    assert_eq!(net.skip_inputs(3..10), vec![2]);
    let (trace, inputs) = net.forward_trace_with_inputs(&x, &[2]).unwrap();
    assert_eq!(
        flat(&inputs[0]),
        flat(&trace[1]),
        "layer 2's input is the tanh output"
    );
    let none = vec![None; 4];
    for s in 0..4 {
        let skips = if s == 2 { inputs.clone() } else { Vec::new() };
        let y = net
            .forward_from_site_with_skips(s, &trace[s], &none, &skips)
            .unwrap();
        seq_common::assert_close(&flat(&y), &want, 1e-5, &format!("from site {s}"));
    }
    // Inside the block the skip tensor is required ...
    let e = net.forward_from_site(2, &trace[2], &none).unwrap_err();
    assert!(matches!(e, ModelError::Shape { .. }), "{e}");
    assert!(e.to_string().contains("layers [2]"), "{e}");
    let e = net.forward_layers(3..10, &trace[2]).unwrap_err();
    assert!(e.to_string().contains("layers [2]"), "{e}");
    // ... and forward_layers takes it too.
    let y = net
        .forward_layers_with_skips(5..10, &trace[2], &inputs)
        .unwrap();
    seq_common::assert_close(&flat(&y), &want, 1e-5, "forward_layers from layer 5");
    // Masks at both sites: a crash at site 1 reaches the sum through block and skip.
    let mut r = seq_common::rng(5);
    let m1: Vec<f64> = (0..9)
        .map(|_| f64::from(rand::Rng::random_bool(&mut r, 0.6)))
        .collect();
    let m2: Vec<f64> = (0..9)
        .map(|_| f64::from(rand::Rng::random_bool(&mut r, 0.6)))
        .collect();
    let tile = |m: &[f64]| {
        let v: Vec<f32> = (0..3).flat_map(|_| m.iter().map(|&a| a as f32)).collect();
        Some(Tensor::from_vec(v, (3, 1, 3, 3), &Device::Cpu).unwrap())
    };
    let masks = vec![None, tile(&m1), tile(&m2), None];
    let want: Vec<f64> = xs
        .iter()
        .flat_map(|x| reference(&p, x, Some(&m1), Some(&m2)))
        .collect();
    seq_common::assert_close(
        &flat(&net.forward_masked(&x, &masks).unwrap()),
        &want,
        1e-5,
        "masked",
    );
    // layer_linear_part: zero padding is itself, add the identity in the current tensor.
    let u = Tensor::ones((1, 1, 3, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
    let padded = net.layer_linear_part(2, &u).unwrap().unwrap();
    assert_eq!(padded.dims(), &[1, 1, 4, 4]);
    assert_eq!(flat(&padded).iter().sum::<f32>(), 9.0);
    assert_eq!(
        flat(&net.layer_linear_part(7, &u).unwrap().unwrap()),
        flat(&u)
    );
}

/// E Δ and std Δ of one input by enumerating the crash patterns of the sites in `sites`
/// (each with probability `p`) through the f64 reference.
fn enumerate(p: &BTreeMap<String, Vec<f32>>, x: &T, probs: [f64; 2]) -> (Vec<f64>, Vec<f64>) {
    let clean = reference(p, x, None, None);
    let elements: Vec<(usize, usize)> = (0..2)
        .filter(|&s| probs[s] > 0.0)
        .flat_map(|s| (0..9).map(move |i| (s, i)))
        .collect();
    let (mut mean, mut second) = (vec![0f64; 2], vec![0f64; 2]);
    for c in 0..1usize << elements.len() {
        let mut m = [vec![1f64; 9], vec![1f64; 9]];
        let mut w = 1.0;
        for (b, &(s, i)) in elements.iter().enumerate() {
            if c >> b & 1 == 1 {
                m[s][i] = 0.0;
                w *= probs[s];
            } else {
                w *= 1.0 - probs[s];
            }
        }
        let y = reference(p, x, Some(&m[0]), Some(&m[1]));
        for k in 0..2 {
            let d = y[k] - clean[k];
            mean[k] += w * d;
            second[k] += w * d * d;
        }
    }
    let std = mean
        .iter()
        .zip(&second)
        .map(|(m, s)| (s - m * m).max(0.0).sqrt())
        .collect();
    (mean, std)
}

/// Exact enumeration against the patterns enumerated by hand, and Monte Carlo against exact
/// (|MC − exact| < 4.5 standard errors, std within 3 %, R = 60 000, fixed seed), with crashes
/// inside the block (site 2: the pass resumes there with the clean skip tensor), before it
/// (site 1: crashes reach the sum through both paths), and at both.
#[test]
fn monte_carlo_and_exact_with_a_skip_connection() {
    let (net, p) = random_net(SKIP, 6);
    let xs = random_inputs(&[1, 3, 3], 2, 7);
    let x = batch(&xs);
    for (probs, seed) in [([0.0, 0.25], 1u64), ([0.2, 0.0], 2), ([0.1, 0.2], 3)] {
        let fv = FailureVector::new(vec![0.0, probs[0], probs[1], 0.0]).unwrap();
        let exact = seq_exact_delta(&net, &fv, &x, None, 20).unwrap();
        for (n, xi) in xs.iter().enumerate() {
            let (mean, std) = enumerate(&p, xi, probs);
            for k in 0..2 {
                let (a, b) = (exact.mean[n * 2 + k], mean[k]);
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "{probs:?} mean: {a} vs {b}"
                );
                let (a, b) = (exact.std[n * 2 + k], std[k]);
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "{probs:?} std: {a} vs {b}"
                );
            }
        }
        let mc = SeqMonteCarlo::new(&net, fv)
            .unwrap()
            .repetitions(60_000)
            .seed(seed)
            .run(&x)
            .unwrap();
        for i in 0..exact.mean.len() {
            let z = (mc.mean[i] - exact.mean[i]) / mc.stderr[i];
            assert!(
                z.abs() < 4.5,
                "{probs:?} [{i}] MC {} ± {} vs exact {}",
                mc.mean[i],
                mc.stderr[i],
                exact.mean[i]
            );
            let r = mc.std[i] / exact.std[i];
            assert!(
                (r - 1.0).abs() < 0.03,
                "{probs:?} [{i}] std MC {} vs exact {}",
                mc.std[i],
                exact.std[i]
            );
        }
    }
}

/// Bad architectures are typed errors naming the layer: `add` from itself or a later layer,
/// from a batch norm folded into its convolution, adding a tensor of another shape (both
/// shapes named); zeropad2d with a negative side, three sides, or on a 1-D input.
#[test]
fn bad_skip_and_padding_are_errors() {
    let arch = |layers: &str, input: &str| {
        Architecture::from_json(&format!(
            r#"{{"input_shape": {input}, "layers": [{layers}]}}"#
        ))
    };
    let e = arch(r#"{"op": "relu"}, {"op": "add", "from": 1}"#, "[4]").unwrap_err();
    assert!(
        matches!(e, ModelError::InvalidLayer { layer: 1, ref op, .. } if op == "add"),
        "{e}"
    );
    let e = arch(r#"{"op": "relu"}, {"op": "add", "from": 5}"#, "[4]").unwrap_err();
    assert!(
        matches!(e, ModelError::InvalidLayer { layer: 1, .. }),
        "{e}"
    );
    let e = arch(
        r#"{"op": "linear", "in_features": 4, "out_features": 3}, {"op": "add", "from": 0}"#,
        "[4]",
    )
    .unwrap_err();
    assert!(
        matches!(e, ModelError::LayerShape { layer: 1, ref got, .. } if got == &[3]),
        "{e}"
    );
    assert!(
        e.to_string().contains("[4]") && e.to_string().contains("[3]"),
        "{e}"
    );
    let e = arch(
        r#"{"op": "conv2d", "in_channels": 1, "out_channels": 1, "kernel_size": 1},
           {"op": "batchnorm2d", "num_features": 1}, {"op": "relu"}, {"op": "add", "from": 1}"#,
        "[1, 2, 2]",
    )
    .unwrap_err();
    assert!(
        matches!(e, ModelError::InvalidLayer { layer: 3, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("folded"), "{e}");
    for pad in ["[1, -1, 0, 0]", "[1, 1, 1]", "[1, 1, 1, 1, 1]", "\"same\""] {
        let e = arch(
            &format!(r#"{{"op": "zeropad2d", "padding": {pad}}}"#),
            "[1, 2, 2]",
        )
        .unwrap_err();
        assert!(
            matches!(e, ModelError::InvalidLayer { layer: 0, ref op, .. } if op == "zeropad2d"),
            "{pad}: {e}"
        );
    }
    let e = arch(r#"{"op": "zeropad2d", "padding": 1}"#, "[4]").unwrap_err();
    assert!(matches!(e, ModelError::LayerShape { layer: 0, .. }), "{e}");
    let e = arch(
        r#"{"op": "zeropad2d", "padding": 1, "value": 2}"#,
        "[1, 2, 2]",
    )
    .unwrap_err();
    assert!(matches!(e, ModelError::InvalidLayer { .. }), "{e}");
}
