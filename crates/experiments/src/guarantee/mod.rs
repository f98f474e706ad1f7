//! Guarantees (SPEC §6, §10): the tail bound P(Δ > ε) ≤ δ₀ + Var Δ/(ε − E Δ)² on a trained
//! network, Algorithm 1 that grows and regularises a network until the bound holds, and a
//! genetic search for the inputs whose crash error is largest compared with the bounds.

pub mod tail_bound;
pub mod the_algorithm;
pub mod worst_input_search;
