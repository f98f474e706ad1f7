//! [`SeqTrainer`]: mini-batch training of a Sequential network (CNN or MLP) with
//! cross-entropy, crash-dropout and dropout layers (SPEC §7, §9); gradients from candle's
//! autodiff over the training graph of [`super::graph`], updates by ftnn's own optimizer
//! loops ([`crate::optim`]).
//!
//! Randomness: the initialisation draws from `ChaCha8(seed)` ([`super::init`]); epoch e
//! shuffles the examples with stream e of `ChaCha8(seed + SHUFFLE_SALT)`; batch b of epoch e
//! draws all its masks (input to output, crash-dropout and dropout layers in layer order) from
//! stream (e − 1)·B + b of `ChaCha8(seed + MASK_SALT)`. Every tensor is created on the
//! trainer's device; on CPU the result does not depend on the rayon thread count (candle's
//! GEMM splits work over output blocks only; tested).

use super::config::SeqTrainConfig;
use super::graph::{cross_entropy, forward, param_offsets};
use super::init::{init_values, sequential_from_values};
use crate::dataset::Dataset;
use crate::error::{Result, TrainError};
use crate::metrics::{MetricSums, Metrics};
use crate::optim::OptimizerState;
use crate::trainer::{BatchProgress, EpochRecord, History};
use candle_core::{DType, Device, Tensor, Var};
use ftnn_model::crash::{block_rng, sample_crashes};
use ftnn_model::seq::{Architecture, LayerSpec, Sequential};
use ftnn_model::Loss;
use rand::seq::SliceRandom;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

const SHUFFLE_SALT: u64 = 0x5345_5153_4855_4646;
const MASK_SALT: u64 = 0x5345_514d_4153_4b53;
/// Rows per forward pass when evaluating.
const EVAL_ROWS: usize = 250;

/// Trains a [`Sequential`] architecture; owns its parameters (f32, in
/// [`Architecture::tensors`] order) and optimizer state between epochs.
pub struct SeqTrainer {
    config: SeqTrainConfig,
    arch: Architecture,
    device: Device,
    dtype: DType,
    offsets: Vec<usize>,
    /// Shape of one example at mask index i (0: input, j + 1: output of layer j).
    mask_shapes: Vec<Vec<usize>>,
    /// Crash-dropout probability at mask index i (0 where none).
    crash_p: Vec<f64>,
    input_size: usize,
    n_out: usize,
    host: Vec<Vec<f32>>,
    vars: Vec<Var>,
    state: OptimizerState,
    epochs_done: usize,
    interrupt: Option<Arc<AtomicBool>>,
}

impl SeqTrainer {
    /// A fresh network: Keras Glorot-uniform weights and zero biases from `config.seed`
    /// ([`super::init`]), every tensor on `device`.
    pub fn new(config: SeqTrainConfig, arch: &Architecture, device: &Device) -> Result<Self> {
        config.validate()?;
        let values = init_values(arch, config.seed);
        Self::build(config, arch, values, device)
    }

    /// Continues training `net` (on its device).
    pub fn from_model(config: SeqTrainConfig, net: &Sequential) -> Result<Self> {
        config.validate()?;
        let arch = net.architecture();
        let mut values = Vec::new();
        for (layer, key, _) in arch.tensors() {
            // Sequential::parameters is keyed `{layer index}.{parameter}`.
            let param = key.rsplit('.').next().unwrap_or_default();
            let key = format!("{layer}.{param}");
            let t = net
                .parameters()
                .get(&key)
                .ok_or_else(|| TrainError::Config(format!("the network has no tensor `{key}`")))?;
            values.push(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?);
        }
        Self::build(config, arch, values, net.device())
    }

