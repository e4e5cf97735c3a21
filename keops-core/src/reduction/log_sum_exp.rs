//! `LogSumExp`: `log sum_j exp(F)`, or with a weight `W`, `log sum_j exp(F) W` component-wise.

use super::{Accumulator, Arity2, Gradient, Pairs, Reduction, ReductionKind, ReductionSpec, Width, weight};

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
    let m = pairs.iter().map(|(f, _)| f[0]).fold(f64::NEG_INFINITY, f64::max);
    values.fill(0.0);
    for (f, g) in pairs {
        let e = weight(f[0], m);
        for (c, v) in values.iter_mut().enumerate() {
            *v += e * g.get(c).copied().unwrap_or(1.0);
        }
    }
    for v in values.iter_mut() {
        *v = m + v.ln();
    }
}
