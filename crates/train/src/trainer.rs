//! The training loop: seeded mini-batches, crash-dropout, loss + regularizers through candle's
//! autodiff, and the optimizer update in ftnn's own loops.
//!
//! Randomness (SPEC §2): the initialisation draws from `ChaCha8(seed)`; epoch e shuffles the
//! examples with stream e of `ChaCha8(seed + SHUFFLE_SALT)`; batch b of epoch e draws its
//! crash-dropout masks from stream e·B + b of `ChaCha8(seed + MASK_SALT)`. candle's CPU GEMM
//! splits work over output blocks only, so the result is the same whatever the thread count.

use crate::analytic::{add_regularizers, data_gradients, Shape};
use crate::config::TrainConfig;
use crate::dataset::Dataset;
use crate::error::{Result, TrainError};
use crate::graph::{ForwardGraph, Params, Smoothers};
use crate::loss::LossGraph;
use crate::metrics::{evaluate, evaluate_crashed, MetricSums, Metrics};
use crate::optim::OptimizerState;
use crate::regularizer::Regularizer;
use candle_core::{Device, Tensor, Var};
use ftnn_model::crash::{block_rng, sample_crashes};
use ftnn_model::{Dense, FailureVector, Mlp};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

const SHUFFLE_SALT: u64 = 0x5348_5546_464c_4531;
const MASK_SALT: u64 = 0x4d41_534b_5331_3233;
const EVAL_SALT: u64 = 0x4556_414c_3130_3031;

/// What one epoch produced.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Wall-clock seconds of the epoch's training (evaluation excluded).
    pub seconds: f64,
    /// Mean over batches of the objective (data loss + regularization).
    pub objective: f64,
    /// Running means over the epoch's batches, as Keras reports them (with crash-dropout
    /// active when `p_train` is set).
    pub train: Metrics,
    /// Metrics of the correct network on the validation set after the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid: Option<Metrics>,
    /// The same under crashes (`crash_eval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_crashed: Option<Metrics>,
}

/// The per-epoch history of a training run.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct History {
    /// One record per epoch.
    pub epochs: Vec<EpochRecord>,
}

/// Progress within an epoch, reported after each mini-batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchProgress {
    /// 1-based epoch.
    pub epoch: usize,
    /// Batches done in this epoch.
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// Running mean of the objective over this epoch's batches.
    pub running_objective: f64,
}

/// Trains an MLP; owns its parameters and optimizer state between epochs, so callers can
/// inspect [`Trainer::model`] after every epoch.
pub struct Trainer {
    config: TrainConfig,
    params: Params,
    host: Vec<Vec<f32>>,
    state: OptimizerState,
    epochs_done: usize,
    smoothers: Smoothers,
    interrupt: Option<Arc<AtomicBool>>,
    backend: Backend,
    device: Device,
}

/// How a training step computes its gradients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// The analytic step when no regularizer needs the data graph (all but `vardelta`),
    /// candle's autodiff otherwise.
    #[default]
    Auto,
    /// Always candle's autodiff (the reference the analytic step is tested against).
    Autodiff,
    /// Always the analytic step; a `vardelta` regularizer is then an error.
    Analytic,
}

impl Trainer {
    /// A fresh network initialised from `config.init` and `config.seed`, trained on the host
    /// ([`Trainer::new_on`] for another device).
    pub fn new(config: TrainConfig) -> Result<Self> {
        Self::new_on(config, &Device::Cpu)
    }

    /// [`Trainer::new`] with the parameters, mini-batches, crash-dropout masks and GEMMs on
    /// `device`. The initialisation, the shuffles and the masks are drawn on the host from the
    /// same seeded streams whatever the device, and the optimizer update stays the host loop,
    /// so a CPU and a GPU run of the same configuration agree within float tolerance.
    pub fn new_on(config: TrainConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let net = Mlp::init(
            &config.sizes,
            config.activation,
            config.k_lips,
            config.init,
            &mut rng,
        )?;
        Self::from_model_on(config, &net, device)
    }

    /// Continues training `net`, which must have the configured sizes, on the host.
    pub fn from_model(config: TrainConfig, net: &Mlp) -> Result<Self> {
        Self::from_model_on(config, net, &Device::Cpu)
    }

