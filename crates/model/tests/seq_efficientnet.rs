//! The shipped EfficientNet-Lite0 (`data/models/efficientnet-lite0.safetensors`, lukemelas
//! naming) through `data/models/efficientnet-lite0.arch.json` (`zeropad2d` and `add` layers):
//! the committed architecture is the one generated from the tensor shapes, and the network
//! classifies the three shipped photos as the reference implementation does (data/README.md:
//! top-5 classes in order, probabilities ±0.01).
//!
//! rocket.jpg gets ±0.03: its probabilities hang on the last bit of the pixels — shifting the
//! crop by one column moves p(657) from 0.257 to 0.320, resizing without rounding to 8 bits to
//! 0.230 — and its JPEG decoding (the `image` crate's, not libjpeg's) differs from the
//! reference's by ±1 in places; we get (657, .257), (744, .132), (540, .111) against
//! (657, .274), (744, .140), (540, .103). The PNGs agree to ±0.006.

use candle_core::{Device, Tensor};
use ftnn_data::images::{load_image, Preprocess};
use ftnn_data::{DataDir, EFFICIENTNET_LITE0_ARCH};
use ftnn_model::seq::efficientnet::{
    efficientnet_lite0_arch_json, efficientnet_lite0_architecture,
};
use ftnn_model::seq::LayerSpec;
use ftnn_model::Sequential;
use std::collections::BTreeMap;

/// The committed architecture file equals the one generated from the tensors' shapes
/// (`FTNN_WRITE_ARCH=1` rewrites it).
#[test]
fn committed_architecture_is_generated_from_the_tensor_shapes() {
    let dir = DataDir::locate().unwrap();
    let tensors = ftnn_data::load_efficientnet_lite0(&dir, &Device::Cpu).unwrap();
    let shapes: BTreeMap<String, Vec<usize>> = tensors.shapes().into_iter().collect();
    let arch = efficientnet_lite0_architecture(&shapes).unwrap();
    let text = efficientnet_lite0_arch_json(&arch);
    let path = dir.file(EFFICIENTNET_LITE0_ARCH);
    if std::env::var_os("FTNN_WRITE_ARCH").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        committed,
        text,
        "{} is not the generated architecture",
        path.display()
    );
    // 16 blocks, 9 of them with an identity skip; 4 stride-2 depthwise convolutions padded
    // asymmetrically, plus the stem.
    let ops = |op: &str| arch.layers.iter().filter(|l| l.op() == op).count();
    assert_eq!(ops("add"), 9);
    assert_eq!(ops("zeropad2d"), 5);
    assert_eq!(ops("conv2d"), 1 + 15 + 16 + 16 + 1);
    assert_eq!(arch.output_shape().unwrap(), vec![1000]);
    let adds: Vec<usize> = arch
        .layers
        .iter()
        .filter_map(|l| match l.spec {
            LayerSpec::Add(a) => Some(a.from),
            _ => None,
        })
        .collect();
    assert!(adds.iter().all(|&i| arch.layers[i].op() == "conv2d"));
}

/// EfficientNet-Lite0's input: centre square crop, bilinear resize to 224 × 224,
/// (v − 127)/128, RGB channels first (ftnn-data's `efficientnet` pipeline).
fn preprocess(path: &std::path::Path) -> Vec<f32> {
    load_image(path, Preprocess::Efficientnet, &[3, 224, 224]).unwrap()
}

/// The (class, probability) pairs of the five largest softmax probabilities.
fn top5(logits: &[f32]) -> Vec<(usize, f64)> {
    let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let e: Vec<f64> = logits.iter().map(|&v| (v as f64 - m).exp()).collect();
    let z: f64 = e.iter().sum();
    let mut p: Vec<(usize, f64)> = e.iter().map(|v| v / z).enumerate().collect();
    p.sort_by(|a, b| b.1.total_cmp(&a.1));
    p.truncate(5);
    p
}

#[test]
fn efficientnet_lite0_top5_matches_the_reference() {
    let dir = DataDir::locate().unwrap();
    let net = Sequential::efficientnet_lite0(&dir, &Device::Cpu).unwrap();
    assert_eq!(net.input_shape(), &[3, 224, 224]);
    assert_eq!(net.n_outputs(), 1000);
    type Case<'a> = (&'a str, f64, &'a [(usize, f64)]);
    let cases: [Case; 3] = [
        (
            "chelsea.png",
            0.01,
            &[
                (285, 0.396),
                (282, 0.326),
                (281, 0.165),
                (287, 0.035),
                (728, 0.002),
            ],
        ),
        (
            "coffee.png",
            0.01,
            &[(967, 0.944), (968, 0.015), (925, 0.008)],
        ),
        (
            "rocket.jpg",
            0.03,
            &[(657, 0.274), (744, 0.140), (540, 0.103)],
        ),
    ];
    let mut x = Vec::new();
    for (file, _, _) in &cases {
        x.extend(preprocess(&dir.file(&format!("images/{file}"))));
    }
    let x = Tensor::from_vec(x, (cases.len(), 3, 224, 224), &Device::Cpu).unwrap();
    let t = std::time::Instant::now();
    let y = net.forward(&x).unwrap();
    eprintln!("EfficientNet-Lite0 forward of 3 images: {:?}", t.elapsed());
    let y = y.to_vec2::<f32>().unwrap();
    for ((file, tol, want), logits) in cases.iter().zip(&y) {
        let got = top5(logits);
        eprintln!("{file}: {got:?}");
        for (k, &(class, p)) in want.iter().enumerate() {
            assert_eq!(got[k].0, class, "{file}: class {k} of the top 5: {got:?}");
            assert!(
                (got[k].1 - p).abs() <= *tol,
                "{file}: probability of class {class} {} vs the reference {p}",
                got[k].1
            );
        }
    }
}
