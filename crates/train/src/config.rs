//! The training configuration (SPEC §7), a checked builder in the style of linfa: every
//! setter is infallible, [`TrainConfig::validate`] (called by the trainer) refuses bad values
//! with a message naming the field.

use crate::dataset::Dataset;
use crate::error::{Result, TrainError};
use crate::optim::Optimizer;
use crate::regularizer::Regularizer;
use ftnn_model::Loss;
use ftnn_model::{Activation, FailureVector, Init};

/// Crashed evaluation of the validation set after each epoch.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CrashEval {
    /// Crash probabilities, one per layer of neurons.
    pub p: FailureVector,
    /// Passes over the validation set.
    pub repetitions: usize,
}

/// Everything that defines a training run; the same configuration and data give the same
/// network, bit for bit, on CPU.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Widths `[n_0, …, n_L]`.
    pub sizes: Vec<usize>,
    /// Hidden activation.
    pub activation: Activation,
    /// Lipschitz constant K.
    pub k_lips: f64,
    /// Weight initialisation (SPEC §2).
    pub init: Init,
    /// Data loss.
    pub loss: Loss,
    /// Optimizer.
    pub optimizer: Optimizer,
    /// Passes over the training set.
    pub epochs: usize,
    /// Examples per mini-batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Crash-dropout probabilities during training, one per layer of neurons (SPEC §1: crashed
    /// neurons output 0, survivors are not rescaled).
    pub p_train: Option<FailureVector>,
    /// Regularization terms added to the loss.
    pub regularizers: Vec<Regularizer>,
    /// Seed of the initialisation, the data order and the crash-dropout masks.
    pub seed: u64,
    /// Optional crashed evaluation of the validation set after each epoch.
    pub crash_eval: Option<CrashEval>,
}

impl TrainConfig {
    /// The paper's defaults for `sizes`: sigmoid with K = 1, the paper's initialisation, MSE,
    /// Adam, 10 epochs of batches of 100, no dropout, no regularization, seed 0.
    pub fn new(sizes: Vec<usize>) -> Self {
        Self {
            sizes,
            activation: Activation::Sigmoid,
            k_lips: 1.0,
            init: Init::Paper,
            loss: Loss::Mse,
            optimizer: Optimizer::adam(),
            epochs: 10,
            batch_size: 100,
            p_train: None,
            regularizers: Vec::new(),
            seed: 0,
            crash_eval: None,
        }
    }

    /// Sets the activation.
    pub fn activation(mut self, a: Activation) -> Self {
        self.activation = a;
        self
    }
    /// Sets K.
    pub fn k_lips(mut self, k: f64) -> Self {
        self.k_lips = k;
        self
    }
    /// Sets the initialisation.
    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }
    /// Sets the loss.
    pub fn loss(mut self, loss: Loss) -> Self {
        self.loss = loss;
        self
    }
    /// Sets the optimizer.
    pub fn optimizer(mut self, o: Optimizer) -> Self {
        self.optimizer = o;
        self
    }
    /// Sets the number of epochs.
    pub fn epochs(mut self, e: usize) -> Self {
        self.epochs = e;
        self
    }
    /// Sets the batch size.
    pub fn batch_size(mut self, b: usize) -> Self {
        self.batch_size = b;
        self
    }
    /// Sets the crash-dropout probabilities.
    pub fn p_train(mut self, p: FailureVector) -> Self {
        self.p_train = Some(p);
        self
    }
    /// Adds a regularizer.
    pub fn regularizer(mut self, r: Regularizer) -> Self {
        self.regularizers.push(r);
        self
    }
    /// Sets the seed.
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = s;
        self
    }
    /// Evaluates the validation set under crashes after each epoch.
    pub fn crash_eval(mut self, p: FailureVector, repetitions: usize) -> Self {
        self.crash_eval = Some(CrashEval { p, repetitions });
        self
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(TrainError::Config(m));
        if self.sizes.len() < 2 || self.sizes.contains(&0) {
            return bad(format!(
                "sizes {:?}: need an input and an output layer, every width ≥ 1",
                self.sizes
            ));
        }
        if !(self.k_lips.is_finite() && self.k_lips > 0.0) {
            return bad(format!("K = {} must be finite and > 0", self.k_lips));
        }
        if self.epochs == 0 {
            return bad("epochs must be ≥ 1".into());
        }
        if self.batch_size == 0 {
            return bad("the batch size must be ≥ 1".into());
        }
        self.optimizer.validate()?;
        let layers = self.sizes.len();
        if let Some(p) = &self.p_train {
            p.check_len(layers)
                .map_err(|e| TrainError::Config(format!("p_train: {e}")))?;
        }
        if let Some(c) = &self.crash_eval {
            c.p.check_len(layers)
                .map_err(|e| TrainError::Config(format!("crashed evaluation: {e}")))?;
            if c.repetitions == 0 {
                return bad("crashed evaluation needs at least one repetition".into());
            }
        }
        for r in &self.regularizers {
            r.validate(&self.sizes)?;
        }
        Ok(())
    }

    /// Checks that `data` fits the network: n_0 inputs and n_L targets per example.
    pub fn check_data(&self, data: &Dataset, what: &str) -> Result<()> {
        let (n_in, n_out) = (self.sizes[0], *self.sizes.last().expect("validated"));
        if data.n_in() != n_in || data.n_out() != n_out {
            return Err(TrainError::Data(format!(
                "the {what} set has {} inputs and {} targets per example, but the network is {:?} ({n_in} inputs, {n_out} outputs)",
                data.n_in(),
                data.n_out(),
                self.sizes
            )));
        }
        Ok(())
    }
}
