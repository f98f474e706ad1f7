//! The VGG loader and its SPEC §9 transforms against real PyTorch: `fixtures/vgg/` holds a
//! small VGG-shaped network in torchvision's naming with random weights and PyTorch's outputs
//! on two inputs, plain and transformed (ReLU → Softplus(β = 10), max → average pooling,
//! output columns 7, 2, 5), written by `make_vgg_fixture.py`.

use candle_core::{Device, Tensor};
use ftnn_data::VggConfig;
use ftnn_model::seq::{vgg_architecture, Sequential, VggActivation, VggTransforms};
use ftnn_model::ModelError;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vgg")
}

/// The fixture's configuration: VGG16 channels / 32, dense width 16, 10 classes, 1×1 pool.
fn config() -> VggConfig {
    VggConfig::vgg16_scaled(32, 16, 10, 1)
}

fn small(transforms: VggTransforms) -> std::result::Result<Sequential, ModelError> {
    let t = VggTransforms {
        input_size: (32, 32),
        ..transforms
    };
    Sequential::vgg(
        &dir().join("vgg_small.safetensors"),
        &config(),
        &t,
        &Device::Cpu,
    )
}

fn npy(name: &str) -> Tensor {
    Tensor::read_npy(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn assert_matches(net: &Sequential, want: &str) {
    let y = net.forward(&npy("vgg_small.x.npy")).unwrap();
    let want = npy(want);
    assert_eq!(y.dims(), want.dims(), "{}: output dims", "vgg");
    let got: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
    let want: Vec<f32> = want.flatten_all().unwrap().to_vec1().unwrap();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs().max(1.0),
            "output {i}: ftnn {g} vs PyTorch {w}"
        );
    }
}

#[test]
fn plain_vgg_matches_pytorch() {
    let net = small(VggTransforms::default()).unwrap();
    assert_eq!(net.input_shape(), &[3, 32, 32]);
    assert_eq!(net.output_shape(), &[10]);
    // Sites: the input, 13 conv activations, 2 dense activations, the output.
    assert_eq!(net.n_sites(), 1 + 13 + 2 + 1);
    assert_matches(&net, "vgg_small.y_plain.npy");
}

#[test]
fn transformed_vgg_matches_pytorch() {
    let net = small(VggTransforms {
        activation: VggActivation::Softplus { scale: 10.0 },
        avg_pool: true,
        classes: Some(vec![7, 2, 5]),
        ..VggTransforms::default()
    })
    .unwrap();
    assert_eq!(net.output_shape(), &[3]);
    let ops: Vec<&str> = net.architecture().layers.iter().map(|l| l.op()).collect();
    assert!(
        !ops.contains(&"maxpool2d") && !ops.contains(&"relu"),
        "{ops:?}"
    );
    assert_eq!(ops.iter().filter(|&&o| o == "avgpool2d").count(), 5);
    assert_eq!(ops.iter().filter(|&&o| o == "softplus").count(), 15);
    assert_matches(&net, "vgg_small.y_soft.npy");
}

#[test]
fn vgg16_architecture_has_torchvision_shapes() {
    let arch = vgg_architecture(&VggConfig::vgg16(), &VggTransforms::default()).unwrap();
    let shapes = arch.shapes().unwrap();
    assert_eq!(arch.input_shape, vec![3, 224, 224]);
    assert_eq!(shapes.last().unwrap(), &vec![1000]);
    // After the 5 pools: [512, 7, 7]; the flatten gives 25 088 = classifier.0's in_features.
    let flat = arch
        .layers
        .iter()
        .position(|l| l.op() == "flatten")
        .unwrap();
    assert_eq!(shapes[flat], vec![25088]);
    let names: Vec<String> = arch.layers.iter().filter_map(|l| l.name.clone()).collect();
    assert_eq!(names.len(), 16);
    assert_eq!(names[0], "features.0");
    assert_eq!(names[12], "features.28");
    assert_eq!(
        &names[13..],
        ["classifier.0", "classifier.3", "classifier.6"]
    );
}

#[test]
fn bad_transforms_and_files_are_clear_errors() {
    let e = small(VggTransforms {
        classes: Some(vec![3, 10]),
        ..VggTransforms::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("class 10 does not exist"), "{e}");
    let e = small(VggTransforms {
        classes: Some(vec![]),
        ..VggTransforms::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("keeps no class"), "{e}");
    for scale in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = small(VggTransforms {
            activation: VggActivation::Softplus { scale },
            ..VggTransforms::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("softplus scale"), "{scale}: {e}");
    }
    // Input too small for five 2×2 pools.
    let e = Sequential::vgg(
        &dir().join("vgg_small.safetensors"),
        &config(),
        &VggTransforms {
            input_size: (16, 16),
            ..VggTransforms::default()
        },
        &Device::Cpu,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("layer") && e.contains("maxpool2d"), "{e}");
    // The real VGG16 configuration against the small file: every tensor named with both shapes.
    let e = Sequential::vgg(
        &dir().join("vgg_small.safetensors"),
        &VggConfig::vgg16(),
        &VggTransforms::default(),
        &Device::Cpu,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("features.0.weight"), "{e}");
    // A missing file.
    let e = Sequential::vgg(
        &dir().join("absent.safetensors"),
        &config(),
        &VggTransforms::default(),
        &Device::Cpu,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("absent.safetensors"), "{e}");
}

#[test]
fn missing_vgg16_names_the_file_and_the_import_command() {
    let tmp = std::env::temp_dir().join(format!("ftnn-vgg-missing-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let data = ftnn_data::DataDir::new(&tmp);
    let e = Sequential::vgg16(&data, &VggTransforms::default(), &Device::Cpu)
        .unwrap_err()
        .to_string();
    std::fs::remove_dir_all(&tmp).ok();
    assert!(e.contains("vgg16.safetensors"), "{e}");
    assert!(e.contains("import-vgg16"), "{e}");
}
