//! The CPU interpreter's programs, as keops-core describes them and the runtime runs them.

/// How the formula's values are reduced, with the compiled kernels' semantics (the runtime's
/// `cpu::reduce`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reduction {
    Sum,
    /// A sum of `f[k] * g[k]`, each term one fused multiply-add.
    SumOfProducts,
    /// A compensated sum (KeOps' `kahan_scheme`).
    KahanSum,
    /// f32 values summed in f64 (KeOps' `dtype_acc = "float64"`).
    DoubleSum,
    /// Minimum, arg-minimum or both (the kernel's output widths say which).
    Min,
    Max,
    /// The `K` smallest values, their indices, or both.
    KMin(usize),
    LogSumExp,
    /// A log-sum-exp with weights `g`.
    LogSumExpWeight,
    /// A log-sum-exp's state (KeOps' `Max_SumShiftExp`): the maximum, then the sum.
    MaxSumShiftExp,
    /// A weighted log-sum-exp's state: the maximum, then the sums.
    MaxSumShiftExpWeight,
    SumSoftMaxWeight,
}

/// The terms of a chain instruction, which sums them by fused multiply-adds in order: a squared
/// distance's `(a - b)^2`, or a dot product's `a * b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Term {
    SquaredDifference,
    Product,
}
