//! `Min`, `Max`, and the reductions that also or only give the selected index.

use super::{Accumulator, Arity2, Gradient, Pairs, Reduction, ReductionKind, ReductionSpec, Width};

pub const MIN: ReductionSpec = ReductionSpec {
    kind: ReductionKind::Min,
    name: "min",
    keops: "Min",
    keops_aliases: &[],
    takes_k: false,
    second: Arity2::None,
    scalar_formula: false,
    values: Width::F,
    indices: Width::Zero,
    accumulator: Accumulator::Extremum { max: false },
    gradient: Gradient::AtSelected { selection: ReductionKind::MinArgMin },
    reference,
    doc: "the component-wise minimum, `D` values",
    numerics: [
        "ignored: the minimum of the others",
        "-inf is the minimum (the first one's index); +inf is never selected",
    ],
};

pub const ARG_MIN: ReductionSpec = ReductionSpec {
    kind: ReductionKind::ArgMin,
    name: "argmin",
    keops: "ArgMin",
    values: Width::Zero,
    indices: Width::F,
    gradient: Gradient::Zero,
    doc: "its index, `D` indices",
    ..MIN
};

pub const MIN_ARG_MIN: ReductionSpec = ReductionSpec {
    kind: ReductionKind::MinArgMin,
    name: "min_argmin",
    keops: "Min_ArgMin",
    keops_aliases: &["MinArgMin"],
    indices: Width::F,
    doc: "both",
    ..MIN
};

pub const MAX: ReductionSpec = ReductionSpec {
    kind: ReductionKind::Max,
    name: "max",
    keops: "Max",
    accumulator: Accumulator::Extremum { max: true },
    gradient: Gradient::AtSelected { selection: ReductionKind::MaxArgMax },
    doc: "the component-wise maximum, `D` values",
    numerics: ["ignored", "+inf is the maximum (the first one's index); -inf is never selected"],
    ..MIN
};

pub const ARG_MAX: ReductionSpec = ReductionSpec {
    kind: ReductionKind::ArgMax,
    name: "argmax",
    keops: "ArgMax",
    values: Width::Zero,
    indices: Width::F,
    gradient: Gradient::Zero,
    doc: "its index, `D` indices",
    ..MAX
};

pub const MAX_ARG_MAX: ReductionSpec = ReductionSpec {
    kind: ReductionKind::MaxArgMax,
    name: "max_argmax",
    keops: "Max_ArgMax",
    keops_aliases: &["MaxArgMax"],
    indices: Width::F,
    doc: "both",
    ..MAX
};

/// The best value of each component (the first one on ties; NaN never wins), and its index.
fn reference(r: &Reduction, pairs: Pairs, dim_f: usize, values: &mut [f64], indices: &mut [usize]) {
    let max = r.kind.spec().accumulator == (Accumulator::Extremum { max: true });
    for c in 0..dim_f {
        let mut best = if max { f64::NEG_INFINITY } else { f64::INFINITY };
        let mut arg = 0;
        for (j, (f, _)) in pairs.iter().enumerate() {
            if (max && f[c] > best) || (!max && f[c] < best) {
                best = f[c];
                arg = j;
            }
        }
        if let Some(v) = values.get_mut(c) {
            *v = best;
        }
        if let Some(i) = indices.get_mut(c) {
            *i = arg;
        }
    }
}
