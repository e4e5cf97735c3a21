//! Reductions: what `Reduction_j` does with the values `F(p, x_i, y_j)`.
//!
//! The reduction table: each reduction is one [`ReductionSpec`] row, in the file of its
//! family, holding what every backend, test and doc page reads: its names in both syntaxes,
//! which formulas and options it takes, the widths of its result, the accumulator that
//! computes it, how it is differentiated, the reference implementation in f64 that tests
//! compare against, and its rows of the documentation's tables ([`doc`]).

mod extremum;
mod kmin;
mod log_sum_exp;
mod max_sum_shift_exp;
mod soft_max;
mod sum;

pub mod doc;

use crate::ir::{DType, Role};

/// The values of the formulas `(F, G)` at each pair of one output row, in order of the reduced
/// index.
pub type Pairs<'a> = &'a [(Vec<f64>, Vec<f64>)];

/// One reduction: everything about it that does not depend on a backend.
#[derive(Clone, Copy, Debug)]
pub struct ReductionSpec {
    pub kind: ReductionKind,
    /// Prefix in the math syntax (`sum` in `sum_j`).
    pub name: &'static str,
    /// Name in KeOps (`reduction_op`).
    pub keops: &'static str,
    /// Other KeOps names that pykeops accepts for it.
    pub keops_aliases: &'static [&'static str],
    /// Takes the number K (`kmin_j::<K>`, KeOps' `opt_arg`).
    pub takes_k: bool,
    /// Whether a second formula is required, optional or not allowed.
    pub second: Arity2,
    /// Whether the first formula must be scalar.
    pub scalar_formula: bool,
    /// The width of the values part of an output row.
    pub values: Width,
    /// The width of the indices part of an output row.
    pub indices: Width,
    /// How backends compute it.
    pub accumulator: Accumulator,
    /// How its output is differentiated.
    pub gradient: Gradient,
    /// The reference implementation: reduces the values of one output row into `values` and
    /// `indices` (sized by [`Reduction::widths`]), given the dimension of `F`.
    pub reference: fn(&Reduction, Pairs, usize, &mut [f64], &mut [usize]),
    /// What an output row holds, for the documentation's table (`F` of dimension `D`).
    pub doc: &'static str,
    /// What NaN, and infinities, among the values of `F` give, for the documentation's
    /// numerics table.
    pub numerics: [&'static str; 2],
}

/// Whether a reduction takes a second formula.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Arity2 {
    None,
    Optional,
    Required,
}

/// The width of one part of an output row, from the dimensions of the formulas.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Width {
    Zero,
    /// The dimension of `F`.
    F,
    /// `K` times the dimension of `F`.
    KF,
    /// The dimension of the second formula.
    G,
    /// The dimension of the second formula, 1 without one.
    GOrOne,
    /// One more than [`Width::GOrOne`].
    OnePlusGOrOne,
}

impl Width {
    fn of(self, k: usize, dim_f: usize, dim_g: usize) -> usize {
        match self {
            Width::Zero => 0,
            Width::F => dim_f,
            Width::KF => k * dim_f,
            Width::G => dim_g,
            Width::GOrOne => dim_g.max(1),
            Width::OnePlusGOrOne => 1 + dim_g.max(1),
        }
    }
}

/// How a reduction's running state is kept, updated and merged: what a backend implements,
/// once per accumulator, for every reduction that uses it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Accumulator {
    /// One sum per component.
    Sum,
    /// The best value of each component and its index (the first on ties).
    Extremum { max: bool },
    /// The `K` smallest values of each component, increasing, and their indices.
    KMin,
    /// A running maximum `m`, then one rescaled sum `s` per weight (a single weight 1 without a
    /// second formula); the output is `m + log s`, or with `raw`, `m` then `s`.
    LogSumExp { raw: bool },
    /// A running maximum, the rescaled sum of the weights, then one weighted sum per component
    /// of `V`.
    SoftMax,
}

impl Accumulator {
    /// The running state's numbers and indices, for a formula of `nf` components, weights of
    /// `ng` and `k` selected values: what every backend keeps per output row.
    pub fn state_widths(self, nf: usize, ng: usize, k: usize) -> (usize, usize) {
        match self {
            Accumulator::Sum => (nf, 0),
            Accumulator::Extremum { .. } => (nf, nf),
            Accumulator::KMin => (k * nf, k * nf),
            Accumulator::LogSumExp { .. } => (1 + ng.max(1), 0),
            Accumulator::SoftMax => (2 + ng, 0),
        }
    }
}

/// How the gradient of `sum_r <a_r, e_r>` is computed (see [`crate::backward`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Gradient {
    /// The output (indices) does not depend on the inputs differentiably.
    Zero,
    /// A sum of the derivative of `F` against `e`.
    Sum,
    /// A sum of the derivative of `e exp(F - a) W`, reading the forward output `a`.
    LogSumExp,
    /// A sum of the derivative of `exp(F - lse) (<e, V> - <e, a>)`, reading the forward output
    /// and the log-sum-exp of `F` (an auxiliary kernel).
    SoftMax,
    /// The derivative of `F` at the pairs that `selection` (the reduction with indices, an
    /// auxiliary kernel) selects: KeOps refuses these, this is the usual subgradient.
    AtSelected { selection: ReductionKind },
    /// None: asking for it is an error that gives this reason.
    Refused(&'static str),
}

