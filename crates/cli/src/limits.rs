//! Limits of the commands that analyse a model on inputs (`ftnn analyze`, `compare`,
//! `certify`): the largest model, input count and number of repetitions R accepted, checked
//! **before** anything large is read or allocated, so that an oversized request is refused
//! with a message (exit code 2) instead of exhausting memory or running forever on a wrapped
//! count.
//!
//! * **Repetitions.** Monte Carlo streams R (memory does not depend on it), but counts rows in
//!   f64 and u64: N·R must be at most [`MAX_TOTAL_ROWS`] = 2⁵³ (exact in f64).
//! * **Memory.** The model, the inputs and the engine's working memory must fit in the memory
//!   budget together. Estimated from the model file's size and the inputs' header (shape),
//!   before either is read ([`Footprint`]):
//!   - model: 2 × its file size (the file is read whole, then parsed into tensors);
//!   - inputs: the `.npy` file's size + 12 bytes per value (f64 read, f32 kept; images 8 bytes
//!     per value);
//!   - clean activations: N × S × 8 bytes, S = values per example at every crash site summed
//!     (the widths of an MLP, every activation of a Sequential network): the clean pass
//!     keeps each site's tensor, and the engine caches copies;
//!   - Monte Carlo blocks: T × B × M × 12 bytes, T = the CPU threads, M the largest site:
//!     each thread forwards the crashed rows of a block of 256, holding a layer's input, output
//!     and crash mask at a time; B bounds those rows, 256·q + 4·√(256·q) + 1 (at most 256)
//!     with q = min(1, Σ p_s·n_s) the union bound on a row crashing (n_s the crashable values
//!     of site s: at the input, the ones of the crash mask) ([`block_rows`]);
//!   - statistics: N × outputs × 64 bytes (accumulators, mean/std/stderr, report).
//! * **Budget.** `--max-memory SIZE` (e.g. `512M`, `16G`), else the environment variable
//!   `FTNN_MAX_MEMORY`, else ¾ of the physical memory (Linux `/proc/meminfo`), else 16 GiB.

use crate::CliError;
use anyhow::anyhow;
use std::path::Path;

/// Largest number of rows N·R (input × repetition) a Monte Carlo run accepts: 2⁵³, the
/// largest count an f64 holds exactly.
pub const MAX_TOTAL_ROWS: u128 = 1 << 53;
/// Rows of one Monte Carlo block (`ftnn_model::montecarlo::BLOCK_ROWS`).
const BLOCK_ROWS: u128 = 256;
/// Budget when neither the option, the variable nor the physical memory is known.
const FALLBACK_BUDGET: u64 = 16 << 30;
/// The environment variable that sets the budget.
pub const BUDGET_VAR: &str = "FTNN_MAX_MEMORY";

/// The memory budget of one run, with where it comes from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// Bytes.
    pub bytes: u64,
    /// Where it comes from, e.g. `--max-memory 512M`.
    pub source: String,
}

impl Budget {
    /// The budget: `option` (`--max-memory`), else [`BUDGET_VAR`], else ¾ of the physical
    /// memory, else 16 GiB. A malformed variable is bad input.
    pub fn resolve(option: Option<&str>) -> Result<Self, CliError> {
        if let Some(s) = option {
            let bytes = parse_size(s).map_err(|e| CliError::input(anyhow!("--max-memory: {e}")))?;
            return Ok(Self {
                bytes,
                source: format!("--max-memory {s}"),
            });
        }
        if let Some(v) = std::env::var_os(BUDGET_VAR) {
            let s = v.to_string_lossy();
            let bytes =
                parse_size(&s).map_err(|e| CliError::input(anyhow!("{BUDGET_VAR}: {e}")))?;
            return Ok(Self {
                bytes,
                source: format!("{BUDGET_VAR}={s}"),
            });
        }
        Ok(match physical_memory() {
            Some(total) => Self {
                bytes: total / 4 * 3,
                source: format!("¾ of the {} of physical memory", human(total.into())),
            },
            None => Self {
                bytes: FALLBACK_BUDGET,
                source: "the default when the physical memory is unknown".into(),
            },
        })
    }
}

