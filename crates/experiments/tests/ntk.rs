//! `ntk` through the lab driver: its smoke run reaches the paper-corrected conclusion, and it
//! draws its figures and writes its report section from the committed results.

use ftnn_lab::{run_experiment, Paths, Profile, ResultsFile, Verdict};
use indicatif::MultiProgress;
use std::path::Path;

/// The smoke profile of `ntk` reaches the paper-corrected conclusion: under LeCun scaling the
/// crash error does not fall with width, under 1/n scaling it falls roughly like n^{−1/2}.
#[test]
fn ntk_smoke_shows_the_scaling_contrast() {
    let dir = tempfile::tempdir().unwrap();
    let multi = MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden());
    let exp = ftnn_experiments::find("ntk").unwrap();
    let paths = Paths::new(dir.path().join("results"), dir.path().join("figures"));
    run_experiment(exp.as_ref(), Profile::Smoke, &paths, false, None, &multi).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(paths.results_file("ntk")).unwrap()).unwrap();
    let slope = |i: usize| v["results"]["fits"][i]["fit"]["slope"].as_f64().unwrap();
    assert_eq!(v["results"]["fits"][0]["scheme"], "lecun");
    assert!(slope(0) > -0.1, "LeCun slope {}", slope(0));
    assert!(slope(1) < -0.3 && slope(1) > -0.7, "1/n slope {}", slope(1));
    assert!(paths.results.join("ntk/widths.csv").exists());
    for name in ["std_vs_width", "mc_vs_exact"] {
        assert!(paths
            .figures_dir("ntk")
            .join(format!("{name}.png"))
            .exists());
    }
}

/// `ntk` draws its figures and writes its section from the committed quick-profile results.
#[test]
fn ntk_figures_and_report_from_committed_results() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../results");
    let file = root.join("ntk/results.json");
    let Some(stored) = ResultsFile::load(&file) else {
        eprintln!("skipped: no {}", file.display());
        return;
    };
    let exp = ftnn_experiments::find("ntk").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pngs = exp.figures(&stored, dir.path()).unwrap();
    assert_eq!(pngs.len(), 2);
    for p in &pngs {
        let bytes = std::fs::read(p).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", p.display());
        assert!(p.with_extension("svg").exists());
    }
    let section = exp.report(&stored);
    assert_eq!(section.rows.len(), 4);
    assert!(section.rows[0].paper.contains("0.265"));
    assert!(
        matches!(section.verdict, Verdict::Reproduced | Verdict::Differs(_)),
        "{:?}",
        section.verdict
    );
}

/// The SPEC §16 rules of `ntk`, just inside and just outside.
#[test]
fn ntk_rules_edges() {
    use ftnn_experiments::limit::ntk::{continuous_rule, flat_rule, level_rule};
    let label = |r: &ftnn_lab::Rule, v: f64, se: f64| r.judge(v, se).verdict.label();
    // Level: 0.265 ± (2·0.01 + 0.03975).
    let allowed = 2.0 * 0.01 + 0.15 * 0.265;
    assert_eq!(
        label(&level_rule(), 0.265 + allowed - 1e-6, 0.01),
        "reproduced"
    );
    assert_eq!(
        label(&level_rule(), 0.265 - allowed - 1e-6, 0.01),
        "differs"
    );
    // Flat: |slope| ≤ 2 se + 0.1.
    assert_eq!(label(&flat_rule(), 0.125, 0.0125), "reproduced");
    assert_eq!(label(&flat_rule(), 0.126, 0.0125), "differs");
    assert_eq!(label(&flat_rule(), -0.126, 0.0125), "differs");
    // The theory's −0.5 for the 1/n init.
    assert_eq!(label(&continuous_rule(), -0.599, 0.0), "reproduced");
    assert_eq!(label(&continuous_rule(), -0.601, 0.0), "differs");
    // The plain LeCun slope 0 and the continuous −0.5 cannot both hold for one value.
    for v in [0.0, -0.1, -0.2, -0.25, -0.3, -0.4, -0.5] {
        let both = label(&flat_rule(), v, 0.02) == "reproduced"
            && label(&continuous_rule(), v, 0.02) == "reproduced";
        assert!(!both, "{v}");
    }
}
