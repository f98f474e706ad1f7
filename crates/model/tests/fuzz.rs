//! Property-based fuzzing of what ftnn-model reads from untrusted input: `--p` strings
//! ([`FailureVector::parse`]), input shapes from file headers ([`Inputs::new`]), the Sequential
//! architecture JSON ([`Architecture::from_json`]), MLP model files and state dicts
//! ([`Mlp::load`], [`Mlp::from_state_dict`]) and Sequential model files
//! ([`Sequential::from_safetensors_bytes`]). Every generated input gives a value or a typed
//! error, never a panic.
//!
//! `FTNN_FUZZ_CASES` sets the number of cases per property (default: a few thousand, for the
//! debug test suite); `cargo xtask fuzz` runs them in release with 100 000.

use std::path::Path;

use candle_core::Device;
use ftnn_model::{Activation, Architecture, FailureVector, Inputs, Mlp, Sequential};
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

const INTERESTING: [u64; 12] = [
    0,
    1,
    2,
    3,
    255,
    1 << 31,
    1 << 32,
    1 << 40,
    1 << 62,
    i64::MAX as u64,
    u64::MAX - 1,
    u64::MAX,
];

fn interesting() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => prop::sample::select(INTERESTING.to_vec()),
        1 => any::<u64>(),
        2 => 0u64..16,
    ]
}

// ---------------------------------------------------------------------------------------------
// `--p` strings

fn p_entry() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0.0f64..1.0).prop_map(|x| format!("{x}")),
        2 => prop::sample::select(vec![
            "0", "1", "", " ", "-0", "-0.1", "1.0000001", "nan", "NaN", "inf", "-inf", "1e-400",
            "1e400", "0x1", "½", "0,", "1_0", "+0.5", ".5", "5.", "e", "0.5e", "٠",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{0,6}",
    ]
}

proptest! {
    #![proptest_config(config(5000))]

    #[test]
    fn fuzz_failure_vector_strings(s in "\\PC{0,40}") {
        if let Ok(p) = FailureVector::parse(&s) {
            prop_assert!(p.as_slice().iter().all(|x| (0.0..=1.0).contains(x)));
        }
    }

    #[test]
    fn fuzz_failure_vector_lists(parts in prop::collection::vec(p_entry(), 0..8), sep in prop::sample::select(vec![",", ", ", ";", ",,"])) {
        let s = parts.join(sep);
        if let Ok(p) = s.parse::<FailureVector>() {
            prop_assert!(p.as_slice().iter().all(|x| (0.0..=1.0).contains(x)));
            let _ = p.check_len(4);
            let _ = p.crashing_layers();
        }
    }

    /// Shapes as a file header gives them (any rows and columns) with data of any length.
    #[test]
    fn fuzz_inputs_shapes(
        rows in interesting(),
        cols in interesting(),
        len in 0usize..64,
        value in prop_oneof![Just(0.5f32), Just(f32::NAN), Just(f32::INFINITY)],
    ) {
        let (rows, cols) = (rows as usize, cols as usize);
        if let Ok(x) = Inputs::new(vec![value; len], rows, cols) {
            prop_assert_eq!(x.rows() * x.cols(), len);
            let _ = x.row(x.rows() - 1);
        }
    }
}

#[test]
fn inputs_with_an_overflowing_shape_are_an_error() {
    // (2⁶², 20): 2⁶² × 20 wraps to 0 in release, which matched an empty array.
    assert!(Inputs::new(Vec::new(), 1 << 62, 20).is_err());
    assert!(Inputs::new(Vec::new(), 1 << 62, 0).is_err());
}

// ---------------------------------------------------------------------------------------------
// Architecture JSON

const ARCH: &str = include_str!("fixtures/torch/cnn.arch.json");
const STATE_DICT: &str = "tests/fixtures/torch/cnn.safetensors";

