//! `cargo xtask fuzz [--cases N]`: the property-based fuzz tests of every parser of untrusted
//! bytes (the `fuzz_` tests of the crates below), in release with overflow checks on (its own
//! build, beside the plain release one), with N cases per property
//! (default 100 000; the debug test suite runs a few thousand), and a table of parsers, cases
//! and failures. Not part of CI: it takes minutes.
//!
//! Each property generates random bytes and structured mutations of a valid file and checks
//! that the parser returns a value or a typed error, never panics. A failure prints proptest's
//! minimal failing input in the log above the table.

use anyhow::{bail, Context as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// One parser: its name, the package and test target holding its properties, and the test
/// name filters that select them.
struct Target {
    parser: &'static str,
    package: &'static str,
    target: [&'static str; 2],
    filters: &'static [&'static str],
}

const TARGETS: [Target; 10] = [
    Target {
        parser: "npy headers and data (inputs, masks)",
        package: "ftnn-cli",
        target: ["--bin", "ftnn"],
        filters: &["npy::tests::fuzz_"],
    },
    Target {
        parser: "input shapes (Inputs::new)",
        package: "ftnn-model",
        target: ["--test", "fuzz"],
        filters: &["fuzz_inputs_"],
    },
    Target {
        parser: "safetensors (header, data, offsets)",
        package: "ftnn-data",
        target: ["--test", "fuzz"],
        filters: &["fuzz_safetensors_"],
    },
    Target {
        parser: "MLP / Sequential model files",
        package: "ftnn-model",
        target: ["--test", "fuzz"],
        filters: &["fuzz_model_files_", "fuzz_sequential_file_"],
    },
    Target {
        parser: ".pth zip archives",
        package: "ftnn-data",
        target: ["--test", "fuzz"],
        filters: &["fuzz_pth_"],
    },
    Target {
        parser: "IDX (raw and gzip)",
        package: "ftnn-data",
        target: ["--test", "fuzz"],
        filters: &["fuzz_idx_"],
    },
    Target {
        parser: "Boston CSV and split file",
        package: "ftnn-data",
        target: ["--test", "fuzz"],
        filters: &["fuzz_boston_"],
    },
    Target {
        parser: "Sequential architecture JSON",
        package: "ftnn-model",
        target: ["--test", "fuzz"],
        filters: &["fuzz_architecture_"],
    },
    Target {
        parser: "stored results JSON (report)",
        package: "ftnn-experiments",
        target: ["--test", "fuzz_results"],
        filters: &["fuzz_results_"],
    },
    Target {
        parser: "--p strings (FailureVector)",
        package: "ftnn-model",
        target: ["--test", "fuzz"],
        filters: &["fuzz_failure_vector_"],
    },
];

/// Runs every parser's properties with `cases` cases each and prints the table; fails when a
/// property fails.
pub fn run(cases: u32, root: &Path) -> anyhow::Result<()> {
    if cases == 0 {
        bail!("--cases must be at least 1");
    }
    let binaries = build(root)?;
    let mut rows = Vec::new();
    let start = Instant::now();
    for t in &TARGETS {
        let exe = binaries
            .iter()
            .find(|(package, target, _)| package == t.package && target == t.target[1])
            .map(|(_, _, exe)| exe)
            .with_context(|| format!("no test binary for {} {}", t.package, t.target[1]))?;
        println!("== {}: {} {}", t.parser, exe.display(), t.filters.join(" "));
        let clock = Instant::now();
        let out = Command::new(exe)
            .args(t.filters)
            .env("FTNN_FUZZ_CASES", cases.to_string())
            // Test binaries look their fixtures up from their package's directory.
            .current_dir(root.join(package_dir(t.package)))
            .output()
            .with_context(|| format!("cannot run {}", exe.display()))?;
        let seconds = clock.elapsed().as_secs_f64();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let (passed, failed) = counts(&stdout);
        if !out.status.success() {
            // proptest's minimal failing input and the panic are in the test output.
            println!("{stdout}");
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        }
        rows.push((
            t.parser,
            passed + failed,
            failed,
            seconds,
            out.status.success(),
        ));
    }
    println!(
        "\n{:<38} {:>10} {:>12} {:>9} {:>9}",
        "parser", "properties", "cases", "failures", "seconds"
    );
    for (parser, properties, failed, seconds, ok) in &rows {
        let failures = if *ok || *failed > 0 {
            failed.to_string()
        } else {
            "error".to_string()
        };
        println!(
            "{parser:<38} {properties:>10} {:>12} {failures:>9} {seconds:>9.1}",
            u64::from(cases) * *properties as u64
        );
    }
    println!(
        "\n{cases} cases per property, {:.0} s in all",
        start.elapsed().as_secs_f64()
    );
    let bad: Vec<&str> = rows
        .iter()
        .filter(|r| !r.4 || r.2 > 0)
        .map(|r| r.0)
        .collect();
    if !bad.is_empty() {
        bail!("fuzzing found failures in: {}", bad.join(", "));
    }
    Ok(())
}

/// The directory of a workspace package.
fn package_dir(package: &str) -> String {
    format!("crates/{}", package.trim_start_matches("ftnn-"))
}

/// Builds every test binary in release with one cargo invocation (one feature resolution,
/// so nothing is built twice) and returns (package, target name, executable) for each.
fn build(root: &Path) -> anyhow::Result<Vec<(String, String, PathBuf)>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    // Release speed with the debug build's overflow checks: an unchecked size product must
    // fail here as it does in the debug test suite, not wrap silently.
    let mut args = vec![
        "test",
        "--release",
        "--config",
        "profile.release.overflow-checks=true",
        "--no-run",
        "--message-format=json",
    ];
    for t in &TARGETS {
        for a in ["-p", t.package].into_iter().chain(t.target) {
            args.push(a);
        }
    }
    // `-p` and target flags may repeat; cargo takes the union.
    println!("== building the fuzz tests: cargo {}", args.join(" "));
    let out = Command::new(&cargo)
        .args(&args)
        .current_dir(root)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot start cargo")?;
    if !out.status.success() {
        bail!("building the fuzz tests failed ({})", out.status);
    }
    let mut binaries = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(exe), Some(id), Some(name)) = (
            msg["executable"].as_str(),
            msg["package_id"].as_str(),
            msg["target"]["name"].as_str(),
        ) else {
            continue;
        };
        if let Some(t) = TARGETS
            .iter()
            .find(|t| id.contains(&format!("#{}@", t.package)) || id.starts_with(t.package))
        {
            binaries.push((t.package.to_string(), name.to_string(), PathBuf::from(exe)));
        }
    }
    Ok(binaries)
}

/// Passed and failed tests from libtest's `test result:` line.
fn counts(stdout: &str) -> (usize, usize) {
    let Some(line) = stdout.lines().find(|l| l.starts_with("test result:")) else {
        return (0, 0);
    };
    let number_before = |word: &str| {
        line.split(';')
            .find(|part| part.trim_end().ends_with(word))
            .and_then(|part| part.split_whitespace().rev().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (number_before("passed"), number_before("failed"))
}

#[cfg(test)]
mod tests {
    use super::counts;

    #[test]
    fn reads_libtest_counts() {
        let out = "running 2 tests\ntest result: FAILED. 1 passed; 1 failed; 0 ignored; 0 \
                   measured; 10 filtered out; finished in 0.1s\n";
        assert_eq!(counts(out), (1, 1));
        assert_eq!(counts("nothing"), (0, 0));
    }
}
