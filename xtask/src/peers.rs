//! `cargo xtask bench-peers`: ftnn's criterion benches beside a PyTorch / NumPy baseline.
//!
//! ```text
//! cargo xtask bench-peers [--quick] [--only montecarlo,bounds,epoch,hessian,cnn]
//!                         [--python PATH] [--threads N]
//! ```
//!
//! In one invocation: prepares a Python environment (`<target>/peers-venv`, created with
//! `python3 -m venv` and `pip install -r benches/peers/requirements.txt` on first use and
//! whenever the requirements file changes; `--python PATH` uses an existing interpreter
//! instead), runs the criterion benches of the chosen suites
//!
//! * `montecarlo`: `cargo bench -p ftnn-model --bench montecarlo`
//! * `cnn`: `cargo bench -p ftnn-model --bench seq_montecarlo` and `-p ftnn-bounds --bench
//!   seq_bounds` (the MNIST CNN: Monte Carlo, b3)
//! * `bounds`: `cargo bench -p ftnn-bounds --bench bounds`
//! * `epoch`: `cargo bench -p ftnn-train --bench epoch -- mnist_epoch`
//! * `hessian`: `cargo bench -p ftnn-decay --bench hessian`
//!
//! reads criterion's medians from `<target>/criterion/<group>/<function>[/<value>]/new/
//! estimates.json` (criterion writes there because `CRITERION_HOME` is set for the benches),
//! runs `benches/peers/peers.py` on the same workloads, and prints one table — workload, ftnn
//! median, the fastest peer and which implementation it is, and the ratio ftnn time ÷ peer
//! time (< 1: ftnn is faster) — under a header with the CPU model, the thread count and the
//! date. The same table, followed by every peer implementation's timing and the peer's
//! numerical checks, is written as Markdown to `<target>/bench-peers.md`. `<target>` is
//! `$CARGO_TARGET_DIR` or `target/` in the workspace root.
//!
//! Threads: both sides get the same count, `--threads N` or else the `RAYON_NUM_THREADS` that
//! `configure_candle_threads` chose for this process (candle's physical core count); the benches
//! inherit it, `peers.py` gets it as `torch.set_num_threads`.
//!
//! `--quick` passes `--quick --warm-up-time 1` to criterion (every bench group sets its own
//! measurement time, which criterion's `--measurement-time` does not override; its quick mode
//! stops once the estimate is stable, within that time) and runs fewer peer repetitions.
//!
//! Not run in CI: it needs PyPI for the first set-up and minutes of CPU time.

use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The suites, in run order.
const SUITES: [&str; 5] = ["montecarlo", "bounds", "epoch", "hessian", "cnn"];

/// Options of `cargo xtask bench-peers`.
#[derive(clap::Args, Debug)]
pub struct PeersArgs {
    /// Shorter runs: criterion's quick mode and fewer peer repetitions.
    #[arg(long)]
    quick: bool,
    /// Comma-separated suites: montecarlo, bounds, epoch, hessian, cnn [default: all].
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Use this Python interpreter (with numpy and torch installed) instead of the venv in
    /// <target>/peers-venv.
    #[arg(long)]
    python: Option<PathBuf>,
    /// Threads for both sides [default: RAYON_NUM_THREADS as configured for candle].
    #[arg(long)]
    threads: Option<usize>,
}

/// One row of the table: a criterion benchmark and the peer workload that mirrors it.
struct Row {
    suite: &'static str,
    label: String,
    /// Criterion's benchmark id: group, function and optional value.
    id: (String, String, Option<String>),
    /// The peer workload (`workload` field of peers.py's JSON).
    workload: String,
    /// Peer implementations allowed for this row (`None`: all).
    impls: Option<&'static [&'static str]>,
    /// Elements per call, for the throughput columns.
    elements: f64,
    unit: &'static str,
}

fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    let mc_rows = 8.0 * 2048.0;
    for net in ["784-100-50-10", "784-1000-100-10"] {
        let group = format!("montecarlo/{net}");
        let mc = |label: &str, func: &str, value: Option<&str>, peer: &str, impls| Row {
            suite: "montecarlo",
            label: format!("MC {net}: {label}"),
            id: (group.clone(), func.into(), value.map(Into::into)),
            workload: format!("{group}/{peer}"),
            impls,
            elements: mc_rows,
            unit: "rows",
        };
        rows.push(mc("crashes at h1", "fast", Some("h1"), "h1", None));
        rows.push(mc(
            "crashes at every hidden",
            "fast",
            Some("hidden"),
            "hidden",
            None,
        ));
        rows.push(mc("h1, ftnn dense path", "dense", Some("h1"), "h1", None));
        const NAIVE: &[&str] = &["torch-naive"];
        rows.push(mc(
            "h1, naive masked forward (candle / torch)",
            "naive",
            Some("h1"),
            "h1",
            Some(NAIVE),
        ));
        rows.push(mc("plain SGEMM of the rows", "sgemm", None, "sgemm", None));
    }
    for (net, n1) in [("784-200-50-10", 200.0), ("784-1000-100-10", 1000.0)] {
        let group = format!("bounds/{net}");
        for (b, value, elements, unit) in [
            ("b3", "1000 inputs", 1000.0, "inputs"),
            ("b5", "1000 inputs", 1000.0, "inputs"),
            ("b4", "single crashes", 1000.0 * n1, "crashes"),
        ] {
            rows.push(Row {
                suite: "bounds",
                label: format!("{b} {net}, {value}"),
                id: (group.clone(), b.into(), Some(value.into())),
                workload: format!("{group}/{b}/{value}"),
                impls: None,
                elements,
                unit,
            });
        }
    }
    for name in ["784-100-50-10_batch100", "784-1000-100-10_batch1000"] {
        rows.push(Row {
            suite: "epoch",
            label: format!("MNIST epoch {}", name.replace('_', ", ")),
            id: ("mnist_epoch".into(), name.into(), None),
            workload: format!("mnist_epoch/{name}"),
            impls: None,
            elements: 60_000.0,
            unit: "examples",
        });
    }
    for (func, label, elements) in [
        (
            "hessian_stats/10",
            "loss Hessian H_1, 10 samples (f64)",
            10.0,
        ),
        ("derivative_decay/10000", "D, 10 000 samples", 10_000.0),
    ] {
        rows.push(Row {
            suite: "hessian",
            label: format!("784-1500-100-10 {label}"),
            id: ("decay_784_1500_100_10".into(), func.into(), None),
            workload: format!("decay_784_1500_100_10/{func}"),
            impls: None,
            elements,
            unit: "samples",
        });
    }
    let cnn_rows = 4.0 * 256.0;
    for (label, func, value, peer, impls) in [
        (
            "MNIST CNN MC: p = 0.01 at the input",
            "ftnn",
            Some("input"),
            "input",
            None,
        ),
        (
            "MNIST CNN MC: p = 0.01 at every site",
            "ftnn",
            Some("every"),
            "every",
            None,
        ),
        (
            "MNIST CNN: naive masked forward, every site (candle / torch)",
            "naive",
            Some("every"),
            "every",
            Some(&["torch-naive"][..]),
        ),
        (
            "MNIST CNN: clean forward of the rows",
            "clean_forward",
            None,
            "clean_forward",
            None,
        ),
    ] {
        rows.push(Row {
            suite: "cnn",
            label: label.into(),
            id: (
                "seq_montecarlo/mnist-cnn".into(),
                func.into(),
                value.map(Into::into),
            ),
            workload: format!("seq_montecarlo/mnist-cnn/{peer}"),
            impls,
            elements: cnn_rows,
            unit: "rows",
        });
    }
    rows.push(Row {
        suite: "cnn",
        label: "MNIST CNN b3 at the input, 100 digits".into(),
        id: (
            "seq_bounds/mnist-cnn".into(),
            "b3".into(),
            Some("input p=0.01, 100 digits".into()),
        ),
        workload: "seq_bounds/mnist-cnn/b3/input p=0.01, 100 digits".into(),
        impls: None,
        elements: 100.0,
        unit: "inputs",
    });
    rows
}

