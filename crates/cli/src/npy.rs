//! Reading 2-D f32/f64 `.npy` input files with clear errors.

use anyhow::{anyhow, bail, Context};
use ftnn_model::Inputs;
use std::path::Path;

/// Reads `[N, n_0]` inputs from a `.npy` file of dtype f32 or f64 (C or Fortran order).
pub fn read_inputs(path: &Path) -> anyhow::Result<Inputs> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read inputs {}", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| anyhow!("{}: not a valid .npy file: {e}", path.display()))?;
    let shape = npy.shape().to_vec();
    let [rows, cols] = shape[..] else {
        bail!(
            "{}: inputs must be a 2-D array [N, n_0], got shape {shape:?}",
            path.display()
        );
    };
    let (rows, cols) = (rows as usize, cols as usize);
    let order = npy.order();
    let dtype = match npy.dtype() {
        npyz::DType::Plain(ts) => ts.to_string(),
        other => bail!("{}: unsupported dtype {other:?}", path.display()),
    };
    let truncated = |e: std::io::Error| {
        anyhow!(
            "{}: cannot read {rows}×{cols} values ({e}); the file is truncated or corrupt",
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
            "{}: dtype {dtype} is not supported; save the inputs as float32 or float64",
            path.display()
        ),
    };
    if flat.len() != rows * cols {
        bail!(
            "{}: expected {} values for shape [{rows}, {cols}], found {}; the file is truncated",
            path.display(),
            rows * cols,
            flat.len()
        );
    }
    let data = match order {
        npyz::Order::C => flat,
        npyz::Order::Fortran => {
            let mut c = vec![0f32; rows * cols];
            for r in 0..rows {
                for k in 0..cols {
                    c[r * cols + k] = flat[k * rows + r];
                }
            }
            c
        }
    };
    Inputs::new(data, rows, cols).with_context(|| format!("inputs {}", path.display()))
}
