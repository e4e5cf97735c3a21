//! Reductions on a GPU: where a reduction state lives, and how each accumulator of the
//! reduction table initialises, updates, merges and finalises it, as the CPU's reducers do.

use crate::prim::Prim;
use crate::reduction::{Accumulator, Reduction};

use super::emit::{Class, Cmp, Emit, Space, size};
use super::layout::Slots;

/// Where a value of a reduction state lives: a register, or a per-thread slot of a large
/// kernel's shared memory.
#[derive(Clone, Debug)]
pub(crate) enum Loc {
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
pub(crate) struct State {
    pub(crate) vals: Vec<Loc>,
    pub(crate) idx: Vec<Loc>,
    /// Positions of `vals` and `idx` in the whole state.
    pub(crate) at: (Vec<usize>, Vec<usize>),
    /// Floats and indices of the whole state.
    pub(crate) width: (usize, usize),
}

impl State {
    pub(crate) fn new(vals: Vec<Loc>, idx: Vec<Loc>) -> State {
        let at = ((0..vals.len()).collect(), (0..idx.len()).collect());
        State { width: (vals.len(), idx.len()), vals, idx, at }
    }
}

/// Access to the values of a [`State`], wherever they live.
pub(crate) trait Access: Emit {
    /// The value at `l` in a register: its own, or a fresh one loaded from shared memory.
    fn get(&mut self, l: &Loc) -> String {
        match l {
            Loc::Reg(r) => r.clone(),
            Loc::Shared { base, offset, int } => {
                let (r, class) = if *int { (self.int(), Class::Index) } else { (self.float(), Class::Float) };
                self.load(Space::Shared, class, &r, base, *offset);
                r
            }
        }
    }

    /// Stores `r` (the register [`Access::get`] gave for `l`, updated) back to `l`.
    fn put(&mut self, l: &Loc, r: &str) {
        match l {
            Loc::Reg(d) => debug_assert_eq!(d, r, "registers are updated in place"),
            Loc::Shared { base, offset, int } => {
                let class = if *int { Class::Index } else { Class::Float };
                self.store(Space::Shared, class, base, *offset, r);
            }
        }
    }

    /// Sets the shared slot `l` to the constant `c` (an operand of its type).
    fn set(&mut self, l: &Loc, c: &str) {
        let reg = match l {
            Loc::Reg(_) => unreachable!("registers are set by `Rule::init`"),
            Loc::Shared { int: true, .. } => {
                let reg = self.int();
                self.mov_int(&reg, c);
                reg
            }
            Loc::Shared { int: false, .. } => {
                let reg = self.float();
                self.copy(Class::Float, &reg, c);
                reg
            }
        };
        self.put(l, &reg);
    }
}

impl<E: Emit> Access for E {}

/// How a reduction initialises, updates, merges and finalises its [`State`], as the CPU's
/// reducers do: the reduction's accumulator (with its K, and the scheme of a sum), read from the
/// reduction table.
#[derive(Clone, Copy)]
pub(crate) struct Rule(pub(crate) Reduction);

impl Rule {
    pub(crate) fn accumulator(self) -> Accumulator {
        self.0.kind.spec().accumulator
    }

    /// Whether the sums are compensated (a sum and an error per component).
    pub(crate) fn compensated(self) -> bool {
        self.0.compensated()
    }

    /// Whether f32 values are summed in f64 (each accumulator's low and high halves in two
    /// floats of the state).
    pub(crate) fn widened(self) -> bool {
        self.0.widened()
    }

    /// Whether tiles accumulate apart and merge into the total (the block sum).
    pub(crate) fn tiled(self) -> bool {
        matches!(self.accumulator(), Accumulator::Sum | Accumulator::LogSumExp { .. } | Accumulator::SoftMax)
    }

    /// Whether each component of the formula has its own part of the state (its value and
    /// index, or its `k` slots), written out as is.
    pub(crate) fn per_component(self) -> bool {
        matches!(self.accumulator(), Accumulator::Sum | Accumulator::Extremum { .. } | Accumulator::KMin)
    }

    /// The floats and indices of the state, for `nf` and `ng` formula components.
    pub(crate) fn widths(self, nf: usize, ng: usize) -> (usize, usize) {
        self.0.state_widths(nf, ng)
    }

    /// A state in registers.
    pub(crate) fn state<E: Emit>(self, w: &mut E, nf: usize, ng: usize) -> State {
        let (nv, ni) = self.widths(nf, ng);
        let vals = (0..nv).map(|_| Loc::Reg(w.float())).collect();
        let idx = (0..ni).map(|_| Loc::Reg(w.int())).collect();
        State::new(vals, idx)
    }

