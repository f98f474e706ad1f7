//! `cargo xtask data verify` and `cargo xtask data import-vgg16 PATH`.
//!
//! `verify` checks every checksum of `data/SHA256SUMS`, loads every data set and shipped
//! model and prints sizes, label histograms, the Boston split facts and the MNIST load time;
//! it reports every problem it finds and fails at the end if there was one.
//! `import-vgg16` validates a user's VGG16 safetensors file (torchvision naming) and copies it
//! to `data/models/vgg16.safetensors` (git-ignored).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use ftnn_data::candle_core::Device;
use ftnn_data::{
    clear_checksum_cache, load_boston, load_boston_keras_permutation, load_efficientnet_lite0,
    load_mnist, load_mnist_cnn, numpy_legacy_permutation, DataDir, ImageSet, Split, VggConfig,
    KERAS_SEED, MANIFEST, VGG16_SAFETENSORS,
};

/// `cargo xtask data …` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum DataCmd {
    /// Verify every checksum and print sizes and label histograms.
    Verify,
    /// Validate a user's VGG16 safetensors (torchvision naming) and copy it to data/models/vgg16.safetensors.
    ImportVgg16 {
        /// The VGG16 safetensors file to import.
        path: PathBuf,
    },
}

/// Run a data subcommand; `root` is the workspace root (data lives in `root/data`).
pub fn run(cmd: DataCmd, root: &Path) -> anyhow::Result<()> {
    let dir = DataDir::new(root.join("data"));
    match cmd {
        DataCmd::Verify => verify(&dir),
        DataCmd::ImportVgg16 { path } => import(&dir, &path),
    }
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn verify(dir: &DataDir) -> anyhow::Result<()> {
    let mut problems: Vec<String> = Vec::new();
    println!("data folder: {}", dir.path().display());

    // 1. Checksums.
    let checks = dir.verify_all().with_context(|| {
        format!(
            "cannot read the checksum manifest of {}",
            dir.path().display()
        )
    })?;
    println!("\nchecksums ({MANIFEST}, {} files)", checks.len());
    for c in &checks {
        let size = c.size.map(human).unwrap_or_else(|| "-".into());
        match &c.result {
            Ok(()) => println!("  OK      {size:>10}  {}", c.name),
            Err(e) => {
                println!("  FAILED  {size:>10}  {}", c.name);
                problems.push(e.to_string());
            }
        }
    }
    for extra in unlisted_files(dir) {
        println!("  note: `{extra}` is not listed in {MANIFEST} (not verified, not used)");
    }
    // Host: this verifies the files and times their loading into memory.
    let device = Device::Cpu;

    // 2. MNIST and Fashion-MNIST, timing the cold MNIST load (checksums included).
    for set in ImageSet::ALL {
        println!("\n{}", set.name());
        clear_checksum_cache();
        let t0 = Instant::now();
        let mut loaded = Vec::new();
        for split in Split::ALL {
            match load_mnist(dir, set, split).and_then(|d| {
                d.images_tensor(&device)?;
                Ok(d)
            }) {
                Ok(d) => loaded.push((split, d)),
                Err(e) => problems.push(e.to_string()),
            }
        }
        let elapsed = t0.elapsed();
        let names = set.class_names();
        for (split, d) in &loaded {
            println!(
                "  {:<5} {} images of {}×{}, label histogram:",
                split.name(),
                d.n,
                d.rows,
                d.cols
            );
            let counts = d.label_counts();
            let max = counts.iter().copied().max().unwrap_or(1).max(1);
            for (k, &c) in counts.iter().enumerate() {
                let bar = "#".repeat((c * 30).div_ceil(max));
                let name = if names[k] == k.to_string() {
                    ""
                } else {
                    names[k]
                };
                println!("    {k} {name:<12} {c:>6}  {bar}");
            }
        }
        if loaded.len() == 2 {
            println!(
                "  train + test read, verified, decoded into f32 tensors in {:.0} ms",
                elapsed.as_secs_f64() * 1e3
            );
        }
    }

    // 3. Boston Housing and the Keras split.
    println!("\nBoston Housing");
    match load_boston(dir) {
        Ok(b) => {
            let (lo, hi) = b
                .target
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, c), &y| (a.min(y), c.max(y)));
            let mean = b.target.iter().sum::<f64>() / b.n as f64;
            println!(
                "  {} rows × {} features ({}), target {}: min {lo}, mean {mean:.3}, max {hi}",
                b.n,
                b.n_features,
                b.feature_names.join(" "),
                b.target_name
            );
            let s = b.keras_split();
            let mean_train = s.y_train.iter().sum::<f64>() / s.n_train() as f64;
            println!(
                "  Keras split (seed {KERAS_SEED}): train {} / test {}; y_train[..5] = {:?}, \
                 y_test[0] = {}, mean(y_train) = {mean_train:.5}",
                s.n_train(),
                s.n_test(),
                &s.y_train[..5.min(s.n_train())],
                s.y_test.first().copied().unwrap_or(f64::NAN)
            );
            match load_boston_keras_permutation(dir) {
                Ok(p) if p == numpy_legacy_permutation(KERAS_SEED, b.n) => println!(
                    "  MT19937 + numpy legacy shuffle reproduces boston_keras_split.txt exactly"
                ),
                Ok(_) => problems.push(
                    "the MT19937 permutation differs from data/boston_keras_split.txt".into(),
                ),
                Err(e) => problems.push(e.to_string()),
            }
        }
        Err(e) => problems.push(e.to_string()),
    }

    // 4. Pretrained weights.
    println!("\nmodels");
    match load_mnist_cnn(dir, &device) {
        Ok(w) => println!(
            "  mnist-cnn.pth: {} tensors, {} parameters, shapes OK",
            w.len(),
            w.num_elements()
        ),
        Err(e) => problems.push(e.to_string()),
    }
    match load_efficientnet_lite0(dir, &device) {
        Ok(w) => println!(
            "  efficientnet-lite0.safetensors: {} tensors, {} values, shapes OK",
            w.len(),
            w.num_elements()
        ),
        Err(e) => problems.push(e.to_string()),
    }
    let vgg = dir.file(VGG16_SAFETENSORS);
    if vgg.is_file() {
        match VggConfig::vgg16().validate_file(&vgg) {
            Ok(_) => println!("  vgg16.safetensors (imported): 32 tensors, shapes OK"),
            Err(e) => problems.push(e.to_string()),
        }
    } else {
        println!(
            "  vgg16.safetensors: not present (optional; see `cargo xtask data import-vgg16 PATH`)"
        );
    }

    if problems.is_empty() {
        println!("\nall data verified");
        Ok(())
    } else {
        // A file that failed its checksum also fails to load: report each problem once.
        let mut seen = std::collections::HashSet::new();
        problems.retain(|p| seen.insert(p.clone()));
        eprintln!();
        for p in &problems {
            eprintln!("error: {p}");
        }
        bail!("data verification found {} problem(s)", problems.len())
    }
}

