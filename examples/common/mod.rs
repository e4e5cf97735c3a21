//! What the examples share: command-line sizes and a small deterministic generator, so that the
//! examples need no dependency for random numbers.

#![allow(dead_code)]

/// The problem size: the first command-line argument if there is one, else `cpu` or `gpu`
/// depending on where kernels run by default.
pub fn size(cpu: usize, gpu: usize) -> usize {
    if let Some(n) = std::env::args().nth(1).and_then(|s| s.parse().ok()) {
        return n;
    }
    match keops::Backend::Auto.active() {
        Ok(keops::Backend::Cuda(_)) => gpu,
        _ => cpu,
    }
}

/// Where kernels run, for the printout.
pub fn backend() -> String {
    keops::Backend::Auto.active().map_or_else(|e| e.to_string(), |b| b.to_string())
}

pub use keops_testkit::Rng;