    /// A state in the shared-memory slots of a large kernel.
    pub(crate) fn state_in(self, slots: &mut Slots, nf: usize, ng: usize) -> State {
        let (nv, ni) = self.widths(nf, ng);
        let vals = (0..nv).map(|_| slots.float()).collect();
        let idx = (0..ni).map(|_| slots.int()).collect();
        State::new(vals, idx)
    }

    /// The part of a [`Rule::per_component`] state of `nf` components that holds the components
    /// `comps`, in registers.
    pub(crate) fn group_state<E: Emit>(self, w: &mut E, nf: usize, comps: std::ops::Range<usize>) -> State {
        let (nv, ni) = self.widths(nf, 0);
        let slots = nv / nf;
        let vat: Vec<usize> = (0..slots).flat_map(|n| comps.clone().map(move |c| n * nf + c)).collect();
        let iat: Vec<usize> = if ni == 0 { vec![] } else { vat.clone() };
        let vals = vat.iter().map(|_| Loc::Reg(w.float())).collect();
        let idx = iat.iter().map(|_| Loc::Reg(w.int())).collect();
        State { vals, idx, at: (vat, iat), width: (nv, ni) }
    }

    /// Stores the state in slot `slot` of the partial-result buffers.
    pub(crate) fn store<E: Emit>(self, w: &mut E, s: &State, values: &str, indices: &str, slot: &str) {
        self.transfer(w, s, values, indices, slot, true);
    }

    /// Loads the state from slot `slot` of the partial-result buffers.
    pub(crate) fn load<E: Emit>(self, w: &mut E, s: &State, values: &str, indices: &str, slot: &str) {
        self.transfer(w, s, values, indices, slot, false);
    }

    /// Stores or loads the state at slot `slot`: floats at `values + slot * floats`, indices at
    /// `indices + slot * indices`.
    pub(crate) fn transfer<E: Emit>(
        self,
        w: &mut E,
        s: &State,
        values: &str,
        indices: &str,
        slot: &str,
        store: bool,
    ) {
        let size = size(w.dtype());
        let parts = [
            (&s.vals, &s.at.0, s.width.0, values, Class::Float, size),
            (&s.idx, &s.at.1, s.width.1, indices, Class::Index, 4),
        ];
        for (locs, at, width, base, class, size) in parts {
            if locs.is_empty() {
                continue;
            }
            let row = w.row_address(base, slot, width * size);
            for (l, n) in locs.iter().zip(at) {
                match (store, l) {
                    (true, _) => {
                        let r = w.get(l);
                        w.store(Space::Global, class, &row, n * size, &r);
                    }
                    (false, Loc::Reg(r)) => w.load(Space::Global, class, r, &row, n * size),
                    (false, Loc::Shared { int, .. }) => {
                        let r = if *int { w.int() } else { w.float() };
                        w.load(Space::Global, class, &r, &row, n * size);
                        w.put(l, &r);
                    }
                }
            }
        }
    }

