//! `SumSoftMaxWeight`: the average of `V` weighted by the soft-max of `F`.

use super::{Accumulator, Arity2, Gradient, Pairs, Reduction, ReductionKind, ReductionSpec, Width, weight};

pub const SUM_SOFT_MAX_WEIGHT: ReductionSpec = ReductionSpec {
    kind: ReductionKind::SumSoftMaxWeight,
    name: "sumsoftmaxweight",
    keops: "SumSoftMaxWeight",
    keops_aliases: &["SoftMax"],
    takes_k: false,
    second: Arity2::Required,
    scalar_formula: true,
    values: Width::G,
    indices: Width::Zero,
    accumulator: Accumulator::SoftMax,
    gradient: Gradient::SoftMax,
    reference,
    doc: "`sum_j exp(F) V / sum_j exp(F)` (`F` scalar)",
    numerics: [
        "NaN",
        "+inf values of `F` share all the weight (the mean of their `V`); only -inf: all weigh the same (the mean of `V`)",
    ],
};

/// Relative to the maximum `m` of `F`, so that no weight overflows.
fn reference(_: &Reduction, pairs: Pairs, _: usize, values: &mut [f64], _: &mut [usize]) {
    let m = pairs.iter().map(|(f, _)| f[0]).fold(f64::NEG_INFINITY, f64::max);
    let mut denominator = 0.0;
    values.fill(0.0);
    for (f, g) in pairs {
        let e = weight(f[0], m);
        denominator += e;
        for (v, x) in values.iter_mut().zip(g) {
            *v += e * x;
        }
    }
    for v in values.iter_mut() {
        *v /= denominator;
    }
}
