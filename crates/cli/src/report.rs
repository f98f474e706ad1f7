//! The `analyze` report: the JSON document of SPEC §11 and the human table.

use ftnn_model::{DeltaStats, ExactStats, FailureVector, Mlp};
use serde::Serialize;

/// The model summary of the JSON document.
#[derive(Serialize)]
pub struct ModelInfo {
    sizes: Vec<usize>,
    activation: String,
    k_lips: f64,
}

/// Mean, std and standard error per input and output.
#[derive(Serialize)]
pub struct Experiment {
    mean: Vec<Vec<f64>>,
    std: Vec<Vec<f64>>,
    stderr: Vec<Vec<f64>>,
}

/// Exact mean and std per input and output.
#[derive(Serialize)]
pub struct Exact {
    mean: Vec<Vec<f64>>,
    std: Vec<Vec<f64>>,
}

/// The JSON document written by `ftnn analyze` (SPEC §11).
#[derive(Serialize)]
pub struct AnalyzeReport {
    ftnn_version: &'static str,
    model: ModelInfo,
    p: Vec<f64>,
    repetitions: usize,
    seed: u64,
    experiment: Experiment,
    #[serde(skip_serializing_if = "Option::is_none")]
    exact: Option<Exact>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
}

fn rows(flat: &[f64], width: usize) -> Vec<Vec<f64>> {
    flat.chunks(width).map(<[f64]>::to_vec).collect()
}

impl AnalyzeReport {
    /// Assembles the report.
    pub fn new(
        net: &Mlp,
        p: &FailureVector,
        seed: u64,
        mc: &DeltaStats,
        exact: Option<&ExactStats>,
        notes: Vec<String>,
    ) -> Self {
        let w = mc.n_outputs;
        Self {
            ftnn_version: env!("CARGO_PKG_VERSION"),
            model: ModelInfo {
                sizes: net.sizes(),
                activation: net.activation().name().to_string(),
                k_lips: net.k_lips(),
            },
            p: p.as_slice().to_vec(),
            repetitions: mc.repetitions,
            seed,
            experiment: Experiment {
                mean: rows(&mc.mean, w),
                std: rows(&mc.std, w),
                stderr: rows(&mc.stderr, w),
            },
            exact: exact.map(|e| Exact {
                mean: rows(&e.mean, w),
                std: rows(&e.std, w),
            }),
            notes,
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plain data serialises") + "\n"
    }

    /// A table for humans; at most `max_inputs` inputs are listed.
    pub fn to_table(&self, max_inputs: usize) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let m = &self.model;
        let _ = writeln!(
            s,
            "model  {:?} {} (K = {})\np      {:?}\nruns   {} crash patterns per input, seed {}\n",
            m.sizes, m.activation, m.k_lips, self.p, self.repetitions, self.seed
        );
        let exact = self.exact.as_ref();
        let _ = write!(
            s,
            "{:>6} {:>6} {:>14} {:>12} {:>12}",
            "input", "output", "mean Δ", "std Δ", "stderr"
        );
        if exact.is_some() {
            let _ = write!(s, " {:>14} {:>12}", "exact mean", "exact std");
        }
        s.push('\n');
        let n = self.experiment.mean.len();
        for i in 0..n.min(max_inputs) {
            for k in 0..self.experiment.mean[i].len() {
                let _ = write!(
                    s,
                    "{:>6} {:>6} {:>14.6e} {:>12.4e} {:>12.4e}",
                    i,
                    k,
                    self.experiment.mean[i][k],
                    self.experiment.std[i][k],
                    self.experiment.stderr[i][k]
                );
                if let Some(e) = exact {
                    let _ = write!(s, " {:>14.6e} {:>12.4e}", e.mean[i][k], e.std[i][k]);
                }
                s.push('\n');
            }
        }
        if n > max_inputs {
            let _ = writeln!(
                s,
                "… {} more inputs (use --format json or --output FILE.json for all)",
                n - max_inputs
            );
        }
        for note in &self.notes {
            let _ = writeln!(s, "note: {note}");
        }
        s
    }
}
