//! The bodies of a kernel's three entry points: prepasses, the tile loop over the reduced rows,
//! the pair stage (unrolled, or streamed for a large kernel), the 2D scheme's chunks and merge.

use std::collections::HashMap;

use crate::ir::Role;
use crate::lower::{Inst, Level, Operand, Val};
use crate::reduction::Accumulator;

use super::MERGE_WORDS;
use super::emit::{Class, Cmp, Emit, IntOp, Space, size};
use super::layout::{Large, Slots, Spec};
use super::rule::{Rule, State, exp_head, exp_update};

impl Spec<'_> {
    pub(crate) fn widths(&self) -> (usize, usize) {
        let ng = self.lowered.ng();
        self.reduction.widths(self.lowered.nf, ng)
    }

    /// The body of [`ENTRY`](keops_abi::ENTRY), or with `split` of [`ENTRY_2D`](keops_abi::ENTRY_2D): see the module documentation for
    /// the scheme.
    pub(crate) fn body<E: Emit>(&self, w: &mut E, split: bool) {
        let staged = self.staged();
        let (nf, ng) = (self.lowered.nf, self.lowered.ng());
        let (outer, inner) = (&staged.outer_features, &staged.inner_features);

        let inputs: Vec<String> =
            (0..self.vars.len()).map(|k| w.pointer(&format!("keops_var_{k}"))).collect();
        let (values, indices) = match split {
            false => (w.pointer("keops_values"), w.pointer("keops_indices")),
            true => (w.pointer("keops_partial_values"), w.pointer("keops_partial_indices")),
        };
        let (outer_rows, inner_rows) = (w.count("keops_outer_rows"), w.count("keops_inner_rows"));
        let (tid, ntid, row) = w.thread_row();
        let active = w.compare_int(Cmp::Lt, &row, &outer_rows);
        // A large kernel's per-thread slots, and where its tile starts.
        let mut slots = self.large.as_ref().map(|large| self.slots(w, large, &tid));

        // The output row's features, in registers (or stored to their slots).
        let outer_done = w.begin_if(&active, true, "outer_done");
        match (&self.large, &slots) {
            (Some(large), Some((slots, _))) => {
                let home =
                    |v: Val| large.outer.get(&v).map(|&k| (slots.floats.clone(), k * slots.float_stride));
                self.prepass(w, outer, &row, &inputs, Some(&home));
            }
            _ => self.prepass(w, outer, &row, &inputs, None),
        }
        w.end_if(outer_done);

        let rule = Rule(self.reduction);
        let in_shared = self.large.as_ref().is_some_and(|l| l.state);
        let mut state = |w: &mut E| match (&mut slots, in_shared) {
            (Some((slots, _)), true) => rule.state_in(slots, nf, ng),
            _ => rule.state(w, nf, ng),
        };
        let total = state(w);
        rule.init(w, &total);
        let tile = rule.tiled().then(|| state(w));
        let shared = match &slots {
            Some((_, tile)) => tile.clone(),
            None => w.shared_base(),
        };
        let (start, end) = reduced_range(w, split, &inner_rows);

        let tiles = w.begin_loop("tile", "done");
        let finished = w.compare_int(Cmp::Ge, &start, &end);
        w.break_if(&tiles, &finished);
        if !inner.is_empty() {
            self.stage_tile(w, &inputs, [&tid, &start, &end, &shared]);
        }

        // Every thread with an output row: the pairs of the tile.
        let pairs_done = w.begin_if(&active, true, "pairs_done");
        let count = w.int();
        w.int_op(IntOp::Sub, &count, &end, &start);
        w.int_op(IntOp::Min, &count, &count, &ntid);
        match &tile {
            Some(tile) => {
                rule.init(w, tile);
                self.pairs(w, rule, tile, [&start, &count, &shared], slots.as_ref().map(|s| &s.0));
                rule.merge(w, &total, tile);
            }
            None => self.pairs(w, rule, &total, [&start, &count, &shared], slots.as_ref().map(|s| &s.0)),
        }
        w.end_if(pairs_done);
        if !inner.is_empty() {
            // The next tile overwrites shared memory.
            w.barrier();
        }
        w.int_op(IntOp::Add, &start, &start, &ntid);
        w.end_loop(tiles);

        let exit = w.begin_if(&active, true, "exit");
        if split {
            // This block's partial result of the row, unfinalised, at `(y * outer_rows + row)`.
            let (y, slot) = (w.chunk_index(), w.int());
            w.mad_int(&slot, &y, &outer_rows, &row);
            rule.store(w, &total, &values, &indices, &slot);
        } else {
            self.finish(w, rule, &total, [&values, &indices, &row]);
        }
        w.end_if(exit);
    }

    /// Folds the pairs of the output row with the `count` reduced rows of the tile at `start`
    /// (their features in shared memory at `shared`) into `acc`. A large kernel (its `slots`
    /// given) streams the pair program instead: see [`Spec::stream`].
    pub(crate) fn pairs<E: Emit>(
        &self,
        w: &mut E,
        rule: Rule,
        acc: &State,
        [start, count, shared]: [&String; 3],
        slots: Option<&Slots>,
    ) {
        let staged = self.staged();
        let stride = self.row_bytes();
        let (jj, at) = (w.int(), w.int());
        w.mov_int(&jj, "0");
        w.mov_int(&at, shared);
        if let (Some(slots), Some(large)) = (slots, &self.large) {
            let pair_loop = w.begin_repeat("pair");
            let j = w.int();
            w.int_op(IntOp::Add, &j, start, &jj);
            self.stream(w, rule, acc, &j, &at, (slots, large));
            w.int_op(IntOp::Add, &jj, &jj, "1");
            w.int_op(IntOp::Add, &at, &at, &stride.to_string());
            let more = w.compare_int(Cmp::Lt, &jj, count);
            w.repeat_while(pair_loop, &more);
            return;
        }
        // Groups of `unroll` pairs while the tile has them, then one at a time: the pairs are
        // still folded in order, so the results do not change, but a small formula no longer
        // spends a tenth of its instructions on the loop.
        let schedule = staged.pair_schedule();
        let unroll = pair_unroll(schedule.len());
        if unroll > 1 {
            let groups = w.begin_loop("pair_group", "pair_rest");
            let next = w.int();
            w.int_op(IntOp::Add, &next, &jj, &unroll.to_string());
            let short = w.compare_int(Cmp::Gt, &next, count);
            w.break_if(&groups, &short);
            for u in 0..unroll {
                self.pair(w, rule, acc, &schedule, [start, &jj, &at], u);
            }
            w.mov_int(&jj, &next);
            w.int_op(IntOp::Add, &at, &at, &(unroll * stride).to_string());
            w.end_loop(groups);
        }
        let pairs = w.begin_loop("pair", "pairs_end");
        let over = w.compare_int(Cmp::Ge, &jj, count);
        w.break_if(&pairs, &over);
        self.pair(w, rule, acc, &schedule, [start, &jj, &at], 0);
        w.int_op(IntOp::Add, &jj, &jj, "1");
        w.int_op(IntOp::Add, &at, &at, &stride.to_string());
        w.end_loop(pairs);
    }

    /// One pair of a small kernel: the reduced row `start + jj + u`, its features at
    /// `at + u * stride` in shared memory, computed by `schedule` (the pair schedule) and
    /// folded into `acc`.
    pub(crate) fn pair<E: Emit>(
        &self,
        w: &mut E,
        rule: Rule,
        acc: &State,
        schedule: &[Val],
        [start, jj, at]: [&String; 3],
        u: usize,
    ) {
        let staged = self.staged();
        let size = size(self.dtype);
        let base = u * self.row_bytes();
        for (k, &v) in staged.inner_features.iter().enumerate() {
            let d = w.value(v);
            w.load(Space::Shared, Class::Float, &d, at, base + k * size);
        }
        for &v in schedule {
            self.emit(w, v);
        }
        let j = w.int();
        w.int_op(IntOp::Add, &j, start, jj);
        if u > 0 {
            w.int_op(IntOp::Add, &j, &j, &u.to_string());
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
    pub(crate) fn stream<E: Emit>(
        &self,
        w: &mut E,
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
        let provide = |w: &mut E, done: &mut [bool], transient: &mut Vec<Val>, v: Val| {
            if done[v.index()] {
                return;
            }
            let available = |w: &mut E, v: Val| match staged.operand(v) {
                Operand::Inner(k) => {
                    let d = w.value(v);
                    w.load(Space::Shared, Class::Float, &d, at, k * size);
                    true
                }
                Operand::Outer(_) => {
                    if let Some(&k) = large.outer.get(&v) {
                        let d = w.value(v);
                        w.load(Space::Shared, Class::Float, &d, &slots.floats, k * slots.float_stride);
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
        let mut compute = |w: &mut E, target: Val| -> String {
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
    pub(crate) fn slots<E: Emit>(&self, w: &mut E, large: &Large, tid: &str) -> (Slots, String) {
        let size = size(self.dtype);
        let shared = w.shared_base();
        let floats = w.int();
        w.mad_int(&floats, tid, &size.to_string(), &shared);
        let ints = w.int();
        w.mad_int(&ints, tid, "4", &shared);
        w.int_op(IntOp::Add, &ints, &ints, &(large.block * large.floats * size).to_string());
        let tile = w.int();
        w.int_op(IntOp::Add, &tile, &shared, &(large.block * large.slot_bytes).to_string());
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
    pub(crate) fn finish<E: Emit>(
        &self,
        w: &mut E,
        rule: Rule,
        total: &State,
        [values, indices, row]: [&String; 3],
    ) {
        let (vw, iw) = self.widths();
        let values = (vw > 0).then(|| w.row_address(values, row, vw * size(self.dtype)));
        let indices = (iw > 0).then(|| w.row_address(indices, row, iw * 4));
        rule.finalize(w, total, values.as_deref(), indices.as_deref());
    }

    /// The body of [`ENTRY_MERGE`](keops_abi::ENTRY_MERGE): one thread per output row merges the partial results of
    /// the chunks in order (so ties still go to the lowest index) and finalises.
    pub(crate) fn merge_body<E: Emit>(&self, w: &mut E) {
        let (nf, ng) = (self.lowered.nf, self.lowered.ng());
        let (partial_values, partial_indices) =
            (w.pointer("keops_partial_values"), w.pointer("keops_partial_indices"));
        let (values, indices) = (w.pointer("keops_values"), w.pointer("keops_indices"));
        let (outer_rows, chunks) = (w.count("keops_outer_rows"), w.count("keops_chunks"));
        let (_, _, row) = w.thread_row();
        let outside = w.compare_int(Cmp::Ge, &row, &outer_rows);
        let exit = w.begin_if(&outside, false, "exit");
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
        w.end_if(exit);
    }

    /// Merges the partial results of output row `row` from the `chunks` chunks into `total`
    /// (through `later`), in order.
    pub(crate) fn merge_chunks<E: Emit>(
        &self,
        w: &mut E,
        rule: Rule,
        (total, later): (&State, &State),
        [partial_values, partial_indices]: [&String; 2],
        [outer_rows, chunks, row]: [&String; 3],
    ) {
        rule.init(w, total);
        let (y, slot) = (w.int(), w.int());
        w.mov_int(&y, "0");
        let chunk_loop = w.begin_loop("chunk", "merged");
        let finished = w.compare_int(Cmp::Ge, &y, chunks);
        w.break_if(&chunk_loop, &finished);
        w.mad_int(&slot, &y, outer_rows, row);
        rule.load(w, later, partial_values, partial_indices, &slot);
        rule.merge(w, total, later);
        w.int_op(IntOp::Add, &y, &y, "1");
        w.end_loop(chunk_loop);
    }

    /// Computes the features of reduced row `start + tid` (if it is below `end`) into shared
    /// memory, at `shared + tid * row_bytes`, then waits for the whole tile.
    pub(crate) fn stage_tile<E: Emit>(
        &self,
        w: &mut E,
        inputs: &[String],
        [tid, start, end, shared]: [&String; 4],
    ) {
        let inner = &self.staged().inner_features;
        let size = size(self.dtype);
        let j = w.int();
        w.int_op(IntOp::Add, &j, start, tid);
        let has_row = w.compare_int(Cmp::Lt, &j, end);
        let staged_end = w.begin_if(&has_row, true, "staged");
        let row_bytes = self.row_bytes().to_string();
        if self.large.is_some() {
            // Each feature stored as soon as it is computed.
            let at = w.int();
            w.mad_int(&at, tid, &row_bytes, shared);
            let home = |v: Val| inner.iter().position(|&f| f == v).map(|k| (at.clone(), k * size));
            self.prepass(w, inner, &j, inputs, Some(&home));
        } else {
            self.prepass(w, inner, &j, inputs, None);
            let at = w.int();
            w.mad_int(&at, tid, &row_bytes, shared);
            for (k, &v) in inner.iter().enumerate() {
                let r = w.value(v);
                w.store(Space::Shared, Class::Float, &at, k * size, &r);
            }
        }
        w.end_if(staged_end);
        w.barrier();
    }

    /// Computes `features` for the row `row` of their side, into their value registers; those
    /// that `home` gives a shared-memory address (base register and byte offset) are stored
    /// there as soon as they are computed.
    pub(crate) fn prepass<E: Emit>(
        &self,
        w: &mut E,
        features: &[Val],
        row: &str,
        inputs: &[String],
        home: Option<&dyn Fn(Val) -> Option<(String, usize)>>,
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
                    let d = w.value(v);
                    w.load(Space::Input, Class::Float, &d, &base, comp * size);
                }
                Inst::Prim(..) => self.emit(w, v),
            }
            if let Some((base, offset)) = home.and_then(|home| home(v)) {
                let r = w.value(v);
                w.store(Space::Shared, Class::Float, &base, offset, &r);
            }
        }
    }

    /// The instruction defining the primitive value `v`, into its register.
    pub(crate) fn emit<E: Emit>(&self, w: &mut E, v: Val) {
        let program = &self.staged().program;
        let inst = program.inst(v);
        let Inst::Prim(prim, _) = inst else {
            unreachable!(
                "only primitives are computed per pair, and loads and constants are handled by prepasses"
            )
        };
        let args: Vec<String> = inst.operands().iter().map(|&a| self.operand(w, a)).collect();
        let d = w.value(v);
        w.prim(prim, &d, &args);
    }

    /// A value as an instruction operand: its register, or a constant's literal.
    pub(crate) fn operand<E: Emit>(&self, w: &E, v: Val) -> String {
        match self.staged().program.as_const(v) {
            Some(c) => w.literal(c),
            None => w.value(v),
        }
    }
}

/// Pairs per iteration of a small kernel's pair loop, for a pair program of `len` instructions:
/// four while the copies stay small next to the instruction cache, then two, then one.
pub(crate) fn pair_unroll(len: usize) -> usize {
    match len {
        0..=96 => 4,
        97..=384 => 2,
        _ => 1,
    }
}

/// The reduced rows `start..end` of the block: all of them, or with `split` chunk `ctaid.y`.
pub(crate) fn reduced_range<E: Emit>(w: &mut E, split: bool, inner_rows: &str) -> (String, String) {
    let (start, end) = (w.int(), w.int());
    if split {
        let (chunk, y) = (w.count("keops_chunk"), w.chunk_index());
        w.int_op(IntOp::Mul, &start, &y, &chunk);
        w.int_op(IntOp::Add, &end, &start, &chunk);
        w.int_op(IntOp::Min, &end, &end, inner_rows);
    } else {
        w.mov_int(&start, "0");
        w.mov_int(&end, inner_rows);
    }
    (start, end)
}
