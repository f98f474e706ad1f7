//! What `tail-bound` shows: the conclusion, the CSV tables, the figures and the report
//! section, all from the stored results.

use super::{guarantee_holds, Params, Results, TailPoint};
use crate::common::mnist::mean;
use ftnn_lab::{Csv, PaperRow, ReportSection, Verdict};
use ftnn_plot::{self as plot, Axes, Series};
use std::path::{Path, PathBuf};

/// The conclusion, generated from the numbers.
pub(super) fn conclusion(params: &Params, r: &Results) -> String {
    let (n, c, s) = (&r.network, &r.certificate, &r.summary);
    let holds = guarantee_holds(s, params.violation_tolerance);
    format!(
        "784-100-100-10, l2 = {:e}, {} epochs: train accuracy {:.4}, test {:.4}. Crashing layer \
         h1 (n = {}, p = {}): q = {:.3e}, α = {:.4}, δ₀ = {:.3e}; R = {} copies for δ = {:e}. \
         At ε = {} over {} training inputs, b3 on the loss gives mean E Δ = {:.3e} and mean \
         Var Δ = {:.3e}: {} certified, {} not certified, {} infeasible. On {} inputs × {} ε \
         values ({} Monte Carlo draws each), {} of {} informative pairs ({:.2} %) have the \
         first-order bound below the Clopper–Pearson lower bound of the empirical tail, on {} \
         inputs{}; {} of the {} certified Monte Carlo inputs are verified at ε. The Chebyshev \
         term alone is violated on {} of {} informative pairs ({:.2} %). {}",
        params.l2,
        params.epochs,
        n.train_accuracy,
        n.test_accuracy,
        n.width,
        params.p,
        n.q,
        n.alpha,
        n.delta0,
        n.copies,
        params.delta,
        params.epsilon,
        c.inputs,
        c.mean_mean,
        c.mean_var,
        c.certified,
        c.not_certified,
        c.infeasible,
        r.inputs.len(),
        params.epsilons.len(),
        params.repetitions,
        s.violated,
        s.informative,
        100.0 * s.violated_fraction,
        s.inputs_violated,
        if s.violated > 0 {
            format!(" (empirical tail up to {:.1}× the bound)", s.max_ratio)
        } else {
            String::new()
        },
        r.certified_verified,
        r.certified_mc,
        r.chebyshev_summary.violated,
        r.chebyshev_summary.informative,
        100.0 * r.chebyshev_summary.violated_fraction,
        match (
            holds,
            guarantee_holds(&r.chebyshev_summary, params.violation_tolerance)
        ) {
            (true, true) => "The first-order guarantee holds on this network.".to_string(),
            (true, false) => format!(
                "The paper's bound holds, but only because δ₀ = {:.3} fills most of it (it is \
                 below 1 on {} of {} pairs); b3's Chebyshev term alone falls below the \
                 empirical tail on more than {:.0} % of its informative pairs.",
                n.delta0,
                s.informative,
                s.pairs,
                100.0 * params.violation_tolerance
            ),
            (false, _) => "The first-order guarantee does not hold on this network: b3's \
                           moments underestimate the tail."
                .to_string(),
        }
    )
}

/// One row per (input, ε).
pub(super) fn tails_table(r: &Results) -> Csv {
    let opt = |v: Option<f64>| v.map_or("".to_string(), |v| format!("{v:.6e}"));
    let rows = r
        .inputs
        .iter()
        .flat_map(|i| {
            i.points.iter().map(move |pt| {
                vec![
                    i.index.to_string(),
                    format!("{:.6e}", pt.epsilon),
                    pt.exceed.to_string(),
                    format!("{:.6e}", pt.tail),
                    format!("{:.6e}", pt.lower),
                    format!("{:.6e}", pt.upper),
                    opt(pt.chebyshev),
                    opt(pt.bound),
                    format!("{:?}", pt.class()),
                ]
            })
        })
        .collect();
    Csv {
        name: "tails.csv".into(),
        header: vec![
            "input",
            "epsilon",
            "exceed",
            "tail",
            "cp_lower",
            "cp_upper",
            "chebyshev",
            "bound",
            "class",
        ],
        rows,
    }
}

