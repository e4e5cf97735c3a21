//! The PTX code generator: GPU kernels as PTX text, printed at compile time from the same staged
//! scalar program as the Rust kernels ([`super::lower_kernel`]).
//!
//! Only basic [`Prim`]s reach a backend (the transcendental functions are already expanded into
//! them), and each has exactly one lowering here ([`Ptx::prim`]), with the reference semantics of
//! [`crate::prim`]: every arithmetic instruction rounds to nearest (`.rn`, so that `ptxas` never
//! contracts a multiplication and an addition into a fused one the CPU does not make), division
//! and square root are correctly rounded, subnormals are kept (no `.ftz`), no `.approx`
//! instruction is used, and `min` / `max` are the C ternaries rather than PTX's `min` (which
//! ignores NaN). A GPU kernel therefore computes the same formula values as the CPU kernel, bit
//! for bit; only the order of accumulation in reductions differs.
//!
//! # Scheme
//!
//! KeOps' `GpuReduc1D`: one thread per output row. A thread computes its row's features (the
//! values that depend on the output row and the parameters only) once, into registers. The
//! reduced rows are then visited tile by tile, a tile being as many rows as the block has
//! threads: each thread computes the features of one reduced row of the tile and stores them in
//! shared memory, and after a barrier every thread runs the per-pair program against each row
//! of the tile and folds the result into its accumulators, which stay in registers. Sums,
//! log-sum-exps and soft-maxes accumulate each tile apart and then merge it into the row's total
//! (KeOps' block sum); selections fold into the total directly. Ties resolve to the lowest
//! index, and an empty reduction gives the CPU's identities.
//!
//! When there are too few output rows to fill the device, the 2D scheme splits the reduced
//! rows into chunks as well: block `(x, y)` reduces the output rows of block `x` over chunk `y`
//! and writes its accumulators unfinalised, and a merge kernel (one thread per output row)
//! merges the chunks in order and finalises, which gives the same results up to the order of
//! the additions.
//!
//! # Kernel ABI
//!
//! Every module ([`Module`]) is a complete PTX text (`.version 7.0`, `.target sm_70`,
//! `.address_size 64`; the driver compiles it for any newer GPU) with three entry points.
//! Pointers are `.u64` global addresses, counts `.u32`; floats are the kernel's type, indices
//! `u32`; every array is row-major. An i- or j-variable of dimension `D` is `rows * D` floats, a
//! parameter its `D` floats. "Variables" are the kernel's declared variables in declaration
//! order (for a backward kernel, its forward kernel's followed by the extra inputs of its
//! [`Backward`] plan). Nothing is launched when `outer_rows` is 0. Row counts are 32-bit and
//! loops step by whole blocks, so the runtime must keep `outer_rows + block`,
//! `inner_rows + block`, `chunks * chunk` and `chunks * outer_rows` below 2^32 (refusing or
//! splitting larger calls).
//!
//! - [`ENTRY`] `keops_reduce(variables..., values, indices, outer_rows, inner_rows)`: the whole
//!   reduction. `values` receives `outer_rows * value_width` floats (a K-reduction's slot `k` of
//!   component `c` at `k * D + c`, as on the CPU), `indices` `outer_rows * index_width` indices;
//!   either may be null when its width is 0. Launch a grid of `ceil(outer_rows / block)` blocks
//!   of `block` threads (`block` a multiple of 32, at most 1024; [`Module::block`] is the size
//!   chosen for the kernel) with `block * Module::shared_per_thread` bytes of dynamic shared
//!   memory. [`Module::block`] keeps that within the 48 KiB every device grants, except for
//!   kernels with more than 1536 bytes of features per reduced row, for which the runtime must
//!   raise the function's dynamic shared memory limit (or the launch fails).
//! - [`ENTRY_2D`] `keops_reduce_2d(variables..., partial_values, partial_indices, outer_rows,
//!   inner_rows, chunk)`: the same on a grid of `(ceil(outer_rows / block), chunks)` blocks,
//!   block `(x, y)` reducing the reduced rows `y * chunk .. min((y + 1) * chunk, inner_rows)`
//!   (`chunk` a multiple of `block`, `chunks = ceil(inner_rows / chunk)`, at least 1). The
//!   partial result of output row `r` in chunk `y` is slot `y * outer_rows + r` of
//!   `partial_values` (slots of `Module::partial_widths.0` floats) and of `partial_indices`
//!   (slots of `Module::partial_widths.1` indices; null when that width is 0).
//! - [`ENTRY_MERGE`] `keops_merge(partial_values, partial_indices, values, indices, outer_rows,
//!   chunks)`: one thread per output row, any block size, no shared memory; writes `values` and
//!   `indices` as [`ENTRY`] does.
//!
//! Backward kernels of `Sum`, `LogSumExp` and `SumSoftMaxWeight` are reductions like any other
//! and get a module each, as does the auxiliary forward kernel of a backward pass. The gradients
//! of selections (`Min`, `KMin`, ...) evaluate a derivative at the selected pairs and have no GPU
//! kernel yet. Large dimensions are fully unrolled (no loops over components yet), so kernels
//! with hundreds of features may spill registers.
//!
//! # Testing without a GPU
//!
//! The unit tests run the kernels in an emulator of the PTX subset emitted here, bit for bit
//! against the CPU semantics of every primitive and against the reference evaluator for every
//! reduction, in both schemes; `tests/ptxas.rs` assembles the modules with a real `ptxas`.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::backward::{Auxiliary, Backward};
use crate::check::Kernel;
use crate::codegen::{Lowered, lower_kernel};
use crate::ir::{DType, Role};
use crate::lower::{Inst, Program, Staged, Val};
use crate::prim::Prim;
use crate::reduction::{Reduction, ReductionKind};

/// The entry point of every module that reduces over all the reduced rows.
pub const ENTRY: &str = "keops_reduce";

/// The entry point that reduces over one chunk of the reduced rows per `blockIdx.y` and writes
/// partial results, for the 2D scheme.
pub const ENTRY_2D: &str = "keops_reduce_2d";

/// The entry point that merges the partial results of [`ENTRY_2D`] and finalises them.
pub const ENTRY_MERGE: &str = "keops_merge";

/// Threads per block, unless the tile of reduced-row features would not fit in [`SHARED`].
const BLOCK: usize = 256;

/// Shared memory a tile may take: what every device grants without an opt-in.
const SHARED: usize = 48 * 1024;

/// A GPU kernel: its PTX text and launch geometry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// The kernel type's name (`GaussConv`), or a backward kernel's (`GaussConv__Grad0`,
    /// `GaussConv__Aux`), as the Rust generator names them.
    pub name: String,
    pub text: String,
    /// Threads per block.
    pub block: u32,
    /// Bytes of dynamic shared memory per thread of the block.
    pub shared_per_thread: u32,
    /// The floats and the `u32` indices of one partial result of [`ENTRY_2D`].
    pub partial_widths: (u32, u32),
}