/// Files under the data folder that the manifest does not list (documentation and the
/// optional VGG16 weights excepted).
fn unlisted_files(dir: &DataDir) -> Vec<String> {
    let listed = dir.manifest().unwrap_or_default();
    let mut out = Vec::new();
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let Ok(rel) = p.strip_prefix(dir.path()) else {
                continue;
            };
            let rel = rel.to_string_lossy().replace('\\', "/");
            let ignored = ["README.md", "SOURCES.md", MANIFEST, VGG16_SAFETENSORS];
            if !listed.contains_key(&rel) && !ignored.contains(&rel.as_str()) {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

fn import(dir: &DataDir, path: &Path) -> anyhow::Result<()> {
    println!(
        "validating {} against VGG16 (torchvision naming) …",
        path.display()
    );
    let report = ftnn_data::import_vgg16(path, dir)
        .with_context(|| format!("cannot import `{}` as VGG16 weights", path.display()))?;
    println!(
        "OK: {} tensors with the expected shapes; copied {} to {}",
        report.tensors,
        human(report.bytes),
        report.destination.display()
    );
    if !report.extra.is_empty() {
        println!(
            "note: {} extra tensor(s) ignored: {}",
            report.extra.len(),
            report.extra.join(", ")
        );
    }
    Ok(())
}
