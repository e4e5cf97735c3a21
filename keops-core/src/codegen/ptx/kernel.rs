//! The text of a kernel's three entry points: prepasses, the tile loop over the reduced rows,
//! the pair stage (unrolled, or streamed for a large kernel), the 2D scheme's chunks and merge.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::ir::Role;
use crate::lower::{Inst, Level, Operand, Val};
use crate::reduction::Accumulator;

use super::layout::{Large, Slots, Spec};
use super::rule::{Rule, State, exp_head, exp_update};
use super::writer::{Ptx, size};
use super::{ENTRY, ENTRY_2D, ENTRY_MERGE, MERGE_WORDS};

impl Spec<'_> {
    /// The whole module.
    pub(super) fn text(&self) -> String {
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

    pub(super) fn widths(&self) -> (usize, usize) {
        let ng = self.lowered.ng();
        self.reduction.widths(self.lowered.nf, ng)
    }

    /// The body of [`ENTRY`], or with `split` of [`ENTRY_2D`]: see the module documentation for
    /// the scheme.
    pub(super) fn body(&self, w: &mut Ptx, split: bool) {
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
    pub(super) fn pairs(
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
    pub(super) fn pair(
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
    pub(super) fn stream(
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
    pub(super) fn slots(&self, w: &mut Ptx, large: &Large, tid: &str) -> (Slots, String) {
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
    pub(super) fn finish(
        &self,
        w: &mut Ptx,
        rule: Rule,
        total: &State,
        [values, indices, row]: [&String; 3],
    ) {
        let (vw, iw) = self.widths();
        let values = (vw > 0).then(|| w.row_address(values, row, vw * size(self.dtype)));
        let indices = (iw > 0).then(|| w.row_address(indices, row, iw * 4));
        rule.finalize(w, total, values.as_deref(), indices.as_deref());
    }

    /// The body of [`ENTRY_MERGE`]: one thread per output row merges the partial results of
    /// the chunks in order (so ties still go to the lowest index) and finalises.
    pub(super) fn merge_body(&self, w: &mut Ptx) {
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
    pub(super) fn merge_chunks(
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
    pub(super) fn stage_tile(&self, w: &mut Ptx, inputs: &[String], [tid, start, end, shared]: [&String; 4]) {
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
    pub(super) fn prepass(
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
    pub(super) fn emit(&self, w: &mut Ptx, v: Val) {
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
    pub(super) fn operand(&self, w: &Ptx, v: Val) -> String {
        match self.staged().program.as_const(v) {
            Some(c) => w.literal(c),
            None => value(v),
        }
    }
}

/// Pairs per iteration of a small kernel's pair loop, for a pair program of `len` instructions:
/// four while the copies stay small next to the instruction cache, then two, then one.
pub(super) fn pair_unroll(len: usize) -> usize {
    match len {
        0..=96 => 4,
        97..=384 => 2,
        _ => 1,
    }
}

/// The reduced rows `start..end` of the block: all of them, or with `split` chunk `ctaid.y`.
pub(super) fn reduced_range(w: &mut Ptx, split: bool, inner_rows: &str) -> (String, String) {
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
pub(super) fn entry(name: &str, pointers: &[String], counts: &[&str], w: &Ptx, values: usize) -> String {
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
pub(super) fn value(v: Val) -> String {
    format!("%v{}", v.index())
}
