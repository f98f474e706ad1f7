//! Boston Housing as the experiments use it ([`BostonData`]).

use ftnn_data::{load_boston, DataDir};
use ftnn_model::Inputs;
use ftnn_train::Dataset;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Boston Housing as the experiments use it: the Keras split, features optionally
/// standardised with the training split's statistics.
pub struct BostonData {
    /// The 404 training rows.
    pub train: Dataset,
    /// The 102 test rows.
    pub test: Dataset,
    /// All 506 inputs, training rows first.
    pub all: Inputs,
}

impl BostonData {
    /// Loads the data (checksums verified) and splits it as Keras does; with `standardise`,
    /// every feature is shifted and scaled by the training rows' mean and population std.
    pub fn load(standardise: bool) -> anyhow::Result<Self> {
        let dir = DataDir::locate()?;
        let split = load_boston(&dir)?.keras_split();
        let f = split.n_features;
        let (mut x_train, mut x_test) = (split.x_train.clone(), split.x_test.clone());
        if standardise {
            let n = split.n_train() as f64;
            for j in 0..f {
                let col = || split.x_train.iter().skip(j).step_by(f);
                let mean = col().sum::<f64>() / n;
                let sd = (col().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
                let sd = if sd > 0.0 { sd } else { 1.0 };
                for x in [&mut x_train, &mut x_test] {
                    x.iter_mut()
                        .skip(j)
                        .step_by(f)
                        .for_each(|v| *v = (*v - mean) / sd);
                }
            }
        }
        let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
        let train = Dataset::regression(f32s(&x_train), f, f32s(&split.y_train), 1)?;
        let test = Dataset::regression(f32s(&x_test), f, f32s(&split.y_test), 1)?;
        let mut all = f32s(&x_train);
        all.extend(f32s(&x_test));
        let all = Inputs::new(all, split.n_train() + split.n_test(), f)?;
        Ok(Self { train, test, all })
    }

    /// `k` inputs (all of them if `k` ≥ 506): the first `k` of a permutation seeded by `seed`.
    pub fn inputs(&self, k: usize, seed: u64) -> anyhow::Result<Inputs> {
        let n = self.all.rows();
        if k >= n {
            return Ok(self.all.clone());
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let rows: Vec<Vec<f32>> = order[..k]
            .iter()
            .map(|&r| self.all.row(r).to_vec())
            .collect();
        Ok(Inputs::from_rows(&rows)?)
    }
}
