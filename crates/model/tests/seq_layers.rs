//! Every layer of the Sequential network against a direct nested-loop f64 implementation
//! (tests/seq_common): convolutions (stride, padding, groups, depthwise), linear, pooling
//! with padding, adaptive pooling, batch norm (folded and not), activations, softmax.

mod seq_common;

use seq_common::*;

/// Runs the one-layer-plus network of `json` on random inputs and compares with `reference`.
fn check(
    json: &str,
    seed: u64,
    reference: impl Fn(&T, &std::collections::BTreeMap<String, Vec<f32>>) -> T,
) {
    let (net, p) = random_net(json, seed);
    let xs = random_inputs(net.input_shape(), 3, seed + 100);
    let got = flat(&net.forward(&batch(&xs)).unwrap());
    let want: Vec<f64> = xs.iter().flat_map(|x| reference(x, &p).v).collect();
    assert_close(&got, &want, 1e-5, json);
    let out: usize = net.output_shape().iter().product();
    assert_eq!(got.len(), 3 * out);
}

fn conv_json(c: usize, h: usize, w: usize, o: usize, fields: &str) -> String {
    format!(
        r#"{{"input_shape": [{c}, {h}, {w}], "layers": [{{"op": "conv2d", "in_channels": {c}, "out_channels": {o}, {fields}}}]}}"#
    )
}

#[test]
fn conv2d_matches_nested_loops() {
    // (c, h, w, out, fields, kernel, stride, padding, groups, bias)
    #[allow(clippy::type_complexity)]
    let cases: Vec<(
        usize,
        usize,
        usize,
        usize,
        &str,
        (usize, usize),
        (usize, usize),
        (usize, usize),
        usize,
        bool,
    )> = vec![
        (
            3,
            7,
            6,
            4,
            r#""kernel_size": 3"#,
            (3, 3),
            (1, 1),
            (0, 0),
            1,
            true,
        ),
        (
            3,
            7,
            6,
            4,
            r#""kernel_size": 3, "stride": 2, "padding": 1"#,
            (3, 3),
            (2, 2),
            (1, 1),
            1,
            true,
        ),
        (
            2,
            8,
            7,
            3,
            r#""kernel_size": [3, 2], "stride": [2, 1], "padding": [1, 0]"#,
            (3, 2),
            (2, 1),
            (1, 0),
            1,
            true,
        ),
        (
            2,
            6,
            9,
            2,
            r#""kernel_size": [1, 3], "stride": [1, 3], "padding": [0, 2]"#,
            (1, 3),
            (1, 3),
            (0, 2),
            1,
            true,
        ),
        (
            4,
            6,
            6,
            6,
            r#""kernel_size": 3, "padding": 1, "groups": 2"#,
            (3, 3),
            (1, 1),
            (1, 1),
            2,
            true,
        ),
        // depthwise, and depthwise with channel multiplier 2
        (
            4,
            6,
            5,
            4,
            r#""kernel_size": 3, "padding": 1, "groups": 4, "bias": false"#,
            (3, 3),
            (1, 1),
            (1, 1),
            4,
            false,
        ),
        (
            3,
            7,
            7,
            6,
            r#""kernel_size": 3, "stride": 2, "groups": 3"#,
            (3, 3),
            (2, 2),
            (0, 0),
            3,
            true,
        ),
        // depthwise with bias, unequal strides and paddings (the direct CPU loop)
        (
            5,
            8,
            7,
            5,
            r#""kernel_size": [3, 2], "stride": [2, 1], "padding": [1, 0], "groups": 5"#,
            (3, 2),
            (2, 1),
            (1, 0),
            5,
            true,
        ),
        (
            2,
            5,
            5,
            3,
            r#""kernel_size": 5, "bias": false"#,
            (5, 5),
            (1, 1),
            (0, 0),
            1,
            false,
        ),
    ];
    for (k, (c, h, w, o, fields, kernel, stride, padding, groups, bias)) in
        cases.into_iter().enumerate()
    {
        let json = conv_json(c, h, w, o, fields);
        check(&json, k as u64, |x, p| {
            let b = bias.then(|| p["0.bias"].as_slice());
            conv(x, &p["0.weight"], o, kernel, b, stride, padding, groups)
        });
    }
}

#[test]
fn linear_matches_nested_loops() {
    let json = r#"{"input_shape": [7], "layers": [{"op": "linear", "in_features": 7, "out_features": 5}]}"#;
    check(json, 1, |x, p| {
        linear(x, &p["0.weight"], 5, Some(&p["0.bias"]))
    });
    let json = r#"{"input_shape": [7], "layers": [{"op": "linear", "in_features": 7, "out_features": 3, "bias": false}]}"#;
    check(json, 2, |x, p| linear(x, &p["0.weight"], 3, None));
    // over the last axis of a 3-D example, as nn.Linear does
    let json = r#"{"input_shape": [2, 3, 4], "layers": [{"op": "linear", "in_features": 4, "out_features": 5}]}"#;
    check(json, 3, |x, p| {
        linear(x, &p["0.weight"], 5, Some(&p["0.bias"]))
    });
}

