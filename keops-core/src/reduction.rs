//! Reductions: what `Reduction_j` does with the values `F(p, x_i, y_j)`.
//!
//! This module holds the semantics shared by every backend: names in both syntaxes, which
//! formulas and options a reduction takes, the shape of its result, and the reference
//! implementation in f64 that tests compare against. Code generators read the same
//! [`ReductionKind`] to pick their accumulator and update rules.

use crate::ir::Role;

/// The kinds of reduction, as in KeOps.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ReductionKind {
    Sum,
    Min,
    Max,
    ArgMin,
    ArgMax,
    MinArgMin,
    MaxArgMax,
    KMin,
    ArgKMin,
    KMinArgKMin,
    LogSumExp,
    SumSoftMaxWeight,
}

impl ReductionKind {
    pub const ALL: &'static [ReductionKind] = &[
        ReductionKind::Sum,
        ReductionKind::Min,
        ReductionKind::Max,
        ReductionKind::ArgMin,
        ReductionKind::ArgMax,
        ReductionKind::MinArgMin,
        ReductionKind::MaxArgMax,
        ReductionKind::KMin,
        ReductionKind::ArgKMin,
        ReductionKind::KMinArgKMin,
        ReductionKind::LogSumExp,
        ReductionKind::SumSoftMaxWeight,
    ];

    /// Prefix in the math syntax (`sum` in `sum_j`).
    pub fn name(self) -> &'static str {
        match self {
            ReductionKind::Sum => "sum",
            ReductionKind::Min => "min",
            ReductionKind::Max => "max",
            ReductionKind::ArgMin => "argmin",
            ReductionKind::ArgMax => "argmax",
            ReductionKind::MinArgMin => "min_argmin",
            ReductionKind::MaxArgMax => "max_argmax",
            ReductionKind::KMin => "kmin",
            ReductionKind::ArgKMin => "argkmin",
            ReductionKind::KMinArgKMin => "kmin_argkmin",
            ReductionKind::LogSumExp => "logsumexp",
            ReductionKind::SumSoftMaxWeight => "sumsoftmaxweight",
        }
    }

    /// Name in KeOps (`reduction_op`).
    pub fn keops_name(self) -> &'static str {
        match self {
            ReductionKind::Sum => "Sum",
            ReductionKind::Min => "Min",
            ReductionKind::Max => "Max",
            ReductionKind::ArgMin => "ArgMin",
            ReductionKind::ArgMax => "ArgMax",
            ReductionKind::MinArgMin => "Min_ArgMin",
            ReductionKind::MaxArgMax => "Max_ArgMax",
            ReductionKind::KMin => "KMin",
            ReductionKind::ArgKMin => "ArgKMin",
            ReductionKind::KMinArgKMin => "KMin_ArgKMin",
            ReductionKind::LogSumExp => "LogSumExp",
            ReductionKind::SumSoftMaxWeight => "SumSoftMaxWeight",
        }
    }

    pub fn from_name(name: &str) -> Option<ReductionKind> {
        Self::ALL.iter().copied().find(|r| r.name() == name)
    }

    /// KeOps names, including the aliases pykeops accepts.
    pub fn from_keops_name(name: &str) -> Option<ReductionKind> {
        match name {
            "MinArgMin" => Some(ReductionKind::MinArgMin),
            "MaxArgMax" => Some(ReductionKind::MaxArgMax),
            "KMinArgKMin" => Some(ReductionKind::KMinArgKMin),
            "SoftMax" => Some(ReductionKind::SumSoftMaxWeight),
            "LogSumExpWeight" => Some(ReductionKind::LogSumExp),
            _ => Self::ALL.iter().copied().find(|r| r.keops_name() == name),
        }
    }

    /// Takes the number K (`kmin_j::<K>`, KeOps' `opt_arg`).
    pub fn takes_k(self) -> bool {
        matches!(self, ReductionKind::KMin | ReductionKind::ArgKMin | ReductionKind::KMinArgKMin)
    }

    /// Whether a second formula is required, optional or not allowed.
    pub fn second_formula(self) -> Arity2 {
        match self {
            ReductionKind::SumSoftMaxWeight => Arity2::Required,
            ReductionKind::LogSumExp => Arity2::Optional,
            _ => Arity2::None,
        }
    }

    /// Whether the first formula must be scalar.
    pub fn needs_scalar_formula(self) -> bool {
        matches!(self, ReductionKind::LogSumExp | ReductionKind::SumSoftMaxWeight)
    }

    /// Whether the result has a values part.
    pub fn has_values(self) -> bool {
        !matches!(self, ReductionKind::ArgMin | ReductionKind::ArgMax | ReductionKind::ArgKMin)
    }

    /// Whether the result has an indices part.
    pub fn has_indices(self) -> bool {
        matches!(
            self,
            ReductionKind::ArgMin
                | ReductionKind::ArgMax
                | ReductionKind::MinArgMin
                | ReductionKind::MaxArgMax
                | ReductionKind::ArgKMin
                | ReductionKind::KMinArgKMin
        )
    }
}

