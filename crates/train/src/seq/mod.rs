//! Training Sequential networks — CNNs and MLPs of SPEC §11's layer list — with cross-entropy,
//! crash-dropout at any crash site and the architecture's own dropout layers (SPEC §7, §9).
//!
//! * [`config`]: [`SeqTrainConfig`], the checked builder (optimizer, epochs, batch, seed,
//!   crash-dropout `(site, p)`: crashed elements output 0, survivors not rescaled; label
//!   smoothing; train subset; gray rows repeated over channels);
//! * [`init`]: Keras Glorot-uniform weights and zero biases from the seed;
//! * [`trainer`]: [`SeqTrainer`] (`fit`, `epoch`, `model`, interrupt) and [`accuracy`];
//! * [`presets`]: SPEC §9's MNIST CNN at any width, and the CNN of the original
//!   `AE_fgsm_mnist.ipynb`.
//!
//! Gradients come from candle's autodiff over a training forward of candle ops (`graph`);
//! the optimizer update is ftnn's own (Keras Adam / Adadelta, [`crate::optim`]). The trained
//! [`ftnn_model::seq::Sequential`] goes straight to Monte Carlo and the bounds.
//!
//! ```
//! use candle_core::Device;
//! use ftnn_model::seq::Architecture;
//! use ftnn_train::seq::{accuracy, SeqTrainConfig, SeqTrainer};
//! use ftnn_train::{Dataset, Optimizer};
//! // Two 2×2 "images": class 0 is bright on the left, class 1 on the right.
//! let x = vec![1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0];
//! let data = Dataset::classification(x, 4, vec![0, 1], 2)?;
//! let arch = Architecture::from_json(
//!     r#"{"input_shape": [1, 2, 2], "layers": [
//!         {"op": "conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 2},
//!         {"op": "softplus"}, {"op": "flatten"},
//!         {"op": "linear", "in_features": 2, "out_features": 2}, {"op": "softmax"}]}"#,
//! )?;
//! let config = SeqTrainConfig::new()
//!     .optimizer(Optimizer::adam().with_lr(0.05))
//!     .epochs(100)
//!     .batch_size(2)
//!     .crash_dropout(0, 0.1); // input pixels crash with probability 0.1 in training
//! let mut trainer = SeqTrainer::new(config, &arch, &Device::Cpu)?;
//! let history = trainer.fit(&data, None, &mut |_| {})?;
//! assert_eq!(history.epochs.len(), 100);
//! let net = trainer.model()?; // an ftnn_model::seq::Sequential
//! assert_eq!(accuracy(&net, &data, 2)?, 1.0);
//! # Ok::<(), ftnn_train::TrainError>(())
//! ```

pub mod config;
mod cpu_ops;
mod graph;
pub mod init;
pub mod presets;
pub mod trainer;

pub use config::{SeqTrainConfig, SiteDropout};
pub use trainer::{accuracy, SeqTrainer};
