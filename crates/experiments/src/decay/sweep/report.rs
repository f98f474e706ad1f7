//! The `REPORT.md` section of a sweep experiment: each claim beside the paper's number.

use super::conclusion::{fmt_duration, limit_phrase, slope_tolerance};
use super::figures::stored;
use super::results::{geo_mean, Claim, Results};
use super::run::upper_from;
use super::spec::{LEVEL_FACTOR, LEVEL_SLOPE, SLOPE_ABS_TOL, SLOPE_REL_TOL};
use crate::common::fit::FitText;
use ftnn_lab::Profile;
use ftnn_lab::{PaperRow, ReportSection, Verdict};
use ftnn_plot::{self as plot, signed};

/// The report section of an experiment: one row per claim (ours beside the paper's, with the
/// distance), a row for the estimated time of the paper profile, and the verdict.
pub fn report(file: &Results, profile: Profile, claims: &[Claim], notes: &str) -> ReportSection {
    let r = match stored(file) {
        Ok(r) => r,
        Err(e) => return ReportSection::unreadable(format!("{e:#}")),
    };
    let mut rows = Vec::new();
    let mut differ = Vec::new();
    for c in claims {
        let row = claim_row(r, c);
        if let Verdict::Differs(why) = &row.verdict {
            differ.push(format!("{}: {why}", row.quantity));
        }
        rows.push(row);
    }
    if let Some(e) = &r.estimate {
        let detail: Vec<String> = e
            .sweeps
            .iter()
            .map(|s| {
                let (lo, hi) = (s.step_times.first(), s.step_times.last());
                let range = match (lo, hi) {
                    (Some(a), Some(b)) => format!(
                        "{:.3} s per step at n = {} … {:.3} s at n = {}",
                        a.seconds, a.width, b.seconds, b.width
                    ),
                    _ => String::new(),
                };
                format!(
                    "{}: {} → {} ({range})",
                    s.name,
                    s.description,
                    fmt_duration(s.seconds)
                )
            })
            .collect();
        rows.push(PaperRow::new(
            format!("wall time of the {} profile on this machine", e.profile),
            "— (the original ran on 12 CPUs and 2 GTX 1080 GPUs)",
            format!(
                "≈ {} for {} networks ({} threads; {})",
                fmt_duration(e.seconds),
                e.nets,
                e.threads,
                detail.join("; ")
            ),
            Verdict::NotComparable(
                "an estimate: training steps of that profile timed at each of its widths \
                 (after a warm-up) × its epochs and steps per epoch, plus the measuring \
                 seconds of this run fitted linearly in n; other load on the machine inflates \
                 it"
                .into(),
            ),
        ));
    }
    let compared = claims.len();
    let verdict = if differ.is_empty() {
        Verdict::Reproduced
    } else {
        Verdict::Differs(format!(
            "{} of {compared} numbers differ — {}",
            differ.len(),
            differ.join("; ")
        ))
    };
    let profile_note = if profile == Profile::Paper {
        String::new()
    } else {
        format!(
            " These are `{}`-profile results (fewer widths, networks, epochs or examples than \
             the paper; see the parameters), so slopes carry larger errors and may not have \
             reached their trained values.",
            profile
        )
    };
    let general = format!(
        "Each slope is a least-squares fit of the per-width mean of log(metric) against log n \
         (free slope and intercept; ± its standard error); a slope agrees with the paper's when \
         within max({:.0} % of the paper's value, {SLOPE_ABS_TOL:.2}). A weight norm levels off \
         when its slope over the upper widths (the upper half, at least the last three) is \
         within ±{LEVEL_SLOPE}. The paper's \
         `W_1` is numbered from 0 in the original code: it is the n → 100 matrix, our `W_2`. \
         In the figures, small points are single networks, large points the geometric mean per \
         width with a ±1 sd band of log(metric), solid lines the fits and dashed lines the \
         continuous-limit slopes (or the upper-width fits).{profile_note}",
        100.0 * SLOPE_REL_TOL
    );
    ReportSection {
        rows,
        verdict,
        notes: format!("{}\n\n{general}", notes.trim()),
    }
}