/// Whether a reduction takes a second formula.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Arity2 {
    None,
    Optional,
    Required,
}

/// A reduction: its kind, K for the K-reductions (1 otherwise), and the index it reduces over.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Reduction {
    pub kind: ReductionKind,
    pub k: usize,
    /// The reduced index: `Role::J` for `sum_j` (KeOps `axis = 1`), `Role::I` for `sum_i`.
    pub over: Role,
}

impl Reduction {
    /// The index of the output rows.
    pub fn outer(&self) -> Role {
        match self.over {
            Role::J => Role::I,
            _ => Role::J,
        }
    }

    /// Width of one output row of each part (values, indices), given the dimensions of the
    /// formula and of the second formula (0 if absent).
    pub fn widths(&self, dim_f: usize, dim_g: usize) -> (usize, usize) {
        use ReductionKind::*;
        let values = match self.kind {
            Sum | Min | Max | MinArgMin | MaxArgMax => dim_f,
            KMin | KMinArgKMin => self.k * dim_f,
            ArgMin | ArgMax | ArgKMin => 0,
            LogSumExp => dim_g.max(1),
            SumSoftMaxWeight => dim_g,
        };
        let indices = match self.kind {
            ArgMin | ArgMax | MinArgMin | MaxArgMax => dim_f,
            ArgKMin | KMinArgKMin => self.k * dim_f,
            _ => 0,
        };
        (values, indices)
    }

