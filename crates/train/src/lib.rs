//! # ftnn-train — training networks that tolerate crashes
//!
//! SPEC §7: MSE (or MAE, cross-entropy) on mini-batches with Keras-compatible Adam and
//! Adadelta, optional **crash-dropout** `p_train` (crashed neurons output 0, survivors are
//! not rescaled — the paper's "dropout"), and the fault-tolerance regularizers `l1`, `l2`,
//! `balanced`, `continuous` (smooth(), Eq. 1) and `vardelta` (the b3 variance at the crashing
//! layer), combinable in one run. Metrics per epoch, also under crashes by Monte Carlo.
//! Everything is seeded: the same configuration gives the same network on CPU.
//!
//! Gradients come from a hand-written backward pass with candle GEMMs (the default whenever
//! no regularizer needs the data graph) or from candle's autodiff over a forward graph of
//! candle ops (always available as [`Backend::Autodiff`], and used for `vardelta`); the two
//! are tested to agree. The optimizer update runs in ftnn's own loops.
//!
//! ```
//! use ftnn_train::{Dataset, Optimizer, Regularizer, TrainConfig, Trainer};
//! // y = x₀ − x₁ on four points, a 2-8-1 sigmoid network.
//! let x = vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
//! let y = vec![0.0, 1.0, -1.0, 0.0];
//! let data = Dataset::regression(x, 2, y, 1)?;
//! let config = TrainConfig::new(vec![2, 8, 1])
//!     .epochs(300)
//!     .optimizer(Optimizer::adam().with_lr(0.02))
//!     .batch_size(4)
//!     .regularizer("l2=1e-4".parse::<Regularizer>()?);
//! let mut trainer = Trainer::new(config)?;
//! let history = trainer.fit(&data, Some(&data), &mut |_| {})?;
//! let last = history.epochs.last().unwrap().valid.unwrap();
//! assert!(last.mse < 0.05, "mse {}", last.mse);
//! let net = trainer.model()?; // an ftnn_model::Mlp, ready for Monte Carlo and bounds
//! assert_eq!(net.sizes(), vec![2, 8, 1]);
//! # Ok::<(), ftnn_train::TrainError>(())
//! ```

mod analytic;
pub mod config;
pub mod dataset;
pub mod error;
mod graph;
pub mod loss;
pub mod metrics;
pub mod optim;
pub mod regularizer;
pub mod seq;
pub mod trainer;

pub use config::{CrashEval, TrainConfig};
pub use dataset::Dataset;
pub use error::{Result, TrainError};
pub use loss::{Loss, LossGraph};
pub use metrics::{evaluate, evaluate_crashed, Metrics};
pub use optim::{Optimizer, OptimizerState};
pub use regularizer::Regularizer;
pub use trainer::{
    dropout_masks, dropout_masks_on, Backend, BatchProgress, EpochRecord, History, Trainer,
};
