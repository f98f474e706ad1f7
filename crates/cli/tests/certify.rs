//! End-to-end tests of `ftnn certify` (SPEC §6, §11): the JSON keys, the verdict rules on
//! constructed cases, the table, integer labels, and bad input (exit 2, nothing written).

mod common;

use common::{bad, fixture, ftnn, json, write_f32_npy};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A 1-D little-endian int64 .npy file of class labels.
fn write_labels(path: &Path, labels: &[i64]) {
    let mut header = format!(
        "{{'descr': '<i8', 'fortran_order': False, 'shape': ({},), }}",
        labels.len()
    );
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(labels.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}

/// A [6, 400, 3] sigmoid network (LeCun init), 8 inputs, regression targets and labels.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let s = Self { dir };
        let out = ftnn(&[
            "init",
            "--sizes",
            "6,400,3",
            "--activation",
            "sigmoid",
            "--init",
            "lecun",
            "--seed",
            "2",
            "--output",
            &s.s("net.safetensors"),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let x: Vec<f32> = (0..48)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 6.0)
            .collect();
        write_f32_npy(&s.path("x.npy"), &[8, 6], &x);
        let y: Vec<f32> = (0..24).map(|i| ((i * 13 % 7) as f32 - 3.0) / 5.0).collect();
        write_f32_npy(&s.path("y.npy"), &[8, 3], &y);
        write_labels(&s.path("labels.npy"), &[0, 1, 2, 0, 1, 2, 2, 1]);
        s
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn s(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_string()
    }
    /// `ftnn certify` on the network with `targets`, `loss`, `p`, ε, and extra arguments.
    fn certify(
        &self,
        targets: &str,
        loss: &str,
        p: &str,
        eps: &str,
        extra: &[&str],
    ) -> std::process::Output {
        let mut args = vec![
            "certify".to_string(),
            "--model".into(),
            self.s("net.safetensors"),
            "--inputs".into(),
            self.s("x.npy"),
            "--targets".into(),
            self.s(targets),
            "--loss".into(),
            loss.into(),
            "--p".into(),
            p.into(),
            "--epsilon".into(),
            eps.into(),
            "--delta".into(),
            "1e-5".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ftnn(&refs)
    }
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn set<'a>(k: &[&'a str]) -> BTreeSet<&'a str> {
    k.iter().copied().collect()
}