/// The modules of `kernel` (named `name`) and, given its backward plan, of its backward and
/// auxiliary kernels.
pub fn modules(kernel: &Kernel, name: &str, backward: Option<&(Vec<Backward>, Auxiliary)>) -> Vec<Module> {
    let mut out = vec![module(kernel, name.to_string())];
    if let Some((plans, aux)) = backward {
        if let Some(a) = aux.log_sum_exp.as_ref().or(aux.selection.as_ref()) {
            out.push(module(a, format!("{name}__Aux")));
        }
        for (pos, plan) in plans.iter().enumerate() {
            if let Backward::Reduction { kernel, .. } = plan {
                out.push(module(kernel, format!("{name}__Grad{pos}")));
            }
        }
    }
    out
}

/// The forward module of one kernel.
pub fn module(kernel: &Kernel, name: String) -> Module {
    let lowered = lower_kernel(kernel);
    let vars = kernel.params.iter().map(|p| (p.role, p.dim)).collect();
    let about = kernel.text.split_whitespace().collect::<Vec<_>>().join(" ");
    Spec { dtype: kernel.dtype, vars, reduction: kernel.reduction, lowered: &lowered, about }.module(name)
}

/// A module applying every basic primitive in the kernel's type, with operands in registers and
/// with a constant in each position, in both prepasses and the pair stage; for tests (and
/// `ptxas` runs) of the lowerings. Not a stable API.
#[doc(hidden)]
pub fn primitive_module(dtype: DType) -> Module {
    let mut p = Program::new(dtype);
    let regs = [p.load(0, 0), p.load(1, 0), p.load(1, 1)];
    let c = p.constant(0.75);
    let mut outputs = Vec::new();
    for &prim in Prim::ALL.iter().filter(|p| !p.is_expanded()) {
        let args = &regs[..prim.arity()];
        outputs.push(p.prim(prim, args));
        for k in 0..args.len() {
            let mut with_constant = args.to_vec();
            with_constant[k] = c;
            outputs.push(p.prim(prim, &with_constant));
        }
        // Per reduced row (both operands of the j side) and per output row.
        let inner = [regs[1], regs[2], regs[1]];
        outputs.push(p.prim(prim, &inner[..prim.arity()]));
        let outer = [regs[0], c, regs[0]];
        outputs.push(p.prim(prim, &outer[..prim.arity()]));
    }
    let roles = [Role::I, Role::J];
    let nf = outputs.len();
    let lowered = Lowered { staged: Staged::new(p, outputs, &roles, Role::I), nf };
    let reduction = Reduction { kind: ReductionKind::Sum, k: 1, over: Role::J };
    let vars = vec![(Role::I, 1), (Role::J, 2)];
    let about = "every basic primitive".to_string();
    Spec { dtype, vars, reduction, lowered: &lowered, about }.module(format!("primitives_{}", dtype.name()))
}

/// Everything a kernel's text is printed from.
struct Spec<'a> {
    dtype: DType,
    /// Role and dimension of each declared variable.
    vars: Vec<(Role, usize)>,
    reduction: Reduction,
    lowered: &'a Lowered,
    /// The formula, on one line, for the header comment.
    about: String,
}

