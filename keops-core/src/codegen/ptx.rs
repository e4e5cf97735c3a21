//! The PTX code generator: GPU kernels as PTX text, printed at compile time from the same staged
//! scalar program as the Rust kernels ([`super::lower_kernel`]).
//!
//! Only basic [`Prim`]s reach a backend (the transcendental functions are already expanded into
//! them), and each has exactly one lowering here (`Ptx::prim`), with the reference semantics of
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
//! # Large kernels
//!
//! A kernel whose output-row features, reduction states (tile and total) and reduced-row
//! features take more than `LARGE_WORDS` (160) 32-bit registers (e.g. a Gaussian kernel in
//! dimension 256; D = 64 in f32 is 140 and stays as above) would spill if it kept all of them
//! in registers, so it keeps part of them in shared memory instead (`Large`):
//!
//! - the output row's features beyond the first `RESIDENT_WORDS` (128) words, and the
//!   reduction states when they take more than `STATE_WORDS` (32) words, live in per-thread
//!   slots: slot `k` of thread `t` at `(k * block + t) * bytes`, so that a warp's accesses fall
//!   in distinct banks; the tile of reduced-row features follows the slots;
//! - the pair program is streamed: each component of the formulas is computed right before the
//!   reduction takes it in, each feature is loaded from shared memory right before its first
//!   use, and values of one instruction on features (the differences of a distance) are
//!   computed again where they are used rather than kept live;
//! - values are stored to shared memory as soon as the prepasses compute them, and the final
//!   results written out as soon as they are loaded or computed;
//! - [`ENTRY_MERGE`] merges a state of more than `MERGE_WORDS` (64) words (merged and loaded
//!   together) a group of components at a time (sums and selections; log-sum-exp and soft-max
//!   states are merged whole).
//!
//! Every value is the one the small kernels compute, by the same instructions, but for sums of
//! per-pair products, which a small kernel fuses into its accumulators (see [`module()`]) and a
//! large one rounds before adding. The block is
//! the largest power of two up to 256 threads whose shared memory fits in 48 KiB, when that is a
//! warp or more; otherwise the largest up to 32 that fits in `SHARED_OPT_IN` (96 KiB, what
//! every device of compute capability 7.0 or more grants with an opt-in, 7.5 apart), down to a
//! single thread. Dimension-256 kernels take 8 to 32 threads and 48 to 78 KiB per block, and
//! about 170 registers.
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
//!   of `block` threads with `block * Module::shared_per_thread` bytes of dynamic shared
//!   memory, where `block` is [`Module::block`], the size chosen for the kernel (a small kernel
//!   also runs with any other multiple of 32 up to 1024; a large kernel's shared memory is laid
//!   out for at most [`Module::block`] threads). [`Module::block`] keeps the shared memory within
//!   the 48 KiB every device grants, except for kernels with more than 1536 bytes of features
//!   per reduced row and some large kernels, for which the runtime must raise the function's
//!   dynamic shared memory limit (or the launch fails); none needs more than 96 KiB.
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
//! kernel yet. Large dimensions are unrolled (no loops over components): a large kernel's code
//! grows with its dimension, but its registers do not.
//!
//! # Testing without a GPU
//!
//! The unit tests run the kernels in an emulator of the PTX subset emitted here, bit for bit
//! against the CPU semantics of every primitive and against the reference evaluator for every
//! reduction, in both schemes, small and large kernels; `tests/ptxas.rs` assembles the modules
//! with a real `ptxas` and checks that the D = 3 Gaussian kernels and the D = 256 kernels do not
//! spill.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::backward::{Auxiliary, Backward};
use crate::check::Kernel;
use crate::codegen::{Lowered, lower_kernel};
use crate::ir::{DType, Role};
use crate::lower::{Inst, Level, Operand, Program, Staged, Val};
use crate::prim::Prim;
use crate::reduction::{Accumulator, Reduction, ReductionKind, SumScheme};

pub use keops_abi::{ENTRY, ENTRY_2D, ENTRY_MERGE};

/// Threads per block, unless the tile of reduced-row features would not fit in [`SHARED`].
const BLOCK: usize = 256;

/// Shared memory a tile may take: what every device grants without an opt-in.
const SHARED: usize = 48 * 1024;

/// Shared memory a block of a large kernel may take when [`SHARED`] does not hold a warp: what
/// the devices of compute capability 7.0 and above (7.5 apart) grant with an opt-in.
const SHARED_OPT_IN: usize = 96 * 1024;

/// 32-bit registers of output-row features, reduction states (tile and total) and reduced-row
/// features above which a kernel is large ([`Large`]). Below it (a 64-dimensional Gaussian
/// kernel in f32 is 140), everything stays in registers.
const LARGE_WORDS: usize = 160;

/// 32-bit registers a large kernel keeps output-row features in; the others live in shared
/// memory.
const RESIDENT_WORDS: usize = 128;

/// 32-bit registers a large kernel's reduction states (tile and total) may take; a larger state
/// lives in shared memory.
const STATE_WORDS: usize = 32;

/// 32-bit registers of the merged and the loaded state that [`ENTRY_MERGE`] works on at a
/// time: a wider state is merged a group of components at a time.
const MERGE_WORDS: usize = 64;

/// A GPU kernel as the generator makes it: its PTX text and launch geometry, with the names
/// the Rust generator gives the kernel types.
pub type Module = keops_abi::GpuModule<String>;

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
///
/// A small kernel's sum of per-pair products (`K(x_i, y_j) * b_j`) accumulates each product with
/// one fused multiply-add, as the CPU kernels do (see [`Lowered::factored`]): one instruction
/// a component instead of two, and the same rounding as the CPU's. A large kernel streams its
/// components one at a time and keeps the plain products.
pub fn module(kernel: &Kernel, name: String) -> Module {
    let lowered = lower_kernel(kernel);
    let spec = |lowered| {
        let mut spec = Spec {
            dtype: kernel.dtype,
            vars: kernel.params.iter().map(|p| (p.role, p.dim)).collect(),
            reduction: kernel.reduction,
            lowered,
            about: kernel.text.split_whitespace().collect::<Vec<_>>().join(" "),
            large: None,
        };
        spec.large = spec.large();
        spec
    };
    let factored = match kernel.reduction.kind.spec().accumulator {
        Accumulator::Sum if !kernel.reduction.compensated() => lowered.factored(kernel),
        _ => None,
    };
    if let Some(products) = &factored {
        let fused = spec(products);
        if fused.large.is_none() {
            return fused.module(name);
        }
    }
    spec(&lowered).module(name)
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
    let reduction = Reduction { kind: ReductionKind::Sum, k: 1, over: Role::J, scheme: SumScheme::Block };
    let vars = vec![(Role::I, 1), (Role::J, 2)];
    let about = "every basic primitive".to_string();
    let mut spec = Spec { dtype, vars, reduction, lowered: &lowered, about, large: None };
    spec.large = spec.large();
    spec.module(format!("primitives_{}", dtype.name()))
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
    /// The placement of a large kernel's values ([`Spec::large`]).
    large: Option<Large>,
}

