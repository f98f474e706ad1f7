//! The stored outcome of the sweeps and the conclusion that sums them up.

use super::results::{Claim, Metric, Results, SweepResult};
use super::rules::{claim_rows, slope_row, slope_rule};
use super::run::upper_from;
use super::spec::LEVEL_SLOPE;
use ftnn_lab::{Csv, Outcome};
use ftnn_plot::{self as plot, signed};

/// `12 s`, `4.2 min`, `3.1 h`.
pub fn fmt_duration(s: f64) -> String {
    if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 5400.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// How a slope compares with the continuous limit of its metric (SPEC §8), by the same rule as
/// a paper slope ([`slope_rule`]: 2σ + 0.10 around the limit's −1 or −2): "at", "shallower
/// than" or "steeper than" it, or "too imprecise to tell" for an H slope whose window could
/// not separate plain training from the limit.
pub(crate) fn limit_phrase(metric: Metric, slope: f64, se: f64) -> String {
    let Some(e) = metric.limit_slope() else {
        return String::new();
    };
    if !slope.is_finite() {
        return "no slope".into();
    }
    let rule = slope_rule("limit", e);
    let row = slope_row(&rule, metric, slope, se, String::new());
    match row.verdict.label() {
        "reproduced" => format!("consistent with the continuous limit's {}", signed(e, 0)),
        "not comparable" => format!(
            "too imprecise to tell from the continuous limit's {}",
            signed(e, 0)
        ),
        _ if slope > e => format!("shallower than the continuous limit's {}", signed(e, 0)),
        _ => format!("steeper than the continuous limit's {}", signed(e, 0)),
    }
}

/// The outcome of an experiment: results, CSV tables and a conclusion that sets each sweep's
/// slopes beside the paper's and the continuous limit, and states the paper profile's
/// estimated time.
pub fn outcome(results: Results, claims: &[Claim]) -> anyhow::Result<Outcome<Results>> {
    let mut nets_rows = Vec::new();
    let mut fit_rows = Vec::new();
    let mut sentences = Vec::new();
    for s in &results.sweeps {
        for r in &s.nets {
            let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6e}"));
            let mut row = vec![
                s.spec.name.clone(),
                r.width.to_string(),
                r.rep.to_string(),
                r.seed.to_string(),
                opt(r.d),
                opt(r.h_diag),
                opt(r.h_all),
                opt(r.var_delta),
            ];
            row.extend((0..3).map(|l| opt(r.w.get(l).copied())));
            row.extend([
                format!("{:.6e}", r.w_prod),
                opt(r.test.accuracy),
                format!("{:.6}", r.test.mae),
                format!("{:.6}", r.final_objective),
                format!("{:.3}", r.train_seconds),
                format!(
                    "{:.3}",
                    r.derivative_seconds + r.var_delta_seconds + r.other_seconds
                ),
            ]);
            nets_rows.push(row);
        }
        for f in &s.fits {
            let paper = claims
                .iter()
                .find_map(|c| match c {
                    Claim::Slope {
                        sweep,
                        metric,
                        paper,
                    } if *sweep == s.spec.name && metric.key() == f.metric => Some(*paper),
                    _ => None,
                })
                .map_or(String::new(), |p| format!("{p}"));
            fit_rows.push(vec![
                s.spec.name.clone(),
                f.metric.clone(),
                format!("{:.4}", f.fit.slope),
                format!("{:.4}", f.fit.slope_stderr),
                format!("{:.4}", f.fit.intercept),
                f.upper
                    .as_ref()
                    .map_or(String::new(), |u| format!("{:.4}", u.slope)),
                paper,
            ]);
        }
        sentences.push(sweep_sentence(s, claims));
    }
    let rows: Vec<_> = claims
        .iter()
        .flat_map(|c| claim_rows(&results, c))
        .collect();
    let count = |label: &str| rows.iter().filter(|r| r.verdict.label() == label).count();
    sentences.push(format!(
        "By the SPEC §16 rules, {} of the paper's {} numbers reproduced, {} differ and {} are \
         not comparable.",
        count("reproduced"),
        rows.len(),
        count("differs"),
        count("not comparable")
    ));
    if let Some(e) = &results.estimate {
        sentences.push(format!(
            "The {} profile ({} networks) would take about {} on this machine ({} threads): its \
             training steps timed at each of its widths, times its epochs and steps per epoch, \
             plus the measured seconds of measuring.",
            e.profile,
            e.nets,
            fmt_duration(e.seconds),
            e.threads
        ));
    }
    let mut header = vec![
        "sweep",
        "width",
        "rep",
        "seed",
        "D",
        "H_diag",
        "H_all",
        "var_delta",
    ];
    header.extend([
        "W_1",
        "W_2",
        "W_3",
        "W_prod",
        "test_accuracy",
        "test_mae",
        "final_objective",
        "train_seconds",
        "measure_seconds",
    ]);
    Ok(Outcome {
        results,
        conclusion: sentences.join(" "),
        tables: vec![
            Csv {
                name: "nets.csv".into(),
                header,
                rows: nets_rows,
            },
            Csv {
                name: "fits.csv".into(),
                header: vec![
                    "sweep",
                    "metric",
                    "slope",
                    "slope_stderr",
                    "intercept",
                    "upper_widths_slope",
                    "paper_slope",
                ],
                rows: fit_rows,
            },
        ],
    })
}

