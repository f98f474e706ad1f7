//! The architecture JSON and the Sequential model file of SPEC §11: defaults, typed errors for
//! bad architectures and bad files (never a panic), save → load round trips, state-dict import
//! with prefixes and layer names, precision conversion.

mod seq_common;

use candle_core::{DType, Device, Tensor};
use ftnn_model::seq::{Conv2d, Pair, Pool2d, META_ARCHITECTURE};
use ftnn_model::{Architecture, LayerSpec, ModelError, Sequential};
use safetensors::tensor::Dtype;
use seq_common::*;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

fn arch(layers: &str) -> String {
    format!(r#"{{"input_shape": [3, 8, 8], "layers": [{layers}]}}"#)
}

#[test]
fn defaults_are_pytorchs() {
    let a = Architecture::from_json(&arch(
        r#"{"op": "conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3},
           {"op": "batchnorm2d", "num_features": 4},
           {"op": "maxpool2d", "kernel_size": [2, 3]},
           {"op": "relu"}"#,
    ))
    .unwrap();
    assert_eq!(
        a.layers[0].spec,
        LayerSpec::Conv2d(Conv2d {
            in_channels: 3,
            out_channels: 4,
            kernel_size: Pair(3, 3),
            stride: Pair(1, 1),
            padding: Pair(0, 0),
            groups: 1,
            bias: true,
        })
    );
    let LayerSpec::BatchNorm2d(bn) = &a.layers[1].spec else {
        panic!()
    };
    assert_eq!((bn.eps, bn.affine), (1e-5, true));
    let LayerSpec::MaxPool2d(p) = &a.layers[2].spec else {
        panic!()
    };
    assert_eq!(
        (p.stride(), p.padding),
        (Pair(2, 3), Pair(0, 0)),
        "pool stride defaults to the kernel"
    );
    let LayerSpec::Activation(act) = &a.layers[3].spec else {
        panic!()
    };
    assert_eq!((act.scale, act.gain), (1.0, 1.0));
    assert_eq!(
        a.shapes().unwrap(),
        vec![vec![4, 6, 6], vec![4, 6, 6], vec![4, 3, 2], vec![4, 3, 2]]
    );
    // JSON round trip, and serde
    assert_eq!(Architecture::from_json(&a.to_json()).unwrap(), a);
    let via_serde: Architecture = serde_json::from_str(&a.to_json()).unwrap();
    assert_eq!(via_serde, a);
    assert_eq!(serde_json::to_value(&a).unwrap(), a.to_value());
    let pool = Pool2d {
        kernel_size: Pair::square(2),
        stride: None,
        padding: Pair::default(),
    };
    assert_eq!(pool.stride(), Pair(2, 2));
}

#[test]
fn mnist_arch_shapes() {
    let dir = ftnn_data::DataDir::locate().unwrap();
    let text = std::fs::read_to_string(dir.file("models/mnist-cnn.arch.json")).unwrap();
    let a = Architecture::from_json(&text).unwrap();
    let s = a.shapes().unwrap();
    assert_eq!(s[2], vec![32, 14, 14]);
    assert_eq!(s[8], vec![128, 3, 3]);
    assert_eq!(s[9], vec![1152]);
    assert_eq!(a.output_shape().unwrap(), vec![10]);
    let keys: Vec<String> = a.tensors().into_iter().map(|(_, k, _)| k).collect();
    let mut want: Vec<String> = ftnn_data::mnist_cnn_expected()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    want.sort();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort();
    assert_eq!(keys_sorted, want);
}

/// Each bad architecture gives its typed error, naming the layer.
#[test]
fn bad_architectures_give_typed_errors() {
    let err = |json: &str| Architecture::from_json(json).unwrap_err();
    // unknown op
    let e = err(&arch(
        r#"{"op": "relu"}, {"op": "conv3d", "in_channels": 3}"#,
    ));
    assert!(
        matches!(&e, ModelError::UnknownOp { layer: 1, op } if op == "conv3d"),
        "{e}"
    );
    assert!(e.to_string().contains("layer 1") && e.to_string().contains("conv3d"));
    // unknown field, missing field, bad value, missing op, non-object layer
    for (layers, layer) in [
        (
            r#"{"op": "conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3, "dilation": 2}"#,
            0,
        ),
        (r#"{"op": "relu"}, {"op": "linear", "in_features": 3}"#, 1),
        (r#"{"op": "maxpool2d", "kernel_size": -2}"#, 0),
        (r#"{"op": "maxpool2d", "kernel_size": [2, 2, 2]}"#, 0),
        (r#"{"op": "relu", "scale": "big"}"#, 0),
        (r#"{"op": "flatten", "start_dim": 1}"#, 0),
        (r#"{"kernel_size": 2}"#, 0),
        (r#"{"op": "relu"}, 7"#, 1),
        (r#"{"op": "softmax"}, {"op": "relu"}"#, 0),
        (
            r#"{"op": "conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3, "groups": 2}"#,
            0,
        ),
        (
            r#"{"op": "conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 0}"#,
            0,
        ),
        (r#"{"op": "maxpool2d", "kernel_size": 2, "padding": 2}"#, 0),
        (r#"{"op": "batchnorm2d", "num_features": 3, "eps": -1}"#, 0),
        (r#"{"op": "dropout", "p": 2}"#, 0),
    ] {
        let e = err(&arch(layers));
        assert!(
            matches!(e, ModelError::InvalidLayer { layer: l, .. } if l == layer),
            "{layers}: {e}"
        );
    }
    // shapes that do not chain: layer index, op and both shapes named
    let e = err(&arch(
        r#"{"op": "flatten"}, {"op": "linear", "in_features": 100, "out_features": 2}"#,
    ));
    match &e {
        ModelError::LayerShape {
            layer: 1,
            op,
            expected,
            got,
        } => {
            assert_eq!(op, "linear");
            assert!(expected.contains("100"));
            assert_eq!(got, &vec![192]);
        }
        other => panic!("{other}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains("layer 1") && msg.contains("100") && msg.contains("192"),
        "{msg}"
    );
    for (layers, layer) in [
        (
            r#"{"op": "conv2d", "in_channels": 4, "out_channels": 4, "kernel_size": 3}"#,
            0,
        ),
        (
            r#"{"op": "conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 9}"#,
            0,
        ),
        (
            r#"{"op": "maxpool2d", "kernel_size": 4}, {"op": "avgpool2d", "kernel_size": 3}"#,
            1,
        ),
        (
            r#"{"op": "flatten"}, {"op": "maxpool2d", "kernel_size": 2}"#,
            1,
        ),
        (r#"{"op": "batchnorm2d", "num_features": 2}"#, 0),
        (
            r#"{"op": "flatten"}, {"op": "conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 1}"#,
            1,
        ),
    ] {
        let e = err(&arch(layers));
        assert!(
            matches!(e, ModelError::LayerShape { layer: l, .. } if l == layer),
            "{layers}: {e}"
        );
    }
    // the padded input is large enough: kernel 9 with padding 1 on 8×8 → 2×2
    assert!(Architecture::from_json(&arch(
        r#"{"op": "conv2d", "in_channels": 3, "out_channels": 1, "kernel_size": 9, "padding": 1}"#
    ))
    .is_ok());
    // not JSON, not the right top level
    for json in [
        "{not json",
        r#"{"layers": []}"#,
        r#"{"input_shape": [3], "layers": {}}"#,
        r#"{"input_shape": [3], "layers": [], "extra": 1}"#,
        r#"[1, 2]"#,
        r#"{"input_shape": "3", "layers": []}"#,
    ] {
        assert!(
            matches!(err(json), ModelError::ArchitectureJson(_)),
            "{json}"
        );
    }
    assert!(matches!(
        err(r#"{"input_shape": [3], "layers": []}"#),
        ModelError::Architecture(_)
    ));
    assert!(matches!(
        err(r#"{"input_shape": [0, 2], "layers": [{"op": "relu"}]}"#),
        ModelError::Architecture(_)
    ));
}

fn cnn_json() -> &'static str {
    r#"{"input_shape": [2, 6, 6], "layers": [
        {"op": "conv2d", "name": "features.conv", "in_channels": 2, "out_channels": 3, "kernel_size": 3, "padding": 1},
        {"op": "batchnorm2d", "name": "features.bn", "num_features": 3},
        {"op": "relu"},
        {"op": "avgpool2d", "kernel_size": 2},
        {"op": "flatten"},
        {"op": "linear", "name": "head", "in_features": 27, "out_features": 4},
        {"op": "softmax"}]}"#
}

/// The parameters of `json` as (key, shape, values) with a key prefix.
fn entries(
    a: &Architecture,
    p: &BTreeMap<String, Vec<f32>>,
    prefix: &str,
) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    a.tensors()
        .into_iter()
        .map(|(_, k, s)| (format!("{prefix}{k}"), s, p[&k].clone()))
        .collect()
}

fn out(net: &Sequential, x: &Tensor) -> Vec<f32> {
    flat(&net.forward(x).unwrap())
}

#[test]
fn save_load_round_trip_is_exact() {
    let (net, _) = random_net(cnn_json(), 3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cnn.safetensors");
    net.save(&path).unwrap();
    let back = Sequential::load(&path, &Device::Cpu).unwrap();
    let x = batch(&random_inputs(&[2, 6, 6], 3, 4));
    assert_eq!(out(&back, &x), out(&net, &x));
    assert_eq!(back.architecture(), &net.architecture().without_names());
    assert_eq!(back.parameters().len(), 8);
    for (k, t) in net.parameters() {
        assert_eq!(flat(&back.parameters()[k]), flat(t), "{k}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary left"
    );
}

#[test]
fn state_dicts_import_with_prefix_names_and_any_precision() {
    let a = Architecture::from_json(cnn_json()).unwrap();
    let p = random_params(&a, 5);
    let (reference, _) = random_net(cnn_json(), 5);
    let x = batch(&random_inputs(&[2, 6, 6], 2, 6));
    let want = out(&reference, &x);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sd.safetensors");
    for prefix in ["", "module.", "model.net."] {
        write_st(&path, &entries(&a, &p, prefix), Dtype::F32, None);
        let net = Sequential::from_state_dict(&path, &a, &Device::Cpu).unwrap();
        assert_eq!(out(&net, &x), want, "prefix `{prefix}`");
    }
    // f64 exactly, f16 / bf16 approximately
    write_st(&path, &entries(&a, &p, ""), Dtype::F64, None);
    let net = Sequential::from_state_dict(&path, &a, &Device::Cpu).unwrap();
    assert_eq!(out(&net, &x), want);
    for (dtype, tol) in [(Dtype::F16, 5e-3), (Dtype::BF16, 3e-2)] {
        write_st(&path, &entries(&a, &p, ""), dtype, None);
        let net = Sequential::from_state_dict(&path, &a, &Device::Cpu).unwrap();
        assert!(net.parameters().values().all(|t| t.dtype() == DType::F32));
        let w: Vec<f64> = want.iter().map(|&v| v as f64).collect();
        assert_close(&out(&net, &x), &w, tol, &format!("{dtype:?}"));
    }
    // BatchNorm counters of PyTorch state dicts are ignored
    let mut e = entries(&a, &p, "");
    e.push(("features.bn.num_batches_tracked".into(), vec![], vec![7.0]));
    write_st(&path, &e, Dtype::F32, None);
    assert!(Sequential::from_state_dict(&path, &a, &Device::Cpu).is_ok());
}

#[test]
fn bad_state_dicts_and_files_give_typed_errors() {
    let a = Architecture::from_json(cnn_json()).unwrap();
    let p = random_params(&a, 7);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sd.safetensors");
    let load = |path: &Path| Sequential::from_state_dict(path, &a, &Device::Cpu).unwrap_err();
    // missing tensor: named, with the shape it should have
    let mut e = entries(&a, &p, "");
    e.retain(|(k, _, _)| k != "features.bn.running_var");
    write_st(&path, &e, Dtype::F32, None);
    match load(&path) {
        ModelError::MissingTensor { name, hint, .. } => {
            assert_eq!(name, "features.bn.running_var");
            assert!(hint.contains("[3]") && hint.contains("layer 1"), "{hint}");
        }
        other => panic!("{other}"),
    }
    // mis-shaped tensor: key, expected and actual shape
    let mut e = entries(&a, &p, "");
    e[0] = ("features.conv.weight".into(), vec![3, 2, 9], vec![0.5; 54]);
    write_st(&path, &e, Dtype::F32, None);
    match load(&path) {
        ModelError::WrongTensorShape {
            name,
            expected,
            got,
            ..
        } => {
            assert_eq!(name, "features.conv.weight");
            assert_eq!((expected, got), (vec![3, 2, 3, 3], vec![3, 2, 9]));
        }
        other => panic!("{other}"),
    }
    // a tensor the architecture does not use
    let mut e = entries(&a, &p, "");
    e.push(("extra.weight".into(), vec![1], vec![1.0]));
    write_st(&path, &e, Dtype::F32, None);
    let err = load(&path);
    assert!(
        matches!(&err, ModelError::ModelFile { reason, .. } if reason.contains("extra.weight")),
        "{err}"
    );
    // non-finite value, negative variance
    let mut e = entries(&a, &p, "");
    e[0].2[4] = f32::NAN;
    write_st(&path, &e, Dtype::F32, None);
    assert!(matches!(
        load(&path).inner(),
        ModelError::NonFinite { index: 4, .. }
    ));
    let mut e = entries(&a, &p, "");
    let var = e
        .iter_mut()
        .find(|(k, _, _)| k.ends_with("running_var"))
        .unwrap();
    var.2[1] = -1.0;
    write_st(&path, &e, Dtype::F32, None);
    assert!(matches!(
        load(&path).inner(),
        ModelError::InvalidLayer { layer: 1, .. }
    ));
    // missing file, garbage, truncated file
    assert!(matches!(
        load(&dir.path().join("none.pth")),
        ModelError::Io { .. }
    ));
    assert!(matches!(
        Sequential::load(&dir.path().join("none"), &Device::Cpu),
        Err(ModelError::Io { .. })
    ));
    std::fs::write(&path, b"not a model at all").unwrap();
    assert!(matches!(load(&path), ModelError::ModelFile { .. }));
    let (net, _) = random_net(cnn_json(), 1);
    net.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for cut in [bytes.len() - 5, 40, 5, 0] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let e = Sequential::load(&path, &Device::Cpu).unwrap_err();
        assert!(
            matches!(e, ModelError::ModelFile { .. }),
            "cut at {cut}: {e}"
        );
        assert!(e.is_input_error());
    }
    // metadata: absent, not JSON, JSON with an unknown op
    let e = entries(&a.without_names(), &p_by_index(&a, &p), "");
    write_st(&path, &e, Dtype::F32, None);
    let err = Sequential::load(&path, &Device::Cpu).unwrap_err();
    assert!(
        matches!(&err, ModelError::ModelFile { reason, .. } if reason.contains(META_ARCHITECTURE))
    );
    let meta = |s: &str| {
        Some(HashMap::from([(
            META_ARCHITECTURE.to_string(),
            s.to_string(),
        )]))
    };
    write_st(&path, &e, Dtype::F32, meta("{\"input_shape\": [2, 6"));
    let err = Sequential::load(&path, &Device::Cpu).unwrap_err();
    assert!(
        matches!(err.inner(), ModelError::ArchitectureJson(_)),
        "{err}"
    );
    assert!(err.to_string().contains("sd.safetensors"), "{err}");
    write_st(
        &path,
        &e,
        Dtype::F32,
        meta(r#"{"input_shape": [4], "layers": [{"op": "gelu"}]}"#),
    );
    let err = Sequential::load(&path, &Device::Cpu).unwrap_err();
    assert!(
        matches!(err.inner(), ModelError::UnknownOp { layer: 0, .. }),
        "{err}"
    );
    // valid metadata but the tensors do not fit it
    let other = r#"{"input_shape": [2, 6, 6], "layers": [{"op": "conv2d", "in_channels": 2, "out_channels": 5, "kernel_size": 3}]}"#;
    write_st(&path, &e, Dtype::F32, meta(other));
    assert!(matches!(
        Sequential::load(&path, &Device::Cpu).unwrap_err(),
        ModelError::WrongTensorShape { .. }
    ));
}

/// The parameters re-keyed by layer index.
fn p_by_index(a: &Architecture, p: &BTreeMap<String, Vec<f32>>) -> BTreeMap<String, Vec<f32>> {
    let plain = a.without_names();
    a.tensors()
        .into_iter()
        .zip(plain.tensors())
        .map(|((_, named, _), (_, indexed, _))| (indexed, p[&named].clone()))
        .collect()
}
