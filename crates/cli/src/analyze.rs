//! `ftnn analyze`: Monte Carlo (and optionally exact) statistics of Δ for the user's model,
//! with the analytic bounds next to them.

use crate::common::{
    bounds_error, check_writable, emit, has_extension, progress_bar, select_bounds, AnyProblem,
    Problem, ProblemArgs, SeqProblem,
};
use crate::inspect::describe;
use crate::network::Network;
use crate::report::AnalyzeReport;
use crate::CliError;
use ftnn_bounds::{evaluate, evaluate_seq, BoundKind, BoundsError};
use ftnn_model::seq::{seq_exact_delta, SeqMonteCarlo};
use ftnn_model::{exact_delta, ExactStats, ModelError};
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
    let problem = args.problem.load_any()?;
    let output = args.output.as_deref();
    let format = args.format.unwrap_or(if has_extension(output, "json") {
        Format::Json
    } else {
        Format::Table
    });
    if let Some(out) = output {
        check_writable(out)?;
    }
    let report = match problem {
        AnyProblem::Mlp(problem) => analyze_mlp(&args, &problem)?,
        AnyProblem::Seq(problem) => analyze_seq(&args, &problem)?,
    };
    let text = match format {
        Format::Json => report.to_json(),
        Format::Table => report.to_table(if output.is_some() { usize::MAX } else { 20 }),
    };
    emit(output, &text)
}

/// Exact enumeration, or a note saying why it was skipped when there are too many
/// crashable elements.
fn exact_or_note(
    result: Result<ExactStats, ModelError>,
    notes: &mut Vec<String>,
) -> Result<Option<ExactStats>, CliError> {
    match result {
        Ok(e) => Ok(Some(e)),
        Err(e @ ModelError::TooManyCrashable { .. }) => {
            let msg = format!("exact enumeration skipped: {e}");
            eprintln!("warning: {msg}");
            notes.push(msg);
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// `analyze` on the MLP engine: Monte Carlo, exact enumeration, every bound.
fn analyze_mlp(args: &AnalyzeArgs, problem: &Problem) -> Result<AnalyzeReport, CliError> {
    let (kinds, mut notes) = match &args.bounds {
        Some(list) => select_bounds(list, problem)?,
        None => (Vec::new(), Vec::new()),
    };
    let mc = args.problem.monte_carlo(problem)?;
    let bar = progress_bar(mc.total_rows(problem.inputs.rows()), "crashed passes");
    let stats = mc.run_with_progress(&problem.inputs, |done| bar.set_position(done))?;
    bar.finish_and_clear();
    let exact = if args.exact {
        exact_or_note(
            exact_delta(
                &problem.net,
                &problem.p,
                &problem.inputs,
                ftnn_model::DEFAULT_MAX_CRASHABLE,
            ),
            &mut notes,
        )?
    } else {
        None
    };
    let bounds = kinds
        .into_iter()
        .map(|kind| evaluate(kind, &problem.net, &problem.p, &problem.inputs).map_err(bounds_error))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AnalyzeReport::new(
        describe(&Network::Mlp(problem.net.clone())),
        &problem.p,
        args.problem.seed,
        &stats,
        exact.as_ref(),
        &bounds,
        notes,
    ))
}

/// `analyze` on a Sequential network (CNNs): Monte Carlo, exact enumeration and the bounds
/// b3, b4, b5 at the crash sites of SPEC §11 (b1 and b2 are defined for MLPs only: `--bounds
/// all` notes it, naming them is an error).
fn analyze_seq(args: &AnalyzeArgs, problem: &SeqProblem) -> Result<AnalyzeReport, CliError> {
    let mut notes = Vec::new();
    let mut kinds = Vec::new();
    if let Some(list) = &args.bounds {
        let requested = BoundKind::parse_list(list)
            .map_err(|e| CliError::input(anyhow::anyhow!("--bounds: {e}")))?;
        let all = list.split(',').any(|s| s.trim() == "all");
        for kind in requested {
            if matches!(kind, BoundKind::B3 | BoundKind::B4 | BoundKind::B5) {
                kinds.push(kind);
                continue;
            }
            let msg = format!(
                "{} is defined for MLPs with crashes at the first hidden layer only; this \
                 network has convolution, pooling or normalisation layers",
                kind.name()
            );
            if all {
                notes.push(format!("{} omitted: {msg}", kind.name()));
            } else {
                return Err(CliError::input(anyhow::anyhow!("--bounds: {msg}")));
            }
        }
    }
    let mut mc = SeqMonteCarlo::new(&problem.net, problem.p.clone())?
        .repetitions(args.problem.repetitions)
        .seed(args.problem.seed);
    if let Some(mask) = &problem.crash_mask {
        mc = mc.crash_mask(mask)?;
    }
    let n = problem.x.dims()[0];
    let bar = progress_bar(mc.total_rows(n), "crashed passes");
    let stats = mc.run_with_progress(&problem.x, |done| bar.set_position(done))?;
    bar.finish_and_clear();
    let exact = if args.exact {
        exact_or_note(
            seq_exact_delta(
                &problem.net,
                &problem.p,
                &problem.x,
                problem.crash_mask.as_deref(),
                ftnn_model::DEFAULT_MAX_CRASHABLE,
            ),
            &mut notes,
        )?
    } else {
        None
    };
    let mut bounds = Vec::new();
    for kind in kinds {
        let bar = progress_bar(1, kind.name());
        let b = evaluate_seq(
            kind,
            &problem.net,
            &problem.p,
            &problem.x,
            problem.crash_mask.as_deref(),
        );
        bar.finish_and_clear();
        match b {
            Ok(b) => bounds.push(b),
            Err(e @ BoundsError::NotApplicable { .. }) if all_bounds(args) => {
                let msg = format!("{} omitted: {e}", kind.name());
                eprintln!("warning: {msg}");
                notes.push(msg);
            }
            Err(e) => return Err(bounds_error(e)),
        }
    }
    Ok(AnalyzeReport::new(
        describe(&Network::Seq(Box::new(problem.net.clone()))),
        &problem.p,
        args.problem.seed,
        &stats,
        exact.as_ref(),
        &bounds,
        notes,
    ))
}

/// Whether `--bounds` includes `all` (undefined bounds are then skipped with a note).
fn all_bounds(args: &AnalyzeArgs) -> bool {
    args.bounds
        .as_deref()
        .is_some_and(|l| l.split(',').any(|s| s.trim() == "all"))
}
