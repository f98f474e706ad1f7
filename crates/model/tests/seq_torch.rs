//! The Sequential forward pass against real PyTorch: the fixtures of `fixtures/torch/` were
//! written by `make_fixtures.py` (torch 2.x, CPU, eval mode) — state dict, architecture JSON,
//! inputs and PyTorch's outputs — and every output must agree within 1e-5·max(1, |y|).
//! The crash sites (SPEC §11 "Crash sites") are counted here from the layer lists below, which
//! mirror the Python networks, not from the code under test.

use candle_core::{Device, Tensor};
use ftnn_model::{Architecture, Sequential};
use std::path::{Path, PathBuf};

/// One fixture: its name, the ops of its layers (as in `make_fixtures.py`) and the size of one
/// example's tensor at each crash site, worked out by hand.
struct Fixture {
    name: &'static str,
    ops: &'static [&'static str],
    site_sizes: &'static [usize],
}

const MLP_SIZES: &[usize] = &[6, 5, 4, 3];

const FIXTURES: &[Fixture] = &[
    Fixture {
        name: "mlp_relu",
        ops: &["linear", "relu", "linear", "relu", "linear"],
        site_sizes: MLP_SIZES,
    },
    Fixture {
        name: "mlp_relu6",
        ops: &["linear", "relu6", "linear", "relu6", "linear"],
        site_sizes: MLP_SIZES,
    },
    Fixture {
        name: "mlp_sigmoid",
        ops: &["linear", "sigmoid", "linear", "sigmoid", "linear"],
        site_sizes: MLP_SIZES,
    },
    Fixture {
        name: "mlp_tanh",
        ops: &["linear", "tanh", "linear", "tanh", "linear"],
        site_sizes: MLP_SIZES,
    },
    Fixture {
        name: "mlp_softplus",
        ops: &["linear", "softplus", "linear", "softplus", "linear"],
        site_sizes: MLP_SIZES,
    },
    Fixture {
        name: "mlp_softplus_b2",
        ops: &["linear", "softplus", "linear", "softplus", "linear"],
        site_sizes: MLP_SIZES,
    },
    Fixture {
        name: "mlp_softmax",
        ops: &["linear", "tanh", "linear", "relu", "linear", "softmax"],
        site_sizes: MLP_SIZES,
    },
    // [2,9,9] → conv p1 [4,9,9] → bn → relu (324) → maxpool 2 [4,4,4] → conv s2 p1 g2
    // [6,2,2] → tanh (24) → avgpool(2, p1) [6,2,2] → flatten → dropout → linear 5 → sigmoid (5)
    // → linear 3.
    Fixture {
        name: "cnn",
        ops: &[
            "conv2d",
            "batchnorm2d",
            "relu",
            "maxpool2d",
            "conv2d",
            "tanh",
            "avgpool2d",
            "flatten",
            "dropout",
            "linear",
            "sigmoid",
            "linear",
        ],
        site_sizes: &[162, 324, 24, 5, 3],
    },
    // [3,7,7] → depthwise conv p1 [3,7,7] → relu6 (147) → conv 1×1 [8,7,7] → softplus (392)
    // → adaptive avg [8,1,1] → flatten → linear 4.
    Fixture {
        name: "cnn_depthwise",
        ops: &[
            "conv2d",
            "relu6",
            "conv2d",
            "softplus",
            "adaptive_avgpool2d",
            "flatten",
            "linear",
        ],
        site_sizes: &[147, 147, 392, 4],
    },
    // [2,8,7] → conv 3 [3,6,5] → relu (90) → maxpool(3, s2, p1) [3,3,3] → flatten → linear 4
    // → sigmoid (4, the output site).
    Fixture {
        name: "cnn_maxpool_pad",
        ops: &[
            "conv2d",
            "relu",
            "maxpool2d",
            "flatten",
            "linear",
            "sigmoid",
        ],
        site_sizes: &[112, 90, 4],
    },
];

const ACTIVATIONS: [&str; 5] = ["relu", "relu6", "sigmoid", "tanh", "softplus"];

/// SPEC §11: input, every activation output, and the output unless the last layer is an
/// activation (then that site is the output site). Softmax is no site.
fn expected_sites(ops: &[&str]) -> usize {
    let acts = ops.iter().filter(|op| ACTIVATIONS.contains(op)).count();
    let ends_in_act = ops.last().is_some_and(|op| ACTIVATIONS.contains(op));
    1 + acts + usize::from(!ends_in_act)
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch")
}

