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
