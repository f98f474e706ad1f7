//! The limits of `ftnn analyze` (issue 17, item 6; `src/limits.rs`, README "Limits"):
//! deliberately oversized requests — an `.npy` header declaring 10¹² inputs, R = 10¹⁸ or
//! usize::MAX, a model file declaring a huge layer or larger than the budget — are refused
//! with exit code 2 and a message naming the limit, before anything large is read; the same
//! requests within the budget run.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

const P: &str = "0,0.1,0,0";

/// `.npy` bytes of a little-endian f32 array whose header declares `shape` but that holds
/// only `data` (a header may lie).
fn npy_declaring(shape: &str, data: &[f32]) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(data.iter().flat_map(|v| v.to_le_bytes()));
    bytes
}

/// `ftnn analyze` of the 6-5-4-3 ReLU fixture on `inputs`, with `extra` arguments and the
/// budget variable unset unless `budget_var`.
fn analyze(inputs: &Path, extra: &[&str], budget_var: Option<&str>) -> Output {
    let model = fixture("mlp_relu.safetensors");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ftnn"));
    cmd.args(["analyze", "--model", &model, "--inputs"])
        .arg(inputs)
        .args(["--p", P, "--format", "json"])
        .args(extra)
        .env_remove("FTNN_MAX_MEMORY");
    if let Some(v) = budget_var {
        cmd.env("FTNN_MAX_MEMORY", v);
    }
    cmd.output().expect("run ftnn")
}

#[test]
fn an_npy_header_declaring_a_trillion_inputs_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    std::fs::write(&x, npy_declaring("(1000000000000, 6)", &[0.5; 12])).unwrap();
    let start = Instant::now();
    let out = analyze(&x, &[], None);
    bad(
        &out,
        &["memory budget", "1000000000000 inputs", "--max-memory"],
    );
    assert!(start.elapsed().as_secs() < 10);
    // Also with an explicit budget of 16 TiB: 10¹² inputs still do not fit.
    bad(
        &analyze(&x, &["--max-memory", "16T"], None),
        &["--max-memory 16T"],
    );
}

#[test]
fn repetitions_beyond_2_pow_53_rows_are_refused() {
    let x = fixture("mlp_relu.x.npy");
    let x = Path::new(&x);
    for r in [
        "1000000000000000000",
        &usize::MAX.to_string(),
        "9007199254740993",
    ] {
        bad(
            &analyze(x, &["--repetitions", r], None),
            &["2^53", "--repetitions"],
        );
    }
    // Within the limit and small, it runs.
    let out = analyze(x, &["--repetitions", "100"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn inputs_beyond_the_budget_are_refused_and_within_it_run() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    let n = 20_000;
    let data: Vec<f32> = (0..n * 6).map(|i| (i % 13) as f32 / 13.0).collect();
    std::fs::write(&x, npy_declaring(&format!("({n}, 6)"), &data)).unwrap();
    // 20 000 inputs need about 8.6 MiB besides the model and the Monte Carlo blocks.
    let out = analyze(&x, &["--repetitions", "1", "--max-memory", "8M"], None);
    bad(&out, &["memory budget", "20000 inputs", "split the inputs"]);
    let out = analyze(&x, &["--repetitions", "1"], Some("1M"));
    bad(&out, &["FTNN_MAX_MEMORY=1M"]);
    let out = analyze(
        &x,
        &["--repetitions", "1", "--max-memory", "4G"],
        Some("1M"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_model_beyond_the_budget_or_declaring_a_huge_layer_is_refused() {
    let x = fixture("mlp_relu.x.npy");
    let x = Path::new(&x);
    bad(
        &analyze(x, &["--max-memory", "200"], None),
        &["the model", "memory budget"],
    );
    // A safetensors header declaring a 10⁶ × 10⁶ layer over 64 bytes of data.
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("huge.safetensors");
    let n: u64 = 1_000_000;
    let header = format!(
        "{{\"__metadata__\":{{\"activation\":\"relu\",\"k_lips\":\"1\"}},\
         \"layers.0.weight\":{{\"dtype\":\"F32\",\"shape\":[{n},{n}],\"data_offsets\":[0,{}]}},\
         \"layers.0.bias\":{{\"dtype\":\"F32\",\"shape\":[{n}],\"data_offsets\":[{},{}]}}}}",
        4 * n * n,
        4 * n * n,
        4 * n * n + 4 * n
    );
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0; 64]);
    std::fs::write(&model, bytes).unwrap();
    let out = ftnn(&[
        "analyze",
        "--model",
        model.to_str().unwrap(),
        "--inputs",
        x.to_str().unwrap(),
        "--p",
        "0,0.1",
    ]);
    bad(&out, &["huge.safetensors"]);
}

#[test]
fn a_malformed_budget_is_bad_input() {
    let x = fixture("mlp_relu.x.npy");
    let x = Path::new(&x);
    bad(
        &analyze(x, &["--max-memory", "lots"], None),
        &["--max-memory", "not a size"],
    );
    bad(&analyze(x, &[], Some("-3G")), &["FTNN_MAX_MEMORY"]);
}

#[test]
fn a_sequential_network_beyond_the_budget_is_refused() {
    let model = fixture("cnn.safetensors");
    let arch = fixture("cnn.arch.json");
    let x = fixture("cnn.x.npy");
    let out = ftnn(&[
        "analyze",
        "--model",
        &model,
        "--architecture",
        &arch,
        "--inputs",
        &x,
        "--p",
        "0.01,0,0,0,0",
        "--max-memory",
        "64K",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("memory budget")
            && err.contains("Monte Carlo blocks")
            && err.contains("--max-memory 64K"),
        "{err}"
    );
}
