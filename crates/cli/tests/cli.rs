//! End-to-end tests of the `ftnn` binary: the JSON schema of SPEC §11, and bad input that must
//! give a clear message, exit code 2 and no output file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ftnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ftnn"))
        .args(args)
        .output()
        .expect("run ftnn")
}

/// Writes a C-order .npy file with the given dtype descriptor and raw little-endian bytes.
fn write_npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) {
    let shape_s = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_s}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A random [4, 5, 3, 2] sigmoid network and 3 inputs.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let f = Self { dir };
        let out = ftnn(&[
            "init",
            "--sizes",
            "4,5,3,2",
            "--activation",
            "sigmoid",
            "--seed",
            "3",
            "--output",
            f.path("net.safetensors").to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let x: Vec<f32> = (0..12).map(|i| (i as f32 - 6.0) / 4.0).collect();
        write_npy(&f.path("x.npy"), "<f4", &[3, 4], &f32_bytes(&x));
        f
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn s(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_string()
    }
    /// Runs analyze with `--output out.json` and the given overrides.
    fn analyze(&self, model: &str, inputs: &str, p: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            "analyze".to_string(),
            "--model".into(),
            self.s(model),
            "--inputs".into(),
            self.s(inputs),
            "--p".into(),
            p.into(),
            "--output".into(),
            self.s("out.json"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ftnn(&refs)
    }
    /// Asserts exit code 2, a message containing `needle`, and no output file.
    fn assert_bad(&self, out: Output, needle: &str) {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "stderr: {err}");
        assert!(
            err.to_lowercase().contains(&needle.to_lowercase()),
            "`{needle}` not in: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(!self.path("out.json").exists(), "an output was written");
    }
}

#[test]
fn json_report_follows_the_schema() {
    let f = Fixture::new();
    let out = f.analyze(
        "net.safetensors",
        "x.npy",
        "0,0.1,0.1,0",
        &["--exact", "--repetitions", "20000", "--seed", "5"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.path("out.json")).unwrap()).unwrap();
    assert_eq!(v["model"]["sizes"], serde_json::json!([4, 5, 3, 2]));
    assert_eq!(v["model"]["activation"], "sigmoid");
    assert_eq!(v["model"]["k_lips"], 1.0);
    assert_eq!(v["p"], serde_json::json!([0.0, 0.1, 0.1, 0.0]));
    assert_eq!(v["repetitions"], 20000);
    assert_eq!(v["seed"], 5);
    assert!(v.get("bounds").is_none());
    for key in ["mean", "std", "stderr"] {
        let a = v["experiment"][key].as_array().unwrap();
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(|r| r.as_array().unwrap().len() == 2));
    }
    // Monte Carlo within 5 standard errors of the exact mean (8 crashable neurons).
    for i in 0..3 {
        for k in 0..2 {
            let m = v["experiment"]["mean"][i][k].as_f64().unwrap();
            let se = v["experiment"]["stderr"][i][k].as_f64().unwrap();
            let e = v["exact"]["mean"][i][k].as_f64().unwrap();
            assert!((m - e).abs() < 5.0 * se + 1e-6, "{m} vs {e} (se {se})");
        }
    }
}

#[test]
fn table_on_stdout_and_state_dict_import() {
    let f = Fixture::new();
    // A PyTorch-style nn.Sequential state dict: rename the tensors of the ftnn file.
    let bytes = std::fs::read(f.path("net.safetensors")).unwrap();
    let hdr_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + hdr_len]).unwrap();
    let renamed = header
        .replace("layers.0.", "0.")
        .replace("layers.1.", "2.")
        .replace("layers.2.", "4.");
    let renamed = renamed.replace("\"activation\":\"sigmoid\"", "\"format\":\"pt\"    ");
    let mut out_bytes = (renamed.len() as u64).to_le_bytes().to_vec();
    out_bytes.extend_from_slice(renamed.as_bytes());
    out_bytes.extend_from_slice(&bytes[8 + hdr_len..]);
    std::fs::write(f.path("sd.safetensors"), out_bytes).unwrap();

    let run = |model: &str, extra: &[&str]| {
        let mut args = vec![
            "analyze",
            "--inputs",
            "x.npy",
            "--p",
            "0,0.2,0,0",
            "--repetitions",
            "3000",
            "--model",
            model,
        ];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_ftnn"))
            .current_dir(f.dir.path())
            .args(&args)
            .output()
            .unwrap()
    };
    let a = run("net.safetensors", &[]);
    assert!(a.status.success());
    let table = String::from_utf8(a.stdout).unwrap();
    assert!(
        table.contains("mean Δ") && table.contains("stderr"),
        "{table}"
    );
    // Without --activation the state dict is refused with a hint.
    let b = run("sd.safetensors", &[]);
    assert_eq!(b.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&b.stderr).contains("activation"));
    // ftnn's convention (σ(4Kz), K = 1) has to be asked for: it is the same network.
    let c = run(
        "sd.safetensors",
        &["--activation", "sigmoid", "--k-lips", "1"],
    );
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
    assert_eq!(
        String::from_utf8(c.stdout).unwrap(),
        table,
        "same network, same seed"
    );
    // By default a state dict means PyTorch's nn.Sigmoid, σ(z): the network with K = 1/4,
    // and the report says which function it analysed.
    let d = run("sd.safetensors", &["--activation", "sigmoid"]);
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stderr));
    let d = String::from_utf8(d.stdout).unwrap();
    assert_ne!(d, table, "σ(z) is not σ(4z)");
    assert!(d.contains("sigmoid(z)") && d.contains("K = 0.25"), "{d}");
    assert!(table.contains("sigmoid(4z)"), "{table}");
}

