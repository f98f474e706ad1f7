//! No silently ignored option: an option that only means something together with another
//! one is an error (exit 2, nothing written) when given without it.

mod common;

use common::*;

/// `--k-lips` sets K of a state dict loaded with `--activation`; alone it would be ignored.
#[test]
fn k_lips_without_activation_is_an_error() {
    let model = fixture("mlp_relu.safetensors");
    let inputs = fixture("mlp_relu.x.npy");
    for command in ["analyze", "compare", "inspect"] {
        let mut args = vec![command, "--model", &model, "--k-lips", "2"];
        if command != "inspect" {
            args.extend(["--inputs", &inputs, "--p", "0,0.1,0"]);
        }
        bad(&ftnn(&args), &["--activation"]);
    }
}

/// `--scale` and `--mean` parametrise `--init random` only.
#[test]
fn init_scale_or_mean_without_init_random_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net.safetensors");
    let out = out.to_str().unwrap();
    let base = [
        "init",
        "--sizes",
        "3,2,1",
        "--activation",
        "relu",
        "--output",
        out,
    ];
    for extra in [
        &["--scale", "3"][..],
        &["--mean", "-0.5"],
        &["--scale", "3", "--mean", "0.1"],
        &["--init", "paper", "--scale", "3"],
        &["--init", "lecun", "--mean", "0.1"],
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        bad(&ftnn(&args), &[extra[extra.len() - 2], "--init random"]);
        assert!(!dir.path().join("net.safetensors").exists());
    }
    // With --init random they apply; without them every scheme still works.
    for extra in [
        &["--init", "random", "--scale", "3", "--mean", "-0.1"][..],
        &["--init", "random"],
        &["--init", "lecun"],
        &[],
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let o = ftnn(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

/// `--crash-repetitions` sets the passes of the `--crash-p` evaluation.
#[test]
fn train_crash_repetitions_without_crash_p_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net.safetensors");
    let out = out.to_str().unwrap();
    let o = ftnn(&[
        "train",
        "--data",
        "boston",
        "--epochs",
        "1",
        "--crash-repetitions",
        "5",
        "--output",
        out,
    ]);
    bad(&o, &["--crash-p"]);
    assert!(!dir.path().join("net.safetensors").exists());
}
