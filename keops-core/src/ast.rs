//! The parsed, unchecked form of a kernel, shared by both syntaxes.
//!
//! The math syntax (`keops!`) and KeOps formula strings (`genred!`) both parse to this AST; the
//! checker ([`crate::check`]) then resolves names against the op table of the syntax at hand,
//! checks dimensions and builds the IR.

use crate::diag::Loc;
use crate::ir::Role;
use crate::reduction::{ReductionKind, SumScheme};

pub use crate::ir::DType;

/// Which naming the formula uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Syntax {
    /// Lower-case names and Rust operators (`keops!`).
    Math,
    /// KeOps' names (`genred!`).
    KeOps,
}

/// A declared input variable.
#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    pub loc: Loc,
    pub role: Role,
    pub dim: usize,
    pub dtype: DType,
    /// Declared as a bare `f32` / `f64` rather than an array: passed as `&[T]` (i, j) or `T`
    /// (parameter) in the typed API.
    pub bare: bool,
    /// Declared `[f32; _]`: the dimension is given at run time, and `dim` is a placeholder (1)
    /// until [`KernelSource::with_dims`] sets it.
    pub runtime_dim: bool,
}

/// The reduction applied to the formula.
#[derive(Clone, Debug)]
pub struct ReductionDecl {
    pub kind: ReductionKind,
    pub over: Role,
    pub k: Option<usize>,
    pub scheme: SumScheme,
    pub loc: Loc,
}

/// A kernel as written: signature, reduction and formula(s).
#[derive(Clone, Debug)]
pub struct KernelSource {
    pub syntax: Syntax,
    pub params: Vec<Param>,
    pub reduction: ReductionDecl,
    pub formula: Expr,
    /// The second formula of `sumsoftmaxweight` and weighted `logsumexp`.
    pub formula2: Option<Expr>,
    /// The kernel's text, kept for documentation and debugging output; parsing it again gives
    /// the same kernel (see [`crate::syntax::parse_kernel_text`]).
    pub text: String,
    /// The string literals that locations point into ([`crate::diag::TextRange::source`]):
    /// the formulas and alias strings of `genred!`, none for the math syntax.
    pub sources: Vec<String>,
    /// How the GPU kernels compute `exp` and `rsqrt`.
    pub gpu_math: GpuMath,
}

/// How a kernel's GPU code computes `exp`, the function that dominates Gaussian, log-sum-exp
/// and soft-max kernels, and `rsqrt` (N-body forces). The CPU kernels compute the same values
/// in every mode.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum GpuMath {
    /// The CPU kernels' expansions of `exp` and `rsqrt` (no special-function unit): the GPU
    /// computes every formula value bit for bit as the CPU does.
    Reproducible,
    /// `exp` on the special-function unit (`ex2.approx`), after a reduction of its argument
    /// as CUDA's `expf` makes (results within a few ulp over the whole range, subnormals kept),
    /// and `rsqrt` as `rsqrt.approx` and a Newton step (within an ulp), in `f32` kernels;
    /// `f64` kernels compute as [`GpuMath::Reproducible`].
    #[default]
    Accurate,
    /// `exp(x)` as `ex2.approx.ftz(x * log2(e))`, as pykeops' default `-use_fast_math` does:
    /// the fewest instructions, an error that grows with `|x|` (a relative `(1 + |x|) 2^-23`
    /// with an exact `ex2`, from the rounding of `x log2 e`), and results below the normal
    /// range flushed to zero, in `f32` kernels; their divisions and square roots also as
    /// `-use_fast_math` makes them (`div.full.ftz`, within 2 ulp, `sqrt.approx.ftz`, within 3),
    /// and `rsqrt` as `rsqrt.approx.ftz` (within 2 ulp), 0 at 0 as KeOps' `Rsqrt`.
    Fast,
}

impl GpuMath {
    /// Every mode.
    pub const ALL: [GpuMath; 3] = [GpuMath::Reproducible, GpuMath::Accurate, GpuMath::Fast];

    /// The mode named `name` (see [`GpuMath::name`]).
    pub fn from_name(name: &str) -> Option<GpuMath> {
        GpuMath::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The mode's name in both syntaxes (`#[gpu_math = "fast"]`, `gpu_math = "fast"`).
    pub fn name(self) -> &'static str {
        match self {
            GpuMath::Reproducible => "reproducible",
            GpuMath::Accurate => "accurate",
            GpuMath::Fast => "fast",
        }
    }
}

impl KernelSource {
    /// Whether some variable's dimension is given at run time.
    pub fn has_runtime_dims(&self) -> bool {
        self.params.iter().any(|p| p.runtime_dim)
    }

