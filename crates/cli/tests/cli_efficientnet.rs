//! End to end on the shipped EfficientNet-Lite0: `ftnn analyze` with the safetensors state
//! dict and `data/models/efficientnet-lite0.arch.json` (zero padding, skip connections) on
//! `data/images/chelsea.png --preprocess efficientnet`, crashes at five masked input pixels
//! with p = 1e-5: Monte Carlo, exact enumeration (31 crashed patterns), b3 (forward mode: five
//! tangents instead of 1000 output cotangents) and b4 give a sane report. With p this small
//! b4 equals the exact moments to first order in p.

mod common;
use common::{data, ftnn, json, write_f32_npy};

#[test]
fn analyze_efficientnet_lite0_on_a_photo() {
    let dir = tempfile::tempdir().unwrap();
    let mask_path = dir.path().join("mask.npy");
    let mut mask = vec![0f32; 3 * 224 * 224];
    for (c, y, x) in [
        (0, 100, 100),
        (1, 112, 112),
        (2, 50, 60),
        (0, 200, 10),
        (1, 7, 220),
    ] {
        mask[(c * 224 + y) * 224 + x] = 1.0;
    }
    write_f32_npy(&mask_path, &[3, 224, 224], &mask);
    // 35 sites: the input, 33 relu6 outputs, the logits.
    let mut p = vec!["0"; 35];
    p[0] = "1e-5";
    let p = p.join(",");
    let (model, arch) = (
        data("models/efficientnet-lite0.safetensors"),
        data("models/efficientnet-lite0.arch.json"),
    );
    let photo = data("images/chelsea.png");
    let t = std::time::Instant::now();
    let v = json(&ftnn(&[
        "analyze",
        "--model",
        &model,
        "--architecture",
        &arch,
        "--inputs",
        &photo,
        "--preprocess",
        "efficientnet",
        "--p",
        &p,
        "--crash-mask",
        mask_path.to_str().unwrap(),
        "--repetitions",
        "200",
        "--exact",
        "--bounds",
        "b3,b4",
        "--format",
        "json",
    ]));
    eprintln!("ftnn analyze on EfficientNet-Lite0: {:?}", t.elapsed());
    let rows = |path: &[&str]| -> Vec<f64> {
        let mut x = &v;
        for k in path {
            x = &x[*k];
        }
        let outer = x.as_array().unwrap_or_else(|| panic!("{path:?} in {v}"));
        assert_eq!(outer.len(), 1, "{path:?}: one input");
        let row: Vec<f64> = outer[0]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_f64().unwrap())
            .collect();
        assert_eq!(row.len(), 1000, "{path:?}: 1000 logits");
        assert!(row.iter().all(|a| a.is_finite()), "{path:?}");
        row
    };
    assert_eq!(v["p"].as_array().unwrap().len(), 35);
    for path in [
        &["experiment", "mean"][..],
        &["experiment", "std"],
        &["experiment", "stderr"],
        &["bounds", "b3", "mean"],
        &["bounds", "b3", "std"],
    ] {
        rows(path);
    }
    let (em, es) = (rows(&["exact", "mean"]), rows(&["exact", "std"]));
    let (bm, bs) = (
        rows(&["bounds", "b4", "mean"]),
        rows(&["bounds", "b4", "std"]),
    );
    let b3s = rows(&["bounds", "b3", "std"]);
    let scale = |x: &[f64]| x.iter().fold(0f64, |m, a| m.max(a.abs()));
    assert!(
        scale(&es) > 0.0 && scale(&b3s) > 0.0,
        "crashes change the logits"
    );
    // b4 = Σ p e_i and Var = Σ p(1 − p) e_i²: the exact moments up to O(p²) relative.
    for (k, (a, b)) in bm.iter().zip(&em).enumerate() {
        assert!(
            (a - b).abs() <= 1e-3 * scale(&em),
            "mean [{k}]: b4 {a} vs exact {b}"
        );
    }
    for (k, (a, b)) in bs.iter().zip(&es).enumerate() {
        assert!(
            (a - b).abs() <= 1e-3 * scale(&es),
            "std [{k}]: b4 {a} vs exact {b}"
        );
    }
}
