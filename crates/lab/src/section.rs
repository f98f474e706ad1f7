//! An experiment's section of `REPORT.md`: the paper's numbers beside ours ([`PaperRow`]) and
//! the [`Verdict`].

use std::fmt;

/// Whether our numbers reproduce the paper's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Our numbers agree with the paper's (within the stated tolerance).
    Reproduced,
    /// They differ; how.
    Differs(String),
    /// No comparison possible (the paper gives no number, or a defect of the original makes
    /// it meaningless); why.
    NotComparable(String),
}

impl Verdict {
    /// `reproduced`, `differs` or `not comparable`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Reproduced => "reproduced",
            Self::Differs(_) => "differs",
            Self::NotComparable(_) => "not comparable",
        }
    }
    /// The explanation, empty for [`Verdict::Reproduced`].
    pub fn reason(&self) -> &str {
        match self {
            Self::Reproduced => "",
            Self::Differs(s) | Self::NotComparable(s) => s,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            "" => f.write_str(self.label()),
            r => write!(f, "{}: {r}", self.label()),
        }
    }
}

/// One compared quantity: the paper's number and ours.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperRow {
    /// What is compared, e.g. `std Δ, LeCun init, log–log slope`.
    pub quantity: String,
    /// The paper's value, as the paper states it (SPEC §10).
    pub paper: String,
    /// Our value, with its uncertainty where known.
    pub ours: String,
    /// Whether this row agrees.
    pub verdict: Verdict,
    /// The SPEC §16 rule that decided the verdict ([`crate::rule::Rule::describe`]), where
    /// there is one.
    pub rule: Option<String>,
    /// Our distance from the paper's value in units of the combined uncertainty
    /// ([`crate::rule::Judgement::distance_text`]), where it was computed.
    pub distance: Option<String>,
}

impl PaperRow {
    /// A row from its four cells.
    pub fn new(
        quantity: impl Into<String>,
        paper: impl Into<String>,
        ours: impl Into<String>,
        verdict: Verdict,
    ) -> Self {
        Self {
            quantity: quantity.into(),
            paper: paper.into(),
            ours: ours.into(),
            verdict,
            rule: None,
            distance: None,
        }
    }

    /// The row with the rule that decided it and the distance in σ (SPEC §16).
    pub fn with_rule(mut self, rule: impl Into<String>, distance: Option<String>) -> Self {
        self.rule = Some(rule.into());
        self.distance = distance;
        self
    }
}

/// How the verdict of [`ReportSection::unreadable`] begins.
const UNREADABLE: &str = "stored results cannot be read";

/// An experiment's contribution to `REPORT.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSection {
    /// The paper's numbers beside ours.
    pub rows: Vec<PaperRow>,
    /// The overall verdict.
    pub verdict: Verdict,
    /// Anything the reader should know beyond the stored conclusion (Markdown).
    pub notes: String,
}

impl ReportSection {
    /// The section of results that cannot be read (an older format, say): no rows, verdict
    /// [`Verdict::NotComparable`] naming the error.
    pub fn unreadable(err: impl fmt::Display) -> Self {
        Self {
            rows: Vec::new(),
            verdict: Verdict::NotComparable(format!("{UNREADABLE} ({err}); rerun the experiment")),
            notes: String::new(),
        }
    }

    /// Whether this is the section of [`ReportSection::unreadable`] results.
    pub fn is_unreadable(&self) -> bool {
        self.rows.is_empty() && self.verdict.reason().starts_with(UNREADABLE)
    }
}
