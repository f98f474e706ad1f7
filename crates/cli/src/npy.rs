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
    let npy = npyz::NpyFile::new(&bytes[..])
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
