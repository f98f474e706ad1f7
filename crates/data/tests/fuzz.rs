//! Property-based fuzzing of the readers of untrusted bytes in ftnn-data (safetensors, PyTorch
//! zip archives, IDX raw and gzip, the Boston CSV and split file): every generated input gives
//! a value or a typed [`DataError`], never a panic. Inputs are random bytes and structured
//! mutations of valid files (a valid header with a corrupted field, truncation at every
//! length, huge dimensions, overflowing products).
//!
//! `FTNN_FUZZ_CASES` sets the number of cases per property (default: a few thousand, for the
//! debug test suite); `cargo xtask fuzz` runs them in release with 100 000.

use std::io::Write;
use std::path::Path;

use candle_core::Device;
use flate2::{write::GzEncoder, Compression};
use ftnn_data::*;
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

/// Integers that break size arithmetic.
const INTERESTING: [u64; 14] = [
    0,
    1,
    2,
    3,
    255,
    65_535,
    1 << 31,
    u32::MAX as u64,
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

/// Random bytes, or `seed` truncated, with bytes changed, with bytes inserted, or with an
/// interesting integer written over some of its bytes.
fn mutations(seed: Vec<u8>) -> BoxedStrategy<Vec<u8>> {
    let n = seed.len();
    assert!(n > 0);
    let (s1, s2, s3, s4) = (seed.clone(), seed.clone(), seed.clone(), seed);
    prop_oneof![
        (0..=n).prop_map(move |k| s1[..k].to_vec()),
        prop::collection::vec((0..n, any::<u8>()), 1..6).prop_map(move |edits| {
            let mut v = s2.clone();
            for (i, b) in edits {
                v[i] = b;
            }
            v
        }),
        (0..=n, prop::collection::vec(any::<u8>(), 1..32)).prop_map(move |(at, ins)| {
            let mut v = s3.clone();
            v.splice(at..at, ins);
            v
        }),
        (0..n, interesting(), 1usize..=8, any::<bool>()).prop_map(move |(at, x, w, be)| {
            let mut v = s4.clone();
            let bytes = if be { x.to_be_bytes() } else { x.to_le_bytes() };
            let src = if be { &bytes[8 - w..] } else { &bytes[..w] };
            for (i, b) in src.iter().enumerate() {
                if let Some(slot) = v.get_mut(at + i) {
                    *slot = *b;
                }
            }
            v
        }),
        prop::collection::vec(any::<u8>(), 0..256),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------------
// safetensors

/// A safetensors file from a JSON header and data bytes; `len` overrides the header length.
fn safetensors_bytes(header: &Value, data: &[u8], len: Option<u64>) -> Vec<u8> {
    let text = header.to_string();
    let mut out = len.unwrap_or(text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A valid two-tensor file.
fn valid_safetensors() -> Vec<u8> {
    let header = json!({
        "__metadata__": {"activation": "relu", "k_lips": "1"},
        "layers.0.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "layers.0.bias": {"dtype": "F32", "shape": [2], "data_offsets": [24, 32]},
    });
    safetensors_bytes(&header, &[0u8; 32], None)
}

/// A JSON number that is sometimes negative or not an integer.
fn json_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => interesting().prop_map(Value::from),
        1 => (-5i64..0).prop_map(Value::from),
        1 => Just(json!(1.5)),
        1 => Just(json!("3")),
    ]
}

fn dtype() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        "F32", "F64", "F16", "BF16", "I64", "I32", "U8", "BOOL", "F8_E4M3", "C64", "f32", "",
    ])
    .prop_map(Value::from)
}

/// A header of a few tensors with any dtype, shape and offsets (huge, negative, past the end,
/// overlapping), with data of any length and a header length that may lie.
fn structured_safetensors() -> impl Strategy<Value = Vec<u8>> {
    let tensor = (
        dtype(),
        prop::collection::vec(json_number(), 0..4),
        prop_oneof![
            3 => (0u64..64, 0u64..64).prop_map(|(a, b)| json!([a, b])),
            1 => prop::collection::vec(json_number(), 0..4).prop_map(Value::from),
        ],
    )
        .prop_map(|(d, s, o)| json!({"dtype": d, "shape": s, "data_offsets": o}));
    (
        prop::collection::vec(tensor, 0..4),
        0usize..80,
        prop_oneof![4 => Just(None), 1 => interesting().prop_map(Some)],
        any::<bool>(),
    )
        .prop_map(|(tensors, data_len, len, meta)| {
            let mut header = serde_json::Map::new();
            for (i, t) in tensors.into_iter().enumerate() {
                header.insert(format!("layers.{i}.weight"), t);
            }
            if meta {
                header.insert("__metadata__".into(), json!({"activation": "tanh"}));
            }
            safetensors_bytes(&Value::Object(header), &vec![7u8; data_len], len)
        })
}

