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

/// SplitMix64.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f32 {
        let u = 1.0 - self.uniform();
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }

    /// An index in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}
