//! Reading f32/f64 `.npy` arrays (inputs, crash masks) with clear errors.

use anyhow::{anyhow, bail, Context};
use ftnn_model::Inputs;
use std::path::Path;

/// An n-D array read from a `.npy` file, row-major (C order).
pub struct Array {
    /// Shape, outermost axis first.
    pub shape: Vec<usize>,
    /// Values in C order.
    pub data: Vec<f32>,
}

/// Reads a `.npy` file of dtype f32 or f64 (C or Fortran order) as f32 in C order.
pub fn read_array(path: &Path, what: &str) -> anyhow::Result<Array> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))?;
    parse_array(path, what, &bytes)
}

/// Checks what npyz trusts in a `.npy` header before it is handed to it: the header length
/// (npyz allocates it, up to 4 GiB, before reading) and every `shape` tuple (npyz multiplies the
/// dimensions without overflow checks: in a debug build a shape such as (2⁶², 20) panics, in
/// release it wraps). Every `'shape'` key is checked, so a repeated key cannot slip one past.
pub(crate) fn check_npy_header(bytes: &[u8]) -> Result<(), String> {
    // Magic and version; anything else is npyz's to reject.
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Ok(());
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(format!("header cut off after {} bytes", bytes.len())),
    };
    if len > bytes.len() - start {
        return Err(format!(
            "the header announces {len} bytes, the file holds {} after the preamble",
            bytes.len() - start
        ));
    }
    let header = String::from_utf8_lossy(&bytes[start..start + len]);
    let mut found = false;
    for quote in ["'shape'", "\"shape\""] {
        for (at, _) in header.match_indices(quote) {
            found = true;
            let rest = header[at + quote.len()..].trim_start();
            let rest = rest
                .strip_prefix(':')
                .map(str::trim_start)
                .ok_or("`shape` is not followed by `:`")?;
            let close = match rest.chars().next() {
                Some('(') => ')',
                Some('[') => ']',
                _ => return Err("`shape` is not a tuple".into()),
            };
            let end = rest.find(close).ok_or("`shape` tuple is not closed")?;
            // The product of the non-zero dimensions bounds every partial product npyz forms.
            let mut product = 1u64;
            for dim in rest[1..end]
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
            {
                let d: u64 = dim
                    .parse()
                    .map_err(|_| format!("shape entry `{dim}` is not a non-negative integer"))?;
                if d > 0 {
                    product = product
                        .checked_mul(d)
                        .filter(|&p| usize::try_from(p).is_ok())
                        .ok_or_else(|| {
                            format!(
                                "shape {} has more elements than fit in memory (its size \
                                 overflows)",
                                &rest[..=end]
                            )
                        })?;
                }
            }
        }
    }
    if !found {
        return Err("the header has no `shape` entry".into());
    }
    Ok(())
}

/// [`read_array`] on the bytes of a file (`path` names it in messages).
pub fn parse_array(path: &Path, what: &str, bytes: &[u8]) -> anyhow::Result<Array> {
    check_npy_header(bytes)
        .map_err(|e| anyhow!("{}: not a valid .npy file: {e}", path.display()))?;
    let npy = npyz::NpyFile::new(bytes)
        .map_err(|e| anyhow!("{}: not a valid .npy file: {e}", path.display()))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| anyhow!("{}: shape {shape:?} overflows", path.display()))?;
    let order = npy.order();
    let dtype = match npy.dtype() {
        npyz::DType::Plain(ts) => ts.to_string(),
        other => bail!("{}: unsupported dtype {other:?}", path.display()),
    };
    let truncated = |e: std::io::Error| {
        anyhow!(
            "{}: cannot read {count} values of shape {shape:?} ({e}); the file is truncated or \
             corrupt",
            path.display()
        )
    };
    let flat: Vec<f32> = match &dtype[1..] {
        "f4" => npy.into_vec::<f32>().map_err(truncated)?,
        "f8" => npy
            .into_vec::<f64>()
            .map_err(truncated)?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        _ => bail!(
            "{}: dtype {dtype} is not supported; save the {what} as float32 or float64",
            path.display()
        ),
    };
    if flat.len() != count {
        bail!(
            "{}: expected {count} values for shape {shape:?}, found {}; the file is truncated",
            path.display(),
            flat.len()
        );
    }
    let data = match order {
        npyz::Order::C => flat,
        npyz::Order::Fortran => fortran_to_c(&flat, &shape),
    };
    Ok(Array { shape, data })
}

