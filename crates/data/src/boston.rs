//! Boston Housing from `boston_house_prices.csv`, with the Keras train/test split.
//!
//! CSV layout (scikit-learn's copy): line 1 `506,13,…` (rows, features), line 2 the 14 column
//! names, then 506 rows of 13 features and the target `MEDV`. The Keras split
//! (`keras.datasets.boston_housing.load_data(test_split=0.2, seed=113)`) permutes the rows
//! with numpy's legacy `RandomState(113).shuffle` and takes the first 404 rows for training,
//! the last 102 for testing; it is recomputed here with [`crate::Mt19937`] and checked in the
//! tests against `data/boston_keras_split.txt`.

use std::path::Path;

use candle_core::{Device, Tensor};

use crate::dir::DataDir;
use crate::error::DataError;
use crate::mt19937::numpy_legacy_permutation;

/// Relative name of the Boston Housing CSV.
pub const BOSTON_CSV: &str = "boston_house_prices.csv";
/// Relative name of the committed Keras permutation (one row index per line).
pub const BOSTON_SPLIT: &str = "boston_keras_split.txt";
/// Keras' seed of the split.
pub const KERAS_SEED: u32 = 113;
/// Keras' default test fraction.
pub const KERAS_TEST_SPLIT: f64 = 0.2;

/// The Boston Housing data set: 506 rows, 13 features, target MEDV (k$).
#[derive(Debug, Clone, PartialEq)]
pub struct Boston {
    /// `n · n_features` values, row-major.
    pub features: Vec<f64>,
    /// `n` median house values (MEDV, thousands of dollars).
    pub target: Vec<f64>,
    /// The 13 feature names (`CRIM` … `LSTAT`).
    pub feature_names: Vec<String>,
    /// The target's name (`MEDV`).
    pub target_name: String,
    /// Number of rows.
    pub n: usize,
    /// Number of features per row.
    pub n_features: usize,
}

/// A train/test split of Boston Housing (row-major features).
#[derive(Debug, Clone, PartialEq)]
pub struct BostonSplit {
    /// Training features, `n_train · n_features`.
    pub x_train: Vec<f64>,
    /// Training targets, `n_train`.
    pub y_train: Vec<f64>,
    /// Test features, `n_test · n_features`.
    pub x_test: Vec<f64>,
    /// Test targets, `n_test`.
    pub y_test: Vec<f64>,
    /// Number of features per row.
    pub n_features: usize,
}

fn f32_tensor(v: &[f64], shape: &[usize], device: &Device) -> Result<Tensor, DataError> {
    let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Ok(Tensor::from_vec(v, shape, device)?)
}

impl BostonSplit {
    /// Number of training rows.
    pub fn n_train(&self) -> usize {
        self.y_train.len()
    }

    /// Number of test rows.
    pub fn n_test(&self) -> usize {
        self.y_test.len()
    }

    /// Training row `i`.
    pub fn train_row(&self, i: usize) -> &[f64] {
        &self.x_train[i * self.n_features..(i + 1) * self.n_features]
    }

    /// Test row `i`.
    pub fn test_row(&self, i: usize) -> &[f64] {
        &self.x_test[i * self.n_features..(i + 1) * self.n_features]
    }

    /// `(x_train [n_train, 13], y_train [n_train], x_test [n_test, 13], y_test [n_test])` as
    /// f32 tensors.
    pub fn tensors_f32(&self, device: &Device) -> Result<[Tensor; 4], DataError> {
        let f = self.n_features;
        Ok([
            f32_tensor(&self.x_train, &[self.n_train(), f], device)?,
            f32_tensor(&self.y_train, &[self.n_train()], device)?,
            f32_tensor(&self.x_test, &[self.n_test(), f], device)?,
            f32_tensor(&self.y_test, &[self.n_test()], device)?,
        ])
    }
}

impl Boston {
    /// Row `i` of the features.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.features[i * self.n_features..(i + 1) * self.n_features]
    }

    /// Features `[n, 13]` and target `[n]` as f32 tensors.
    pub fn tensors_f32(&self, device: &Device) -> Result<(Tensor, Tensor), DataError> {
        Ok((
            f32_tensor(&self.features, &[self.n, self.n_features], device)?,
            f32_tensor(&self.target, &[self.n], device)?,
        ))
    }

    /// The split used by the paper: Keras' `boston_housing.load_data()` (seed 113, 20 % test):
    /// 404 training rows, 102 test rows.
    pub fn keras_split(&self) -> BostonSplit {
        self.keras_split_with(KERAS_SEED, KERAS_TEST_SPLIT)
    }

    /// Keras' split with another seed or test fraction: rows permuted by numpy's legacy
    /// `RandomState(seed).shuffle`, the first `⌊n · (1 − test_split)⌋` rows for training.
    pub fn keras_split_with(&self, seed: u32, test_split: f64) -> BostonSplit {
        let perm = numpy_legacy_permutation(seed, self.n);
        let n_train = ((self.n as f64) * (1.0 - test_split))
            .floor()
            .clamp(0.0, self.n as f64);
        self.split_by(&perm, n_train as usize)
    }

    /// Rows in the order of `perm`, the first `n_train` for training. Indices must be `< n`.
    pub fn split_by(&self, perm: &[usize], n_train: usize) -> BostonSplit {
        let n_train = n_train.min(perm.len());
        let f = self.n_features;
        let gather_x = |idx: &[usize]| -> Vec<f64> {
            idx.iter()
                .flat_map(|&i| self.row(i).iter().copied())
                .collect()
        };
        let gather_y =
            |idx: &[usize]| -> Vec<f64> { idx.iter().map(|&i| self.target[i]).collect() };
        let (train, test) = perm.split_at(n_train);
        BostonSplit {
            x_train: gather_x(train),
            y_train: gather_y(train),
            x_test: gather_x(test),
            y_test: gather_y(test),
            n_features: f,
        }
    }
}

