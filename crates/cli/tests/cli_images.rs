//! End-to-end tests of image inputs (`ftnn analyze --inputs a.png b.jpg --preprocess …`) on
//! Sequential networks: each pipeline against the same run on a `.npy` of values computed by
//! hand, the ImageNet pipeline on a real photo, and bad input.

use candle_core::{Device, Tensor};
use ftnn_model::seq::{Architecture, Sequential};
use image::{GrayImage, Luma, Rgb, RgbImage};
use std::collections::BTreeMap;
use std::path::Path;

mod common;
use common::{bad, data, fixture, ftnn, json, write_f32_npy};

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `ftnn analyze … --format json` on `inputs`, returning the report.
fn analyze(model: &str, inputs: &[&str], extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["analyze", "--model", model, "--inputs"];
    args.extend_from_slice(inputs);
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--format", "json"]);
    json(&ftnn(&args))
}

/// An RGB image's samples as [3, H, W] (channels first), each mapped by `f`.
fn chw(img: &RgbImage, f: impl Fn(u8) -> f32) -> Vec<f32> {
    (0..3)
        .flat_map(|c| img.pixels().map(move |p| p.0[c]))
        .map(f)
        .collect()
}

/// A 7 × 7 RGB picture with known, distinct values (seeded by `k`).
fn picture(k: u32) -> RgbImage {
    RgbImage::from_fn(7, 7, |x, y| {
        Rgb([
            (x * 36 + y + k) as u8,
            (255 - y * 30 - x - k) as u8,
            ((x * y * 5 + k * 17) % 256) as u8,
        ])
    })
}

/// `--preprocess none`: two 7 × 7 PNGs through `cnn_depthwise` (input [3, 7, 7]) give the
/// same report as the .npy [2, 3, 7, 7] of their pixels x/255 (channels first, in the order
/// given); a JPEG (any case of extension) gives the report of its decoded pixels.
#[test]
fn preprocess_none_equals_the_npy_of_the_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (picture(0), picture(3));
    let (pa, pb) = (dir.path().join("a.png"), dir.path().join("b.png"));
    a.save(&pa).unwrap();
    b.save(&pb).unwrap();
    let mut x = chw(&a, |v| v as f32 / 255.0);
    x.extend(chw(&b, |v| v as f32 / 255.0));
    let npy = dir.path().join("x.npy");
    write_f32_npy(&npy, &[2, 3, 7, 7], &x);

    let model = fixture("cnn_depthwise.safetensors");
    let run = [
        "--p",
        "0.1,0.2,0.1,0.05",
        "--repetitions",
        "400",
        "--seed",
        "3",
    ];
    let from_images = analyze(&model, &[s(&pa), s(&pb), "--preprocess", "none"], &run);
    let from_npy = analyze(&model, &[s(&npy)], &run);
    assert_eq!(from_images["experiment"], from_npy["experiment"]);
    assert_eq!(from_images["model"], from_npy["model"]);
    assert_eq!(
        from_images["experiment"]["mean"].as_array().unwrap().len(),
        2
    );
    // The order of the files is the order of the inputs.
    let swapped = analyze(&model, &[s(&pb), s(&pa), "--preprocess", "none"], &run);
    assert_ne!(swapped["experiment"], from_npy["experiment"]);

    // JPEG: lossy, so the reference is the decoded pixels.
    let pj = dir.path().join("c.JPEG");
    image::DynamicImage::ImageRgb8(picture(9))
        .save_with_format(&pj, image::ImageFormat::Jpeg)
        .unwrap();
    let decoded = image::open(&pj).unwrap().to_rgb8();
    let npy = dir.path().join("c.npy");
    write_f32_npy(&npy, &[1, 3, 7, 7], &chw(&decoded, |v| v as f32 / 255.0));
    let from_jpeg = analyze(&model, &[s(&pj), "--preprocess", "none"], &run);
    assert_eq!(
        from_jpeg["experiment"],
        analyze(&model, &[s(&npy)], &run)["experiment"]
    );
}

