//! README "From Rust" (`ftnn-model`): a network saved and loaded in the ftnn format, Monte
//! Carlo of the crash error Δ with p = 0.01 at hidden layer 1, and the exact distribution by
//! enumerating every crash pattern (ground truth for ≤ 20 crashable neurons).
//!
//! `cargo run --release -p ftnn-model --example monte_carlo`

use ftnn_model::{exact_delta, Activation, FailureVector, Init, Inputs, Mlp, MonteCarlo};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The network of `ftnn init --sizes 20,15,14,1 --activation relu --init random --scale 3
    // --mean 0.1 --seed 0`, written to and read back from a model file.
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let init = Init::Random {
        scale: 3.0,
        mean: 0.1,
    };
    let net = Mlp::init(&[20, 15, 14, 1], Activation::Relu, 1.0, init, &mut rng)?;
    let dir = std::env::temp_dir().join(format!("ftnn-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("net.safetensors");
    net.save(&path)?;

    let net = Mlp::load(&path)?;
    let p: FailureVector = "0,0.01,0,0".parse()?; // one probability per layer of neurons
    let x = Inputs::new(vec![0.5; 20], 1, 20)?;
    let mc = MonteCarlo::new(&net, p.clone())?
        .repetitions(100_000)
        .seed(0)
        .run(&x)?;
    let exact = exact_delta(&net, &p, &x, 20)?; // ground truth for ≤ 20 crashable neurons
    println!(
        "Monte Carlo: E Δ = {:.6e} ± {:.1e}, std Δ = {:.4e}",
        mc.mean[0], mc.stderr[0], mc.std[0]
    );
    println!(
        "exact:       E Δ = {:.6e},            std Δ = {:.4e}",
        exact.mean[0], exact.std[0]
    );
    std::fs::remove_dir_all(&dir)?;
    // The exact mean lies within 5 standard errors of the estimate (a seeded run).
    let z = (mc.mean[0] - exact.mean[0]).abs() / mc.stderr[0];
    if z > 5.0 {
        return Err(format!("Monte Carlo is {z:.1} standard errors from the exact mean").into());
    }
    Ok(())
}