    fn build(
        config: SeqTrainConfig,
        arch: &Architecture,
        host: Vec<Vec<f32>>,
        device: &Device,
    ) -> Result<Self> {
        let offsets = param_offsets(arch)?;
        let net = sequential_from_values(arch, &host, device)?;
        config.check_sites(net.n_sites())?;
        let n_layers = arch.layers.len();
        let mut mask_shapes = vec![arch.input_shape.clone()];
        mask_shapes.extend(net.layer_shapes().iter().cloned());
        let mut crash_p = vec![0.0; n_layers + 1];
        for d in &config.crash_dropout {
            let i = net.sites()[d.site].layer_after.map_or(0, |j| j + 1);
            crash_p[i] = d.p;
        }
        let out = net.output_shape();
        if out.len() != 1 {
            return Err(TrainError::Config(format!(
                "the network's output has shape {out:?}; cross-entropy needs a vector of logits"
            )));
        }
        let shapes: Vec<Vec<usize>> = arch.tensors().into_iter().map(|t| t.2).collect();
        let vars = host
            .iter()
            .zip(&shapes)
            .map(|(v, s)| Var::from_tensor(&Tensor::from_slice(v, s.as_slice(), device)?))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let lengths: Vec<usize> = host.iter().map(Vec::len).collect();
        Ok(Self {
            state: config.optimizer.state(&lengths),
            input_size: arch.input_shape.iter().product(),
            n_out: out[0],
            config,
            arch: arch.clone(),
            device: device.clone(),
            dtype: DType::F32,
            offsets,
            mask_shapes,
            crash_p,
            host,
            vars,
            epochs_done: 0,
            interrupt: None,
        })
    }

    /// Stops training between two mini-batches once `flag` is set (e.g. by Ctrl-C); the run
    /// then returns [`TrainError::Interrupted`].
    pub fn with_interrupt(mut self, flag: Arc<AtomicBool>) -> Self {
        self.interrupt = Some(flag);
        self
    }

    /// Computes the training graph in `dtype` (f32 by default; f64 for gradient checks). The
    /// parameters and the optimizer stay f32.
    pub fn with_dtype(mut self, dtype: DType) -> Result<Self> {
        self.dtype = dtype;
        self.sync_vars()?;
        Ok(self)
    }

