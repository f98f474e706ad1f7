//! # ftnn-model — crash-injecting networks and the Monte Carlo engine
//!
//! The fault model of SPEC §1: each neuron of layer l crashes (outputs exactly 0,
//! survivors not rescaled) independently with probability p_l. This crate provides
//!
//! * [`Mlp`]: the fully connected network of SPEC §2 with [`Activation`]s carrying a
//!   Lipschitz constant K, seeded initialisations ([`Init`]), the ftnn safetensors model format
//!   and PyTorch `nn.Sequential` state-dict import ([`io`]);
//! * [`backward`]: the one backward recursion (vector–Jacobian products through the layers,
//!   batched over inputs) of the bounds, the decay metric and training;
//! * [`Loss`]: the data losses (MSE, MAE, cross-entropy) with their gradient and Hessian
//!   with respect to the output;
//! * [`FailureVector`]: validated crash probabilities, one per layer of neurons;
//! * [`MonteCarlo`]: the mean, std and standard error of Δ = ŷ − y over R seeded crash
//!   patterns, with the fast paths of SPEC §14 (prefix reuse, sparse updates, geometric
//!   skipping, stacked GEMM rows), deterministic whatever the thread count;
//! * [`exact_delta`]: exact E Δ and std Δ by enumerating all crash patterns (ground truth);
//! * [`Sequential`] ([`seq`]): CNNs and MLPs as one layer list (SPEC §11), on candle tensors,
//!   with their crash sites and a masked forward pass.

pub mod activation;
pub mod backward;
pub mod crash;
pub mod error;
pub mod exact;
pub mod failure;
pub mod inputs;
pub mod io;
pub mod loss;
pub mod mlp;
pub mod montecarlo;
pub mod norm;
pub mod runtime;
pub mod seq;

pub use activation::Activation;
pub use backward::Stop;
pub use error::{check_finite, check_len, ModelError, Result};
pub use exact::{exact_delta, ExactStats, DEFAULT_MAX_CRASHABLE};
pub use failure::FailureVector;
pub use inputs::Inputs;
pub use loss::Loss;
pub use mlp::{Dense, Init, Mlp, Trace};
pub use montecarlo::{DeltaStats, MonteCarlo, Strategy};
pub use norm::{operator_norm, vector_norm, Norm};
pub use seq::{Architecture, Layer, LayerSpec, Sequential, Site};
