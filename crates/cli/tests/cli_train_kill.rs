//! `ftnn train` interrupted (issue 17, item 3): Ctrl-C (SIGINT) stops it with a message and
//! leaves nothing behind, and a SIGKILL at any moment — during training, between the model
//! and the history (the test-only hook `FTNN_TEST_PAUSE_AT=train:model-written`), or at
//! times spread over a whole run — leaves each output absent or complete, never half-written.
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `ftnn train` on Boston (a small network) writing `dir/net.safetensors` and its history.
fn train(dir: &Path, epochs: usize, pause: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ftnn"));
    cmd.args(["train", "--data", "boston", "--hidden", "8", "--seed", "1"])
        .args(["--epochs", &epochs.to_string(), "--output"])
        .arg(dir.join("net.safetensors"))
        .env_remove("FTNN_TEST_PAUSE_AT")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if let Some(point) = pause {
        cmd.env("FTNN_TEST_PAUSE_AT", point)
            .env("FTNN_TEST_PAUSED_FLAG", dir.join("paused"));
    }
    cmd
}

/// Starts `cmd` with its stderr lines sent to the returned channel.
fn spawn_with_stderr(mut cmd: Command) -> (Child, mpsc::Receiver<String>) {
    let mut child = cmd.stderr(Stdio::piped()).spawn().expect("start ftnn");
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits (at most a minute) for a stderr line containing `needle`.
fn wait_for_line(rx: &mpsc::Receiver<String>, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return,
            Ok(_) => {}
            Err(e) => panic!("no line with `{needle}` ({e})"),
        }
    }
}

/// The names of the files in `dir`, except the pause flag.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "paused")
        .collect();
    v.sort();
    v
}

/// Each output in `dir` is absent or complete (the model loads, the history parses); every
/// other file is a hidden temporary file of an atomic write or of the writability check.
fn check_absent_or_complete(dir: &Path, when: &str) {
    for name in names(dir) {
        let path = dir.join(&name);
        match name.as_str() {
            "net.safetensors" => {
                let out = common::ftnn(&["inspect", "--model", path.to_str().unwrap()]);
                assert!(
                    out.status.success(),
                    "{when}: the model does not load: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            "net.history.json" => {
                let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap())
                    .unwrap_or_else(|e| panic!("{when}: the history does not parse: {e}"));
                assert!(v["epochs"].is_array(), "{when}: {v}");
            }
            n if n.starts_with(".net.") && n.ends_with(".tmp") => {}
            n if n.starts_with(".ftnn-write-check-") => {}
            n => panic!("{when}: unexpected file {n}"),
        }
    }
}

#[test]
fn ctrl_c_stops_training_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, rx) = spawn_with_stderr(train(dir.path(), 100_000, None));
    wait_for_line(&rx, "epoch 2/");
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(sent.success(), "kill -INT failed");
    let status = child.wait().unwrap();
    let rest: Vec<String> = rx.iter().collect();
    assert_eq!(status.code(), Some(1), "{status}: {rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("nothing was written")),
        "{rest:?}"
    );
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

#[test]
fn sigkill_never_leaves_a_half_written_output() {
    let dir = tempfile::tempdir().unwrap();
    // During training: nothing is written yet.
    let (mut child, rx) = spawn_with_stderr(train(dir.path(), 100_000, None));
    wait_for_line(&rx, "epoch 2/");
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(9));
    check_absent_or_complete(dir.path(), "killed while training");
    assert!(!dir.path().join("net.safetensors").exists());

    // Between the model and the history: the model is complete, the history absent.
    let dir = tempfile::tempdir().unwrap();
    let mut child = train(dir.path(), 2, Some("train:model-written"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !dir.path().join("paused").exists() {
        assert!(child.try_wait().unwrap().is_none(), "ended before pausing");
        assert!(start.elapsed() < Duration::from_secs(60), "never paused");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(9));
    check_absent_or_complete(dir.path(), "killed after the model");
    assert!(dir.path().join("net.safetensors").exists());
    assert!(!dir.path().join("net.history.json").exists());

    // At 16 times spread over a whole run (startup, training, the writes).
    let epochs = 200;
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let status = train(dir.path(), epochs, None)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let whole = start.elapsed();
    check_absent_or_complete(dir.path(), "after a whole run");
    for i in 1..=16u32 {
        let dir = tempfile::tempdir().unwrap();
        let mut child = train(dir.path(), epochs, None)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(whole * i / 16);
        let _ = child.kill();
        child.wait().unwrap();
        check_absent_or_complete(dir.path(), &format!("killed at {i}/16 of a run"));
    }
}
