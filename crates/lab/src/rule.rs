//! Verdict rules (SPEC §16): the rule that decides whether one headline number reproduces the
//! paper's, written in the experiment's code **before** the run.
//!
//! A [`Rule`] names the quantity, the paper's value (or range), the paper's standard error
//! where known, a fixed modelling tolerance with its reason, and how many combined standard
//! errors `z` a statistical difference may be. Given our value and its standard error,
//!
//! * σ = √(se_ours² + se_paper²) (the combined uncertainty);
//! * d = the distance of ours from the paper's value (from the nearest end of a range; 0
//!   inside it);
//! * **reproduced** ⇔ d ≤ z·σ + tolerance, otherwise **differs**;
//! * the report prints d/σ ("distance in σ"; ∞ when σ = 0 and d > 0).
//!
//! On a log scale ([`Rule::log_scale`], for ratios and "within k×" claims) the comparison is
//! between ln ours and ln paper, with standard errors converted by the delta method
//! (se_ln = se / |value|); the tolerance is then a log-ratio (ln 2 for "within 2×").
//!
//! ```
//! use ftnn_lab::rule::Rule;
//! let rule = Rule::new("log–log slope of D on n", -0.97)
//!     .tolerance(0.05, "the paper's fit spans 10 nets per width; fixed before the run");
//! let inside = rule.judge(-1.0, 0.02);
//! assert!(inside.verdict.label() == "reproduced");
//! let outside = rule.judge(-1.2, 0.02);
//! assert!(outside.verdict.label() == "differs");
//! assert!((outside.distance_sigma - 11.5).abs() < 1e-9); // |−1.2 − (−0.97)| / 0.02
//! ```

use crate::section::{PaperRow, Verdict};
use std::fmt::Write as _;

/// What the paper states: one value or a range of values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// One number.
    Value(f64),
    /// A closed range [lo, hi] (e.g. "1.2–1.6").
    Range(f64, f64),
}

/// A SPEC §16 rule for one headline number.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// What is compared.
    pub quantity: String,
    /// The paper's value or range.
    pub target: Target,
    /// The paper's standard error (0 where the paper gives none).
    pub paper_se: f64,
    /// The fixed modelling tolerance (absolute; a log-ratio on a log scale).
    pub tolerance: f64,
    /// Why the modelling tolerance is what it is.
    pub reason: String,
    /// How many combined standard errors a statistical difference may be.
    pub z: f64,
    /// Compare logarithms (ratios, "within k×").
    pub log: bool,
}

/// The outcome of [`Rule::judge`].
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// Our value.
    pub ours: f64,
    /// Its standard error.
    pub ours_se: f64,
    /// The combined uncertainty σ (on the rule's scale).
    pub sigma: f64,
    /// The distance from the paper's value or range (on the rule's scale).
    pub distance: f64,
    /// distance / σ (∞ when σ = 0 < distance, 0 when both are 0).
    pub distance_sigma: f64,
    /// The verdict.
    pub verdict: Verdict,
}

impl Judgement {
    /// The distance for the report: `1.3σ`, or the plain distance when σ = 0 (`d = 4.0e-5, σ = 0`).
    pub fn distance_text(&self) -> String {
        if !self.distance.is_finite() {
            "∞".into()
        } else if self.sigma > 0.0 {
            format!("{:.1}σ", self.distance_sigma)
        } else {
            format!("d = {}, σ = 0", fmt_num(self.distance))
        }
    }
}

impl Rule {
    /// A rule for `quantity` against the paper's `value`, with no paper standard error, no
    /// modelling tolerance and z = 2.
    pub fn new(quantity: impl Into<String>, value: f64) -> Self {
        Self {
            quantity: quantity.into(),
            target: Target::Value(value),
            paper_se: 0.0,
            tolerance: 0.0,
            reason: String::new(),
            z: 2.0,
            log: false,
        }
    }

    /// A rule against the paper's range [lo, hi] (swapped if given in the other order).
    pub fn range(quantity: impl Into<String>, lo: f64, hi: f64) -> Self {
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        Self {
            target: Target::Range(lo, hi),
            ..Self::new(quantity, lo)
        }
    }

    /// The paper's standard error.
    pub fn paper_se(mut self, se: f64) -> Self {
        self.paper_se = se.abs();
        self
    }

    /// A fixed modelling tolerance and its reason.
    pub fn tolerance(mut self, tolerance: f64, reason: impl Into<String>) -> Self {
        self.tolerance = tolerance.abs();
        self.reason = reason.into();
        self
    }

    /// How many combined standard errors are allowed (default 2).
    pub fn z(mut self, z: f64) -> Self {
        self.z = z.abs();
        self
    }

