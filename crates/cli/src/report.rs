//! The `analyze` report: the JSON document of SPEC §11 and the human table.

use ftnn_bounds::BoundOutput;
use ftnn_model::{DeltaStats, ExactStats, FailureVector};
use serde::Serialize;
use std::collections::BTreeMap;

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
    /// The network as understood ([`crate::inspect::describe`]): for an MLP `sizes`,
    /// `activation`, `k_lips` (SPEC §11) and the function; for a Sequential network its
    /// architecture; both with their crash sites.
    model: serde_json::Value,
    p: Vec<f64>,
    repetitions: usize,
    seed: u64,
    experiment: Experiment,
    #[serde(skip_serializing_if = "Option::is_none")]
    exact: Option<Exact>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    bounds: BTreeMap<&'static str, BoundJson>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
}

/// One bound in the JSON document: `[N][n_L]` arrays, or `[N]` for b1.
#[derive(Serialize)]
#[serde(untagged)]
pub enum BoundJson {
    /// Mean and optional std per input and output.
    PerOutput {
        /// Estimated mean.
        mean: Vec<Vec<f64>>,
        /// Estimated std.
        #[serde(skip_serializing_if = "Option::is_none")]
        std: Option<Vec<Vec<f64>>>,
    },
    /// One value per input (b1).
    PerInput {
        /// The bound per input.
        mean: Vec<f64>,
    },
}

/// A per-output bound in the table: name, mean and optional std, `[N][n_L]`.
type BoundColumns<'a> = (&'a str, &'a Vec<Vec<f64>>, Option<&'a Vec<Vec<f64>>>);

fn rows(flat: &[f64], width: usize) -> Vec<Vec<f64>> {
    flat.chunks(width).map(<[f64]>::to_vec).collect()
}

impl AnalyzeReport {
    /// Assembles the report.
    pub fn new(
        model: serde_json::Value,
        p: &FailureVector,
        seed: u64,
        mc: &DeltaStats,
        exact: Option<&ExactStats>,
        bounds: &[BoundOutput],
        notes: Vec<String>,
    ) -> Self {
        let w = mc.n_outputs;
        let bounds = bounds
            .iter()
            .map(|b| {
                let json = if b.per_input {
                    BoundJson::PerInput {
                        mean: b.mean.clone(),
                    }
                } else {
                    BoundJson::PerOutput {
                        mean: rows(&b.mean, w),
                        std: b.std.as_ref().map(|s| rows(s, w)),
                    }
                };
                (b.kind.name(), json)
            })
            .collect();
        Self {
            ftnn_version: env!("CARGO_PKG_VERSION"),
            model,
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
            bounds,
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
        let model = if m["engine"] == "mlp" {
            format!(
                "{} {} (K = {}), i.e. {}",
                m["sizes"],
                m["activation"].as_str().unwrap_or("?"),
                m["k_lips"],
                m["function"].as_str().unwrap_or("?")
            )
        } else {
            format!(
                "Sequential, input {}, {} layers, {} crash sites",
                m["input_shape"],
                m["layers"].as_array().map_or(0, Vec::len),
                m["sites"].as_array().map_or(0, Vec::len)
            )
        };
        let _ = writeln!(
            s,
            "model  {model}\np      {:?}\nruns   {} crash patterns per input, seed {}\n",
            self.p, self.repetitions, self.seed
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
        let per_output: Vec<BoundColumns<'_>> = self
            .bounds
            .iter()
            .filter_map(|(name, b)| match b {
                BoundJson::PerOutput { mean, std } => Some((*name, mean, std.as_ref())),
                BoundJson::PerInput { .. } => None,
            })
            .collect();
        for (name, _, std) in &per_output {
            let _ = write!(s, " {:>14}", format!("{name} mean"));
            if std.is_some() {
                let _ = write!(s, " {:>12}", format!("{name} std"));
            }
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
                for (_, mean, std) in &per_output {
                    let _ = write!(s, " {:>14.6e}", mean[i][k]);
                    if let Some(sd) = std {
                        let _ = write!(s, " {:>12.4e}", sd[i][k]);
                    }
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
        for (name, b) in &self.bounds {
            if let BoundJson::PerInput { mean } = b {
                let shown: Vec<String> = mean
                    .iter()
                    .take(max_inputs)
                    .map(|v| format!("{v:.4e}"))
                    .collect();
                let _ = writeln!(s, "{name} (per input): {}", shown.join(" "));
            }
        }
        for note in &self.notes {
            let _ = writeln!(s, "note: {note}");
        }
        s
    }
}
