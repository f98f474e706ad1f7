//! Crash sites of SPEC §11: their number, shapes and labels for MLPs and CNNs, and the masked
//! forward pass against independent references (the MLP's f64 forward with crash masks, and a
//! nested-loop CNN with elements zeroed by hand).

mod seq_common;

use candle_core::{Device, Tensor};
use ftnn_model::{Activation, Init, Mlp, ModelError, Sequential};
use seq_common::*;

fn mlp(act: Activation, seed: u64) -> Mlp {
    Mlp::init(&[5, 4, 3, 2], act, 1.3, Init::Paper, &mut rng(seed)).unwrap()
}

fn ones_like(t: &Tensor) -> Tensor {
    t.ones_like().unwrap()
}

/// A 0/1 mask of `dims` with a single zero at flat index `k`.
fn one_zero(dims: &[usize], k: usize) -> Tensor {
    let n: usize = dims.iter().product();
    let mut v = vec![1f32; n];
    v[k] = 0.0;
    Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
}

#[test]
fn mlp_has_l_plus_one_sites() {
    let net = Sequential::from_mlp(&mlp(Activation::Tanh, 0), &Device::Cpu).unwrap();
    let sites = net.sites();
    assert_eq!(sites.len(), 4);
    let shapes: Vec<Vec<usize>> = sites.iter().map(|s| s.shape.clone()).collect();
    assert_eq!(shapes, vec![vec![5], vec![4], vec![3], vec![2]]);
    let sizes: Vec<usize> = sites.iter().map(|s| s.size).collect();
    assert_eq!(sizes, vec![5, 4, 3, 2]);
    let after: Vec<Option<usize>> = sites.iter().map(|s| s.layer_after).collect();
    assert_eq!(after, vec![None, Some(1), Some(3), Some(4)]);
    assert_eq!(sites[0].label, "input");
    assert_eq!(sites[1].label, "layer 1 (tanh)");
    assert_eq!(sites[3].label, "output");
    assert!(sites.iter().enumerate().all(|(i, s)| s.index == i));
}

#[test]
fn cnn_sites_and_special_endings() {
    let json = r#"{"input_shape": [1, 6, 6], "layers": [
        {"op": "conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": 1},
        {"op": "relu"},
        {"op": "maxpool2d", "kernel_size": 2},
        {"op": "conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": 2},
        {"op": "sigmoid"},
        {"op": "flatten"},
        {"op": "linear", "in_features": 12, "out_features": 4},
        {"op": "tanh"},
        {"op": "linear", "in_features": 4, "out_features": 3},
        {"op": "softmax"}]}"#;
    let (net, _) = random_net(json, 1);
    let s: Vec<(Option<usize>, Vec<usize>, usize)> = net
        .sites()
        .iter()
        .map(|s| (s.layer_after, s.shape.clone(), s.size))
        .collect();
    assert_eq!(
        s,
        vec![
            (None, vec![1, 6, 6], 36),
            (Some(1), vec![2, 6, 6], 72),
            (Some(4), vec![3, 2, 2], 12),
            (Some(7), vec![4], 4),
            (Some(9), vec![3], 3), // the output, after the softmax
        ]
    );
    // A network ending in an activation has one site there: the output.
    let json = r#"{"input_shape": [3], "layers": [
        {"op": "linear", "in_features": 3, "out_features": 4}, {"op": "relu"},
        {"op": "linear", "in_features": 4, "out_features": 2}, {"op": "sigmoid"}]}"#;
    let (net, _) = random_net(json, 2);
    assert_eq!(net.n_sites(), 3);
    assert_eq!(net.sites()[2].layer_after, Some(3));
    assert_eq!(net.sites()[2].label, "output (layer 3, sigmoid)");
    // … also when only dropout follows it.
    let json = r#"{"input_shape": [3], "layers": [
        {"op": "linear", "in_features": 3, "out_features": 4}, {"op": "relu"}, {"op": "dropout"}]}"#;
    let (net, _) = random_net(json, 3);
    assert_eq!(net.n_sites(), 2);
    // An activation before a final softmax is a site of its own.
    let json = r#"{"input_shape": [3], "layers": [
        {"op": "linear", "in_features": 3, "out_features": 4}, {"op": "relu"}, {"op": "softmax"}]}"#;
    let (net, _) = random_net(json, 4);
    assert_eq!(net.n_sites(), 3);
}

