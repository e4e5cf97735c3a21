//! A kernel's formula as data: what `keops!` emits for the interpreter, next to the compiled
//! kernel. Building it costs the user's crate a static table, not code to optimise.

use crate::info::{Index, KernelInfo};

/// A kernel's three stages and its reduction, as the code generator lowered them for the
/// compiled kernel: the interpreter runs the same instructions, so it computes the same values.
#[derive(Clone, Copy, Debug)]
pub struct Program<T: 'static> {
    /// The features of an output row, from its variables and the parameters.
    pub outer: Prepass<T>,
    /// The features of a reduced row.
    pub inner: Prepass<T>,
    /// The formula's components from one output row's features and one reduced row's.
    pub pair: PairStage<T>,
    pub reduction: Reduction,
}

/// Scalar code computing one row's features.
#[derive(Clone, Copy, Debug)]
pub struct Prepass<T: 'static> {
    pub code: &'static [Inst<T>],
    pub registers: u32,
    /// The registers holding the features at the end, in order.
    pub features: &'static [u32],
}

/// The pair stage. Its registers start with the output row's features, then the reduced
/// row's, then the constants; the code writes the rest.
#[derive(Clone, Copy, Debug)]
pub struct PairStage<T: 'static> {
    /// Constants, as `(register, value)`.
    pub consts: &'static [(u32, T)],
    /// Only [`Inst::Op`]s and [`Inst::Chain`]s.
    pub code: &'static [Inst<T>],
    pub registers: u32,
    /// The registers of the formula's components.
    pub f: &'static [u32],
    /// The registers of the second formula's components (the weights of a log-sum-exp or a
    /// soft-max, or each component's second factor for [`Reduction::SumOfProducts`]).
    pub g: &'static [u32],
    /// `f`'s components as differences of features, when a sum of products' are (see
    /// [`Differences`]).
    pub differences: Option<Differences>,
}

/// The components of a sum of products, when each is the difference of an output row's
/// feature and a reduced row's (a gradient's `x_i - y_j`). The code does not compute them:
/// the reduction does, where it reads them, rather than the pair stage storing a batch of each
/// for it to read back (a D = 64 gradient's 64 batches, beside the reduced rows' 64, outgrew
/// the L1 cache). Where the reduction reads registers instead (a partial batch, or one after an
/// `exp` beyond its normal range), the interpreter computes them into `f`'s registers first.
#[derive(Clone, Copy, Debug)]
pub struct Differences {
    /// The registers of the output row's feature and of the reduced row's, per component.
    pub features: &'static [[u32; 2]],
    /// Whether each component is `inner - outer`, rather than `outer - inner`.
    pub inner_first: bool,
}

/// One instruction: its result goes to register `dst`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Inst<T> {
    /// Component `comp` of the variable at position `var` (of this row, or a parameter's).
    Load {
        dst: u32,
        var: u32,
        comp: u32,
    },
    Const {
        dst: u32,
        value: T,
    },
    /// `op` of the first `op.arity()` registers of `args`.
    Op {
        op: Op,
        dst: u32,
        args: [u32; 3],
    },
    /// `sum_k term(a_k, b_k)` over the register pairs `(a_k, b_k)`, `(a - b)^2` or `a * b`,
    /// each added by a fused multiply-add in order, onto `init` or, without one, onto the
    /// first term (a chain of [`Op::SqSubAdd`]s or [`Op::MulAdd`]s, its partial sums kept out
    /// of the register file).
    Chain {
        term: Term,
        dst: u32,
        init: Option<u32>,
        pairs: &'static [[u32; 2]],
    },
}

/// Declares [`Op`] and the list of its variants, from one list.
macro_rules! ops {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// The basic primitives, one per [`Math`](crate::cpu::math::Math) method; named as
        /// keops-core's `Prim`, whose expanded primitives (`exp`, `sin`, ...) never reach
        /// generated code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Op {
            $($(#[$doc])* $name,)*
        }

        impl Op {
            /// Every op, with its name as generated code spells it.
            #[cfg_attr(not(feature = "dynamic"), allow(dead_code))]
            pub(crate) const NAMED: &[(&str, Op)] = &[$((stringify!($name), Op::$name),)*];
        }
    };
}

