//! The interpreter's program: a kernel's staged scalar program as data (the runtime's
//! `interp::Program`), which the `keops` crate runs with code it compiles once. Debug builds
//! interpret their kernels, so the table is all that a kernel costs them.
//!
//! Values get registers by a linear scan over each stage's schedule, a register being reused
//! once the last reader of its value has run, so that the interpreter's register file stays
//! about as small as the compiled kernel's set of live values.

use std::collections::{HashMap, HashSet};

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::check::Kernel;
use crate::codegen::Lowered;
use crate::codegen::rust::{constant, exp_regions, private, readers};
use crate::ir::DType;
use crate::lower::{Inst, Operand, Staged, Val};
use crate::math::is_expansion_of;
use crate::prim::Prim;
use crate::reduction::Accumulator;

/// A kernel's program as the interpreter runs it; the runtime's `interp::Program` has the same
/// shape. Generated code embeds it as a constant ([`Program::tokens`]); kernels whose dimensions
/// are given at run time build it when they are called.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub dtype: DType,
    pub outer: Prepass,
    pub inner: Prepass,
    pub pair: PairStage,
    pub reduction: Reduction,
}

/// The code computing one row's features.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepass {
    pub code: Vec<Step>,
    pub registers: u32,
    pub features: Vec<u32>,
}

/// The pair stage: registers start with the output row's features, the reduced row's, then
/// the constants.
#[derive(Clone, Debug, PartialEq)]
pub struct PairStage {
    pub consts: Vec<(u32, f64)>,
    pub code: Vec<Step>,
    pub registers: u32,
    pub f: Vec<u32>,
    pub g: Vec<u32>,
    /// Each of `f`'s components as the difference of an output row's feature and a reduced
    /// row's, when every component of a sum of products is one (a gradient's `x_i - y_j`):
    /// the code leaves them out, and the interpreter computes them where the reduction reads
    /// them (see the runtime's `interp::Differences`).
    pub differences: Option<Differences>,
}

/// The runtime's `interp::Differences`: `f`'s components, each `outer - inner` (or
/// `inner - outer`) of two feature registers.
#[derive(Clone, Debug, PartialEq)]
pub struct Differences {
    /// The registers of the output row's feature and the reduced row's, per component.
    pub features: Vec<[u32; 2]>,
    pub inner_first: bool,
}

/// One instruction, writing register `dst`.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Load {
        dst: u32,
        var: u32,
        comp: u32,
    },
    Const {
        dst: u32,
        value: f64,
    },
    Op {
        op: OpCode,
        dst: u32,
        args: [u32; 3],
    },
    /// A squared distance or a dot product: `term` of each pair of registers, summed in order
    /// by fused multiply-adds onto `init` (or onto the first term, rounded, without one): a
    /// chain of [`OpCode::SqSubAdd`]s or `MulAdd`s whose partial sums nothing else reads,
    /// which the interpreter then keeps in registers.
    Chain {
        term: Term,
        dst: u32,
        init: Option<u32>,
        pairs: Vec<[u32; 2]>,
    },
}

/// What an [`Step::Op`] computes: a basic primitive, or one of the interpreter's compound
/// instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    Prim(Prim),
    /// A whole `exp` expansion.
    Exp,
    /// A whole `rsqrt` expansion.
    Rsqrt,
    /// A whole `sin` expansion.
    Sin,
    /// `(a - b) * (a - b)`.
    SqSub,
    /// `(a - b) * (a - b) + c`.
    SqSubAdd,
}

impl OpCode {
    /// The name of the runtime's `interp::Op` variant.
    pub fn name(self) -> String {
        match self {
            OpCode::Prim(prim) => format!("{prim:?}"),
            other => format!("{other:?}"),
        }
    }
}

pub use keops_abi::interp::{Reduction, Term};

/// The program of the kernel whose lowered program is `lowered`; `products` says whether the
/// compiled kernel sums its components as products (`SumOfProducts`).
pub fn program(kernel: &Kernel, lowered: &Lowered, products: bool) -> Program {
    let staged = &lowered.staged;
    Program {
        dtype: kernel.dtype,
        outer: prepass(staged, &staged.outer_features),
        inner: prepass(staged, &staged.inner_features),
        pair: pair(staged, lowered.nf, products),
        reduction: reduction(kernel, products),
    }
}