/// Every safetensors reader on the same bytes: in memory, from a file, header only.
fn check_safetensors(dir: &Path, bytes: &[u8]) {
    let _ = parse_safetensors(Path::new("x.safetensors"), bytes, &Device::Cpu);
    let path = dir.join("x.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let _ = inspect_safetensors(&path);
    let _ = load_safetensors(&path, &Device::Cpu);
    let _ = load_weights(&path, &Device::Cpu);
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn fuzz_safetensors_mutated(bytes in mutations(valid_safetensors())) {
        let dir = tempfile::tempdir().unwrap();
        check_safetensors(dir.path(), &bytes);
    }

    #[test]
    fn fuzz_safetensors_structured(bytes in structured_safetensors()) {
        let dir = tempfile::tempdir().unwrap();
        check_safetensors(dir.path(), &bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// PyTorch zip archives

const TINY_PKL: &[u8] = include_bytes!("fixtures/tiny.pkl");
const TINY_PTH: &[u8] = include_bytes!("fixtures/tiny.pth");

/// A zip archive of stored (uncompressed) entries, with correct CRCs: mutations of the pickle
/// reach candle's pickle reader instead of stopping at the zip checksum.
fn zip_stored(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let crc = crc.sum();
        let offset = out.len() as u32;
        let fields = |sig: u32, central: bool| {
            let mut h = sig.to_le_bytes().to_vec();
            if central {
                h.extend_from_slice(&20u16.to_le_bytes()); // made by
            }
            h.extend_from_slice(&20u16.to_le_bytes()); // version needed
            h.extend_from_slice(&0u16.to_le_bytes()); // flags
            h.extend_from_slice(&0u16.to_le_bytes()); // stored
            h.extend_from_slice(&0u32.to_le_bytes()); // time, date
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // extra
            if central {
                h.extend_from_slice(&[0u8; 6]); // comment length, disk, internal attributes
                h.extend_from_slice(&0u32.to_le_bytes()); // external attributes
                h.extend_from_slice(&offset.to_le_bytes());
            }
            h.extend_from_slice(name.as_bytes());
            h
        };
        out.extend(fields(0x0403_4b50, false));
        out.extend_from_slice(data);
        central.extend(fields(0x0201_4b50, true));
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// The tiny state dict with the given pickle and storages of the given lengths.
fn pth_with(pickle: &[u8], weight_len: usize, bias_len: usize) -> Vec<u8> {
    let w = vec![0x3fu8; weight_len];
    let b = vec![0x3fu8; bias_len];
    zip_stored(&[
        ("archive/data.pkl", pickle),
        ("archive/data/0", &w),
        ("archive/data/1", &b),
        ("archive/version", b"3\n"),
    ])
}

fn check_pth(dir: &Path, bytes: &[u8]) {
    let path = dir.join("x.pth");
    std::fs::write(&path, bytes).unwrap();
    let _ = load_pth(&path, &Device::Cpu);
    let _ = load_weights(&path, &Device::Cpu);
}

#[test]
fn tiny_pth_fixtures_load() {
    let dir = tempfile::tempdir().unwrap();
    for bytes in [TINY_PTH.to_vec(), pth_with(TINY_PKL, 24, 8)] {
        let path = dir.path().join("t.pth");
        std::fs::write(&path, &bytes).unwrap();
        let t = load_pth(&path, &Device::Cpu).unwrap();
        assert_eq!(
            t.shapes(),
            [
                ("0.bias".to_owned(), vec![2]),
                ("0.weight".to_owned(), vec![2, 3])
            ]
        );
    }
}

proptest! {
    #![proptest_config(config(1000))]

    /// Mutations of the archive's bytes (mostly stopped by the zip reader).
    #[test]
    fn fuzz_pth_archive_mutated(bytes in mutations(TINY_PTH.to_vec())) {
        let dir = tempfile::tempdir().unwrap();
        check_pth(dir.path(), &bytes);
    }

    /// Mutations of the pickle (shapes, strides, offsets, storage keys), re-zipped with valid
    /// CRCs, with storages shorter or longer than the tensors need.
    #[test]
    fn fuzz_pth_pickle_mutated(
        pickle in mutations(TINY_PKL.to_vec()),
        weight_len in prop_oneof![Just(24usize), 0usize..40],
        bias_len in prop_oneof![Just(8usize), 0usize..16],
    ) {
        let dir = tempfile::tempdir().unwrap();
        check_pth(dir.path(), &pth_with(&pickle, weight_len, bias_len));
    }
}

// ---------------------------------------------------------------------------------------------
// IDX

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn idx_images(n: u32, rows: u32, cols: u32, data: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [IDX_IMAGES_MAGIC, n, rows, cols] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v.extend(std::iter::repeat_n(128u8, data));
    v
}

fn idx_labels(n: u32, labels: &[u8]) -> Vec<u8> {
    let mut v = IDX_LABELS_MAGIC.to_be_bytes().to_vec();
    v.extend_from_slice(&n.to_be_bytes());
    v.extend_from_slice(labels);
    v
}

fn u32_dim() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => 0u32..5,
        1 => prop::sample::select(vec![28u32, 65_535, 1 << 16, 1 << 31, u32::MAX]),
        1 => any::<u32>(),
    ]
}

fn check_idx(images: &[u8], labels: &[u8]) {
    let (pi, pl) = (Path::new("i-idx3-ubyte.gz"), Path::new("l-idx1-ubyte.gz"));
    let _ = parse_idx_images(pi, images);
    let _ = parse_idx_labels(pl, labels);
    let _ = gunzip(pi, images);
    let _ = parse_idx_pair(pi, &gz(images), pl, &gz(labels));
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn fuzz_idx_structured(
        (n, rows, cols) in (u32_dim(), u32_dim(), u32_dim()),
        data in 0usize..64,
        n_labels in u32_dim(),
        labels in prop::collection::vec(0u8..12, 0..6),
    ) {
        check_idx(&idx_images(n, rows, cols, data), &idx_labels(n_labels, &labels));
    }

    #[test]
    fn fuzz_idx_mutated(
        images in mutations(idx_images(2, 2, 3, 12)),
        labels in mutations(idx_labels(2, &[3, 9])),
    ) {
        check_idx(&images, &labels);
    }

    /// Gzip streams with a valid header and a corrupted body, trailer or size field.
    #[test]
    fn fuzz_idx_gzip_mutated(gz_bytes in mutations(gz(&idx_images(2, 2, 3, 12)))) {
        let (pi, pl) = (Path::new("i.gz"), Path::new("l.gz"));
        let _ = gunzip(pi, &gz_bytes);
        let _ = parse_idx_pair(pi, &gz_bytes, pl, &gz_bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// Boston CSV and split file

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (-1000.0f64..1000.0).prop_map(|x| format!("{x}")),
        1 => prop::sample::select(vec![
            "", "nan", "inf", "-inf", "1e400", "x", "\"CRIM\"", " 2 ", "-0", "18446744073709551616",
        ])
        .prop_map(str::to_owned),
    ]
}

fn count() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0u64..5).prop_map(|x| x.to_string()),
        2 => interesting().prop_map(|x| x.to_string()),
        1 => prop::sample::select(vec!["", "-1", "1e3", "506.0", "x"]).prop_map(str::to_owned),
    ]
}

/// `n,f` (any numbers), a names line and rows of fields (numbers, non-finite, garbage).
fn structured_csv() -> impl Strategy<Value = String> {
    (
        count(),
        count(),
        1usize..5,
        prop::collection::vec(prop::collection::vec(field(), 0..5), 0..5),
        any::<bool>(),
    )
        .prop_map(|(n, f, names, rows, crlf)| {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut s = format!("{n},{f},,{eol}");
            s += &(0..names)
                .map(|i| format!("\"c{i}\""))
                .collect::<Vec<_>>()
                .join(",");
            s += eol;
            for r in rows {
                s += &r.join(",");
                s += eol;
            }
            s
        })
}

const VALID_CSV: &str = "3,2,,\n\"A\",\"B\",\"MEDV\"\n1,2,3\n4.5,6,7\n-1,0,2e1\n";

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn fuzz_boston_csv_structured(text in structured_csv()) {
        let _ = parse_boston_csv(Path::new("boston.csv"), text.as_bytes());
    }

    #[test]
    fn fuzz_boston_csv_mutated(bytes in mutations(VALID_CSV.as_bytes().to_vec())) {
        let _ = parse_boston_csv(Path::new("boston.csv"), &bytes);
    }

    #[test]
    fn fuzz_boston_split_file(
        bytes in prop_oneof![
            mutations(b"2\n0\n1\n".to_vec()),
            prop::collection::vec(count(), 0..6).prop_map(|v| v.join("\n").into_bytes()),
        ]
    ) {
        let _ = parse_permutation(Path::new("split.txt"), &bytes);
    }
}

