//! `ftnn compare`: how well each bound follows the Monte Carlo error over a set of inputs
//! (SPEC §5) — Pearson correlation, rank loss and clipped relative error, best bound first.

use crate::common::{
    bounds_error, check_writable, emit, has_extension, progress_bar, select_bounds, ProblemArgs,
};
use crate::CliError;
use anyhow::anyhow;
use ftnn_bounds::{compare_with_experiment, evaluate, ComparisonRow};
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `ftnn compare`.
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    #[command(flatten)]
    problem: ProblemArgs,
    /// Bounds to compare (`all` or a list, as for `analyze`).
    #[arg(long, default_value = "all")]
    bounds: String,
    /// Write the ranking here (atomically); the format follows the extension (.json, .csv).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Output format (default: table, or from the --output extension).
    #[arg(long, value_enum)]
    format: Option<Format>,
}

/// Output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// A table for humans.
    Table,
    /// JSON.
    Json,
    /// CSV, one row per bound quantity.
    Csv,
}

#[derive(Serialize)]
struct CompareReport<'a> {
    ftnn_version: &'static str,
    model: serde_json::Value,
    p: &'a [f64],
    repetitions: usize,
    seed: u64,
    inputs: usize,
    ranking: &'a [ComparisonRow],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
}

/// Runs `ftnn compare`.
pub fn run(args: CompareArgs) -> Result<(), CliError> {
    let problem = args.problem.load()?;
    if problem.inputs.rows() * problem.net.n_outputs() < 2 {
        return Err(CliError::input(anyhow!(
            "comparing bounds needs at least two points (inputs × outputs); got one"
        )));
    }
    let output = args.output.as_deref();
    let format = args.format.unwrap_or(if has_extension(output, "json") {
        Format::Json
    } else if has_extension(output, "csv") {
        Format::Csv
    } else {
        Format::Table
    });
    if let Some(out) = output {
        check_writable(out)?;
    }
    let (kinds, notes) = select_bounds(&args.bounds, &problem)?;
    let mc = args.problem.monte_carlo(&problem)?;
    let bar = progress_bar(mc.total_rows(problem.inputs.rows()), "crashed passes");
    let stats = mc.run_with_progress(&problem.inputs, |done| bar.set_position(done))?;
    bar.finish_and_clear();
    let bounds = kinds
        .into_iter()
        .map(|kind| evaluate(kind, &problem.net, &problem.p, &problem.inputs).map_err(bounds_error))
        .collect::<Result<Vec<_>, _>>()?;
    let ranking = compare_with_experiment(&bounds, &stats).map_err(bounds_error)?;

    let text = match format {
        Format::Json => {
            let report = CompareReport {
                ftnn_version: env!("CARGO_PKG_VERSION"),
                model: serde_json::json!({
                    "sizes": problem.net.sizes(),
                    "activation": problem.net.activation().name(),
                    "k_lips": problem.net.k_lips(),
                }),
                p: problem.p.as_slice(),
                repetitions: args.problem.repetitions,
                seed: args.problem.seed,
                inputs: problem.inputs.rows(),
                ranking: &ranking,
                notes,
            };
            serde_json::to_string_pretty(&report).expect("plain data") + "\n"
        }
        Format::Csv => {
            let mut s = String::from(
                "quantity,against,points,pearson,rank_loss,median_rel_error,mean_rel_error\n",
            );
            for r in &ranking {
                s += &format!(
                    "{},{},{},{},{},{},{}\n",
                    r.quantity,
                    r.against,
                    r.points,
                    r.pearson.map_or(String::new(), |v| v.to_string()),
                    r.rank_loss,
                    r.median_rel_error,
                    r.mean_rel_error
                );
            }
            s
        }
        Format::Table => {
            let mut s = format!(
                "{} inputs, {} crash patterns each; bounds ranked by |Pearson correlation| with the experiment\n\n{:<12} {:<10} {:>9} {:>10} {:>14} {:>12}\n",
                problem.inputs.rows(),
                args.problem.repetitions,
                "bound",
                "vs",
                "pearson",
                "rank loss",
                "median rel.err",
                "mean rel.err"
            );
            for r in &ranking {
                s += &format!(
                    "{:<12} {:<10} {:>9} {:>10.4} {:>13.1}% {:>11.1}%\n",
                    r.quantity,
                    r.against,
                    r.pearson.map_or("—".to_string(), |v| format!("{v:.4}")),
                    r.rank_loss,
                    100.0 * r.median_rel_error,
                    100.0 * r.mean_rel_error
                );
            }
            for n in &notes {
                s += &format!("note: {n}\n");
            }
            s
        }
    };
    emit(output, &text)
}
