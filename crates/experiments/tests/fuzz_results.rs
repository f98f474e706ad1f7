//! Property-based fuzzing of stored results read back (`cargo xtask report` / `figures`):
//! structured mutations of every experiment's committed `results.json` (an array emptied or
//! cut short, a value of the wrong type or out of range, a key removed) and random bytes give
//! a report section or an error naming the file, never a panic.
//!
//! `FTNN_FUZZ_CASES` sets the number of cases (default: a few hundred, for the debug test
//! suite); `cargo xtask fuzz` runs them in release with 100 000.

use std::path::{Path, PathBuf};

use ftnn_lab::{read_section, AnyExperiment, Paths};
use proptest::prelude::*;
use serde_json::{json, Value};

fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("FTNN_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The committed results of every experiment that has them: (registry index, JSON).
fn seeds() -> &'static [(usize, Value)] {
    static SEEDS: std::sync::OnceLock<Vec<(usize, Value)>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(|| {
        let committed = Paths::new(root().join("results"), root().join("figures"));
        let seeds: Vec<(usize, Value)> = ftnn_experiments::registry()
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let text = std::fs::read_to_string(committed.results_file(e.id())).ok()?;
                Some((i, serde_json::from_str(&text).ok()?))
            })
            .collect();
        assert!(
            !seeds.is_empty(),
            "no committed results under {}",
            committed.results.display()
        );
        seeds
    })
}

/// A path into a JSON tree: object keys and array indices.
type JsonPath = Vec<Value>;

fn paths_of(v: &Value, prefix: &mut JsonPath, all: &mut Vec<JsonPath>, arrays: &mut Vec<JsonPath>) {
    all.push(prefix.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                prefix.push(Value::from(k.clone()));
                paths_of(x, prefix, all, arrays);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            arrays.push(prefix.clone());
            // Elements of long arrays look alike: the first few stand for all.
            for (i, x) in a.iter().enumerate().take(4) {
                prefix.push(Value::from(i));
                paths_of(x, prefix, all, arrays);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn at_path<'a>(v: &'a mut Value, path: &[Value]) -> Option<&'a mut Value> {
    let mut cur = v;
    for step in path {
        cur = match step {
            Value::String(k) => cur.get_mut(k.as_str())?,
            Value::Number(i) => cur.get_mut(i.as_u64()? as usize)?,
            _ => return None,
        };
    }
    Some(cur)
}

#[derive(Debug, Clone)]
enum Edit {
    /// Keep the first `n` elements of an array.
    Truncate(JsonPath, usize),
    /// Replace a value.
    Replace(JsonPath, Value),
    /// Remove an object key or array element.
    Remove(JsonPath),
}

fn apply(v: &mut Value, edit: &Edit) {
    match edit {
        Edit::Truncate(path, n) => {
            if let Some(Value::Array(a)) = at_path(v, path) {
                a.truncate(*n);
            }
        }
        Edit::Replace(path, new) => {
            if let Some(slot) = at_path(v, path) {
                *slot = new.clone();
            }
        }
        Edit::Remove(path) => {
            let Some((last, parent)) = path.split_last() else {
                return;
            };
            match (at_path(v, parent), last) {
                (Some(Value::Object(m)), Value::String(k)) => {
                    m.remove(k);
                }
                (Some(Value::Array(a)), Value::Number(i)) => {
                    let i = i.as_u64().unwrap_or(0) as usize;
                    if i < a.len() {
                        a.remove(i);
                    }
                }
                _ => {}
            }
        }
    }
}

fn replacement() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!(null),
        json!(0),
        json!(-1),
        json!(1e308),
        json!(u64::MAX),
        json!("NaN"),
        json!("inf"),
        json!("x"),
        json!(true),
        json!([]),
        json!([0]),
        json!({}),
    ])
}

/// An experiment's committed results with one to three edits.
fn mutated_results() -> impl Strategy<Value = (usize, Value)> {
    (0..seeds().len()).prop_flat_map(|k| {
        let (index, seed) = &seeds()[k];
        let (mut all, mut arrays) = (Vec::new(), Vec::new());
        paths_of(seed, &mut Vec::new(), &mut all, &mut arrays);
        let edit = prop_oneof![
            3 => (prop::sample::select(arrays), 0usize..2).prop_map(|(p, n)| Edit::Truncate(p, n)),
            2 => (prop::sample::select(all.clone()), replacement()).prop_map(|(p, v)| Edit::Replace(p, v)),
            1 => prop::sample::select(all).prop_map(Edit::Remove),
        ];
        let (index, seed) = (*index, seed.clone());
        prop::collection::vec(edit, 1..4).prop_map(move |edits| {
            let mut v = seed.clone();
            for e in &edits {
                apply(&mut v, e);
            }
            (index, v)
        })
    })
}

/// Reads `bytes` back as `exp`'s stored results: a section, or an error naming the file.
fn check(exp: &dyn AnyExperiment, bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("results"), dir.path().join("figures"));
    let file = paths.results_file(exp.id());
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, bytes).unwrap();
    if let Err(e) = read_section(exp, &paths) {
        let msg = e.to_string();
        assert!(msg.contains(&file.display().to_string()), "{msg}");
    }
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn fuzz_results_mutated((index, v) in mutated_results()) {
        let exps = ftnn_experiments::registry();
        check(exps[index].as_ref(), v.to_string().as_bytes());
    }

    #[test]
    fn fuzz_results_bytes(index in 0usize..16, bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let exps = ftnn_experiments::registry();
        check(exps[index % exps.len()].as_ref(), &bytes);
    }
}

/// The known defect: `error-comparison-random`'s report indexed `parts[0]` and `parts[1]` of
/// the stored results (as `ntk` did `fits[1]`, `error-on-training` `mc[0]`) and panicked
/// on a file with fewer; now each is an error naming the file.
#[test]
fn results_missing_what_the_report_indexes_are_errors_naming_the_file() {
    let exps = ftnn_experiments::registry();
    for (id, pointer) in [
        ("error-comparison-random", "/results/parts"),
        ("ntk", "/results/fits"),
        ("error-on-training", "/results/mc"),
    ] {
        let Some((_, seed)) = seeds().iter().find(|(i, _)| exps[*i].id() == id) else {
            continue;
        };
        let mut v = seed.clone();
        *v.pointer_mut(pointer).expect(pointer) = json!([]);
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("results"), dir.path().join("figures"));
        let file = paths.results_file(id);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, v.to_string()).unwrap();
        let exp = exps.iter().find(|e| e.id() == id).unwrap();
        let err = read_section(exp.as_ref(), &paths).unwrap_err().to_string();
        assert!(err.contains(&file.display().to_string()), "{err}");
        // The whole report is written and the error names the file.
        let refs: Vec<&dyn AnyExperiment> = vec![exp.as_ref()];
        let out = dir.path().join("REPORT.md");
        let err = ftnn_lab::write_report(&refs, &paths, &out)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&file.display().to_string()), "{err}");
        assert!(std::fs::read_to_string(&out)
            .unwrap()
            .contains("cannot be read"));
    }
}
