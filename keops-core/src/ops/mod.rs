//! The op table: every formula operation, defined once.
//!
//! A row ([`OpSpec`]) gives an operation's names (math syntax and KeOps), its operands and integer
//! attributes, its dimension rule, its reference evaluation in f64, its lowering to scalar
//! primitives, its derivative, its algebraic simplifications and the inputs tests exercise it
//! on. The parsers, the checker, the reference evaluator, autodiff and every code generator read
//! this table and nothing else, so adding an operation is adding a row.

mod arith;
pub mod attrs;
mod compare;
mod complex;
pub mod doc;
mod extrema;
mod math;
mod piecewise;
mod spline;
mod tensor;
mod vector;
mod weighted;

use crate::ir::{DimError, Graph, NodeId};
use crate::lower::{Program, Val};
use crate::prim::Prim;

pub use attrs::{Attr, AttrKind, AttrValue};

/// Reference evaluation of a whole operation: operands, attributes, output.
pub type VectorEval = fn(&[&[f64]], &[i64], &mut [f64]);
/// Lowering of a whole operation: operand components, attributes; returns output components.
pub type VectorLower = fn(&mut Program, &[&[Val]], &[i64]) -> Vec<Val>;
/// Output dimension from operand dimensions and attributes.
pub type DimRule = fn(&[usize], &[i64]) -> Result<usize, DimError>;
/// An operation written as a formula of other operations: operands, attributes; returns the
/// formula.
pub type Expand = fn(&mut Graph, &[NodeId], &[i64]) -> Result<NodeId, DimError>;

/// How an operation acts on its operands.
#[derive(Clone, Copy)]
pub enum Kind {
    /// Component-wise: operands have equal dimensions, or dimension 1 (broadcast, as in
    /// KeOps). `eval` and `lower` handle one component.
    Elementwise { eval: fn(&[f64], &[i64]) -> f64, lower: fn(&mut Program, &[Val], &[i64]) -> Val },
    /// Anything else: the rules see whole vectors. `dim_doc` states the dimension rule for the
    /// documentation table.
    Vector { dim: DimRule, dim_doc: &'static str, eval: VectorEval, lower: VectorLower },
    /// Defined as a formula of other operations, as KeOps defines it (`SqNormIso(s, a)` is
    /// `s * SqNorm2(a)`): building it builds the expansion, so it is never a node of its own and
    /// its lowering and derivative are the expansion's. `eval` is an independent reference
    /// that the tests hold the expansion to.
    Alias { dim: DimRule, dim_doc: &'static str, eval: VectorEval, expand: Expand },
}

/// Partial derivatives of a component-wise operation: for each operand, `d out / d operand` as
/// a formula of the operands and the output, of the output's dimension or 1.
pub type Partials = fn(&mut Graph, &[NodeId], &[i64], NodeId) -> Result<Vec<NodeId>, DimError>;

/// Vector-Jacobian product: given the operands, attributes, the output and the gradient `g`
/// flowing into it (of the output's dimension), the gradient of each operand (of its dimension).
pub type Vjp = fn(&mut Graph, &[NodeId], &[i64], NodeId, NodeId) -> Result<Vec<NodeId>, DimError>;

/// How gradients flow back through an operation (used by [`crate::autodiff`]).
#[derive(Clone, Copy)]
pub enum Derivative {
    /// For component-wise operations: the gradient of operand `k` is `g * partial_k`, summed
    /// over components where the operand was broadcast. Piecewise-constant operations give zeros.
    Partials(Partials),
    /// Anything else.
    Vjp(Vjp),
    /// Differentiable with respect to some operands only, as in KeOps: an operand listed in
    /// `constant` may not depend on the variable of a gradient (a clear error says so), and
    /// `vjp` gives it a zero gradient.
    Partial { vjp: Vjp, constant: &'static [usize] },
    /// For [`Kind::Alias`] operations, which differentiate as their expansion.
    OfExpansion,
}

/// Inputs on which the op-table tests exercise an operation.
#[derive(Clone, Copy, Debug)]
pub struct TestCase {
    /// Each operand's dimension and value range `[lo, hi)`.
    pub operands: &'static [(usize, f64, f64)],
    /// The integer attributes, encoded as a node stores them (see [`attrs`]).
    pub attrs: &'static [i64],
}

/// A rewrite tried before a node is built: `Some(simpler)` replaces it. Receives the operands,
/// the attributes and the (already checked) output dimension.
pub type Simplify = fn(&mut Graph, &[NodeId], &[i64], usize) -> Result<Option<NodeId>, DimError>;

/// One row of the op table.
pub struct OpSpec {
    /// Name in the math syntax (`keops!`), lower case.
    pub name: &'static str,
    /// Name in KeOps formula strings (`genred!`).
    pub keops: &'static str,
    /// Infix spelling, for operators (`+`), used in messages.
    pub symbol: Option<&'static str>,
    /// Names of the formula operands, for messages and the documentation.
    pub operands: &'static [&'static str],
    /// The integer attributes, written after the operands (`pow(x, n)`).
    pub attrs: &'static [Attr],
    /// Operands may be reordered (used to share `a + b` and `b + a`).
    pub commutative: bool,
    pub kind: Kind,
    pub derivative: Derivative,
    pub simplify: Simplify,
    /// Where tests evaluate and differentiate the operation (at least one case).
    pub tests: &'static [TestCase],
    /// One line for the documentation table.
    pub doc: &'static str,
}

impl OpSpec {
    /// The spelling used in messages: the operator if there is one, else the name.
    pub fn display(&self) -> &'static str {
        self.symbol.unwrap_or(self.name)
    }

    /// The operands that a gradient may not flow into (see [`Derivative::Partial`]).
    pub fn constant_operands(&self) -> &'static [usize] {
        match self.derivative {
            Derivative::Partial { constant, .. } => constant,
            _ => &[],
        }
    }