/// `--preprocess mnist` on a 28 × 28 gray PNG through the shipped MNIST CNN equals the .npy
/// of (v/255 − 0.1307)/0.3081; an RGB PNG with R = G = B = v (luma v) gives the same.
#[test]
fn preprocess_mnist_equals_the_npy_of_the_normalised_pixels() {
    let dir = tempfile::tempdir().unwrap();
    // A bright stroke on a dark background, with graded values.
    let digit = GrayImage::from_fn(28, 28, |x, y| {
        let on = (8..20).contains(&x) && (y == 6 || y == 7 || x == 13 || x == 14);
        Luma([if on {
            200 + (x + y) as u8
        } else {
            (x * y % 7) as u8
        }])
    });
    let gray = dir.path().join("digit.png");
    digit.save(&gray).unwrap();
    let rgb = dir.path().join("digit-rgb.png");
    RgbImage::from_fn(28, 28, |x, y| {
        let v = digit.get_pixel(x, y).0[0];
        Rgb([v, v, v])
    })
    .save(&rgb)
    .unwrap();
    let x: Vec<f32> = digit
        .as_raw()
        .iter()
        .map(|&v| (v as f32 / 255.0 - 0.1307) / 0.3081)
        .collect();
    let npy = dir.path().join("digit.npy");
    write_f32_npy(&npy, &[1, 1, 28, 28], &x);

    let model = data("models/mnist-cnn.pth");
    let arch = data("models/mnist-cnn.arch.json");
    let run = [
        "--architecture",
        &arch,
        "--p",
        "0.01,0,0,0.001,0,0",
        "--repetitions",
        "300",
    ];
    let from_png = analyze(&model, &[s(&gray), "--preprocess", "mnist"], &run);
    let from_npy = analyze(&model, &[s(&npy)], &run);
    assert_eq!(from_png["experiment"], from_npy["experiment"]);
    assert_eq!(
        from_png["experiment"]["mean"][0].as_array().unwrap().len(),
        10
    );
    let from_rgb = analyze(&model, &[s(&rgb), "--preprocess", "mnist"], &run);
    assert_eq!(from_rgb["experiment"], from_npy["experiment"]);
}

/// `--preprocess imagenet` on `data/images/chelsea.png` (451 × 300) with a [3, 224, 224]
/// network whose output is the per-channel mean of its input (global average pool, then the
/// identity): crashing the output with p = ½ gives, exactly, E Δ = −½ · mean. The means
/// match an independent estimate: the area mean of the original pixels under the crop
/// (resampling preserves local means), normalised.
#[test]
fn preprocess_imagenet_on_a_photo() {
    let dir = tempfile::tempdir().unwrap();
    let arch = Architecture::from_json(
        r#"{"input_shape": [3, 224, 224], "layers": [
            {"op": "adaptive_avgpool2d", "output_size": [1, 1]},
            {"op": "flatten"},
            {"op": "linear", "in_features": 3, "out_features": 3}]}"#,
    )
    .unwrap();
    let dev = Device::Cpu;
    let mut tensors = BTreeMap::new();
    tensors.insert(
        "2.weight".to_string(),
        Tensor::eye(3, candle_core::DType::F32, &dev).unwrap(),
    );
    tensors.insert(
        "2.bias".to_string(),
        Tensor::zeros(3, candle_core::DType::F32, &dev).unwrap(),
    );
    let model = dir.path().join("mean.safetensors");
    Sequential::new(arch, &tensors, &dev)
        .unwrap()
        .save(&model)
        .unwrap();

    let photo = data("images/chelsea.png");
    let v = analyze(
        s(&model),
        &[&photo, "--preprocess", "imagenet"],
        &["--p", "0,0.5", "--repetitions", "100", "--exact"],
    );
    let exact = v["exact"]["mean"].as_array().unwrap();
    assert_eq!(exact.len(), 1);
    let means: Vec<f64> = exact[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| -2.0 * m.as_f64().unwrap())
        .collect();
    assert_eq!(means.len(), 3);

    // Independent estimate: 451 × 300 → 384 × 256 (⌊256·451/300⌋), crop 224 × 224 at
    // (left 80, top 16), i.e. x ∈ [80, 304)·451/384, y ∈ [16, 240)·300/256 in the original.
    let img = image::open(&photo).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (451, 300));
    let (sx, sy) = (451.0 / 384.0, 300.0 / 256.0);
    let (x0, x1, y0, y1) = (80.0 * sx, 304.0 * sx, 16.0 * sy, 240.0 * sy);
    let overlap = |i: u32, a: f64, b: f64| (b.min(i as f64 + 1.0) - a.max(i as f64)).max(0.0);
    let mut sum = [0f64; 3];
    let mut area = 0.0;
    for (x, y, p) in img.enumerate_pixels() {
        let w = overlap(x, x0, x1) * overlap(y, y0, y1);
        area += w;
        for c in 0..3 {
            sum[c] += w * p.0[c] as f64;
        }
    }
    let (mean, std) = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
    for c in 0..3 {
        let expected = (sum[c] / area / 255.0 - mean[c]) / std[c];
        assert!(
            (means[c] - expected).abs() < 1e-3,
            "channel {c}: {} vs {expected}",
            means[c]
        );
    }
}