/// Criterion 0.8's `make_filename_safe`: reserved characters become `_`, names are cut to 64
/// bytes (on a character boundary).
fn filename_safe(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| match c {
            '?' | '"' | '/' | '\\' | '*' | '<' | '>' | ':' | '|' | '^' => '_',
            c => c,
        })
        .collect();
    if out.len() > 64 {
        let mut end = 64;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

/// `<criterion>/<group>/<function>[/<value>]/new/estimates.json`, each part filename-safe.
fn estimates_path(criterion: &Path, id: &(String, String, Option<String>)) -> PathBuf {
    let mut p = criterion
        .join(filename_safe(&id.0))
        .join(filename_safe(&id.1));
    if let Some(v) = &id.2 {
        p = p.join(filename_safe(v));
    }
    p.join("new").join("estimates.json")
}

/// Criterion's median point estimate in seconds.
fn criterion_median(path: &Path) -> Result<f64> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let ns = v["median"]["point_estimate"]
        .as_f64()
        .with_context(|| format!("{}: no median.point_estimate", path.display()))?;
    Ok(ns * 1e-9)
}

/// One peer timing from peers.py's JSON.
#[derive(Debug, Clone)]
struct PeerResult {
    workload: String,
    imp: String,
    median_s: f64,
}

/// `$CARGO_TARGET_DIR` (relative to the current directory) or `<root>/target`.
fn target_dir(root: &Path) -> Result<PathBuf> {
    Ok(match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => std::path::absolute(PathBuf::from(d)).context("resolving CARGO_TARGET_DIR")?,
        None => root.join("target"),
    })
}

/// 64-bit FNV-1a, hex: the stamp of the requirements file the venv was built from.
fn fnv1a(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Runs `cmd` with inherited output; `what` and `hint` go into the error.
fn run_checked(cmd: &mut Command, what: &str, hint: &str) -> Result<()> {
    let status = cmd.status().map_err(|e| {
        anyhow::anyhow!(
            "{what}: could not start {:?}: {e}. {hint}",
            cmd.get_program()
        )
    })?;
    if !status.success() {
        bail!("{what} failed ({status}). {hint}");
    }
    Ok(())
}

/// The interpreter to run peers.py with: `--python`, or the venv (created / updated here).
fn python(args: &PeersArgs, root: &Path, target: &Path) -> Result<PathBuf> {
    if let Some(p) = &args.python {
        return Ok(p.clone());
    }
    let req = root.join("benches/peers/requirements.txt");
    let req_bytes = std::fs::read(&req).with_context(|| format!("reading {}", req.display()))?;
    let hash = fnv1a(&req_bytes);
    let venv = target.join("peers-venv");
    let py = venv.join("bin").join("python");
    let stamp = venv.join(".requirements-fnv1a");
    if py.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == hash) {
        return Ok(py);
    }
    if !py.exists() {
        eprintln!("bench-peers: creating {}", venv.display());
        run_checked(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "python3 -m venv",
            "Install Python 3 with its venv module (Debian/Ubuntu: `apt install python3 \
             python3-venv`), or pass --python PATH to an interpreter that has numpy and torch",
        )?;
    }
    eprintln!("bench-peers: pip install -r {}", req.display());
    run_checked(
        Command::new(&py)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "-r"])
            .arg(&req),
        "pip install -r benches/peers/requirements.txt",
        "pip needs network access to PyPI (torch is a large download); or pass --python PATH \
         to an interpreter that has the pinned numpy and torch",
    )?;
    std::fs::write(&stamp, format!("{hash}\n"))
        .with_context(|| format!("writing {}", stamp.display()))?;
    Ok(py)
}

