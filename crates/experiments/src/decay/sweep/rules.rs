//! The SPEC §16 rules of the decay experiments, fixed before any run: one [`Rule`] per
//! headline number of a [`Claim`], and the report row it gives on stored results.
//!
//! * **Slopes** (D, H_diag, H_all, Var Δ, and the growth of a weight norm, compared through
//!   the log–log slope its two end values imply): reproduced ⇔ |ours − paper| ≤ 2σ +
//!   [`SLOPE_TOLERANCE`] with σ our fit's standard error (the paper's is not published).
//! * **H slopes must decide the paper's contrast** between plain training (−1.36) and the
//!   continuous limit (−1.93/−1.95): when the window 2σ + tolerance is not narrower than half
//!   their gap ([`h_contrast_half_gap`]), one value could reproduce both, so the verdict is
//!   *not comparable* (too imprecise) instead of a verdict that decides nothing.
//! * **Levels** (W_prod with the continuous regularizer): two rules, the slope over the upper
//!   widths within 2σ + [`LEVEL_SLOPE`] of 0 ("levels off"), and the geometric-mean level there
//!   within a factor [`LEVEL_FACTOR`] (+ 2σ on the log scale) of the paper's.

use super::results::{geo_mean, Claim, Metric, Results, SweepResult};
use super::run::upper_from;
use super::spec::{
    h_contrast_half_gap, LEVEL_FACTOR, LEVEL_SLOPE, SLOPE_TOLERANCE, SLOPE_TOLERANCE_REASON,
};
use ftnn_lab::rule::{fmt_num, Rule};
use ftnn_lab::{PaperRow, Verdict};
use ftnn_plot::{self as plot, signed};

/// Why a level is compared within a factor [`LEVEL_FACTOR`].
const LEVEL_REASON: &str = "the paper gives the level as ≈ 1.1e3, read off a plot";
/// Why "levels off" allows a slope of ±[`LEVEL_SLOPE`] over the upper widths.
const LEVEL_SLOPE_REASON: &str =
    "a norm that grows like n^0.2 or less over the upper widths is taken as bounded; plain \
     training's W_prod grows like n^0.44";

/// The rule of a log–log slope claim.
pub(crate) fn slope_rule(quantity: impl Into<String>, paper: f64) -> Rule {
    Rule::new(quantity, paper).tolerance(SLOPE_TOLERANCE, SLOPE_TOLERANCE_REASON)
}

/// Whether a judged H slope rule could reproduce both sides of the contrast: its window
/// z·σ + tolerance is at least half the gap between plain training and the continuous limit.
pub(crate) fn too_imprecise(rule: &Rule, metric: Metric, our_se: f64) -> bool {
    let h = matches!(metric, Metric::HDiag | Metric::HAll);
    let se = if our_se.is_finite() {
        our_se
    } else {
        f64::INFINITY
    };
    h && rule.z * se.hypot(rule.paper_se) + rule.tolerance >= h_contrast_half_gap()
}

/// The rule of a growth claim: the log–log slope implied by the paper's end values.
pub(crate) fn growth_rule(quantity: impl Into<String>, from: f64, to: f64, n: (f64, f64)) -> Rule {
    slope_rule(quantity, (to / from).ln() / (n.1 / n.0).ln())
}

/// The two rules of a level claim: (levels off, level).
pub(crate) fn level_rules(metric: Metric, level: f64) -> (Rule, Rule) {
    (
        Rule::new(format!("{} slope over the upper widths", metric.key()), 0.0)
            .tolerance(LEVEL_SLOPE, LEVEL_SLOPE_REASON),
        Rule::new(format!("{} level at large n", metric.key()), level)
            .log_scale()
            .tolerance(LEVEL_FACTOR.ln(), LEVEL_REASON),
    )
}