    /// The reference implementation: reduces the values `(f_j, g_j)` of one output row, in
    /// order of the reduced index, into `values` and `indices` (sized by [`Reduction::widths`]).
    pub fn reduce_reference(
        &self,
        pairs: &[(Vec<f64>, Vec<f64>)],
        dim_f: usize,
        values: &mut [f64],
        indices: &mut [usize],
    ) {
        use ReductionKind::*;
        match self.kind {
            Sum => {
                values.fill(0.0);
                for (f, _) in pairs {
                    for (v, x) in values.iter_mut().zip(f) {
                        *v += x;
                    }
                }
            }
            Min | Max | ArgMin | ArgMax | MinArgMin | MaxArgMax => {
                let is_min = matches!(self.kind, Min | ArgMin | MinArgMin);
                for c in 0..dim_f {
                    let mut best = if is_min { f64::INFINITY } else { f64::NEG_INFINITY };
                    let mut arg = 0;
                    for (j, (f, _)) in pairs.iter().enumerate() {
                        if (is_min && f[c] < best) || (!is_min && f[c] > best) {
                            best = f[c];
                            arg = j;
                        }
                    }
                    if self.kind.has_values() {
                        values[c] = best;
                    }
                    if self.kind.has_indices() {
                        indices[c] = arg;
                    }
                }
            }
            KMin | ArgKMin | KMinArgKMin => {
                let k = self.k;
                for c in 0..dim_f {
                    let mut order: Vec<usize> =
                        (0..pairs.len()).filter(|&j| !pairs[j].0[c].is_nan()).collect();
                    // Stable: equal values keep increasing indices.
                    order.sort_by(|&a, &b| {
                        pairs[a].0[c].partial_cmp(&pairs[b].0[c]).unwrap_or(std::cmp::Ordering::Equal)
                    });
                    for slot in 0..k {
                        let (v, j) = match order.get(slot) {
                            Some(&j) => (pairs[j].0[c], j),
                            None => (f64::INFINITY, 0),
                        };
                        if self.kind.has_values() {
                            values[slot * dim_f + c] = v;
                        }
                        if self.kind.has_indices() {
                            indices[slot * dim_f + c] = j;
                        }
                    }
                }
            }
            LogSumExp => {
                let m = pairs.iter().map(|(f, _)| f[0]).fold(f64::NEG_INFINITY, f64::max);
                let width = values.len();
                values.fill(0.0);
                for (f, g) in pairs {
                    let e = weight(f[0], m);
                    for (c, v) in values.iter_mut().enumerate() {
                        *v += e * g.get(c).copied().unwrap_or(1.0);
                    }
                }
                for v in values.iter_mut().take(width) {
                    *v = m + v.ln();
                }
            }
            SumSoftMaxWeight => {
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
        }
    }
}

/// `exp(f - m)`, the weight of `f` relative to the maximum `m`, taken as 1 when `f == m` (also
/// for infinite `m`, where the difference is NaN). So log-sum-exp of only -inf values is -inf
/// and of values including +inf is +inf; the soft-max averages over the values equal to the
/// maximum when it is infinite. NaN stays NaN.
fn weight(f: f64, m: f64) -> f64 {
    if f == m { 1.0 } else { (f - m).exp() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(kind: ReductionKind, k: usize) -> Reduction {
        Reduction { kind, k, over: Role::J }
    }

    fn pairs(values: &[f64]) -> Vec<(Vec<f64>, Vec<f64>)> {
        values.iter().map(|&v| (vec![v], vec![])).collect()
    }

    #[test]
    fn names_round_trip() {
        for &kind in ReductionKind::ALL {
            assert_eq!(ReductionKind::from_name(kind.name()), Some(kind));
            assert_eq!(ReductionKind::from_keops_name(kind.keops_name()), Some(kind));
        }
    }

    #[test]
    fn ties_resolve_to_the_lowest_index() {
        let p = pairs(&[3.0, 1.0, 2.0, 1.0]);
        let mut v = [0.0];
        let mut i = [0];
        r(ReductionKind::MinArgMin, 1).reduce_reference(&p, 1, &mut v, &mut i);
        assert_eq!((v[0], i[0]), (1.0, 1));
        let mut v = [0.0; 3];
        let mut i = [0; 3];
        r(ReductionKind::KMinArgKMin, 3).reduce_reference(&p, 1, &mut v, &mut i);
        assert_eq!(v, [1.0, 1.0, 2.0]);
        assert_eq!(i, [1, 3, 2]);
    }

    #[test]
    fn empty_sets_give_identities() {
        let mut v = [1.0];
        let mut i = [7];
        r(ReductionKind::Sum, 1).reduce_reference(&[], 1, &mut v, &mut i);
        assert_eq!(v[0], 0.0);
        r(ReductionKind::Min, 1).reduce_reference(&[], 1, &mut v, &mut i);
        assert_eq!(v[0], f64::INFINITY);
        r(ReductionKind::Max, 1).reduce_reference(&[], 1, &mut v, &mut i);
        assert_eq!(v[0], f64::NEG_INFINITY);
        r(ReductionKind::LogSumExp, 1).reduce_reference(&[], 1, &mut v, &mut i);
        assert_eq!(v[0], f64::NEG_INFINITY);
    }

    #[test]
    fn logsumexp_is_stable() {
        let p = pairs(&[1e4, 1e4]);
        let mut v = [0.0];
        r(ReductionKind::LogSumExp, 1).reduce_reference(&p, 1, &mut v, &mut []);
        assert!((v[0] - (1e4 + 2f64.ln())).abs() < 1e-9);
    }

    #[test]
    fn log_sum_exp_and_soft_max_take_the_limits_at_infinities() {
        let (inf, nan) = (f64::INFINITY, f64::NAN);
        let lse = |values: &[f64]| {
            let mut v = [0.0];
            r(ReductionKind::LogSumExp, 1).reduce_reference(&pairs(values), 1, &mut v, &mut []);
            v[0]
        };
        assert_eq!(lse(&[-inf, -inf]), -inf);
        assert_eq!(lse(&[1.0, inf, 2.0]), inf);
        assert_eq!(lse(&[inf, inf]), inf);
        assert!(lse(&[1.0, nan]).is_nan());
        assert!(lse(&[inf, nan]).is_nan());
        let softmax = |f: &[f64], w: &[f64]| {
            let p: Vec<_> = f.iter().zip(w).map(|(&f, &w)| (vec![f], vec![w])).collect();
            let mut v = [0.0];
            r(ReductionKind::SumSoftMaxWeight, 1).reduce_reference(&p, 1, &mut v, &mut []);
            v[0]
        };
        assert_eq!(softmax(&[-inf, -inf], &[1.0, 3.0]), 2.0);
        assert_eq!(softmax(&[0.0, inf, 5.0, inf], &[1.0, 2.0, 3.0, 6.0]), 4.0);
        assert!(softmax(&[], &[]).is_nan());
    }
}
