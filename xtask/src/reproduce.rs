//! What `reproduce-all` and `run` add around the lab's driver: where results go (the working
//! tree `out/` by default, the published snapshot with `--publish`), a progress display with
//! the estimated time left for the whole profile, and the comparison of the new numbers with
//! the snapshot's.
//!
//! The estimate comes from the durations recorded in the snapshot's results of the same
//! profile (else in the target's own stored results, else the mean of the known ones, else a
//! guess per profile): the overall bar advances by each experiment's expected seconds, and
//! the time left is the expected time of the experiments still to run plus what remains of the
//! running one's.

use ftnn_lab::{compare, describe, Paths, Profile, ResultsFile};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The published snapshot's results directory of `profile`: `results/` at the workspace root,
/// `results/paper/` for the paper profile (its own store, paper.rs).
pub fn snapshot_results(root: &Path, profile: Profile) -> PathBuf {
    match profile {
        Profile::Paper => crate::paper::store(root).results,
        _ => root.join("results"),
    }
}

/// The working tree, where runs compute by default: `out/` at the workspace root.
pub fn working_tree(root: &Path) -> PathBuf {
    root.join("out")
}

/// The stored results of a directory, by experiment id, read once before a run.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// The results directory.
    pub dir: PathBuf,
    /// Its readable results files.
    pub files: BTreeMap<String, ResultsFile>,
}

impl Stored {
    /// Reads the results of `ids` under `dir` (unreadable ones are left out).
    pub fn load(dir: &Path, ids: &[&str]) -> Self {
        let paths = Paths::beside(dir.to_path_buf());
        let files = ids
            .iter()
            .filter_map(|id| Some((id.to_string(), ResultsFile::load(&paths.results_file(id))?)))
            .collect();
        Self {
            dir: dir.to_path_buf(),
            files,
        }
    }
    /// The recorded seconds of `id` if its results are of `profile`.
    fn seconds(&self, id: &str, profile: Profile) -> Option<f64> {
        ftnn_lab::compare::expected_seconds(self.files.get(id), profile)
    }
}

/// Expected seconds per experiment (in the order of `ids`), from the snapshot, else the
/// target's stored results, else the mean of the known ones, else a guess per profile (5 s
/// smoke, 2 min quick, 1 h paper).
pub fn expected(ids: &[&str], profile: Profile, snapshot: &Stored, target: &Stored) -> Vec<f64> {
    let known: Vec<Option<f64>> = ids
        .iter()
        .map(|id| {
            snapshot
                .seconds(id, profile)
                .or_else(|| target.seconds(id, profile))
        })
        .collect();
    let some: Vec<f64> = known.iter().flatten().copied().collect();
    let fallback = if some.is_empty() {
        match profile {
            Profile::Smoke => 5.0,
            Profile::Quick => 120.0,
            Profile::Paper => 3600.0,
        }
    } else {
        some.iter().sum::<f64>() / some.len() as f64
    };
    known.into_iter().map(|k| k.unwrap_or(fallback)).collect()
}

