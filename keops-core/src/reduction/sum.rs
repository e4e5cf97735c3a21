//! `Sum`: the sum over the reduced index, component by component.

use super::{Accumulator, Arity2, Gradient, Pairs, Reduction, ReductionKind, ReductionSpec, Width};

pub const SUM: ReductionSpec = ReductionSpec {
    kind: ReductionKind::Sum,
    name: "sum",
    keops: "Sum",
    keops_aliases: &[],
    takes_k: false,
    second: Arity2::None,
    scalar_formula: false,
    values: Width::F,
    indices: Width::Zero,
    accumulator: Accumulator::Sum,
    gradient: Gradient::Sum,
    reference,
    doc: "`sum_j F`, `D` values",
    numerics: ["NaN", "+inf / -inf; both: NaN"],
};

fn reference(_: &Reduction, pairs: Pairs, _: usize, values: &mut [f64], _: &mut [usize]) {
    values.fill(0.0);
    for (f, _) in pairs {
        for (v, x) in values.iter_mut().zip(f) {
            *v += x;
        }
    }
}