/// Every key of SPEC §11 "`ftnn certify`" (plus the seed of the check), and the rules that
/// tie the values together.
#[test]
fn json_report_has_every_key_and_follows_the_rules() {
    let s = Setup::new();
    let out = s.certify(
        "labels.npy",
        "ce",
        "0,0.001,0",
        "0.05",
        &["--verify", "3000", "--seed", "4", "--format", "json"],
    );
    let doc = json(&out);
    assert_eq!(
        keys(&doc),
        set(&[
            "ftnn_version",
            "model",
            "p",
            "loss",
            "epsilon",
            "delta",
            "seed",
            "network",
            "inputs",
            "verdict",
            "copies"
        ])
    );
    assert_eq!(doc["loss"], "ce");
    assert_eq!(doc["epsilon"], 0.05);
    assert_eq!(doc["delta"], 1e-5);
    assert_eq!(doc["copies"], 21);
    assert_eq!(doc["model"]["sizes"], serde_json::json!([6, 400, 3]));
    let net = &doc["network"];
    assert_eq!(
        keys(net),
        set(&["crashing_layer", "width", "q", "alpha", "delta0"])
    );
    assert_eq!(net["crashing_layer"], 1);
    assert_eq!(net["width"], 400);
    let alpha = net["alpha"].as_f64().unwrap();
    assert!((alpha - 2.5f64.exp() * 0.001).abs() < 1e-12);
    let delta0 = net["delta0"].as_f64().unwrap();
    assert!(delta0 > 0.0 && delta0 < 1.0);
    let inputs = doc["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 8);
    let mut verdicts = Vec::new();
    for i in inputs {
        assert_eq!(
            keys(i),
            set(&["mean", "var", "chebyshev", "bound", "verdict", "empirical"])
        );
        let e = &i["empirical"];
        assert_eq!(
            keys(e),
            set(&["tail", "stderr", "upper", "repetitions", "verified"])
        );
        assert_eq!(e["repetitions"], 3000);
        let (tail, upper) = (e["tail"].as_f64().unwrap(), e["upper"].as_f64().unwrap());
        assert!(upper >= tail);
        assert_eq!(e["verified"].as_bool().unwrap(), upper < 1.0 / 3.0);
        let stderr = (tail * (1.0 - tail) / 3000.0).sqrt();
        assert!((e["stderr"].as_f64().unwrap() - stderr).abs() < 1e-12);
        let (mean, var) = (i["mean"].as_f64().unwrap(), i["var"].as_f64().unwrap());
        let v = i["verdict"].as_str().unwrap().to_string();
        if mean >= 0.05 {
            assert_eq!(v, "infeasible");
            assert!(i["chebyshev"].is_null() && i["bound"].is_null());
        } else {
            let cheb = var / (0.05 - mean).powi(2);
            assert!((i["chebyshev"].as_f64().unwrap() - cheb).abs() <= 1e-12 * cheb.max(1.0));
            let bound = i["bound"].as_f64().unwrap();
            assert!((bound - (delta0 + cheb)).abs() <= 1e-12 * bound.max(1.0));
            assert_eq!(
                v,
                if bound < 1.0 / 3.0 {
                    "certified"
                } else {
                    "not certified"
                }
            );
        }
        verdicts.push(v);
    }
    let overall = if verdicts.iter().any(|v| v == "infeasible") {
        "infeasible"
    } else if verdicts.iter().all(|v| v == "certified") {
        "certified"
    } else {
        "not certified"
    };
    assert_eq!(doc["verdict"], overall);
    // Same seed, same document; --verify 0 drops the check (null).
    let again = s.certify(
        "labels.npy",
        "ce",
        "0,0.001,0",
        "0.05",
        &["--verify", "3000", "--seed", "4", "--format", "json"],
    );
    assert_eq!(json(&again), doc);
    let first = json(&s.certify(
        "labels.npy",
        "ce",
        "0,0.001,0",
        "0.05",
        &["--verify", "0", "--format", "json"],
    ));
    for i in first["inputs"].as_array().unwrap() {
        assert!(i["empirical"].is_null());
    }
}

/// Constructed verdicts: a huge ε certifies every input (bound ≈ δ₀ on a wide layer) and the
/// check verifies it; a tiny ε makes the inputs with E Δ > 0 infeasible, and with it the
/// network; p = 0.1 (α = e^{2.5}·0.1 > 1) certifies nothing.
#[test]
fn verdict_rules_on_constructed_cases() {
    let s = Setup::new();
    let doc = json(&s.certify(
        "y.npy",
        "mse",
        "0,0.001,0",
        "1e6",
        &["--verify", "1000", "--format", "json"],
    ));
    assert_eq!(doc["verdict"], "certified");
    for i in doc["inputs"].as_array().unwrap() {
        assert_eq!(i["verdict"], "certified");
        assert_eq!(i["empirical"]["tail"], 0.0);
        assert_eq!(i["empirical"]["verified"], true);
    }
    let doc = json(&s.certify(
        "y.npy",
        "mse",
        "0,0.001,0",
        "1e-12",
        &["--verify", "0", "--format", "json"],
    ));
    assert_eq!(doc["verdict"], "infeasible");
    let inputs = doc["inputs"].as_array().unwrap();
    assert!(inputs.iter().any(|i| i["verdict"] == "infeasible"));
    for i in inputs {
        let infeasible = i["mean"].as_f64().unwrap() >= 1e-12;
        assert_eq!(i["verdict"] == "infeasible", infeasible, "{i}");
    }
    let doc = json(&s.certify(
        "y.npy",
        "mse",
        "0,0.1,0",
        "1e6",
        &["--verify", "0", "--format", "json"],
    ));
    assert_eq!(doc["network"]["delta0"], 1.0);
    assert_eq!(doc["verdict"], "not certified");
    // Crashes at the output layer: q over the weights into it.
    let doc = json(&s.certify(
        "y.npy",
        "mse",
        "0,0,0.01",
        "1",
        &["--verify", "100", "--format", "json"],
    ));
    assert_eq!(doc["network"]["crashing_layer"], 2);
    assert_eq!(doc["network"]["width"], 3);
}

#[test]
fn table_and_output_file() {
    let s = Setup::new();
    let out = s.certify(
        "labels.npy",
        "ce",
        "0,0.001,0",
        "0.05",
        &["--verify", "500"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "crashing layer 1 (width 400)",
        "R = 21",
        "P̂(Δ>ε)",
        "upper u",
        "verdict",
        "first-order estimate, not a bound",
    ] {
        assert!(text.contains(needle), "`{needle}` not in:\n{text}");
    }
    let out = s.certify(
        "labels.npy",
        "ce",
        "0,0.001,0",
        "0.05",
        &["--verify", "500", "--output", &s.s("cert.json")],
    );
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("cert.json")).unwrap()).unwrap();
    assert_eq!(doc["inputs"].as_array().unwrap().len(), 8);
    // One-hot float targets give the same certificate as the labels.
    let labels = [0usize, 1, 2, 0, 1, 2, 2, 1];
    let mut onehot = vec![0f32; 24];
    for (i, &l) in labels.iter().enumerate() {
        onehot[i * 3 + l] = 1.0;
    }
    write_f32_npy(&s.path("onehot.npy"), &[8, 3], &onehot);
    let out = s.certify(
        "onehot.npy",
        "ce",
        "0,0.001,0",
        "0.05",
        &["--verify", "500", "--format", "json"],
    );
    assert_eq!(json(&out), doc);
}

