//! End-to-end checks of the width-sweep experiments (`decay_sweep`, `decay_experiments`) on
//! their smoke profiles: every job stored, results and figures written, the report filled,
//! and a sharded run giving the same networks as an unsharded one.

use ftnn_experiments::find;
use ftnn_lab::{run_experiment, Paths, Profile, ResultsFile, RunStatus, Shard};
use indicatif::{MultiProgress, ProgressDrawTarget};

fn hidden() -> MultiProgress {
    MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
}

/// The stored networks of `id` as JSON, ignoring their timings.
fn nets(paths: &Paths, id: &str) -> Vec<serde_json::Value> {
    let file = ResultsFile::load(&paths.results_file(id)).expect("results written");
    let mut nets = Vec::new();
    for sweep in file.results["sweeps"].as_array().expect("sweeps") {
        for net in sweep["nets"].as_array().expect("nets") {
            let mut net = net.clone();
            let obj = net.as_object_mut().expect("object");
            obj.retain(|k, _| !k.ends_with("_seconds"));
            nets.push(net);
        }
    }
    nets
}

#[test]
fn boston_smoke_writes_results_figures_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("results"), dir.path().join("figures"));
    let exp = find("decay-boston").expect("registered");
    let status = run_experiment(exp.as_ref(), Profile::Smoke, &paths, false, None, &hidden())
        .expect("smoke run");
    let RunStatus::Ran { figures, .. } = status else {
        panic!("expected a run, got {status:?}");
    };
    // Derivatives, weight norms, their product, timing.
    assert_eq!(figures.len(), 4, "{figures:?}");
    assert!(figures.iter().all(|f| f.exists()));
    let file = ResultsFile::load(&paths.results_file("decay-boston")).unwrap();
    let sweep = &file.results["sweeps"][0];
    assert_eq!(sweep["nets"].as_array().unwrap().len(), 3);
    let fits = sweep["fits"].as_array().unwrap();
    let d = fits.iter().find(|f| f["metric"] == "D").expect("D fitted");
    assert!(d["fit"]["slope"].as_f64().unwrap() < 0.0, "D falls with n");
    let estimate = &file.results["estimate"];
    assert_eq!(estimate["profile"], "smoke");
    assert!(estimate["seconds"].as_f64().unwrap() > 0.0);
    let section = exp.report(&file);
    // Three slope rules and the wall time; every rule row states its rule and distance.
    assert_eq!(section.rows.len(), 4, "{:?}", section.rows);
    assert!(section.rows[..3].iter().all(|r| r.rule.is_some()));
    assert!(section.rows[0]
        .rule
        .as_deref()
        .unwrap()
        .contains("2σ + 0.1"));
}

#[test]
fn sharded_continuity_ft_trains_the_same_networks() {
    let dir = tempfile::tempdir().unwrap();
    let exp = find("continuity-ft").expect("registered");
    let whole = Paths::new(dir.path().join("whole"), dir.path().join("fig-whole"));
    run_experiment(exp.as_ref(), Profile::Smoke, &whole, false, None, &hidden()).unwrap();

    let sharded = Paths::new(dir.path().join("sharded"), dir.path().join("fig-sharded"));
    let shard = |s: &str| Some(s.parse::<Shard>().unwrap());
    let first = run_experiment(
        exp.as_ref(),
        Profile::Smoke,
        &sharded,
        false,
        shard("0/2"),
        &hidden(),
    )
    .unwrap();
    assert!(matches!(first, RunStatus::Partial { .. }), "{first:?}");
    let second = run_experiment(
        exp.as_ref(),
        Profile::Smoke,
        &sharded,
        false,
        shard("1/2"),
        &hidden(),
    )
    .unwrap();
    assert!(matches!(second, RunStatus::Ran { .. }), "{second:?}");

    let (a, b) = (
        nets(&whole, "continuity-ft"),
        nets(&sharded, "continuity-ft"),
    );
    assert_eq!(a.len(), 3);
    assert_eq!(a, b);
    assert!(a.iter().all(|n| n["var_delta"].as_f64().unwrap() > 0.0));
}