    /// [`Trainer::from_model`] on `device` (see [`Trainer::new_on`]).
    pub fn from_model_on(config: TrainConfig, net: &Mlp, device: &Device) -> Result<Self> {
        config.validate()?;
        if net.sizes() != config.sizes {
            return Err(TrainError::Config(format!(
                "the network has sizes {:?}, the configuration {:?}",
                net.sizes(),
                config.sizes
            )));
        }
        let mut host = Vec::new();
        let (mut weights, mut biases) = (Vec::new(), Vec::new());
        for d in net.layers() {
            weights.push(Var::from_tensor(&Tensor::from_slice(
                d.weight(),
                (d.n_out(), d.n_in()),
                device,
            )?)?);
            biases.push(Var::from_tensor(&Tensor::from_slice(
                d.bias(),
                d.n_out(),
                device,
            )?)?);
            host.push(d.weight().to_vec());
            host.push(d.bias().to_vec());
        }
        let lengths: Vec<usize> = host.iter().map(Vec::len).collect();
        let state = config.optimizer.state(&lengths);
        let smoothers = Smoothers::new(
            &config.sizes,
            config
                .regularizers
                .iter()
                .any(|r| matches!(r, Regularizer::Continuous { .. })),
            device,
        )?;
        Ok(Self {
            config,
            params: Params { weights, biases },
            host,
            state,
            epochs_done: 0,
            smoothers,
            interrupt: None,
            backend: Backend::Auto,
            device: device.clone(),
        })
    }

    /// Stops training between two mini-batches once `flag` is set (for example by a Ctrl-C
    /// handler); the run then returns [`TrainError::Interrupted`].
    pub fn with_interrupt(mut self, flag: Arc<AtomicBool>) -> Self {
        self.interrupt = Some(flag);
        self
    }