ops! {
    Add,
    Sub,
    Mul,
    Div,
    MulAdd,
    Neg,
    Abs,
    Min,
    Max,
    Sqrt,
    Floor,
    RoundEven,
    Sign,
    Step,
    Select,
    Lt,
    Le,
    Eq,
    Ne,
    Ldexp,
    LdexpInt,
    GetExp,
    GetMant,
    /// The whole `exp` expansion, as `Real::exp` computes it (the same instructions).
    Exp,
    /// The whole `rsqrt` expansion, as `Real::rsqrt` computes it.
    Rsqrt,
    /// The whole `sin` expansion, as `Real::sin` computes it.
    Sin,
    /// `(a - b) * (a - b)`, the difference rounded first.
    SqSub,
    /// `(a - b) * (a - b) + c`, the difference rounded, then one fused multiply-add.
    SqSubAdd,
}

impl Op {
    pub const fn arity(self) -> usize {
        match self {
            Op::Neg
            | Op::Abs
            | Op::Sqrt
            | Op::Floor
            | Op::RoundEven
            | Op::Sign
            | Op::Step
            | Op::GetExp
            | Op::GetMant
            | Op::Exp
            | Op::Rsqrt
            | Op::Sin => 1,
            Op::MulAdd | Op::Select | Op::SqSubAdd => 3,
            _ => 2,
        }
    }
}

pub use keops_abi::interp::{Reduction, Term};

impl<T: 'static> Program<T> {
    /// Whether the program can run the kernel `info` describes: every register and variable it
    /// names exists. The interpreter checks it once per call, then indexes freely.
    pub(crate) fn fits(&self, info: &KernelInfo) -> bool {
        let vars = info.vars.len() as u32;
        let prepass = |p: &Prepass<T>| {
            let code = p.code.iter().all(|inst| match *inst {
                Inst::Load { dst, var, comp } => {
                    dst < p.registers && var < vars && (comp as usize) < info.vars[var as usize].dim
                }
                Inst::Const { dst, .. } => dst < p.registers,
                Inst::Op { op, dst, args } => {
                    dst < p.registers && args[..op.arity()].iter().all(|&a| a < p.registers)
                }
                Inst::Chain { dst, init, pairs, .. } => {
                    let regs = init.iter().chain(pairs.iter().flatten()).all(|&r| r < p.registers);
                    dst < p.registers && !pairs.is_empty() && regs
                }
            });
            code && p.features.iter().all(|&f| f < p.registers)
        };
        let pair = &self.pair;
        let features = (self.outer.features.len() + self.inner.features.len()) as u32;
        let regs = |rs: &[u32]| rs.iter().all(|&r| r < pair.registers);
        let code = pair.code.iter().all(|inst| match *inst {
            Inst::Op { op, dst, args } => {
                dst >= features && dst < pair.registers && regs(&args[..op.arity()])
            }
            Inst::Chain { dst, init, pairs, .. } => {
                let operands: Vec<u32> = init.iter().chain(pairs.iter().flatten()).copied().collect();
                dst >= features && dst < pair.registers && !pairs.is_empty() && regs(&operands)
            }
            _ => false,
        });
        let widths = match self.reduction {
            Reduction::SumOfProducts => pair.g.len() == pair.f.len(),
            Reduction::LogSumExp | Reduction::MaxSumShiftExp => pair.f.len() == 1,
            Reduction::LogSumExpWeight | Reduction::MaxSumShiftExpWeight | Reduction::SumSoftMaxWeight => {
                pair.f.len() == 1 && !pair.g.is_empty()
            }
            Reduction::KMin(k) => k > 0,
            _ => true,
        };
        prepass(&self.outer)
            && prepass(&self.inner)
            && code
            && widths
            && features <= pair.registers
            && pair.consts.iter().all(|&(r, _)| r >= features && r < pair.registers)
            && regs(pair.f)
            && regs(pair.g)
            && pair.differences.is_none_or(|d| {
                let (no, ni) = (self.outer.features.len() as u32, self.inner.features.len() as u32);
                self.reduction == Reduction::SumOfProducts
                    && d.features.len() == pair.f.len()
                    && d.features.iter().all(|&[o, i]| o < no && (no..no + ni).contains(&i))
            })
    }
}

/// Where a variable's components are in its flat input: at `row * dim` for a row of an i- or
/// j-variable, at 0 for a parameter.
pub(crate) fn row_offset(info: &KernelInfo, var: usize, row: usize) -> usize {
    let v = &info.vars[var];
    if v.index == Index::Param { 0 } else { row * v.dim }
}