/// The criterion benches of a suite: (package, bench, filter).
fn suite_benches(suite: &str) -> Vec<(&'static str, &'static str, Option<&'static str>)> {
    match suite {
        "montecarlo" => vec![("ftnn-model", "montecarlo", None)],
        "bounds" => vec![("ftnn-bounds", "bounds", None)],
        "epoch" => vec![("ftnn-train", "epoch", Some("mnist_epoch"))],
        "hessian" => vec![("ftnn-decay", "hessian", None)],
        "cnn" => vec![
            ("ftnn-model", "seq_montecarlo", None),
            ("ftnn-bounds", "seq_bounds", None),
        ],
        _ => unreachable!("suites are checked"),
    }
}

/// `cargo bench` for one suite, its results under `criterion`.
fn run_bench(suite: &str, args: &PeersArgs, threads: usize, criterion: &Path) -> Result<()> {
    for (package, bench, filter) in suite_benches(suite) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["bench", "-p", package, "--bench", bench, "--"]);
        if let Some(f) = filter {
            cmd.arg(f);
        }
        if args.quick {
            cmd.args(["--quick", "--warm-up-time", "1"]);
        }
        cmd.env("CRITERION_HOME", criterion)
            .env("RAYON_NUM_THREADS", threads.to_string());
        eprintln!("bench-peers: cargo bench -p {package} --bench {bench}");
        run_checked(
            &mut cmd,
            &format!("cargo bench -p {package} --bench {bench}"),
            "See the bench's output above",
        )?;
    }
    Ok(())
}

/// What peers.py returned.
struct PeerRun {
    results: Vec<PeerResult>,
    /// (name, ok) of each numerical check.
    checks: Vec<(String, bool)>,
    meta: serde_json::Value,
    /// Exit code 3: the timings are complete but a numerical check failed.
    checks_failed: bool,
}