/// Where a large kernel keeps what does not fit in registers: per-thread slots in shared memory,
/// slot `k` of thread `t` at `(k * block + t) * bytes` (so that a warp's accesses fall in
/// distinct banks), the float slots first (the output-row features that are not resident, then
/// the states), then the `u32` slots of the states' indices, then the tile of reduced-row
/// features as for small kernels.
#[derive(Clone, Debug)]
struct Large {
    /// Threads per block, which the slot layout is built for: a launch must have at most as
    /// many.
    block: usize,
    /// The output-row features kept in shared memory, and their float slots.
    outer: HashMap<Val, usize>,
    /// Whether the reduction states live in shared memory.
    state: bool,
    /// Float slots per thread (the `u32` slots follow).
    floats: usize,
    /// Bytes of slots per thread, a multiple of 8.
    slot_bytes: usize,
}

/// Allocates a large kernel's per-thread slots, in the order of [`Large`].
struct Slots {
    /// The thread's first float slot and first `u32` slot.
    floats: String,
    ints: String,
    /// Bytes between two slots of a thread: `block * bytes`.
    float_stride: usize,
    int_stride: usize,
    next_float: usize,
    next_int: usize,
}

impl Slots {
    fn float(&mut self) -> Loc {
        self.next_float += 1;
        Loc::Shared {
            base: self.floats.clone(),
            offset: (self.next_float - 1) * self.float_stride,
            int: false,
        }
    }

    fn int(&mut self) -> Loc {
        self.next_int += 1;
        Loc::Shared { base: self.ints.clone(), offset: (self.next_int - 1) * self.int_stride, int: true }
    }
}