#[test]
fn pooling_matches_nested_loops() {
    // (op fields, kernel, stride, padding)
    let cases = [
        (r#""kernel_size": 2"#, (2, 2), (2, 2), (0, 0)),
        (
            r#""kernel_size": 3, "stride": 2, "padding": 1"#,
            (3, 3),
            (2, 2),
            (1, 1),
        ),
        (
            r#""kernel_size": [3, 2], "stride": [1, 2], "padding": [1, 0]"#,
            (3, 2),
            (1, 2),
            (1, 0),
        ),
        (
            r#""kernel_size": 3, "stride": 1, "padding": 1"#,
            (3, 3),
            (1, 1),
            (1, 1),
        ),
        (
            r#""kernel_size": [2, 4], "stride": 3, "padding": [1, 2]"#,
            (2, 4),
            (3, 3),
            (1, 2),
        ),
    ];
    for (k, (fields, kernel, stride, padding)) in cases.into_iter().enumerate() {
        for (op, max) in [("maxpool2d", true), ("avgpool2d", false)] {
            let json =
                format!(r#"{{"input_shape": [2, 7, 8], "layers": [{{"op": "{op}", {fields}}}]}}"#);
            check(&json, k as u64, |x, _| {
                pool(x, kernel, stride, padding, max)
            });
        }
    }
    // Max pooling pads with −∞: an all-negative input never yields 0 from the padding.
    let json = r#"{"input_shape": [1, 2, 2], "layers": [{"op": "maxpool2d", "kernel_size": 2, "stride": 1, "padding": 1}]}"#;
    let (net, _) = random_net(json, 0);
    let x = T::new(&[1, 2, 2], vec![-1.0, -2.0, -3.0, -4.0]);
    let got = flat(&net.forward(&batch(&[x])).unwrap());
    assert_eq!(
        got,
        vec![-1.0, -1.0, -2.0, -1.0, -1.0, -2.0, -3.0, -3.0, -4.0]
    );
}

#[test]
fn adaptive_pooling_matches_pytorch_bins() {
    for (h, w, oh, ow) in [
        (7, 5, 3, 2),
        (6, 4, 3, 2),
        (5, 5, 1, 1),
        (3, 4, 5, 3),
        (9, 7, 4, 7),
    ] {
        let json = format!(
            r#"{{"input_shape": [2, {h}, {w}], "layers": [{{"op": "adaptive_avgpool2d", "output_size": [{oh}, {ow}]}}]}}"#
        );
        check(&json, (h * w) as u64, |x, _| adaptive(x, oh, ow));
    }
    // integer output size, and the default [1, 1]
    let json =
        r#"{"input_shape": [3, 4, 6], "layers": [{"op": "adaptive_avgpool2d", "output_size": 2}]}"#;
    check(json, 5, |x, _| adaptive(x, 2, 2));
    let json = r#"{"input_shape": [3, 4, 6], "layers": [{"op": "adaptive_avgpool2d"}]}"#;
    check(json, 6, |x, _| adaptive(x, 1, 1));
}

#[test]
fn batchnorm_folded_into_conv_and_standalone() {
    let bn = |x: &T, p: &std::collections::BTreeMap<String, Vec<f32>>, i: usize, eps: f64| {
        batchnorm(
            x,
            &p[&format!("{i}.weight")],
            &p[&format!("{i}.bias")],
            &p[&format!("{i}.running_mean")],
            &p[&format!("{i}.running_var")],
            eps,
        )
    };
    // conv (with and without bias) followed by batch norm: folded
    for (bias, seed) in [("true", 1), ("false", 2)] {
        let json = format!(
            r#"{{"input_shape": [3, 6, 6], "layers": [
                {{"op": "conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": 1, "bias": {bias}}},
                {{"op": "batchnorm2d", "num_features": 4, "eps": 0.001}},
                {{"op": "relu"}}]}}"#
        );
        check(&json, seed, |x, p| {
            let b = (bias == "true").then(|| p["0.bias"].as_slice());
            let y = conv(x, &p["0.weight"], 4, (3, 3), b, (1, 1), (1, 1), 1);
            map(&bn(&y, p, 1, 1e-3), relu)
        });
    }
    // depthwise conv + batch norm (EfficientNet's pattern)
    let json = r#"{"input_shape": [4, 5, 5], "layers": [
        {"op": "conv2d", "in_channels": 4, "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "groups": 4, "bias": false},
        {"op": "batchnorm2d", "num_features": 4}]}"#;
    check(json, 3, |x, p| {
        let y = conv(x, &p["0.weight"], 4, (3, 3), None, (2, 2), (1, 1), 4);
        bn(&y, p, 1, 1e-5)
    });
    // batch norm not after a conv: per-channel affine map (first layer, and after an activation)
    let json = r#"{"input_shape": [3, 4, 5], "layers": [
        {"op": "batchnorm2d", "num_features": 3},
        {"op": "tanh"},
        {"op": "batchnorm2d", "num_features": 3, "eps": 0.1}]}"#;
    check(json, 4, |x, p| {
        bn(&map(&bn(x, p, 0, 1e-5), f64::tanh), p, 2, 0.1)
    });
    // affine = false: γ = 1, β = 0
    let json = r#"{"input_shape": [2, 3, 3], "layers": [{"op": "batchnorm2d", "num_features": 2, "affine": false}]}"#;
    check(json, 5, |x, p| {
        batchnorm(
            x,
            &[1.0; 2],
            &[0.0; 2],
            &p["0.running_mean"],
            &p["0.running_var"],
            1e-5,
        )
    });
}

