//! README "From Rust" (`ftnn-bounds`): the analytic estimates b3 (first-order Taylor, the
//! paper's Theorem 1) and b4 (exact single-crash sums) of SPEC §4 beside a Monte Carlo run,
//! on a random sigmoid network with p = 0.001 at hidden layer 1.
//!
//! `cargo run --release -p ftnn-bounds --example bounds`

use ftnn_bounds::{b3, b4};
use ftnn_model::{Activation, FailureVector, Init, Inputs, Mlp, MonteCarlo};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let net = Mlp::init(
        &[50, 40, 30, 2],
        Activation::Sigmoid,
        1.0,
        Init::Paper,
        &mut rng,
    )?;
    let x = Inputs::new((0..3 * 50).map(|_| rng.random::<f32>()).collect(), 3, 50)?;
    let p: FailureVector = "0,0.001,0,0".parse()?;
    let mc = MonteCarlo::new(&net, p.clone())?
        .repetitions(200_000)
        .seed(0)
        .run(&x)?;
    let (t, s) = (b3(&net, &p, &x)?, b4(&net, &p, &x)?);
    println!("input output      std Δ (MC)      b3 std      b4 std");
    for n in 0..x.rows() {
        for k in 0..net.n_outputs() {
            let i = n * net.n_outputs() + k;
            println!(
                "{n:>5} {k:>6} {:>14.4e} {:>11.4e} {:>11.4e}",
                mc.std[i], t.std[i], s.std[i]
            );
        }
    }
    Ok(())
}