#[test]
fn bad_models() {
    let f = Fixture::new();
    f.assert_bad(
        f.analyze("missing.safetensors", "x.npy", "0,0.1,0,0", &[]),
        "missing.safetensors",
    );
    let bytes = std::fs::read(f.path("net.safetensors")).unwrap();
    std::fs::write(f.path("trunc.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    f.assert_bad(
        f.analyze("trunc.safetensors", "x.npy", "0,0.1,0,0", &[]),
        "truncated or corrupt",
    );
    std::fs::write(
        f.path("junk.safetensors"),
        b"\x05\x00\x00\x00\x00\x00\x00\x00{}{}{",
    )
    .unwrap();
    f.assert_bad(
        f.analyze("junk.safetensors", "x.npy", "0,0.1,0,0", &[]),
        "not a valid safetensors",
    );
    // Missing tensor / wrong shape / unknown activation: edit the header of a valid file.
    let hdr_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + hdr_len]).unwrap();
    let edit = |name: &str, new_header: String| {
        assert_eq!(new_header.len(), header.len());
        let mut b = bytes[..8].to_vec();
        b.extend_from_slice(new_header.as_bytes());
        b.extend_from_slice(&bytes[8 + hdr_len..]);
        std::fs::write(f.path(name), b).unwrap();
    };
    edit(
        "nobias.safetensors",
        header.replace("layers.1.bias", "layers.1.bia_"),
    );
    f.assert_bad(
        f.analyze("nobias.safetensors", "x.npy", "0,0.1,0,0", &[]),
        "layers.1.bias",
    );
    edit("act.safetensors", header.replace("sigmoid", "sigmaa_"));
    f.assert_bad(
        f.analyze("act.safetensors", "x.npy", "0,0.1,0,0", &[]),
        "unknown activation",
    );
    f.assert_bad(
        f.analyze(
            "net.safetensors",
            "x.npy",
            "0,0.1,0,0",
            &["--activation", "swish"],
        ),
        "swish",
    );
    // A network whose layers do not chain ([3,4] after a [5,4] layer).
    let w = |n: usize| vec![0.5f32; n];
    let mut tensors = String::from("{");
    let mut data = Vec::new();
    for (name, shape, n) in [
        ("layers.0.weight", "[5,4]", 20),
        ("layers.0.bias", "[5]", 5),
        ("layers.1.weight", "[3,4]", 12),
        ("layers.1.bias", "[3]", 3),
    ] {
        let start = data.len();
        data.extend(f32_bytes(&w(n)));
        tensors += &format!(
            "\"{name}\":{{\"dtype\":\"F32\",\"shape\":{shape},\"data_offsets\":[{start},{}]}},",
            data.len()
        );
    }
    tensors += "\"__metadata__\":{\"activation\":\"relu\",\"k_lips\":\"1\"}}";
    let mut b = (tensors.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(tensors.as_bytes());
    b.extend_from_slice(&data);
    std::fs::write(f.path("shape.safetensors"), b).unwrap();
    f.assert_bad(
        f.analyze("shape.safetensors", "x.npy", "0,0.1,0", &[]),
        "shape mismatch",
    );
}

