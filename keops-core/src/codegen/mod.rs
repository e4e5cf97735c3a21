//! Code generators: Rust for the CPU kernels.

pub mod rust;