    /// Number of formula operands.
    pub fn arity(&self) -> usize {
        self.operands.len()
    }

    /// Checks that `attrs` is a valid encoding of this op's attributes (their values are the
    /// dimension rule's business).
    pub fn check_attrs(&self, attrs: &[i64]) -> Result<(), DimError> {
        attrs::decode(self.attrs, attrs).map(|_| ()).map_err(|e| format!("`{}`: {e}", self.name))
    }

    pub fn output_dim(&self, dims: &[usize], attrs: &[i64]) -> Result<usize, DimError> {
        match self.kind {
            Kind::Elementwise { .. } => broadcast_dim(self.display(), dims),
            Kind::Vector { dim, .. } | Kind::Alias { dim, .. } => dim(dims, attrs),
        }
    }

    /// Reference evaluation; `out` has the output dimension.
    pub fn evaluate(&self, args: &[&[f64]], attrs: &[i64], out: &mut [f64]) {
        match self.kind {
            Kind::Elementwise { eval, .. } => {
                let mut scalars = vec![0.0; args.len()];
                for (k, o) in out.iter_mut().enumerate() {
                    for (s, a) in scalars.iter_mut().zip(args) {
                        *s = a[if a.len() == 1 { 0 } else { k }];
                    }
                    *o = eval(&scalars, attrs);
                }
            }
            Kind::Vector { eval, .. } | Kind::Alias { eval, .. } => eval(args, attrs, out),
        }
    }

    /// Lowering to scalar primitives, one value per output component.
    pub fn lower(&self, p: &mut Program, args: &[&[Val]], attrs: &[i64]) -> Vec<Val> {
        match self.kind {
            Kind::Elementwise { lower, .. } => {
                let dim = args.iter().map(|a| a.len()).max().unwrap_or(1);
                (0..dim)
                    .map(|k| {
                        let scalars: Vec<Val> =
                            args.iter().map(|a| a[if a.len() == 1 { 0 } else { k }]).collect();
                        lower(p, &scalars, attrs)
                    })
                    .collect()
            }
            Kind::Vector { lower, .. } => lower(p, args, attrs),
            Kind::Alias { .. } => unreachable!("`{}` is expanded when it is built", self.name),
        }
    }
}

