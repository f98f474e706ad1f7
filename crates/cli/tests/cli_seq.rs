//! End-to-end tests of `ftnn inspect` and `ftnn analyze` on Sequential networks (SPEC §11):
//! the shipped MNIST CNN, the PyTorch fixtures of `ftnn-model`, and bad input.

use std::path::Path;

mod common;
use common::{bad, fixture, ftnn, json, read_f32_npy, root, write_f32_npy};

/// The MNIST CNN's sites from its architecture (data/README.md): input 1×28×28, then the
/// ReLUs after conv 32, conv 64, conv 128 (each at the resolution before its pooling) and
/// after linear 256, then the 10 logits.
#[test]
fn inspect_lists_the_sites_of_the_mnist_cnn() {
    let model = root().join("data/models/mnist-cnn.pth");
    let arch = root().join("data/models/mnist-cnn.arch.json");
    let out = ftnn(&[
        "inspect",
        "--model",
        model.to_str().unwrap(),
        "--architecture",
        arch.to_str().unwrap(),
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["engine"], "sequential");
    let sizes: Vec<u64> = v["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["size"].as_u64().unwrap())
        .collect();
    assert_eq!(
        sizes,
        [784, 32 * 28 * 28, 64 * 14 * 14, 128 * 7 * 7, 256, 10]
    );
    // The table form names the same sites.
    let out = ftnn(&[
        "inspect",
        "--model",
        model.to_str().unwrap(),
        "--architecture",
        arch.to_str().unwrap(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("6 crash sites") && text.contains("25088"),
        "{text}"
    );
}

/// `analyze` on a Sequential model file (architecture in its metadata): Monte Carlo and
/// exact enumeration of the 3 output neurons, which, crashed with p, give E Δ_k = −p y_k and
/// std Δ_k = √(p(1−p))·|y_k| (y = PyTorch's output, stored with the fixture).
#[test]
fn analyze_a_cnn_file_with_exact_enumeration() {
    let (model, x) = (fixture("cnn.safetensors"), fixture("cnn.x.npy"));
    let p = 0.3;
    let out = ftnn(&[
        "analyze",
        "--model",
        &model,
        "--inputs",
        &x,
        "--p",
        "0,0,0,0,0.3",
        "--repetitions",
        "2000",
        "--exact",
        "--bounds",
        "b3,b4,b5",
        "--format",
        "json",
    ]);
    let v = json(&out);
    assert_eq!(v["model"]["engine"], "sequential");
    // Output crashes are linear: b3, b4 and b5 are exact there.
    for b in ["b3", "b4", "b5"] {
        for (i, row) in v["bounds"][b]["mean"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            for (k, m) in row.as_array().unwrap().iter().enumerate() {
                let e = v["exact"]["mean"][i][k].as_f64().unwrap();
                assert!((m.as_f64().unwrap() - e).abs() < 1e-6, "{b} [{i}][{k}]");
            }
        }
    }
    let b3_std = v["bounds"]["b3"]["std"][1][2].as_f64().unwrap();
    assert!((b3_std - v["exact"]["std"][1][2].as_f64().unwrap()).abs() < 1e-6);
    assert_eq!(v["p"].as_array().unwrap().len(), 5);
    let y = read_f32_npy(&fixture("cnn.y.npy"));
    let exact = &v["exact"];
    for (i, row) in exact["mean"].as_array().unwrap().iter().enumerate() {
        for (k, m) in row.as_array().unwrap().iter().enumerate() {
            let yk = y[i * 3 + k] as f64;
            let (m, s) = (m.as_f64().unwrap(), exact["std"][i][k].as_f64().unwrap());
            assert!((m + p * yk).abs() < 1e-6, "mean {m} vs {}", -p * yk);
            assert!((s - (p * (1.0 - p)).sqrt() * yk.abs()).abs() < 1e-6);
        }
    }
    assert!(v["experiment"]["stderr"][0][0].as_f64().unwrap() > 0.0);
}

/// A Sequential file that is an MLP runs on the MLP engine, with the bounds.
#[test]
fn an_mlp_given_as_sequential_uses_the_mlp_engine() {
    let out = ftnn(&[
        "analyze",
        "--model",
        &fixture("mlp_tanh.safetensors"),
        "--inputs",
        &fixture("mlp_tanh.x.npy"),
        "--p",
        "0,0.1,0,0",
        "--repetitions",
        "500",
        "--bounds",
        "b3",
        "--format",
        "json",
    ]);
    let v = json(&out);
    assert_eq!(v["model"]["engine"], "mlp");
    assert_eq!(v["model"]["function"], "tanh(z)");
    assert!(v["bounds"]["b3"]["std"].is_array());
}

/// The MLP written as a Sequential file gives bit-identical results to the MLP file (the
/// planner runs both on the MLP engine), bounds included.
#[test]
fn an_mlp_as_a_sequential_file_gives_identical_results() {
    let dir = tempfile::tempdir().unwrap();
    let mlp_path = dir.path().join("net.safetensors");
    let out = ftnn(&[
        "init",
        "--sizes",
        "6,5,4,3",
        "--activation",
        "softplus",
        "--seed",
        "4",
        "--output",
        mlp_path.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let mlp = ftnn_model::Mlp::load(&mlp_path).unwrap();
    let seq = ftnn_model::seq::Sequential::from_mlp(&mlp, &candle_core::Device::Cpu).unwrap();
    let seq_path = dir.path().join("seq.safetensors");
    seq.save(&seq_path).unwrap();
    let run = |model: &Path| {
        json(&ftnn(&[
            "analyze",
            "--model",
            model.to_str().unwrap(),
            "--inputs",
            &fixture("mlp_tanh.x.npy"),
            "--p",
            "0,0.1,0.05,0",
            "--repetitions",
            "3000",
            "--exact",
            "--bounds",
            "all",
            "--format",
            "json",
        ]))
    };
    let (a, b) = (run(&mlp_path), run(&seq_path));
    assert_eq!(a, b);
}

/// Bad input: --p of the wrong length (the message lists the sites), an explicit bound on
/// a CNN, a crash mask of the wrong shape, inputs of the wrong shape, an architecture that
/// does not fit the state dict.
#[test]
fn bad_sequential_input() {
    let (model, x) = (fixture("cnn.safetensors"), fixture("cnn.x.npy"));
    let run = |extra: &[&str]| {
        let mut args = vec!["analyze", "--model", &model, "--repetitions", "10"];
        args.extend_from_slice(extra);
        ftnn(&args)
    };
    bad(&run(&["--inputs", &x, "--p", "0,0.1"]), &["5 crash sites"]);
    bad(
        &run(&["--inputs", &x, "--p", "0,0,0,0,0.1", "--bounds", "b2"]),
        &["MLPs"],
    );
    let ok = run(&["--inputs", &x, "--p", "0,0.01,0,0,0", "--bounds", "all"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let table = String::from_utf8_lossy(&ok.stdout);
    assert!(
        table.contains("b2 omitted") && table.contains("b3 mean"),
        "{table}"
    );
    let dir = tempfile::tempdir().unwrap();
    let mask = dir.path().join("mask.npy");
    write_f32_npy(&mask, &[2, 3, 3], &[1.0; 18]);
    bad(
        &run(&[
            "--inputs",
            &x,
            "--p",
            "0.1,0,0,0,0",
            "--crash-mask",
            mask.to_str().unwrap(),
        ]),
        &["--crash-mask"],
    );
    let wrong = dir.path().join("x.npy");
    write_f32_npy(&wrong, &[2, 2, 8, 9], &[0.5; 2 * 2 * 8 * 9]);
    bad(
        &run(&["--inputs", wrong.to_str().unwrap(), "--p", "0,0,0,0,0.1"]),
        &["inputs"],
    );
    let out = ftnn(&[
        "inspect",
        "--model",
        &fixture("cnn.safetensors"),
        "--architecture",
        &fixture("cnn_depthwise.arch.json"),
    ]);
    bad(&out, &["cnn.safetensors"]);
}