/// Parses a size: bytes, or a number with a binary suffix K, M, G or T (also KiB, MB, …:
/// all powers of 1024), e.g. `512M`, `1.5G`. Must be positive and fit in 64 bits.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_uppercase();
    let shift = match unit.trim_end_matches("IB").trim_end_matches('B') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("`{s}` is not a size (e.g. 512M, 16G, 1T or bytes)")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 512M, 16G, 1T or bytes)"))?;
    let bytes = value * (1u64 << shift) as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("`{s}` is not a positive size below 16 EiB"));
    }
    Ok(bytes as u64)
}

/// Physical memory in bytes (`MemTotal` of `/proc/meminfo`), if known.
fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `bytes` for humans (binary units).
pub fn human(bytes: u128) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// Refuses N·R above [`MAX_TOTAL_ROWS`].
pub fn check_rows(n_inputs: u64, repetitions: usize) -> Result<(), CliError> {
    let rows = n_inputs as u128 * repetitions as u128;
    if rows > MAX_TOTAL_ROWS {
        return Err(CliError::input(anyhow!(
            "--repetitions {repetitions} on {n_inputs} input(s) is {rows} crashed passes, more \
             than the 2^53 = {MAX_TOTAL_ROWS} a run can count exactly; use at most {} \
             repetitions",
            MAX_TOTAL_ROWS / n_inputs.max(1) as u128
        )));
    }
    Ok(())
}

/// Refuses a file that alone does not fit: `factor` × its size above the budget (`what`
/// names it, e.g. `the model`).
pub fn check_file(path: &Path, factor: u64, what: &str, budget: &Budget) -> Result<(), CliError> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(()); // the reader reports a missing file
    };
    let need = meta.len() as u128 * factor as u128;
    if need > budget.bytes as u128 {
        return Err(CliError::input(anyhow!(
            "{what} {} is {} and needs about {} of memory to load, more than the memory \
             budget of {} ({}); set --max-memory or {BUDGET_VAR} to allow more",
            path.display(),
            human(meta.len().into()),
            human(need),
            human(budget.bytes.into()),
            budget.source
        )));
    }
    Ok(())
}

/// The estimated memory of one run (bytes), by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// The loaded model.
    pub model: u128,
    /// The inputs as read.
    pub inputs: u128,
    /// Clean activations at every crash site.
    pub activations: u128,
    /// Monte Carlo blocks in flight.
    pub blocks: u128,
    /// Statistics and report.
    pub statistics: u128,
}

/// What the footprint is estimated from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Bytes of the model file.
    pub model_file: u64,
    /// Bytes of the inputs file (0 for images).
    pub inputs_file: u64,
    /// Bytes per input value while reading (12 for `.npy`, 8 for images).
    pub bytes_per_value: u64,
    /// Number of inputs N.
    pub n_inputs: u64,
    /// Values per input.
    pub values_per_input: u64,
    /// Values per example at every crash site, summed (S).
    pub site_values: u64,
    /// Values per example at the largest crash site (M).
    pub largest_site: u64,
    /// Crashed rows of a Monte Carlo block ([`block_rows`]).
    pub block_rows: u64,
    /// Outputs per input.
    pub n_outputs: u64,
}

