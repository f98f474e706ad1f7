//! `REPORT.md`: for every registered experiment, the paper's numbers (SPEC §10) beside ours,
//! the verdict, the conclusion and the figures — all from stored results, nothing recomputed.
//!
//! Each experiment contributes a [`ReportSection`] ([`crate::Experiment::report`]);
//! [`write_report`], given the registry of experiments, redraws the figures from the stored results (so that they match them),
//! assembles the sections in registry order and writes the file atomically. Paths in the
//! Markdown are relative to the report's own directory.

use crate::driver::{draw_figures, params_hash, Paths};
use crate::experiment::AnyExperiment;
use crate::provenance::{current_revision, short, Freshness};
use crate::results_file::ResultsFile;
use crate::section::ReportSection;
use crate::store::{create_dir_all, write_atomic};
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

/// An experiment of the paper's catalogue (SPEC §10) that the report lists whether or not it is
/// implemented: its id and the original notebook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// The experiment's id (`cargo xtask run ID`).
    pub id: &'static str,
    /// The original notebook(s).
    pub origin: &'static str,
}

/// Writes the report of `exps` (the registry, in its order) to `out`, atomically, from the
/// results and the figures (redrawn) under `paths`.
pub fn write_report(
    exps: &[&dyn AnyExperiment],
    paths: &Paths,
    out: &Path,
) -> Result<(), crate::LabError> {
    write_catalogue_report(exps, &[], paths, out)
}

/// [`write_report`] that also counts the experiments of `catalogue` (SPEC §10's full list)
/// that `exps` lacks, listing each as *not implemented* ("16 of 23 implemented").
pub fn write_catalogue_report(
    exps: &[&dyn AnyExperiment],
    catalogue: &[Planned],
    paths: &Paths,
    out: &Path,
) -> Result<(), crate::LabError> {
    let base = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_dir_all(base)?;
    let (text, problems) = render(exps, catalogue, paths, base);
    write_atomic(out, text.as_bytes())?;
    // The report covers what can be read; a malformed results file is an error naming it.
    if problems.is_empty() {
        Ok(())
    } else {
        Err(crate::LabError::Unreadable(problems))
    }
}

/// One experiment's stored state, as the report needs it.
struct Entry<'a> {
    exp: &'a dyn AnyExperiment,
    stored: Option<(ResultsFile, Option<String>)>,
    /// Why a results file that exists cannot be read (naming it).
    unreadable: Option<String>,
    section: Option<ReportSection>,
    figures: Result<Vec<PathBuf>, String>,
    /// Whether the stored results were computed by the current code.
    fresh: Option<Freshness>,
}

/// The text of a panic's payload.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// `exp`'s section from results read from `file`. Results that parse but lack what the
/// report reads (an empty list it indexes, say) give an unreadable section naming the file
/// instead of a panic.
fn section_of(exp: &dyn AnyExperiment, stored: &ResultsFile, file: &Path) -> ReportSection {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exp.report(stored))).unwrap_or_else(
        |panic| {
            ReportSection::unreadable(format!(
                "{} does not hold what the report of `{}` reads: {}",
                file.display(),
                exp.id(),
                panic_message(&*panic)
            ))
        },
    )
}

/// `exp`'s report section from its stored results: `Ok(None)` when there are none, an error
/// naming the file when they cannot be read or lack what the report reads.
pub fn read_section(
    exp: &dyn AnyExperiment,
    paths: &Paths,
) -> Result<Option<ReportSection>, crate::LabError> {
    let file = paths.results_file(exp.id());
    let Some(stored) = ResultsFile::read(&file)? else {
        return Ok(None);
    };
    let section = section_of(exp, &stored, &file);
    if section.is_unreadable() {
        return Err(crate::LabError::Unreadable(vec![format!(
            "{}: {}",
            file.display(),
            section.verdict.reason()
        )]));
    }
    Ok(Some(section))
}

/// The Markdown of the report, with links relative to `base` (the report's directory).
pub fn render_report(exps: &[&dyn AnyExperiment], paths: &Paths, base: &Path) -> String {
    render(exps, &[], paths, base).0
}