impl Spec<'_> {
    fn staged(&self) -> &Staged {
        &self.lowered.staged
    }

    fn module(&self, name: String) -> Module {
        let per_thread = self.staged().inner_features.len() * size(self.dtype);
        let block = match per_thread {
            0 => BLOCK,
            n => (SHARED / n / 32 * 32).clamp(32, BLOCK),
        };
        let block = u32::try_from(block).unwrap_or_else(|_| unreachable!("block sizes are at most {BLOCK}"));
        let shared_per_thread = u32::try_from(per_thread).unwrap_or(u32::MAX);
        let (nf, ng) = (self.lowered.nf, self.lowered.ng());
        let (pv, pi) = Rule::of(self.reduction).widths(nf, ng);
        let partial_widths = (u32::try_from(pv).unwrap_or(u32::MAX), u32::try_from(pi).unwrap_or(u32::MAX));
        Module { name, text: self.text(), block, shared_per_thread, partial_widths }
    }

    /// The whole module.
    fn text(&self) -> String {
        let mut out = String::new();
        let (vw, iw) = self.widths();
        let _ = writeln!(
            out,
            "// keops: {} {} of `{}`",
            self.dtype.name(),
            self.reduction.kind.keops_name(),
            self.about
        );
        let _ = writeln!(out, "// value width {vw}, index width {iw}");
        out.push_str(".version 7.0\n.target sm_70\n.address_size 64\n\n");
        out.push_str(".extern .shared .align 16 .b8 keops_shared[];\n");
        let values = self.staged().program.insts().len();
        let vars = (0..self.vars.len()).map(|k| format!("keops_var_{k}"));
        let mut w = Ptx::new(self.dtype);
        self.body(&mut w, false);
        let outputs = ["keops_values", "keops_indices"];
        let params: Vec<String> = vars.clone().chain(outputs.map(String::from)).collect();
        out.push_str(&entry(ENTRY, &params, &["keops_outer_rows", "keops_inner_rows"], &w, values));
        let mut w = Ptx::new(self.dtype);
        self.body(&mut w, true);
        let partial = ["keops_partial_values", "keops_partial_indices"];
        let params: Vec<String> = vars.chain(partial.map(String::from)).collect();
        let counts = ["keops_outer_rows", "keops_inner_rows", "keops_chunk"];
        out.push_str(&entry(ENTRY_2D, &params, &counts, &w, values));
        let mut w = Ptx::new(self.dtype);
        self.merge_body(&mut w);
        let params: Vec<String> = partial.iter().chain(&outputs).map(|p| p.to_string()).collect();
        out.push_str(&entry(ENTRY_MERGE, &params, &["keops_outer_rows", "keops_chunks"], &w, 0));
        out
    }

    fn widths(&self) -> (usize, usize) {
        let ng = self.lowered.ng();
        self.reduction.widths(self.lowered.nf, ng)
    }

    /// The body of [`ENTRY`], or with `split` of [`ENTRY_2D`]: see the module documentation for
    /// the scheme.
    fn body(&self, w: &mut Ptx, split: bool) {
        let staged = self.staged();
        let (nf, ng) = (self.lowered.nf, self.lowered.ng());
        let (outer, inner) = (&staged.outer_features, &staged.inner_features);

        let inputs: Vec<String> =
            (0..self.vars.len()).map(|k| w.pointer(&format!("keops_var_{k}"))).collect();
        let (values, indices) = match split {
            false => (w.pointer("keops_values"), w.pointer("keops_indices")),
            true => (w.pointer("keops_partial_values"), w.pointer("keops_partial_indices")),
        };
        let (outer_rows, inner_rows) = (w.int(), w.int());
        w.op(format!("ld.param.u32 {outer_rows}, [keops_outer_rows]"));
        w.op(format!("ld.param.u32 {inner_rows}, [keops_inner_rows]"));
        let (tid, ntid, row) = w.thread_row();
        let active = w.pred();
        w.op(format!("setp.lt.u32 {active}, {row}, {outer_rows}"));

        // The output row's features, in registers.
        let outer_done = w.label("outer_done");
        w.op(format!("@!{active} bra {outer_done}"));
        self.prepass(w, outer, &row, &inputs);
        w.place(&outer_done);

        let rule = Rule::of(self.reduction);
        let total = rule.state(w, nf, ng);
        rule.init(w, &total);
        let tile = rule.tiled().then(|| rule.state(w, nf, ng));
        let shared = w.int();
        w.op(format!("mov.u32 {shared}, keops_shared"));
        let (start, end) = reduced_range(w, split, &inner_rows);

        let (tile_loop, done) = (w.label("tile"), w.label("done"));
        w.place(&tile_loop);
        let finished = w.pred();
        w.op(format!("setp.ge.u32 {finished}, {start}, {end}"));
        w.op(format!("@{finished} bra {done}"));
        if !inner.is_empty() {
            self.stage_tile(w, &inputs, [&tid, &start, &end, &shared]);
        }

        // Every thread with an output row: the pairs of the tile.
        let pairs_done = w.label("pairs_done");
        w.op(format!("@!{active} bra {pairs_done}"));
        let count = w.int();
        w.op(format!("sub.u32 {count}, {end}, {start}"));
        w.op(format!("min.u32 {count}, {count}, {ntid}"));
        match &tile {
            Some(tile) => {
                rule.init(w, tile);
                self.pairs(w, rule, tile, [&start, &count, &shared]);
                rule.merge(w, &total, tile);
            }
            None => self.pairs(w, rule, &total, [&start, &count, &shared]),
        }
        w.place(&pairs_done);
        if !inner.is_empty() {
            // The next tile overwrites shared memory.
            w.op("bar.sync 0");
        }
        w.op(format!("add.u32 {start}, {start}, {ntid}"));
        w.op(format!("bra {tile_loop}"));
        w.place(&done);

        let exit = w.label("exit");
        w.op(format!("@!{active} bra {exit}"));
        if split {
            // This block's partial result of the row, unfinalised, at `(y * outer_rows + row)`.
            let (y, slot) = (w.int(), w.int());
            w.op(format!("mov.u32 {y}, %ctaid.y"));
            w.op(format!("mad.lo.u32 {slot}, {y}, {outer_rows}, {row}"));
            rule.store(w, &total, &values, &indices, &slot);
        } else {
            self.finish(w, rule, &total, [&values, &indices, &row]);
        }
        w.place(&exit);
        w.op("ret");
    }

    /// Folds the pairs of the output row with the `count` reduced rows of the tile at `start`
    /// (their features in shared memory at `shared`) into `acc`.
    fn pairs(&self, w: &mut Ptx, rule: Rule, acc: &State, [start, count, shared]: [&String; 3]) {
        let staged = self.staged();
        let inner = &staged.inner_features;
        let size = size(self.dtype);
        let (jj, at) = (w.int(), w.int());
        w.op(format!("mov.u32 {jj}, 0"));
        w.op(format!("mov.u32 {at}, {shared}"));
        let pair_loop = w.label("pair");
        w.place(&pair_loop);
        let t = w.ty();
        for (k, &v) in inner.iter().enumerate() {
            w.op(format!("ld.shared.{t} {}, [{at}+{}]", value(v), k * size));
        }
        for v in staged.pair_schedule() {
            self.emit(w, v);
        }
        let j = w.int();
        w.op(format!("add.u32 {j}, {start}, {jj}"));
        let outputs: Vec<String> = staged.outputs.iter().map(|&v| self.operand(w, v)).collect();
        let nf = self.lowered.nf;
        rule.step(w, acc, &outputs[..nf], &outputs[nf..], &j);
        w.op(format!("add.u32 {jj}, {jj}, 1"));
        w.op(format!("add.u32 {at}, {at}, {}", inner.len() * size));
        let more = w.pred();
        w.op(format!("setp.lt.u32 {more}, {jj}, {count}"));
        w.op(format!("@{more} bra {pair_loop}"));
    }

    /// Finalises `total` into the output row `row` of `values` and `indices`.
    fn finish(&self, w: &mut Ptx, rule: Rule, total: &State, [values, indices, row]: [&String; 3]) {
        let (vw, iw) = self.widths();
        let values = (vw > 0).then(|| w.row_address(values, row, vw * size(self.dtype)));
        let indices = (iw > 0).then(|| w.row_address(indices, row, iw * 4));
        rule.finalize(w, total, values.as_deref(), indices.as_deref());
    }

    /// The body of [`ENTRY_MERGE`]: one thread per output row merges the partial results of
    /// the chunks in order (so ties still go to the lowest index) and finalises.
    fn merge_body(&self, w: &mut Ptx) {
        let (nf, ng) = (self.lowered.nf, self.lowered.ng());
        let (partial_values, partial_indices) =
            (w.pointer("keops_partial_values"), w.pointer("keops_partial_indices"));
        let (values, indices) = (w.pointer("keops_values"), w.pointer("keops_indices"));
        let (outer_rows, chunks) = (w.int(), w.int());
        w.op(format!("ld.param.u32 {outer_rows}, [keops_outer_rows]"));
        w.op(format!("ld.param.u32 {chunks}, [keops_chunks]"));
        let (_, _, row) = w.thread_row();
        let (outside, exit) = (w.pred(), w.label("exit"));
        w.op(format!("setp.ge.u32 {outside}, {row}, {outer_rows}"));
        w.op(format!("@{outside} bra {exit}"));
        let rule = Rule::of(self.reduction);
        let (total, later) = (rule.state(w, nf, ng), rule.state(w, nf, ng));
        rule.init(w, &total);
        let (y, slot) = (w.int(), w.int());
        w.op(format!("mov.u32 {y}, 0"));
        let (next, done) = (w.label("chunk"), w.label("merged"));
        w.place(&next);
        let finished = w.pred();
        w.op(format!("setp.ge.u32 {finished}, {y}, {chunks}"));
        w.op(format!("@{finished} bra {done}"));
        w.op(format!("mad.lo.u32 {slot}, {y}, {outer_rows}, {row}"));
        rule.load(w, &later, &partial_values, &partial_indices, &slot);
        rule.merge(w, &total, &later);
        w.op(format!("add.u32 {y}, {y}, 1"));
        w.op(format!("bra {next}"));
        w.place(&done);
        self.finish(w, rule, &total, [&values, &indices, &row]);
        w.place(&exit);
        w.op("ret");
    }

    /// Computes the features of reduced row `start + tid` (if it is below `end`) into shared
    /// memory, at `shared + tid * row_bytes`, then waits for the whole tile.
    fn stage_tile(&self, w: &mut Ptx, inputs: &[String], [tid, start, end, shared]: [&String; 4]) {
        let inner = &self.staged().inner_features;
        let size = size(self.dtype);
        let j = w.int();
        w.op(format!("add.u32 {j}, {start}, {tid}"));
        let has_row = w.pred();
        w.op(format!("setp.lt.u32 {has_row}, {j}, {end}"));
        let staged_label = w.label("staged");
        w.op(format!("@!{has_row} bra {staged_label}"));
        self.prepass(w, inner, &j, inputs);
        let at = w.int();
        w.op(format!("mad.lo.u32 {at}, {tid}, {}, {shared}", inner.len() * size));
        let t = w.ty();
        for (k, &v) in inner.iter().enumerate() {
            w.op(format!("st.shared.{t} [{at}+{}], {}", k * size, value(v)));
        }
        w.place(&staged_label);
        w.op("bar.sync 0");
    }

    /// Computes `features` for the row `row` of their side, into their value registers.
    fn prepass(&self, w: &mut Ptx, features: &[Val], row: &str, inputs: &[String]) {
        let staged = self.staged();
        let size = size(self.dtype);
        let mut rows: HashMap<usize, String> = HashMap::new();
        for v in staged.schedule(features, |_| true) {
            match staged.program.inst(v) {
                Inst::Const(_) => {}
                Inst::Load { var, comp } => {
                    let (role, dim) = self.vars[var];
                    let base = match role {
                        Role::Param => inputs[var].clone(),
                        _ => rows
                            .entry(var)
                            .or_insert_with(|| w.row_address(&inputs[var], row, dim * size))
                            .clone(),
                    };
                    let t = w.ty();
                    w.op(format!("ld.global.nc.{t} {}, [{base}+{}]", value(v), comp * size));
                }
                Inst::Prim(..) => self.emit(w, v),
            }
        }
    }

    /// The instruction defining the primitive value `v`, into its register.
    fn emit(&self, w: &mut Ptx, v: Val) {
        let program = &self.staged().program;
        let inst = program.inst(v);
        let Inst::Prim(prim, _) = inst else {
            unreachable!(
                "only primitives are computed per pair, and loads and constants are handled by prepasses"
            )
        };
        let args: Vec<String> = inst.operands().iter().map(|&a| self.operand(w, a)).collect();
        w.prim(prim, &value(v), &args);
    }

    /// A value as an instruction operand: its register, or a constant's literal.
    fn operand(&self, w: &Ptx, v: Val) -> String {
        match self.staged().program.as_const(v) {
            Some(c) => w.literal(c),
            None => value(v),
        }
    }
}