impl Footprint {
    /// The estimate of the module documentation, with `threads` CPU threads.
    pub fn estimate(s: &Shape, threads: u64) -> Self {
        // Saturating: the factors come from file headers and may be anything.
        let mul = |xs: &[u128]| xs.iter().fold(1u128, |a, &x| a.saturating_mul(x));
        let w = |x: u64| x as u128;
        let values = mul(&[w(s.n_inputs), w(s.values_per_input), w(s.bytes_per_value)]);
        Self {
            model: mul(&[2, w(s.model_file)]),
            inputs: w(s.inputs_file).saturating_add(values),
            activations: mul(&[w(s.n_inputs), w(s.site_values), 8]),
            blocks: mul(&[w(threads), w(s.block_rows), w(s.largest_site), 12]),
            statistics: mul(&[w(s.n_inputs), w(s.n_outputs), 64]),
        }
    }
    /// The total.
    pub fn total(&self) -> u128 {
        [self.inputs, self.activations, self.blocks, self.statistics]
            .iter()
            .fold(self.model, |a, &x| a.saturating_add(x))
    }
    /// Refuses a footprint above the budget, naming the parts.
    pub fn check(&self, n_inputs: u64, budget: &Budget) -> Result<(), CliError> {
        let total = self.total();
        if total <= budget.bytes as u128 {
            return Ok(());
        }
        let per_input = self
            .inputs
            .saturating_add(self.activations)
            .saturating_add(self.statistics)
            / n_inputs.max(1) as u128;
        let fixed = self.model.saturating_add(self.blocks);
        let fitting = (budget.bytes as u128).saturating_sub(fixed) / per_input.max(1);
        Err(CliError::input(anyhow!(
            "this run needs about {} of memory (model {}, {n_inputs} inputs {}, clean \
             activations {}, Monte Carlo blocks {}, statistics {}), more than the memory budget \
             of {} ({}); {}, or set --max-memory or {BUDGET_VAR} to allow more",
            human(total),
            human(self.model),
            human(self.inputs),
            human(self.activations),
            human(self.blocks),
            human(self.statistics),
            human(budget.bytes.into()),
            budget.source,
            if fitting > 0 && fixed < budget.bytes as u128 {
                format!("split the inputs into runs of at most {fitting}")
            } else {
                "the model and the Monte Carlo blocks alone do not fit".to_string()
            }
        )))
    }
}

/// A bound on the crashed rows of one Monte Carlo block of 256 rows, with crash probability
/// `p[s]` at each of the `crashable[s]` values of site `s`: the mean 256·q plus four standard
/// deviations, q = min(1, Σ p_s·n_s) bounding the probability that a row crashes.
pub fn block_rows(p: &[f64], crashable: &[u64]) -> u64 {
    let q: f64 = p.iter().zip(crashable).map(|(&p, &n)| p * n as f64).sum();
    let mean = BLOCK_ROWS as f64 * q.clamp(0.0, 1.0);
    let rows = (mean + 4.0 * mean.sqrt()).ceil() + 1.0;
    if rows.is_finite() {
        (rows as u64).min(BLOCK_ROWS as u64)
    } else {
        BLOCK_ROWS as u64
    }
}

/// CPU threads the engine uses.
pub fn threads() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("16G"), Ok(16 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("2 kb"), Ok(2048));
        for bad in ["", "0", "-1G", "12X", "1e30", "G", "99999999999T", "nan"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rows_are_capped_at_2_pow_53() {
        assert!(check_rows(1, 1 << 53).is_ok());
        assert!(check_rows(2, 1 << 52).is_ok());
        for (n, r) in [(2, 1 << 53), (1_000, usize::MAX), (u64::MAX, 2)] {
            let e = check_rows(n, r).unwrap_err();
            assert_eq!(e.code, 2);
            assert!(format!("{:#}", e.error).contains("2^53"));
        }
    }

    #[test]
    fn block_rows_follow_the_crash_probability() {
        assert_eq!(block_rows(&[0.0, 0.0], &[10, 10]), 1);
        assert_eq!(block_rows(&[0.5], &[100]), 256);
        assert_eq!(block_rows(&[f64::NAN], &[1]), 256);
        let few = block_rows(&[0.01, 0.0], &[5, 1000]);
        assert!((14..=30).contains(&few), "{few}");
    }

    #[test]
    fn footprint_of_a_huge_input_count_is_refused_without_overflow() {
        let s = Shape {
            model_file: 1 << 20,
            inputs_file: 128,
            bytes_per_value: 12,
            n_inputs: u64::MAX,
            values_per_input: u64::MAX,
            site_values: u64::MAX,
            largest_site: u64::MAX,
            block_rows: 256,
            n_outputs: u64::MAX,
        };
        let f = Footprint::estimate(&s, 64);
        let budget = Budget {
            bytes: 1 << 30,
            source: "test".into(),
        };
        let e = f.check(s.n_inputs, &budget).unwrap_err();
        assert_eq!(e.code, 2);
        let small = Shape {
            n_inputs: 10,
            values_per_input: 784,
            site_values: 1000,
            largest_site: 784,
            block_rows: 256,
            n_outputs: 10,
            ..s
        };
        assert!(Footprint::estimate(&small, 16).check(10, &budget).is_ok());
    }
}
