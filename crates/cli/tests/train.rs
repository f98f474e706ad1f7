//! End-to-end tests of `ftnn train`: every data set trains and the model it writes is read by
//! `ftnn analyze`; bad specifications exit with code 2 and write nothing.

use std::path::Path;
use std::process::{Command, Output};

fn ftnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ftnn"))
        .args(args)
        .output()
        .expect("run ftnn")
}

/// A C-order f32 .npy file of `rows` × `cols` values.
fn write_npy(path: &Path, rows: usize, cols: usize, data: &[f32]) {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

fn train_then_analyze(data: &str, extra: &[&str], n_in: usize, p: &str) {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("net.safetensors");
    let mut args = vec![
        "train",
        "--data",
        data,
        "--seed",
        "3",
        "--output",
        model.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = ftnn(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let history: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("net.history.json")).unwrap())
            .unwrap();
    let epochs = history["epochs"].as_array().unwrap();
    assert!(!epochs.is_empty());
    let last = &epochs[epochs.len() - 1];
    assert!(last["valid"]["loss"].as_f64().unwrap().is_finite());
    assert!(last["objective"].as_f64().unwrap() < epochs[0]["objective"].as_f64().unwrap() * 1.5);

    let x: Vec<f32> = (0..3 * n_in).map(|i| (i % 7) as f32 / 7.0).collect();
    let inputs = dir.path().join("x.npy");
    write_npy(&inputs, 3, n_in, &x);
    let out = ftnn(&[
        "analyze",
        "--model",
        model.to_str().unwrap(),
        "--inputs",
        inputs.to_str().unwrap(),
        "--p",
        p,
        "--repetitions",
        "500",
        "--bounds",
        "b3,b4",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["experiment"]["std"].as_array().unwrap().len(), 3);
    assert!(json["bounds"]["b4"]["std"][0][0].as_f64().unwrap() > 0.0);
}

#[test]
fn boston_trains_and_analyzes() {
    train_then_analyze(
        "boston",
        &[
            "--hidden",
            "20,19",
            "--epochs",
            "4",
            "--batch-size",
            "32",
            "--loss",
            "mae",
            "--optimizer",
            "adadelta",
        ],
        13,
        "0,0.01,0,0",
    );
}

#[test]
fn mnist_trains_with_dropout_and_regularizers_and_analyzes() {
    train_then_analyze(
        "mnist",
        &[
            "--hidden",
            "30,20",
            "--epochs",
            "2",
            "--train-subset",
            "2000",
            "--p-train",
            "0,0.05,0,0",
            "--reg",
            "continuous=1e-4,1e-2",
            "--reg",
            "vardelta=1@0.05",
            "--crash-p",
            "0,0.05,0,0",
        ],
        784,
        "0,0.05,0,0",
    );
}

#[test]
fn fashion_mnist_trains_and_analyzes() {
    train_then_analyze(
        "fashion-mnist",
        &[
            "--hidden",
            "30",
            "--epochs",
            "1",
            "--train-subset",
            "2000",
            "--reg",
            "l2=1e-4",
        ],
        784,
        "0,0.01,0",
    );
}

#[test]
fn bad_specifications_exit_2_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let m = model.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--reg", "dropout=0.1"], "unknown regularizer"),
        (vec!["--reg", "l2=-1"], "must be finite and ≥ 0"),
        (vec!["--reg", "vardelta=1@2"], "outside [0, 1]"),
        (vec!["--p-train", "0,0.1,0"], "p_train"),
        (vec!["--p-train", "0,1.5,0,0"], "--p-train"),
        (vec!["--hidden", "10,x"], "--hidden"),
        (vec!["--train-subset", "0"], "--train-subset"),
        (vec!["--optimizer", "sgd"], "unknown optimizer"),
        (vec!["--epochs", "0"], "epochs"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["train", "--data", "boston", "--output", m];
        if !extra.contains(&"--hidden") {
            args.extend_from_slice(&["--hidden", "5,4"]);
        }
        args.extend_from_slice(&extra);
        let out = ftnn(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(needle), "{extra:?}: `{needle}` not in {err}");
        assert!(!model.exists(), "{extra:?} wrote a model");
        assert!(!dir.path().join("m.history.json").exists());
    }
}