/// The reduced rows `start..end` of the block: all of them, or with `split` chunk `ctaid.y`.
fn reduced_range(w: &mut Ptx, split: bool, inner_rows: &str) -> (String, String) {
    let (start, end) = (w.int(), w.int());
    if split {
        let (chunk, y) = (w.int(), w.int());
        w.op(format!("ld.param.u32 {chunk}, [keops_chunk]"));
        w.op(format!("mov.u32 {y}, %ctaid.y"));
        w.op(format!("mul.lo.u32 {start}, {y}, {chunk}"));
        w.op(format!("add.u32 {end}, {start}, {chunk}"));
        w.op(format!("min.u32 {end}, {end}, {inner_rows}"));
    } else {
        w.op(format!("mov.u32 {start}, 0"));
        w.op(format!("mov.u32 {end}, {inner_rows}"));
    }
    (start, end)
}

/// An entry point: `.u64` pointer parameters, then `.u32` counts, then the body written in `w`
/// (which declares `values` value registers).
fn entry(name: &str, pointers: &[String], counts: &[&str], w: &Ptx, values: usize) -> String {
    let params: Vec<String> = (pointers.iter().map(|p| format!("\t.param .u64 {p}")))
        .chain(counts.iter().map(|c| format!("\t.param .u32 {c}")))
        .collect();
    format!(
        "\n.visible .entry {name}(\n{}\n)\n{{\n{}{}}}\n",
        params.join(",\n"),
        w.declarations(values),
        w.body
    )
}

/// The register of a program value. Every value has one definition, so the prepasses and the
/// pair stage share one namespace: a feature is computed (or loaded from shared memory) into
/// the register that the pair stage reads.
fn value(v: Val) -> String {
    format!("%v{}", v.index())
}

fn size(dtype: DType) -> usize {
    match dtype {
        DType::F32 => 4,
        DType::F64 => 8,
    }
}

/// The binary format of a float type, for the exponent primitives.
struct Format {
    /// Explicit mantissa bits.
    mantissa: u32,
    bias: i32,
    /// Exponents of the largest and smallest normal powers of two.
    emax: i32,
    emin: i32,
    /// Significand bits, the implicit one included.
    precision: i32,
}

fn format(dtype: DType) -> Format {
    match dtype {
        DType::F32 => Format { mantissa: 23, bias: 127, emax: 127, emin: -126, precision: 24 },
        DType::F64 => Format { mantissa: 52, bias: 1023, emax: 1023, emin: -1022, precision: 53 },
    }
}

/// A PTX body being written, with its register counters.
struct Ptx {
    dtype: DType,
    body: String,
    /// Float scratch registers `%t`.
    temps: usize,
    /// Predicates `%p`.
    preds: usize,
    /// 32-bit integer registers `%r`.
    ints: usize,
    /// 64-bit integer registers `%rd`.
    wides: usize,
    labels: usize,
}

impl Ptx {
    fn new(dtype: DType) -> Ptx {
        Ptx { dtype, body: String::new(), temps: 0, preds: 0, ints: 0, wides: 0, labels: 0 }
    }