    /// Chooses how gradients are computed (both give the same gradients up to rounding).
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// The device of the parameters and mini-batches.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Epochs completed so far.
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    /// The network as it is now.
    pub fn model(&self) -> Result<Mlp> {
        let sizes = &self.config.sizes;
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(l, w)| {
                Dense::new(
                    self.host[2 * l].clone(),
                    self.host[2 * l + 1].clone(),
                    w[1],
                    w[0],
                )
            })
            .collect::<ftnn_model::Result<Vec<_>>>()?;
        Ok(Mlp::new(
            layers,
            self.config.activation,
            self.config.k_lips,
        )?)
    }

    /// Runs `config.epochs` epochs on `train`, evaluating `valid` (and, with `crash_eval`,
    /// `valid` under crashes) after each; `on_batch` is called after every mini-batch.
    pub fn fit(
        &mut self,
        train: &Dataset,
        valid: Option<&Dataset>,
        on_batch: &mut dyn FnMut(BatchProgress),
    ) -> Result<History> {
        let mut history = History::default();
        for _ in 0..self.config.epochs {
            let record = self.epoch(train, valid, on_batch)?;
            history.epochs.push(record);
        }
        Ok(history)
    }

    /// One epoch on `train`, then the evaluation of `valid`.
    pub fn epoch(
        &mut self,
        train: &Dataset,
        valid: Option<&Dataset>,
        on_batch: &mut dyn FnMut(BatchProgress),
    ) -> Result<EpochRecord> {
        self.config.check_data(train, "training")?;
        if let Some(v) = valid {
            self.config.check_data(v, "validation")?;
        }
        let start = Instant::now();
        let epoch = self.epochs_done + 1;
        let rows = train.rows();
        let mut order: Vec<u32> = (0..rows as u32).collect();
        order.shuffle(&mut block_rng(
            self.config.seed.wrapping_add(SHUFFLE_SALT),
            epoch as u64,
        ));
        let batch = self.config.batch_size.min(rows);
        let batches = rows.div_ceil(batch);
        let mut sums = MetricSums::default();
        let mut objective_sum = 0.0;
        for b in 0..batches {
            if self
                .interrupt
                .as_ref()
                .is_some_and(|f| f.load(Ordering::Relaxed))
            {
                return Err(TrainError::Interrupted { epoch });
            }
            let idx = &order[b * batch..((b + 1) * batch).min(rows)];
            let mask_stream = ((epoch - 1) * batches + b) as u64;
            let (objective, y) = self.step(train, idx, mask_stream)?;
            if !objective.is_finite() {
                return Err(TrainError::Diverged {
                    epoch,
                    value: objective,
                });
            }
            objective_sum += objective;
            for (yr, &r) in y.chunks_exact(train.n_out()).zip(idx) {
                let label = train.labels().map(|l| l[r as usize]);
                sums.add_row(self.config.loss, yr, train.target(r as usize), label);
            }
            on_batch(BatchProgress {
                epoch,
                batch: b + 1,
                batches,
                running_objective: objective_sum / (b + 1) as f64,
            });
        }
        let seconds = start.elapsed().as_secs_f64();
        self.epochs_done = epoch;
        let classification = train.labels().is_some();
        let (mut valid_m, mut valid_crashed) = (None, None);
        if let Some(v) = valid {
            let net = self.model()?;
            valid_m = Some(evaluate(&net, v, self.config.loss)?);
            if let Some(c) = &self.config.crash_eval {
                valid_crashed = Some(evaluate_crashed(
                    &net,
                    v,
                    self.config.loss,
                    &c.p,
                    c.repetitions,
                    self.config.seed.wrapping_add(EVAL_SALT),
                )?);
            }
        }
        Ok(EpochRecord {
            epoch,
            seconds,
            objective: objective_sum / batches as f64,
            train: sums.metrics(classification),
            valid: valid_m,
            valid_crashed,
        })
    }

    /// The objective (data loss + regularization) on all of `data` at the current parameters,
    /// without crash-dropout, and its gradient per parameter tensor in the order
    /// W_1, b_1, W_2, b_2, … (row-major), always by candle's autodiff (the reference). For
    /// gradient checks and diagnostics.
    pub fn objective(&self, data: &Dataset) -> Result<(f64, Vec<Vec<f32>>)> {
        self.config.check_data(data, "given")?;
        let masks = vec![None; self.config.sizes.len()];
        let (x, t) = data.tensors(&self.device)?;
        let (objective, _) = self.forward_objective(&x, &t, masks)?;
        let grads = self.gradients(&objective)?;
        Ok((objective.to_scalar::<f32>()? as f64, grads))
    }

    fn forward_objective(
        &self,
        x: &Tensor,
        t: &Tensor,
        masks: Vec<Option<Tensor>>,
    ) -> Result<(Tensor, Tensor)> {
        let graph = ForwardGraph::build(
            &self.params,
            self.config.activation,
            self.config.k_lips,
            x,
            masks,
        )?;
        let mut objective = self.config.loss.graph(graph.output(), t)?;
        for r in &self.config.regularizers {
            objective = (objective + r.term(&graph, &self.smoothers)?)?;
        }
        Ok((objective, graph.output().clone()))
    }

    fn gradients(&self, objective: &Tensor) -> Result<Vec<Vec<f32>>> {
        let grads = objective.backward()?;
        let mut flat = Vec::with_capacity(self.host.len());
        for (w, b) in self.params.weights.iter().zip(&self.params.biases) {
            for v in [w, b] {
                flat.push(match grads.get(v.as_tensor()) {
                    Some(g) => g.flatten_all()?.to_vec1::<f32>()?,
                    None => vec![0f32; v.elem_count()],
                });
            }
        }
        Ok(flat)
    }

    /// The objective of the mini-batch `idx` under the crash-dropout masks of stream
    /// `mask_stream`, its gradient per parameter tensor (W_1, b_1, W_2, …) and the outputs:
    /// what one training step descends. Uses the analytic or the autodiff step as the
    /// [`Backend`] says.
    pub fn batch_objective(
        &self,
        data: &Dataset,
        idx: &[u32],
        mask_stream: u64,
    ) -> Result<(f64, Vec<Vec<f32>>, Vec<f32>)> {
        self.config.check_data(data, "given")?;
        if let Some(&bad) = idx.iter().find(|&&r| r as usize >= data.rows()) {
            return Err(TrainError::Data(format!(
                "example {bad} is not in 0..{}",
                data.rows()
            )));
        }
        let n = idx.len();
        let masks = dropout_mask_values(
            &self.config.sizes,
            self.config.p_train.as_ref(),
            n,
            self.config.seed.wrapping_add(MASK_SALT),
            mask_stream,
        )?;
        let has_vardelta = self
            .config
            .regularizers
            .iter()
            .any(|r| matches!(r, Regularizer::VarDelta { .. }));
        let analytic =
            self.backend == Backend::Analytic || (self.backend == Backend::Auto && !has_vardelta);
        if analytic {
            let (x, t) = data.batch_values(idx);
            let shape = Shape {
                sizes: &self.config.sizes,
                activation: self.config.activation,
                k: self.config.k_lips as f32,
                loss: self.config.loss,
                device: &self.device,
            };
            let (loss, y, mut grads) = data_gradients(&shape, &self.host, x, &t, &masks, n)?;
            let reg = add_regularizers(
                &self.config.regularizers,
                &self.config.sizes,
                &self.host,
                &self.params,
                &self.smoothers,
                &mut grads,
            )?;
            return Ok((loss + reg, grads, y));
        }
        let (x, t) = data.batch(idx, &self.device)?;
        let masks = masks
            .into_iter()
            .zip(&self.config.sizes)
            .map(|(m, &w)| {
                m.map(|m| Tensor::from_vec(m, (n, w), &self.device))
                    .transpose()
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let (objective, output) = self.forward_objective(&x, &t, masks)?;
        let value = objective.to_scalar::<f32>()? as f64;
        let y = output.flatten_all()?.to_vec1::<f32>()?;
        if !value.is_finite() {
            return Ok((value, Vec::new(), y));
        }
        Ok((value, self.gradients(&objective)?, y))
    }

    /// One optimizer step on the examples `idx`; returns the objective and the outputs.
    fn step(&mut self, data: &Dataset, idx: &[u32], mask_stream: u64) -> Result<(f64, Vec<f32>)> {
        let (value, grads, y) = self.batch_objective(data, idx, mask_stream)?;
        if !value.is_finite() {
            return Ok((value, y));
        }
        self.state.step(&mut self.host, &grads)?;
        for (l, (w, b)) in self
            .params
            .weights
            .iter()
            .zip(&self.params.biases)
            .enumerate()
        {
            w.set(&Tensor::from_slice(
                &self.host[2 * l],
                w.shape(),
                &self.device,
            )?)?;
            b.set(&Tensor::from_slice(
                &self.host[2 * l + 1],
                b.shape(),
                &self.device,
            )?)?;
        }
        Ok((value, y))
    }
}

/// Crash-dropout masks for a batch of `n` examples of a network of widths `sizes`: per layer
/// of neurons, `None` where nothing can crash, else `[n, n_l]` with 1 (alive) or 0 (crashed)
/// — never rescaled by 1/(1 − p) (SPEC §1). Drawn from stream `stream` of `ChaCha8(seed)`;
/// tensors on the host ([`dropout_masks_on`] for another device).
pub fn dropout_masks(
    sizes: &[usize],
    p: Option<&FailureVector>,
    n: usize,
    seed: u64,
    stream: u64,
) -> Result<Vec<Option<Tensor>>> {
    dropout_masks_on(sizes, p, n, seed, stream, &Device::Cpu)
}

/// [`dropout_masks`] uploaded to `device`: drawn on the host from the same stream, so every
/// device gets the same masks.
pub fn dropout_masks_on(
    sizes: &[usize],
    p: Option<&FailureVector>,
    n: usize,
    seed: u64,
    stream: u64,
    device: &Device,
) -> Result<Vec<Option<Tensor>>> {
    dropout_mask_values(sizes, p, n, seed, stream)?
        .into_iter()
        .zip(sizes)
        .map(|(m, &w)| {
            m.map(|m| Tensor::from_vec(m, (n, w), device))
                .transpose()
                .map_err(TrainError::from)
        })
        .collect()
}

/// [`dropout_masks`] as row-major vectors.
fn dropout_mask_values(
    sizes: &[usize],
    p: Option<&FailureVector>,
    n: usize,
    seed: u64,
    stream: u64,
) -> Result<Vec<Option<Vec<f32>>>> {
    let Some(p) = p else {
        return Ok(vec![None; sizes.len()]);
    };
    p.check_len(sizes.len())?;
    let mut rng = block_rng(seed, stream);
    let mut crashed = Vec::new();
    let mut out = Vec::with_capacity(sizes.len());
    for (&pl, &width) in p.as_slice().iter().zip(sizes) {
        if pl <= 0.0 {
            out.push(None);
            continue;
        }
        let mut m = vec![1f32; n * width];
        crashed.clear();
        sample_crashes(&mut rng, pl, m.len(), &mut crashed);
        for &i in &crashed {
            m[i as usize] = 0.0;
        }
        out.push(Some(m));
    }
    Ok(out)
}
