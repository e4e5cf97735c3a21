//! `KMin`, `ArgKMin`, `KMin_ArgKMin`: the `K` smallest values of each component, increasing.

use super::{Accumulator, Arity2, Gradient, Pairs, Reduction, ReductionKind, ReductionSpec, Width};

pub const K_MIN: ReductionSpec = ReductionSpec {
    kind: ReductionKind::KMin,
    name: "kmin",
    keops: "KMin",
    keops_aliases: &[],
    takes_k: true,
    second: Arity2::None,
    scalar_formula: false,
    values: Width::KF,
    indices: Width::Zero,
    accumulator: Accumulator::KMin,
    gradient: Gradient::AtSelected { selection: ReductionKind::KMinArgKMin },
    reference,
    doc: "the `K` smallest values, increasing, `K * D` values",
    numerics: ["ignored", "-inf values come first; +inf values are never selected"],
};

pub const ARG_K_MIN: ReductionSpec = ReductionSpec {
    kind: ReductionKind::ArgKMin,
    name: "argkmin",
    keops: "ArgKMin",
    values: Width::Zero,
    indices: Width::KF,
    gradient: Gradient::Zero,
    doc: "their indices",
    ..K_MIN
};

pub const K_MIN_ARG_K_MIN: ReductionSpec = ReductionSpec {
    kind: ReductionKind::KMinArgKMin,
    name: "kmin_argkmin",
    keops: "KMin_ArgKMin",
    keops_aliases: &["KMinArgKMin"],
    indices: Width::KF,
    doc: "both",
    ..K_MIN
};

/// Slot `s` of component `c` at `s * dim_f + c`: a stable sort, so equal values keep
/// increasing indices; slots that no value fills hold +inf and index 0.
fn reference(r: &Reduction, pairs: Pairs, dim_f: usize, values: &mut [f64], indices: &mut [usize]) {
    for c in 0..dim_f {
        let mut order: Vec<usize> = (0..pairs.len()).filter(|&j| !pairs[j].0[c].is_nan()).collect();
        order
            .sort_by(|&a, &b| pairs[a].0[c].partial_cmp(&pairs[b].0[c]).unwrap_or(std::cmp::Ordering::Equal));
        for slot in 0..r.k {
            let (v, j) = match order.get(slot) {
                Some(&j) => (pairs[j].0[c], j),
                None => (f64::INFINITY, 0),
            };
            if let Some(x) = values.get_mut(slot * dim_f + c) {
                *x = v;
            }
            if let Some(x) = indices.get_mut(slot * dim_f + c) {
                *x = j;
            }
        }
    }
}