/// `1 h 02 min`, `12 min`, `40 s`.
pub fn human(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

/// The state the ticker reads.
struct State {
    /// Index of the running experiment and when it started.
    running: Option<(usize, Instant)>,
    /// Experiments finished.
    done: usize,
}

/// The overall progress of a run of several experiments, with the time left for all of them.
pub struct Overall {
    bar: ProgressBar,
    ids: Vec<String>,
    expected: Vec<f64>,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl Overall {
    /// A bar under `multi` for experiments `ids` expected to take `expected` seconds each.
    pub fn new(multi: &MultiProgress, ids: &[&str], expected: Vec<f64>, profile: Profile) -> Self {
        let total: f64 = expected.iter().sum();
        let bar = multi.add(ProgressBar::new((total * 10.0).ceil() as u64 + 1));
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{profile}"));
        let state = Arc::new(Mutex::new(State {
            running: None,
            done: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let mut this = Self {
            bar,
            ids: ids.iter().map(|s| s.to_string()).collect(),
            expected,
            state,
            stop,
            ticker: None,
        };
        if !multi.is_hidden() {
            let (bar, ids, expected) = (this.bar.clone(), this.ids.clone(), this.expected.clone());
            let (state, stop) = (this.state.clone(), this.stop.clone());
            this.ticker = Some(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let s = state.lock().unwrap_or_else(PoisonError::into_inner);
                    let (pos, msg) = render(&ids, &expected, &s);
                    drop(s);
                    bar.set_position(pos);
                    bar.set_message(msg);
                    std::thread::sleep(Duration::from_millis(500));
                }
            }));
        }
        this
    }
    /// Marks experiment `i` as started; returns the line that announces it.
    pub fn start(&self, i: usize) -> String {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.running = Some((i, Instant::now()));
        let (pos, msg) = render(&self.ids, &self.expected, &s);
        self.bar.set_position(pos);
        self.bar.set_message(msg);
        let left: f64 = self.expected[i..].iter().sum();
        format!(
            "[{}/{}] {}: expected {}, about {} left for the profile",
            i + 1,
            self.ids.len(),
            self.ids[i],
            human(self.expected[i]),
            human(left)
        )
    }
    /// Marks the running experiment as finished.
    pub fn finish_one(&self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.running = None;
        s.done += 1;
    }
    /// Removes the bar.
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        self.bar.finish_and_clear();
    }
}

/// Position (tenths of expected seconds) and message of the overall bar.
fn render(ids: &[String], expected: &[f64], s: &State) -> (u64, String) {
    let before: f64 = expected[..s.done.min(expected.len())].iter().sum();
    let (now, running) = match s.running {
        Some((i, t)) => {
            let e = t.elapsed().as_secs_f64();
            (
                e.min(expected[i] * 0.99),
                format!(" · {} running {}", ids[i], human(e)),
            )
        }
        None => (0.0, String::new()),
    };
    let total: f64 = expected.iter().sum();
    let left = (total - before - now).max(0.0);
    (
        ((before + now) * 10.0) as u64,
        format!(
            "{}/{} experiments{running} · about {} left",
            s.done,
            ids.len(),
            human(left)
        ),
    )
}

/// Lines comparing the results of `ids` under `target` with the snapshot read before the run.
/// Every experiment gets a line: identical, how it differs, not comparable, or nothing to
/// compare.
pub fn comparison(ids: &[&str], snapshot: &Stored, target: &Paths) -> Vec<String> {
    ids.iter()
        .map(|id| {
            let new = ResultsFile::load(&target.results_file(id));
            let text = match (snapshot.files.get(*id), new) {
                (Some(old), Some(new)) => describe(&compare(old, &new), old, &new, 5),
                (None, Some(_)) => format!(
                    "no snapshot results in {} to compare with",
                    snapshot.dir.display()
                ),
                (_, None) => "no new results".into(),
            };
            format!("[{id}] {text}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_come_from_the_snapshot_then_the_target() {
        let mk = |seconds: f64, profile: Profile| ResultsFile {
            id: "x".into(),
            title: String::new(),
            origin: String::new(),
            profile,
            params: serde_json::json!({}),
            params_hash: String::new(),
            ftnn_version: String::new(),
            revision: None,
            seconds,
            conclusion: String::new(),
            finished: None,
            results: serde_json::json!({}),
        };
        let mut snapshot = Stored::default();
        snapshot.files.insert("a".into(), mk(100.0, Profile::Quick));
        snapshot.files.insert("b".into(), mk(5.0, Profile::Smoke));
        let mut target = Stored::default();
        target.files.insert("b".into(), mk(20.0, Profile::Quick));
        let e = expected(&["a", "b", "c"], Profile::Quick, &snapshot, &target);
        assert_eq!(e, vec![100.0, 20.0, 60.0]);
        let none = expected(
            &["c"],
            Profile::Smoke,
            &Stored::default(),
            &Stored::default(),
        );
        assert_eq!(none, vec![5.0]);
        assert_eq!(human(3725.0), "1 h 02 min");
        assert_eq!(human(42.4), "42 s");
        let state = State {
            running: None,
            done: 1,
        };
        let ids: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let (pos, msg) = render(&ids, &e, &state);
        assert_eq!(pos, 1000);
        assert!(
            msg.contains("1/3 experiments") && msg.contains("1 min 20 s left"),
            "{msg}"
        );
    }
}
