//! Helpers shared by the end-to-end tests of the `ftnn` binary on Sequential networks and
//! image inputs: paths of the repository's fixtures, running the binary, reading its JSON,
//! asserting bad input, and writing/reading `.npy` files.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file of `ftnn-model`'s PyTorch fixtures (`crates/model/tests/fixtures/torch`).
pub fn fixture(name: &str) -> String {
    root()
        .join("crates/model/tests/fixtures/torch")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// A file of the shipped `data/` directory.
pub fn data(name: &str) -> String {
    root()
        .join("data")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Runs `ftnn` with `args`.
pub fn ftnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ftnn"))
        .args(args)
        .output()
        .expect("run ftnn")
}

/// The JSON a successful run printed.
pub fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Asserts bad input: exit code 2, nothing on stdout, every needle in the message.
pub fn bad(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(out.stdout.is_empty(), "wrote {:?}", out.stdout);
    for needle in needles {
        assert!(err.contains(needle), "`{needle}` not in: {err}");
    }
}

/// A little-endian f32 .npy file (C order).
pub fn write_f32_npy(path: &Path, shape: &[usize], data: &[f32]) {
    assert_eq!(shape.iter().product::<usize>(), data.len());
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(data.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}

/// The values of a little-endian f32 .npy file (C order, version 1 header).
pub fn read_f32_npy(path: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[10 + hlen..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}