    /// The kernel with the dimensions given at run time set, in declaration order, one per
    /// variable declared `[f32; _]`. `None` if `dims` has the wrong length or a zero.
    pub fn with_dims(&self, dims: &[usize]) -> Option<KernelSource> {
        let runtime = self.params.iter().filter(|p| p.runtime_dim).count();
        if dims.len() != runtime || dims.contains(&0) {
            return None;
        }
        let mut src = self.clone();
        let mut dims = dims.iter();
        for p in src.params.iter_mut().filter(|p| p.runtime_dim) {
            p.dim = *dims.next()?;
            p.runtime_dim = false;
        }
        Some(src)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    /// KeOps' scalar product `(a | b)`.
    Dot,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Dot => "|",
        }
    }
}

/// A formula expression.
#[derive(Clone, Debug)]
pub enum Expr {
    /// A number; `int` is set when it was written as an integer.
    Num {
        value: f64,
        int: Option<i64>,
        loc: Loc,
    },
    /// A variable.
    Name {
        name: String,
        loc: Loc,
    },
    Neg {
        arg: Box<Expr>,
        loc: Loc,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        loc: Loc,
    },
    /// A call of an operation; integer attributes come as trailing `Num` arguments.
    Call {
        name: String,
        name_loc: Loc,
        args: Vec<Expr>,
        loc: Loc,
    },
    /// `a[k]`.
    Index {
        base: Box<Expr>,
        index: i64,
        loc: Loc,
    },
    /// `a[start..end]`; a missing end means "to the last component".
    Slice {
        base: Box<Expr>,
        start: i64,
        end: Option<i64>,
        loc: Loc,
    },
    /// `[a, b, ...]`.
    Concat {
        items: Vec<Expr>,
        loc: Loc,
    },
    /// `(a, b, ...)`: only meaningful as an integer-tuple attribute (`TensorDot`'s axes).
    Tuple {
        items: Vec<Expr>,
        loc: Loc,
    },
    /// A part that could not be parsed; its error is already reported.
    Error,
}

/// The deepest formula the checker accepts, in levels of operations (a chain `a + b + c`
/// counts one level per operator). Every later stage recurses over the formula, so the limit
/// keeps the compiler's stack bounded whatever the input; real formulas stay far below it.
pub const MAX_DEPTH: usize = 256;

impl Expr {
    /// The operands of this expression.
    pub fn children(&self) -> &[Expr] {
        match self {
            Expr::Neg { arg: e, .. } | Expr::Index { base: e, .. } | Expr::Slice { base: e, .. } => {
                std::slice::from_ref(&**e)
            }
            Expr::Binary { .. } => &[],
            Expr::Call { args: items, .. } | Expr::Concat { items, .. } | Expr::Tuple { items, .. } => items,
            Expr::Num { .. } | Expr::Name { .. } | Expr::Error => &[],
        }
    }

    /// Whether the expression tree is deeper than `limit` levels; if so, the location of the
    /// outermost expression at that depth. Iterative, so that it is safe on any input.
    pub fn deeper_than(&self, limit: usize) -> Option<Option<Loc>> {
        let mut stack = vec![(self, 1usize)];
        while let Some((e, depth)) = stack.pop() {
            if depth > limit {
                return Some(e.loc());
            }
            if let Expr::Binary { lhs, rhs, .. } = e {
                stack.push((lhs, depth + 1));
                stack.push((rhs, depth + 1));
            }
            stack.extend(e.children().iter().map(|c| (c, depth + 1)));
        }
        None
    }

    pub fn loc(&self) -> Option<Loc> {
        match self {
            Expr::Num { loc, .. }
            | Expr::Name { loc, .. }
            | Expr::Neg { loc, .. }
            | Expr::Binary { loc, .. }
            | Expr::Call { loc, .. }
            | Expr::Index { loc, .. }
            | Expr::Slice { loc, .. }
            | Expr::Concat { loc, .. }
            | Expr::Tuple { loc, .. } => Some(*loc),
            Expr::Error => None,
        }
    }

    /// The value of an integer literal, possibly negated.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Expr::Num { int, .. } => *int,
            Expr::Neg { arg, .. } => arg.as_int().and_then(i64::checked_neg),
            _ => None,
        }
    }

    /// The values of an integer tuple: `(2, 3)`, `[2, 3]` (a concatenation in the math syntax),
    /// or a single integer as a one-element tuple.
    pub fn as_int_tuple(&self) -> Option<Vec<i64>> {
        match self {
            Expr::Tuple { items, .. } | Expr::Concat { items, .. } => {
                items.iter().map(Expr::as_int).collect()
            }
            other => other.as_int().map(|v| vec![v]),
        }
    }
}
