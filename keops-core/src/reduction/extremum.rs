//! `Min`, `Max`, and the reductions that also or only give the selected index.

use super::{Accumulator, Arity2, Gradient, Pairs, Reduction, ReductionKind, ReductionSpec, Width};

pub const MIN: ReductionSpec = ReductionSpec {
    kind: ReductionKind::Min,
    name: "min",
    keops: "Min",
    values: Width::F,
    indices: Width::Zero,
    gradient: Gradient::AtSelected { selection: ReductionKind::MinArgMin },
    doc: "the component-wise minimum, `D` values",
    ..MIN_FAMILY
};

pub const ARG_MIN: ReductionSpec = ReductionSpec {
    kind: ReductionKind::ArgMin,
    name: "argmin",
    keops: "ArgMin",
    values: Width::Zero,
    indices: Width::F,
    gradient: Gradient::Zero,
    doc: "its index, `D` indices",
    ..MIN_FAMILY
};

pub const MIN_ARG_MIN: ReductionSpec = ReductionSpec {
    kind: ReductionKind::MinArgMin,
    name: "min_argmin",
    keops: "Min_ArgMin",
    keops_aliases: &["MinArgMin"],
    values: Width::F,
    indices: Width::F,
    gradient: Gradient::AtSelected { selection: ReductionKind::MinArgMin },
    doc: "both",
    ..MIN_FAMILY
};

pub const MAX: ReductionSpec = ReductionSpec {
    kind: ReductionKind::Max,
    name: "max",
    keops: "Max",
    gradient: Gradient::AtSelected { selection: ReductionKind::MaxArgMax },
    doc: "the component-wise maximum, `D` values",
    ..MAX_FAMILY
};

pub const ARG_MAX: ReductionSpec = ReductionSpec {
    kind: ReductionKind::ArgMax,
    name: "argmax",
    keops: "ArgMax",
    values: Width::Zero,
    indices: Width::F,
    gradient: Gradient::Zero,
    doc: "its index, `D` indices",
    ..MAX_FAMILY
};

pub const MAX_ARG_MAX: ReductionSpec = ReductionSpec {
    kind: ReductionKind::MaxArgMax,
    name: "max_argmax",
    keops: "Max_ArgMax",
    keops_aliases: &["MaxArgMax"],
    indices: Width::F,
    gradient: Gradient::AtSelected { selection: ReductionKind::MaxArgMax },
    doc: "both",
    ..MAX_FAMILY
};

const MIN_FAMILY: ReductionSpec = ReductionSpec {
    kind: ReductionKind::Min,
    name: "",
    keops: "",
    keops_aliases: &[],
    takes_k: false,
    second: Arity2::None,
    scalar_formula: false,
    values: Width::F,
    indices: Width::Zero,
    accumulator: Accumulator::Extremum { max: false },
    gradient: Gradient::Zero,
    reference,
    doc: "",
    numerics: [
        "ignored: the minimum of the others",
        "-inf is the minimum (the first one's index); +inf is never selected",
    ],
};

const MAX_FAMILY: ReductionSpec = ReductionSpec {
    accumulator: Accumulator::Extremum { max: true },
    numerics: ["ignored", "+inf is the maximum (the first one's index); -inf is never selected"],
    ..MIN_FAMILY
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