/// One sweep in a few sentences: slopes (ours, the paper's, the continuous limit), the weight
/// norms from the smallest to the largest width, the test score and the time.
pub(crate) fn sweep_sentence(s: &SweepResult, claims: &[Claim]) -> String {
    let last = s.spec.widths.len() - 1;
    let mut parts = Vec::new();
    for metric in [
        Metric::D,
        Metric::HDiag,
        Metric::HAll,
        Metric::HDiagPerSample,
        Metric::HAllPerSample,
        Metric::VarDelta,
    ] {
        let Some(f) = s.fit(metric) else { continue };
        let paper = claims.iter().find_map(|c| match c {
            Claim::Slope {
                sweep,
                metric: m,
                paper,
            } if *sweep == s.spec.name && *m == metric => Some(*paper),
            _ => None,
        });
        let paper = paper.map_or(String::new(), |p| format!(", paper {}", signed(p, 2)));
        parts.push(format!(
            "{} slope {} ± {:.2}{paper} ({})",
            metric.key(),
            signed(f.fit.slope, 2),
            f.fit.slope_stderr,
            limit_phrase(metric, f.fit.slope, f.fit.slope_stderr)
        ));
    }
    let from = upper_from(s.spec.widths.len());
    for metric in [Metric::W(1), Metric::W(2), Metric::WProd] {
        let Some(f) = s.fit(metric) else { continue };
        let upper = match f.upper.as_ref().map(|u| u.slope) {
            Some(u) if u.abs() <= LEVEL_SLOPE => format!(
                "; {} over n ≥ {}: levels off",
                signed(u, 2),
                s.spec.widths[from]
            ),
            Some(u) if u > 0.0 => format!(
                "; {} over n ≥ {}: still grows",
                signed(u, 2),
                s.spec.widths[from]
            ),
            Some(u) => format!(
                "; {} over n ≥ {}: falls there",
                signed(u, 2),
                s.spec.widths[from]
            ),
            None => String::new(),
        };
        parts.push(format!(
            "{} {} → {} (slope {}{upper})",
            metric.key(),
            plot::fmt_value(s.geo_mean(metric, 0)),
            plot::fmt_value(s.geo_mean(metric, last)),
            signed(f.fit.slope, 2),
        ));
    }
    let score = if s.spec.data.classification() {
        let acc: Vec<f64> = s.nets.iter().filter_map(|r| r.test.accuracy).collect();
        format!(
            "test accuracy {:.3}–{:.3}",
            acc.iter().copied().fold(f64::INFINITY, f64::min),
            acc.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        )
    } else {
        let mae: Vec<f64> = s.nets.iter().map(|r| r.test.mae).collect();
        format!(
            "test MAE {:.2}–{:.2}",
            mae.iter().copied().fold(f64::INFINITY, f64::min),
            mae.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        )
    };
    let seconds: f64 = s
        .nets
        .iter()
        .map(|r| r.train_seconds + r.derivative_seconds + r.var_delta_seconds + r.other_seconds)
        .sum();
    format!(
        "{} ({}): {}; {score}; {} of training and measuring.",
        s.spec.label(),
        s.spec.describe(),
        parts.join("; "),
        fmt_duration(seconds)
    )
}