/// Declares [`ReductionKind`] and its rows, in the order of [`ReductionKind::ALL`].
macro_rules! reduction_table {
    ($($variant:ident => $spec:path,)*) => {
        /// The kinds of reduction, as in KeOps.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub enum ReductionKind {
            $($variant,)*
        }

        impl ReductionKind {
            pub const ALL: &'static [ReductionKind] = &[$(ReductionKind::$variant,)*];

            /// This reduction's row of the reduction table.
            pub fn spec(self) -> &'static ReductionSpec {
                match self {
                    $(ReductionKind::$variant => &$spec,)*
                }
            }
        }
    };
}

reduction_table! {
    Sum => sum::SUM,
    Min => extremum::MIN,
    Max => extremum::MAX,
    ArgMin => extremum::ARG_MIN,
    ArgMax => extremum::ARG_MAX,
    MinArgMin => extremum::MIN_ARG_MIN,
    MaxArgMax => extremum::MAX_ARG_MAX,
    KMin => kmin::K_MIN,
    ArgKMin => kmin::ARG_K_MIN,
    KMinArgKMin => kmin::K_MIN_ARG_K_MIN,
    LogSumExp => log_sum_exp::LOG_SUM_EXP,
    MaxSumShiftExp => max_sum_shift_exp::MAX_SUM_SHIFT_EXP,
    SumSoftMaxWeight => soft_max::SUM_SOFT_MAX_WEIGHT,
}

impl ReductionKind {
    /// Prefix in the math syntax (`sum` in `sum_j`).
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Name in KeOps (`reduction_op`).
    pub fn keops_name(self) -> &'static str {
        self.spec().keops
    }

    pub fn from_name(name: &str) -> Option<ReductionKind> {
        Self::ALL.iter().copied().find(|r| r.name() == name)
    }

    /// KeOps names, including the aliases pykeops accepts.
    pub fn from_keops_name(name: &str) -> Option<ReductionKind> {
        let spec = |r: &ReductionKind| r.spec();
        Self::ALL.iter().copied().find(|r| spec(r).keops == name || spec(r).keops_aliases.contains(&name))
    }

    /// Takes the number K (`kmin_j::<K>`, KeOps' `opt_arg`).
    pub fn takes_k(self) -> bool {
        self.spec().takes_k
    }

    /// Whether a second formula is required, optional or not allowed.
    pub fn second_formula(self) -> Arity2 {
        self.spec().second
    }

    /// Whether the first formula must be scalar.
    pub fn needs_scalar_formula(self) -> bool {
        self.spec().scalar_formula
    }

    /// Whether the result has a values part.
    pub fn has_values(self) -> bool {
        self.spec().values != Width::Zero
    }

    /// Whether the result has an indices part.
    pub fn has_indices(self) -> bool {
        self.spec().indices != Width::Zero
    }
}

/// A reduction: its kind, K for the K-reductions (1 otherwise), the index it reduces over, and
/// how a sum accumulates.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Reduction {
    pub kind: ReductionKind,
    pub k: usize,
    /// The reduced index: `Role::J` for `sum_j` (KeOps `axis = 1`), `Role::I` for `sum_i`.
    pub over: Role,
    pub scheme: SumScheme,
}

/// How a sum accumulates, KeOps' `sum_scheme`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum SumScheme {
    /// Lane by lane and tile by tile, the partial sums merged in order: KeOps' default
    /// `block_sum`. KeOps' `direct_sum`, one running sum, is never more accurate, and is this.
    #[default]
    Block,
    /// Compensated summation: each partial sum carries the rounding error of its additions, and
    /// the result is good to about an ulp whatever the number of terms (when they do not
    /// cancel). KeOps' `kahan_scheme`; `sum_j::<kahan>` in the math syntax.
    Kahan,
    /// f32 values accumulated in f64, lane by lane and tile by tile as the block sum, rounded
    /// to f32 once at the end: KeOps' `dtype_acc = "float64"` (or `use_double_acc`);
    /// `sum_j::<f64>` in the math syntax. An f64 kernel's sums are this already, so
    /// [`SumScheme::for_dtype`] makes them [`SumScheme::Block`].
    Double,
}

impl SumScheme {
    /// The scheme of a KeOps `sum_scheme` name.
    pub fn from_keops_name(name: &str) -> Option<SumScheme> {
        match name {
            "block_sum" | "direct_sum" => Some(SumScheme::Block),
            "kahan_scheme" => Some(SumScheme::Kahan),
            _ => None,
        }
    }

    /// Whether the reduction `kind` can accumulate with this scheme: the block sum always,
    /// compensation and f64 accumulators for sums.
    pub fn applies_to(self, kind: ReductionKind) -> bool {
        self == SumScheme::Block || kind.spec().accumulator == Accumulator::Sum
    }