/// KeOps' broadcasting rule: all dimensions equal, except dimension-1 operands.
fn broadcast_dim(name: &str, dims: &[usize]) -> Result<usize, DimError> {
    let out = dims.iter().copied().max().unwrap_or(1);
    if dims.iter().all(|&d| d == out || d == 1) {
        Ok(out)
    } else {
        let list: Vec<String> = dims.iter().map(usize::to_string).collect();
        Err(format!(
            "dimension mismatch in `{name}`: operands have dimensions {} (they must be equal, or 1 to broadcast)",
            list.join(" and ")
        ))
    }
}

/// The dimension rule of the operations that make a vector of dimension `dim` (their
/// attribute) from a scalar.
fn from_scalar(name: &str, dims: &[usize], attrs: &[i64]) -> Result<usize, DimError> {
    if dims[0] != 1 {
        Err(format!("`{name}` takes a scalar, but its operand has dimension {}", dims[0]))
    } else if attrs[0] < 1 {
        Err(format!("`{name}` needs a dimension of at least 1, got {}", attrs[0]))
    } else {
        Ok(attrs[0] as usize)
    }
}

/// `cond ? a : b` for a condition that is exactly 0 or 1 (a comparison's result), with the
/// `select` primitive's `>= 0` test: `-cond` is `-0.0` (selects `b`) or `-1` (selects `a`).
fn pick(p: &mut Program, cond: Val, a: Val, b: Val) -> Val {
    let n = p.prim(Prim::Neg, &[cond]);
    p.prim(Prim::Select, &[n, b, a])
}

/// Zero partial derivatives, for piecewise-constant operations.
fn no_partials(g: &mut Graph, args: &[NodeId], _: &[i64], _: NodeId) -> Result<Vec<NodeId>, DimError> {
    Ok(args.iter().map(|_| g.zero(1)).collect())
}

/// The default: no rewrite.
fn keep(_: &mut Graph, _: &[NodeId], _: &[i64], _: usize) -> Result<Option<NodeId>, DimError> {
    Ok(None)
}

/// For operations that map zero to zero: any zero operand makes the result zero.
fn zero_if_any_zero(
    g: &mut Graph,
    args: &[NodeId],
    _: &[i64],
    dim: usize,
) -> Result<Option<NodeId>, DimError> {
    Ok(args.iter().any(|&a| g.is_zero(a)).then(|| g.zero(dim)))
}

macro_rules! op_table {
    ($($variant:ident => $spec:path,)*) => {
        /// A formula operation; its definition is [`Op::spec`].
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
        pub enum Op {
            $($variant,)*
        }

        impl Op {
            /// Every operation, in table order.
            pub const ALL: &'static [Op] = &[$(Op::$variant,)*];

            /// This operation's row of the op table.
            pub fn spec(self) -> &'static OpSpec {
                match self {
                    $(Op::$variant => &$spec,)*
                }
            }
        }
    };
}