/// Bad input: exit 2, a clear message, nothing on stdout and no output file.
#[test]
fn bad_input_is_refused_and_nothing_written() {
    let s = Setup::new();
    let out_file = s.s("out.json");
    let check =
        |targets: &str, loss: &str, p: &str, eps: &str, extra: &[&str], needles: &[&str]| {
            let mut args = vec!["--output", out_file.as_str()];
            args.extend_from_slice(extra);
            let out = s.certify(targets, loss, p, eps, &args);
            bad(&out, needles);
            assert!(!s.path("out.json").exists(), "an output was written");
        };
    check(
        "y.npy",
        "mse",
        "0,0.01,0.01",
        "0.1",
        &[],
        &["exactly one layer", "[1, 2]"],
    );
    check(
        "y.npy",
        "mse",
        "0,0,0",
        "0.1",
        &[],
        &["exactly one layer", "every p is 0"],
    );
    check("y.npy", "mse", "0.01,0,0", "0.1", &[], &["input layer"]);
    check("y.npy", "mse", "0,0.01", "0.1", &[], &["--p"]);
    check("y.npy", "mse", "0,0.01,0", "0", &[], &["--epsilon"]);
    check("y.npy", "mse", "0,0.01,0", "-1", &[], &["--epsilon"]);
    check(
        "y.npy",
        "mse",
        "0,0.01,0",
        "0.1",
        &["--delta", "1"],
        &["--delta"],
    );
    check(
        "labels.npy",
        "mse",
        "0,0.01,0",
        "0.1",
        &[],
        &["--loss ce only"],
    );
    check("x.npy", "mse", "0,0.01,0", "0.1", &[], &["expected [8, 3]"]);
    check("missing.npy", "ce", "0,0.01,0", "0.1", &[], &["--targets"]);
    // An integer header whose shape overflows the element count (npyz would multiply it
    // unchecked): refused with a message, no panic.
    let mut header =
        b"{'descr': '<i8', 'fortran_order': False, 'shape': (4611686018427387904, 20), }".to_vec();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut huge = b"\x93NUMPY\x01\x00".to_vec();
    huge.extend_from_slice(&(header.len() as u16).to_le_bytes());
    huge.extend_from_slice(&header);
    huge.extend_from_slice(&[0u8; 64]);
    std::fs::write(s.path("huge.npy"), &huge).unwrap();
    check("huge.npy", "ce", "0,0.01,0", "0.1", &[], &["overflow"]);
    write_labels(&s.path("bad_labels.npy"), &[0, 1, 3, 0, 1, 2, 2, 1]);
    check(
        "bad_labels.npy",
        "ce",
        "0,0.01,0",
        "0.1",
        &[],
        &["label 3", "0..3"],
    );
    write_labels(&s.path("short.npy"), &[0, 1]);
    check(
        "short.npy",
        "ce",
        "0,0.01,0",
        "0.1",
        &[],
        &["2 targets", "8 rows"],
    );
    let mut nan = vec![0f32; 24];
    nan[5] = f32::NAN;
    write_f32_npy(&s.path("nan.npy"), &[8, 3], &nan);
    check("nan.npy", "mse", "0,0.01,0", "0.1", &[], &["not finite"]);
    // A CNN: not supported yet.
    let out = ftnn(&[
        "certify",
        "--model",
        &fixture("cnn.safetensors"),
        "--architecture",
        &fixture("cnn.arch.json"),
        "--inputs",
        &fixture("cnn.x.npy"),
        "--targets",
        &s.s("y.npy"),
        "--loss",
        "mse",
        "--p",
        "0,0,0,0.01,0",
        "--epsilon",
        "0.1",
        "--delta",
        "1e-5",
    ]);
    bad(&out, &["not supported yet", "MLP"]);
}
