//! A validated batch of input rows.

use crate::error::check_finite;
use crate::error::{ModelError, Result};

/// `rows` input vectors of width `cols`, row-major, all finite.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    data: Vec<f32>,
    rows: usize,
    cols: usize,
}

impl Inputs {
    /// Checks that `data` holds `rows × cols` finite values and that there is at least one row.
    pub fn new(data: Vec<f32>, rows: usize, cols: usize) -> Result<Self> {
        if rows == 0 {
            return Err(ModelError::NoInputs);
        }
        if cols == 0 {
            return Err(ModelError::Shape {
                what: "inputs".into(),
                expected: "at least one value per input".into(),
                got: format!("{rows} × 0"),
            });
        }
        // From a file header, rows × cols can be anything: check it without wrapping.
        let count = rows.checked_mul(cols).ok_or_else(|| ModelError::Shape {
            what: "inputs".into(),
            expected: format!("{rows} × {cols} values"),
            got: "a shape whose size overflows".into(),
        })?;
        if data.len() != count {
            return Err(ModelError::Shape {
                what: "inputs".into(),
                expected: format!("{rows} × {cols} = {count} values"),
                got: format!("{} values", data.len()),
            });
        }
        check_finite("inputs", &data)?;
        Ok(Self { data, rows, cols })
    }

    /// One input per row of a nested vector.
    pub fn from_rows(rows: &[Vec<f32>]) -> Result<Self> {
        let cols = rows.first().map_or(0, Vec::len);
        if let Some((r, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != cols) {
            return Err(ModelError::Shape {
                what: format!("input row {r}"),
                expected: format!("{cols} values"),
                got: format!("{} values", row.len()),
            });
        }
        Self::new(rows.concat(), rows.len(), cols)
    }

    /// Checks that the width matches a network's input width.
    pub fn check_width(&self, n_inputs: usize) -> Result<()> {
        if self.cols != n_inputs {
            return Err(ModelError::Shape {
                what: "input width".into(),
                expected: format!("{n_inputs} (the network's input layer)"),
                got: self.cols.to_string(),
            });
        }
        Ok(())
    }

    /// All values, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }
    /// Number of inputs.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Width of each input.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Input `r`.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(Inputs::new(vec![1.0; 6], 2, 3).is_ok());
        assert!(matches!(
            Inputs::new(vec![1.0; 5], 2, 3),
            Err(ModelError::Shape { .. })
        ));
        assert!(matches!(
            Inputs::new(vec![], 0, 3),
            Err(ModelError::NoInputs)
        ));
        let err = Inputs::new(vec![1.0, f32::INFINITY], 1, 2).unwrap_err();
        assert!(matches!(err, ModelError::NonFinite { index: 1, .. }));
        assert!(Inputs::from_rows(&[vec![1.0, 2.0], vec![3.0]]).is_err());
        let x = Inputs::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0]]).unwrap();
        assert_eq!(x.row(1), &[3.0, 4.0]);
        assert!(x.check_width(3).is_err());
    }

    /// A header shape such as (2⁶², 20) wraps to 0 values in release: a clear error instead,
    /// and (2⁶², 0) — 0 values, 2⁶² rows of width 0 — is refused too.
    #[test]
    fn overflowing_and_empty_shapes_are_errors() {
        let err = Inputs::new(vec![], 1 << 62, 20).unwrap_err();
        assert!(matches!(err, ModelError::Shape { .. }), "{err}");
        assert!(err.to_string().contains("overflows"), "{err}");
        assert!(Inputs::new(vec![], usize::MAX, usize::MAX).is_err());
        assert!(Inputs::new(vec![], 1 << 62, 0).is_err());
        assert!(Inputs::from_rows(&[vec![], vec![]]).is_err());
    }
}