/// Judges a slope: the rule's row, or *not comparable* when an H slope is too imprecise to
/// decide the contrast ([`too_imprecise`]).
pub(crate) fn slope_row(rule: &Rule, metric: Metric, ours: f64, se: f64, text: String) -> PaperRow {
    if ours.is_finite() && too_imprecise(rule, metric, se) {
        return rule.not_comparable_row(
            text,
            format!(
                "too imprecise to decide: the window 2σ + {} = {} is not narrower than half the \
                 gap between plain training's and the continuous limit's H slopes ({}), so one \
                 value could reproduce both",
                fmt_num(rule.tolerance),
                fmt_num(rule.z * se + rule.tolerance),
                fmt_num(h_contrast_half_gap())
            ),
        );
    }
    rule.row_with(ours, se, text)
}

/// The report rows of one claim on stored results (two for a level claim).
pub(crate) fn claim_rows(r: &Results, claim: &Claim) -> Vec<PaperRow> {
    let sweep_of = |name: &str| r.sweeps.iter().find(|s| s.spec.name == name);
    let label = |s: Option<&SweepResult>, what: String| match s {
        Some(s) if r.sweeps.len() > 1 => format!("{what} ({})", s.spec.data.label()),
        _ => what,
    };
    let missing = |rule: &Rule| rule.not_comparable_row("—", "not measured in this run");
    match *claim {
        Claim::Slope {
            sweep,
            metric,
            paper,
        } => {
            let s = sweep_of(sweep);
            let rule = slope_rule(label(s, format!("{} slope", metric.key())), paper);
            let Some(f) = s.and_then(|s| s.fit(metric)) else {
                return vec![missing(&rule)];
            };
            let (a, se) = (f.fit.slope, f.fit.slope_stderr);
            let text = format!("{} ± {}", signed(a, 3), fmt_num(se));
            vec![slope_row(&rule, metric, a, se, text)]
        }
        Claim::Growth {
            sweep,
            metric,
            paper_name,
            from,
            to,
            n_from,
            n_to,
        } => {
            let s = sweep_of(sweep);
            let q = format!("{} log–log slope (the paper's {paper_name})", metric.key());
            let mut rule = growth_rule(label(s, q), from, to, (n_from, n_to));
            let implied = rule.paper_value();
            let Some((s, f)) = s.and_then(|s| Some((s, s.fit(metric)?))) else {
                return vec![missing(&rule)];
            };
            let last = s.spec.widths.len() - 1;
            let text = format!(
                "{} ± {} ({} → {}, n = {} → {})",
                signed(f.fit.slope, 3),
                fmt_num(f.fit.slope_stderr),
                plot::fmt_value(s.geo_mean(metric, 0)),
                plot::fmt_value(s.geo_mean(metric, last)),
                s.spec.widths[0],
                s.spec.widths[last]
            );
            rule.quantity = format!(
                "{} (paper {} → {}, n = {n_from} → {n_to}: slope {})",
                rule.quantity,
                plot::fmt_value(from),
                plot::fmt_value(to),
                signed(implied, 2)
            );
            vec![rule.row_with(f.fit.slope, f.fit.slope_stderr, text)]
        }
        Claim::Level {
            sweep,
            metric,
            level,
        } => {
            let s = sweep_of(sweep);
            let (flat, lvl) = level_rules(metric, level);
            let (flat, lvl) = (
                Rule {
                    quantity: label(s, flat.quantity.clone()),
                    ..flat
                },
                Rule {
                    quantity: label(s, lvl.quantity.clone()),
                    ..lvl
                },
            );
            let Some((s, f)) = s.and_then(|s| Some((s, s.fit(metric)?))) else {
                return vec![missing(&flat), missing(&lvl)];
            };
            let from = upper_from(s.spec.widths.len());
            let upper: Vec<f64> = s.values(metric)[from..].concat();
            let (ours, se) = level_with_se(&upper);
            let (u, use_) = f
                .upper
                .as_ref()
                .map_or((f64::NAN, f64::NAN), |u| (u.slope, u.slope_stderr));
            vec![
                flat.row_with(
                    u,
                    use_,
                    format!(
                        "{} ± {} over n ≥ {}",
                        signed(u, 3),
                        fmt_num(use_),
                        s.spec.widths[from]
                    ),
                ),
                lvl.row_with(
                    ours,
                    se,
                    format!(
                        "{} (geometric mean over n ≥ {}, ± {})",
                        plot::fmt_value(ours),
                        s.spec.widths[from],
                        fmt_num(se)
                    ),
                ),
            ]
        }
    }
}