/// The reduction, as the interpreter names it.
fn reduction(kernel: &Kernel, products: bool) -> Reduction {
    match kernel.reduction.kind.spec().accumulator {
        Accumulator::Sum if kernel.reduction.compensated() => Reduction::KahanSum,
        Accumulator::Sum if kernel.reduction.widened() => Reduction::DoubleSum,
        Accumulator::Sum if products => Reduction::SumOfProducts,
        Accumulator::Sum => Reduction::Sum,
        Accumulator::Extremum { max: false } => Reduction::Min,
        Accumulator::Extremum { max: true } => Reduction::Max,
        Accumulator::KMin => Reduction::KMin(kernel.reduction.k),
        Accumulator::LogSumExp { raw: false } if kernel.formula2.is_some() => Reduction::LogSumExpWeight,
        Accumulator::LogSumExp { raw: false } => Reduction::LogSumExp,
        Accumulator::LogSumExp { raw: true } if kernel.formula2.is_some() => Reduction::MaxSumShiftExpWeight,
        Accumulator::LogSumExp { raw: true } => Reduction::MaxSumShiftExp,
        Accumulator::SoftMax => Reduction::SumSoftMaxWeight,
    }
}

impl Program {
    /// `interp::Program { .. }`, as generated code declares it.
    pub fn tokens(&self) -> TokenStream {
        let dtype = self.dtype;
        let step = |s: &Step| match s {
            Step::Load { dst, var, comp } => quote!(I::Load { dst: #dst, var: #var, comp: #comp }),
            Step::Const { dst, value } => {
                let value = constant(dtype, *value);
                quote!(I::Const { dst: #dst, value: #value })
            }
            Step::Op { op, dst, args } => {
                let op = format_ident!("{}", op.name());
                quote!(I::Op { op: #op, dst: #dst, args: [#(#args),*] })
            }
            Step::Chain { term, dst, init, pairs } => {
                let term = format_ident!("{term:?}");
                let init = match init {
                    Some(c) => quote!(::core::option::Option::Some(#c)),
                    None => quote!(::core::option::Option::None),
                };
                let pairs = pairs.iter().map(|[a, b]| quote!([#a, #b]));
                quote!(I::Chain { term: Term::#term, dst: #dst, init: #init, pairs: &[#(#pairs),*] })
            }
        };
        let prepass = |p: &Prepass| {
            let (code, registers, features) = (p.code.iter().map(step), p.registers, &p.features);
            quote!(Prepass { code: &[#(#code),*], registers: #registers, features: &[#(#features),*] })
        };
        let (outer, inner) = (prepass(&self.outer), prepass(&self.inner));
        let PairStage { consts, code, registers, f, g, differences } = &self.pair;
        let consts = consts.iter().map(|&(r, value)| {
            let value = constant(dtype, value);
            quote!((#r, #value))
        });
        let code = code.iter().map(step);
        let differences = match differences {
            Some(Differences { features, inner_first }) => {
                let features = features.iter().map(|[a, b]| quote!([#a, #b]));
                quote!(::core::option::Option::Some(Differences { features: &[#(#features),*], inner_first: #inner_first }))
            }
            None => quote!(::core::option::Option::None),
        };
        let reduction = match self.reduction {
            Reduction::KMin(k) => quote!(KMin(#k)),
            other => {
                let name = format_ident!("{other:?}");
                quote!(#name)
            }
        };
        quote! {{
            use ::keops::__private::interp::{Differences, Inst as I, Op::*, PairStage, Prepass, Program, Reduction, Term};
            Program {
                outer: #outer,
                inner: #inner,
                pair: PairStage {
                    consts: &[#(#consts),*],
                    code: &[#(#code),*],
                    registers: #registers,
                    f: &[#(#f),*],
                    g: &[#(#g),*],
                    differences: #differences,
                },
                reduction: Reduction::#reduction,
            }
        }}
    }
}

/// Registers for the values of `order` (each defined by its instruction, whose operands
/// `reads` gives), from `first` on: a value's register is free again after its last reader,
/// unless it is one of `kept`, the stage's results. Returns the registers and their count.
fn allocate(
    order: &[Val],
    reads: impl Fn(Val) -> Vec<Val>,
    kept: &[Val],
    first: u32,
) -> (HashMap<Val, u32>, u32) {
    let mut last = HashMap::new();
    for (t, &v) in order.iter().enumerate() {
        for a in reads(v) {
            last.insert(a, t);
        }
    }
    let (mut regs, mut free, mut next) = (HashMap::new(), Vec::new(), first);
    for (t, &v) in order.iter().enumerate() {
        let mut operands = reads(v);
        operands.sort();
        operands.dedup();
        for a in operands {
            if let Some(&r) = regs.get(&a).filter(|_| last[&a] == t && !kept.contains(&a)) {
                free.push(r);
            }
        }
        let r = free.pop().unwrap_or_else(|| {
            next += 1;
            next - 1
        });
        regs.insert(v, r);
    }
    (regs, next)
}

/// One instruction.
fn inst(staged: &Staged, v: Val, dst: u32, reg: &dyn Fn(Val) -> u32) -> Step {
    match staged.program.inst(v) {
        Inst::Load { var, comp } => Step::Load { dst, var: var as u32, comp: comp as u32 },
        Inst::Const(bits) => Step::Const { dst, value: f64::from_bits(bits) },
        Inst::Prim(prim, _) => {
            let mut args = [0u32; 3];
            for (a, &x) in args.iter_mut().zip(staged.program.inst(v).operands()) {
                *a = reg(x);
            }
            Step::Op { op: OpCode::Prim(prim), dst, args }
        }
    }
}

/// The prepass computing `features` for one row.
fn prepass(staged: &Staged, features: &[Val]) -> Prepass {
    let program = &staged.program;
    let order = staged.schedule(features, |_| true);
    let (regs, registers) = allocate(&order, |v| program.inst(v).operands().to_vec(), features, 0);
    let code = order.iter().map(|&v| inst(staged, v, regs[&v], &|a| regs[&a])).collect();
    Prepass { code, registers, features: features.iter().map(|f| regs[f]).collect() }
}

/// The pair stage: registers for the output row's features, the reduced row's, the
/// constants, then the per-pair values.
///
/// Each `exp`, `rsqrt` and `sin` expansion whose intermediate values nothing else reads becomes
/// one `Exp`, `Rsqrt` or `Sin` instruction, which the interpreter computes with the runtime's copy: the
/// same instructions, compiled, so the same values, without a dozen instructions to decode.
///
/// The components of a sum of products that are differences of features (see
/// [`lazy_differences`]) get registers after the code's, which the code does not write.
fn pair(staged: &Staged, nf: usize, products: bool) -> PairStage {
    let program = &staged.program;
    let order = staged.pair_schedule();
    let (mut calls, mut folded) = (HashMap::new(), HashSet::new());
    for region in exp_regions(staged, &order) {
        calls.insert(region.result, (OpCode::Exp, region.exp.arg));
        folded.extend(region.members);
    }
    for (result, op, arg, members) in function_regions(staged, &order) {
        calls.insert(result, (op, arg));
        folded.extend(members);
    }
    let order: Vec<Val> =
        order.into_iter().filter(|v| calls.contains_key(v) || !folded.contains(v)).collect();
    // What each call reads: its argument.
    let call_args: HashMap<Val, Val> = calls.iter().map(|(&v, &(_, arg))| (v, arg)).collect();
    let lazy = if products { lazy_differences(staged, &order, &call_args, nf) } else { None };
    let lazy_values: &[Val] = lazy.as_ref().map_or(&[], |(values, _)| values);
    let (squares, differences) = squared_differences(staged, &order, &call_args, lazy_values);
    let order: Vec<Val> =
        order.into_iter().filter(|v| !differences.contains(v) && !lazy_values.contains(v)).collect();
    let operands = |v: Val| -> Vec<Val> {
        match (call_args.get(&v), squares.get(&v)) {
            (Some(&arg), _) => vec![arg],
            (_, Some(square)) => square.operands().to_vec(),
            _ => program.inst(v).operands().to_vec(),
        }
    };
    let (no, ni) = (staged.outer_features.len() as u32, staged.inner_features.len() as u32);
    let mut consts: Vec<u64> = Vec::new();
    let mut note_const = |v: Val| {
        if let Operand::Const(c) = staged.operand(v)
            && !consts.contains(&c.to_bits())
        {
            consts.push(c.to_bits());
        }
    };
    for &v in &order {
        operands(v).into_iter().for_each(&mut note_const);
    }
    staged.outputs.iter().for_each(|&v| note_const(v));
    let first = no + ni + consts.len() as u32;
    let computed = |v: Val| -> Vec<Val> {
        operands(v).into_iter().filter(|&a| matches!(staged.operand(a), Operand::Pair(_))).collect()
    };
    let (mut regs, mut registers) = allocate(&order, computed, &staged.outputs, first);
    for &v in lazy_values {
        regs.insert(v, registers);
        registers += 1;
    }
    let reg = |v: Val| -> u32 {
        match staged.operand(v) {
            Operand::Pair(v) => regs[&v],
            Operand::Outer(k) => k as u32,
            Operand::Inner(k) => no + k as u32,
            Operand::Const(c) => {
                no + ni + consts.iter().position(|&x| x == c.to_bits()).expect("a noted constant") as u32
            }
        }
    };
    let code = order
        .iter()
        .map(|&v| match (calls.get(&v), squares.get(&v)) {
            (Some(&(op, arg)), _) => Step::Op { op, dst: regs[&v], args: [reg(arg), 0, 0] },
            (_, Some(square)) => {
                let mut args = [0u32; 3];
                for (r, &a) in args.iter_mut().zip(square.operands()) {
                    *r = reg(a);
                }
                Step::Op { op: square.op(), dst: regs[&v], args }
            }
            _ => inst(staged, v, regs[&v], &reg),
        })
        .collect();
    let consts =
        consts.iter().enumerate().map(|(k, &bits)| (no + ni + k as u32, f64::from_bits(bits))).collect();
    let (f, g) = staged.outputs.split_at(nf);
    let outputs: Vec<u32> = staged.outputs.iter().map(|&v| reg(v)).collect();
    let differences = lazy.map(|(_, inner_first)| Differences {
        features: f
            .iter()
            .map(|&v| {
                let [a, b] = [0, 1].map(|k| reg(program.inst(v).operands()[k]));
                if inner_first { [b, a] } else { [a, b] }
            })
            .collect(),
        inner_first,
    });
    PairStage {
        consts,
        code: chains(code, &outputs),
        registers,
        f: f.iter().map(|&v| reg(v)).collect(),
        g: g.iter().map(|&v| reg(v)).collect(),
        differences,
    }
}

/// The components of a sum of products, when each is a difference of an output row's feature
/// and a reduced row's (all in the same order: whether the reduced row's comes first is
/// returned) and nothing but squares of it, `d * d` or `d * d + c`, reads it in the pair stage:
/// a gradient's `x_i - y_j`. Without them the interpreter would store a batch of each
/// difference, and read it back for the reduction: a D = 64 gradient's 64 batches.
fn lazy_differences(
    staged: &Staged,
    order: &[Val],
    call_args: &HashMap<Val, Val>,
    nf: usize,
) -> Option<(Vec<Val>, bool)> {
    let program = &staged.program;
    let (f, g) = staged.outputs.split_at(nf);
    let mut inner_first = None;
    for &v in f {
        // Computed in the pair stage, from two features.
        let (Operand::Pair(_), Inst::Prim(Prim::Sub, [a, b, _])) = (staged.operand(v), program.inst(v))
        else {
            return None;
        };
        let first = match (staged.operand(a), staged.operand(b)) {
            (Operand::Outer(_), Operand::Inner(_)) => false,
            (Operand::Inner(_), Operand::Outer(_)) => true,
            _ => return None,
        };
        if *inner_first.get_or_insert(first) != first {
            return None;
        }
    }
    let mut values = f.to_vec();
    values.sort();
    values.dedup();
    if g.iter().any(|v| values.contains(v)) {
        return None;
    }
    for &v in order {
        let reads = match (call_args.get(&v), program.inst(v)) {
            (Some(&arg), _) => vec![arg],
            (None, Inst::Prim(Prim::Mul, [x, y, _])) if x == y => vec![],
            (None, Inst::Prim(Prim::MulAdd, [x, y, c])) if x == y => vec![c],
            (None, inst) => inst.operands().to_vec(),
        };
        if reads.iter().any(|a| values.contains(a)) {
            return None;
        }
    }
    Some((values, inner_first?))
}

/// The `rsqrt` and `sin` expansions of the pair stage whose values only the expansion itself
/// reads: each one's result, instruction, argument and members. The interpreter computes each
/// as one instruction, with the runtime's copy of the expansion (a softened N-body force's
/// `rsqrt` was 20 instructions of its 30).
fn function_regions(staged: &Staged, order: &[Val]) -> Vec<(Val, OpCode, Val, HashSet<Val>)> {
    let program = &staged.program;
    let users = readers(program, order);
    let mut regions = Vec::new();
    for &result in order {
        // Both expansions end with `select(-|x|, .., ..)`.
        let Inst::Prim(Prim::Select, [c, ..]) = program.inst(result) else { continue };
        let Inst::Prim(Prim::Neg, [n, ..]) = program.inst(c) else { continue };
        let Inst::Prim(Prim::Abs, [arg, ..]) = program.inst(n) else { continue };
        let functions = [(Prim::Rsqrt, OpCode::Rsqrt), (Prim::Sin, OpCode::Sin)];
        let Some(&(_, op)) = functions.iter().find(|&&(prim, _)| is_expansion_of(program, prim, result, arg))
        else {
            continue;
        };
        let mut members = HashSet::new();
        let mut stack = vec![result];
        while let Some(v) = stack.pop() {
            if v != arg && matches!(staged.operand(v), Operand::Pair(_)) && members.insert(v) {
                stack.extend_from_slice(program.inst(v).operands());
            }
        }
        if private(staged, &members, result, &users) {
            regions.push((result, op, arg, members));
        }
    }
    regions
}

/// The term and whether it adds onto its third operand, of an instruction that can be a link
/// of a [`Step::Chain`].
fn link(op: OpCode) -> Option<(Term, bool)> {
    match op {
        OpCode::SqSub => Some((Term::SquaredDifference, false)),
        OpCode::SqSubAdd => Some((Term::SquaredDifference, true)),
        OpCode::Prim(Prim::Mul) => Some((Term::Product, false)),
        OpCode::Prim(Prim::MulAdd) => Some((Term::Product, true)),
        _ => None,
    }
}

/// `code` with each run of consecutive squares of differences, or products, that sum onto the
/// previous one (`SqSub` or `SqSubAdd`, then `SqSubAdd`s; `Mul` or `MulAdd`, then `MulAdd`s) as
/// one [`Step::Chain`], where no instruction after a link of the run (and none of the
/// `outputs`) reads its partial sum.
fn chains(code: Vec<Step>, outputs: &[u32]) -> Vec<Step> {
    // Whether register `r` is read after `code[at]`, before an instruction writes it.
    let read_after = |code: &[Step], at: usize, r: u32| {
        for step in &code[at + 1..] {
            let (dst, reads): (u32, Vec<u32>) = match step {
                Step::Op { op: OpCode::Prim(p), dst, args } => (*dst, args[..p.arity()].to_vec()),
                Step::Op { op: OpCode::Exp | OpCode::Rsqrt | OpCode::Sin, dst, args } => {
                    (*dst, vec![args[0]])
                }
                Step::Op { op: OpCode::SqSub, dst, args } => (*dst, args[..2].to_vec()),
                Step::Op { op: OpCode::SqSubAdd, dst, args } => (*dst, args.to_vec()),
                Step::Load { dst, .. } | Step::Const { dst, .. } => (*dst, vec![]),
                Step::Chain { dst, init, pairs, .. } => {
                    (*dst, init.iter().copied().chain(pairs.iter().flatten().copied()).collect())
                }
            };
            if reads.contains(&r) {
                return true;
            }
            if dst == r {
                return false;
            }
        }
        outputs.contains(&r)
    };
    let mut out: Vec<Step> = Vec::with_capacity(code.len());
    for (at, step) in code.iter().enumerate() {
        let Step::Op { op, dst, args: [a, b, c] } = *step else {
            out.push(step.clone());
            continue;
        };
        let Some((term, adds)) = link(op) else {
            out.push(step.clone());
            continue;
        };
        if adds {
            let previous = match out.last_mut() {
                Some(Step::Chain { term: t, dst: d, pairs, .. }) if *t == term && *d == c => Some((d, pairs)),
                _ => None,
            };
            let private = a != c && b != c && (dst == c || !read_after(&code, at, c));
            if let Some((d, pairs)) = previous.filter(|_| private) {
                *d = dst;
                pairs.push([a, b]);
                continue;
            }
        }
        out.push(Step::Chain { term, dst, init: adds.then_some(c), pairs: vec![[a, b]] });
    }
    // Single terms stay the instructions they were.
    (out.into_iter())
        .map(|step| match step {
            Step::Chain { term, dst, init, pairs } if pairs.len() == 1 => {
                let [a, b] = pairs[0];
                let op = match (term, init.is_some()) {
                    (Term::SquaredDifference, false) => OpCode::SqSub,
                    (Term::SquaredDifference, true) => OpCode::SqSubAdd,
                    (Term::Product, false) => OpCode::Prim(Prim::Mul),
                    (Term::Product, true) => OpCode::Prim(Prim::MulAdd),
                };
                Step::Op { op, dst, args: [a, b, init.unwrap_or(0)] }
            }
            other => other,
        })
        .collect()
}

/// A square of a difference, `(a - b)^2`, or one added to `c` by a fused multiply-add: the
/// terms of a squared distance, one interpreter instruction each instead of two.
enum Square {
    Sub([Val; 2]),
    SubAdd([Val; 3]),
}

impl Square {
    fn operands(&self) -> &[Val] {
        match self {
            Square::Sub(args) => args,
            Square::SubAdd(args) => args,
        }
    }

    fn op(&self) -> OpCode {
        match self {
            Square::Sub(_) => OpCode::SqSub,
            Square::SubAdd(_) => OpCode::SqSubAdd,
        }
    }
}

/// The squares of differences among `order` (`d * d` or `d * d + c`, where `d = a - b` of the
/// pair stage has no other use, or is one of the `lazy` differences), and the differences they
/// absorb. `call_args` maps the results of the `exp`, `rsqrt` and `sin` instructions to their
/// arguments, which is all they read.
fn squared_differences(
    staged: &Staged,
    order: &[Val],
    call_args: &HashMap<Val, Val>,
    lazy: &[Val],
) -> (HashMap<Val, Square>, Vec<Val>) {
    let program = &staged.program;
    let mut uses: HashMap<Val, usize> = HashMap::new();
    for &v in order {
        let operands = match call_args.get(&v) {
            Some(&arg) => vec![arg],
            None => program.inst(v).operands().to_vec(),
        };
        for a in operands {
            *uses.entry(a).or_default() += 1;
        }
    }
    for &v in &staged.outputs {
        *uses.entry(v).or_default() += 2;
    }
    let in_order: std::collections::HashSet<Val> = order.iter().copied().collect();
    let difference = |d: Val| match program.inst(d) {
        Inst::Prim(Prim::Sub, [a, b, _])
            if in_order.contains(&d) && (uses.get(&d) == Some(&2) || lazy.contains(&d)) =>
        {
            Some([a, b])
        }
        _ => None,
    };
    let (mut squares, mut differences) = (HashMap::new(), Vec::new());
    for &v in order {
        let square = match program.inst(v) {
            Inst::Prim(Prim::Mul, [x, y, _]) if x == y => {
                difference(x).map(|[a, b]| (x, Square::Sub([a, b])))
            }
            Inst::Prim(Prim::MulAdd, [x, y, c]) if x == y => {
                difference(x).map(|[a, b]| (x, Square::SubAdd([a, b, c])))
            }
            _ => None,
        };
        if let Some((d, square)) = square {
            squares.insert(v, square);
            differences.push(d);
        }
    }
    (squares, differences)
}