/// One row per Monte Carlo input.
pub(super) fn inputs_table(r: &Results) -> Csv {
    let rows = r
        .inputs
        .iter()
        .map(|i| {
            vec![
                i.index.to_string(),
                format!("{:.6e}", i.mean),
                format!("{:.6e}", i.var),
                format!("{:?}", i.verdict),
                format!("{:.6e}", i.tail_at_epsilon),
                format!("{:.6e}", i.upper_at_epsilon),
            ]
        })
        .collect();
    Csv {
        name: "inputs.csv".into(),
        header: vec![
            "input",
            "b3_mean",
            "b3_var",
            "verdict",
            "tail_at_epsilon",
            "cp_upper_at_epsilon",
        ],
        rows,
    }
}

/// Positive points only (log axes).
fn positive(label: impl Into<String>, xs: &[f64], ys: &[f64]) -> Series {
    let (x, y): (Vec<f64>, Vec<f64>) = xs
        .iter()
        .zip(ys)
        .filter(|(x, y)| **x > 0.0 && y.is_finite() && **y > 0.0)
        .map(|(x, y)| (*x, *y))
        .unzip();
    Series::new(label, x, y)
}

/// The curves of one input (or of the mean over inputs) against ε.
fn curves(points: &[&[TailPoint]], epsilons: &[f64]) -> [Vec<f64>; 4] {
    let avg = |f: &dyn Fn(&TailPoint) -> f64| -> Vec<f64> {
        (0..epsilons.len())
            .map(|j| mean(&points.iter().map(|p| f(&p[j])).collect::<Vec<f64>>()))
            .collect()
    };
    // A missing bound (E Δ ≥ ε) bounds nothing: 1.
    [
        avg(&|p| p.tail),
        avg(&|p| p.upper),
        avg(&|p| p.chebyshev.unwrap_or(1.0).min(1.0)),
        avg(&|p| p.bound.unwrap_or(1.0).min(1.0)),
    ]
}

/// The figures: tail curves of the first input, the mean over inputs, and the violated
/// fraction per ε.
pub(super) fn figures(params: &Params, r: &Results, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let eps = &params.epsilons;
    let mut out = Vec::new();
    let sets: [(&str, String, Vec<&[TailPoint]>); 2] = [
        (
            "tail_first_input",
            "training input 0".to_string(),
            r.inputs
                .iter()
                .take(1)
                .map(|i| i.points.as_slice())
                .collect(),
        ),
        (
            "tail_mean",
            format!("mean over {} training inputs", r.inputs.len()),
            r.inputs.iter().map(|i| i.points.as_slice()).collect(),
        ),
    ];
    for (name, what, pts) in sets {
        if pts.is_empty() {
            continue;
        }
        let [tail, upper, cheb, bound] = curves(&pts, eps);
        let series = vec![
            positive("empirical P̂(Δ > ε)", eps, &tail),
            positive("Clopper–Pearson upper (1 − 10⁻³)", eps, &upper),
            positive("Chebyshev Var Δ/(ε − E Δ)² (b3)", eps, &cheb),
            positive("Chernoff + Chebyshev δ₀ + Var/(ε − E)²", eps, &bound),
        ];
        out.push(plot::line_plot(
            dir,
            name,
            &Axes::new(
                format!("P(Δ > ε) of the loss, {what}, p = {}", params.p),
                "ε",
                "P(Δ > ε)  (bounds capped at 1)",
            )
            .log_x()
            .log_y(),
            &series,
        )?);
    }
    let frac = |label: &str, f: &[f64]| {
        let pts: Vec<(f64, f64)> = eps
            .iter()
            .zip(f)
            .filter(|(_, f)| f.is_finite())
            .map(|(e, f)| (*e, 100.0 * f))
            .collect();
        Series::new(
            label,
            pts.iter().map(|p| p.0).collect(),
            pts.iter().map(|p| p.1).collect(),
        )
    };
    out.push(plot::line_plot(
        dir,
        "violations_by_epsilon",
        &Axes::new(
            "Bound below the CP lower bound of the tail (informative pairs)",
            "ε",
            "violated pairs (%)",
        )
        .log_x(),
        &[
            frac("δ₀ + Chebyshev", &r.summary.fraction_by_epsilon),
            frac("Chebyshev alone", &r.chebyshev_summary.fraction_by_epsilon),
        ],
    )?);
    Ok(out)
}