#[test]
fn trace_and_all_ones_masks_give_the_clean_output() {
    let m = mlp(Activation::Sigmoid, 5);
    let net = Sequential::from_mlp(&m, &Device::Cpu).unwrap();
    let xs = random_inputs(&[5], 4, 6);
    let x = batch(&xs);
    let clean = flat(&net.forward(&x).unwrap());
    let trace = net.forward_trace(&x).unwrap();
    assert_eq!(trace.len(), 4);
    assert_eq!(flat(&trace[3]), clean);
    let ones: Vec<Option<Tensor>> = trace.iter().map(|t| Some(ones_like(t))).collect();
    for s in 0..4 {
        let y = net.forward_from_site(s, &trace[s], &ones).unwrap();
        assert_eq!(y.dims(), &[4, 2]);
        assert_eq!(flat(&y), clean, "from site {s}");
    }
    assert_eq!(flat(&net.forward_masked(&x, &ones).unwrap()), clean);
    let none: Vec<Option<Tensor>> = vec![None; 4];
    assert_eq!(flat(&net.forward_from_site(0, &x, &none).unwrap()), clean);
    // The hidden tensors of the trace are the MLP's layers.
    let layers = m.forward_layers(&flat(&x), 4).unwrap();
    for l in 0..4 {
        let want: Vec<f64> = layers[l].iter().map(|&v| v as f64).collect();
        assert_close(&flat(&trace[l]), &want, 1e-5, "trace");
    }
}

/// A crash mask on an MLP equals the MLP's own f64 forward with the same neurons crashed.
#[test]
fn mlp_masks_match_the_mlp_reference() {
    for act in Activation::ALL {
        let m = mlp(act, 7);
        let net = Sequential::from_mlp(&m, &Device::Cpu).unwrap();
        let xs = random_inputs(&[5], 2, 8);
        let x = batch(&xs);
        let sizes = m.sizes();
        for (site, neuron) in [(0, 3), (1, 0), (2, 2), (3, 1)] {
            let mut masks: Vec<Option<Tensor>> = vec![None; 4];
            masks[site] = Some(one_zero(&[2, sizes[site]], sizes[site] + neuron)); // example 1 only
            let got = flat(&net.forward_masked(&x, &masks).unwrap());
            let mut want = Vec::new();
            for (e, xe) in xs.iter().enumerate() {
                let mut crash: Vec<Vec<bool>> = sizes.iter().map(|&n| vec![false; n]).collect();
                if e == 1 {
                    crash[site][neuron] = true;
                }
                want.extend(m.forward_f64(&xe.v, Some(&crash)));
            }
            assert_close(&got, &want, 1e-5, &format!("{act} site {site}"));
            if site == 3 {
                assert_eq!(got[2 + neuron], 0.0, "a crashed output is exactly 0");
            }
        }
    }
}

