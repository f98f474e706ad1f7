//! The continuous limit (SPEC §10): the NTK scaling contrast, the Taylor expansion checks, the
//! Riemann sums of a layer, and the smoothing filter of the continuity regulariser.

pub mod filter_playground;
pub mod ntk;
pub mod riemann;
pub mod taylor_checks;
