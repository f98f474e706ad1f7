//! The `REPORT.md` section of a sweep experiment: each of the paper's numbers judged by its
//! SPEC §16 rule ([`super::rules`]), the estimated wall time of the paper profile, and the
//! verdict.

use super::conclusion::fmt_duration;
use super::figures::stored;
use super::results::{Claim, Results};
use super::rules::{claim_rows, overall};
use super::spec::{h_contrast_half_gap, LEVEL_SLOPE, SLOPE_TOLERANCE, SLOPE_TOLERANCE_REASON};
use ftnn_lab::Profile;
use ftnn_lab::{PaperRow, ReportSection, Verdict};

/// The report section of an experiment: one row per rule (ours beside the paper's, the rule,
/// the distance in σ and the verdict), a row for the estimated time of the paper profile, and
/// the overall verdict. `notes` says what the experiment reproduces and how this run's sizes
/// differ from the paper's.
pub fn report(file: &Results, profile: Profile, claims: &[Claim], notes: &str) -> ReportSection {
    let r = match stored(file) {
        Ok(r) => r,
        Err(e) => return ReportSection::unreadable(format!("{e:#}")),
    };
    let mut rows: Vec<PaperRow> = claims.iter().flat_map(|c| claim_rows(r, c)).collect();
    let verdict = overall(&rows);
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
    let profile_note = if profile == Profile::Paper {
        String::new()
    } else {
        format!(
            " These are `{profile}`-profile results: the paper's set-up with fewer widths or \
             networks, so slopes carry larger standard errors (and H slopes may be too \
             imprecise to decide)."
        )
    };
    let general = format!(
        "Rules (SPEC §16, fixed before the run): a slope is a least-squares fit of the \
         per-width mean of log(metric) against log n (free slope and intercept; ± its standard \
         error σ); it reproduces the paper's when |ours − paper| ≤ 2σ + {SLOPE_TOLERANCE} \
         ({SLOPE_TOLERANCE_REASON}; the paper's standard errors are not published). An H slope \
         is judged only while 2σ + {SLOPE_TOLERANCE} < {:.3}, half the gap between plain \
         training's −1.36 and the continuous limit's −1.93; otherwise it is *not comparable*. \
         A weight norm levels off when its slope over the upper widths (the upper half, at \
         least the last three) is within 2σ + {LEVEL_SLOPE} of 0, and matches a level within \
         2× (on the log scale, + 2σ). H_diag and H_all are those of the signed Hessian averaged \
         over the first 10 training examples (SPEC §15); the per-sample-|H| variant is fitted \
         too (fits.csv) but not judged. The paper's `W_1` is numbered from 0 in the original \
         code: it is the n → 100 matrix, our `W_2`. In the figures, small points are single \
         networks, large points the geometric mean per width with a ±1 sd band of \
         log(metric), solid lines the fits and dashed lines the continuous-limit slopes (or \
         the upper-width fits).{profile_note}",
        h_contrast_half_gap()
    );
    ReportSection {
        rows,
        verdict,
        notes: format!("{}\n\n{general}", notes.trim()),
    }
}
