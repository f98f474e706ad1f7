//! Process-wide settings of the candle runtime that binaries apply at start-up, and the one
//! parser of the `--device cpu|cuda[:N]` flag shared by `ftnn` and `cargo xtask`.
//!
//! Device rule: ftnn's hand-written hot loops (the MLP engine's sparse deltas, the fused
//! epilogues, the optimizer loops) run on the host; everything that goes through candle
//! tensors — [`crate::Sequential`] networks, their Monte Carlo engine, the autodiff training
//! step — runs on the [`Device`] it is given. Crash masks are always drawn on the host from
//! ftnn's seeded ChaCha8 streams and uploaded, so a CPU and a GPU run with the same seed use the
//! same masks (SPEC §3, §14).

use candle_core::Device;
use std::fmt;
use std::str::FromStr;

/// Configures candle's CPU threading for ftnn's workloads; call it first thing in `main`,
/// before any tensor exists and before other threads start. Variables the user has set win.
///
/// * `CANDLE_NUM_THREADS=1` — candle splits *elementwise* ops over ≥ 64 K elements across a
///   spinning barrier pool. ftnn's hot loops are its own, and on a machine with other load the
///   spinning costs far more than the split saves: an MNIST training epoch of 784-100-50-10
///   took 4.4× longer with that pool at two threads than at one on the 2-core development
///   machine (same numbers either way). GEMMs stay multi-threaded.
/// * `RAYON_NUM_THREADS` = candle's default (the physical core count) — without it candle
///   recomputes that count on *every* GEMM by parsing `/proc/cpuinfo`, which cost 7 % of a
///   training epoch.
/// * Subnormal floats are flushed to zero ([`flush_subnormals`]) on the calling thread and on
///   every thread of rayon's global pool (which candle's GEMMs use).
pub fn configure_candle_threads() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = candle_core::utils::get_num_threads();
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    flush_subnormals();
    // Fails only when the global pool already exists (then its threads keep their mode).
    let _ = rayon::ThreadPoolBuilder::new()
        .start_handler(|_| flush_subnormals())
        .build_global();
}

/// Sets flush-to-zero (FTZ) and denormals-are-zero (DAZ) in the calling thread's SSE/AVX
/// control register (x86-64; a no-op elsewhere): results below f32::MIN_POSITIVE
/// (≈ 1.2e-38) become 0 and such inputs read as 0.
///
/// Why: saturated sigmoids on raw (unstandardised) Boston features produce subnormal
/// activations and derivatives, and every arithmetic operation on a subnormal takes a
/// micro-code assist of ~100 cycles — training a [13, n, 100, 1] network slowed down ~50×.
/// TensorFlow, which ran the original experiments, flushes subnormals on CPU the same way,
/// so results are unchanged beyond values below 1.2e-38. Deterministic: the same on every
/// thread, whatever the thread count.
#[allow(unsafe_code)]
pub fn flush_subnormals() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads and writes the calling thread's MXCSR; bits 15 (FTZ) and 6 (DAZ) only
    // change how subnormal floats are treated, which every x86-64 CPU supports.
    #[allow(deprecated)]
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        _mm_setcsr(_mm_getcsr() | 0x8040);
    }
}

/// Why a `--device` value cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// Not `cpu`, `cuda` or `cuda:N`.
    #[error("unknown device `{0}` (expected cpu, cuda or cuda:N)")]
    Unknown(String),
    /// A CUDA device was asked of a binary built without the `cuda` feature.
    #[error(
        "--device {0}: this ftnn was built without the cuda feature (rebuild with \
         `--features cuda` on a machine with the CUDA toolkit)"
    )]
    NoCudaBuild(DeviceSpec),
    /// The CUDA build could not open the device (no GPU, no driver, ordinal out of range).
    #[error("--device {spec}: cannot open the CUDA device: {source}")]
    Open {
        /// The device asked for.
        spec: DeviceSpec,
        /// candle's error.
        source: candle_core::Error,
    },
}

impl DeviceError {
    /// True for errors in what the user asked (exit code 2 of `ftnn`): an unknown name or a
    /// CUDA device on a build without CUDA. A CUDA build that finds no GPU is a failure of
    /// the machine, not of the input.
    pub fn is_input_error(&self) -> bool {
        !matches!(self, DeviceError::Open { .. })
    }
}

/// A device named on the command line: `cpu`, `cuda` (= `cuda:0`) or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// The host (the default).
    #[default]
    Cpu,
    /// CUDA device number N.
    Cuda(usize),
}

impl DeviceSpec {
    /// True when this ftnn was built with the `cuda` feature.
    pub const CUDA_BUILD: bool = cfg!(feature = "cuda");

    /// Opens the device: [`DeviceError::NoCudaBuild`] for CUDA on a build without the `cuda`
    /// feature, [`DeviceError::Open`] (candle's error) when the CUDA build finds no such GPU.
    pub fn open(self) -> Result<Device, DeviceError> {
        match self {
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Cuda(n) => open_cuda(self, n),
        }
    }

    /// True for the host.
    pub fn is_cpu(self) -> bool {
        self == DeviceSpec::Cpu
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(spec: DeviceSpec, n: usize) -> Result<Device, DeviceError> {
    Device::new_cuda(n).map_err(|source| DeviceError::Open { spec, source })
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(spec: DeviceSpec, _n: usize) -> Result<Device, DeviceError> {
    Err(DeviceError::NoCudaBuild(spec))
}

impl FromStr for DeviceSpec {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, DeviceError> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" | "gpu" => Ok(DeviceSpec::Cuda(0)),
            _ => t
                .strip_prefix("cuda:")
                .and_then(|n| n.parse::<usize>().ok())
                .map(DeviceSpec::Cuda)
                .ok_or_else(|| DeviceError::Unknown(s.to_string())),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// Parses and opens a `--device` value in one step.
pub fn parse_device(s: &str) -> Result<Device, DeviceError> {
    s.parse::<DeviceSpec>()?.open()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_names() {
        assert_eq!("cpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("CUDA".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert_eq!("cuda:3".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(3));
        assert_eq!(DeviceSpec::Cuda(3).to_string(), "cuda:3");
        for bad in ["", "tpu", "cuda:", "cuda:-1", "cuda:x", "cpu:0"] {
            let e = bad.parse::<DeviceSpec>().unwrap_err();
            assert!(matches!(e, DeviceError::Unknown(_)), "{bad}: {e}");
            assert!(e.is_input_error());
        }
    }

    #[test]
    fn cpu_opens_and_cuda_needs_the_feature() {
        assert!(parse_device("cpu").unwrap().is_cpu());
        let r = parse_device("cuda:1");
        if DeviceSpec::CUDA_BUILD {
            // With the build, either a GPU opens or candle's error comes with context.
            if let Err(e) = r {
                assert!(
                    e.to_string().starts_with("--device cuda:1: cannot open"),
                    "{e}"
                );
            }
        } else {
            let e = r.unwrap_err();
            assert!(e.is_input_error());
            assert!(e
                .to_string()
                .contains("this ftnn was built without the cuda feature"));
        }
    }
}