/// Runs peers.py on `suites` and parses its JSON document.
fn run_peers(
    py: &Path,
    root: &Path,
    suites: &[&str],
    args: &PeersArgs,
    threads: usize,
) -> Result<PeerRun> {
    let script = root.join("benches/peers/peers.py");
    let mut cmd = Command::new(py);
    cmd.arg(&script)
        .args([
            "--threads",
            &threads.to_string(),
            "--only",
            &suites.join(","),
        ])
        .arg("--data")
        .arg(root.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if args.quick {
        cmd.arg("--quick");
    }
    eprintln!("bench-peers: {} {}", py.display(), script.display());
    let out = cmd.output().map_err(|e| {
        anyhow::anyhow!(
            "could not start {}: {e}. Install Python 3 (or drop --python to use the venv)",
            py.display()
        )
    })?;
    let checks_failed = out.status.code() == Some(3);
    if !out.status.success() && !checks_failed {
        bail!(
            "peers.py failed ({}); see its output above. Does `{} -c 'import numpy, torch'` work? \
             (pip install -r benches/peers/requirements.txt)",
            out.status,
            py.display()
        );
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing peers.py's JSON output")?;
    let mut results = Vec::new();
    for r in doc["results"]
        .as_array()
        .context("peers.py JSON: no results")?
    {
        results.push(PeerResult {
            workload: r["workload"]
                .as_str()
                .context("result without workload")?
                .into(),
            imp: r["impl"].as_str().context("result without impl")?.into(),
            median_s: r["median_s"].as_f64().context("result without median_s")?,
        });
    }
    let checks = doc["checks"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or("?").to_string(),
                        c["ok"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(PeerRun {
        results,
        checks,
        meta: doc["meta"].clone(),
        checks_failed,
    })
}

/// `v` with three significant digits (`123`, `12.3`, `1.23`).
fn sig3(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `12.3 ms`, `4.56 s`, `789 µs`.
fn fmt_time(s: f64) -> String {
    if s >= 1.0 {
        format!("{} s", sig3(s))
    } else if s >= 1e-3 {
        format!("{} ms", sig3(s * 1e3))
    } else {
        format!("{} µs", sig3(s * 1e6))
    }
}

/// `6.46 M rows/s`.
fn fmt_rate(per_s: f64, unit: &str) -> String {
    let (v, prefix) = if per_s >= 1e9 {
        (per_s / 1e9, "G ")
    } else if per_s >= 1e6 {
        (per_s / 1e6, "M ")
    } else if per_s >= 1e3 {
        (per_s / 1e3, "K ")
    } else {
        (per_s, "")
    };
    format!("{} {prefix}{unit}/s", sig3(v))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Runs the benches and the peers, prints the table and writes `<target>/bench-peers.md`.
pub fn run(args: PeersArgs, root: &Path) -> Result<()> {
    let suites: Vec<&str> = if args.only.is_empty() {
        SUITES.to_vec()
    } else {
        for s in &args.only {
            if !SUITES.contains(&s.as_str()) {
                bail!(
                    "unknown suite `{s}` in --only; choose from {}",
                    SUITES.join(",")
                );
            }
        }
        SUITES
            .iter()
            .copied()
            .filter(|s| args.only.iter().any(|o| o == s))
            .collect()
    };
    let threads = match args.threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(n) => n,
        None => std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
            .unwrap_or(1),
    };
    // The load before the benches start: a busy machine inflates every figure.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    let target = target_dir(root)?;
    std::fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
    // Set up Python first: a missing interpreter should fail before minutes of benches.
    let py = python(&args, root, &target)?;
    run_checked(
        Command::new(&py).args(["-c", "import numpy, torch"]),
        &format!("{} -c 'import numpy, torch'", py.display()),
        "The interpreter needs the packages of benches/peers/requirements.txt \
         (pip install -r benches/peers/requirements.txt), or drop --python to use the venv",
    )?;
    let criterion = match std::env::var_os("CRITERION_HOME") {
        Some(d) => std::path::absolute(PathBuf::from(d)).context("resolving CRITERION_HOME")?,
        None => target.join("criterion"),
    };
    for suite in &suites {
        run_bench(suite, &args, threads, &criterion)?;
    }
    let PeerRun {
        results: peers,
        checks,
        meta,
        checks_failed,
    } = run_peers(&py, root, &suites, &args, threads)?;

    let date = meta["date"].as_str().unwrap_or("?").to_string();
    let header = format!(
        "ftnn vs PyTorch/NumPy peers — {} — {threads} thread(s) — load {load} at start — {date} \
         — torch {}, numpy {}{}",
        cpu_model(),
        meta["torch"].as_str().unwrap_or("?"),
        meta["numpy"].as_str().unwrap_or("?"),
        if args.quick { " — quick" } else { "" },
    );
    let mut table: Vec<[String; 6]> = Vec::new();
    for row in rows().iter().filter(|r| suites.contains(&r.suite)) {
        let ftnn = criterion_median(&estimates_path(&criterion, &row.id)).ok();
        let best = peers
            .iter()
            .filter(|p| p.workload == row.workload)
            .filter(|p| row.impls.is_none_or(|i| i.contains(&p.imp.as_str())))
            .min_by(|a, b| a.median_s.total_cmp(&b.median_s));
        let cell = |t: Option<f64>| match t {
            Some(t) => format!("{} ({})", fmt_time(t), fmt_rate(row.elements / t, row.unit)),
            None => "—".into(),
        };
        let ratio = match (ftnn, best) {
            (Some(f), Some(b)) => format!("{:.3}", f / b.median_s),
            _ => "—".into(),
        };
        table.push([
            row.label.clone(),
            cell(ftnn),
            cell(best.map(|b| b.median_s)),
            best.map_or("—".into(), |b| b.imp.clone()),
            ratio,
            row.suite.into(),
        ]);
    }
    let heads = [
        "workload",
        "ftnn median",
        "best peer median",
        "peer",
        "ftnn ÷ peer",
    ];

    // Terminal table.
    let mut widths = heads.map(|h| h.chars().count());
    for r in &table {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w - s.chars().count()));
    println!("\n{header}\n");
    println!(
        "{}",
        heads
            .iter()
            .zip(&widths)
            .map(|(h, &w)| pad(h, w))
            .collect::<Vec<_>>()
            .join("  ")
    );
    for r in &table {
        println!(
            "{}",
            r.iter()
                .zip(&widths)
                .map(|(c, &w)| pad(c, w))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
        );
    }
    println!("\nratio = ftnn median ÷ best peer median (< 1: ftnn is faster)");

    // Markdown.
    let mut md = String::new();
    let _ = writeln!(md, "# {header}\n");
    let _ = writeln!(
        md,
        "`cargo xtask bench-peers{}{}` (criterion medians; peers: median over repetitions of \
         benches/peers/peers.py). Ratio = ftnn time ÷ best peer time (< 1: ftnn is faster).\n",
        if args.quick { " --quick" } else { "" },
        if args.only.is_empty() {
            String::new()
        } else {
            format!(" --only {}", suites.join(","))
        }
    );
    let _ = writeln!(md, "| {} |", heads.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(heads.len()));
    for r in &table {
        let _ = writeln!(md, "| {} |", r[..5].join(" | "));
    }
    let _ = writeln!(md, "\n## Every peer implementation\n");
    let _ = writeln!(md, "| workload | implementation | median |");
    let _ = writeln!(md, "|---|---|---|");
    for p in &peers {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            p.workload,
            p.imp,
            fmt_time(p.median_s)
        );
    }
    let passed = checks.iter().filter(|c| c.1).count();
    let _ = writeln!(
        md,
        "\n## Peer checks\n\n{passed} of {} numerical checks passed (peers.py: autograd against \
         finite differences, implementations against each other).\n",
        checks.len()
    );
    for (name, _) in checks.iter().filter(|c| !c.1) {
        let _ = writeln!(md, "- FAILED: {name}");
    }
    let md_path = target.join("bench-peers.md");
    std::fs::write(&md_path, md).with_context(|| format!("writing {}", md_path.display()))?;
    println!(
        "{passed} of {} peer checks passed; written {}",
        checks.len(),
        md_path.display()
    );
    if checks_failed {
        let failed: Vec<&str> = checks
            .iter()
            .filter(|c| !c.1)
            .map(|c| c.0.as_str())
            .collect();
        bail!("peer numerical checks failed: {failed:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criterion_directories() {
        let c = Path::new("/c");
        let id = (
            "bounds/784-200-50-10".into(),
            "b3".into(),
            Some("1000 inputs".into()),
        );
        assert_eq!(
            estimates_path(c, &id),
            Path::new("/c/bounds_784-200-50-10/b3/1000 inputs/new/estimates.json")
        );
        let id = (
            "decay_784_1500_100_10".into(),
            "hessian_stats/10".into(),
            None,
        );
        assert_eq!(
            estimates_path(c, &id),
            Path::new("/c/decay_784_1500_100_10/hessian_stats_10/new/estimates.json")
        );
        assert_eq!(filename_safe(&"é".repeat(40)).len(), 64);
    }

    #[test]
    fn every_row_is_unique_and_hash_is_stable() {
        let r = rows();
        let mut ids: Vec<_> = r.iter().map(|r| r.id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), r.len());
        assert_eq!(fnv1a(b""), "cbf29ce484222325");
        assert_eq!(fmt_rate(6.46e6, "rows"), "6.46 M rows/s");
        assert_eq!(fmt_rate(894.7, "inputs"), "895 inputs/s");
        assert_eq!(fmt_time(0.027568), "27.6 ms");
    }
}