op_table! {
    Add => arith::ADD,
    Sub => arith::SUB,
    Mul => arith::MUL,
    Div => arith::DIV,
    Neg => arith::NEG,
    Square => arith::SQUARE,
    Inv => arith::INV,
    Pow => arith::POW,
    Exp => math::EXP,
    Log => math::LOG,
    XLogX => math::XLOGX,
    Sqrt => math::SQRT,
    Rsqrt => math::RSQRT,
    Powf => math::POWF,
    Sin => math::SIN,
    Cos => math::COS,
    SinXDivX => math::SINXDIVX,
    Sinc => math::SINC,
    Asin => math::ASIN,
    Acos => math::ACOS,
    Atan => math::ATAN,
    Atan2 => math::ATAN2,
    Abs => math::ABS,
    Sign => math::SIGN,
    Step => math::STEP,
    Relu => math::RELU,
    IfElse => math::IFELSE,
    Floor => piecewise::FLOOR,
    Round => piecewise::ROUND,
    Mod => piecewise::MOD,
    Clamp => piecewise::CLAMP,
    ClampInt => piecewise::CLAMPINT,
    DiffClampInt => piecewise::DIFFCLAMPINT,
    Equal => compare::EQUAL,
    NotEqual => compare::NOTEQUAL,
    LessThan => compare::LESSTHAN,
    LessOrEqual => compare::LESSOREQUAL,
    Sum => vector::SUM,
    SumT => vector::SUMT,
    Max => extrema::MAX,
    Min => extrema::MIN,
    ArgMax => extrema::ARGMAX,
    ArgMin => extrema::ARGMIN,
    SqNorm2 => vector::SQNORM2,
    Norm2 => vector::NORM2,
    Normalize => vector::NORMALIZE,
    Dot => vector::DOT,
    SqDist => vector::SQDIST,
    WeightedSqNorm => weighted::WEIGHTEDSQNORM,
    WeightedSqDist => weighted::WEIGHTEDSQDIST,
    SqNormIso => weighted::SQNORMISO,
    SqNormDiag => weighted::SQNORMDIAG,
    SymSqNorm => weighted::SYMSQNORM,
    Elem => vector::ELEM,
    Extract => vector::EXTRACT,
    Concat => vector::CONCAT,
    ElemT => vector::ELEMT,
    ExtractT => vector::EXTRACTT,
    OneHot => extrema::ONEHOT,
    MatVecMult => tensor::MATVECMULT,
    VecMatMult => tensor::VECMATMULT,
    TensorProd => tensor::TENSORPROD,
    TensorDot => tensor::TENSORDOT,
    Kron => tensor::KRON,
    ComplexReal => complex::COMPLEXREAL,
    ComplexImag => complex::COMPLEXIMAG,
    Real2Complex => complex::REAL2COMPLEX,
    Imag2Complex => complex::IMAG2COMPLEX,
    Conj => complex::CONJ,
    ComplexAdd => complex::COMPLEXADD,
    ComplexSubtract => complex::COMPLEXSUBTRACT,
    ComplexMult => complex::COMPLEXMULT,
    ComplexRealScal => complex::COMPLEXREALSCAL,
    ComplexSquareAbs => complex::COMPLEXSQUAREABS,
    ComplexAbs => complex::COMPLEXABS,
    ComplexAngle => complex::COMPLEXANGLE,
    ComplexDivide => complex::COMPLEXDIVIDE,
    ComplexExp => complex::COMPLEXEXP,
    ComplexExp1j => complex::COMPLEXEXP1J,
    ComplexSum => complex::COMPLEXSUM,
    ComplexSumT => complex::COMPLEXSUMT,
    BSpline => spline::BSPLINE,
    SoftDtwSqDist => spline::SOFTDTW_SQDIST,
    GradSoftDtwSqDist => spline::GRADSOFTDTW_SQDIST,
}