/// Bad input (exit code 2, nothing written, the file named): corrupt, truncated and missing
/// images; unsupported extensions; mixing .npy and images; --preprocess missing or given for
/// a .npy; networks whose input is not [C, H, W] with C ∈ {1, 3}; imagenet on a gray network;
/// `none` on an image of the wrong size.
#[test]
fn bad_image_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let good = path("good.png");
    picture(1).save(&good).unwrap();
    std::fs::write(path("corrupt.png"), b"this is not a PNG file").unwrap();
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(path("truncated.png"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(path("broken.jpg"), &bytes).unwrap(); // a PNG named .jpg
    std::fs::write(path("x.bmp"), b"BM").unwrap();
    RgbImage::new(8, 7).save(path("wide.png")).unwrap();
    let npy = path("x.npy");
    write_f32_npy(Path::new(&npy), &[1, 3, 7, 7], &[0.5; 147]);

    let depthwise = fixture("cnn_depthwise.safetensors");
    let run = |model: &str, inputs: &[&str], extra: &[&str]| {
        let mut args = vec!["analyze", "--model", model, "--repetitions", "10"];
        args.push("--inputs");
        args.extend_from_slice(inputs);
        args.extend_from_slice(extra);
        ftnn(&args)
    };
    let p4 = ["--p", "0.1,0,0,0", "--preprocess", "none"];
    for name in ["corrupt.png", "truncated.png", "broken.jpg"] {
        bad(&run(&depthwise, &[&good, &path(name)], &p4), &[name]);
    }
    bad(
        &run(&depthwise, &[&path("missing.png")], &p4),
        &["missing.png"],
    );
    bad(
        &run(&depthwise, &[&good, &path("x.bmp")], &p4),
        &["x.bmp", "unsupported"],
    );
    bad(
        &run(&depthwise, &[&npy, &good], &["--p", "0.1,0,0,0"]),
        &["mixes", "x.npy", "good.png"],
    );
    bad(
        &run(&depthwise, &[&npy, &npy], &["--p", "0.1,0,0,0"]),
        &["one .npy"],
    );
    bad(
        &run(&depthwise, &[&good], &["--p", "0.1,0,0,0"]),
        &["good.png", "--preprocess"],
    );
    bad(&run(&depthwise, &[&npy], &p4), &["--preprocess", "x.npy"]);
    bad(
        &run(&depthwise, &[&path("wide.png")], &p4),
        &["wide.png", "8×7", "7×7"],
    );
    // cnn: input [2, 9, 9]; mlp_relu: an MLP, input [n].
    bad(
        &run(
            &fixture("cnn.safetensors"),
            &[&good],
            &["--p", "0,0,0,0,0.1", "--preprocess", "none"],
        ),
        &["good.png", "[C, H, W]", "[2, 9, 9]"],
    );
    bad(
        &run(
            &fixture("mlp_relu.safetensors"),
            &[&good],
            &["--p", "0,0.1,0,0", "--preprocess", "mnist"],
        ),
        &["good.png", "[C, H, W]"],
    );
    bad(
        &run(
            &data("models/mnist-cnn.pth"),
            &[&good],
            &[
                "--architecture",
                &data("models/mnist-cnn.arch.json"),
                "--p",
                "0.1,0,0,0,0,0",
                "--preprocess",
                "imagenet",
            ],
        ),
        &["good.png", "[3, H, W]", "[1, 28, 28]"],
    );
    // An unknown --preprocess is a usage error too.
    let out = run(
        &depthwise,
        &[&good],
        &["--p", "0.1,0,0,0", "--preprocess", "vgg"],
    );
    assert_eq!(out.status.code(), Some(2));
}
