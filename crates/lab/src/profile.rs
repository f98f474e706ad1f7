//! Run profiles: how much work an experiment does (SPEC §10).

use std::fmt;
use std::str::FromStr;

/// How much work each experiment does.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Seconds per experiment; exercises every code path (CI).
    Smoke,
    /// Minutes per experiment; the paper's conclusions with fewer widths, repetitions, epochs.
    #[default]
    Quick,
    /// The paper's parameters (hours).
    Paper,
}

impl Profile {
    /// The profile's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Smoke => "smoke",
            Self::Quick => "quick",
            Self::Paper => "paper",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "smoke" => Ok(Self::Smoke),
            "quick" => Ok(Self::Quick),
            "paper" => Ok(Self::Paper),
            _ => Err(format!("unknown profile `{s}` (smoke, quick or paper)")),
        }
    }
}
