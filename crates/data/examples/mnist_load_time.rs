//! Times loading MNIST train + test into f32 tensors (checksums included, cold cache).
//!
//! `cargo run --release -p ftnn-data --example mnist_load_time`

use std::time::Instant;

use candle_core::Device;
use ftnn_data::{clear_checksum_cache, load_mnist, DataDir, DataError, ImageSet, Split};

fn main() -> Result<(), DataError> {
    let dir = DataDir::locate()?;
    let dev = Device::Cpu;
    let mut best = f64::INFINITY;
    for run in 1..=5 {
        clear_checksum_cache();
        let t0 = Instant::now();
        let train = load_mnist(&dir, ImageSet::Mnist, Split::Train)?;
        let test = load_mnist(&dir, ImageSet::Mnist, Split::Test)?;
        let xs = train.images_tensor(&dev)?;
        let xt = test.images_tensor(&dev)?;
        let ys = train.one_hot_tensor(&dev)?;
        let yt = test.one_hot_tensor(&dev)?;
        let s = t0.elapsed().as_secs_f64();
        best = best.min(s);
        println!(
            "run {run}: MNIST train {:?} + test {:?} (+ one-hot {:?}, {:?}) loaded in {:.0} ms",
            xs.dims(),
            xt.dims(),
            ys.dims(),
            yt.dims(),
            s * 1e3
        );
    }
    println!("best of 5: {:.0} ms", best * 1e3);
    Ok(())
}
