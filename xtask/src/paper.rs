//! The paper profile's store beside the main one. A store holds one profile per experiment,
//! so the results of the `paper` profile (the paper's parameters, SPEC §15) live in their own
//! store next to the quick ones: `results/paper/<id>/`, `figures/paper/<id>/` and the full
//! report `REPORT-paper.md` (and likewise under the working tree `out/`).
//!
//! `REPORT.md` gets a *Paper profile* section after its summary ([`section`]): for every
//! experiment with paper-profile results, the paper profile's verdict beside the main store's,
//! each computed from its own stored numbers, linked to its section of `REPORT-paper.md`
//! (rows, rule, distance, conclusion, figures).

use ftnn_lab::{provenance::short, read_section, AnyExperiment, Freshness, Paths, ResultsFile};
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

/// The verdict label of `exp`'s section read from `paths` with the profile of its results
/// (`reproduced (quick)`), or why there is none.
fn verdict_of(exp: &dyn AnyExperiment, paths: &Paths) -> String {
    let profile = ResultsFile::load(&paths.results_file(exp.id()))
        .map(|r| format!(" ({})", r.profile))
        .unwrap_or_default();
    match read_section(exp, paths) {
        Ok(Some(s)) => format!("{}{profile}", s.verdict.label()),
        Ok(None) => "not run".into(),
        Err(e) => format!("unreadable ({e})"),
    }
}

/// Whether the paper results `paper` were computed with the same parameters as the results of
/// the same experiment in `main` (experiments whose quick profile already is the paper's set-up).
fn same_parameters(paper: &ResultsFile, main: &Paths) -> Option<bool> {
    ResultsFile::load(&main.results_file(&paper.id)).map(|m| m.params == paper.params)
}

/// Text for one Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A run time as the report's summary writes it (`0.2 s`, `7.8 min`, `1.20 h`; the lab's
/// formatter is private to its report module).
fn seconds(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.2} h", s / 3600.0)
    }
}

/// The *Paper profile* section of `REPORT.md`: the experiments of `exps` with results in
/// `paper`, their verdict there beside their verdict in `main`, each linked to its section of
/// the paper report.
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
         rows, rules, conclusions, figures and parameters is [`{report_name}`]({report_name}). {} of {} \
         experiments have paper-profile results; the others' paper profiles take more than \
         about an hour on the 2-core machine that computed this snapshot (the decay sweeps \
         state their estimate in a row of their section) or were not run yet (`cargo xtask run ID \
         --profile paper --publish`).\n",
        with.len(),
        exps.len()
    );
    let _ = writeln!(
        md,
        "| experiment | verdict (paper profile) | verdict in `results/` | parameters | time | finished | computed by |"
    );
    let _ = writeln!(md, "|---|---|---|---|---:|---|---|");
    for (e, r) in &with {
        let file = paper.results_file(e.id());
        let finished = r.finished_or_mtime(&file).unwrap_or_else(|| "—".into());
        let code = match r.freshness() {
            Freshness::Current => short(r.revision.as_deref()),
            Freshness::Stale(_) => format!("{} — **stale**", short(r.revision.as_deref())),
        };
        let paper_verdict = match read_section(*e, paper) {
            Ok(Some(s)) => s.verdict.label().to_string(),
            Ok(None) => "not run".into(),
            Err(err) => format!("unreadable ({})", cell(&err.to_string())),
        };
        let params = match same_parameters(r, main) {
            Some(true) => "the same as in `results/` (that profile already is the paper's set-up)",
            Some(false) => "the paper's (other than in `results/`)",
            None => "the paper's",
        };
        let (id, main_verdict) = (e.id(), cell(&verdict_of(*e, main)));
        let time = seconds(r.seconds);
        let _ = writeln!(
            md,
            "| [`{id}`]({report_name}#{id}) | {paper_verdict} | {main_verdict} | {params} | \
             {time} | {finished} | {code} |"
        );
    }
    md.push('\n');
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
    use ftnn_lab::{
        Context, Experiment, Outcome, PaperRow, Profile, ReportSection, Stored, Verdict,
    };
    use indicatif::{MultiProgress, ProgressDrawTarget};

    /// An experiment whose estimate 1 − 1/draws reaches the "paper's" 1 ± 0.05 only with the
    /// paper profile's 100 draws (0.99), not with quick's 10 (0.9).
    struct Draws;

    impl Experiment for Draws {
        type Params = serde_json::Value;
        type Results = f64;
        fn id(&self) -> &'static str {
            "draws"
        }
        fn title(&self) -> &'static str {
            "test experiment"
        }
        fn origin(&self) -> &'static str {
            "none"
        }
        fn params(&self, profile: Profile) -> serde_json::Value {
            let draws = if profile == Profile::Paper { 100 } else { 10 };
            serde_json::json!({ "draws": draws })
        }
        fn run(&self, _: &Context, params: &serde_json::Value) -> anyhow::Result<Outcome<f64>> {
            let draws = params["draws"].as_f64().expect("draws");
            Ok(Outcome {
                results: 1.0 - 1.0 / draws,
                conclusion: String::new(),
                tables: vec![],
            })
        }
        fn figures(
            &self,
            _: &Stored<serde_json::Value, f64>,
            _: &Path,
        ) -> anyhow::Result<Vec<PathBuf>> {
            Ok(vec![])
        }
        fn report(&self, stored: &Stored<serde_json::Value, f64>) -> ReportSection {
            let ours = stored.results;
            let verdict = if (ours - 1.0).abs() <= 0.05 {
                Verdict::Reproduced
            } else {
                Verdict::Differs(format!("{ours} is not within 0.05 of 1"))
            };
            ReportSection {
                rows: vec![PaperRow::new(
                    "estimate",
                    "1",
                    ours.to_string(),
                    verdict.clone(),
                )],
                verdict,
                notes: String::new(),
            }
        }
    }

    #[test]
    fn the_section_sets_the_paper_verdict_beside_the_main_one() {
        let base = std::env::temp_dir().join(format!("ftnn-paper-section-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let main = Paths::beside(base.join("results"));
        let paper = store(&base);
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let exps: [&dyn AnyExperiment; 1] = [&Draws];
        assert!(section(&exps, &main, &paper, "REPORT-paper.md").is_none());
        ftnn_lab::run_experiment(&Draws, Profile::Quick, &main, false, None, &multi).unwrap();
        assert!(!has_results(&exps, &paper));
        assert!(section(&exps, &main, &paper, "REPORT-paper.md").is_none());
        ftnn_lab::run_experiment(&Draws, Profile::Paper, &paper, false, None, &multi).unwrap();
        assert!(has_results(&exps, &paper));
        let md = section(&exps, &main, &paper, "REPORT-paper.md").unwrap();
        let _ = std::fs::remove_dir_all(&base);
        assert!(md.starts_with("## Paper profile\n"), "{md}");
        assert!(md.contains("1 of 1 experiments"), "{md}");
        assert!(
            md.contains(
                "| [`draws`](REPORT-paper.md#draws) | reproduced | differs (quick) | the paper's (other than"
            ),
            "{md}"
        );
        assert!(md.contains("[`REPORT-paper.md`](REPORT-paper.md)"), "{md}");
    }

    #[test]
    fn run_times_read_as_in_the_summary() {
        assert_eq!(seconds(0.2), "0.2 s");
        assert_eq!(seconds(59.94), "59.9 s");
        assert_eq!(seconds(467.0), "7.8 min");
        assert_eq!(seconds(5400.0), "1.50 h");
    }

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