/// Paths (object keys and array indices) to every value of `v`.
fn value_paths(v: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(prefix.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                prefix.push(Value::from(k.clone()));
                value_paths(x, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                prefix.push(Value::from(i));
                value_paths(x, prefix, out);
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

/// A JSON value that breaks size arithmetic or types.
fn replacement() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => interesting().prop_map(Value::from),
        1 => (-3i64..0).prop_map(Value::from),
        1 => prop::sample::select(vec![
            json!(0.5), json!(-1.5), json!(1e300), json!(null), json!(true), json!("relu"),
            json!("conv2d"), json!("linear"), json!("add"), json!([]), json!([0, 0]),
            json!([u64::MAX, 1]), json!({}), json!({"op": "flatten"}),
        ]),
    ]
}

/// The fixture's architecture with up to three values replaced or removed.
fn mutated_architecture() -> impl Strategy<Value = String> {
    let seed: Value = serde_json::from_str(ARCH).unwrap();
    let mut paths = Vec::new();
    value_paths(&seed, &mut Vec::new(), &mut paths);
    prop::collection::vec((prop::sample::select(paths), replacement(), 0u8..6), 1..4).prop_map(
        move |edits| {
            let mut v = seed.clone();
            for (path, new, how) in edits {
                if how == 0 {
                    // Remove the value (an object key or an array element).
                    if let Some((last, parent)) = path.split_last() {
                        match (at_path(&mut v, parent), last) {
                            (Some(Value::Object(m)), Value::String(k)) => {
                                m.remove(k);
                            }
                            (Some(Value::Array(a)), Value::Number(i)) => {
                                let i = i.as_u64().unwrap() as usize;
                                if i < a.len() {
                                    a.remove(i);
                                }
                            }
                            _ => {}
                        }
                    }
                } else if let Some(slot) = at_path(&mut v, &path) {
                    *slot = new;
                }
            }
            v.to_string()
        },
    )
}

proptest! {
    #![proptest_config(config(1000))]

    /// The architecture alone, then built against the fixture's weights (which fit only the
    /// unmutated shapes: every mutation that changes a size must fail to load, never panic).
    #[test]
    fn fuzz_architecture_json_mutated(text in mutated_architecture()) {
        if let Ok(arch) = Architecture::from_json(&text) {
            let _ = arch.to_json();
            let _ = arch.tensors();
            let _ = Sequential::from_state_dict(Path::new(STATE_DICT), &arch, &Device::Cpu);
        }
    }

    #[test]
    fn fuzz_architecture_json_bytes(text in "\\PC{0,200}") {
        let _ = Architecture::from_json(&text);
    }
}

// ---------------------------------------------------------------------------------------------
// MLP and Sequential model files

fn safetensors_bytes(header: &Value, data: &[u8]) -> Vec<u8> {
    let text = header.to_string();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(data);
    out
}

fn dtype() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["F32", "F32", "F64", "F16", "BF16", "I64", "U8"])
}

fn size_of(dtype: &str) -> usize {
    match dtype {
        "F64" | "I64" => 8,
        "F16" | "BF16" => 2,
        "U8" => 1,
        _ => 4,
    }
}

/// An MLP file or state dict: tensors named as ftnn or PyTorch name them, with small or
/// interesting shapes, valid offsets (so that the loaders get past the safetensors reader)
/// and any metadata.
fn structured_model() -> impl Strategy<Value = Vec<u8>> {
    let name = prop::sample::select(vec![
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",
        "layers.1.bias",
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
        "net.0.weight",
        "18446744073709551616.weight",
        "weight",
    ]);
    let dim = prop_oneof![4 => 0usize..5, 1 => Just(1usize << 40), 1 => Just(usize::MAX)];
    let tensor = (name, dtype(), prop::collection::vec(dim, 0..3));
    let meta_value = prop::sample::select(vec![
        "relu", "sigmoid", "tanh", "softplus", "gelu", "", "1", "0", "-1", "nan", "inf", "1e309",
        "0.25",
    ]);
    (
        prop::collection::vec(tensor, 0..5),
        prop::option::of(meta_value.clone()),
        prop::option::of(meta_value),
    )
        .prop_map(|(tensors, activation, k_lips)| {
            let mut header = serde_json::Map::new();
            let mut offset = 0usize;
            for (name, dtype, shape) in tensors {
                // Huge shapes get offsets that cannot match them.
                let n = shape
                    .iter()
                    .try_fold(size_of(dtype), |a, &d| a.checked_mul(d))
                    .filter(|&n| n <= 64)
                    .unwrap_or(4);
                header.insert(
                    name.to_owned(),
                    json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}),
                );
                offset += n;
            }
            let mut meta = serde_json::Map::new();
            if let Some(a) = activation {
                meta.insert("activation".into(), a.into());
            }
            if let Some(k) = k_lips {
                meta.insert("k_lips".into(), k.into());
            }
            if !meta.is_empty() {
                header.insert("__metadata__".into(), Value::Object(meta));
            }
            // Data bytes that are finite and non-finite floats in every dtype.
            let data: Vec<u8> = (0..offset)
                .map(|i| [0x00, 0x3f, 0x80, 0xff, 0x7f][i % 5])
                .collect();
            safetensors_bytes(&Value::Object(header), &data)
        })
}

/// A valid Sequential model file: the fixture's state dict with its architecture.
fn sequential_file() -> &'static [u8] {
    static FILE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let arch = Architecture::from_json(ARCH).unwrap();
        Sequential::from_state_dict(Path::new(STATE_DICT), &arch, &Device::Cpu)
            .unwrap()
            .to_safetensors_bytes()
            .unwrap()
    })
}

/// A Sequential model file whose architecture metadata is mutated.
fn sequential_with_architecture(file: &[u8], arch: &str) -> Vec<u8> {
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let mut header: Value = serde_json::from_slice(&file[8..8 + n]).unwrap();
    header["__metadata__"][ftnn_model::seq::META_ARCHITECTURE] = Value::from(arch);
    safetensors_bytes(&header, &file[8 + n..])
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn fuzz_model_files_structured(bytes in structured_model()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        std::fs::write(&path, &bytes).unwrap();
        let _ = Mlp::load(&path);
        let _ = Mlp::from_state_dict(&path, Activation::Relu, 1.0);
        let _ = Sequential::load(&path, &Device::Cpu);
    }

    #[test]
    fn fuzz_sequential_file_architecture(text in mutated_architecture()) {
        let bytes = sequential_with_architecture(sequential_file(), &text);
        let _ = Sequential::from_safetensors_bytes(Path::new("m.safetensors"), &bytes, &Device::Cpu);
    }
}