/// Found by `fuzz_boston_csv_structured`: `n × f` and `f + 1` from line 1 overflowed (a panic
/// in debug builds, a capacity-overflow panic or an abort on allocation in release).
#[test]
fn boston_csv_with_huge_counts_is_an_error() {
    for first in [
        "1,18446744073709551615",
        "18446744073709551615,2",
        "4294967296,4294967296",
        "1000000000000,1000",
    ] {
        let text = format!("{first}\n\"A\",\"B\",\"MEDV\"\n1,2,3\n");
        let err = parse_boston_csv(Path::new("b.csv"), text.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("b.csv"), "{err}");
    }
}

/// `TINY_PKL` with the size tuple `(2, 3)` of `0.weight` replaced by `size`.
fn pickle_with_weight_size(size: &[u8]) -> Vec<u8> {
    let old: &[u8] = b"K\x02K\x03\x86";
    let at = TINY_PKL
        .windows(old.len())
        .position(|w| w == old)
        .expect("the fixture's size tuple");
    let mut v = TINY_PKL.to_vec();
    v.splice(at..at + old.len(), size.iter().copied());
    v
}

/// Found by `fuzz_pth_pickle_mutated`: candle's pickle reader panics on a LONG1 of more than
/// 8 bytes (shift overflow), and allocates whatever shape the pickle announces.
#[test]
fn pth_with_corrupt_pickle_or_huge_shape_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.pth");
    let long9 = b"\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09.".to_vec();
    let mut huge = b"\x8a\x08".to_vec();
    huge.extend_from_slice(&(1u64 << 62).to_le_bytes());
    huge.extend_from_slice(b"K\x03\x86");
    let mut big = b"J".to_vec();
    big.extend_from_slice(&(1i32 << 30).to_le_bytes());
    big.extend_from_slice(b"K\x03\x86");
    for pickle in [long9, pickle_with_weight_size(&big)] {
        std::fs::write(&path, pth_with(&pickle, 24, 8)).unwrap();
        let err = load_pth(&path, &Device::Cpu).unwrap_err();
        assert!(matches!(err, DataError::Weights { .. }), "{err}");
        assert!(err.to_string().contains("bad.pth"), "{err}");
    }
    // candle skips a tensor whose size is not a small integer (it prints `skipping`): the
    // weight is missing, which the model loaders report.
    std::fs::write(&path, pth_with(&pickle_with_weight_size(&huge), 24, 8)).unwrap();
    if let Ok(t) = load_pth(&path, &Device::Cpu) {
        assert!(t.try_get("0.weight").is_none());
    }
}

/// A valid header can describe 2⁶⁴ − 8 bytes of data (shape [2⁶¹ − 1] of F64): the length
/// check `8 + n + data_len` overflowed (a panic in debug builds).
#[test]
fn safetensors_header_describing_nearly_2_pow_64_bytes_is_an_error() {
    let header = json!({
        "w": {"dtype": "F64", "shape": [(1u64 << 61) - 1], "data_offsets": [0, u64::MAX - 7]},
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.safetensors");
    std::fs::write(&path, safetensors_bytes(&header, &[0u8; 16], None)).unwrap();
    let err = inspect_safetensors(&path).unwrap_err();
    assert!(err.to_string().contains("huge.safetensors"), "{err}");
    assert!(load_weights(&path, &Device::Cpu).is_err());
}