/// A standard nonlinearity φ.
type Phi = fn(f64) -> f64;

#[test]
fn activations_are_standard_functions_with_scale_and_gain() {
    let cases: [(&str, Phi); 5] = [
        ("relu", relu),
        ("relu6", |t| t.clamp(0.0, 6.0)),
        ("sigmoid", sigmoid),
        ("tanh", f64::tanh),
        ("softplus", softplus),
    ];
    for (k, (op, f)) in cases.into_iter().enumerate() {
        for (scale, gain) in [(1.0, 1.0), (4.0, 1.0), (2.5, 0.4), (-1.5, 3.0)] {
            let json = format!(
                r#"{{"input_shape": [40], "layers": [{{"op": "{op}", "scale": {scale}, "gain": {gain}}}]}}"#
            );
            check(&json, k as u64, |x, _| map(x, |t| f(scale * t) * gain));
        }
    }
    // Softplus is computed stably: extreme arguments, relative accuracy for tiny values.
    let json = r#"{"input_shape": [8], "layers": [{"op": "softplus"}]}"#;
    let (net, _) = random_net(json, 0);
    let xs = [-100.0, -40.0, -20.0, -5.0, 0.0, 5.0, 40.0, 100.0];
    let got = flat(&net.forward(&batch(&[T::new(&[8], xs.to_vec())])).unwrap());
    for (&g, &t) in got.iter().zip(&xs) {
        let want = softplus(t);
        assert!(g.is_finite());
        assert!(
            (g as f64 - want).abs() <= 1e-6 * want.abs() + 1e-38,
            "softplus({t}) = {g}, want {want}"
        );
    }
    // Sigmoid saturates without NaN.
    let json = r#"{"input_shape": [4], "layers": [{"op": "sigmoid"}]}"#;
    let (net, _) = random_net(json, 0);
    let got = flat(
        &net.forward(&batch(&[T::new(&[4], vec![-1000.0, -50.0, 50.0, 1000.0])]))
            .unwrap(),
    );
    assert_close(&got, &[0.0, sigmoid(-50.0), 1.0, 1.0], 1e-7, "sigmoid");
}

#[test]
fn softmax_dropout_and_flatten() {
    let json = r#"{"input_shape": [2, 3, 2], "layers": [
        {"op": "dropout", "p": 0.5}, {"op": "flatten"},
        {"op": "linear", "in_features": 12, "out_features": 5}, {"op": "softmax"}]}"#;
    check(json, 9, |x, p| {
        softmax(&linear(&flatten(x), &p["2.weight"], 5, Some(&p["2.bias"])))
    });
}

/// A small CNN of every kind of layer at once, against the composition of the references.
#[test]
fn small_cnn_end_to_end() {
    let json = r#"{"input_shape": [3, 9, 8], "layers": [
        {"op": "conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3, "stride": [1, 2], "padding": 1},
        {"op": "batchnorm2d", "num_features": 4},
        {"op": "relu6", "scale": 2.0},
        {"op": "conv2d", "in_channels": 4, "out_channels": 4, "kernel_size": 3, "groups": 4, "padding": 1},
        {"op": "softplus", "scale": 1.5, "gain": 0.6666666666666666},
        {"op": "avgpool2d", "kernel_size": 3, "stride": 2, "padding": 1},
        {"op": "maxpool2d", "kernel_size": 2, "stride": 1},
        {"op": "adaptive_avgpool2d", "output_size": [2, 1]},
        {"op": "flatten"},
        {"op": "dropout"},
        {"op": "linear", "in_features": 8, "out_features": 3},
        {"op": "sigmoid"}]}"#;
    check(json, 11, |x, p| {
        let y = conv(
            x,
            &p["0.weight"],
            4,
            (3, 3),
            Some(&p["0.bias"]),
            (1, 2),
            (1, 1),
            1,
        );
        let y = batchnorm(
            &y,
            &p["1.weight"],
            &p["1.bias"],
            &p["1.running_mean"],
            &p["1.running_var"],
            1e-5,
        );
        let y = map(&y, |t| (2.0 * t).clamp(0.0, 6.0));
        let y = conv(
            &y,
            &p["3.weight"],
            4,
            (3, 3),
            Some(&p["3.bias"]),
            (1, 1),
            (1, 1),
            4,
        );
        let y = map(&y, |t| softplus(1.5 * t) * 0.6666666666666666);
        let y = pool(&y, (3, 3), (2, 2), (1, 1), false);
        let y = pool(&y, (2, 2), (1, 1), (0, 0), true);
        let y = flatten(&adaptive(&y, 2, 1));
        map(
            &linear(&y, &p["10.weight"], 3, Some(&p["10.bias"])),
            sigmoid,
        )
    });
}