    /// The configuration.
    pub fn config(&self) -> &SeqTrainConfig {
        &self.config
    }
    /// The architecture.
    pub fn architecture(&self) -> &Architecture {
        &self.arch
    }
    /// Epochs completed so far.
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }
    /// The parameters, flat f32, in [`Architecture::tensors`] order.
    pub fn parameters(&self) -> &[Vec<f32>] {
        &self.host
    }

    /// Replaces the parameters (same lengths as [`SeqTrainer::parameters`]).
    pub fn set_parameters(&mut self, values: Vec<Vec<f32>>) -> Result<()> {
        if values.len() != self.host.len()
            || values
                .iter()
                .zip(&self.host)
                .any(|(a, b)| a.len() != b.len())
        {
            return Err(TrainError::Config(
                "the new parameters do not have the network's tensor sizes".into(),
            ));
        }
        self.host = values;
        self.sync_vars()
    }

    fn sync_vars(&mut self) -> Result<()> {
        for (v, h) in self.vars.iter_mut().zip(&self.host) {
            let t = Tensor::from_slice(h, v.shape(), &self.device)?.to_dtype(self.dtype)?;
            *v = Var::from_tensor(&t)?;
        }
        Ok(())
    }

    /// The network as it is now, ready for [`ftnn_model::seq::SeqMonteCarlo`] and the bounds.
    pub fn model(&self) -> Result<Sequential> {
        sequential_from_values(&self.arch, &self.host, &self.device)
    }

    /// `config.epochs` epochs; `on_batch` is called after every mini-batch.
    pub fn fit(
        &mut self,
        train: &Dataset,
        valid: Option<&Dataset>,
        on_batch: &mut dyn FnMut(BatchProgress),
    ) -> Result<History> {
        let mut history = History::default();
        for _ in 0..self.config.epochs {
            history.epochs.push(self.epoch(train, valid, on_batch)?);
        }
        Ok(history)
    }

    /// One epoch over the training set (or its first `train_subset` rows), then the
    /// crash-free metrics on `valid`. The training metrics are running values over the
    /// epoch's batches with dropout and crash-dropout active, as Keras reports them.
    pub fn epoch(
        &mut self,
        train: &Dataset,
        valid: Option<&Dataset>,
        on_batch: &mut dyn FnMut(BatchProgress),
    ) -> Result<EpochRecord> {
        self.check_data(train, "training")?;
        if let Some(v) = valid {
            self.check_data(v, "validation")?;
        }
        let start = Instant::now();
        let epoch = self.epochs_done + 1;
        let rows = self
            .config
            .train_subset
            .map_or(train.rows(), |n| n.min(train.rows()));
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
            let stream = ((epoch - 1) * batches + b) as u64;
            let (objective, logits) = self.train_batch(train, idx, stream)?;
            if !objective.is_finite() {
                return Err(TrainError::Diverged {
                    epoch,
                    value: objective,
                });
            }
            objective_sum += objective;
            for (y, &r) in logits.chunks_exact(self.n_out).zip(idx) {
                let label = train.labels().map(|l| l[r as usize]);
                sums.add_row(Loss::CrossEntropy, y, train.target(r as usize), label);
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
        let valid = valid.map(|v| self.evaluate(v)).transpose()?;
        Ok(EpochRecord {
            epoch,
            seconds,
            objective: objective_sum / batches as f64,
            train: sums.metrics(true),
            valid,
            valid_crashed: None,
        })
    }

    /// Crash-free metrics of the current network on `data` (loss = cross-entropy of the
    /// logits; mse and mae of the logits against the one-hot targets, as the MLP trainer).
    pub fn evaluate(&self, data: &Dataset) -> Result<Metrics> {
        self.check_data(data, "evaluation")?;
        let mut sums = MetricSums::default();
        // Detached: no autodiff graph is recorded for an evaluation.
        let params: Vec<Tensor> = self.vars.iter().map(|v| v.as_tensor().detach()).collect();
        let mut first = 0;
        while first < data.rows() {
            let last = (first + EVAL_ROWS).min(data.rows());
            let idx: Vec<u32> = (first as u32..last as u32).collect();
            let x = self.inputs(data, &idx)?;
            let logits = forward(&self.arch, &self.offsets, &params, &x, &[])?;
            let y = logits
                .to_dtype(DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            sums.add(Loss::CrossEntropy, data, first, &y);
            first = last;
        }
        Ok(sums.metrics(true))
    }

    fn check_data(&self, data: &Dataset, what: &str) -> Result<()> {
        self.config
            .check_data(data, self.input_size, self.n_out, what)
    }

    /// The inputs of rows `idx` as `[B, *input_shape]` (gray rows repeated over
    /// `repeat_channels` channels).
    fn inputs(&self, data: &Dataset, idx: &[u32]) -> Result<Tensor> {
        let reps = self.config.repeat_channels.unwrap_or(1);
        let mut x = Vec::with_capacity(idx.len() * self.input_size);
        for &r in idx {
            for _ in 0..reps {
                x.extend_from_slice(data.input(r as usize));
            }
        }
        let mut shape = vec![idx.len()];
        shape.extend(&self.arch.input_shape);
        Ok(Tensor::from_vec(x, shape, &self.device)?.to_dtype(self.dtype)?)
    }

    /// The masks of one batch of `n` examples from mask stream `stream`: crash-dropout
    /// (0 with probability p, else 1) and dropout layers (0 with probability p, else
    /// 1/(1 − p); a dropout without `p` uses PyTorch's 0.5).
    fn masks(&self, n: usize, stream: u64) -> Result<Vec<Option<Tensor>>> {
        let mut rng = block_rng(self.config.seed.wrapping_add(MASK_SALT), stream);
        let mut crashed = Vec::new();
        let mut out = Vec::with_capacity(self.mask_shapes.len());
        for (i, shape) in self.mask_shapes.iter().enumerate() {
            let (p, keep) = match i.checked_sub(1).map(|j| &self.arch.layers[j].spec) {
                Some(LayerSpec::Dropout(d)) => {
                    let p = d.p.unwrap_or(0.5);
                    (
                        p,
                        if p < 1.0 {
                            (1.0 / (1.0 - p)) as f32
                        } else {
                            0.0
                        },
                    )
                }
                _ => (self.crash_p[i], 1.0),
            };
            if p <= 0.0 {
                out.push(None);
                continue;
            }
            let size: usize = shape.iter().product();
            let mut m = vec![keep; n * size];
            crashed.clear();
            sample_crashes(&mut rng, p, m.len(), &mut crashed);
            for &c in &crashed {
                m[c as usize] = 0.0;
            }
            let mut dims = vec![n];
            dims.extend(shape);
            out.push(Some(
                Tensor::from_vec(m, dims, &self.device)?.to_dtype(self.dtype)?,
            ));
        }
        Ok(out)
    }

    /// The loss of the batch `idx` (masks from stream `mask_stream`), its gradient with
    /// respect to every parameter (f32, [`Architecture::tensors`] order) and the logits
    /// (row-major `[B, n_out]`).
    pub fn batch_gradients(
        &self,
        data: &Dataset,
        idx: &[u32],
        mask_stream: u64,
    ) -> Result<(f64, Vec<Vec<f32>>, Vec<f32>)> {
        self.check_data(data, "given")?;
        if idx.is_empty() {
            return Err(TrainError::Data("an empty batch".into()));
        }
        let labels = data.labels().unwrap_or_default();
        if let Some(&bad) = idx.iter().find(|&&r| r as usize >= data.rows()) {
            return Err(TrainError::Data(format!(
                "example {bad} is not in 0..{}",
                data.rows()
            )));
        }
        let x = self.inputs(data, idx)?;
        let (k, s) = (self.n_out, self.config.label_smoothing);
        let mut t = vec![(s / k as f64) as f32; idx.len() * k];
        for (row, &r) in t.chunks_exact_mut(k).zip(idx) {
            row[labels[r as usize] as usize] += (1.0 - s) as f32;
        }
        let t = Tensor::from_vec(t, (idx.len(), k), &self.device)?.to_dtype(self.dtype)?;
        let masks = self.masks(idx.len(), mask_stream)?;
        let params: Vec<Tensor> = self.vars.iter().map(|v| v.as_tensor().clone()).collect();
        let logits = forward(&self.arch, &self.offsets, &params, &x, &masks)?;
        let loss = cross_entropy(&logits, &t)?;
        let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        let y = logits
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        if !value.is_finite() {
            return Ok((value, Vec::new(), y));
        }
        let grads = loss.backward()?;
        let flat = self
            .vars
            .iter()
            .map(|v| match grads.get(v.as_tensor()) {
                Some(g) => g.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>(),
                None => Ok(vec![0f32; v.elem_count()]),
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok((value, flat, y))
    }

    /// One optimizer step on the batch `idx`: [`SeqTrainer::batch_gradients`], then the
    /// update of [`crate::optim`]. Returns the batch loss and the logits; a non-finite loss
    /// leaves the parameters unchanged.
    pub fn train_batch(
        &mut self,
        data: &Dataset,
        idx: &[u32],
        mask_stream: u64,
    ) -> Result<(f64, Vec<f32>)> {
        let (value, grads, y) = self.batch_gradients(data, idx, mask_stream)?;
        if !value.is_finite() {
            return Ok((value, y));
        }
        self.state.step(&mut self.host, &grads)?;
        for (v, h) in self.vars.iter().zip(&self.host) {
            v.set(&Tensor::from_slice(h, v.shape(), &self.device)?.to_dtype(self.dtype)?)?;
        }
        Ok((value, y))
    }
}

/// Accuracy (argmax = label) of `net` on `data`, `batch` rows per forward pass. Rows of
/// `H·W` values for an input `[C, H, W]` are repeated over the C channels (SPEC §9's MNIST
/// CNN); otherwise rows must have the input's size.
pub fn accuracy(net: &Sequential, data: &Dataset, batch: usize) -> Result<f64> {
    let shape = net.input_shape().to_vec();
    let size: usize = shape.iter().product();
    let reps = if data.n_in() == size {
        1
    } else if shape.len() == 3 && data.n_in() * shape[0] == size {
        shape[0]
    } else {
        return Err(TrainError::Data(format!(
            "rows of {} values do not fit the input shape {shape:?}",
            data.n_in()
        )));
    };
    let labels = data
        .labels()
        .ok_or_else(|| TrainError::Data("accuracy needs class labels".into()))?;
    let batch = batch.max(1);
    let mut correct = 0usize;
    let mut first = 0;
    while first < data.rows() {
        let last = (first + batch).min(data.rows());
        let mut x = Vec::with_capacity((last - first) * size);
        for r in first..last {
            for _ in 0..reps {
                x.extend_from_slice(data.input(r));
            }
        }
        let mut dims = vec![last - first];
        dims.extend(&shape);
        let y = net.forward(&Tensor::from_vec(x, dims, net.device())?)?;
        let y = y.flatten_from(1)?.to_dtype(DType::F32)?;
        let am = y.argmax(1)?.to_vec1::<u32>()?;
        correct += am
            .iter()
            .zip(&labels[first..last])
            .filter(|(a, b)| a == b)
            .count();
        first = last;
    }
    Ok(correct as f64 / data.rows() as f64)
}