impl Op {
    /// Looks an operation up by its math-syntax name.
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.iter().copied().find(|op| op.spec().name == name)
    }

    /// Looks an operation up by its KeOps name.
    pub fn from_keops_name(name: &str) -> Option<Op> {
        Op::ALL.iter().copied().find(|op| op.spec().keops == name)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ir::{DType, Role, Var};
    use crate::lower::{Inst, lower};

    /// Evaluates a scalar program in f64 with the primitives' reference semantics; `load(var,
    /// comp)` gives the inputs.
    pub(crate) fn run_program(p: &Program, load: impl Fn(usize, usize) -> f64) -> Vec<f64> {
        let mut vals = Vec::with_capacity(p.insts().len());
        for inst in p.insts() {
            let v = match *inst {
                Inst::Load { var, comp } => load(var, comp),
                Inst::Const(bits) => f64::from_bits(bits),
                Inst::Prim(prim, _) => {
                    let args: Vec<f64> = inst.operands().iter().map(|a| vals[a.index()]).collect();
                    prim.eval(&args)
                }
            };
            vals.push(v);
        }
        vals
    }

    #[test]
    fn names_are_unique() {
        for (k, a) in Op::ALL.iter().enumerate() {
            for b in &Op::ALL[k + 1..] {
                assert_ne!(a.spec().name, b.spec().name);
                assert_ne!(a.spec().keops, b.spec().keops);
            }
            assert_eq!(Op::from_name(a.spec().name), Some(*a));
            assert_eq!(Op::from_keops_name(a.spec().keops), Some(*a));
            assert!(!a.spec().doc.is_empty(), "{a:?} has no documentation line");
        }
    }

    /// Math-syntax names are the lower-case KeOps names, but for the arithmetic operators whose
    /// names predate this rule.
    #[test]
    fn math_names_are_lower_case_keops_names() {
        let legacy =
            [("sub", "Subtract"), ("mul", "Mult"), ("div", "Divide"), ("neg", "Minus"), ("dot", "Scalprod")];
        for &op in Op::ALL {
            let spec = op.spec();
            if !legacy.contains(&(spec.name, spec.keops)) {
                assert_eq!(spec.name, spec.keops.to_lowercase(), "{op:?}");
            }
        }
    }

    /// Every test case fits its op: operand count, attribute encoding, dimension rule.
    #[test]
    fn test_cases_are_valid() {
        for &op in Op::ALL {
            let spec = op.spec();
            assert!(!spec.tests.is_empty(), "`{}` has no test case", spec.name);
            for case in spec.tests {
                assert_eq!(case.operands.len(), spec.arity(), "`{}` {case:?}", spec.name);
                spec.check_attrs(case.attrs).unwrap();
                let dims: Vec<usize> = case.operands.iter().map(|o| o.0).collect();
                spec.output_dim(&dims, case.attrs)
                    .unwrap_or_else(|e| panic!("`{}` {case:?}: {e}", spec.name));
                assert!(case.operands.iter().all(|&(_, lo, hi)| lo <= hi), "`{}` {case:?}", spec.name);
            }
        }
    }

    /// Each op's lowering, run in f64 with the primitives' reference semantics, agrees with its
    /// reference evaluation on its test cases. (The generated code is checked against the same
    /// reference by the `keops` crate's op-table test, in f32 and f64.)
    #[test]
    fn lowering_matches_reference() {
        let mut rng = keops_testkit::Rng::new(7);
        for &op in Op::ALL {
            let spec = op.spec();
            for case in spec.tests {
                for _ in 0..5 {
                    let inputs: Vec<Vec<f64>> =
                        case.operands.iter().map(|&(d, lo, hi)| rng.vec(d, lo, hi)).collect();
                    let args: Vec<&[f64]> = inputs.iter().map(Vec::as_slice).collect();
                    let dims: Vec<usize> = case.operands.iter().map(|o| o.0).collect();
                    let mut want = vec![0.0; spec.output_dim(&dims, case.attrs).unwrap()];
                    spec.evaluate(&args, case.attrs, &mut want);
                    // Through the graph, so that simplifications are exercised too.
                    let mut g = Graph::new();
                    let vars: Vec<NodeId> = dims
                        .iter()
                        .enumerate()
                        .map(|(pos, &dim)| g.var(Var { pos, dim, role: Role::I }))
                        .collect();
                    let out = g.op(op, &vars, case.attrs).unwrap();
                    let mut p = Program::new(DType::F64);
                    let got = lower(&g, &[out], &mut p).remove(0);
                    let vals = run_program(&p, |var, comp| inputs[var][comp]);
                    for (k, (&v, &w)) in got.iter().zip(&want).enumerate() {
                        let v = vals[v.index()];
                        assert!(
                            v == w || (v - w).abs() <= 1e-12 * (1.0 + w.abs()) || v.is_nan() && w.is_nan(),
                            "`{}` {case:?} on {inputs:?}: component {k}: lowered {v}, reference {w}",
                            spec.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn broadcast_rule() {
        assert_eq!(broadcast_dim("+", &[3, 3]), Ok(3));
        assert_eq!(broadcast_dim("+", &[1, 3]), Ok(3));
        assert_eq!(broadcast_dim("+", &[1, 1]), Ok(1));
        let err = broadcast_dim("+", &[2, 3]).unwrap_err();
        assert!(err.contains("dimensions 2 and 3"), "{err}");
    }
}