/// The geometric mean of the positive `values` and its standard error by the delta method:
/// level · sd(ln v)/√k (0 with one value).
pub(crate) fn level_with_se(values: &[f64]) -> (f64, f64) {
    let logs: Vec<f64> = values
        .iter()
        .filter(|&&v| v > 0.0)
        .map(|v| v.ln())
        .collect();
    let level = geo_mean(values);
    if logs.len() < 2 {
        return (level, 0.0);
    }
    let k = logs.len() as f64;
    let m = logs.iter().sum::<f64>() / k;
    let sd = (logs.iter().map(|l| (l - m).powi(2)).sum::<f64>() / (k - 1.0)).sqrt();
    (level, level * sd / k.sqrt())
}

/// Whether every row reproduced; otherwise the experiment's verdict lists the rows that differ
/// (or, with none differing, those not comparable).
pub(crate) fn overall(rows: &[PaperRow]) -> Verdict {
    let list = |label: &str| -> Vec<String> {
        rows.iter()
            .filter(|r| r.verdict.label() == label)
            .map(|r| format!("{}: {}", r.quantity, r.verdict.reason()))
            .collect()
    };
    let (differ, nc) = (list("differs"), list("not comparable"));
    if !differ.is_empty() {
        Verdict::Differs(format!(
            "{} of {} numbers differ — {}",
            differ.len(),
            rows.len(),
            differ.join("; ")
        ))
    } else if !nc.is_empty() {
        Verdict::NotComparable(format!(
            "{} of {} numbers not comparable — {}",
            nc.len(),
            rows.len(),
            nc.join("; ")
        ))
    } else {
        Verdict::Reproduced
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decay::experiments::DecayExperiment;

    const SE: f64 = 0.05;
    /// The window of a slope rule with our se = [`SE`]: 2·0.05 + 0.10.
    const WINDOW: f64 = 2.0 * SE + SLOPE_TOLERANCE;

    fn reproduced(rule: &Rule, metric: Metric, v: f64, se: f64) -> bool {
        slope_row(rule, metric, v, se, String::new()).verdict == Verdict::Reproduced
    }

    #[test]
    fn slope_rule_just_inside_and_outside() {
        let r = slope_rule("D slope", -0.97);
        for m in [Metric::D, Metric::HDiag, Metric::VarDelta] {
            assert!(reproduced(&r, m, -0.97 + WINDOW - 1e-9, SE));
            assert!(reproduced(&r, m, -0.97 - WINDOW + 1e-9, SE));
            assert!(!reproduced(&r, m, -0.97 + WINDOW + 1e-9, SE));
            assert!(!reproduced(&r, m, -0.97 - WINDOW - 1e-9, SE));
        }
        // A slope without a fit differs.
        assert!(!reproduced(&r, Metric::D, f64::NAN, SE));
    }

    #[test]
    fn h_rules_refuse_windows_that_cannot_decide() {
        let r = slope_rule("H_diag slope", -1.36);
        let half = h_contrast_half_gap();
        assert!((half - 0.285).abs() < 1e-12);
        // Just inside: 2·se + 0.10 below the half gap decides; just outside it does not.
        let se_ok = (half - SLOPE_TOLERANCE) / 2.0 - 1e-6;
        let se_bad = (half - SLOPE_TOLERANCE) / 2.0 + 1e-6;
        assert!(reproduced(&r, Metric::HDiag, -1.36, se_ok));
        let row = slope_row(&r, Metric::HDiag, -1.36, se_bad, String::new());
        assert_eq!(row.verdict.label(), "not comparable");
        // D and Var Δ are not part of the contrast: the same se still decides.
        assert!(reproduced(&r, Metric::D, -1.36, se_bad));
    }

    /// SPEC §16: plain training's H slope (−1.36) and the continuous limit's (−1.93, −1.95,
    /// and Fashion's −1.94/−1.99) must never both be reproduced by one value, whatever our
    /// standard error: either the windows are disjoint or the verdict is not comparable.
    #[test]
    fn plain_and_continuous_h_slopes_are_contrasted() {
        let claims = |e: DecayExperiment| -> Vec<f64> {
            e.claims()
                .into_iter()
                .filter_map(|c| match c {
                    Claim::Slope {
                        metric: Metric::HDiag | Metric::HAll,
                        paper,
                        ..
                    } => Some(paper),
                    _ => None,
                })
                .collect()
        };
        let plain: Vec<f64> = [
            DecayExperiment::DerivativeDecay,
            DecayExperiment::DecayFashion,
        ]
        .into_iter()
        .flat_map(claims)
        .collect();
        let limit: Vec<f64> = [
            DecayExperiment::WeightDecayContinuity,
            DecayExperiment::ContinuityFt,
        ]
        .into_iter()
        .flat_map(claims)
        .collect();
        assert_eq!((plain.len(), limit.len()), (4, 6));
        for &p in &plain {
            for &l in &limit {
                let (rp, rl) = (slope_rule("H", p), slope_rule("H", l));
                for se in [0.0, 0.02, 0.05, 0.09, 0.0924, 0.1, 0.2, 0.5] {
                    for k in 0..=400 {
                        let v = -2.2 + k as f64 * 0.003;
                        let both = reproduced(&rp, Metric::HDiag, v, se)
                            && reproduced(&rl, Metric::HDiag, v, se);
                        assert!(!both, "{v} reproduces {p} and {l} with se {se}");
                    }
                }
            }
        }
    }

    #[test]
    fn growth_and_level_rules_just_inside_and_outside() {
        // 12.8 → 82.6 over n = 50 → 2500: slope ln(82.6/12.8)/ln 50 = 0.47662.
        let g = growth_rule("W_2", 12.8, 82.6, (50.0, 2500.0));
        let implied = (82.6f64 / 12.8).ln() / 50f64.ln();
        assert!((g.paper_value() - implied).abs() < 1e-12 && (implied - 0.47662).abs() < 1e-5);
        assert_eq!(
            g.judge(implied + WINDOW - 1e-9, SE).verdict,
            Verdict::Reproduced
        );
        assert_eq!(
            g.judge(implied - WINDOW - 1e-9, SE).verdict.label(),
            "differs"
        );
        let (flat, level) = level_rules(Metric::WProd, 1.1e3);
        let w = 2.0 * SE + LEVEL_SLOPE;
        assert_eq!(flat.judge(w - 1e-9, SE).verdict, Verdict::Reproduced);
        assert_eq!(flat.judge(-w - 1e-9, SE).verdict.label(), "differs");
        // Within 2× (se 0): 2199 and 551 in, 2201 and 549 out.
        assert_eq!(level.judge(2199.0, 0.0).verdict, Verdict::Reproduced);
        assert_eq!(level.judge(551.0, 0.0).verdict, Verdict::Reproduced);
        assert_eq!(level.judge(2201.0, 0.0).verdict.label(), "differs");
        assert_eq!(level.judge(549.0, 0.0).verdict.label(), "differs");
    }

    #[test]
    fn level_standard_error_by_hand() {
        // ln values 0, ln 4 → mean ln 2 (level 2), sd = ln4/√2, se = 2·(ln4/√2)/√2 = ln 4.
        let (l, se) = level_with_se(&[1.0, 4.0]);
        assert!((l - 2.0).abs() < 1e-12 && (se - 4f64.ln()).abs() < 1e-12);
        assert_eq!(level_with_se(&[3.0]).1, 0.0);
    }

    #[test]
    fn overall_verdict_counts_rows() {
        let row = |v: Verdict| PaperRow::new("q", "p", "o", v);
        assert_eq!(overall(&[row(Verdict::Reproduced)]), Verdict::Reproduced);
        let v = overall(&[
            row(Verdict::Reproduced),
            row(Verdict::NotComparable("imprecise".into())),
        ]);
        assert_eq!(v.label(), "not comparable");
        let v = overall(&[
            row(Verdict::Differs("far".into())),
            row(Verdict::NotComparable("imprecise".into())),
        ]);
        assert!(v.label() == "differs" && v.reason().starts_with("1 of 2"));
    }
}