/// Reorders a Fortran-order (first axis fastest) array into C order (last axis fastest).
fn fortran_to_c(flat: &[f32], shape: &[usize]) -> Vec<f32> {
    let mut out = vec![0f32; flat.len()];
    let mut idx = vec![0usize; shape.len()];
    for v in out.iter_mut() {
        // Fortran offset of the C-order multi-index `idx`.
        let (mut off, mut stride) = (0usize, 1usize);
        for (i, &d) in idx.iter().zip(shape) {
            off += i * stride;
            stride *= d;
        }
        *v = flat[off];
        for a in (0..shape.len()).rev() {
            idx[a] += 1;
            if idx[a] < shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    out
}

/// The header of a `.npy` file: what a reader would allocate, known before the data is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Shape, outermost axis first.
    pub shape: Vec<u64>,
    /// Size of the whole file in bytes.
    pub file_len: u64,
}

/// Largest `.npy` header [`peek_header`] reads (numpy writes a few hundred bytes).
const MAX_HEADER: usize = 1 << 20;

/// Reads only the header of a `.npy` file (the preamble and at most [`MAX_HEADER`] bytes), so
/// that the memory a file asks for can be checked before its data is read.
pub fn peek_header(path: &Path) -> anyhow::Result<Header> {
    use std::io::Read as _;
    let bad = |e: String| anyhow!("{}: not a valid .npy file: {e}", path.display());
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file_len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut pre = Vec::with_capacity(12);
    f.by_ref().take(12).read_to_end(&mut pre)?;
    if pre.len() < 10 || &pre[..6] != b"\x93NUMPY" {
        return Err(bad("no .npy preamble".into()));
    }
    let (len, start) = match pre[6] {
        1 => (u16::from_le_bytes([pre[8], pre[9]]) as usize, 10),
        _ if pre.len() == 12 => (
            u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]) as usize,
            12,
        ),
        _ => return Err(bad("header cut off".into())),
    };
    if len > MAX_HEADER {
        return Err(bad(format!(
            "the header announces {len} bytes, more than the {MAX_HEADER} ftnn reads"
        )));
    }
    let mut bytes = pre;
    let want = (start + len).saturating_sub(bytes.len());
    f.take(want as u64).read_to_end(&mut bytes)?;
    check_npy_header(&bytes).map_err(bad)?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| bad(e.to_string()))?;
    Ok(Header {
        shape: npy.shape().to_vec(),
        file_len,
    })
}

/// Reads `[N, n_0]` inputs from a `.npy` file of dtype f32 or f64 (C or Fortran order).
pub fn read_inputs(path: &Path) -> anyhow::Result<Inputs> {
    let a = read_array(path, "inputs")?;
    let [rows, cols] = a.shape[..] else {
        bail!(
            "{}: inputs must be a 2-D array [N, n_0], got shape {:?}",
            path.display(),
            a.shape
        );
    };
    Inputs::new(a.data, rows, cols).with_context(|| format!("inputs {}", path.display()))
}

#[cfg(test)]
mod tests {
    //! Property-based fuzzing of the `.npy` reader: every generated input gives an array or an
    //! error naming the file, never a panic. `FTNN_FUZZ_CASES` sets the number of cases per
    //! property (`cargo xtask fuzz` runs them in release with 100 000).

    use super::*;
    use proptest::prelude::*;

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

