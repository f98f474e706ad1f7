//! The MLP of SPEC §2 as a Sequential network (SPEC §11): same outputs for every activation
//! and K ≠ 1, and `as_mlp` recovers it.

mod seq_common;

use candle_core::Device;
use ftnn_model::seq::{ActKind, ActivationSpec};
use ftnn_model::{Activation, Architecture, Init, LayerSpec, Mlp, Sequential};
use seq_common::*;

fn inputs(n: usize, width: usize, seed: u64) -> Vec<f32> {
    uniform(&mut rng(seed), n * width, -2.0, 2.0)
}

/// |a − b| ≤ 1e-5·max(|b|, max|b|/10): relative, floored at a tenth of the largest output so that
/// outputs near 0 compare absolutely.
fn assert_rel(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs().max(scale * 0.1),
            "{what}: output {i}: {g} vs {w}"
        );
    }
}

#[test]
fn from_mlp_matches_mlp_forward_for_every_activation() {
    for act in Activation::ALL {
        for k in [0.6, 1.7] {
            let m = Mlp::init(&[7, 6, 5, 3], act, k, Init::Paper, &mut rng(3)).unwrap();
            let net = Sequential::from_mlp(&m, &Device::Cpu).unwrap();
            // the documented mapping: scale 4K (sigmoid) or K, gain 1
            let want_scale = if act == Activation::Sigmoid {
                4.0 * m.k_lips()
            } else {
                m.k_lips()
            };
            for l in [1, 3] {
                let LayerSpec::Activation(a) = net.architecture().layers[l].spec else {
                    panic!("layer {l} is not an activation");
                };
                assert_eq!((a.scale, a.gain), (want_scale, 1.0));
            }
            let x = inputs(20, 7, 4);
            let xt = candle_core::Tensor::from_slice(&x, (20, 7), &Device::Cpu).unwrap();
            let got = flat(&net.forward(&xt).unwrap());
            let want = m.forward(&x, 20).unwrap();
            assert_rel(&got, &want, &format!("{act} K={k}"));
            // and against the MLP's f64 reference
            for r in 0..20 {
                let xr: Vec<f64> = x[r * 7..(r + 1) * 7].iter().map(|&v| v as f64).collect();
                let y = m.forward_f64(&xr, None);
                assert_close(&got[r * 3..(r + 1) * 3], &y, 1e-5, &format!("{act} f64"));
            }
        }
    }
}

#[test]
fn as_mlp_round_trips() {
    for act in Activation::ALL {
        let m = Mlp::init(&[4, 6, 2], act, 2.5, Init::Paper, &mut rng(1)).unwrap();
        let net = Sequential::from_mlp(&m, &Device::Cpu).unwrap();
        let back = net.as_mlp().expect("an MLP-shaped network");
        assert_eq!(back.activation(), act);
        assert_eq!(back.k_lips(), m.k_lips());
        assert_eq!(back.sizes(), m.sizes());
        for (a, b) in m.layers().iter().zip(back.layers()) {
            assert_eq!(a.weight(), b.weight());
            assert_eq!(a.bias(), b.bias());
        }
        // and through a file
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        net.save(&p).unwrap();
        let loaded = Sequential::load(&p, &Device::Cpu).unwrap();
        assert_eq!(
            loaded.as_mlp().unwrap().layers()[1].weight(),
            m.layers()[1].weight()
        );
    }
    // A single linear layer is an MLP with no hidden layer.
    let m = Mlp::init(&[3, 2], Activation::Relu, 1.0, Init::LeCun, &mut rng(2)).unwrap();
    let net = Sequential::from_mlp(&m, &Device::Cpu).unwrap();
    assert_eq!(net.as_mlp().unwrap().sizes(), vec![3, 2]);
}