impl Spec<'_> {
    fn staged(&self) -> &Staged {
        &self.lowered.staged
    }

    /// Words (32-bit registers) of `n` floats of the kernel's type.
    fn words(&self, n: usize) -> usize {
        n * size(self.dtype) / 4
    }

    /// Bytes of one reduced row's features in the shared tile. A small kernel's rows are padded
    /// to start on a 16-byte boundary (on 4 or 8 for smaller rows): the machine code then loads
    /// and stores four floats (two doubles) per instruction, where a row of 3 or 65 floats took
    /// one per float. A large kernel's are not: it loads each feature right before its use, and
    /// wider loads would keep features live early and spill.
    fn row_bytes(&self) -> usize {
        let bytes = self.staged().inner_features.len() * size(self.dtype);
        match bytes {
            _ if self.large.is_some() => bytes,
            0..=16 => bytes.next_power_of_two() * usize::from(bytes > 0),
            _ => bytes.next_multiple_of(16),
        }
    }

    /// The placement of a large kernel's values, or `None` for a kernel small enough to keep
    /// everything in registers (see [`LARGE_WORDS`]).
    fn large(&self) -> Option<Large> {
        let staged = self.staged();
        let (nf, ng) = (self.lowered.nf, self.lowered.ng());
        let rule = Rule(self.reduction);
        let (nv, ni) = rule.widths(nf, ng);
        let copies = if rule.tiled() { 2 } else { 1 };
        let state_words = copies * (self.words(nv) + ni);
        let (outer, inner) = (staged.outer_features.len(), staged.inner_features.len());
        if self.words(outer + inner) + state_words <= LARGE_WORDS {
            return None;
        }
        let state = state_words > STATE_WORDS;
        let budget = RESIDENT_WORDS.saturating_sub(if state { 0 } else { state_words });
        let resident = budget * 4 / size(self.dtype);
        let shared_outer: HashMap<Val, usize> =
            staged.outer_features.iter().skip(resident).enumerate().map(|(k, &v)| (v, k)).collect();
        let floats = shared_outer.len() + if state { copies * nv } else { 0 };
        let ints = if state { copies * ni } else { 0 };
        let slot_bytes = (floats * size(self.dtype) + ints * 4).next_multiple_of(8);
        let per_thread = slot_bytes + inner * size(self.dtype);
        let powers = || (0..=BLOCK.trailing_zeros()).rev().map(|k| 1usize << k);
        let block = match powers().find(|&b| b * per_thread <= SHARED) {
            Some(b) if b >= 32 => b,
            _ => powers().find(|&b| b <= 32 && b * per_thread <= SHARED_OPT_IN).unwrap_or(1),
        };
        Some(Large { block, outer: shared_outer, state, floats, slot_bytes })
    }

    fn module(&self, name: String) -> Module {
        let mut per_thread = self.row_bytes();
        let block = match (per_thread, &self.large) {
            (_, Some(large)) => {
                per_thread += large.slot_bytes;
                large.block
            }
            (0, None) => BLOCK,
            (n, None) => (SHARED / n / 32 * 32).clamp(32, BLOCK),
        };
        let block = u32::try_from(block).unwrap_or_else(|_| unreachable!("block sizes are at most {BLOCK}"));
        let shared_per_thread = u32::try_from(per_thread).unwrap_or(u32::MAX);
        let (nf, ng) = (self.lowered.nf, self.lowered.ng());
        let (pv, pi) = Rule(self.reduction).widths(nf, ng);
        let partial_widths = (u32::try_from(pv).unwrap_or(u32::MAX), u32::try_from(pi).unwrap_or(u32::MAX));
        Module { name, ptx: self.text(), block, shared_per_thread, partial_widths }
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
        // A large kernel's per-thread slots, and where its tile starts.
        let mut slots = self.large.as_ref().map(|large| self.slots(w, large, &tid));

        // The output row's features, in registers (or stored to their slots).
        let outer_done = w.label("outer_done");
        w.op(format!("@!{active} bra {outer_done}"));
        match (&self.large, &slots) {
            (Some(large), Some((slots, _))) => {
                let home = |v: Val| {
                    large.outer.get(&v).map(|&k| format!("{}+{}", slots.floats, k * slots.float_stride))
                };
                self.prepass(w, outer, &row, &inputs, Some(&home));
            }
            _ => self.prepass(w, outer, &row, &inputs, None),
        }
        w.place(&outer_done);

        let rule = Rule(self.reduction);
        let in_shared = self.large.as_ref().is_some_and(|l| l.state);
        let mut state = |w: &mut Ptx| match (&mut slots, in_shared) {
            (Some((slots, _)), true) => rule.state_in(slots, nf, ng),
            _ => rule.state(w, nf, ng),
        };
        let total = state(w);
        rule.init(w, &total);
        let tile = rule.tiled().then(|| state(w));
        let shared = match &slots {
            Some((_, tile)) => tile.clone(),
            None => {
                let shared = w.int();
                w.op(format!("mov.u32 {shared}, keops_shared"));
                shared
            }
        };
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
                self.pairs(w, rule, tile, [&start, &count, &shared], slots.as_ref().map(|s| &s.0));
                rule.merge(w, &total, tile);
            }
            None => self.pairs(w, rule, &total, [&start, &count, &shared], slots.as_ref().map(|s| &s.0)),
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
    /// (their features in shared memory at `shared`) into `acc`. A large kernel (its `slots`
    /// given) streams the pair program instead: see [`Spec::stream`].
    fn pairs(
        &self,
        w: &mut Ptx,
        rule: Rule,
        acc: &State,
        [start, count, shared]: [&String; 3],
        slots: Option<&Slots>,
    ) {
        let staged = self.staged();
        let stride = self.row_bytes();
        let (jj, at) = (w.int(), w.int());
        w.op(format!("mov.u32 {jj}, 0"));
        w.op(format!("mov.u32 {at}, {shared}"));
        if let (Some(slots), Some(large)) = (slots, &self.large) {
            let pair_loop = w.label("pair");
            w.place(&pair_loop);
            let j = w.int();
            w.op(format!("add.u32 {j}, {start}, {jj}"));
            self.stream(w, rule, acc, &j, &at, (slots, large));
            w.op(format!("add.u32 {jj}, {jj}, 1"));
            w.op(format!("add.u32 {at}, {at}, {stride}"));
            let more = w.pred();
            w.op(format!("setp.lt.u32 {more}, {jj}, {count}"));
            w.op(format!("@{more} bra {pair_loop}"));
            return;
        }
        // Groups of `unroll` pairs while the tile has them, then one at a time: the pairs are
        // still folded in order, so the results do not change, but a small formula no longer
        // spends a tenth of its instructions on the loop.
        let schedule = staged.pair_schedule();
        let unroll = pair_unroll(schedule.len());
        if unroll > 1 {
            let (group_loop, rest) = (w.label("pair_group"), w.label("pair_rest"));
            w.place(&group_loop);
            let (next, short) = (w.int(), w.pred());
            w.op(format!("add.u32 {next}, {jj}, {unroll}"));
            w.op(format!("setp.gt.u32 {short}, {next}, {count}"));
            w.op(format!("@{short} bra {rest}"));
            for u in 0..unroll {
                self.pair(w, rule, acc, &schedule, [start, &jj, &at], u);
            }
            w.op(format!("mov.u32 {jj}, {next}"));
            w.op(format!("add.u32 {at}, {at}, {}", unroll * stride));
            w.op(format!("bra {group_loop}"));
            w.place(&rest);
        }
        let (pair_loop, end) = (w.label("pair"), w.label("pairs_end"));
        w.place(&pair_loop);
        let over = w.pred();
        w.op(format!("setp.ge.u32 {over}, {jj}, {count}"));
        w.op(format!("@{over} bra {end}"));
        self.pair(w, rule, acc, &schedule, [start, &jj, &at], 0);
        w.op(format!("add.u32 {jj}, {jj}, 1"));
        w.op(format!("add.u32 {at}, {at}, {stride}"));
        w.op(format!("bra {pair_loop}"));
        w.place(&end);
    }

    /// One pair of a small kernel: the reduced row `start + jj + u`, its features at
    /// `at + u * stride` in shared memory, computed by `schedule` (the pair schedule) and
    /// folded into `acc`.
    fn pair(
        &self,
        w: &mut Ptx,
        rule: Rule,
        acc: &State,
        schedule: &[Val],
        [start, jj, at]: [&String; 3],
        u: usize,
    ) {
        let staged = self.staged();
        let size = size(self.dtype);
        let base = u * self.row_bytes();
        let t = w.ty();
        for (k, &v) in staged.inner_features.iter().enumerate() {
            w.op(format!("ld.shared.{t} {}, [{at}+{}]", value(v), base + k * size));
        }
        for &v in schedule {
            self.emit(w, v);
        }
        let j = w.int();
        w.op(format!("add.u32 {j}, {start}, {jj}"));
        if u > 0 {
            w.op(format!("add.u32 {j}, {j}, {u}"));
        }
        let outputs: Vec<String> = staged.outputs.iter().map(|&v| self.operand(w, v)).collect();
        let nf = self.lowered.nf;
        rule.step(w, acc, &outputs[..nf], &outputs[nf..], &j);
    }

    /// The pair program of a large kernel, folded into `acc` as it goes: each component of the
    /// formulas is computed right before the reduction takes it in (so that a wide formula is
    /// never all live at once), each feature is loaded from shared memory right before its
    /// first use (the reduced row's from the tile row at `at`, the output row's from its slot
    /// unless it is resident), and every value is the one the small kernels compute.
    fn stream(
        &self,
        w: &mut Ptx,
        rule: Rule,
        acc: &State,
        j: &str,
        at: &str,
        (slots, large): (&Slots, &Large),
    ) {
        let staged = self.staged();
        let size = size(self.dtype);
        let order = staged.pair_schedule();
        let position: HashMap<Val, usize> = order.iter().enumerate().map(|(k, &v)| (v, k)).collect();
        let pair = |v: Val| staged.levels[v.index()] == Level::PAIR;
        // One instruction on features and constants: computed again where it is used rather
        // than kept live (the 256 differences of a distance that a gradient uses twice).
        let cheap = |v: Val| pair(v) && !staged.program.inst(v).operands().iter().any(|&a| pair(a));
        let mut done = vec![false; staged.program.insts().len()];
        // Features and cheap values, made available where they are used.
        let provide = |w: &mut Ptx, done: &mut [bool], transient: &mut Vec<Val>, v: Val| {
            if done[v.index()] {
                return;
            }
            let t = w.ty();
            let available = |w: &mut Ptx, v: Val| match staged.operand(v) {
                Operand::Inner(k) => {
                    w.op(format!("ld.shared.{t} {}, [{at}+{}]", value(v), k * size));
                    true
                }
                Operand::Outer(_) => {
                    if let Some(&k) = large.outer.get(&v) {
                        let offset = k * slots.float_stride;
                        w.op(format!("ld.shared.{t} {}, [{}+{offset}]", value(v), slots.floats));
                    }
                    true
                }
                Operand::Pair(_) | Operand::Const(_) => false,
            };
            if !cheap(v) {
                if available(w, v) {
                    done[v.index()] = true;
                    transient.push(v);
                }
                return;
            }
            for &a in staged.program.inst(v).operands() {
                if !done[a.index()] && available(w, a) {
                    done[a.index()] = true;
                    transient.push(a);
                }
            }
            self.emit(w, v);
            done[v.index()] = true;
            transient.push(v);
        };
        // Computes `target` (and loads it if it is a feature); returns it as an operand. The
        // features and cheap values of the previous target are forgotten.
        let mut transient: Vec<Val> = Vec::new();
        let mut compute = |w: &mut Ptx, target: Val| -> String {
            for v in transient.drain(..) {
                done[v.index()] = false;
            }
            let mut needed = Vec::new();
            let mut stack = vec![target];
            let mut seen = std::collections::HashSet::new();
            while let Some(v) = stack.pop() {
                if done[v.index()] || !pair(v) || cheap(v) || !seen.insert(v) {
                    continue;
                }
                needed.push(v);
                stack.extend_from_slice(staged.program.inst(v).operands());
            }
            needed.sort_by_key(|v| position[v]);
            for &v in &needed {
                for &a in staged.program.inst(v).operands() {
                    provide(w, &mut done, &mut transient, a);
                }
                self.emit(w, v);
                done[v.index()] = true;
            }
            provide(w, &mut done, &mut transient, target);
            self.operand(w, target)
        };
        let nf = self.lowered.nf;
        let (f, g) = staged.outputs.split_at(nf);
        if rule.per_component() {
            for (c, &v) in f.iter().enumerate() {
                let x = compute(w, v);
                rule.step_component(w, acc, nf, c, &x, j);
            }
            return;
        }
        let x = compute(w, f[0]);
        let head = exp_head(w, &acc.vals[0], &x);
        let mut weights: Vec<Option<Val>> = g.iter().copied().map(Some).collect();
        if rule.accumulator() == Accumulator::SoftMax || g.is_empty() {
            weights.insert(0, None);
        }
        for (s, weight) in acc.vals[1..].iter().zip(weights) {
            let x = match weight {
                Some(v) => compute(w, v),
                None => w.literal(1.0),
            };
            exp_update(w, s, &x, &head);
        }
    }

    /// A large kernel's per-thread slots (the states' still to allocate) and the start of its
    /// tile, for the thread `tid`.
    fn slots(&self, w: &mut Ptx, large: &Large, tid: &str) -> (Slots, String) {
        let size = size(self.dtype);
        let shared = w.int();
        w.op(format!("mov.u32 {shared}, keops_shared"));
        let floats = w.int();
        w.op(format!("mad.lo.u32 {floats}, {tid}, {size}, {shared}"));
        let ints = w.int();
        w.op(format!("mad.lo.u32 {ints}, {tid}, 4, {shared}"));
        w.op(format!("add.u32 {ints}, {ints}, {}", large.block * large.floats * size));
        let tile = w.int();
        w.op(format!("add.u32 {tile}, {shared}, {}", large.block * large.slot_bytes));
        let slots = Slots {
            floats,
            ints,
            float_stride: large.block * size,
            int_stride: large.block * 4,
            next_float: large.outer.len(),
            next_int: 0,
        };
        (slots, tile)
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
        let rule = Rule(self.reduction);
        let (nv, ni) = rule.widths(nf, ng);
        let words = 2 * (self.words(nv) + ni);
        if words <= MERGE_WORDS || !rule.per_component() {
            let (total, later) = (rule.state(w, nf, ng), rule.state(w, nf, ng));
            self.merge_chunks(
                w,
                rule,
                (&total, &later),
                [&partial_values, &partial_indices],
                [&outer_rows, &chunks, &row],
            );
            self.finish(w, rule, &total, [&values, &indices, &row]);
        } else {
            // A wide state, a group of components at a time (each merged as a whole state).
            let (vw, iw) = self.widths();
            let values = (vw > 0).then(|| w.row_address(&values, &row, vw * size(self.dtype)));
            let indices = (iw > 0).then(|| w.row_address(&indices, &row, iw * 4));
            let group = (MERGE_WORDS * nf / words).max(1);
            for first in (0..nf).step_by(group) {
                let comps = first..(first + group).min(nf);
                let (total, later) = (rule.group_state(w, nf, comps.clone()), rule.group_state(w, nf, comps));
                self.merge_chunks(
                    w,
                    rule,
                    (&total, &later),
                    [&partial_values, &partial_indices],
                    [&outer_rows, &chunks, &row],
                );
                rule.finalize(w, &total, values.as_deref(), indices.as_deref());
            }
        }
        w.place(&exit);
        w.op("ret");
    }

    /// Merges the partial results of output row `row` from the `chunks` chunks into `total`
    /// (through `later`), in order.
    fn merge_chunks(
        &self,
        w: &mut Ptx,
        rule: Rule,
        (total, later): (&State, &State),
        [partial_values, partial_indices]: [&String; 2],
        [outer_rows, chunks, row]: [&String; 3],
    ) {
        rule.init(w, total);
        let (y, slot) = (w.int(), w.int());
        w.op(format!("mov.u32 {y}, 0"));
        let (next, done) = (w.label("chunk"), w.label("merged"));
        w.place(&next);
        let finished = w.pred();
        w.op(format!("setp.ge.u32 {finished}, {y}, {chunks}"));
        w.op(format!("@{finished} bra {done}"));
        w.op(format!("mad.lo.u32 {slot}, {y}, {outer_rows}, {row}"));
        rule.load(w, later, partial_values, partial_indices, &slot);
        rule.merge(w, total, later);
        w.op(format!("add.u32 {y}, {y}, 1"));
        w.op(format!("bra {next}"));
        w.place(&done);
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
        if self.large.is_some() {
            // Each feature stored as soon as it is computed.
            let at = w.int();
            w.op(format!("mad.lo.u32 {at}, {tid}, {}, {shared}", self.row_bytes()));
            let home = |v: Val| inner.iter().position(|&f| f == v).map(|k| format!("{at}+{}", k * size));
            self.prepass(w, inner, &j, inputs, Some(&home));
        } else {
            self.prepass(w, inner, &j, inputs, None);
            let at = w.int();
            w.op(format!("mad.lo.u32 {at}, {tid}, {}, {shared}", self.row_bytes()));
            let t = w.ty();
            for (k, &v) in inner.iter().enumerate() {
                w.op(format!("st.shared.{t} [{at}+{}], {}", k * size, value(v)));
            }
        }
        w.place(&staged_label);
        w.op("bar.sync 0");
    }

    /// Computes `features` for the row `row` of their side, into their value registers; those
    /// that `home` gives a shared-memory address (`base+offset`) are stored there as soon as
    /// they are computed.
    fn prepass(
        &self,
        w: &mut Ptx,
        features: &[Val],
        row: &str,
        inputs: &[String],
        home: Option<&dyn Fn(Val) -> Option<String>>,
    ) {
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
            if let Some(at) = home.and_then(|home| home(v)) {
                let t = w.ty();
                w.op(format!("st.shared.{t} [{at}], {}", value(v)));
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

/// Pairs per iteration of a small kernel's pair loop, for a pair program of `len` instructions:
/// four while the copies stay small next to the instruction cache, then two, then one.
fn pair_unroll(len: usize) -> usize {
    match len {
        0..=96 => 4,
        97..=384 => 2,
        _ => 1,
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
            // The expanded primitives (`Prim::is_expanded`), which never reach a backend: the tests of
            // every basic primitive would fail here on a basic one.
            expanded => {
                unreachable!(
                    "`{}` is expanded into basic primitives before code generation",
                    expanded.method()
                )
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
        let scale = self.power_of_two(&k);
        self.op(format!("mul.rn.{t} {y}, {y}, {scale}"));
        let nan = self.pred();
        self.op(format!("setp.nan.{t} {nan}, {n}, {n}"));
        self.op(format!("selp.{t} {d}, {n}, {y}, {nan}"));
    }

    /// `Prim::LdexpInt`: `(x 2^h) 2^(n - h)` with `h = floor(n / 2)`, both powers built in the
    /// exponent field, for the integer `n` and the `x` near 1 of the exp expansion.
    fn ldexp_int(&mut self, d: &str, x: &str, n: &str) {
        let t = self.ty();
        let k = self.int();
        self.op(format!("cvt.rni.s32.{t} {k}, {n}"));
        let half = self.int();
        self.op(format!("shr.s32 {half}, {k}, 1"));
        self.op(format!("sub.s32 {k}, {k}, {half}"));
        let y = self.temp();
        self.op(format!("mov.{t} {y}, {x}"));
        for e in [half, k] {
            let scale = self.power_of_two(&e);
            self.op(format!("mul.rn.{t} {y}, {y}, {scale}"));
        }
        self.op(format!("mov.{t} {d}, {y}"));
    }

    /// `2^e` as a float register, built in the exponent field from the `s32` register `e`
    /// (overwritten), which must hold a normal exponent.
    fn power_of_two(&mut self, e: &str) -> String {
        let f = format(self.dtype);
        let scale = self.temp();
        match self.dtype {
            DType::F32 => {
                // Shifted, then biased: one instruction (LEA) in the machine code.
                self.op(format!("shl.b32 {e}, {e}, {}", f.mantissa));
                self.op(format!("add.s32 {e}, {e}, {}", f.bias << f.mantissa));
                self.op(format!("mov.b32 {scale}, {e}"));
            }
            DType::F64 => {
                self.op(format!("add.s32 {e}, {e}, {}", f.bias));
                let w = self.wide();
                self.op(format!("cvt.u64.u32 {w}, {e}"));
                self.op(format!("shl.b64 {w}, {w}, {}", f.mantissa));
                self.op(format!("mov.b64 {scale}, {w}"));
            }
        }
        scale
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

/// Where a value of a reduction state lives: a register, or a per-thread slot of a large
/// kernel's shared memory.
#[derive(Clone, Debug)]
enum Loc {
    Reg(String),
    /// At `[base+offset]` in shared memory; `int` for a `u32`, else a float of the kernel's type.
    Shared {
        base: String,
        offset: usize,
        int: bool,
    },
}

/// A reduction's state: values (floats) and indices (`u32`), each at a position of the state
/// (their index in `0..width`, where they are loaded from, stored to and written out).
struct State {
    vals: Vec<Loc>,
    idx: Vec<Loc>,
    /// Positions of `vals` and `idx` in the whole state.
    at: (Vec<usize>, Vec<usize>),
    /// Floats and indices of the whole state.
    width: (usize, usize),
}

impl State {
    fn new(vals: Vec<Loc>, idx: Vec<Loc>) -> State {
        let at = ((0..vals.len()).collect(), (0..idx.len()).collect());
        State { width: (vals.len(), idx.len()), vals, idx, at }
    }
}

impl Ptx {
    /// The value at `l` in a register: its own, or a fresh one loaded from shared memory.
    fn get(&mut self, l: &Loc) -> String {
        match l {
            Loc::Reg(r) => r.clone(),
            Loc::Shared { base, offset, int } => {
                let (r, ty) = if *int { (self.int(), "u32") } else { (self.temp(), self.ty()) };
                self.op(format!("ld.shared.{ty} {r}, [{base}+{offset}]"));
                r
            }
        }
    }

    /// Stores `r` (the register [`Ptx::get`] gave for `l`, updated) back to `l`.
    fn put(&mut self, l: &Loc, r: &str) {
        match l {
            Loc::Reg(d) => debug_assert_eq!(d, r, "registers are updated in place"),
            Loc::Shared { base, offset, int } => {
                let ty = if *int { "u32" } else { self.ty() };
                self.op(format!("st.shared.{ty} [{base}+{offset}], {r}"));
            }
        }
    }

    /// Sets the shared slot `l` to the constant `c` (an operand of its type).
    fn set(&mut self, l: &Loc, c: &str) {
        let (reg, ty) = match l {
            Loc::Reg(_) => unreachable!("registers are set by `Rule::init`"),
            Loc::Shared { int: true, .. } => (self.int(), "u32"),
            Loc::Shared { int: false, .. } => (self.temp(), self.ty()),
        };
        self.op(format!("mov.{ty} {reg}, {c}"));
        self.put(l, &reg);
    }
}

/// How a reduction initialises, updates, merges and finalises its [`State`], as the CPU's
/// reducers do: the reduction's accumulator (with its K, and the scheme of a sum), read from the
/// reduction table.
#[derive(Clone, Copy)]
struct Rule(Reduction);

impl Rule {
    fn accumulator(self) -> Accumulator {
        self.0.kind.spec().accumulator
    }

    /// Whether the sums are compensated (a sum and an error per component).
    fn compensated(self) -> bool {
        self.0.compensated()
    }

    /// Whether tiles accumulate apart and merge into the total (the block sum).
    fn tiled(self) -> bool {
        matches!(self.accumulator(), Accumulator::Sum | Accumulator::LogSumExp { .. } | Accumulator::SoftMax)
    }

    /// Whether each component of the formula has its own part of the state (its value and
    /// index, or its `k` slots), written out as is.
    fn per_component(self) -> bool {
        matches!(self.accumulator(), Accumulator::Sum | Accumulator::Extremum { .. } | Accumulator::KMin)
    }

    /// The floats and indices of the state, for `nf` and `ng` formula components.
    fn widths(self, nf: usize, ng: usize) -> (usize, usize) {
        self.0.state_widths(nf, ng)
    }

    /// A state in registers.
    fn state(self, w: &mut Ptx, nf: usize, ng: usize) -> State {
        let (nv, ni) = self.widths(nf, ng);
        let vals = (0..nv).map(|_| Loc::Reg(w.temp())).collect();
        let idx = (0..ni).map(|_| Loc::Reg(w.int())).collect();
        State::new(vals, idx)
    }

    /// A state in the shared-memory slots of a large kernel.
    fn state_in(self, slots: &mut Slots, nf: usize, ng: usize) -> State {
        let (nv, ni) = self.widths(nf, ng);
        let vals = (0..nv).map(|_| slots.float()).collect();
        let idx = (0..ni).map(|_| slots.int()).collect();
        State::new(vals, idx)
    }

    /// The part of a [`Rule::per_component`] state of `nf` components that holds the components
    /// `comps`, in registers.
    fn group_state(self, w: &mut Ptx, nf: usize, comps: std::ops::Range<usize>) -> State {
        let (nv, ni) = self.widths(nf, 0);
        let slots = nv / nf;
        let vat: Vec<usize> = (0..slots).flat_map(|n| comps.clone().map(move |c| n * nf + c)).collect();
        let iat: Vec<usize> = if ni == 0 { vec![] } else { vat.clone() };
        let vals = vat.iter().map(|_| Loc::Reg(w.temp())).collect();
        let idx = iat.iter().map(|_| Loc::Reg(w.int())).collect();
        State { vals, idx, at: (vat, iat), width: (nv, ni) }
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
        let parts = [
            (&s.vals, &s.at.0, s.width.0, values, w.ty(), size),
            (&s.idx, &s.at.1, s.width.1, indices, "u32", 4),
        ];
        for (locs, at, width, base, ty, size) in parts {
            if locs.is_empty() {
                continue;
            }
            let row = w.row_address(base, slot, width * size);
            for (l, n) in locs.iter().zip(at) {
                match (store, l) {
                    (true, _) => {
                        let r = w.get(l);
                        w.op(format!("st.global.{ty} [{row}+{}], {r}", n * size));
                    }
                    (false, Loc::Reg(r)) => w.op(format!("ld.global.{ty} {r}, [{row}+{}]", n * size)),
                    (false, Loc::Shared { int, .. }) => {
                        let r = if *int { w.int() } else { w.temp() };
                        w.op(format!("ld.global.{ty} {r}, [{row}+{}]", n * size));
                        w.put(l, &r);
                    }
                }
            }
        }
    }

    fn init(self, w: &mut Ptx, s: &State) {
        let t = w.ty();
        let first = match self.accumulator() {
            Accumulator::Sum => 0.0,
            Accumulator::Extremum { max: true, .. }
            | Accumulator::LogSumExp { .. }
            | Accumulator::SoftMax => f64::NEG_INFINITY,
            Accumulator::Extremum { max: false, .. } | Accumulator::KMin => f64::INFINITY,
        };
        let rest = if matches!(self.accumulator(), Accumulator::LogSumExp { .. } | Accumulator::SoftMax) {
            0.0
        } else {
            first
        };
        for (n, v) in s.vals.iter().enumerate() {
            let c = w.literal(if n == 0 { first } else { rest });
            match v {
                Loc::Reg(v) => w.op(format!("mov.{t} {v}, {c}")),
                _ => w.set(v, &c),
            }
        }
        for i in &s.idx {
            match i {
                Loc::Reg(i) => w.op(format!("mov.u32 {i}, 0")),
                _ => w.set(i, "0"),
            }
        }
    }

    /// Folds in the formula values `f` and `g` of reduced row `j`. A sum's `g`, if any, are the
    /// second factors of its components (`f[c] * g[c]`, fused).
    fn step(self, w: &mut Ptx, s: &State, f: &[String], g: &[String], j: &str) {
        match self.accumulator() {
            Accumulator::Sum if !g.is_empty() && !self.compensated() => {
                let t = w.ty();
                for (c, (a, b)) in f.iter().zip(g).enumerate() {
                    let acc = w.get(&s.vals[c]);
                    w.op(format!("fma.rn.{t} {acc}, {a}, {b}, {acc}"));
                    w.put(&s.vals[c], &acc);
                }
            }
            Accumulator::Sum | Accumulator::Extremum { .. } | Accumulator::KMin => {
                for (c, x) in f.iter().enumerate() {
                    self.step_component(w, s, f.len(), c, x, j);
                }
            }
            Accumulator::LogSumExp { .. } | Accumulator::SoftMax => {
                let weights = self.weights(w, g);
                add_exp(w, &s.vals[0], &s.vals[1..], &f[0], &weights);
            }
        }
    }

    /// Adds `x` to the compensated sum held at `sum` and `error` (value `sum - error`): Kahan's
    /// summation, as the CPU's `kahan_add`.
    fn kahan_add(w: &mut Ptx, sum: &Loc, error: &Loc, x: &str) {
        let t = w.ty();
        let (s, e) = (w.get(sum), w.get(error));
        let (y, total, d) = (w.temp(), w.temp(), w.temp());
        w.op(format!("sub.rn.{t} {y}, {x}, {e}"));
        w.op(format!("add.rn.{t} {total}, {s}, {y}"));
        w.op(format!("sub.rn.{t} {d}, {total}, {s}"));
        w.op(format!("sub.rn.{t} {e}, {d}, {y}"));
        w.op(format!("mov.{t} {s}, {total}"));
        w.put(sum, &s);
        w.put(error, &e);
    }

    /// The weights of the sums of a log-sum-exp or soft-max state, given the second formula's
    /// values `g`.
    fn weights(self, w: &Ptx, g: &[String]) -> Vec<Loc> {
        let one = w.literal(1.0);
        let weights: Vec<String> = match self.accumulator() {
            Accumulator::LogSumExp { .. } if g.is_empty() => vec![one],
            Accumulator::LogSumExp { .. } => g.to_vec(),
            _ => std::iter::once(one).chain(g.iter().cloned()).collect(),
        };
        weights.into_iter().map(Loc::Reg).collect()
    }

    /// [`Rule::step`] of a [`Rule::per_component`] rule, for the component `c` (value `x`) of
    /// `nf` only.
    fn step_component(self, w: &mut Ptx, s: &State, nf: usize, c: usize, x: &str, j: &str) {
        let t = w.ty();
        match self.accumulator() {
            Accumulator::Sum if self.compensated() => Self::kahan_add(w, &s.vals[c], &s.vals[nf + c], x),
            Accumulator::Sum => {
                let a = w.get(&s.vals[c]);
                w.op(format!("add.rn.{t} {a}, {a}, {x}"));
                w.put(&s.vals[c], &a);
            }
            Accumulator::Extremum { max } => better(w, max, s, c, x, j),
            Accumulator::KMin => {
                let k = self.0.k;
                let slots: Vec<(&Loc, &Loc)> =
                    (0..k).map(|n| (&s.vals[n * nf + c], &s.idx[n * nf + c])).collect();
                insert(w, &slots, x, j);
            }
            Accumulator::LogSumExp { .. } | Accumulator::SoftMax => {
                unreachable!("not a per-component reduction")
            }
        }
    }

    /// Merges the state of later reduced rows (a tile, or a chunk of the 2D scheme) into `s`.
    fn merge(self, w: &mut Ptx, s: &State, later: &State) {
        let t = w.ty();
        match self.accumulator() {
            Accumulator::Sum if self.compensated() => {
                // The sum, then the negated error, each added with compensation.
                let half = s.vals.len() / 2;
                for c in 0..half {
                    let (sum, error) = (&s.vals[c], &s.vals[half + c]);
                    let later_sum = w.get(&later.vals[c]);
                    Self::kahan_add(w, sum, error, &later_sum);
                    let later_error = w.get(&later.vals[half + c]);
                    let negated = w.temp();
                    w.op(format!("neg.{t} {negated}, {later_error}"));
                    Self::kahan_add(w, sum, error, &negated);
                }
            }
            Accumulator::Sum => {
                for (a, x) in s.vals.iter().zip(&later.vals) {
                    let r = w.get(a);
                    let x = w.get(x);
                    w.op(format!("add.rn.{t} {r}, {r}, {x}"));
                    w.put(a, &r);
                }
            }
            Accumulator::LogSumExp { .. } | Accumulator::SoftMax => {
                let f = w.get(&later.vals[0]);
                add_exp(w, &s.vals[0], &s.vals[1..], &f, &later.vals[1..])
            }
            Accumulator::Extremum { max } => {
                for (c, (x, j)) in later.vals.iter().zip(&later.idx).enumerate() {
                    let (x, j) = (w.get(x), w.get(j));
                    better(w, max, s, c, &x, &j);
                }
            }
            Accumulator::KMin => {
                let k = self.0.k;
                let nf = s.vals.len() / k;
                for c in 0..nf {
                    let slots: Vec<(&Loc, &Loc)> =
                        (0..k).map(|n| (&s.vals[n * nf + c], &s.idx[n * nf + c])).collect();
                    for n in 0..k {
                        let (x, j) = (w.get(&later.vals[n * nf + c]), w.get(&later.idx[n * nf + c]));
                        insert(w, &slots, &x, &j);
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
        // A state in shared memory stores each result as soon as it is computed.
        let streamed = s.vals.iter().any(|v| matches!(v, Loc::Shared { .. }));
        let mut stored = 0;
        let mut out = |w: &mut Ptx, r: String| match (values, streamed) {
            (Some(at), true) => {
                w.op(format!("st.global.{t} [{at}+{}], {r}", stored * size));
                stored += 1;
            }
            _ => results.push(r),
        };
        match self.accumulator() {
            Accumulator::Sum if self.compensated() => {
                // Each sum less the error it still owes.
                if let Some(at) = values {
                    let half = s.vals.len() / 2;
                    for c in 0..half {
                        let (sum, error) = (w.get(&s.vals[c]), w.get(&s.vals[half + c]));
                        let r = w.temp();
                        w.op(format!("sub.rn.{t} {r}, {sum}, {error}"));
                        w.op(format!("st.global.{t} [{at}+{}], {r}", s.at.0[c] * size));
                    }
                }
            }
            Accumulator::Sum | Accumulator::Extremum { .. } | Accumulator::KMin => {
                // Each value loaded right before it is stored.
                if let Some(at) = values {
                    for (n, v) in s.at.0.iter().zip(&s.vals) {
                        let r = w.get(v);
                        w.op(format!("st.global.{t} [{at}+{}], {r}", n * size));
                    }
                }
            }
            Accumulator::LogSumExp { raw: true } => {
                let mx = w.get(&s.vals[0]);
                out(w, mx);
                for sum in &s.vals[1..] {
                    let sum = w.get(sum);
                    out(w, sum);
                }
            }
            Accumulator::LogSumExp { raw: false } => {
                let mx = w.get(&s.vals[0]);
                for sum in &s.vals[1..] {
                    let sum = w.get(sum);
                    let log = w.function(Prim::Log, &sum);
                    let r = w.temp();
                    w.op(format!("add.rn.{t} {r}, {mx}, {log}"));
                    out(w, r);
                }
            }
            Accumulator::SoftMax => {
                let total = w.get(&s.vals[1]);
                for sum in &s.vals[2..] {
                    let sum = w.get(sum);
                    let r = w.temp();
                    w.op(format!("div.rn.{t} {r}, {sum}, {total}"));
                    out(w, r);
                }
            }
        }
        if let Some(at) = values {
            for (n, r) in results.iter().enumerate() {
                w.op(format!("st.global.{t} [{at}+{}], {r}", n * size));
            }
        }
        if let Some(at) = indices {
            for (n, i) in s.at.1.iter().zip(&s.idx) {
                let i = w.get(i);
                w.op(format!("st.global.u32 [{at}+{}], {i}", n * 4));
            }
        }
    }
}

/// The extremum update of component `c` of `s`: `x` (index `j`) replaces the best if it is
/// strictly better, so that earlier indices win ties and NaN is never selected.
fn better(w: &mut Ptx, max: bool, s: &State, c: usize, x: &str, j: &str) {
    let t = w.ty();
    let (best, idx) = (w.get(&s.vals[c]), w.get(&s.idx[c]));
    let p = w.pred();
    w.op(format!("setp.{}.{t} {p}, {x}, {best}", if max { "gt" } else { "lt" }));
    w.op(format!("selp.{t} {best}, {x}, {best}, {p}"));
    w.op(format!("selp.b32 {idx}, {j}, {idx}, {p}"));
    w.put(&s.vals[c], &best);
    w.put(&s.idx[c], &idx);
}

/// Inserts `x` (index `j`) into the sorted `slots` (value, index) if it is below the last;
/// equal values stay before it, so the lowest index wins ties, and NaN never enters. Most
/// values are above the last slot: one comparison and a branch skip them.
fn insert(w: &mut Ptx, locs: &[(&Loc, &Loc)], x: &str, j: &str) {
    let t = w.ty();
    let k = locs.len();
    let slots: Vec<(String, String)> = locs.iter().map(|(v, i)| (w.get(v), w.get(i))).collect();
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
        let (v, i) = &slots[n];
        let (nv, ni) = (w.temp(), w.int());
        w.op(format!("selp.{t} {nv}, {x}, {v}, {}", below[n]));
        w.op(format!("selp.b32 {ni}, {j}, {i}, {}", below[n]));
        match n {
            0 => {
                w.op(format!("mov.{t} {v}, {nv}"));
                w.op(format!("mov.b32 {i}, {ni}"));
            }
            _ => {
                let (pv, pi) = &slots[n - 1];
                w.op(format!("selp.{t} {v}, {pv}, {nv}, {}", below[n - 1]));
                w.op(format!("selp.b32 {i}, {pi}, {ni}, {}", below[n - 1]));
            }
        }
    }
    for ((v, i), (lv, li)) in slots.iter().zip(locs) {
        w.put(lv, v);
        w.put(li, i);
    }
    w.place(&skip);
}

/// The online, stable log-sum-exp update (as the CPU's `raise_max` and `accumulate`): with the
/// pair `(mx, sums)` standing for `exp(mx) * sums`, adds `exp(f) * weights`. The running maximum
/// rises to include `f`, and whichever side is smaller is rescaled by `exp(-|f - mx|)`: one
/// exponential per update, none that overflows.
fn add_exp(w: &mut Ptx, mx: &Loc, sums: &[Loc], f: &str, weights: &[Loc]) {
    let head = exp_head(w, mx, f);
    for (s, x) in sums.iter().zip(weights) {
        let x = w.get(x);
        exp_update(w, s, &x, &head);
    }
}

/// The first half of [`add_exp`]: raises `mx` to include `f`; returns whether `f` was above
/// and the scale of the smaller side.
fn exp_head(w: &mut Ptx, mx: &Loc, f: &str) -> (String, String) {
    let t = w.ty();
    let m = w.get(mx);
    let above = w.pred();
    w.op(format!("setp.gt.{t} {above}, {f}, {m}"));
    let (hi, lo) = (w.temp(), w.temp());
    w.op(format!("selp.{t} {hi}, {f}, {m}, {above}"));
    w.op(format!("selp.{t} {lo}, {m}, {f}, {above}"));
    let d = w.temp();
    w.op(format!("sub.rn.{t} {d}, {lo}, {hi}"));
    // Equal values weigh the same (`exp(0) = 1`), also when both are infinite and their
    // difference is NaN, as on the CPU; a NaN `f` makes the scale NaN, which propagates.
    let zero = w.literal(0.0);
    w.choose(&d, "eq", &lo, &hi, &zero, &d);
    w.op(format!("mov.{t} {m}, {hi}"));
    w.put(mx, &m);
    let scale = w.function(Prim::Exp, &d);
    (above, scale)
}

/// The second half of [`add_exp`], for one sum `s` and its weight `x`.
fn exp_update(w: &mut Ptx, s: &Loc, x: &str, (above, scale): &(String, String)) {
    let t = w.ty();
    let r = w.get(s);
    let (kept, scaled) = (w.temp(), w.temp());
    w.op(format!("fma.rn.{t} {kept}, {r}, {scale}, {x}"));
    w.op(format!("fma.rn.{t} {scaled}, {x}, {scale}, {r}"));
    w.op(format!("selp.{t} {r}, {kept}, {scaled}, {above}"));
    w.put(s, &r);
}

#[cfg(test)]
mod emulator;
#[cfg(test)]
mod tests;
