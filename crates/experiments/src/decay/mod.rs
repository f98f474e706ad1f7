//! The width sweeps of the decay and continuity experiments (SPEC §10): the shared sweep
//! machinery ([`sweep`]) and the six experiments ([`experiments`]).

pub mod experiments;
pub mod sweep;
