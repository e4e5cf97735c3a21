//! The seam between the GPU plan and a GPU target's text: the few operations the plan's kernel
//! bodies and reduction rules are written in. A target implements [`Emit`] (PTX's is
//! `ptx::writer::Ptx`); the plan never spells an instruction.
//!
//! Operands are strings in the target's own spelling (a register's name, a literal), which the
//! plan passes around without reading. Control flow is structured (conditional blocks and
//! loops with one exit), so that a target without branches can follow it too.

use crate::ir::DType;
use crate::lower::Val;
use crate::prim::Prim;

/// What a value is: a float of the kernel's type, or a `u32` index (of a reduced row).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Float,
    Index,
}

/// Where a load or a store goes: the block's shared memory, global memory, or the kernel's
/// inputs (global memory that no thread writes during the launch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Space {
    Shared,
    Global,
    Input,
}

/// An ordered comparison (false when an operand is NaN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Lt,
    Gt,
    Ge,
    Eq,
}

/// A `u32` operation of the plan's index arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IntOp {
    Add,
    Sub,
    Min,
    /// The low 32 bits of the product.
    Mul,
}

/// A loop's labels, as [`Emit::begin_loop`] gives them.
pub(crate) struct Loop<L> {
    pub(crate) head: L,
    pub(crate) exit: L,
}

/// A GPU target's body writer: fresh registers, the instructions the plan needs, and the
/// lowering of each basic primitive.
pub(crate) trait Emit {
    /// A place in the body that structured control flow jumps to.
    type Label;

    /// The kernel's float type.
    fn dtype(&self) -> DType;

    /// A fresh float register.
    fn float(&mut self) -> String;
    /// A fresh `u32` register.
    fn int(&mut self) -> String;
    /// A fresh predicate.
    fn pred(&mut self) -> String;
    /// The register of a program value (one definition each, shared by every stage).
    fn value(&self, v: Val) -> String;
    /// A constant of the float type, exactly.
    fn literal(&self, c: f64) -> String;

    /// A pointer parameter of the entry point, as an address of global memory.
    fn pointer(&mut self, param: &str) -> String;
    /// A `u32` parameter of the entry point.
    fn count(&mut self, param: &str) -> String;
    /// The thread's index in its block, the block size, and the thread's output row (its index
    /// along the grid's first dimension).
    fn thread_row(&mut self) -> (String, String, String);
    /// The block's index along the grid's second dimension (the 2D scheme's chunk).
    fn chunk_index(&mut self) -> String;
    /// The address of the block's dynamic shared memory.
    fn shared_base(&mut self) -> String;
    /// Waits for every thread of the block, and for their shared-memory writes.
    fn barrier(&mut self);
    /// `base + row * stride`, a global address (`row` a `u32` register).
    fn row_address(&mut self, base: &str, row: &str, stride: usize) -> String;

    /// `d = a op b` in `u32`.
    fn int_op(&mut self, op: IntOp, d: &str, a: &str, b: &str);
    /// `d = a * b + c` in `u32` (the low 32 bits).
    fn mad_int(&mut self, d: &str, a: &str, b: &str, c: &str);
    /// `d = a` in `u32`.
    fn mov_int(&mut self, d: &str, a: &str);
    /// A fresh predicate holding `a cmp b` on `u32`s.
    fn compare_int(&mut self, cmp: Cmp, a: &str, b: &str) -> String;

    /// A fresh predicate holding `a cmp b` on floats.
    fn compare(&mut self, cmp: Cmp, a: &str, b: &str) -> String;
    /// `d = p ? x : y`.
    fn select(&mut self, class: Class, d: &str, x: &str, y: &str, p: &str);
    /// `d = a`.
    fn copy(&mut self, class: Class, d: &str, a: &str);
    /// `d = prim(a...)`: the target's one lowering of each basic primitive, and of the
    /// expanded ones it [`lowers`](Emit::lowers).
    fn prim(&mut self, prim: Prim, d: &str, a: &[String]);
    /// Whether the target lowers the expanded primitive `prim` itself (the plan's programs then
    /// keep it as an instruction; see `Program::with_native`).
    fn lowers(&self, _prim: Prim) -> bool {
        false
    }

