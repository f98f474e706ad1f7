//! The paper profile's store beside the main one. A store holds one profile per experiment,
//! so the results of the `paper` profile (the paper's parameters, SPEC §15) live in their own
//! store next to the quick ones: `results/paper/<id>/`, `figures/paper/<id>/` and the full
//! report `REPORT-paper.md` (and likewise under the working tree `out/`).
//!
//! `REPORT.md` gets a *Paper profile* section after its summary ([`section`]): for every
//! experiment with paper-profile results, the paper profile's verdict beside the main store's,
//! and the paper profile's rows (paper, ours, rule, distance, verdict) — so the reader sees
//! both profiles' verdicts in one place, each computed from its own stored numbers.

use ftnn_lab::{
    provenance::short, read_section, AnyExperiment, Freshness, Paths, ReportSection, ResultsFile,
};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The folder of the paper store inside `results/` and `figures/`.
pub const SUBDIR: &str = "paper";

/// The paper store under `base` (the workspace root or the working tree `out/`):
/// `base/results/paper/` and `base/figures/paper/`.
pub fn store(base: &Path) -> Paths {
    Paths {
        results: base.join("results").join(SUBDIR),
        figures: base.join("figures").join(SUBDIR),
    }
}

/// The paper store's full report: `base/REPORT-paper.md`.
pub fn report_path(base: &Path) -> PathBuf {
    base.join("REPORT-paper.md")
}

/// Whether any experiment of `exps` has a results file in `paper`.
pub fn has_results(exps: &[&dyn AnyExperiment], paper: &Paths) -> bool {
    exps.iter().any(|e| paper.results_file(e.id()).is_file())
}

/// The verdict label of `exp`'s section read from `paths`, or why there is none.
fn verdict_of(exp: &dyn AnyExperiment, paths: &Paths) -> String {
    match read_section(exp, paths) {
        Ok(Some(s)) => s.verdict.label().to_string(),
        Ok(None) => "not run".into(),
        Err(e) => format!("unreadable ({e})"),
    }
}

/// Text for one Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// `12.3 s`, `4.5 min`, `1.25 h`.
fn fmt_seconds(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.2} h", s / 3600.0)
    }
}

/// The *Paper profile* section of `REPORT.md`: the experiments of `exps` with results in
/// `paper`, their verdict there beside their verdict in `main`, and the paper profile's rows.
/// `None` when the paper store holds no results. `report_name` is the paper report's file
/// name, linked from the section.
pub fn section(
    exps: &[&dyn AnyExperiment],
    main: &Paths,
    paper: &Paths,
    report_name: &str,
) -> Option<String> {
    let with: Vec<(&dyn AnyExperiment, ResultsFile)> = exps
        .iter()
        .filter_map(|&e| Some((e, ResultsFile::load(&paper.results_file(e.id()))?)))
        .collect();
    if with.is_empty() {
        return None;
    }
    let mut md = String::new();
    let _ = writeln!(md, "## Paper profile\n");
    let _ = writeln!(
        md,
        "The `paper` profile runs the original's set-up at the paper's sizes (SPEC §15). Its \
         results are kept beside the ones above, in `results/{SUBDIR}/`; the full report with \
         conclusions, figures and parameters is [`{report_name}`]({report_name}). {} of {} \
         experiments have paper-profile results; the others' paper profiles take more than \
         about an hour on the 2-core machine that computed this snapshot (the decay sweeps \
         state their estimate in a row above) or were not run yet (`cargo xtask run ID \
         --profile paper --publish`).\n",
        with.len(),
        exps.len()
    );
    let _ = writeln!(
        md,
        "| experiment | verdict (paper profile) | verdict (above) | time | finished | computed by |"
    );
    let _ = writeln!(md, "|---|---|---|---:|---|---|");
    let mut sections: Vec<(&str, ReportSection)> = Vec::new();
    for (e, r) in &with {
        let file = paper.results_file(e.id());
        let finished = r.finished_or_mtime(&file).unwrap_or_else(|| "—".into());
        let code = match r.freshness() {
            Freshness::Current => short(r.revision.as_deref()),
            Freshness::Stale(_) => format!("{} — **stale**", short(r.revision.as_deref())),
        };
        let paper_verdict = match read_section(*e, paper) {
            Ok(Some(s)) => {
                let label = s.verdict.label().to_string();
                sections.push((e.id(), s));
                label
            }
            Ok(None) => "not run".into(),
            Err(err) => format!("unreadable ({})", cell(&err.to_string())),
        };
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {finished} | {code} |",
            e.id(),
            paper_verdict,
            cell(&verdict_of(*e, main)),
            fmt_seconds(r.seconds)
        );
    }
    md.push('\n');
    for (id, s) in sections {
        let _ = writeln!(md, "### `{id}`, paper profile\n");
        if !s.rows.is_empty() {
            let _ = writeln!(
                md,
                "| quantity | paper | ours | rule (SPEC §16) | distance | verdict |"
            );
            let _ = writeln!(md, "|---|---|---|---|---|---|");
            for row in &s.rows {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} |",
                    cell(&row.quantity),
                    cell(&row.paper),
                    cell(&row.ours),
                    cell(row.rule.as_deref().unwrap_or("—")),
                    cell(row.distance.as_deref().unwrap_or("—")),
                    cell(&row.verdict.to_string())
                );
            }
            md.push('\n');
        }
        let _ = writeln!(md, "**Verdict (paper profile): {}**\n", s.verdict);
    }
    Some(md)
}

/// `report` with `section` inserted before the first experiment section that follows the
/// summary (`## Summary` … then the next `## ` heading); appended when there is none.
pub fn insert_after_summary(report: &str, section: &str) -> String {
    let at = report
        .find("## Summary")
        .and_then(|s| report[s + 1..].find("\n## ").map(|rel| s + 1 + rel + 1));
    match at {
        Some(i) => format!("{}{section}{}", &report[..i], &report[i..]),
        None => format!("{}\n\n{section}", report.trim_end_matches('\n')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paper_store_sits_beside_the_main_one() {
        let p = store(Path::new("/w"));
        assert_eq!(p.results, Path::new("/w/results/paper"));
        assert_eq!(p.figures, Path::new("/w/figures/paper"));
        assert_eq!(
            report_path(Path::new("/w/out")),
            Path::new("/w/out/REPORT-paper.md")
        );
    }

    #[test]
    fn the_section_goes_after_the_summary_table() {
        let report = "# R\n\n## Summary\n\n| a |\n|---|\n\n## ntk\n\ntext\n";
        let out = insert_after_summary(report, "## Paper profile\n\nP\n\n");
        assert_eq!(
            out,
            "# R\n\n## Summary\n\n| a |\n|---|\n\n## Paper profile\n\nP\n\n## ntk\n\ntext\n"
        );
        // No experiment section after the summary: appended.
        let out = insert_after_summary("# R\n\n## Summary\n\n| a |\n", "## Paper profile\n");
        assert_eq!(out, "# R\n\n## Summary\n\n| a |\n\n## Paper profile\n");
    }
}
