//! Training for fault tolerance on MNIST (SPEC §10): which quantity orders networks by their
//! crash-dropout, and the regularisers that make a network crash-tolerant.

pub mod dropout_comparison;
pub mod regularization;
