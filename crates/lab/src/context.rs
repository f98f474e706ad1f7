//! The per-run [`Context`]: resumable steps, sweeps of independent jobs and progress bars, and
//! [`Shard`]s of sweeps.
//!
//! A sweep ([`Context::jobs`]) stores every job on its own, so it resumes job by job, and a
//! [`Shard`] `i/k` computes only the jobs whose index is `i` modulo `k`: the shards of a sweep
//! can run on several machines (a Slurm array, GNU parallel). A shard that leaves jobs of its
//! sweep missing ends [`crate::RunStatus::Partial`] without writing `results.json`; once the
//! shards' `results/<id>/steps/` are copied together, [`crate::merge_experiment`] assembles the
//! results from the stored jobs alone.

use crate::profile::Profile;
use crate::store::{read_json, write_json, write_json_read_back, ExperimentDir};
use anyhow::Context as _;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};

/// One part `index/count` of every sweep: the jobs whose index is `index` modulo `count`
/// (0-based, `index < count`). Parsed from `i/k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl Shard {
    /// Shard `index` of `count`; an error unless `index < count`.
    pub fn new(index: usize, count: usize) -> Result<Self, String> {
        if count == 0 {
            return Err(format!(
                "shard {index}/{count}: the number of shards k must be at least 1"
            ));
        }
        if index >= count {
            return Err(format!(
                "shard {index}/{count}: the index i is 0-based and must be below k \
                 (0/{count} … {}/{count})",
                count - 1
            ));
        }
        Ok(Self { index, count })
    }
    /// The 0-based index `i`.
    pub fn index(self) -> usize {
        self.index
    }
    /// The number of shards `k`.
    pub fn count(self) -> usize {
        self.count
    }
    /// Whether job `job` of a sweep belongs to this shard.
    pub fn contains(self, job: usize) -> bool {
        job % self.count == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, k) = s
            .split_once('/')
            .ok_or_else(|| format!("shard `{s}` is not of the form i/k (e.g. 0/4)"))?;
        let number = |part: &str| {
            part.trim().parse::<usize>().map_err(|_| {
                format!("shard `{s}`: `{part}` is not a non-negative integer (form i/k, e.g. 0/4)")
            })
        };
        Self::new(number(i)?, number(k)?)
    }
}

/// Jobs of a sweep are missing after a pass that does not compute them all: a shard, which
/// computes only its own ([`crate::RunStatus::Partial`] then), or a merge ([`crate::merge_experiment`]),
/// which computes none. Reaches the caller through `anyhow` (downcast it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardIncomplete {
    /// Jobs this pass computed.
    pub computed: usize,
    /// Jobs of the sweeps in all.
    pub total: usize,
    /// The missing jobs, as `<sweep>/<key>`.
    pub missing: Vec<String>,
    /// `cargo xtask` commands that compute them: the shards holding them when the sweep was
    /// sharded, else an unsharded run.
    pub commands: Vec<String>,
}

impl fmt::Display for ShardIncomplete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let commands: Vec<String> = self.commands.iter().map(|c| format!("`{c}`")).collect();
        write!(
            f,
            "{} of {} jobs stored, {} missing: {}; compute them with {}",
            self.total - self.missing.len(),
            self.total,
            self.missing.len(),
            abbreviate(&self.missing, 8),
            commands.join(", ")
        )
    }
}

impl std::error::Error for ShardIncomplete {}

impl ShardIncomplete {
    /// The incomplete sweeps of one run as one.
    pub(crate) fn combine(parts: Vec<Self>) -> Self {
        let mut all = Self {
            computed: 0,
            total: 0,
            missing: Vec::new(),
            commands: Vec::new(),
        };
        for p in parts {
            all.computed += p.computed;
            all.total += p.total;
            all.missing.extend(p.missing);
            for c in p.commands {
                if !all.commands.contains(&c) {
                    all.commands.push(c);
                }
            }
        }
        all
    }
}

