//! The training losses (SPEC §7) as candle graphs, for the autodiff backend.
//!
//! The losses themselves — names, f64 value, gradient and Hessian, the f32 per-sample value
//! and the analytic batch gradient — are [`ftnn_model::Loss`]; this module only adds the
//! differentiable batch loss. All three average over the batch; MSE and MAE also average over
//! outputs, as Keras does:
//! - `mse`: mean_{b,k} (ŷ_bk − t_bk)²;
//! - `mae`: mean_{b,k} |ŷ_bk − t_bk|;
//! - `cross-entropy`: mean_b −Σ_k t_bk · log softmax(ŷ_b)_k (the network's output is the logits).

use candle_core::{Tensor, D};
pub use ftnn_model::Loss;

/// The batch loss of a [`Loss`] as a differentiable candle graph.
pub trait LossGraph {
    /// The batch loss as a differentiable scalar; `y` and `t` are `[batch, n_out]`.
    fn graph(self, y: &Tensor, t: &Tensor) -> candle_core::Result<Tensor>;
}

impl LossGraph for Loss {
    fn graph(self, y: &Tensor, t: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Mse => (y - t)?.sqr()?.mean_all(),
            Self::Mae => (y - t)?.abs()?.mean_all(),
            Self::CrossEntropy => {
                let logp = candle_nn::ops::log_softmax(y, D::Minus1)?;
                (logp * t)?.sum(D::Minus1)?.neg()?.mean_all()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The graphs against the batch means of the hand formulas: y = [[1, 3], [0, 0]],
    /// t = [[0, 1], [1, 0]].
    #[test]
    fn graphs_are_batch_means() {
        let dev = Device::Cpu;
        let y = Tensor::new(&[[1f32, 3.0], [0.0, 0.0]], &dev).unwrap();
        let t = Tensor::new(&[[0f32, 1.0], [1.0, 0.0]], &dev).unwrap();
        let v = |l: Loss| l.graph(&y, &t).unwrap().to_scalar::<f32>().unwrap();
        // (1 + 4 + 1 + 0)/4 and (1 + 2 + 1 + 0)/4.
        assert_eq!(v(Loss::Mse), 1.5);
        assert_eq!(v(Loss::Mae), 1.0);
        // Row 1: −log softmax(1, 3)_2 = log(1 + e^−2); row 2: log 2.
        let ce = ((1.0 + (-2f64).exp()).ln() + 2f64.ln()) / 2.0;
        assert!((v(Loss::CrossEntropy) as f64 - ce).abs() < 1e-6);
    }
}