/// The report row of one claim.
pub(crate) fn claim_row(r: &Results, claim: &Claim) -> PaperRow {
    let sweep_of = |name: &str| r.sweeps.iter().find(|s| s.spec.name == name);
    let missing = |quantity: String, paper: String| {
        PaperRow::new(
            quantity,
            paper,
            "—",
            Verdict::NotComparable("not measured in this run".into()),
        )
    };
    match *claim {
        Claim::Slope {
            sweep,
            metric,
            paper,
        } => {
            let quantity = match sweep_of(sweep) {
                Some(s) if r.sweeps.len() > 1 => {
                    format!("{} slope ({})", metric.key(), s.spec.data.label())
                }
                _ => format!("{} slope", metric.key()),
            };
            let paper_text = signed(paper, 2);
            let Some(f) = sweep_of(sweep).and_then(|s| s.fit(metric)) else {
                return missing(quantity, paper_text);
            };
            let (a, se) = (f.fit.slope, f.fit.stderr());
            let diff = a - paper;
            let sigmas = if se.is_finite() && se > 0.0 {
                format!(", {:.1} se", diff.abs() / se)
            } else {
                String::new()
            };
            let ours = format!(
                "{} ± {se:.3} (Δ = {}{sigmas}; {})",
                signed(a, 3),
                signed(diff, 2),
                limit_phrase(metric, a)
            );
            let verdict = if !a.is_finite() {
                Verdict::NotComparable("no slope (too few widths with positive values)".into())
            } else if diff.abs() <= slope_tolerance(paper) {
                Verdict::Reproduced
            } else {
                Verdict::Differs(format!(
                    "{} from the paper's {}",
                    signed(diff, 2),
                    signed(paper, 2)
                ))
            };
            PaperRow::new(quantity, paper_text, ours, verdict)
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
            let implied = (to / from).ln() / (n_to / n_from).ln();
            let quantity = format!("{} vs n (the paper's {paper_name})", metric.key());
            let paper_text = format!(
                "{} → {} (n = {n_from} → {n_to}; log–log slope {})",
                plot::fmt_value(from),
                plot::fmt_value(to),
                signed(implied, 2)
            );
            let Some((s, f)) = sweep_of(sweep).and_then(|s| Some((s, s.fit(metric)?))) else {
                return missing(quantity, paper_text);
            };
            let last = s.spec.widths.len() - 1;
            let a = f.fit.slope;
            let ours = format!(
                "{} → {} (n = {} → {}); slope {}",
                plot::fmt_value(s.geo_mean(metric, 0)),
                plot::fmt_value(s.geo_mean(metric, last)),
                s.spec.widths[0],
                s.spec.widths[last],
                f.fit.text()
            );
            let verdict = if (a - implied).abs() <= slope_tolerance(implied) {
                Verdict::Reproduced
            } else {
                Verdict::Differs(format!(
                    "slope {} against the paper's {}",
                    signed(a, 2),
                    signed(implied, 2)
                ))
            };
            PaperRow::new(quantity, paper_text, ours, verdict)
        }
        Claim::Level {
            sweep,
            metric,
            level,
        } => {
            let quantity = format!("{} level at large n", metric.key());
            let paper_text = format!("levels off at ≈ {}", plot::fmt_value(level));
            let Some((s, f)) = sweep_of(sweep).and_then(|s| Some((s, s.fit(metric)?))) else {
                return missing(quantity, paper_text);
            };
            let half = upper_from(s.spec.widths.len());
            let upper: Vec<f64> = s.values(metric)[half..].concat();
            let ours_level = geo_mean(&upper);
            let upper_slope = f.upper.as_ref().map_or(f64::NAN, |u| u.slope);
            let ours = format!(
                "{} (geometric mean over n ≥ {}); slope there {}",
                plot::fmt_value(ours_level),
                s.spec.widths[half],
                signed(upper_slope, 2)
            );
            let ratio = ours_level / level;
            let flat = upper_slope.abs() <= LEVEL_SLOPE;
            let close = (1.0 / LEVEL_FACTOR..=LEVEL_FACTOR).contains(&ratio);
            let verdict = match (flat, close) {
                (true, true) => Verdict::Reproduced,
                (true, false) => {
                    Verdict::Differs(format!("levels off, but {ratio:.2}× the paper's level"))
                }
                (false, _) => Verdict::Differs(format!(
                    "does not level off (slope {} over the upper widths)",
                    signed(upper_slope, 2)
                )),
            };
            PaperRow::new(quantity, paper_text, ours, verdict)
        }
    }
}