/// A little-endian f32 C-order `.npy` array (format versions 1–3): shape and values.
fn read_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&b[..6], b"\x93NUMPY", "{}: not a .npy file", path.display());
    let (hlen, start) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        2 | 3 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        v => panic!("{}: .npy version {v}", path.display()),
    };
    let header = std::str::from_utf8(&b[start..start + hlen]).unwrap();
    assert!(
        header.contains("'descr': '<f4'"),
        "{}: {header}",
        path.display()
    );
    assert!(
        header.contains("'fortran_order': False"),
        "{}: {header}",
        path.display()
    );
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap_or_else(|| panic!("{}: no shape in {header}", path.display()));
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let data = &b[start + hlen..];
    let n: usize = shape.iter().product();
    assert_eq!(data.len(), 4 * n, "{}: data length", path.display());
    let v = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    (shape, v)
}

fn load_arch(name: &str) -> Architecture {
    let p = dir().join(format!("{name}.arch.json"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    Architecture::from_json(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// ftnn's output on the fixture's inputs against PyTorch's; returns the largest error.
fn check_outputs(name: &str, net: &Sequential, how: &str) -> f32 {
    let (xs, xv) = read_npy(&dir().join(format!("{name}.x.npy")));
    let (ys, yv) = read_npy(&dir().join(format!("{name}.y.npy")));
    assert_eq!(xs[0], 3, "{name}: N");
    assert_eq!(&xs[1..], net.input_shape(), "{name}: input shape");
    assert_eq!(&ys[1..], net.output_shape(), "{name}: output shape");
    let x = Tensor::from_vec(xv, xs.as_slice(), &Device::Cpu).unwrap();
    let y = net
        .forward(&x)
        .unwrap_or_else(|e| panic!("{name} ({how}): forward: {e}"));
    assert_eq!(y.dims(), ys.as_slice(), "{name} ({how}): output dims");
    let got: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
    let mut worst = 0f32;
    for (i, (&g, &w)) in got.iter().zip(&yv).enumerate() {
        let err = (g - w).abs();
        assert!(
            err <= 1e-5 * w.abs().max(1.0),
            "{name} ({how}): output {i} (example {}, unit {}): ftnn {g} vs PyTorch {w} \
             (|Δ| = {err:e})",
            i / ys[1..].iter().product::<usize>(),
            i % ys[1..].iter().product::<usize>(),
        );
        worst = worst.max(err);
    }
    worst
}

#[test]
fn state_dicts_match_pytorch() {
    for f in FIXTURES {
        let arch = load_arch(f.name);
        let ops: Vec<&str> = arch.layers.iter().map(|l| l.op()).collect();
        assert_eq!(ops, f.ops, "{}: layer list of the fixture", f.name);
        let path = dir().join(format!("{}.safetensors", f.name));
        let net = Sequential::from_state_dict(&path, &arch, &Device::Cpu)
            .unwrap_or_else(|e| panic!("{}: {e}", f.name));
        let worst = check_outputs(f.name, &net, "from_state_dict");
        eprintln!("{:16} max |ftnn − PyTorch| = {worst:e}", f.name);
    }
}

/// The fixtures' safetensors also carry the architecture as metadata: a Sequential model file.
#[test]
fn model_files_match_pytorch() {
    for f in FIXTURES {
        let path = dir().join(format!("{}.safetensors", f.name));
        let net =
            Sequential::load(&path, &Device::Cpu).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        assert_eq!(
            net.architecture(),
            &load_arch(f.name),
            "{}: metadata architecture",
            f.name
        );
        check_outputs(f.name, &net, "load");
    }
}

#[test]
fn crash_sites_match_spec() {
    for f in FIXTURES {
        let arch = load_arch(f.name);
        let path = dir().join(format!("{}.safetensors", f.name));
        let net = Sequential::from_state_dict(&path, &arch, &Device::Cpu).unwrap();
        let want = expected_sites(f.ops);
        assert_eq!(want, f.site_sizes.len(), "{}: the table itself", f.name);
        assert_eq!(net.n_sites(), want, "{}: number of sites", f.name);
        let sizes: Vec<usize> = net.sites().iter().map(|s| s.size).collect();
        assert_eq!(sizes, f.site_sizes, "{}: site sizes", f.name);
        assert_eq!(net.sites()[0].layer_after, None, "{}: site 0", f.name);
        assert_eq!(
            net.sites().last().unwrap().size,
            net.n_outputs(),
            "{}: last site is the output",
            f.name
        );
    }
}