    /// The float type's PTX name.
    fn ty(&self) -> &'static str {
        self.dtype.name()
    }

    /// The bit type of the float type.
    fn bits(&self) -> &'static str {
        match self.dtype {
            DType::F32 => "b32",
            DType::F64 => "b64",
        }
    }

    fn temp(&mut self) -> String {
        self.temps += 1;
        format!("%t{}", self.temps - 1)
    }

    fn pred(&mut self) -> String {
        self.preds += 1;
        format!("%p{}", self.preds - 1)
    }

    fn int(&mut self) -> String {
        self.ints += 1;
        format!("%r{}", self.ints - 1)
    }

    fn wide(&mut self) -> String {
        self.wides += 1;
        format!("%rd{}", self.wides - 1)
    }

    /// A register holding the float type's bits.
    fn bits_reg(&mut self) -> String {
        match self.dtype {
            DType::F32 => self.int(),
            DType::F64 => self.wide(),
        }
    }

    fn label(&mut self, what: &str) -> String {
        self.labels += 1;
        format!("$L{}_{what}", self.labels - 1)
    }

    fn op(&mut self, text: impl AsRef<str>) {
        let _ = writeln!(self.body, "\t{};", text.as_ref());
    }

    fn place(&mut self, label: &str) {
        let _ = writeln!(self.body, "{label}:");
    }

    /// The register declarations of everything written so far, with `values` value registers.
    fn declarations(&self, values: usize) -> String {
        let t = self.ty();
        let mut out = String::new();
        for (class, name, n) in [
            ("pred", "%p", self.preds),
            ("b32", "%r", self.ints),
            ("b64", "%rd", self.wides),
            (t, "%t", self.temps),
            (t, "%v", values),
        ] {
            let _ = writeln!(out, "\t.reg .{class} {name}<{}>;", n.max(1));
        }
        out
    }

    /// A constant of the float type: its exact bits.
    fn literal(&self, c: f64) -> String {
        match self.dtype {
            DType::F32 => format!("0f{:08X}", (c as f32).to_bits()),
            DType::F64 => format!("0d{:016X}", c.to_bits()),
        }
    }

    /// The thread's index in its block, the block size, and the thread's output row (its index
    /// in the x dimension of the grid).
    fn thread_row(&mut self) -> (String, String, String) {
        let (tid, ntid, ctaid, row) = (self.int(), self.int(), self.int(), self.int());
        self.op(format!("mov.u32 {tid}, %tid.x"));
        self.op(format!("mov.u32 {ntid}, %ntid.x"));
        self.op(format!("mov.u32 {ctaid}, %ctaid.x"));
        self.op(format!("mad.lo.u32 {row}, {ctaid}, {ntid}, {tid}"));
        (tid, ntid, row)
    }

    /// A kernel pointer parameter, converted to a global address.
    fn pointer(&mut self, param: &str) -> String {
        let r = self.wide();
        self.op(format!("ld.param.u64 {r}, [{param}]"));
        self.op(format!("cvta.to.global.u64 {r}, {r}"));
        r
    }

    /// `base + row * stride` (`row` a 32-bit register, the result 64-bit).
    fn row_address(&mut self, base: &str, row: &str, stride: usize) -> String {
        let r = self.wide();
        self.op(format!("mul.wide.u32 {r}, {row}, {stride}"));
        self.op(format!("add.u64 {r}, {r}, {base}"));
        r
    }

    /// `d = prim(a...)`: the one lowering of each basic primitive.
    fn prim(&mut self, prim: Prim, d: &str, a: &[String]) {
        let t = self.ty();
        match prim {
            Prim::Add => self.op(format!("add.rn.{t} {d}, {}, {}", a[0], a[1])),
            Prim::Sub => self.op(format!("sub.rn.{t} {d}, {}, {}", a[0], a[1])),
            Prim::Mul => self.op(format!("mul.rn.{t} {d}, {}, {}", a[0], a[1])),
            Prim::Div => self.op(format!("div.rn.{t} {d}, {}, {}", a[0], a[1])),
            Prim::MulAdd => self.op(format!("fma.rn.{t} {d}, {}, {}, {}", a[0], a[1], a[2])),
            Prim::Neg => self.op(format!("neg.{t} {d}, {}", a[0])),
            Prim::Abs => self.op(format!("abs.{t} {d}, {}", a[0])),
            Prim::Sqrt => self.op(format!("sqrt.rn.{t} {d}, {}", a[0])),
            Prim::Floor => self.op(format!("cvt.rmi.{t}.{t} {d}, {}", a[0])),
            Prim::RoundEven => self.op(format!("cvt.rni.{t}.{t} {d}, {}", a[0])),
            Prim::Min => self.choose(d, "lt", &a[0], &a[1], &a[0], &a[1]),
            Prim::Max => self.choose(d, "gt", &a[0], &a[1], &a[0], &a[1]),
            Prim::Select => {
                let zero = self.literal(0.0);
                self.choose(d, "ge", &a[0], &zero, &a[1], &a[2]);
            }
            Prim::Step => {
                let (zero, one) = (self.literal(0.0), self.literal(1.0));
                self.choose(d, "lt", &a[0], &zero, &zero, &one);
            }
            Prim::Sign => {
                let (zero, one, minus) = (self.literal(0.0), self.literal(1.0), self.literal(-1.0));
                let negative = self.temp();
                self.choose(&negative, "lt", &a[0], &zero, &minus, &zero);
                self.choose(d, "gt", &a[0], &zero, &one, &negative);
            }
            Prim::Lt => self.indicator(d, "lt", a),
            Prim::Le => self.indicator(d, "le", a),
            Prim::Eq => self.indicator(d, "eq", a),
            // Unordered: true when either operand is NaN, as `!=` in C.
            Prim::Ne => self.indicator(d, "neu", a),
            Prim::Ldexp => self.ldexp(d, &a[0], &a[1]),
            Prim::LdexpInt => self.ldexp_int(d, &a[0], &a[1]),
            Prim::GetExp => self.get_exp(d, &a[0]),
            Prim::GetMant => self.get_mant(d, &a[0]),
            Prim::Rsqrt
            | Prim::Exp
            | Prim::Log
            | Prim::Sin
            | Prim::Cos
            | Prim::Asin
            | Prim::Acos
            | Prim::Atan
            | Prim::Atan2 => {
                unreachable!("`{}` is expanded into basic primitives before code generation", prim.method())
            }
        }
    }

    /// `d = (a <cmp> b) ? x : y`. The comparisons are PTX's ordered ones (false on NaN), as C's.
    fn choose(&mut self, d: &str, cmp: &str, a: &str, b: &str, x: &str, y: &str) {
        let t = self.ty();
        let p = self.pred();
        self.op(format!("setp.{cmp}.{t} {p}, {a}, {b}"));
        self.op(format!("selp.{t} {d}, {x}, {y}, {p}"));
    }

    /// `d = (a <cmp> b) ? 1 : 0`.
    fn indicator(&mut self, d: &str, cmp: &str, a: &[String]) {
        let (zero, one) = (self.literal(0.0), self.literal(1.0));
        self.choose(d, cmp, &a[0], &a[1], &one, &zero);
    }

    /// `d = x * 2^floor(n)`, rounded once, as C's `scalbn`: the exponent is saturated to the
    /// int range, scaled in exact steps (up by `2^emax`, or down by `2^(emin + precision)`,
    /// which keeps an intermediate normal whenever the result is not zero), then the last
    /// multiplication by a normal power of two is the only rounding.
    fn ldexp(&mut self, d: &str, x: &str, n: &str) {
        let t = self.ty();
        let f = format(self.dtype);
        let k = self.int();
        // Rounds down and saturates; NaN gives 0 (and NaN below).
        self.op(format!("cvt.rmi.s32.{t} {k}, {n}"));
        let y = self.temp();
        self.op(format!("mov.{t} {y}, {x}"));
        let one = self.literal(1.0);
        let up = self.literal(2f64.powi(f.emax));
        for _ in 0..2 {
            self.scale_step(&y, &k, ("gt", f.emax), &up, &one);
        }
        self.op(format!("min.s32 {k}, {k}, {}", f.emax));
        let down_exp = f.emin + f.precision;
        let down = self.literal(2f64.powi(down_exp));
        for _ in 0..2 {
            self.scale_step(&y, &k, ("lt", f.emin), &down, &one);
        }
        self.op(format!("max.s32 {k}, {k}, {}", f.emin));
        self.op(format!("add.s32 {k}, {k}, {}", f.bias));
        let scale = self.temp();
        match self.dtype {
            DType::F32 => {
                self.op(format!("shl.b32 {k}, {k}, {}", f.mantissa));
                self.op(format!("mov.b32 {scale}, {k}"));
            }
            DType::F64 => {
                let w = self.wide();
                self.op(format!("cvt.u64.u32 {w}, {k}"));
                self.op(format!("shl.b64 {w}, {w}, {}", f.mantissa));
                self.op(format!("mov.b64 {scale}, {w}"));
            }
        }
        self.op(format!("mul.rn.{t} {y}, {y}, {scale}"));
        let nan = self.pred();
        self.op(format!("setp.nan.{t} {nan}, {n}, {n}"));
        self.op(format!("selp.{t} {d}, {n}, {y}, {nan}"));
    }

    /// `Prim::LdexpInt`: `(x 2^h) 2^(n - h)` with `h = floor(n / 2)`, both powers built in the
    /// exponent field, for the integer `n` and the `x` near 1 of the exp expansion.
    fn ldexp_int(&mut self, d: &str, x: &str, n: &str) {
        let t = self.ty();
        let f = format(self.dtype);
        let k = self.int();
        self.op(format!("cvt.rni.s32.{t} {k}, {n}"));
        let half = self.int();
        self.op(format!("shr.s32 {half}, {k}, 1"));
        self.op(format!("sub.s32 {k}, {k}, {half}"));
        let y = self.temp();
        self.op(format!("mov.{t} {y}, {x}"));
        for e in [half, k] {
            self.op(format!("add.s32 {e}, {e}, {}", f.bias));
            let scale = self.temp();
            match self.dtype {
                DType::F32 => {
                    self.op(format!("shl.b32 {e}, {e}, {}", f.mantissa));
                    self.op(format!("mov.b32 {scale}, {e}"));
                }
                DType::F64 => {
                    let w = self.wide();
                    self.op(format!("cvt.u64.u32 {w}, {e}"));
                    self.op(format!("shl.b64 {w}, {w}, {}", f.mantissa));
                    self.op(format!("mov.b64 {scale}, {w}"));
                }
            }
            self.op(format!("mul.rn.{t} {y}, {y}, {scale}"));
        }
        self.op(format!("mov.{t} {d}, {y}"));
    }

    /// One exact step of [`Ptx::ldexp`]: if `k <cmp> bound`, `y *= factor` (`2^e`) and `k -= e`.
    fn scale_step(&mut self, y: &str, k: &str, (cmp, bound): (&str, i32), factor: &str, one: &str) {
        let t = self.ty();
        let p = self.pred();
        self.op(format!("setp.{cmp}.s32 {p}, {k}, {bound}"));
        let s = self.temp();
        self.op(format!("selp.{t} {s}, {factor}, {one}, {p}"));
        self.op(format!("mul.rn.{t} {y}, {y}, {s}"));
        let e = if cmp == "gt" { bound } else { bound + format(self.dtype).precision };
        let step = self.int();
        self.op(format!("selp.s32 {step}, {e}, 0, {p}"));
        self.op(format!("sub.s32 {k}, {k}, {step}"));
    }

    /// `|x|`, scaled by 2^64 if it is below the normal range (so that its exponent field is
    /// its binary exponent), and the predicate telling whether it was.
    fn normalized(&mut self, x: &str) -> (String, String, String) {
        let t = self.ty();
        let f = format(self.dtype);
        let ax = self.temp();
        self.op(format!("abs.{t} {ax}, {x}"));
        let small = self.pred();
        let min_normal = self.literal(2f64.powi(f.emin));
        self.op(format!("setp.lt.{t} {small}, {ax}, {min_normal}"));
        let s = self.temp();
        let (scale, one) = (self.literal(2f64.powi(64)), self.literal(1.0));
        self.op(format!("selp.{t} {s}, {scale}, {one}, {small}"));
        let y = self.temp();
        self.op(format!("mul.rn.{t} {y}, {ax}, {s}"));
        (ax, small, y)
    }

    /// `d = floor(log2 |x|)` from the exponent field (subnormals scaled first); -inf for zero,
    /// +inf for infinities, NaN for NaN.
    fn get_exp(&mut self, d: &str, x: &str) {
        let (t, b) = (self.ty(), self.bits());
        let f = format(self.dtype);
        let (ax, small, y) = self.normalized(x);
        let bits = self.bits_reg();
        self.op(format!("mov.{b} {bits}, {y}"));
        let u = if self.dtype == DType::F32 { "u32" } else { "u64" };
        self.op(format!("shr.{u} {bits}, {bits}, {}", f.mantissa));
        let e = match self.dtype {
            DType::F32 => bits,
            DType::F64 => {
                let e = self.int();
                self.op(format!("cvt.u32.u64 {e}, {bits}"));
                e
            }
        };
        let bias = self.int();
        self.op(format!("selp.s32 {bias}, {}, {}, {small}", f.bias + 64, f.bias));
        self.op(format!("sub.s32 {e}, {e}, {bias}"));
        let r = self.temp();
        self.op(format!("cvt.rn.{t}.s32 {r}, {e}"));
        let (zero, inf, neg_inf) =
            (self.literal(0.0), self.literal(f64::INFINITY), self.literal(f64::NEG_INFINITY));
        self.choose(&r, "eq", &ax, &zero, &neg_inf, &r);
        self.choose(&r, "eq", &ax, &inf, &inf, &r);
        self.nan_passes(d, x, &r);
    }

    /// `d = |x| / 2^get_exp(x)`: the mantissa bits under the exponent of 1 (subnormals scaled
    /// first); 1 for zero and infinities, NaN for NaN.
    fn get_mant(&mut self, d: &str, x: &str) {
        let b = self.bits();
        let (_, _, y) = self.normalized(x);
        let bits = self.bits_reg();
        self.op(format!("mov.{b} {bits}, {y}"));
        let (mask, one) = match self.dtype {
            DType::F32 => ("0x007FFFFF", "0x3F800000"),
            DType::F64 => ("0x000FFFFFFFFFFFFF", "0x3FF0000000000000"),
        };
        self.op(format!("and.{b} {bits}, {bits}, {mask}"));
        self.op(format!("or.{b} {bits}, {bits}, {one}"));
        let m = self.temp();
        self.op(format!("mov.{b} {m}, {bits}"));
        self.nan_passes(d, x, &m);
    }

    /// `d = isnan(x) ? x : r`.
    fn nan_passes(&mut self, d: &str, x: &str, r: &str) {
        let t = self.ty();
        let nan = self.pred();
        self.op(format!("setp.nan.{t} {nan}, {x}, {x}"));
        self.op(format!("selp.{t} {d}, {x}, {r}, {nan}"));
    }

    /// An expanded function (`exp`, `log`) of `x`, as formulas compute it: its basic
    /// primitives, inline. Returns the operand holding the result.
    fn function(&mut self, prim: Prim, x: &str) -> String {
        let mut p = Program::new(self.dtype);
        let input = p.load(0, 0);
        let out = p.prim(prim, &[input]);
        let mut regs: Vec<String> = Vec::with_capacity(p.insts().len());
        for inst in p.insts() {
            let r = match *inst {
                Inst::Load { .. } => x.to_string(),
                Inst::Const(bits) => self.literal(f64::from_bits(bits)),
                Inst::Prim(prim, _) => {
                    let d = self.temp();
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

/// A reduction's register state: values (floats) and indices (32-bit).
struct State {
    vals: Vec<String>,
    idx: Vec<String>,
}

/// How a reduction initialises, updates, merges and finalises its [`State`], as the CPU's
/// reducers do.
#[derive(Clone, Copy)]
enum Rule {
    /// One sum per component.
    Sum,
    /// Best value and its index per component.
    Extremum { max: bool },
    /// The `k` smallest values, increasing, and their indices, slot-major.
    KMin { k: usize },
    /// Running maximum, then one sum per weight (a single implicit weight 1 without a second
    /// formula).
    LogSumExp,
    /// Running maximum, sum of the weights, then one weighted sum per component of `V`.
    SoftMax,
}

impl Rule {
    fn of(r: Reduction) -> Rule {
        use ReductionKind::*;
        match r.kind {
            Sum => Rule::Sum,
            Min | ArgMin | MinArgMin => Rule::Extremum { max: false },
            Max | ArgMax | MaxArgMax => Rule::Extremum { max: true },
            KMin | ArgKMin | KMinArgKMin => Rule::KMin { k: r.k },
            LogSumExp => Rule::LogSumExp,
            SumSoftMaxWeight => Rule::SoftMax,
        }
    }

    /// Whether tiles accumulate apart and merge into the total (the block sum).
    fn tiled(self) -> bool {
        matches!(self, Rule::Sum | Rule::LogSumExp | Rule::SoftMax)
    }

    /// The floats and indices of the state, for `nf` and `ng` formula components.
    fn widths(self, nf: usize, ng: usize) -> (usize, usize) {
        match self {
            Rule::Sum => (nf, 0),
            Rule::Extremum { .. } => (nf, nf),
            Rule::KMin { k } => (k * nf, k * nf),
            Rule::LogSumExp => (1 + ng.max(1), 0),
            Rule::SoftMax => (2 + ng, 0),
        }
    }

    fn state(self, w: &mut Ptx, nf: usize, ng: usize) -> State {
        let (nv, ni) = self.widths(nf, ng);
        State { vals: (0..nv).map(|_| w.temp()).collect(), idx: (0..ni).map(|_| w.int()).collect() }
    }

    /// Stores the state in slot `slot` of the partial-result buffers.
    fn store(self, w: &mut Ptx, s: &State, values: &str, indices: &str, slot: &str) {
        self.transfer(w, s, values, indices, slot, true);
    }

    /// Loads the state from slot `slot` of the partial-result buffers.
    fn load(self, w: &mut Ptx, s: &State, values: &str, indices: &str, slot: &str) {
        self.transfer(w, s, values, indices, slot, false);
    }

    /// Stores or loads the state at slot `slot`: floats at `values + slot * floats`, indices at
    /// `indices + slot * indices`.
    fn transfer(self, w: &mut Ptx, s: &State, values: &str, indices: &str, slot: &str, store: bool) {
        let size = size(w.dtype);
        for (regs, base, ty, size) in [(&s.vals, values, w.ty(), size), (&s.idx, indices, "u32", 4)] {
            if regs.is_empty() {
                continue;
            }
            let at = w.row_address(base, slot, regs.len() * size);
            for (n, r) in regs.iter().enumerate() {
                match store {
                    true => w.op(format!("st.global.{ty} [{at}+{}], {r}", n * size)),
                    false => w.op(format!("ld.global.{ty} {r}, [{at}+{}]", n * size)),
                }
            }
        }
    }

    fn init(self, w: &mut Ptx, s: &State) {
        let t = w.ty();
        let first = match self {
            Rule::Sum => 0.0,
            Rule::Extremum { max: true, .. } | Rule::LogSumExp | Rule::SoftMax => f64::NEG_INFINITY,
            Rule::Extremum { max: false, .. } | Rule::KMin { .. } => f64::INFINITY,
        };
        let rest = if matches!(self, Rule::LogSumExp | Rule::SoftMax) { 0.0 } else { first };
        for (n, v) in s.vals.iter().enumerate() {
            let c = w.literal(if n == 0 { first } else { rest });
            w.op(format!("mov.{t} {v}, {c}"));
        }
        for i in &s.idx {
            w.op(format!("mov.u32 {i}, 0"));
        }
    }

    /// Folds in the formula values `f` and `g` of reduced row `j`.
    fn step(self, w: &mut Ptx, s: &State, f: &[String], g: &[String], j: &str) {
        let t = w.ty();
        match self {
            Rule::Sum => {
                for (a, x) in s.vals.iter().zip(f) {
                    w.op(format!("add.rn.{t} {a}, {a}, {x}"));
                }
            }
            Rule::Extremum { max } => {
                for (c, x) in f.iter().enumerate() {
                    better(w, max, s, c, x, j);
                }
            }
            Rule::KMin { k } => {
                for (c, x) in f.iter().enumerate() {
                    let slots: Vec<(&String, &String)> =
                        (0..k).map(|n| (&s.vals[n * f.len() + c], &s.idx[n * f.len() + c])).collect();
                    insert(w, &slots, x, j);
                }
            }
            Rule::LogSumExp => {
                let one = [w.literal(1.0)];
                let weights = if g.is_empty() { &one[..] } else { g };
                add_exp(w, &s.vals[0], &s.vals[1..], &f[0], weights);
            }
            Rule::SoftMax => {
                let weights: Vec<String> = std::iter::once(w.literal(1.0)).chain(g.iter().cloned()).collect();
                add_exp(w, &s.vals[0], &s.vals[1..], &f[0], &weights);
            }
        }
    }

    /// Merges the state of later reduced rows (a tile, or a chunk of the 2D scheme) into `s`.
    fn merge(self, w: &mut Ptx, s: &State, later: &State) {
        let t = w.ty();
        match self {
            Rule::Sum => {
                for (a, x) in s.vals.iter().zip(&later.vals) {
                    w.op(format!("add.rn.{t} {a}, {a}, {x}"));
                }
            }
            Rule::LogSumExp | Rule::SoftMax => {
                add_exp(w, &s.vals[0], &s.vals[1..], &later.vals[0], &later.vals[1..])
            }
            Rule::Extremum { max } => {
                for (c, (x, j)) in later.vals.iter().zip(&later.idx).enumerate() {
                    better(w, max, s, c, x, j);
                }
            }
            Rule::KMin { k } => {
                let nf = s.vals.len() / k;
                for c in 0..nf {
                    let slots: Vec<(&String, &String)> =
                        (0..k).map(|n| (&s.vals[n * nf + c], &s.idx[n * nf + c])).collect();
                    for n in 0..k {
                        insert(w, &slots, &later.vals[n * nf + c], &later.idx[n * nf + c]);
                    }
                }
            }
        }
    }

    /// Writes the output row: values at `values`, indices at `indices` (the row's addresses,
    /// present when the reduction has that part).
    fn finalize(self, w: &mut Ptx, s: &State, values: Option<&str>, indices: Option<&str>) {
        let t = w.ty();
        let size = size(w.dtype);
        let mut results = Vec::new();
        match self {
            Rule::Sum | Rule::Extremum { .. } | Rule::KMin { .. } => results.clone_from(&s.vals),
            Rule::LogSumExp => {
                for sum in &s.vals[1..] {
                    let log = w.function(Prim::Log, sum);
                    let r = w.temp();
                    w.op(format!("add.rn.{t} {r}, {}, {log}", s.vals[0]));
                    results.push(r);
                }
            }
            Rule::SoftMax => {
                for sum in &s.vals[2..] {
                    let r = w.temp();
                    w.op(format!("div.rn.{t} {r}, {sum}, {}", s.vals[1]));
                    results.push(r);
                }
            }
        }
        if let Some(at) = values {
            for (n, r) in results.iter().enumerate() {
                w.op(format!("st.global.{t} [{at}+{}], {r}", n * size));
            }
        }
        if let Some(at) = indices {
            for (n, i) in s.idx.iter().enumerate() {
                w.op(format!("st.global.u32 [{at}+{}], {i}", n * 4));
            }
        }
    }
}

/// The extremum update of component `c` of `s`: `x` (index `j`) replaces the best if it is
/// strictly better, so that earlier indices win ties and NaN is never selected.
fn better(w: &mut Ptx, max: bool, s: &State, c: usize, x: &str, j: &str) {
    let t = w.ty();
    let (best, idx) = (&s.vals[c], &s.idx[c]);
    let p = w.pred();
    w.op(format!("setp.{}.{t} {p}, {x}, {best}", if max { "gt" } else { "lt" }));
    w.op(format!("selp.{t} {best}, {x}, {best}, {p}"));
    w.op(format!("selp.b32 {idx}, {j}, {idx}, {p}"));
}

/// Inserts `x` (index `j`) into the sorted `slots` (value, index) if it is below the last;
/// equal values stay before it, so the lowest index wins ties, and NaN never enters. Most
/// values are above the last slot: one comparison and a branch skip them.
fn insert(w: &mut Ptx, slots: &[(&String, &String)], x: &str, j: &str) {
    let t = w.ty();
    let k = slots.len();
    let skip = w.label("kept");
    let below = w.pred();
    w.op(format!("setp.lt.{t} {below}, {x}, {}", slots[k - 1].0));
    w.op(format!("@!{below} bra {skip}"));
    // below[n]: x goes before slot n. Slot n takes slot n-1 if x goes before it, else x if x
    // goes before slot n, else keeps its own; from the last slot down, so that slot n-1 is read
    // before it changes.
    let below: Vec<String> = slots
        .iter()
        .map(|(v, _)| {
            let p = w.pred();
            w.op(format!("setp.lt.{t} {p}, {x}, {v}"));
            p
        })
        .collect();
    for n in (0..k).rev() {
        let (v, i) = slots[n];
        let (nv, ni) = (w.temp(), w.int());
        w.op(format!("selp.{t} {nv}, {x}, {v}, {}", below[n]));
        w.op(format!("selp.b32 {ni}, {j}, {i}, {}", below[n]));
        match n {
            0 => {
                w.op(format!("mov.{t} {v}, {nv}"));
                w.op(format!("mov.b32 {i}, {ni}"));
            }
            _ => {
                let (pv, pi) = slots[n - 1];
                w.op(format!("selp.{t} {v}, {pv}, {nv}, {}", below[n - 1]));
                w.op(format!("selp.b32 {i}, {pi}, {ni}, {}", below[n - 1]));
            }
        }
    }
    w.place(&skip);
}

/// The online, stable log-sum-exp update (as the CPU's `raise_max` and `accumulate`): with the
/// pair `(mx, sums)` standing for `exp(mx) * sums`, adds `exp(f) * weights`. The running maximum
/// rises to include `f`, and whichever side is smaller is rescaled by `exp(-|f - mx|)`: one
/// exponential per update, none that overflows.
fn add_exp(w: &mut Ptx, mx: &str, sums: &[String], f: &str, weights: &[String]) {
    let t = w.ty();
    let above = w.pred();
    w.op(format!("setp.gt.{t} {above}, {f}, {mx}"));
    let (hi, lo) = (w.temp(), w.temp());
    w.op(format!("selp.{t} {hi}, {f}, {mx}, {above}"));
    w.op(format!("selp.{t} {lo}, {mx}, {f}, {above}"));
    let d = w.temp();
    w.op(format!("sub.rn.{t} {d}, {lo}, {hi}"));
    // Equal values weigh the same (`exp(0) = 1`), also when both are infinite and their
    // difference is NaN, as on the CPU; a NaN `f` makes the scale NaN, which propagates.
    let zero = w.literal(0.0);
    w.choose(&d, "eq", &lo, &hi, &zero, &d);
    w.op(format!("mov.{t} {mx}, {hi}"));
    let scale = w.function(Prim::Exp, &d);
    for (s, x) in sums.iter().zip(weights) {
        let (kept, scaled) = (w.temp(), w.temp());
        w.op(format!("fma.rn.{t} {kept}, {s}, {scale}, {x}"));
        w.op(format!("fma.rn.{t} {scaled}, {x}, {scale}, {s}"));
        w.op(format!("selp.{t} {s}, {kept}, {scaled}, {above}"));
    }
}

#[cfg(test)]
mod emulator;
#[cfg(test)]
mod tests;
