//! # ftnn-continuity — the smooth() regularizer (Eq. 1)
//!
//! Continuity of a layer in the neuron index (SPEC §7): the rows of a weight matrix W
//! [n_out, n_in] should vary slowly with the neuron index i. Eq. 1 penalises, column by column,
//!
//! * the **derivative part** D = ¼ Σ_{c ∈ C} Σ_j Σ_i |(c ⋆ W_{·j})_i| over four
//!   finite-difference stencils C ([`derivative_stencils`], computed exactly), and
//! * the **smoothness part** S = ½ Σ_{m ∈ {⌊n_out/20⌋, ⌊n_out/10⌋}} Σ_j mean_i
//!   |(g_m ⋆ W_{·j})_i − W_ij| against Gaussian smoothings g_m ([`gaussian_kernel`]),
//!
//! with zero "same" padding; the regularizer is ψ_d · D + ψ_s · S. [`smooth()`] and
//! [`Smoother`] build it from differentiable candle ops (so `backward()` gives ∂/∂W);
//! [`smooth_parts_f64`] is a direct-loop `f64` reference.
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use ftnn_continuity::{smooth, smooth_parts_f64, Smoother};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let values: Vec<f64> = (0..40 * 3).map(|k| ((k * 7) % 11) as f64 / 11.0).collect();
//! let w = Var::from_tensor(&Tensor::from_vec(values.clone(), (40, 3), &Device::Cpu)?)?;
//!
//! // The regularizer ψ_d · D + ψ_s · S and its gradient.
//! let loss = smooth(&w, 1e-4, 1e-2)?;
//! let grads = loss.backward()?;
//! let dw = grads.get(&w).expect("W receives a gradient");
//! assert_eq!(dw.dims(), &[40, 3]);
//!
//! // Reuse the operators across steps, and read the parts separately.
//! let smoother = Smoother::new(40, w.dtype(), w.device())?;
//! let (d, s) = smoother.parts(&w)?;
//! let (d_ref, s_ref) = smooth_parts_f64(&values, 40, 3);
//! assert!((d.to_scalar::<f64>()? - d_ref).abs() < 1e-12 * d_ref);
//! assert!((s.to_scalar::<f64>()? - s_ref).abs() < 1e-12 * s_ref);
//! # Ok(())
//! # }
//! ```

pub mod error;
pub mod smooth;
pub mod stencil;

pub use error::{ContinuityError, Result};
pub use smooth::{smooth, smooth_parts, smooth_parts_f64, Smoother};
pub use stencil::{
    central_first_derivative, derivative_stencils, erf, forward_difference, gaussian_kernel,
    DERIVATIVE_ACCURACIES,
};