    /// The scheme a kernel of element type `dtype` sums in: f64 accumulators of f64 values are
    /// the block sum.
    pub fn for_dtype(self, dtype: DType) -> SumScheme {
        match (self, dtype) {
            (SumScheme::Double, DType::F64) => SumScheme::Block,
            (scheme, _) => scheme,
        }
    }
}

impl Reduction {
    /// The index of the output rows.
    pub fn outer(&self) -> Role {
        match self.over {
            Role::J => Role::I,
            _ => Role::J,
        }
    }

    /// The floats and indices of the state, for `nf` and `ng` formula components: the
    /// accumulator's, and for a compensated sum a compensation per component; f64 accumulators
    /// of f32 values take two floats each (their low and high halves).
    pub fn state_widths(&self, nf: usize, ng: usize) -> (usize, usize) {
        let (values, indices) = self.kind.spec().accumulator.state_widths(nf, ng, self.k);
        match self.scheme {
            SumScheme::Block => (values, indices),
            SumScheme::Kahan | SumScheme::Double => (2 * values, indices),
        }
    }

    /// Whether the sum is compensated.
    pub fn compensated(&self) -> bool {
        self.scheme == SumScheme::Kahan
    }

    /// Whether f32 values are summed in f64.
    pub fn widened(&self) -> bool {
        self.scheme == SumScheme::Double
    }

    /// Whether this is a sum in the kernel's own type, which may take each product of two
    /// factors as one fused multiply-add: the other schemes add each value as it is, rounded.
    pub fn plain_sum(&self) -> bool {
        self.kind.spec().accumulator == Accumulator::Sum && self.scheme == SumScheme::Block
    }

    /// Width of one output row of each part (values, indices), given the dimensions of the
    /// formula and of the second formula (0 if absent).
    pub fn widths(&self, dim_f: usize, dim_g: usize) -> (usize, usize) {
        let spec = self.kind.spec();
        (spec.values.of(self.k, dim_f, dim_g), spec.indices.of(self.k, dim_f, dim_g))
    }

    /// The reference implementation: reduces the values `(f_j, g_j)` of one output row, in
    /// order of the reduced index, into `values` and `indices` (sized by [`Reduction::widths`]).
    pub fn reduce_reference(&self, pairs: Pairs, dim_f: usize, values: &mut [f64], indices: &mut [usize]) {
        (self.kind.spec().reference)(self, pairs, dim_f, values, indices)
    }
}

/// The `genred!` arguments of the kernels that every backend's tests run on each reduction:
/// one per reduction of [`ReductionKind::ALL`], per axis and per float type, with and without an
/// optional second formula, and with a compensated sum and f64 accumulators (of f32 values)
/// where they apply. A reduction added to the table is therefore tested without anyone
/// listing it.
pub fn test_kernels() -> Vec<String> {
    const ALIASES: &str = r#"["x = Vi(3)", "y = Vj(3)", "b = Vj(2)", "p = Pm(1)"]"#;
    let mut texts = Vec::new();
    for &kind in ReductionKind::ALL {
        let formula = if kind.needs_scalar_formula() {
            "p * (x|y) - SqDist(x, y)"
        } else {
            "Sin(x - y) * p + (x|y) * y"
        };
        let second: &[Option<&str>] = match kind.second_formula() {
            Arity2::None => &[None],
            Arity2::Optional => &[None, Some("Exp(b - Elem(x, 0))")],
            Arity2::Required => &[Some("Exp(b) * Elem(x, 0)")],
        };
        for formula2 in second {
            for axis in [0, 1] {
                for dtype in ["f32", "f64"] {
                    let mut text = format!(
                        r#""{formula}", {ALIASES}, reduction = "{}", axis = {axis}, dtype = {dtype}"#,
                        kind.keops_name()
                    );
                    if kind.takes_k() {
                        text += ", opt_arg = 3";
                    }
                    if let Some(f) = formula2 {
                        text += &format!(r#", formula2 = "{f}""#);
                    }
                    if SumScheme::Kahan.applies_to(kind) {
                        texts.push(format!(r#"{text}, sum_scheme = "kahan_scheme""#));
                    }
                    // An f64 kernel's f64 accumulators are its block sum.
                    if SumScheme::Double.applies_to(kind) && dtype == "f32" {
                        texts.push(format!(r#"{text}, dtype_acc = "float64""#));
                    }
                    texts.push(text);
                }
            }
        }
    }
    texts
}

/// The maximum `m` of the scalar `F`, and into `sums` the sums of `exp(F - m) W`, `W` the
/// second formula (1 without one): the log-sum-exp's state.
fn max_and_shifted_sums(pairs: Pairs, sums: &mut [f64]) -> f64 {
    let m = pairs.iter().map(|(f, _)| f[0]).fold(f64::NEG_INFINITY, f64::max);
    sums.fill(0.0);
    for (f, g) in pairs {
        let e = weight(f[0], m);
        for (c, v) in sums.iter_mut().enumerate() {
            *v += e * g.get(c).copied().unwrap_or(1.0);
        }
    }
    m
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
        Reduction { kind, k, over: Role::J, scheme: SumScheme::Block }
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
