//! `ftnn train --preset`: a CNN trains on a tiny MNIST subset and writes a Sequential model
//! file that `ftnn analyze` reads; a bad `--crash-dropout` exits with code 2 and writes nothing.

use std::process::{Command, Output};

fn ftnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ftnn"))
        .args(args)
        .output()
        .expect("run ftnn")
}

#[test]
fn preset_cnn_trains_and_analyze_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("cnn.safetensors");
    let model_s = model.to_str().unwrap();
    let out = ftnn(&[
        "train",
        "--data",
        "mnist",
        "--preset",
        "mnist-cnn:0.25",
        "--train-subset",
        "128",
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--optimizer",
        "adadelta",
        "--crash-dropout",
        "input=0.1",
        "--crash-dropout",
        "2=0.05",
        "--output",
        model_s,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let history: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("cnn.history.json")).unwrap())
            .unwrap();
    assert_eq!(history["epochs"].as_array().unwrap().len(), 1);
    assert_eq!(history["config"]["crash_dropout"][1]["site"], 2);
    // One [3, 28, 28] input as .npy, crashed at the input site by `ftnn analyze`.
    let x = dir.path().join("x.npy");
    let mut header =
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 28, 28), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for i in 0..3 * 28 * 28 {
        bytes.extend_from_slice(&((i % 7) as f32 / 7.0).to_le_bytes());
    }
    std::fs::write(&x, bytes).unwrap();
    let out = ftnn(&[
        "analyze",
        "--model",
        model_s,
        "--inputs",
        x.to_str().unwrap(),
        "--p",
        "0.01,0,0,0,0,0,0",
        "--repetitions",
        "50",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_crash_dropout_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("cnn.safetensors");
    for bad in ["input", "input=1.5", "x=0.1", "2=abc"] {
        let out = ftnn(&[
            "train",
            "--data",
            "mnist",
            "--preset",
            "mnist-cnn",
            "--crash-dropout",
            bad,
            "--output",
            model.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--crash-dropout"));
    }
    let out = ftnn(&[
        "train",
        "--data",
        "mnist",
        "--preset",
        "resnet",
        "--output",
        model.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!model.exists());
}
