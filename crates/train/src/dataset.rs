//! In-memory training data: inputs, targets and (for classification) labels.
//!
//! Classification targets are one-hot vectors (the paper trains MNIST with MSE on one-hot
//! targets, SPEC §7); regression targets are the raw values.

use crate::error::{Result, TrainError};
use candle_core::{Device, Tensor};
use ftnn_data::{BostonSplit, ImageData};

/// A data set of `rows` examples: inputs `[rows, n_in]`, targets `[rows, n_out]`.
#[derive(Debug, Clone)]
pub struct Dataset {
    x: Vec<f32>,
    targets: Vec<f32>,
    labels: Option<Vec<u32>>,
    rows: usize,
    n_in: usize,
    n_out: usize,
}

impl Dataset {
    /// A regression data set; every value must be finite.
    pub fn regression(x: Vec<f32>, n_in: usize, targets: Vec<f32>, n_out: usize) -> Result<Self> {
        Self::build(x, n_in, targets, n_out, None)
    }

    /// A classification data set with one-hot targets over `n_classes` classes.
    pub fn classification(
        x: Vec<f32>,
        n_in: usize,
        labels: Vec<u32>,
        n_classes: usize,
    ) -> Result<Self> {
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= n_classes) {
            return Err(TrainError::Data(format!(
                "label {bad} is out of range for {n_classes} classes"
            )));
        }
        let mut targets = vec![0f32; labels.len() * n_classes];
        for (r, &l) in labels.iter().enumerate() {
            targets[r * n_classes + l as usize] = 1.0;
        }
        Self::build(x, n_in, targets, n_classes, Some(labels))
    }

    /// MNIST or Fashion-MNIST images (flattened to 784 values in [0, 1]) with one-hot targets.
    pub fn from_images(images: &ImageData) -> Result<Self> {
        let labels = images.labels.iter().map(|&l| l as u32).collect();
        Self::classification(images.images.clone(), images.pixels(), labels, 10)
    }

    /// The Keras split of Boston Housing as `(train, test)`: 13 raw features, the median value
    /// as the single target (SPEC §13).
    pub fn boston(split: &BostonSplit) -> Result<(Self, Self)> {
        let f = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
        let n = split.n_features;
        Ok((
            Self::regression(f(&split.x_train), n, f(&split.y_train), 1)?,
            Self::regression(f(&split.x_test), n, f(&split.y_test), 1)?,
        ))
    }

    fn build(
        x: Vec<f32>,
        n_in: usize,
        targets: Vec<f32>,
        n_out: usize,
        labels: Option<Vec<u32>>,
    ) -> Result<Self> {
        if n_in == 0 || n_out == 0 {
            return Err(TrainError::Data(
                "inputs and targets need at least one column".into(),
            ));
        }
        if x.is_empty() || !x.len().is_multiple_of(n_in) {
            return Err(TrainError::Data(format!(
                "{} input values do not form rows of width {n_in}",
                x.len()
            )));
        }
        let rows = x.len() / n_in;
        if targets.len() != rows * n_out {
            return Err(TrainError::Data(format!(
                "{rows} inputs but {} target values (expected {rows} × {n_out})",
                targets.len()
            )));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(TrainError::Data(format!(
                "input value {} of row {} is not finite",
                i % n_in,
                i / n_in
            )));
        }
        if let Some(i) = targets.iter().position(|v| !v.is_finite()) {
            return Err(TrainError::Data(format!(
                "target of row {} is not finite",
                i / n_out
            )));
        }
        Ok(Self {
            x,
            targets,
            labels,
            rows,
            n_in,
            n_out,
        })
    }

    /// The examples `range` as a new data set.
    pub fn subset(&self, range: std::ops::Range<usize>) -> Result<Self> {
        if range.start >= range.end || range.end > self.rows {
            return Err(TrainError::Data(format!(
                "rows {range:?} are not a non-empty part of 0..{}",
                self.rows
            )));
        }
        let x = self.x[range.start * self.n_in..range.end * self.n_in].to_vec();
        let t = self.targets[range.start * self.n_out..range.end * self.n_out].to_vec();
        let labels = self.labels.as_ref().map(|l| l[range].to_vec());
        Self::build(x, self.n_in, t, self.n_out, labels)
    }

    /// Number of examples.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Input width.
    pub fn n_in(&self) -> usize {
        self.n_in
    }
    /// Target width (number of classes for classification).
    pub fn n_out(&self) -> usize {
        self.n_out
    }
    /// Inputs, row-major `[rows, n_in]`.
    pub fn x(&self) -> &[f32] {
        &self.x
    }
    /// Targets, row-major `[rows, n_out]`.
    pub fn targets(&self) -> &[f32] {
        &self.targets
    }
    /// Class labels, for classification data.
    pub fn labels(&self) -> Option<&[u32]> {
        self.labels.as_deref()
    }
    /// Input row `r`.
    pub fn input(&self, r: usize) -> &[f32] {
        &self.x[r * self.n_in..(r + 1) * self.n_in]
    }
    /// Target row `r`.
    pub fn target(&self, r: usize) -> &[f32] {
        &self.targets[r * self.n_out..(r + 1) * self.n_out]
    }
    /// Inputs and targets of the examples `idx` as `[idx.len(), n_in]` and
    /// `[idx.len(), n_out]` tensors on `device` (one gather per mini-batch, on the host).
    pub(crate) fn batch(&self, idx: &[u32], device: &Device) -> Result<(Tensor, Tensor)> {
        let (x, t) = self.batch_values(idx);
        Ok((
            Tensor::from_vec(x, (idx.len(), self.n_in), device)?,
            Tensor::from_vec(t, (idx.len(), self.n_out), device)?,
        ))
    }

    /// The same as row-major vectors.
    pub(crate) fn batch_values(&self, idx: &[u32]) -> (Vec<f32>, Vec<f32>) {
        let gather = |src: &[f32], width: usize| {
            let mut out = Vec::with_capacity(idx.len() * width);
            for &r in idx {
                let r = r as usize;
                out.extend_from_slice(&src[r * width..(r + 1) * width]);
            }
            out
        };
        (
            gather(&self.x, self.n_in),
            gather(&self.targets, self.n_out),
        )
    }

    /// All inputs and targets as tensors on `device`.
    pub(crate) fn tensors(&self, device: &Device) -> Result<(Tensor, Tensor)> {
        Ok((
            Tensor::from_slice(&self.x, (self.rows, self.n_in), device)?,
            Tensor::from_slice(&self.targets, (self.rows, self.n_out), device)?,
        ))
    }
}