/// The first `n` items joined by `, `, then how many more.
pub fn abbreviate(items: &[String], n: usize) -> String {
    let shown = items[..items.len().min(n)].join(", ");
    match items.len().saturating_sub(n) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// Which stored pieces a run computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Every missing step and job.
    All,
    /// Every missing step, and the missing jobs of this shard.
    Shard(Shard),
    /// Nothing: steps and jobs are read, missing ones are errors.
    MergeOnly,
}

/// Per-run services for an experiment.
pub struct Context {
    pub(crate) id: &'static str,
    pub(crate) profile: Profile,
    pub(crate) dir: ExperimentDir,
    pub(crate) steps: PathBuf,
    pub(crate) multi: MultiProgress,
    pub(crate) mode: Mode,
    pub(crate) incomplete: Mutex<Vec<ShardIncomplete>>,
    pub(crate) device: candle_core::Device,
}

impl Context {
    /// The profile being run.
    pub fn profile(&self) -> Profile {
        self.profile
    }
    /// The device the run's tensors are created on (`cargo xtask run ID --device cuda`; the
    /// host by default). Experiments may keep their CPU fast paths (the MLP engine's loops);
    /// crash masks are drawn on the host from the seeded streams whatever the device, so the
    /// numbers agree within float tolerance.
    pub fn device(&self) -> &candle_core::Device {
        &self.device
    }
    /// The experiment's results directory.
    pub fn dir(&self) -> &ExperimentDir {
        &self.dir
    }
    /// Runs `f` once and stores its result as `steps/<profile>-<hash>/<key>.json`; when that
    /// file exists (an interrupted run), returns the stored value instead of recomputing.
    /// Either way the value returned is the stored one as read back, so a resumed run continues
    /// with the same bits as an uninterrupted one.
    ///
    /// A sharded run computes its steps like an unsharded one (every shard does); a merge
    /// ([`crate::merge_experiment`]) computes none and fails on a missing one.
    pub fn step<T, F>(&self, key: &str, f: F) -> anyhow::Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> anyhow::Result<T>,
    {
        let path = self.steps.join(format!("{key}.json"));
        if let Some(v) = read_json(&path) {
            return Ok(v);
        }
        if self.mode == Mode::MergeOnly {
            anyhow::bail!(
                "step `{key}` is not stored in {} and merging computes nothing; compute it with \
                 `{}`",
                self.steps.display(),
                self.command()
            );
        }
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("  {spinner} step {msg} ({elapsed})")
                .expect("valid template"),
        );
        bar.set_message(key.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(250));
        let v = f();
        bar.finish_and_clear();
        Ok(write_json_read_back(&path, &v?)?)
    }
    /// A sweep of independent jobs, one per key: job `i` is `f(i, &keys[i])` (seed it from
    /// `i` or the key, never from what ran before), stored as
    /// `steps/<profile>-<hash>/<name>/<key>.json`. Returns the values in the order of `keys`.
    ///
    /// Stored jobs are loaded and the others computed one after the other (a job uses the
    /// cores itself), under a progress bar `name: done/total`. In a sharded run (`--shard i/k`)
    /// only the missing jobs with index `i` modulo `k` are computed; if jobs of other shards
    /// are then still missing, the result is a [`ShardIncomplete`] error, which
    /// [`crate::run_experiment`] reports as [`crate::RunStatus::Partial`]. A merge ([`crate::merge_experiment`])
    /// computes no job. With several sweeps, call `jobs` for each before applying `?`, so
    /// that a shard computes its part of every sweep.
    ///
    /// `name` and the keys must be plain file names, the keys distinct.
    pub fn jobs<T, F>(&self, name: &str, keys: &[String], f: F) -> anyhow::Result<Vec<T>>
    where
        T: Serialize + DeserializeOwned + Send,
        F: Fn(usize, &str) -> anyhow::Result<T> + Sync,
    {
        check_file_name("sweep name", name)?;
        let mut seen = BTreeSet::new();
        for k in keys {
            check_file_name("job key", k)?;
            anyhow::ensure!(
                seen.insert(k),
                "job key `{k}` occurs twice in sweep `{name}`"
            );
        }
        let dir = self.steps.join(name);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = |k: &str| dir.join(format!("{k}.json"));
        let mut values: Vec<Option<T>> = keys.iter().map(|k| read_json(&path(k))).collect();
        let todo: Vec<usize> = (0..keys.len())
            .filter(|&i| values[i].is_none())
            .filter(|&i| match self.mode {
                Mode::All => true,
                Mode::Shard(s) => s.contains(i),
                Mode::MergeOnly => false,
            })
            .collect();
        let bar = self.progress(keys.len() as u64, name);
        bar.set_position(values.iter().filter(|v| v.is_some()).count() as u64);
        for &i in &todo {
            let v =
                f(i, &keys[i]).with_context(|| format!("job `{}` of sweep `{name}`", keys[i]))?;
            values[i] = Some(write_json_read_back(&path(&keys[i]), &v)?);
            bar.inc(1);
        }
        bar.finish_and_clear();
        if let Mode::Shard(s) = self.mode {
            // Records the shard count for the hints of a merge.
            let marker = dir.join(format!("shard-{}-of-{}.done", s.index, s.count));
            write_json(&marker, &s.to_string())?;
            // On a shared file system the other shards may have stored theirs meanwhile.
            for (i, v) in values.iter_mut().enumerate() {
                if v.is_none() {
                    *v = read_json(&path(&keys[i]));
                }
            }
        }
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| values[i].is_none()).collect();
        if missing.is_empty() {
            return Ok(values.into_iter().flatten().collect());
        }
        let err = ShardIncomplete {
            computed: todo.len(),
            total: keys.len(),
            missing: missing
                .iter()
                .map(|&i| format!("{name}/{}", keys[i]))
                .collect(),
            commands: self.commands_for(&dir, &missing),
        };
        self.incomplete
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(err.clone());
        Err(err.into())
    }
    /// `cargo xtask run <id> --profile <profile>`.
    fn command(&self) -> String {
        format!("cargo xtask run {} --profile {}", self.id, self.profile)
    }
    /// Commands that compute the jobs `missing` of the sweep stored in `dir`: for each shard
    /// count that ran there, the shards holding them; an unsharded run if none did.
    fn commands_for(&self, dir: &Path, missing: &[usize]) -> Vec<String> {
        let counts: BTreeSet<usize> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        let name = e.file_name().into_string().ok()?;
                        let rest = name.strip_prefix("shard-")?.strip_suffix(".done")?;
                        rest.split_once("-of-")?.1.parse().ok()
                    })
                    .filter(|&k| k > 0)
                    .collect()
            })
            .unwrap_or_default();
        if counts.is_empty() {
            return vec![self.command()];
        }
        counts
            .into_iter()
            .flat_map(|k| {
                let shards: BTreeSet<usize> = missing.iter().map(|j| j % k).collect();
                shards
                    .into_iter()
                    .map(move |i| format!("{} --shard {i}/{k}", self.command()))
            })
            .collect()
    }
    /// A progress bar of `len` units under the run's progress display.
    pub fn progress(&self, len: u64, message: &str) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new(len));
        bar.set_style(
            ProgressStyle::with_template("  {msg:<28} [{bar:30}] {pos}/{len} ({eta} left)")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(message.to_string());
        bar
    }
    /// Prints a line above the progress bars.
    pub fn println(&self, line: &str) {
        if self.multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }
}

/// An error unless `name` is a plain file name (not empty, no separators, not `.` or `..`).
fn check_file_name(what: &str, name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\']),
        "{what} `{name}` is not a plain file name"
    );
    Ok(())
}