/// The verdict of the rule of the module documentation on one set of counts.
fn rule(s: &super::ViolationSummary, tolerance: f64, inputs: usize) -> Verdict {
    if s.informative == 0 {
        Verdict::NotComparable("no informative (input, ε) pair: the bound is empty here".into())
    } else if guarantee_holds(s, tolerance) {
        Verdict::Reproduced
    } else {
        Verdict::Differs(format!(
            "the bound lies significantly below the empirical tail on {:.1} % of informative \
             pairs (tolerance {:.0} %), {} of {} inputs, up to {:.1}×",
            100.0 * s.violated_fraction,
            100.0 * tolerance,
            s.inputs_violated,
            inputs,
            s.max_ratio
        ))
    }
}

/// The rule of the module documentation, as the report prints it.
fn rule_text(tolerance: f64) -> String {
    format!(
        "holds unless the bound is below the Clopper–Pearson lower bound of the empirical tail \
         on more than {:.0} % of informative (input, ε) pairs",
        100.0 * tolerance
    )
}

/// The report section (verdict rule of the module documentation).
pub(super) fn report_section(params: &Params, r: &Results) -> ReportSection {
    let s = &r.summary;
    if r.inputs.is_empty() || s.fraction_by_epsilon.len() != params.epsilons.len() {
        return ReportSection::unreadable("no Monte Carlo inputs");
    }
    let verdict = rule(s, params.violation_tolerance, r.inputs.len());
    let n = &r.network;
    let rows = vec![
        PaperRow::new(
            "P(Δ > ε) ≤ δ₀ + Var Δ/(ε − E Δ)² (b3 moments): violated informative pairs",
            "qualitative: the bound holds",
            format!(
                "{} of {} informative ({:.2} %) below the CP lower bound; {} below P̂ (of {} \
                 pairs, {} have a bound ≥ 1 and {} E Δ ≥ ε)",
                s.violated,
                s.informative,
                100.0 * s.violated_fraction,
                s.below_estimate,
                s.pairs,
                s.trivial,
                s.infeasible
            ),
            verdict.clone(),
        )
        .with_rule(rule_text(params.violation_tolerance), None),
        {
            let ch = &r.chebyshev_summary;
            PaperRow::new(
                "P(Δ > ε) ≤ Var Δ/(ε − E Δ)² (Chebyshev term alone): violated informative pairs",
                "qualitative: the bound holds",
                format!(
                    "{} of {} ({:.2} %) below the CP lower bound on {} inputs{}; {} below P̂",
                    ch.violated,
                    ch.informative,
                    100.0 * ch.violated_fraction,
                    ch.inputs_violated,
                    if ch.violated > 0 {
                        format!(", up to {:.1}×", ch.max_ratio)
                    } else {
                        String::new()
                    },
                    ch.below_estimate
                ),
                rule(ch, params.violation_tolerance, r.inputs.len()),
            )
            .with_rule(rule_text(params.violation_tolerance), None)
        },
        PaperRow::new(
            "copies R for δ = 1e-5",
            "20 (printed truncated)",
            n.copies.to_string(),
            Verdict::NotComparable(
                "the original truncated ⌈2 ln(1/δ)/ln 3⌉ = ⌈20.96⌉ (SPEC §6, §12)".into(),
            ),
        ),
    ];
    let c = &r.certificate;
    ReportSection {
        rows,
        verdict,
        notes: format!(
            "§6 quantities: q = {:.3e}, α = e^2.5·p = {:.4}, δ₀ = {:.3e}; at ε = {} over {} \
             training inputs: {} certified, {} not certified, {} infeasible (median Chebyshev \
             term {:.3e}). Of the {} certified inputs with a Monte Carlo check, {} are verified \
             (Clopper–Pearson upper < 1/3). Rule fixed before the run: a pair (input, ε) is \
             informative when E Δ < ε and the bound is < 1, violated when the bound is below \
             the one-sided Clopper–Pearson lower bound (1 − 10⁻³) of P̂(Δ > ε); the guarantee \
             holds when ≤ {:.0} % of informative pairs are violated. b3 is a first-order \
             estimate, not a bound (SPEC §6 note).",
            n.q,
            n.alpha,
            n.delta0,
            params.epsilon,
            c.inputs,
            c.certified,
            c.not_certified,
            c.infeasible,
            c.median_chebyshev,
            r.certified_mc,
            r.certified_verified,
            100.0 * params.violation_tolerance
        ),
    }
}