    /// `d = [base + offset]` (`offset` in bytes).
    fn load(&mut self, space: Space, class: Class, d: &str, base: &str, offset: usize);
    /// `[base + offset] = r`.
    fn store(&mut self, space: Space, class: Class, base: &str, offset: usize, r: &str);

    /// A fresh f64 register holding the f32 `x` (an f32 kernel's f64 sums).
    fn widen(&mut self, x: &str) -> String;
    /// A fresh f64 register whose low and high halves are the f32 registers `lo` and `hi`.
    fn join_double(&mut self, lo: &str, hi: &str) -> String;
    /// Splits the f64 register `d` into the f32 registers `lo` and `hi`.
    fn split_double(&mut self, d: &str, lo: &str, hi: &str);
    /// `d = a + b` in f64.
    fn add_double(&mut self, d: &str, a: &str, b: &str);
    /// `d = x`, the f64 `x` rounded to f32.
    fn narrow(&mut self, d: &str, x: &str);

    /// Starts code that runs only where `cond` is `holds`; [`Emit::end_if`] closes it. `name`
    /// says what the end is, for the reader of the text.
    fn begin_if(&mut self, cond: &str, holds: bool, name: &str) -> Self::Label;
    fn end_if(&mut self, end: Self::Label);
    /// Starts a loop that exits at its [`Emit::break_if`]s; [`Emit::end_loop`] closes it.
    fn begin_loop(&mut self, head: &str, exit: &str) -> Loop<Self::Label>;
    fn break_if(&mut self, l: &Loop<Self::Label>, cond: &str);
    fn end_loop(&mut self, l: Loop<Self::Label>);
    /// Starts a loop whose body runs at least once, again while the `cond` of
    /// [`Emit::repeat_while`] holds.
    fn begin_repeat(&mut self, name: &str) -> Self::Label;
    fn repeat_while(&mut self, head: Self::Label, cond: &str);

    /// [`Emit::prim`] of operands in any form.
    fn apply(&mut self, prim: Prim, d: &str, a: &[&str]) {
        let a: Vec<String> = a.iter().map(|a| a.to_string()).collect();
        self.prim(prim, d, &a);
    }

    /// `d = (a cmp b) ? x : y`, on floats.
    fn choose(&mut self, d: &str, cmp: Cmp, a: &str, b: &str, [x, y]: [&str; 2]) {
        let p = self.compare(cmp, a, b);
        self.select(Class::Float, d, x, y, &p);
    }

    /// An expanded function (`exp`, `log`) of `x`, as formulas compute it: its basic
    /// primitives, inline. Returns the operand holding the result.
    fn function(&mut self, prim: Prim, x: &str) -> String {
        if self.lowers(prim) {
            let d = self.float();
            self.apply(prim, &d, &[x]);
            return d;
        }
        let mut p = crate::lower::Program::new(self.dtype());
        let input = p.load(0, 0);
        let out = p.prim(prim, &[input]);
        let mut regs: Vec<String> = Vec::with_capacity(p.insts().len());
        for inst in p.insts() {
            let r = match *inst {
                crate::lower::Inst::Load { .. } => x.to_string(),
                crate::lower::Inst::Const(bits) => self.literal(f64::from_bits(bits)),
                crate::lower::Inst::Prim(prim, _) => {
                    let d = self.float();
                    let args: Vec<String> = inst.operands().iter().map(|a| regs[a.index()].clone()).collect();
                    self.prim(prim, &d, &args);
                    d
                }
            };
            regs.push(r);
        }
        regs.swap_remove(out.index())
    }
}

/// Bytes of a float of `dtype`.
pub(crate) fn size(dtype: DType) -> usize {
    match dtype {
        DType::F32 => 4,
        DType::F64 => 8,
    }
}