    /// Compare on a log scale (the tolerance becomes a log-ratio: `ln 2` for "within 2×").
    pub fn log_scale(mut self) -> Self {
        self.log = true;
        self
    }

    fn scaled(&self, v: f64) -> f64 {
        if self.log {
            v.abs().ln()
        } else {
            v
        }
    }

    fn scaled_se(&self, v: f64, se: f64) -> f64 {
        if self.log {
            se.abs() / v.abs()
        } else {
            se.abs()
        }
    }

    /// The paper's value (the midpoint of a range) on the natural scale.
    pub fn paper_value(&self) -> f64 {
        match self.target {
            Target::Value(v) => v,
            Target::Range(lo, hi) => 0.5 * (lo + hi),
        }
    }

    /// Judges our value and its standard error (module docs). A non-finite value, or a value
    /// ≤ 0 on a log scale, *differs* with that reason.
    pub fn judge(&self, ours: f64, ours_se: f64) -> Judgement {
        let bad = !ours.is_finite() || (self.log && ours == 0.0);
        if bad {
            return Judgement {
                ours,
                ours_se,
                sigma: f64::NAN,
                distance: f64::INFINITY,
                distance_sigma: f64::INFINITY,
                verdict: Verdict::Differs(format!("our value is {ours}")),
            };
        }
        let o = self.scaled(ours);
        let (distance, paper_se) = match self.target {
            Target::Value(v) => ((o - self.scaled(v)).abs(), self.scaled_se(v, self.paper_se)),
            Target::Range(lo, hi) => {
                let (a, b) = (self.scaled(lo), self.scaled(hi));
                let (a, b) = if a <= b { (a, b) } else { (b, a) };
                let d = if o < a {
                    a - o
                } else if o > b {
                    o - b
                } else {
                    0.0
                };
                (d, self.scaled_se(0.5 * (lo + hi), self.paper_se))
            }
        };
        let se = if ours_se.is_finite() { ours_se } else { 0.0 };
        let sigma = self.scaled_se(ours, se).hypot(paper_se);
        let distance_sigma = if distance == 0.0 {
            0.0
        } else if sigma > 0.0 {
            distance / sigma
        } else {
            f64::INFINITY
        };
        let allowed = self.z * sigma + self.tolerance;
        let verdict = if distance <= allowed {
            Verdict::Reproduced
        } else {
            Verdict::Differs(format!(
                "{} from the paper's {}, allowed {}",
                fmt_num(distance),
                self.paper_text(),
                fmt_num(allowed)
            ))
        };
        Judgement {
            ours,
            ours_se,
            sigma,
            distance,
            distance_sigma,
            verdict,
        }
    }

    /// The paper's value as text (`−0.97`, `1.2–1.6`, `−0.97 ± 0.05`).
    pub fn paper_text(&self) -> String {
        let mut s = match self.target {
            Target::Value(v) => fmt_num(v),
            Target::Range(lo, hi) => format!("{}–{}", fmt_num(lo), fmt_num(hi)),
        };
        if self.paper_se > 0.0 {
            let _ = write!(s, " ± {}", fmt_num(self.paper_se));
        }
        s
    }

    /// The rule as one line: `|ours − paper| ≤ 2σ + 0.05 (reason)`, with `ln` on a log scale.
    pub fn describe(&self) -> String {
        let (o, p) = if self.log {
            ("ln ours", "ln paper")
        } else {
            ("ours", "paper")
        };
        let what = match self.target {
            Target::Value(_) => format!("|{o} − {p}|"),
            Target::Range(..) => format!("distance of {o} from the {p} range"),
        };
        let mut s = format!("{what} ≤ {}σ", fmt_num(self.z));
        if self.tolerance > 0.0 {
            let _ = write!(s, " + {}", fmt_num(self.tolerance));
            if !self.reason.is_empty() {
                let _ = write!(s, " ({})", self.reason);
            }
        }
        s
    }

    /// The REPORT row: our value `± se`, the rule, the distance in σ and the verdict.
    pub fn row(&self, ours: f64, ours_se: f64) -> PaperRow {
        let text = if ours_se > 0.0 && ours_se.is_finite() {
            format!("{} ± {}", fmt_num(ours), fmt_num(ours_se))
        } else {
            fmt_num(ours)
        };
        self.row_with(ours, ours_se, text)
    }

    /// [`Rule::row`] with our value written as `ours_text`.
    pub fn row_with(&self, ours: f64, ours_se: f64, ours_text: impl Into<String>) -> PaperRow {
        let j = self.judge(ours, ours_se);
        PaperRow::new(
            &self.quantity,
            self.paper_text(),
            ours_text,
            j.verdict.clone(),
        )
        .with_rule(self.describe(), Some(j.distance_text()))
    }