#[test]
fn bad_failure_vectors_and_repetitions() {
    let f = Fixture::new();
    f.assert_bad(
        f.analyze("net.safetensors", "x.npy", "0,0.1,0", &[]),
        "4 layers of neurons",
    );
    f.assert_bad(
        f.analyze("net.safetensors", "x.npy", "0,1.5,0,0", &[]),
        "p[1] = 1.5",
    );
    f.assert_bad(
        f.analyze("net.safetensors", "x.npy", "0,-0.1,0,0", &[]),
        "p[1] = -0.1",
    );
    f.assert_bad(
        f.analyze("net.safetensors", "x.npy", "0,NaN,0,0", &[]),
        "p[1] = NaN",
    );
    f.assert_bad(
        f.analyze("net.safetensors", "x.npy", "0,abc,0,0", &[]),
        "p[1]",
    );
    f.assert_bad(
        f.analyze(
            "net.safetensors",
            "x.npy",
            "0,0.1,0,0",
            &["--repetitions", "0"],
        ),
        "repetitions",
    );
}

#[test]
fn bad_inputs() {
    let f = Fixture::new();
    let p = "0,0.1,0,0";
    f.assert_bad(
        f.analyze("net.safetensors", "nothere.npy", p, &[]),
        "nothere.npy",
    );
    let ints: Vec<u8> = (0..12i32).flat_map(|v| v.to_le_bytes()).collect();
    write_npy(&f.path("int.npy"), "<i4", &[3, 4], &ints);
    f.assert_bad(
        f.analyze("net.safetensors", "int.npy", p, &[]),
        "float32 or float64",
    );
    write_npy(&f.path("rank1.npy"), "<f4", &[12], &f32_bytes(&[0.0; 12]));
    f.assert_bad(f.analyze("net.safetensors", "rank1.npy", p, &[]), "2-D");
    write_npy(
        &f.path("rank3.npy"),
        "<f4",
        &[1, 3, 4],
        &f32_bytes(&[0.0; 12]),
    );
    f.assert_bad(f.analyze("net.safetensors", "rank3.npy", p, &[]), "2-D");
    write_npy(&f.path("wide.npy"), "<f4", &[2, 6], &f32_bytes(&[0.0; 12]));
    f.assert_bad(
        f.analyze("net.safetensors", "wide.npy", p, &[]),
        "input width",
    );
    write_npy(&f.path("trunc.npy"), "<f4", &[3, 4], &f32_bytes(&[0.0; 7]));
    f.assert_bad(
        f.analyze("net.safetensors", "trunc.npy", p, &[]),
        "truncated",
    );
    std::fs::write(f.path("junk.npy"), b"not an npy file at all").unwrap();
    f.assert_bad(
        f.analyze("net.safetensors", "junk.npy", p, &[]),
        "not a valid .npy",
    );
    let mut x = vec![0.5f32; 12];
    x[7] = f32::NAN;
    write_npy(&f.path("nan.npy"), "<f4", &[3, 4], &f32_bytes(&x));
    f.assert_bad(
        f.analyze("net.safetensors", "nan.npy", p, &[]),
        "non-finite",
    );
    let x: Vec<u8> = [0.0f64, 1.0, f64::INFINITY, 0.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    write_npy(&f.path("inf.npy"), "<f8", &[1, 4], &x);
    f.assert_bad(
        f.analyze("net.safetensors", "inf.npy", p, &[]),
        "non-finite",
    );
    // f64 inputs are accepted.
    let x: Vec<u8> = [0.1f64, 0.2, 0.3, 0.4]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    write_npy(&f.path("f64.npy"), "<f8", &[1, 4], &x);
    assert!(f
        .analyze("net.safetensors", "f64.npy", p, &[])
        .status
        .success());
}

#[test]
fn unwritable_output_is_refused_before_any_work() {
    let f = Fixture::new();
    let out = ftnn(&[
        "analyze",
        "--model",
        &f.s("net.safetensors"),
        "--inputs",
        &f.s("x.npy"),
        "--p",
        "0,0.1,0,0",
        "--output",
        &f.s("no/such/dir/out.json"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be written"));
    assert!(!f.path("no").exists());
}

#[test]
fn exact_reports_why_it_is_infeasible() {
    let f = Fixture::new();
    // 4 + 5 + 3 + 2 = 14 crashable neurons is fine; a wider net is not.
    let out = ftnn(&[
        "init",
        "--sizes",
        "4,30,2",
        "--activation",
        "relu",
        "--output",
        &f.s("wide.safetensors"),
    ]);
    assert!(out.status.success());
    let out = f.analyze(
        "wide.safetensors",
        "x.npy",
        "0,0.1,0",
        &["--exact", "--repetitions", "100"],
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("2^30"));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.path("out.json")).unwrap()).unwrap();
    assert!(v.get("exact").is_none());
    assert!(v["notes"][0].as_str().unwrap().contains("limit is 20"));
}

#[test]
fn bounds_in_the_json_report() {
    let f = Fixture::new();
    let out = f.analyze(
        "net.safetensors",
        "x.npy",
        "0,0.05,0,0",
        &["--bounds", "all", "--repetitions", "2000"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.path("out.json")).unwrap()).unwrap();
    let b = &v["bounds"];
    for key in ["b3", "b4", "b2"] {
        assert_eq!(b[key]["mean"].as_array().unwrap().len(), 3, "{key}");
        assert_eq!(b[key]["std"][0].as_array().unwrap().len(), 2, "{key}");
    }
    assert!(b["b5"]["std"].is_null() && b["b5"]["mean"][2].as_array().unwrap().len() == 2);
    for key in ["b1_1", "b1_2", "b1_inf"] {
        let a = b[key]["mean"].as_array().unwrap();
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(|x| x.as_f64().unwrap() > 0.0));
    }
    // Crashes at two layers: b1 and b2 are undefined; with `all` they are left out and noted.
    std::fs::remove_file(f.path("out.json")).unwrap();
    let out = f.analyze(
        "net.safetensors",
        "x.npy",
        "0,0.05,0.05,0",
        &["--bounds", "all", "--repetitions", "500"],
    );
    assert!(out.status.success());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.path("out.json")).unwrap()).unwrap();
    assert!(v["bounds"].get("b2").is_none() && v["bounds"].get("b1_2").is_none());
    assert!(v["bounds"].get("b4").is_some());
    let notes = v["notes"].to_string();
    assert!(
        notes.contains("b2 omitted") && notes.contains("first hidden layer only"),
        "{notes}"
    );
}

