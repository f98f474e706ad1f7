//! The configuration of a Sequential (CNN) training run (SPEC §7, §9), a checked builder: every
//! setter is infallible and [`SeqTrainConfig::validate`] (called by the trainer) refuses bad
//! values with a typed [`TrainError`] naming the field.
//!
//! * loss: cross-entropy `mean_b −log softmax(z_b)_{y_b}` over the logits `z` (a final
//!   `softmax` layer is skipped in training and the log-softmax of its input is used, for
//!   numerical stability), with optional label smoothing `t ← (1 − s)·t + s/K` (cleverhans,
//!   used by the original `AE_fgsm_mnist.ipynb` with s = 0.1);
//! * crash-dropout (SPEC §7, §1): at each listed crash site (SPEC §11 "Crash sites"; 0 is the
//!   input) every element of every example crashes independently with probability p and
//!   outputs 0, survivors are **not** rescaled;
//! * the architecture's own `dropout` layers: standard inverted dropout in training (zero
//!   with probability p, survivors × 1/(1 − p)), identity at evaluation.

use crate::dataset::Dataset;
use crate::error::{Result, TrainError};
use crate::optim::Optimizer;

/// Crash-dropout at one crash site: `(site index, probability)`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SiteDropout {
    /// Index into [`ftnn_model::seq::Sequential::sites`] (0 = the network input).
    pub site: usize,
    /// Crash probability of every element of the site's tensor, in [0, 1].
    pub p: f64,
}

/// Everything that defines a Sequential training run; the same configuration and data give
/// the same network, bit for bit, on CPU whatever the thread count.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SeqTrainConfig {
    /// Optimizer (SPEC §7: Keras Adadelta or Adam).
    pub optimizer: Optimizer,
    /// Passes over the training set.
    pub epochs: usize,
    /// Examples per mini-batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Seed of the initialisation, the data order and every dropout mask.
    pub seed: u64,
    /// Crash-dropout per site (crashed elements output 0, survivors not rescaled).
    pub crash_dropout: Vec<SiteDropout>,
    /// Label smoothing s in [0, 1) of the cross-entropy targets.
    pub label_smoothing: f64,
    /// Train on the first `n` examples only.
    pub train_subset: Option<usize>,
    /// Repeat each gray input row over this many channels (SPEC §9's MNIST CNN reads the
    /// 28×28 image repeated to 3 channels); `None`: rows already have the input's size.
    pub repeat_channels: Option<usize>,
}

impl Default for SeqTrainConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl SeqTrainConfig {
    /// SPEC §9's defaults: Adadelta (lr 1.0, ρ 0.95, ε 1e-7), 10 epochs of batches of 128,
    /// seed 0, no crash-dropout, no label smoothing, the whole training set, no channel
    /// repetition.
    pub fn new() -> Self {
        Self {
            optimizer: Optimizer::adadelta(),
            epochs: 10,
            batch_size: 128,
            seed: 0,
            crash_dropout: Vec::new(),
            label_smoothing: 0.0,
            train_subset: None,
            repeat_channels: None,
        }
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
    /// Sets the mini-batch size.
    pub fn batch_size(mut self, b: usize) -> Self {
        self.batch_size = b;
        self
    }
    /// Sets the seed.
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = s;
        self
    }
    /// Adds crash-dropout with probability `p` at crash site `site`.
    pub fn crash_dropout(mut self, site: usize, p: f64) -> Self {
        self.crash_dropout.push(SiteDropout { site, p });
        self
    }
    /// Sets the label smoothing.
    pub fn label_smoothing(mut self, s: f64) -> Self {
        self.label_smoothing = s;
        self
    }
    /// Trains on the first `n` examples only.
    pub fn train_subset(mut self, n: usize) -> Self {
        self.train_subset = Some(n);
        self
    }
    /// Repeats each input row over `c` channels.
    pub fn repeat_channels(mut self, c: usize) -> Self {
        self.repeat_channels = Some(c);
        self
    }

    /// Checks the values that do not depend on the network.
    pub fn validate(&self) -> Result<()> {
        self.optimizer.validate()?;
        if self.epochs == 0 {
            return Err(TrainError::Config("epochs must be at least 1".into()));
        }
        if self.batch_size == 0 {
            return Err(TrainError::Config("batch_size must be at least 1".into()));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(TrainError::Config(format!(
                "label_smoothing = {} is not in [0, 1)",
                self.label_smoothing
            )));
        }
        if self.train_subset == Some(0) {
            return Err(TrainError::Config("train_subset must be at least 1".into()));
        }
        if self.repeat_channels == Some(0) {
            return Err(TrainError::Config(
                "repeat_channels must be at least 1".into(),
            ));
        }
        for (i, d) in self.crash_dropout.iter().enumerate() {
            if !(0.0..=1.0).contains(&d.p) {
                return Err(TrainError::Config(format!(
                    "crash-dropout p = {} at site {} is not a probability in [0, 1]",
                    d.p, d.site
                )));
            }
            if self.crash_dropout[..i].iter().any(|e| e.site == d.site) {
                return Err(TrainError::Config(format!(
                    "crash-dropout is given twice for site {}",
                    d.site
                )));
            }
        }
        Ok(())
    }

    /// Checks the site indices against a network with `n_sites` crash sites: the output site
    /// (the last) cannot crash in training (the loss reads the logits).
    pub(crate) fn check_sites(&self, n_sites: usize) -> Result<()> {
        for d in &self.crash_dropout {
            if d.site + 1 >= n_sites {
                return Err(TrainError::Config(format!(
                    "crash-dropout site {} is out of range: the network has sites 0..{} and \
                     the output site {} cannot crash in training",
                    d.site,
                    n_sites.saturating_sub(1),
                    n_sites.saturating_sub(1)
                )));
            }
        }
        Ok(())
    }

    /// Checks a data set against the network's input size and number of outputs.
    pub(crate) fn check_data(
        &self,
        data: &Dataset,
        input_size: usize,
        n_out: usize,
        what: &str,
    ) -> Result<()> {
        let expected_in = match self.repeat_channels {
            Some(c) if input_size.is_multiple_of(c) => input_size / c,
            Some(c) => {
                return Err(TrainError::Data(format!(
                    "the input of {input_size} values cannot be {c} repeated channels"
                )))
            }
            None => input_size,
        };
        if data.n_in() != expected_in {
            return Err(TrainError::Data(format!(
                "the {what} data has rows of {} values, the network reads {expected_in}{}",
                data.n_in(),
                match self.repeat_channels {
                    Some(c) => format!(" (× {c} channels = {input_size})"),
                    None => String::new(),
                }
            )));
        }
        if data.labels().is_none() {
            return Err(TrainError::Data(format!(
                "the {what} data has no class labels (cross-entropy needs them)"
            )));
        }
        if data.n_out() != n_out {
            return Err(TrainError::Data(format!(
                "the {what} data has {} classes, the network {n_out} outputs",
                data.n_out()
            )));
        }
        Ok(())
    }
}