#[test]
fn relu_scale_and_gain_give_k() {
    let json = r#"{"input_shape": [3], "layers": [
        {"op": "linear", "in_features": 3, "out_features": 4}, {"op": "dropout", "p": 0.2},
        {"op": "relu", "scale": 2.0, "gain": 1.5},
        {"op": "linear", "in_features": 4, "out_features": 2}]}"#;
    let (net, _) = random_net(json, 5);
    let m = net.as_mlp().expect("relu with scale and gain is an MLP");
    assert_eq!((m.activation(), m.k_lips()), (Activation::Relu, 3.0));
    let x = inputs(6, 3, 6);
    let xt = candle_core::Tensor::from_slice(&x, (6, 3), &Device::Cpu).unwrap();
    assert_rel(
        &flat(&net.forward(&xt).unwrap()),
        &m.forward(&x, 6).unwrap(),
        "relu gain",
    );
}

#[test]
fn as_mlp_refuses_other_networks() {
    let lin = |i: usize, o: usize| {
        format!(r#"{{"op": "linear", "in_features": {i}, "out_features": {o}}}"#)
    };
    let cases = [
        // relu6 has no MLP counterpart
        format!(r#"[{}, {{"op": "relu6"}}, {}]"#, lin(3, 4), lin(4, 2)),
        // two different activations
        format!(
            r#"[{}, {{"op": "relu"}}, {}, {{"op": "tanh"}}, {}]"#,
            lin(3, 4),
            lin(4, 4),
            lin(4, 2)
        ),
        // same kind, different scale
        format!(
            r#"[{}, {{"op": "tanh"}}, {}, {{"op": "tanh", "scale": 2}}, {}]"#,
            lin(3, 4),
            lin(4, 4),
            lin(4, 2)
        ),
        // sigmoid with a gain
        format!(
            r#"[{}, {{"op": "sigmoid", "gain": 2}}, {}]"#,
            lin(3, 4),
            lin(4, 2)
        ),
        // ends in an activation / in softmax
        format!(r#"[{}, {{"op": "relu"}}]"#, lin(3, 4)),
        format!(
            r#"[{}, {{"op": "relu"}}, {}, {{"op": "softmax"}}]"#,
            lin(3, 4),
            lin(4, 2)
        ),
        // two linear layers in a row
        format!(r#"[{}, {}]"#, lin(3, 4), lin(4, 2)),
        // negative scale
        format!(
            r#"[{}, {{"op": "softplus", "scale": -1}}, {}]"#,
            lin(3, 4),
            lin(4, 2)
        ),
    ];
    for layers in cases {
        let json = format!(r#"{{"input_shape": [3], "layers": {layers}}}"#);
        let (net, _) = random_net(&json, 0);
        assert!(net.as_mlp().is_none(), "{json}");
    }
    let json = r#"{"input_shape": [1, 4, 4], "layers": [
        {"op": "conv2d", "in_channels": 1, "out_channels": 1, "kernel_size": 3},
        {"op": "relu"}, {"op": "flatten"}, {"op": "linear", "in_features": 4, "out_features": 2}]}"#;
    let (net, _) = random_net(json, 0);
    assert!(net.as_mlp().is_none());
}

#[test]
fn softplus_beta_is_scale_and_inverse_gain() {
    // PyTorch's Softplus(beta = 2): (1/2)·ln(1 + e^{2z})
    let arch = Architecture {
        input_shape: vec![5],
        layers: vec![ftnn_model::Layer::new(LayerSpec::Activation(
            ActivationSpec {
                kind: ActKind::Softplus,
                scale: 2.0,
                gain: 0.5,
            },
        ))],
    };
    let net = Sequential::new(arch, &Default::default(), &Device::Cpu).unwrap();
    let x = [-3.0f32, -0.5, 0.0, 0.7, 4.0];
    let xt = candle_core::Tensor::from_slice(&x, (1, 5), &Device::Cpu).unwrap();
    let want: Vec<f64> = x
        .iter()
        .map(|&z| 0.5 * (1.0 + (2.0 * z as f64).exp()).ln())
        .collect();
    assert_close(
        &flat(&net.forward(&xt).unwrap()),
        &want,
        1e-6,
        "softplus beta",
    );
}