/// [`render_report`], with the results files that cannot be read (each naming the file).
fn render(
    exps: &[&dyn AnyExperiment],
    catalogue: &[Planned],
    paths: &Paths,
    base: &Path,
) -> (String, Vec<String>) {
    let mut problems = Vec::new();
    let missing: Vec<&Planned> = catalogue
        .iter()
        .filter(|p| !exps.iter().any(|e| e.id() == p.id))
        .collect();
    let entries: Vec<Entry> = exps
        .iter()
        .map(|&exp| {
            let file = paths.results_file(exp.id());
            let (stored, unreadable) = match ResultsFile::read(&file) {
                Ok(r) => (
                    r.map(|r| {
                        let when = r.finished_or_mtime(&file);
                        (r, when)
                    }),
                    None,
                ),
                Err(crate::LabError::Unreadable(why)) => (None, Some(why.join("; "))),
                Err(e) => (None, Some(format!("{}: {e}", file.display()))),
            };
            problems.extend(unreadable.clone());
            let section = stored.as_ref().map(|(r, _)| section_of(exp, r, &file));
            if let Some(s) = section.as_ref().filter(|s| s.is_unreadable()) {
                problems.push(format!("{}: {}", file.display(), s.verdict.reason()));
            }
            let figures = if stored.is_some() {
                draw_figures(exp, paths)
                    .map(Option::unwrap_or_default)
                    .map_err(|e| format!("{e:#}"))
            } else {
                Ok(Vec::new())
            };
            let fresh = stored.as_ref().map(|(r, _)| r.freshness());
            Entry {
                exp,
                stored,
                unreadable,
                section,
                figures,
                fresh,
            }
        })
        .collect();

    let mut md = String::new();
    let rel = |p: &Path| relative(base, p);
    let ran = entries.iter().filter(|e| e.stored.is_some()).count();
    let mut dates: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.stored.as_ref().and_then(|(_, d)| d.as_deref()))
        .collect();
    dates.sort_unstable();
    let versions: std::collections::BTreeSet<&str> = entries
        .iter()
        .filter_map(|e| e.stored.as_ref().map(|(r, _)| r.ftnn_version.as_str()))
        .collect();
    let _ = writeln!(md, "# ftnn — reproduction report\n");
    let _ = writeln!(
        md,
        "This report sets the numbers of *The Probabilistic Fault Tolerance of Neural Networks in \
         the Continuous Limit* (El-Mhamdi, Guerraoui, Kucharavy, Volodin, 2019) beside ours, \
         experiment by experiment (SPEC §10), with a verdict for each: **reproduced**, \
         **differs** (and how), or **not comparable** (and why). It is generated from the stored \
         results in `{}` and the figures in `{}`; writing it recomputes nothing.\n",
        rel(&paths.results),
        rel(&paths.figures)
    );
    let when = match (dates.first(), dates.last()) {
        (Some(a), Some(b)) if a == b => format!(", computed {a}"),
        (Some(a), Some(b)) => format!(", computed between {a} and {b}"),
        _ => String::new(),
    };
    let vers = if versions.is_empty() {
        String::new()
    } else {
        format!(
            " with ftnn {}",
            versions.iter().copied().collect::<Vec<_>>().join(", ")
        )
    };
    let stale = entries
        .iter()
        .filter(|e| e.fresh.as_ref().is_some_and(Freshness::is_stale))
        .count();
    if !catalogue.is_empty() {
        let _ = writeln!(
            md,
            "Catalogue: {} of the {} experiments of SPEC §10 are implemented{}.\n",
            entries.len(),
            entries.len() + missing.len(),
            if missing.is_empty() {
                String::new()
            } else {
                format!(
                    "; not implemented: {}",
                    missing
                        .iter()
                        .map(|p| format!("`{}`", p.id))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
    }
    let _ = writeln!(
        md,
        "Results: {ran} of {} experiments{when}{vers}; {stale} of them stale (computed by \
         other code than the current revision {}, see below).\n",
        entries.len(),
        short(Some(current_revision()))
    );
    let _ = writeln!(
        md,
        "The *published snapshot* is `results/`, `figures/` and `REPORT.md` at the repository \
         root. `cargo xtask reproduce-all` computes into the working tree `out/results/`, \
         `out/figures/` and `out/REPORT.md` (not in git), resumes an interrupted run there, \
         and ends by comparing its numbers with the snapshot's; `--publish` writes the \
         snapshot instead. Results are *stale* when the sources that computed them (`crates/`, \
         `data/`, `Cargo.lock` at the recorded commit) differ from the working tree's, when \
         they came from uncommitted changes other than the working tree's, or when they \
         record no revision (unknown provenance); runs recompute stale results unless \
         `--keep-stale`.\n"
    );
    let _ = writeln!(
        md,
        "```sh\ncargo xtask reproduce-all [--profile smoke|quick|paper] [--publish]   # run, draw the figures, write the report, compare with the snapshot\n\
         cargo xtask figures [--publish]                                        # redraw every figure from stored results\n\
         cargo xtask report [--publish]                                         # rewrite the report\n```\n"
    );

    let _ = writeln!(md, "## Summary\n");
    let _ = writeln!(
        md,
        "| experiment | profile | verdict | time | finished | computed by |"
    );
    let _ = writeln!(md, "|---|---|---|---:|---|---|");
    for e in &entries {
        let id = e.exp.id();
        match (&e.stored, &e.section) {
            (Some((r, d)), Some(s)) => {
                let code = match &e.fresh {
                    Some(Freshness::Current) | None => short(r.revision.as_deref()),
                    Some(Freshness::Stale(_)) => {
                        format!("{} — **stale**", short(r.revision.as_deref()))
                    }
                };
                let _ = writeln!(
                    md,
                    "| [`{id}`](#{}) | {} | {} | {} | {} | {code} |",
                    anchor(id),
                    r.profile,
                    cell(s.verdict.label()),
                    fmt_seconds(r.seconds),
                    d.as_deref().unwrap_or("—")
                );
            }
            _ => {
                let state = if e.unreadable.is_some() {
                    "unreadable results"
                } else {
                    "not run yet"
                };
                let _ = writeln!(
                    md,
                    "| [`{id}`](#{}) | — | {state} | — | — | — |",
                    anchor(id)
                );
            }
        }
    }
    for p in &missing {
        let _ = writeln!(
            md,
            "| [`{}`](#{}) | — | not implemented | — | — | — |",
            p.id,
            anchor(p.id)
        );
    }
    md.push('\n');

    for e in &entries {
        let id = e.exp.id();
        let _ = writeln!(md, "## {id}\n");
        let _ = writeln!(md, "*{}* — original: `{}`\n", e.exp.title(), e.exp.origin());
        let (Some((r, d)), Some(s)) = (&e.stored, &e.section) else {
            match &e.unreadable {
                Some(why) => {
                    let _ = writeln!(
                        md,
                        "The stored results cannot be read ({}); rerun: `cargo xtask run {id}`.\n",
                        cell(why)
                    );
                }
                None => {
                    let _ = writeln!(md, "Not run yet: `cargo xtask run {id}`.\n");
                }
            }
            continue;
        };
        let _ = writeln!(
            md,
            "Profile `{}` · {} · finished {} · ftnn {} · revision {} · results `{}`\n",
            r.profile,
            fmt_seconds(r.seconds),
            d.as_deref().unwrap_or("—"),
            r.ftnn_version,
            short(r.revision.as_deref()),
            rel(&paths.results_file(id))
        );
        if let Some(Freshness::Stale(why)) = &e.fresh {
            let _ = writeln!(
                md,
                "> **Stale:** {}; recompute with `cargo xtask run {id} --profile {}`.\n",
                cell(why),
                r.profile
            );
        }
        if r.params_hash != params_hash(e.exp, r.profile) {
            let _ = writeln!(
                md,
                "> **Stale parameters:** these results were computed with other parameters than \
                 the current `{p}` profile; rerun with `cargo xtask run {id} --profile {p}`.\n",
                p = r.profile
            );
        }
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
        let _ = writeln!(md, "**Verdict: {}**\n", s.verdict);
        let _ = writeln!(md, "**Conclusion.** {}\n", r.conclusion.trim());
        if !s.notes.trim().is_empty() {
            let _ = writeln!(md, "{}\n", s.notes.trim());
        }
        match &e.figures {
            Ok(figs) => {
                for f in figs {
                    let name = f
                        .file_stem()
                        .map(|s| s.to_string_lossy())
                        .unwrap_or_default();
                    let _ = writeln!(md, "![{id}: {name}]({})\n", rel(f));
                }
            }
            Err(err) => {
                let _ = writeln!(md, "> Figures could not be drawn: {}\n", cell(err));
            }
        }
        let params = serde_json::to_string_pretty(&r.params).unwrap_or_default();
        let _ = writeln!(
            md,
            "<details><summary>Parameters</summary>\n\n```json\n{params}\n```\n\n</details>\n"
        );
    }
    for p in &missing {
        let _ = writeln!(md, "## {}\n", p.id);
        let _ = writeln!(
            md,
            "Not implemented — original: `{}`. SPEC §10 lists it; ftnn has no experiment for it \
             yet.\n",
            p.origin
        );
    }
    (md, problems)
}

/// GitHub's heading anchor of a section titled `id`.
fn anchor(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| {
            if c == ' ' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Text for one Markdown table cell (no pipes, no line breaks).
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn fmt_seconds(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.2} h", s / 3600.0)
    }
}

/// `target` relative to the directory `base`, with `/` separators (for Markdown links).
pub fn relative(base: &Path, target: &Path) -> String {
    let abs = |p: &Path| {
        p.canonicalize().unwrap_or_else(|_| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                std::env::current_dir().unwrap_or_default().join(p)
            }
        })
    };
    let (b, t) = (abs(base), abs(target));
    let bc: Vec<Component> = b.components().collect();
    let tc: Vec<Component> = t.components().collect();
    let common = bc.iter().zip(&tc).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_string(), bc.len() - common).collect();
    parts.extend(
        tc[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::section::Verdict;

    #[test]
    fn relative_paths() {
        let d = tempfile::tempdir().unwrap();
        let fig = d.path().join("figures/ntk");
        std::fs::create_dir_all(&fig).unwrap();
        std::fs::write(fig.join("a.png"), b"x").unwrap();
        assert_eq!(relative(d.path(), &fig.join("a.png")), "figures/ntk/a.png");
        let sub = d.path().join("target");
        std::fs::create_dir_all(&sub).unwrap();
        assert_eq!(relative(&sub, &fig.join("a.png")), "../figures/ntk/a.png");
        assert_eq!(relative(d.path(), d.path()), ".");
    }

    #[test]
    fn verdicts_print_their_reason() {
        assert_eq!(Verdict::Reproduced.to_string(), "reproduced");
        assert_eq!(
            Verdict::Differs("slope −0.7".into()).to_string(),
            "differs: slope −0.7"
        );
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
