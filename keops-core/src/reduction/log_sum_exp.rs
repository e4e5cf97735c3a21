//! `LogSumExp`: `log sum_j exp(F)`, or with a weight `W`, `log sum_j exp(F) W` component-wise.

use super::{
    Accumulator, Arity2, Gradient, Pairs, Reduction, ReductionKind, ReductionSpec, Width,
    max_and_shifted_sums,
};

pub const LOG_SUM_EXP: ReductionSpec = ReductionSpec {
    kind: ReductionKind::LogSumExp,
    name: "logsumexp",
    keops: "LogSumExp",
    keops_aliases: &["LogSumExpWeight"],
    takes_k: false,
    second: Arity2::Optional,
    scalar_formula: true,
    values: Width::GOrOne,
    indices: Width::Zero,
    accumulator: Accumulator::LogSumExp { raw: false },
    gradient: Gradient::LogSumExp,
    reference,
    doc: "`log sum_j exp(F)` (`F` scalar), or with a weight `W`, `log sum_j exp(F) W`, component-wise in `W`",
    numerics: ["NaN", "any +inf: +inf (unless a NaN); only -inf: -inf"],
};

/// Relative to the maximum `m`: `m + log sum_j exp(f_j - m) w_j`.
fn reference(_: &Reduction, pairs: Pairs, _: usize, values: &mut [f64], _: &mut [usize]) {
    let m = max_and_shifted_sums(pairs, values);
    for v in values.iter_mut() {
        *v = m + v.ln();
    }
}