/// Loads `boston_house_prices.csv` from the data folder (checksum verified).
pub fn load_boston(dir: &DataDir) -> Result<Boston, DataError> {
    let bytes = dir.read_verified(BOSTON_CSV)?;
    parse_boston_csv(&dir.file(BOSTON_CSV), &bytes)
}

/// Loads the committed Keras permutation `boston_keras_split.txt` (checksum verified); it
/// must be a permutation of `0..506`.
pub fn load_boston_keras_permutation(dir: &DataDir) -> Result<Vec<usize>, DataError> {
    let bytes = dir.read_verified(BOSTON_SPLIT)?;
    parse_permutation(&dir.file(BOSTON_SPLIT), &bytes)
}

/// Parses one index per line and checks that the result is a permutation of `0..len`.
pub fn parse_permutation(path: &Path, bytes: &[u8]) -> Result<Vec<usize>, DataError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| DataError::corrupt(path, format!("not UTF-8 text: {e}")))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let v: usize = line.parse().map_err(|_| DataError::Csv {
            path: path.to_owned(),
            line: i + 1,
            reason: format!("`{line}` is not a row index"),
        })?;
        out.push(v);
    }
    let mut seen = vec![false; out.len()];
    for &v in &out {
        if v >= out.len() || std::mem::replace(&mut seen[v], true) {
            return Err(DataError::corrupt(
                path,
                format!(
                    "not a permutation of 0..{}: index {v} is out of range or repeated",
                    out.len()
                ),
            ));
        }
    }
    Ok(out)
}

/// Parses the Boston CSV (path used in messages).
pub fn parse_boston_csv(path: &Path, bytes: &[u8]) -> Result<Boston, DataError> {
    let csv_err = |line: usize, reason: String| DataError::Csv {
        path: path.to_owned(),
        line,
        reason,
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|e| DataError::corrupt(path, format!("not UTF-8 text: {e}")))?;
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')));

    // Line 1: `506,13,,,…`.
    let (_, first) = lines
        .next()
        .ok_or_else(|| DataError::corrupt(path, "empty file"))?;
    let mut head = first.split(',').map(str::trim);
    let mut count = |what: &str| -> Result<usize, DataError> {
        let field = head.next().unwrap_or("");
        field.parse().map_err(|_| {
            csv_err(
                1,
                format!(
                    "expected the {what} as an integer, found `{field}` (first line `506,13,…`)"
                ),
            )
        })
    };
    let n = count("number of rows")?;
    let n_features = count("number of features")?;
    // Line 1 is untrusted: `n_features + 1` and `n × n_features` must not overflow.
    let width = n_features
        .checked_add(1)
        .filter(|_| n.checked_mul(n_features).is_some())
        .ok_or_else(|| {
            csv_err(
                1,
                format!("{n} rows of {n_features} features cannot be stored (the size overflows)"),
            )
        })?;

    // Line 2: column names.
    let (_, names_line) = lines
        .next()
        .ok_or_else(|| csv_err(2, "missing the line of column names".into()))?;
    let names: Vec<String> = names_line
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_owned())
        .collect();
    if names.len() != width {
        return Err(csv_err(
            2,
            format!(
                "{} column names, expected {} (features + target)",
                names.len(),
                width
            ),
        ));
    }

    // Capacity hints bounded by the file's size (line 1 may announce anything).
    let mut features = Vec::with_capacity((n * n_features).min(bytes.len()));
    let mut target = Vec::with_capacity(n.min(bytes.len()));
    let mut rows = 0usize;
    for (line_no, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        if rows == n {
            return Err(csv_err(
                line_no,
                format!("more data rows than the {n} announced on line 1"),
            ));
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != width {
            return Err(csv_err(
                line_no,
                format!("{} fields, expected {}", fields.len(), width),
            ));
        }
        for (col, field) in fields.iter().enumerate() {
            let v: f64 = field.parse().map_err(|_| {
                csv_err(
                    line_no,
                    format!(
                        "field {} (`{}`) is not a number: `{field}`",
                        col + 1,
                        names[col]
                    ),
                )
            })?;
            if !v.is_finite() {
                return Err(csv_err(
                    line_no,
                    format!(
                        "field {} (`{}`) is not finite: `{field}`",
                        col + 1,
                        names[col]
                    ),
                ));
            }
            if col < n_features {
                features.push(v);
            } else {
                target.push(v);
            }
        }
        rows += 1;
    }
    if rows != n {
        return Err(DataError::corrupt(
            path,
            format!("truncated: {rows} data rows, line 1 announces {n}"),
        ));
    }
    let mut feature_names = names;
    let target_name = feature_names.pop().unwrap_or_default();
    Ok(Boston {
        features,
        target,
        feature_names,
        target_name,
        n,
        n_features,
    })
}
