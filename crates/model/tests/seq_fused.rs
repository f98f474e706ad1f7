//! The fused convolution stage of the forward passes (conv + bias + activation + crash mask +
//! max pooling in one pass, `seq::fused`) against the direct f64 loops of `seq_common`, with
//! the site masks applied by hand: every activation, scale and gain, stride and padding, a
//! folded batch norm between convolution and activation, pooling that does and does not tile.

mod seq_common;

use candle_core::{Device, Tensor};
use seq_common::*;

/// φ, a function of t = scale·z.
type Phi = fn(f64) -> f64;

/// `(activation JSON, φ)` pairs.
fn activations() -> Vec<(&'static str, Phi)> {
    vec![
        (r#"{"op": "relu"}"#, relu),
        (r#"{"op": "relu6"}"#, |t: f64| t.clamp(0.0, 6.0)),
        (r#"{"op": "sigmoid", "scale": 2.0}"#, sigmoid),
        (r#"{"op": "tanh"}"#, f64::tanh),
        (r#"{"op": "softplus", "scale": 3.0, "gain": 0.5}"#, softplus),
    ]
}

fn scale_gain(json: &str) -> (f64, f64) {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    (
        v.get("scale").and_then(|s| s.as_f64()).unwrap_or(1.0),
        v.get("gain").and_then(|s| s.as_f64()).unwrap_or(1.0),
    )
}

/// 0/1 masks `[n, size]`, about a third zeros.
fn random_mask(n: usize, size: usize, seed: u64) -> Vec<f32> {
    let mut r = rng(seed);
    uniform(&mut r, n * size, 0.0, 1.0)
        .into_iter()
        .map(|u| if u < 0.33 { 0.0 } else { 1.0 })
        .collect()
}

#[test]
fn fused_conv_stage_matches_direct_loops() {
    for (k, (act, phi)) in activations().into_iter().enumerate() {
        let (scale, gain) = scale_gain(act);
        let f = move |z: f64| phi(scale * z) * gain;
        // [2, 9, 8] → conv 3×3 p1 → [4, 9, 8] → act (site 1) → maxpool 2 → [4, 4, 4]
        // → conv 3×3 s2 p(1, 0) → [3, 2, 1] → bn (folded) → act (site 2) → maxpool(2, s1, p1)
        // → [3, 3, 2] → flatten → linear 18 → 4 (output, site 3).
        let json = format!(
            r#"{{"input_shape": [2, 9, 8], "layers": [
                {{"op": "conv2d", "in_channels": 2, "out_channels": 4, "kernel_size": 3, "padding": 1}},
                {act},
                {{"op": "maxpool2d", "kernel_size": 2}},
                {{"op": "conv2d", "in_channels": 4, "out_channels": 3, "kernel_size": 3,
                  "stride": 2, "padding": [1, 0]}},
                {{"op": "batchnorm2d", "num_features": 3}},
                {act},
                {{"op": "maxpool2d", "kernel_size": 2, "stride": 1, "padding": 1}},
                {{"op": "flatten"}},
                {{"op": "linear", "in_features": 18, "out_features": 4}}
            ]}}"#
        );
        let (net, p) = random_net(&json, 10 + k as u64);
        let n = 3;
        let xs = random_inputs(&[2, 9, 8], n, 20 + k as u64);
        let (s1, s2) = (4 * 9 * 8, 3 * 2);
        let m1 = random_mask(n, s1, 30 + k as u64);
        let m2 = random_mask(n, s2, 40 + k as u64);
        let masks = vec![
            None,
            Some(Tensor::from_vec(m1.clone(), (n, s1), &Device::Cpu).unwrap()),
            Some(Tensor::from_vec(m2.clone(), (n, s2), &Device::Cpu).unwrap()),
            None,
        ];
        let got = flat(&net.forward_from_site(0, &batch(&xs), &masks).unwrap());
        let clean = flat(&net.forward(&batch(&xs)).unwrap());
        let mut want = Vec::new();
        let mut want_clean = Vec::new();
        for (e, x) in xs.iter().enumerate() {
            for crash in [true, false] {
                let apply = |t: T, m: &[f32]| -> T {
                    let v =
                        t.v.iter()
                            .zip(m)
                            .map(|(&a, &b)| if crash { a * b as f64 } else { a })
                            .collect();
                    T::new(&t.s, v)
                };
                let h = conv(
                    x,
                    &p["0.weight"],
                    4,
                    (3, 3),
                    Some(&p["0.bias"]),
                    (1, 1),
                    (1, 1),
                    1,
                );
                let h = apply(map(&h, f), &m1[e * s1..(e + 1) * s1]);
                let h = pool(&h, (2, 2), (2, 2), (0, 0), true);
                let h = conv(
                    &h,
                    &p["3.weight"],
                    3,
                    (3, 3),
                    Some(&p["3.bias"]),
                    (2, 2),
                    (1, 0),
                    1,
                );
                let h = batchnorm(
                    &h,
                    &p["4.weight"],
                    &p["4.bias"],
                    &p["4.running_mean"],
                    &p["4.running_var"],
                    1e-5,
                );
                let h = apply(map(&h, f), &m2[e * s2..(e + 1) * s2]);
                let h = pool(&h, (2, 2), (1, 1), (1, 1), true);
                let h = T::new(&[18], h.v);
                let y = linear(&h, &p["8.weight"], 4, Some(&p["8.bias"]));
                if crash {
                    want.extend(y.v);
                } else {
                    want_clean.extend(y.v);
                }
            }
        }
        assert_close(&got, &want, 2e-5, &format!("{act}: crashed pass"));
        assert_close(&clean, &want_clean, 2e-5, &format!("{act}: clean pass"));
    }
}

/// The fused pass and the layer-by-layer pass (`forward_layers` keeps one candle op per layer)
/// agree on the MNIST-CNN-like layout conv → relu → maxpool, which the fused stage covers.
#[test]
fn fused_and_layer_by_layer_passes_agree() {
    let json = r#"{"input_shape": [1, 12, 12], "layers": [
        {"op": "conv2d", "in_channels": 1, "out_channels": 6, "kernel_size": 3, "padding": 1},
        {"op": "relu"},
        {"op": "maxpool2d", "kernel_size": 2},
        {"op": "conv2d", "in_channels": 6, "out_channels": 5, "kernel_size": 3, "padding": 1},
        {"op": "relu"},
        {"op": "maxpool2d", "kernel_size": 2},
        {"op": "flatten"},
        {"op": "linear", "in_features": 45, "out_features": 3}
    ]}"#;
    let (net, _) = random_net(json, 5);
    let xs = random_inputs(&[1, 12, 12], 40, 6);
    let fused = flat(&net.forward(&batch(&xs)).unwrap());
    let layered = flat(&net.forward_layers(0..8, &batch(&xs)).unwrap());
    let want: Vec<f64> = layered.iter().map(|&v| v as f64).collect();
    assert_close(&fused, &want, 1e-6, "fused vs layer by layer");
}
