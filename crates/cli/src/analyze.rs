//! `ftnn analyze`: Monte Carlo (and optionally exact) statistics of Δ for the user's model,
//! with the analytic bounds next to them.

use crate::common::{
    bounds_error, check_writable, emit, has_extension, progress_bar, select_bounds, ProblemArgs,
};
use crate::report::AnalyzeReport;
use crate::CliError;
use ftnn_bounds::evaluate;
use ftnn_model::{exact_delta, ModelError};
use std::path::PathBuf;

/// Arguments of `ftnn analyze`.
#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    problem: ProblemArgs,
    /// Also compute E Δ and std Δ exactly by enumerating every crash pattern (at most
    /// 20 neurons with 0 < p < 1).
    #[arg(long)]
    exact: bool,
    /// Analytic bounds to add: `all`, or a comma-separated list of b1, b1_1, b1_2, b1_inf, b2,
    /// b3, b4, b5. With `all`, bounds that are not defined for the given p are left out and
    /// the report says why; a bound named explicitly that is not defined is an error.
    #[arg(long)]
    bounds: Option<String>,
    /// Write the report here (atomically) instead of stdout; JSON when it ends in .json.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Report format (default: table, or json when --output ends in .json).
    #[arg(long, value_enum)]
    format: Option<Format>,
}

/// Report formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// A table for humans.
    Table,
    /// The JSON document of SPEC §11.
    Json,
}

/// Runs `ftnn analyze`.
pub fn run(args: AnalyzeArgs) -> Result<(), CliError> {
    // Validate everything before any work, so that bad input fails fast and writes nothing.
    let problem = args.problem.load()?;
    let output = args.output.as_deref();
    let format = args.format.unwrap_or(if has_extension(output, "json") {
        Format::Json
    } else {
        Format::Table
    });
    if let Some(out) = output {
        check_writable(out)?;
    }
    let (kinds, mut notes) = match &args.bounds {
        Some(list) => select_bounds(list, &problem)?,
        None => (Vec::new(), Vec::new()),
    };

    let mc = args.problem.monte_carlo(&problem)?;
    let bar = progress_bar(mc.total_rows(problem.inputs.rows()), "crashed passes");
    let stats = mc.run_with_progress(&problem.inputs, |done| bar.set_position(done))?;
    bar.finish_and_clear();

    let exact = if args.exact {
        match exact_delta(
            &problem.net,
            &problem.p,
            &problem.inputs,
            ftnn_model::DEFAULT_MAX_CRASHABLE,
        ) {
            Ok(e) => Some(e),
            Err(e @ ModelError::TooManyCrashable { .. }) => {
                let msg = format!("exact enumeration skipped: {e}");
                eprintln!("warning: {msg}");
                notes.push(msg);
                None
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    let bounds = kinds
        .into_iter()
        .map(|kind| evaluate(kind, &problem.net, &problem.p, &problem.inputs).map_err(bounds_error))
        .collect::<Result<Vec<_>, _>>()?;

    let report = AnalyzeReport::new(
        &problem.net,
        &problem.p,
        args.problem.seed,
        &stats,
        exact.as_ref(),
        &bounds,
        notes,
    );
    let text = match format {
        Format::Json => report.to_json(),
        Format::Table => report.to_table(if output.is_some() { usize::MAX } else { 20 }),
    };
    emit(output, &text)
}