    /// The row when the comparison cannot be made (the set-up differs from the original's,
    /// SPEC §16): the rule is still printed, the verdict is *not comparable* with `why`.
    pub fn not_comparable_row(
        &self,
        ours_text: impl Into<String>,
        why: impl Into<String>,
    ) -> PaperRow {
        PaperRow::new(
            &self.quantity,
            self.paper_text(),
            ours_text,
            Verdict::NotComparable(why.into()),
        )
        .with_rule(self.describe(), None)
    }
}

/// A number with four significant digits, in scientific notation when very small or large.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.3e}");
    }
    let digits = (3 - a.log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_rule_boundary() {
        // allowed = 2·√(0.03² + 0.04²) + 0.1 = 2·0.05 + 0.1 = 0.2
        let r = Rule::new("x", 1.0).paper_se(0.04).tolerance(0.1, "why");
        assert_eq!(r.judge(1.199, 0.03).verdict, Verdict::Reproduced);
        assert_eq!(r.judge(0.801, 0.03).verdict, Verdict::Reproduced);
        assert_eq!(r.judge(1.201, 0.03).verdict.label(), "differs");
        assert_eq!(r.judge(0.799, 0.03).verdict.label(), "differs");
        let j = r.judge(1.5, 0.03);
        assert!((j.sigma - 0.05).abs() < 1e-12);
        assert!((j.distance_sigma - 10.0).abs() < 1e-9);
    }

    #[test]
    fn range_rule_boundary() {
        let r = Rule::range("ratio", 1.6, 1.2).tolerance(0.05, "why");
        assert_eq!(r.judge(1.4, 0.0).distance_sigma, 0.0);
        assert_eq!(r.judge(1.64, 0.0).verdict, Verdict::Reproduced);
        assert_eq!(r.judge(1.16, 0.0).verdict, Verdict::Reproduced);
        assert_eq!(r.judge(1.66, 0.0).verdict.label(), "differs");
        assert_eq!(r.judge(1.14, 0.0).verdict.label(), "differs");
        assert!(r.judge(1.66, 0.0).distance_sigma.is_infinite());
    }

    #[test]
    fn log_rule_is_within_a_factor() {
        let r = Rule::new("b3/exp", 1.0)
            .log_scale()
            .tolerance(2f64.ln(), "within 2×");
        assert_eq!(r.judge(1.99, 0.0).verdict, Verdict::Reproduced);
        assert_eq!(r.judge(0.51, 0.0).verdict, Verdict::Reproduced);
        assert_eq!(r.judge(2.01, 0.0).verdict.label(), "differs");
        assert_eq!(r.judge(0.49, 0.0).verdict.label(), "differs");
        assert_eq!(r.judge(0.0, 0.0).verdict.label(), "differs");
    }

    #[test]
    fn non_finite_differs() {
        let r = Rule::new("x", 1.0).tolerance(10.0, "wide");
        assert_eq!(r.judge(f64::NAN, 0.0).verdict.label(), "differs");
        assert_eq!(r.judge(f64::INFINITY, 0.0).verdict.label(), "differs");
    }

    #[test]
    fn contrasted_claims_are_decidable() {
        // SPEC §16: plain training (−1.36) and the continuous limit (−1.93) must not both be
        // reproduced by one value.
        let plain = Rule::new("H slope", -1.36).tolerance(0.1, "t");
        let limit = Rule::new("H slope", -1.93).tolerance(0.1, "t");
        for v in [-1.36, -1.5, -1.65, -1.8, -1.93] {
            let both = plain.judge(v, 0.05).verdict == Verdict::Reproduced
                && limit.judge(v, 0.05).verdict == Verdict::Reproduced;
            assert!(!both, "{v} reproduces both");
        }
    }

    #[test]
    fn describe_and_row() {
        let r = Rule::new("slope", -1.0774).tolerance(1e-3, "deterministic");
        assert_eq!(r.describe(), "|ours − paper| ≤ 2σ + 0.001 (deterministic)");
        let row = r.row(-1.07744, 0.0);
        assert_eq!(row.paper, "-1.077");
        assert_eq!(row.verdict, Verdict::Reproduced);
        assert_eq!(row.distance.as_deref(), Some("d = 4.000e-5, σ = 0"));
        assert_eq!(r.row(-1.2, 0.05).distance.as_deref(), Some("2.5σ"));
        assert!(row.rule.as_deref().unwrap().contains("deterministic"));
        assert_eq!(fmt_num(0.9157), "0.9157");
        assert_eq!(fmt_num(4446.7), "4447");
        assert_eq!(fmt_num(2.4e-5), "2.400e-5");
    }
}
