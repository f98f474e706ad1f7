//! `--device` on every command that makes tensors: a CUDA device on a build without the `cuda`
//! feature is invalid usage (exit code 2, "this ftnn was built without the cuda feature"),
//! unknown names are rejected, and `--device cpu` is the default.

use std::path::Path;
use std::process::{Command, Output};

fn ftnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ftnn"))
        .args(args)
        .output()
        .expect("run ftnn")
}

/// The arguments of each command up to `--device`, with paths under `dir` (none needs to
/// exist: the device is checked before any file is read).
fn commands(dir: &Path) -> Vec<Vec<String>> {
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let common = |cmd: &str| {
        vec![
            cmd.to_string(),
            "--model".into(),
            p("net.safetensors"),
            "--inputs".into(),
            p("x.npy"),
            "--p".into(),
            "0,0.01,0".into(),
        ]
    };
    let mut certify = common("certify");
    certify.extend(
        [
            "--targets",
            &p("y.npy"),
            "--loss",
            "mse",
            "--epsilon",
            "0.01",
            "--delta",
            "1e-5",
        ]
        .map(String::from),
    );
    let train = ["train", "--data", "mnist", "--epochs", "1", "--output"]
        .map(String::from)
        .into_iter()
        .chain([p("out.safetensors")])
        .collect();
    vec![common("analyze"), common("compare"), certify, train]
}

fn run_with_device(args: &[String], device: &str) -> Output {
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend(["--device", device]);
    ftnn(&all)
}

#[test]
fn cuda_without_the_feature_is_invalid_usage_on_every_command() {
    if cfg!(feature = "cuda") {
        return; // a CUDA build opens the device instead (checked by `cargo xtask gpu-check`)
    }
    let dir = tempfile::tempdir().unwrap();
    for args in commands(dir.path()) {
        for device in ["cuda", "cuda:1", "CUDA:0"] {
            let out = run_with_device(&args, device);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{} {device}: {stderr}", args[0]);
            assert!(
                stderr.contains("this ftnn was built without the cuda feature"),
                "{} {device}: {stderr}",
                args[0]
            );
        }
        // Nothing was written.
        assert!(!dir.path().join("out.safetensors").exists());
    }
}

#[test]
fn unknown_devices_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for args in commands(dir.path()) {
        for device in ["tpu", "cuda:x", "cpu:0", ""] {
            let out = run_with_device(&args, device);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{} `{device}`: {stderr}",
                args[0]
            );
            assert!(
                stderr.contains("expected cpu, cuda or cuda:N"),
                "{} `{device}`: {stderr}",
                args[0]
            );
        }
    }
}

/// `--device cpu` is the default: the same report, bit for bit.
#[test]
fn cpu_is_the_default_device() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("net.safetensors");
    let out = ftnn(&[
        "init",
        "--sizes",
        "3,4,2",
        "--activation",
        "sigmoid",
        "--seed",
        "1",
        "--output",
        model.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A [2, 3] float32 .npy array.
    let x: [f32; 6] = [0.5, -1.0, 2.0, 0.25, 0.0, -0.75];
    let mut header = String::from("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(x.iter().flat_map(|v| v.to_le_bytes()));
    let inputs = dir.path().join("x.npy");
    std::fs::write(&inputs, bytes).unwrap();
    let base = [
        "analyze",
        "--model",
        model.to_str().unwrap(),
        "--inputs",
        inputs.to_str().unwrap(),
        "--p",
        "0,0.3,0",
        "--repetitions",
        "500",
        "--format",
        "json",
    ];
    let default = ftnn(&base);
    assert!(
        default.status.success(),
        "{}",
        String::from_utf8_lossy(&default.stderr)
    );
    let mut with_cpu = base.to_vec();
    with_cpu.extend(["--device", "cpu"]);
    let cpu = ftnn(&with_cpu);
    assert!(
        cpu.status.success(),
        "{}",
        String::from_utf8_lossy(&cpu.stderr)
    );
    let text = String::from_utf8_lossy(&cpu.stdout);
    assert!(text.contains("\"mean\""), "{text}");
    assert_eq!(default.stdout, cpu.stdout);
}
