//! Deterministic inputs for keops' tests, examples and benchmarks: one seeded generator, so that
//! every run of a test sees the same values and a failure can be replayed; and the one timing
//! rule the examples and benchmarks share.

/// SplitMix64: a 64-bit state stepped by a constant and mixed, a full-period generator whose
/// outputs pass the usual statistical tests; far more than inputs to kernels need.
#[derive(Clone, Debug)]
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

    /// Uniform in `[0, 1)`, on 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// `n` values uniform in `[lo, hi)`.
    pub fn vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }

    /// Uniform in `[0, 1)`, on 24 bits (every value exact in f32).
    pub fn unit_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Standard normal, by Box-Muller in f32.
    pub fn normal_f32(&mut self) -> f32 {
        let u = 1.0 - self.unit_f32();
        let v = self.unit_f32();
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }

    /// An index in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform over the bit patterns of the non-negative f64 from `lo` to `hi`: every
    /// magnitude in between is as likely.
    pub fn bit_pattern(&mut self, lo: f64, hi: f64) -> f64 {
        let (a, b) = (lo.to_bits(), hi.to_bits());
        f64::from_bits(a + self.next_u64() % (b - a + 1))
    }
}

/// The median of `runs` timings of `f` in seconds, after one warm-up call, and the last call's
/// result.
pub fn median_seconds<R>(runs: usize, mut f: impl FnMut() -> R) -> (f64, R) {
    let mut out = f();
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let start = std::time::Instant::now();
            out = f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], out)
}