/// Zeroing one element of a CNN's site tensor by a mask equals zeroing it by hand in the
/// nested-loop reference network.
#[test]
fn cnn_mask_equals_zeroing_by_hand() {
    let json = r#"{"input_shape": [2, 5, 5], "layers": [
        {"op": "conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": 3, "padding": 1},
        {"op": "relu"},
        {"op": "maxpool2d", "kernel_size": 2},
        {"op": "flatten"},
        {"op": "linear", "in_features": 12, "out_features": 4},
        {"op": "softplus"},
        {"op": "linear", "in_features": 4, "out_features": 2}]}"#;
    let (net, p) = random_net(json, 9);
    assert_eq!(net.n_sites(), 4);
    let xs = random_inputs(&[2, 5, 5], 2, 10);
    // reference with optional (site, element) zeroed in example 0
    let reference = |x: &T, zero: Option<(usize, usize)>| {
        let z = |s: usize, mut t: T| {
            if let Some((site, k)) = zero {
                if site == s {
                    t.v[k] = 0.0;
                }
            }
            t
        };
        let y = z(0, x.clone());
        let y = conv(
            &y,
            &p["0.weight"],
            3,
            (3, 3),
            Some(&p["0.bias"]),
            (1, 1),
            (1, 1),
            1,
        );
        let y = z(1, map(&y, relu));
        let y = flatten(&pool(&y, (2, 2), (2, 2), (0, 0), true));
        let y = z(
            2,
            map(&linear(&y, &p["4.weight"], 4, Some(&p["4.bias"])), softplus),
        );
        z(3, linear(&y, &p["6.weight"], 2, Some(&p["6.bias"])))
    };
    let x = batch(&xs);
    let trace = net.forward_trace(&x).unwrap();
    for (site, k) in [(0, 7), (1, 31), (1, 0), (2, 3), (3, 1)] {
        // at the relu site, pick an element that matters: the maximum of a pooling window
        let k = if site == 1 {
            let v = flat(&trace[1]);
            let windows =
                (0..3).flat_map(|c| (0..2).flat_map(move |i| (0..2).map(move |j| (c, i, j))));
            windows
                .skip(k % 12)
                .map(|(c, i, j)| {
                    let idx = [(0, 0), (0, 1), (1, 0), (1, 1)]
                        .map(|(a, b)| (c * 5 + 2 * i + a) * 5 + 2 * j + b);
                    *idx.iter().max_by(|&&a, &&b| v[a].total_cmp(&v[b])).unwrap()
                })
                .find(|&i| v[i] > 0.1)
                .unwrap()
        } else {
            k
        };
        let mut masks: Vec<Option<Tensor>> = vec![None; 4];
        let mut dims = vec![2];
        dims.extend_from_slice(&net.sites()[site].shape);
        masks[site] = Some(one_zero(&dims, k));
        let got = flat(&net.forward_masked(&x, &masks).unwrap());
        let want: Vec<f64> = reference(&xs[0], Some((site, k)))
            .v
            .into_iter()
            .chain(reference(&xs[1], None).v)
            .collect();
        assert_close(&got, &want, 1e-5, &format!("site {site} element {k}"));
        let clean: Vec<f64> = xs.iter().flat_map(|x| reference(x, None).v).collect();
        assert!(
            got.iter()
                .zip(&clean)
                .any(|(&g, &c)| (g as f64 - c).abs() > 1e-4),
            "crashing site {site} element {k} changes the output"
        );
        // Continuing from the site with the element zeroed by hand gives the same output.
        let mut v = flat(&trace[site]);
        v[k] = 0.0;
        let value = Tensor::from_vec(v, (2, net.sites()[site].size), &Device::Cpu).unwrap();
        let from = flat(&net.forward_from_site(site, &value, &vec![None; 4]).unwrap());
        assert_close(&from, &want, 1e-5, &format!("from site {site}"));
    }
}

#[test]
fn bad_sites_and_masks_are_errors() {
    let net = Sequential::from_mlp(&mlp(Activation::Relu, 1), &Device::Cpu).unwrap();
    let x = batch(&random_inputs(&[5], 2, 2));
    let none: Vec<Option<Tensor>> = vec![None; 4];
    assert!(matches!(
        net.forward_from_site(4, &x, &none),
        Err(ModelError::InvalidSite {
            site: 4,
            n_sites: 4
        })
    ));
    assert!(matches!(
        net.forward_from_site(0, &x, &none[..3]),
        Err(ModelError::Shape { .. })
    ));
    // wrong value shape for site 1 (width 4)
    assert!(matches!(
        net.forward_from_site(1, &x, &none),
        Err(ModelError::Shape { .. })
    ));
    // mask of the wrong shape, and of the wrong batch size
    let mut masks = none.clone();
    masks[2] = Some(Tensor::ones((2, 4), candle_core::DType::F32, &Device::Cpu).unwrap());
    assert!(matches!(
        net.forward_masked(&x, &masks),
        Err(ModelError::Shape { .. })
    ));
    masks[2] = Some(Tensor::ones((3, 3), candle_core::DType::F32, &Device::Cpu).unwrap());
    assert!(matches!(
        net.forward_masked(&x, &masks),
        Err(ModelError::Shape { .. })
    ));
    // wrong input shape
    let bad = Tensor::zeros((2, 6), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert!(matches!(net.forward(&bad), Err(ModelError::Shape { .. })));
    // f64 inputs are converted
    let x64 = x.to_dtype(candle_core::DType::F64).unwrap();
    assert_eq!(
        flat(&net.forward(&x64).unwrap()),
        flat(&net.forward(&x).unwrap())
    );
}