    pub(crate) fn init<E: Emit>(self, w: &mut E, s: &State) {
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
                Loc::Reg(v) => w.copy(Class::Float, v, &c),
                _ => w.set(v, &c),
            }
        }
        for i in &s.idx {
            match i {
                Loc::Reg(i) => w.mov_int(i, "0"),
                _ => w.set(i, "0"),
            }
        }
    }

    /// Folds in the formula values `f` and `g` of reduced row `j`. A sum's `g`, if any, are the
    /// second factors of its components (`f[c] * g[c]`, fused).
    pub(crate) fn step<E: Emit>(self, w: &mut E, s: &State, f: &[String], g: &[String], j: &str) {
        match self.accumulator() {
            Accumulator::Sum if !g.is_empty() && self.0.plain_sum() => {
                for (c, (a, b)) in f.iter().zip(g).enumerate() {
                    let acc = w.get(&s.vals[c]);
                    w.apply(Prim::MulAdd, &acc, &[a, b, &acc]);
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
    pub(crate) fn kahan_add<E: Emit>(w: &mut E, sum: &Loc, error: &Loc, x: &str) {
        let (s, e) = (w.get(sum), w.get(error));
        let (y, total, d) = (w.float(), w.float(), w.float());
        w.apply(Prim::Sub, &y, &[x, &e]);
        w.apply(Prim::Add, &total, &[&s, &y]);
        w.apply(Prim::Sub, &d, &[&total, &s]);
        w.apply(Prim::Sub, &e, &[&d, &y]);
        w.copy(Class::Float, &s, &total);
        w.put(sum, &s);
        w.put(error, &e);
    }

    /// Adds the f64 register `x` to the f64 sum whose low and high halves are at `lo` and `hi`,
    /// as the CPU's `DoubleSum`.
    pub(crate) fn double_add<E: Emit>(w: &mut E, lo: &Loc, hi: &Loc, x: &str) {
        let (l, h) = (w.get(lo), w.get(hi));
        let acc = w.join_double(&l, &h);
        w.add_double(&acc, &acc, x);
        w.split_double(&acc, &l, &h);
        w.put(lo, &l);
        w.put(hi, &h);
    }

    /// The weights of the sums of a log-sum-exp or soft-max state, given the second formula's
    /// values `g`.
    pub(crate) fn weights<E: Emit>(self, w: &E, g: &[String]) -> Vec<Loc> {
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
    pub(crate) fn step_component<E: Emit>(self, w: &mut E, s: &State, nf: usize, c: usize, x: &str, j: &str) {
        match self.accumulator() {
            Accumulator::Sum if self.compensated() => Self::kahan_add(w, &s.vals[c], &s.vals[nf + c], x),
            Accumulator::Sum if self.widened() => {
                let x = w.widen(x);
                Self::double_add(w, &s.vals[c], &s.vals[nf + c], &x)
            }
            Accumulator::Sum => {
                let a = w.get(&s.vals[c]);
                w.apply(Prim::Add, &a, &[&a, x]);
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
    pub(crate) fn merge<E: Emit>(self, w: &mut E, s: &State, later: &State) {
        match self.accumulator() {
            Accumulator::Sum if self.compensated() => {
                // The sum, then the negated error, each added with compensation.
                let half = s.vals.len() / 2;
                for c in 0..half {
                    let (sum, error) = (&s.vals[c], &s.vals[half + c]);
                    let later_sum = w.get(&later.vals[c]);
                    Self::kahan_add(w, sum, error, &later_sum);
                    let later_error = w.get(&later.vals[half + c]);
                    let negated = w.float();
                    w.apply(Prim::Neg, &negated, &[&later_error]);
                    Self::kahan_add(w, sum, error, &negated);
                }
            }
            Accumulator::Sum if self.widened() => {
                let half = s.vals.len() / 2;
                for c in 0..half {
                    let (lo, hi) = (w.get(&later.vals[c]), w.get(&later.vals[half + c]));
                    let later_sum = w.join_double(&lo, &hi);
                    Self::double_add(w, &s.vals[c], &s.vals[half + c], &later_sum);
                }
            }
            Accumulator::Sum => {
                for (a, x) in s.vals.iter().zip(&later.vals) {
                    let r = w.get(a);
                    let x = w.get(x);
                    w.apply(Prim::Add, &r, &[&r, &x]);
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
    pub(crate) fn finalize<E: Emit>(self, w: &mut E, s: &State, values: Option<&str>, indices: Option<&str>) {
        let size = size(w.dtype());
        let mut results = Vec::new();
        // A state in shared memory stores each result as soon as it is computed.
        let streamed = s.vals.iter().any(|v| matches!(v, Loc::Shared { .. }));
        let mut stored = 0;
        let mut out = |w: &mut E, r: String| match (values, streamed) {
            (Some(at), true) => {
                w.store(Space::Global, Class::Float, at, stored * size, &r);
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
                        let r = w.float();
                        w.apply(Prim::Sub, &r, &[&sum, &error]);
                        w.store(Space::Global, Class::Float, at, s.at.0[c] * size, &r);
                    }
                }
            }
            Accumulator::Sum if self.widened() => {
                // Each sum rounded to f32.
                if let Some(at) = values {
                    let half = s.vals.len() / 2;
                    for c in 0..half {
                        let (lo, hi) = (w.get(&s.vals[c]), w.get(&s.vals[half + c]));
                        let sum = w.join_double(&lo, &hi);
                        let r = w.float();
                        w.narrow(&r, &sum);
                        w.store(Space::Global, Class::Float, at, s.at.0[c] * size, &r);
                    }
                }
            }
            Accumulator::Sum | Accumulator::Extremum { .. } | Accumulator::KMin => {
                // Each value loaded right before it is stored.
                if let Some(at) = values {
                    for (n, v) in s.at.0.iter().zip(&s.vals) {
                        let r = w.get(v);
                        w.store(Space::Global, Class::Float, at, n * size, &r);
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
                    let r = w.float();
                    w.apply(Prim::Add, &r, &[&mx, &log]);
                    out(w, r);
                }
            }
            Accumulator::SoftMax => {
                let total = w.get(&s.vals[1]);
                for sum in &s.vals[2..] {
                    let sum = w.get(sum);
                    let r = w.float();
                    w.apply(Prim::Div, &r, &[&sum, &total]);
                    out(w, r);
                }
            }
        }
        if let Some(at) = values {
            for (n, r) in results.iter().enumerate() {
                w.store(Space::Global, Class::Float, at, n * size, r);
            }
        }
        if let Some(at) = indices {
            for (n, i) in s.at.1.iter().zip(&s.idx) {
                let i = w.get(i);
                w.store(Space::Global, Class::Index, at, n * 4, &i);
            }
        }
    }
}

/// The extremum update of component `c` of `s`: `x` (index `j`) replaces the best if it is
/// strictly better, so that earlier indices win ties and NaN is never selected.
pub(crate) fn better<E: Emit>(w: &mut E, max: bool, s: &State, c: usize, x: &str, j: &str) {
    let (best, idx) = (w.get(&s.vals[c]), w.get(&s.idx[c]));
    let p = w.compare(if max { Cmp::Gt } else { Cmp::Lt }, x, &best);
    w.select(Class::Float, &best, x, &best, &p);
    w.select(Class::Index, &idx, j, &idx, &p);
    w.put(&s.vals[c], &best);
    w.put(&s.idx[c], &idx);
}

/// Inserts `x` (index `j`) into the sorted `slots` (value, index) if it is below the last;
/// equal values stay before it, so the lowest index wins ties, and NaN never enters. Most
/// values are above the last slot: one comparison and a branch skip them.
pub(crate) fn insert<E: Emit>(w: &mut E, locs: &[(&Loc, &Loc)], x: &str, j: &str) {
    let k = locs.len();
    let slots: Vec<(String, String)> = locs.iter().map(|(v, i)| (w.get(v), w.get(i))).collect();
    let below = w.compare(Cmp::Lt, x, &slots[k - 1].0);
    let kept = w.begin_if(&below, true, "kept");
    // below[n]: x goes before slot n. Slot n takes slot n-1 if x goes before it, else x if x
    // goes before slot n, else keeps its own; from the last slot down, so that slot n-1 is read
    // before it changes.
    let below: Vec<String> = slots.iter().map(|(v, _)| w.compare(Cmp::Lt, x, v)).collect();
    for n in (0..k).rev() {
        let (v, i) = &slots[n];
        let (nv, ni) = (w.float(), w.int());
        w.select(Class::Float, &nv, x, v, &below[n]);
        w.select(Class::Index, &ni, j, i, &below[n]);
        match n {
            0 => {
                w.copy(Class::Float, v, &nv);
                w.copy(Class::Index, i, &ni);
            }
            _ => {
                let (pv, pi) = &slots[n - 1];
                w.select(Class::Float, v, pv, &nv, &below[n - 1]);
                w.select(Class::Index, i, pi, &ni, &below[n - 1]);
            }
        }
    }
    for ((v, i), (lv, li)) in slots.iter().zip(locs) {
        w.put(lv, v);
        w.put(li, i);
    }
    w.end_if(kept);
}

/// The online, stable log-sum-exp update (as the CPU's `raise_max` and `accumulate`): with the
/// pair `(mx, sums)` standing for `exp(mx) * sums`, adds `exp(f) * weights`. The running maximum
/// rises to include `f`, and whichever side is smaller is rescaled by `exp(-|f - mx|)`: one
/// exponential per update, none that overflows.
pub(crate) fn add_exp<E: Emit>(w: &mut E, mx: &Loc, sums: &[Loc], f: &str, weights: &[Loc]) {
    let head = exp_head(w, mx, f);
    for (s, x) in sums.iter().zip(weights) {
        let x = w.get(x);
        exp_update(w, s, &x, &head);
    }
}

/// The first half of [`add_exp`]: raises `mx` to include `f`; returns whether `f` was above
/// and the scale of the smaller side.
pub(crate) fn exp_head<E: Emit>(w: &mut E, mx: &Loc, f: &str) -> (String, String) {
    let m = w.get(mx);
    let above = w.compare(Cmp::Gt, f, &m);
    let (hi, lo) = (w.float(), w.float());
    w.select(Class::Float, &hi, f, &m, &above);
    w.select(Class::Float, &lo, &m, f, &above);
    let d = w.float();
    w.apply(Prim::Sub, &d, &[&lo, &hi]);
    // Equal values weigh the same (`exp(0) = 1`), also when both are infinite and their
    // difference is NaN, as on the CPU; a NaN `f` makes the scale NaN, which propagates.
    let zero = w.literal(0.0);
    w.choose(&d, Cmp::Eq, &lo, &hi, [&zero, &d]);
    w.copy(Class::Float, &m, &hi);
    w.put(mx, &m);
    let scale = w.function(Prim::Exp, &d);
    (above, scale)
}

/// The second half of [`add_exp`], for one sum `s` and its weight `x`.
pub(crate) fn exp_update<E: Emit>(w: &mut E, s: &Loc, x: &str, (above, scale): &(String, String)) {
    let r = w.get(s);
    let (kept, scaled) = (w.float(), w.float());
    w.apply(Prim::MulAdd, &kept, &[&r, scale, x]);
    w.apply(Prim::MulAdd, &scaled, &[x, scale, &r]);
    w.select(Class::Float, &r, &kept, &scaled, above);
    w.put(s, &r);
}
