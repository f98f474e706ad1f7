//! Wall-clock timing of the SPEC §8 metrics at full size: D over 60 000 samples and the
//! Hessian statistics over 10 samples for 784→1500→100→10 (the MNIST use).
//!
//! `cargo run --release -p ftnn-decay --example decay_timing [rows] [rounds]`

use ftnn_decay::{derivative_decay, hessian_stats, weight_norms, Loss, HESSIAN_SAMPLES};
use ftnn_model::{Activation, Init, Inputs, Mlp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// CPU seconds (user + system) of this process so far, from `/proc/self/stat` (Linux; 0 if
/// unreadable). On a shared machine CPU time is a steadier measure than wall time.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name: utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows: usize = match std::env::args().nth(1) {
        Some(s) => s.parse()?,
        None => 60_000,
    };
    let rounds: usize = match std::env::args().nth(2) {
        Some(s) => s.parse()?,
        None => 3,
    };
    let sizes = [784, 1500, 100, 10];
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let net = Mlp::init(&sizes, Activation::Sigmoid, 1.0, Init::Paper, &mut rng)?;
    let x: Vec<f32> = (0..rows * 784).map(|_| rng.random::<f32>()).collect();
    let mut targets = vec![0f32; rows * 10];
    for r in 0..rows {
        targets[r * 10 + rng.random_range(0..10)] = 1.0;
    }
    let x = Inputs::new(x, rows, 784)?;
    println!("threads: {}", rayon::current_num_threads());
    for _ in 0..rounds {
        let (t, c) = (Instant::now(), cpu_seconds());
        let h = hessian_stats(&net, &x, &targets, HESSIAN_SAMPLES)?;
        println!(
            "hessian_stats over {HESSIAN_SAMPLES} samples: {:.3} s wall, {:.2} s CPU \
             (diag {:.4e}, all {:.4e})",
            t.elapsed().as_secs_f64(),
            cpu_seconds() - c,
            h.diag,
            h.all
        );
        let (t, c) = (Instant::now(), cpu_seconds());
        let d = derivative_decay(&net, &x, &targets, Loss::Mse)?;
        println!(
            "derivative_decay over {rows} samples: {:.3} s wall, {:.2} s CPU (D = {d:.4e})",
            t.elapsed().as_secs_f64(),
            cpu_seconds() - c
        );
    }
    println!("weight norms: {:?}", weight_norms(&net));
    Ok(())
}
