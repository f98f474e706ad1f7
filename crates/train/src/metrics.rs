//! Evaluation metrics (SPEC §7): loss, accuracy (argmax), MAE and MSE — on the correct
//! network and *under crashes*, by Monte Carlo over R repetitions of the data set.

use crate::dataset::Dataset;
use crate::error::{Result, TrainError};
use ftnn_model::crash::{block_rng, sample_crashes};
use ftnn_model::Loss;
use ftnn_model::{FailureVector, Mlp};

/// Rows evaluated per GEMM.
const CHUNK_ROWS: usize = 2048;

/// Metrics of a network on a data set (means over examples; under crashes also over
/// repetitions).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Metrics {
    /// The data loss (no regularization).
    pub loss: f64,
    /// Mean squared error, averaged over outputs.
    pub mse: f64,
    /// Mean absolute error, averaged over outputs.
    pub mae: f64,
    /// Fraction of examples whose argmax output is the label (classification only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
}

/// Running sums behind [`Metrics`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MetricSums {
    loss: f64,
    se: f64,
    ae: f64,
    correct: usize,
    rows: usize,
    outputs: usize,
}

impl MetricSums {
    /// Adds the outputs `y` (stacked rows) of the examples `first..` of `data`.
    pub fn add(&mut self, loss: Loss, data: &Dataset, first: usize, y: &[f32]) {
        for (r, yr) in y.chunks_exact(data.n_out()).enumerate() {
            let label = data.labels().map(|l| l[first + r]);
            self.add_row(loss, yr, data.target(first + r), label);
        }
    }

    /// Adds one example: output `y`, target `t`, and its label for classification.
    pub fn add_row(&mut self, loss: Loss, y: &[f32], t: &[f32], label: Option<u32>) {
        self.loss += loss.sample(y, t);
        for (&a, &b) in y.iter().zip(t) {
            let e = a as f64 - b as f64;
            self.se += e * e;
            self.ae += e.abs();
        }
        if label.is_some_and(|l| argmax(y) == l as usize) {
            self.correct += 1;
        }
        self.rows += 1;
        self.outputs = y.len();
    }

    /// The means, with accuracy when `classification`.
    pub fn metrics(&self, classification: bool) -> Metrics {
        let rows = self.rows.max(1) as f64;
        let cells = rows * self.outputs.max(1) as f64;
        Metrics {
            loss: self.loss / rows,
            mse: self.se / cells,
            mae: self.ae / cells,
            accuracy: classification.then(|| self.correct as f64 / rows),
        }
    }
}

/// Index of the largest value (the first one on ties).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

fn check_fit(net: &Mlp, data: &Dataset) -> Result<()> {
    if net.n_inputs() != data.n_in() || net.n_outputs() != data.n_out() {
        return Err(TrainError::Data(format!(
            "the network maps {} inputs to {} outputs but the data has {} inputs and {} targets per example",
            net.n_inputs(),
            net.n_outputs(),
            data.n_in(),
            data.n_out()
        )));
    }
    Ok(())
}

/// Metrics of the correct (crash-free) network on `data`.
pub fn evaluate(net: &Mlp, data: &Dataset, loss: Loss) -> Result<Metrics> {
    check_fit(net, data)?;
    let mut sums = MetricSums::default();
    for first in (0..data.rows()).step_by(CHUNK_ROWS) {
        let rows = CHUNK_ROWS.min(data.rows() - first);
        let x = &data.x()[first * data.n_in()..(first + rows) * data.n_in()];
        let y = net.forward(x, rows)?;
        sums.add(loss, data, first, &y);
    }
    Ok(sums.metrics(data.labels().is_some()))
}

/// Metrics under crashes: each of `repetitions` passes over `data` draws an independent crash
/// pattern for every example (probabilities `p`, one per layer of neurons; no rescaling), and
/// the metrics are averaged over all passes. Chunk c of repetition r uses ChaCha8 stream
/// r·⌈rows/2048⌉ + c of `seed`, so the result does not depend on the thread count.
pub fn evaluate_crashed(
    net: &Mlp,
    data: &Dataset,
    loss: Loss,
    p: &FailureVector,
    repetitions: usize,
    seed: u64,
) -> Result<Metrics> {
    check_fit(net, data)?;
    p.check_len(net.n_neuron_layers())?;
    if repetitions == 0 {
        return Err(TrainError::Config(
            "crashed evaluation needs at least one repetition".into(),
        ));
    }
    let chunks = data.rows().div_ceil(CHUNK_ROWS);
    let mut sums = MetricSums::default();
    let mut crashed = Vec::new();
    for rep in 0..repetitions {
        for (c, first) in (0..data.rows()).step_by(CHUNK_ROWS).enumerate() {
            let rows = CHUNK_ROWS.min(data.rows() - first);
            let mut rng = block_rng(seed, (rep * chunks + c) as u64);
            let mut y = data.x()[first * data.n_in()..(first + rows) * data.n_in()].to_vec();
            for (l, &pl) in p.as_slice().iter().enumerate() {
                if l > 0 {
                    y = net.layers()[l - 1].matmul_rows(y, rows)?;
                    net.bias_activate(l, &mut y);
                }
                if pl > 0.0 {
                    crashed.clear();
                    sample_crashes(&mut rng, pl, y.len(), &mut crashed);
                    for &i in &crashed {
                        y[i as usize] = 0.0;
                    }
                }
            }
            sums.add(loss, data, first, &y);
        }
    }
    Ok(sums.metrics(data.labels().is_some()))
}