    /// A `.npy` file (version `major`) from its header dictionary and data bytes.
    fn npy(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
        let mut header = dict.to_owned();
        let pre = if major == 1 { 10 } else { 12 };
        while !(pre + header.len() + 1).is_multiple_of(64) {
            header.push(' ');
        }
        header.push('\n');
        let mut bytes = b"\x93NUMPY".to_vec();
        bytes.extend_from_slice(&[major, 0]);
        if major == 1 {
            bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        } else {
            bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    fn valid() -> Vec<u8> {
        let data: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
        npy(
            1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            &data,
        )
    }

    fn parse(bytes: &[u8]) -> anyhow::Result<Array> {
        let r = parse_array(Path::new("x.npy"), "inputs", bytes);
        if let Err(e) = &r {
            assert!(format!("{e:#}").contains("x.npy"), "{e:#}");
        }
        r
    }

    /// The inputs reader on top of the array reader.
    fn parse_inputs(bytes: &[u8]) {
        if let Ok(a) = parse(bytes) {
            assert_eq!(a.shape.iter().product::<usize>(), a.data.len());
            if let [rows, cols] = a.shape[..] {
                let _ = Inputs::new(a.data, rows, cols);
            }
        }
    }

    const DIMS: [&str; 14] = [
        "0",
        "1",
        "2",
        "3",
        "4611686018427387904",
        "18446744073709551615",
        "18446744073709551616",
        "4294967296",
        "-1",
        "2**62",
        "1.5",
        "True",
        "''",
        "6L",
    ];

    /// Header dictionaries with any dtype, order and shape (huge, negative, overflowing
    /// products, not integers), possibly with a key repeated.
    fn dict() -> impl Strategy<Value = String> {
        let dtype = prop::sample::select(vec![
            "'<f4'",
            "'<f8'",
            "'>f4'",
            "'|u1'",
            "'<i8'",
            "'<f2'",
            "'O'",
            "'<c8'",
            "'S3'",
            "[('a', '<f4')]",
            "'<f4",
            "3",
        ]);
        let order = prop::sample::select(vec!["False", "True", "0", "None"]);
        let shape = prop::collection::vec(prop::sample::select(DIMS.to_vec()), 0..4);
        (dtype, order, shape, any::<bool>(), 0u8..4).prop_map(
            |(dtype, order, shape, trailing, extra)| {
                let mut tuple = shape.join(", ");
                if trailing || shape.len() == 1 {
                    tuple.push(',');
                }
                let mut d =
                    format!("{{'descr': {dtype}, 'fortran_order': {order}, 'shape': ({tuple}), ");
                match extra {
                    0 => d += "'shape': (4611686018427387904, 20), ",
                    1 => d += "\"shape\": [2, 3], ",
                    _ => {}
                }
                d + "}"
            },
        )
    }

    /// Random bytes, or the valid file truncated, with bytes changed or an integer written
    /// over some of its bytes.
    fn mutated() -> impl Strategy<Value = Vec<u8>> {
        let seed = valid();
        let n = seed.len();
        let (s1, s2, s3) = (seed.clone(), seed.clone(), seed);
        prop_oneof![
            (0..=n).prop_map(move |k| s1[..k].to_vec()),
            prop::collection::vec((0..n, any::<u8>()), 1..6).prop_map(move |edits| {
                let mut v = s2.clone();
                for (i, b) in edits {
                    v[i] = b;
                }
                v
            }),
            (0..n, any::<u64>(), 1usize..=8).prop_map(move |(at, x, w)| {
                let mut v = s3.clone();
                for (i, b) in x.to_le_bytes()[..w].iter().enumerate() {
                    if let Some(slot) = v.get_mut(at + i) {
                        *slot = *b;
                    }
                }
                v
            }),
            prop::collection::vec(any::<u8>(), 0..128),
        ]
    }

    proptest! {
        #![proptest_config(config(3000))]

        #[test]
        fn fuzz_npy_structured(
            major in prop::sample::select(vec![1u8, 2, 3]),
            dict in dict(),
            len in prop_oneof![0usize..64, Just(24usize)],
        ) {
            parse_inputs(&npy(major, &dict, &vec![0x3f; len]));
        }

        #[test]
        fn fuzz_npy_mutated(bytes in mutated()) {
            parse_inputs(&bytes);
        }
    }

    #[test]
    fn valid_files_read() {
        let a = parse(&valid()).unwrap();
        assert_eq!(a.shape, [2, 3]);
        assert_eq!(a.data, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let f = npy(
            3,
            "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }",
            &[1.0f64, 2.0, 3.0, 4.0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<_>>(),
        );
        assert_eq!(parse(&f).unwrap().data, [1.0, 3.0, 2.0, 4.0]);
    }

    /// The known defect: npyz multiplies the shape unchecked — (2⁶², 20) panicked in debug
    /// builds and wrapped to 0 values in release, which an empty data section matched.
    #[test]
    fn overflowing_shapes_are_errors() {
        for dict in [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 20), }",
            "{'descr': '<f4', 'fortran_order': True, 'shape': (4294967296, 4294967296, 0), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'shape': (4611686018427387904, 4), }",
        ] {
            let err = parse(&npy(1, dict, &[])).err().expect(dict);
            assert!(format!("{err:#}").contains("overflows"), "{err:#}");
        }
        // A header length past the end of the file (npyz would allocate it first).
        let mut f = valid();
        f[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(parse(&f).is_err());
    }
}
