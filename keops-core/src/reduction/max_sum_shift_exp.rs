//! `Max_SumShiftExp` (also `Max_SumShiftExpWeight`): KeOps' raw log-sum-exp state, the maximum
//! `m` of `F` and the sums `s = sum_j exp(F - m) W` (`W = 1` without a second formula), from
//! which `m + log s` is the log-sum-exp. pykeops computes its log-sum-exps and soft-maxes as
//! this reduction followed by that step; here it is the log-sum-exp's accumulator without it.

use super::{
    Accumulator, Arity2, Gradient, Pairs, Reduction, ReductionKind, ReductionSpec, Width,
    max_and_shifted_sums,
};

pub const MAX_SUM_SHIFT_EXP: ReductionSpec = ReductionSpec {
    kind: ReductionKind::MaxSumShiftExp,
    name: "max_sumshiftexp",
    keops: "Max_SumShiftExp",
    keops_aliases: &["Max_SumShiftExpWeight", "MaxSumShiftExp"],
    takes_k: false,
    second: Arity2::Optional,
    scalar_formula: true,
    values: Width::OnePlusGOrOne,
    indices: Width::Zero,
    accumulator: Accumulator::LogSumExp { raw: true },
    // KeOps' derivative of this reduction is right only when its output goes on through
    // `m + log s` or a soft-max, which is what `LogSumExp` and `SumSoftMaxWeight` differentiate.
    gradient: Gradient::Refused(
        "KeOps differentiates Max_SumShiftExp only as part of a log-sum-exp or soft-max: use the LogSumExp or SumSoftMaxWeight reduction",
    ),
    reference,
    doc: "`m = max_j F`, then `sum_j exp(F - m) W` (`F` scalar; `W` is 1 without a second formula): `1 + dim W` values",
    numerics: [
        "NaN",
        "+inf: `m` = +inf, the sums count the +inf values; only -inf: `m` = -inf, the sums count all values",
    ],
};

/// Relative to the maximum `m`, as the log-sum-exp's reference, without its last step.
fn reference(_: &Reduction, pairs: Pairs, _: usize, values: &mut [f64], _: &mut [usize]) {
    let (max, sums) = values.split_first_mut().expect("a maximum, then the sums");
    *max = max_and_shifted_sums(pairs, sums);
}