#[test]
fn undefined_or_unknown_bounds_are_refused() {
    let f = Fixture::new();
    f.assert_bad(
        f.analyze(
            "net.safetensors",
            "x.npy",
            "0,0.05,0.05,0",
            &["--bounds", "b2"],
        ),
        "b2 is not defined",
    );
    f.assert_bad(
        f.analyze(
            "net.safetensors",
            "x.npy",
            "0,0.05,0,0",
            &["--bounds", "b7"],
        ),
        "unknown bound",
    );
}

#[test]
fn compare_ranks_bounds_in_every_format() {
    let f = Fixture::new();
    let x: Vec<f32> = (0..40 * 4)
        .map(|i| ((i * 37 % 23) as f32 - 11.0) / 6.0)
        .collect();
    write_npy(&f.path("many.npy"), "<f4", &[40, 4], &f32_bytes(&x));
    let run = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "compare",
            "--model",
            "net.safetensors",
            "--inputs",
            "many.npy",
            "--p",
            "0,0.02,0,0",
            "--repetitions",
            "20000",
        ];
        if !out.is_empty() {
            args.extend_from_slice(&["--output", out]);
        }
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_ftnn"))
            .current_dir(f.dir.path())
            .args(&args)
            .output()
            .unwrap()
    };
    let out = run("rank.json", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.path("rank.json")).unwrap()).unwrap();
    let ranking = v["ranking"].as_array().unwrap();
    assert_eq!(ranking.len(), 10, "b3/b4/b2 mean+std, b5 mean, three b1");
    let corr = |r: &serde_json::Value| r["pearson"].as_f64().map_or(-1.0, f64::abs);
    assert!(ranking.windows(2).all(|w| corr(&w[0]) >= corr(&w[1])));
    // On a smooth sigmoid net at small p, b4 follows the experiment best.
    assert!(
        ranking[0]["quantity"].as_str().unwrap().starts_with("b4"),
        "{}",
        ranking[0]
    );
    let out = run("rank.csv", &[]);
    assert!(out.status.success());
    let csv = std::fs::read_to_string(f.path("rank.csv")).unwrap();
    assert!(csv.starts_with("quantity,against,points,pearson"));
    assert_eq!(csv.lines().count(), 11);
    let out = run("", &["--bounds", "b3,b4"]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("rank loss") && table.contains("b3 std"),
        "{table}"
    );
    // A single point (one input of a one-output network) cannot be compared.
    let init = ftnn(&[
        "init",
        "--sizes",
        "4,3,1",
        "--activation",
        "relu",
        "--output",
        &f.s("one-out.safetensors"),
    ]);
    assert!(init.status.success());
    write_npy(
        &f.path("one.npy"),
        "<f4",
        &[1, 4],
        &f32_bytes(&[0.1, 0.2, 0.3, 0.4]),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ftnn"))
        .current_dir(f.dir.path())
        .args([
            "compare",
            "--model",
            "one-out.safetensors",
            "--inputs",
            "one.npy",
            "--p",
            "0,0.1,0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least two points"));
}
