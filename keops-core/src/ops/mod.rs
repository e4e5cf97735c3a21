//! The op table: every formula operation, defined once.
//!
//! A row ([`OpSpec`]) gives an operation's names (math syntax and KeOps), its operands and integer
//! attributes, its dimension rule, its reference evaluation in f64, its lowering to scalar
//! primitives, its derivative, its algebraic simplifications and the inputs tests exercise it
//! on. The parsers, the checker, the reference evaluator, autodiff and every code generator read
//! this table and nothing else, so adding an operation is adding a row.

mod arith;
mod math;
mod vector;

use crate::ir::{DimError, Graph, NodeId};
use crate::lower::{Program, Val};

/// Reference evaluation of a whole operation: operands, attributes, output.
pub type VectorEval = fn(&[&[f64]], &[i64], &mut [f64]);
/// Lowering of a whole operation: operand components, attributes; returns output components.
pub type VectorLower = fn(&mut Program, &[&[Val]], &[i64]) -> Vec<Val>;
/// Output dimension from operand dimensions and attributes.
pub type DimRule = fn(&[usize], &[i64]) -> Result<usize, DimError>;

/// How an operation acts on its operands.
#[derive(Clone, Copy)]
pub enum Kind {
    /// Component-wise: operands have equal dimensions, or dimension 1 (broadcast, as in
    /// KeOps). `eval` and `lower` handle one component.
    Elementwise { eval: fn(&[f64], &[i64]) -> f64, lower: fn(&mut Program, &[Val], &[i64]) -> Val },
    /// Anything else: the rules see whole vectors.
    Vector { dim: DimRule, eval: VectorEval, lower: VectorLower },
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
}

/// Inputs on which the op-table tests exercise an operation.
#[derive(Clone, Copy, Debug)]
pub struct TestCase {
    /// Each operand's dimension and value range `[lo, hi)`.
    pub operands: &'static [(usize, f64, f64)],
    /// The integer attributes.
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
    /// Number of formula operands.
    pub arity: usize,
    /// Names of the integer attributes, written after the operands (`pow(x, n)`).
    pub attrs: &'static [&'static str],
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

    pub fn output_dim(&self, dims: &[usize], attrs: &[i64]) -> Result<usize, DimError> {
        match self.kind {
            Kind::Elementwise { .. } => broadcast_dim(self.display(), dims),
            Kind::Vector { dim, .. } => dim(dims, attrs),
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
            Kind::Vector { eval, .. } => eval(args, attrs, out),
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
    Sqrt => math::SQRT,
    Rsqrt => math::RSQRT,
    Powf => math::POWF,
    Sin => math::SIN,
    Cos => math::COS,
    Abs => math::ABS,
    Sign => math::SIGN,
    Step => math::STEP,
    Relu => math::RELU,
    Atan2 => math::ATAN2,
    IfElse => math::IFELSE,
    Sum => vector::SUM,
    SqNorm2 => vector::SQNORM2,
    Norm2 => vector::NORM2,
    Normalize => vector::NORMALIZE,
    Dot => vector::DOT,
    SqDist => vector::SQDIST,
    Elem => vector::ELEM,
    Extract => vector::EXTRACT,
    Concat => vector::CONCAT,
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
mod tests {
    use super::*;

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

    #[test]
    fn broadcast_rule() {
        assert_eq!(broadcast_dim("+", &[3, 3]), Ok(3));
        assert_eq!(broadcast_dim("+", &[1, 3]), Ok(3));
        assert_eq!(broadcast_dim("+", &[1, 1]), Ok(1));
        let err = broadcast_dim("+", &[2, 3]).unwrap_err();
        assert!(err.contains("dimensions 2 and 3"), "{err}");
    }
}
