//! The interpreter's reductions: the compiled reducers' state, steps, merges and
//! finalisations ([`crate::cpu::reduce`]), for widths known at run time.

use crate::cpu::interp::{BATCH, Batch, Chunks, FeatureDifferences, Reduction};
use crate::cpu::math::{Math, Real};
use crate::cpu::reduce::{
    NEGLIGIBLE_EXPONENT, WideLanes, add_exp, index_lanes, kahan_add, kahan_collapse, kahan_merge, lanes,
    negligible, wide_add, wide_collapse, wide_merge,
};

/// One output row's reduction state, per lane.
pub(super) struct State<T: Real, M: Math<T>> {
    /// Sums (then their compensations, for a compensated sum); best values; or a running
    /// maximum followed by its sums.
    v: Vec<M::V>,
    /// The best values' indices.
    i: Vec<M::Idx>,
    /// K-selections, `K` slots per component, each in increasing order.
    sel: Vec<(T, u32)>,
    /// f64 sums per lane of f32 values.
    wide: Vec<WideLanes>,
}

/// Why the rule of a reduction never holds a raw log-sum-exp.
const RAW: &str = "Rule::new runs a raw log-sum-exp as its log-sum-exp, with `raw` set";

/// A reduction of `nf` components (and `ng` weights or second factors).
#[derive(Clone, Copy)]
pub(super) struct Rule {
    /// The reduction; never a raw log-sum-exp, which [`Rule::new`] makes its log-sum-exp.
    kind: Reduction,
    nf: usize,
    ng: usize,
    /// Whether the output is the log-sum-exp's state rather than its value.
    raw: bool,
}

impl Rule {
    /// The rule of `kind`: the raw log-sum-exps run as their log-sum-exps, and write out their
    /// state.
    pub fn new(kind: Reduction, nf: usize, ng: usize) -> Rule {
        match kind {
            Reduction::MaxSumShiftExp => Rule { kind: Reduction::LogSumExp, nf, ng, raw: true },
            Reduction::MaxSumShiftExpWeight => Rule { kind: Reduction::LogSumExpWeight, nf, ng, raw: true },
            _ => Rule { kind, nf, ng, raw: false },
        }
    }

    /// Whether rows are reduced tile by tile (KeOps' block sum), as in the compiled kernels.
    #[inline(always)]
    pub fn tiled(self) -> bool {
        !matches!(self.kind, Reduction::Min | Reduction::Max | Reduction::KMin(_))
    }

    /// The sums of a running maximum's state.
    #[inline(always)]
    fn sums(self) -> usize {
        match self.kind {
            Reduction::LogSumExp => 1,
            Reduction::LogSumExpWeight => self.ng,
            Reduction::SumSoftMaxWeight => 1 + self.ng,
            _ => 0,
        }
    }

    #[inline(always)]
    pub fn state<T: Real, M: Math<T>>(self, m: M) -> State<T, M> {
        let (v, i, sel, wide) = match self.kind {
            Reduction::Sum | Reduction::SumOfProducts => (self.nf, 0, 0, 0),
            Reduction::KahanSum => (2 * self.nf, 0, 0, 0),
            Reduction::DoubleSum => (0, 0, 0, self.nf),
            Reduction::Min | Reduction::Max => (self.nf, self.nf, 0, 0),
            Reduction::KMin(k) => (0, 0, k * self.nf, 0),
            _ => (1 + self.sums(), 0, 0, 0),
        };
        let mut state = State {
            v: vec![m.splat(T::ZERO); v],
            i: vec![m.splat_idx(0); i],
            sel: vec![(T::INFINITY, 0); sel],
            wide: vec![[0.0; _]; wide],
        };
        self.init(m, &mut state);
        state
    }

    #[inline(always)]
    pub fn init<T: Real, M: Math<T>>(self, m: M, s: &mut State<T, M>) {
        let first = match self.kind {
            Reduction::Min => T::INFINITY,
            Reduction::Max
            | Reduction::LogSumExp
            | Reduction::LogSumExpWeight
            | Reduction::SumSoftMaxWeight => T::NEG_INFINITY,
            _ => T::ZERO,
        };
        let running = self.sums() > 0;
        for (k, v) in s.v.iter_mut().enumerate() {
            *v = m.splat(if running && k > 0 { T::ZERO } else { first });
        }
        s.i.fill(m.splat_idx(0));
        s.sel.fill((T::INFINITY, 0));
        s.wide.fill([0.0; _]);
    }

    /// The state a tile starts from after the tiles merged into `total`: empty, or for a
    /// running maximum, empty sums in the frame of the maximum so far.
    #[inline(always)]
    pub fn restart<T: Real, M: Math<T>>(self, m: M, acc: &mut State<T, M>, total: &State<T, M>) {
        self.init(m, acc);
        if self.sums() > 0 {
            acc.v[0] = total.v[0];
        }
    }

    /// Whether [`Rule::step`] computes a batch's [`Differences`](super::Differences) itself,
    /// rather than reading them in their registers: a whole batch of a sum of products, with
    /// no `exp` beyond its normal range.
    #[inline(always)]
    pub fn computes_differences<T: Real, M: Math<T>>(self, chunks: Chunks, tiny: bool) -> bool {
        self.kind == Reduction::SumOfProducts && chunks.whole::<T, M>() && !tiny
    }

    /// Folds in the values of `batch`'s lane groups that `chunks` says to reduce, their lanes
    /// outside its rows masked out.
    #[inline(always)]
    pub fn step<T: Real, M: Math<T>>(
        self,
        m: M,
        acc: &mut State<T, M>,
        batch: Batch<'_, T, M>,
        chunks: Chunks,
    ) {
        if let Some(d) = batch.differences {
            // Set only where `computes_differences`, for a sum of products.
            let (g, inner) = (|k| batch.g(k), |r: u32| batch.operands.get(r));
            match d.differences.inner_first {
                true => products_of_differences(m, &mut acc.v, d, inner, g, |o, y| m.sub(y, o)),
                false => products_of_differences(m, &mut acc.v, d, inner, g, |o, y| m.sub(o, y)),
            }
            return;
        }
        let f = |k: usize, u: usize| batch.f(k)[u];
        let zero = m.splat(T::ZERO);
        match self.kind {
            Reduction::Sum if chunks.whole::<T, M>() => {
                sum_by_groups(&mut acc.v, |k| batch.f(k), |k| batch.f(k), |s, f, _| m.add(s, f));
            }
            Reduction::SumOfProducts if chunks.whole::<T, M>() && !batch.tiny => {
                sum_by_groups(&mut acc.v, |k| batch.f(k), |k| batch.g(k), |s, f, g| m.mul_add(f, g, s));
            }
            // Component by component, each accumulator held in a local across the lane groups.
            Reduction::Sum => {
                for (k, a) in acc.v.iter_mut().enumerate() {
                    let (fk, mut sum) = (batch.f(k), *a);
                    chunks.each(m, |u, _, mask| {
                        sum = m.add(sum, mask.map_or(fk[u], |mask| m.blend(mask, fk[u], zero)));
                    });
                    *a = sum;
                }
            }
            Reduction::KahanSum => {
                let (sums, errors) = acc.v.split_at_mut(self.nf);
                for (k, (a, e)) in sums.iter_mut().zip(errors).enumerate() {
                    let (mut s, mut c) = (*a, *e);
                    chunks.each(m, |u, _, mask| match mask {
                        None => kahan_add(m, &mut s, &mut c, f(k, u)),
                        Some(mask) => {
                            let (mut s2, mut c2) = (s, c);
                            kahan_add(m, &mut s2, &mut c2, f(k, u));
                            s = m.blend(mask, s2, s);
                            c = m.blend(mask, c2, c);
                        }
                    });
                    (*a, *e) = (s, c);
                }
            }
            Reduction::DoubleSum => {
                for (k, a) in acc.wide.iter_mut().enumerate() {
                    chunks.each(m, |u, _, mask| {
                        wide_add(m, a, mask.map_or(f(k, u), |mask| m.blend(mask, f(k, u), zero)));
                    });
                }
            }
            Reduction::SumOfProducts => {
                let tiny = batch.tiny;
                for (k, a) in acc.v.iter_mut().enumerate() {
                    let (fk, gk, mut sum) = (batch.f(k), batch.g(k), *a);
                    chunks.each(m, |u, _, mask| {
                        let next = match tiny {
                            false => m.mul_add(fk[u], gk[u], sum),
                            true => m.mul_add_tiny(fk[u], gk[u], sum),
                        };
                        sum = mask.map_or(next, |mask| m.blend(mask, next, sum));
                    });
                    *a = sum;
                }
            }
            Reduction::Min | Reduction::Max => {
                let max = self.kind == Reduction::Max;
                for (k, (best, idx)) in acc.v.iter_mut().zip(acc.i.iter_mut()).enumerate() {
                    let (mut b, mut i) = (*best, *idx);
                    chunks.each(m, |u, j, mask| {
                        let x = f(k, u);
                        let better = if max { m.gt_mask(x, b) } else { m.lt_mask(x, b) };
                        let take = mask.map_or(better, |mask| m.and_mask(mask, better));
                        b = m.blend(take, x, b);
                        i = m.blend_idx(take, j, i);
                    });
                    (*best, *idx) = (b, i);
                }
            }
            Reduction::KMin(n) => {
                for (k, slots) in acc.sel.chunks_exact_mut(n).enumerate() {
                    chunks.each(m, |u, j, mask| {
                        let x = f(k, u);
                        let below = m.lt_mask(x, m.splat(slots[n - 1].0));
                        let mut bits = m.lane_bits(mask.map_or(below, |mask| m.and_mask(mask, below)));
                        if bits != 0 {
                            let (xs, js) = (lanes(m, x), index_lanes(m, j));
                            while bits != 0 {
                                let l = bits.trailing_zeros() as usize;
                                insert(slots, xs[l], js[l]);
                                bits &= bits - 1;
                            }
                        }
                    });
                }
            }
            Reduction::MaxSumShiftExp | Reduction::MaxSumShiftExpWeight => unreachable!("{RAW}"),
            Reduction::LogSumExp | Reduction::LogSumExpWeight | Reduction::SumSoftMaxWeight => {
                let ones = [m.splat(T::ONE); BATCH];
                let kind = self.kind;
                let weights = |k: usize| match kind {
                    Reduction::LogSumExp => &ones,
                    Reduction::LogSumExpWeight => batch.g(k),
                    _ if k == 0 => &ones,
                    _ => batch.g(k - 1),
                };
                let weight = |k: usize, u: usize| weights(k)[u];
                let floor = if kind == Reduction::LogSumExp { negligible::<T>() } else { None };
                if step_exps_by_batch(m, &mut acc.v, chunks, |u| f(0, u), weights, floor) {
                    return;
                }
                chunks.each(m, |u, _, mask| {
                    let (mx, sums) = acc.v.split_first_mut().expect("a running maximum");
                    match mask {
                        None => add_exp(m, mx, sums, f(0, u), |k| weight(k, u), floor),
                        Some(mask) => {
                            let f = m.blend(mask, f(0, u), m.splat(T::NEG_INFINITY));
                            add_exp(m, mx, sums, f, |k| m.blend(mask, weight(k, u), zero), floor);
                        }
                    }
                })
            }
        }
    }

    /// Merges `later` (a tile of larger indices) into `acc`.
    #[inline(always)]
    pub fn merge<T: Real, M: Math<T>>(self, m: M, acc: &mut State<T, M>, later: &State<T, M>) {
        match self.kind {
            Reduction::Sum | Reduction::SumOfProducts => {
                for (a, &x) in acc.v.iter_mut().zip(&later.v) {
                    *a = m.add(*a, x);
                }
            }
            Reduction::KahanSum => {
                let (sums, errors) = acc.v.split_at_mut(self.nf);
                let (later_sums, later_errors) = later.v.split_at(self.nf);
                for ((s, c), (&s2, &c2)) in
                    sums.iter_mut().zip(errors).zip(later_sums.iter().zip(later_errors))
                {
                    kahan_merge(m, s, c, s2, c2);
                }
            }
            Reduction::DoubleSum => {
                for (a, x) in acc.wide.iter_mut().zip(&later.wide) {
                    wide_merge::<T, M>(a, x);
                }
            }
            Reduction::MaxSumShiftExp | Reduction::MaxSumShiftExpWeight => unreachable!("{RAW}"),
            Reduction::LogSumExp | Reduction::LogSumExpWeight | Reduction::SumSoftMaxWeight => {
                let (mx, sums) = acc.v.split_first_mut().expect("a running maximum");
                add_exp(m, mx, sums, later.v[0], |k| later.v[1 + k], None);
            }
            Reduction::Min | Reduction::Max | Reduction::KMin(_) => {
                unreachable!("selections are not tiled")
            }
        }
    }

    /// Collapses the lanes and writes the output row: `values` and `indices` have the kernel's
    /// output widths (either may be empty).
    #[inline(always)]
    pub fn finish<T: Real, M: Math<T>>(
        self,
        m: M,
        acc: &State<T, M>,
        values: &mut [T],
        indices: &mut [usize],
    ) {
        let s = T::Scalar::default();
        match self.kind {
            Reduction::Sum | Reduction::SumOfProducts => {
                for (out, &v) in values.iter_mut().zip(&acc.v) {
                    *out = m.reduce_sum(v);
                }
            }
            Reduction::KahanSum => {
                let (sums, errors) = acc.v.split_at(self.nf);
                for ((out, &sum), &error) in values.iter_mut().zip(sums).zip(errors) {
                    let (sum, error) = kahan_collapse(m, sum, error);
                    *out = s.sub(sum, error);
                }
            }
            Reduction::DoubleSum => {
                for (out, sums) in values.iter_mut().zip(&acc.wide) {
                    *out = T::from_f64(wide_collapse::<T, M>(sums));
                }
            }
            Reduction::Min | Reduction::Max => {
                let max = self.kind == Reduction::Max;
                for (c, (&best, &idx)) in acc.v.iter().zip(&acc.i).enumerate() {
                    let (vs, is) = (lanes(m, best), index_lanes(m, idx));
                    let (mut b, mut i) = (if max { T::NEG_INFINITY } else { T::INFINITY }, 0u32);
                    for (&v, &j) in vs[..M::LANES].iter().zip(&is) {
                        let strictly = if max { v > b } else { v < b };
                        if strictly || (v == b && j < i) {
                            (b, i) = (v, j);
                        }
                    }
                    if !values.is_empty() {
                        values[c] = b;
                    }
                    if !indices.is_empty() {
                        indices[c] = i as usize;
                    }
                }
            }
            Reduction::KMin(n) => {
                for (c, slots) in acc.sel.chunks_exact(n).enumerate() {
                    for (k, &(x, i)) in slots.iter().enumerate() {
                        if !values.is_empty() {
                            values[k * self.nf + c] = x;
                        }
                        if !indices.is_empty() {
                            indices[k * self.nf + c] = i as usize;
                        }
                    }
                }
            }
            Reduction::MaxSumShiftExp | Reduction::MaxSumShiftExpWeight => unreachable!("{RAW}"),
            Reduction::LogSumExp | Reduction::LogSumExpWeight | Reduction::SumSoftMaxWeight => {
                let n = self.sums();
                let maxima = lanes(m, acc.v[0]);
                let sums: Vec<_> = acc.v[1..].iter().map(|&v| lanes(m, v)).collect();
                let mut mx = T::NEG_INFINITY;
                let mut total = vec![T::ZERO; n];
                for (l, &lane_max) in maxima[..M::LANES].iter().enumerate() {
                    add_exp(s, &mut mx, &mut total, lane_max, |k| sums[k][l], None);
                }
                if self.kind == Reduction::SumSoftMaxWeight {
                    for (v, &num) in values.iter_mut().zip(&total[1..]) {
                        *v = s.div(num, total[0]);
                    }
                } else if self.raw {
                    values[0] = mx;
                    values[1..].copy_from_slice(&total);
                } else {
                    for (v, &sum) in values.iter_mut().zip(&total) {
                        *v = s.add(mx, T::log(s, sum));
                    }
                }
            }
        }
    }
}

/// The log-sum-exp family's step of a whole batch (running maximum `v[0]`, then its sums), as
/// the compiled reducers step a run of chunks: the batch's exponents `f(u)` raise each lane's
/// maximum once, rescaling the sums, then each pair adds `exp(f - max)` times its weights
/// `weights(k)`, where the online update's blends and second product are not needed (softmax
/// attention and sharp soft-maxes ran 6 and 11 times slower than compiled without it). Declines
/// (returns false) a batch with a partial chunk, or with an exponent that is not finite, for
/// which the pair-by-pair update gives the limits.
#[inline(always)]
fn step_exps_by_batch<'a, T: Real, M: Math<T>>(
    m: M,
    v: &mut [M::V],
    chunks: Chunks,
    f: impl Fn(usize) -> M::V,
    weights: impl Fn(usize) -> &'a [M::V; BATCH],
    floor: Option<T>,
) -> bool {
    let groups = chunks.groups;
    if !chunks.unmasked::<T, M>() {
        return false;
    }
    let zero = m.splat(T::ZERO);
    let mut exponents = [zero; BATCH];
    let mut finite = m.tail(M::LANES);
    for (u, x) in exponents[..groups].iter_mut().enumerate() {
        *x = f(u);
        finite = m.and_mask(finite, m.lt_mask(m.abs(*x), m.splat(T::INFINITY)));
    }
    if !m.all(finite) {
        return false;
    }
    let (mx, sums) = v.split_first_mut().expect("a running maximum");
    let old = *mx;
    let top = exponents[..groups].iter().fold(old, |top, &x| m.max(top, x));
    let above = m.gt_mask(top, old);
    if m.any(above) {
        // `old` may be -inf (no pair yet, or only -inf exponents): `t` is then 0, or
        // `exp(floor)`, and the sums are 0.
        let d = m.blend(above, m.sub(old, top), zero);
        let t = T::exp(m, floor.map_or(d, |floor| m.max(m.splat(floor), d)));
        for s in sums.iter_mut() {
            *s = m.blend(above, m.mul(*s, t), *s);
        }
        *mx = top;
    }
    // `f - max <= 0`; the groups past `groups` take 0, and their exponentials are not used.
    let mut d = [zero; BATCH];
    for (d, &x) in d[..groups].iter_mut().zip(&exponents) {
        *d = m.sub(x, *mx);
    }
    let (t, maybe_tiny) = match floor {
        Some(floor) => {
            for d in &mut d {
                *d = m.max(m.splat(floor), *d);
            }
            (T::exp_nonpositive(m, &d), false)
        }
        None if m.all_below_abs(&d, T::from_f64(-NEGLIGIBLE_EXPONENT)) => (T::exp_nonpositive(m, &d), false),
        None => (T::exp_below(m, &d), !m.all_below_abs(&d, T::EXP_NORMAL_BOUND)),
    };
    // Subnormal `t` (far rows of a sharp soft-max) as the compiled reducers add them.
    match (groups, maybe_tiny) {
        (BATCH, false) => sum_by_groups(sums, weights, |_| &t, |s, w, t| m.mul_add(w, t, s)),
        _ => {
            for (k, s) in sums.iter_mut().enumerate() {
                let (w, mut sum) = (weights(k), *s);
                for (u, &t) in t[..groups].iter().enumerate() {
                    sum = match maybe_tiny {
                        false => m.mul_add(w[u], t, sum),
                        true => m.mul_add_tiny(w[u], t, sum),
                    };
                }
                *s = sum;
            }
        }
    }
    true
}

/// Adds a whole batch into the sums `acc`, `add(sum, f, g)` for each component's values `f(k)`
/// (and `g(k)`), lane group after lane group: the same operations in the same order as
/// [`Chunks::each`], but [`GROUP`] components at a time, so that their sums' dependency chains
/// interleave (one component at a time, each chain of [`BATCH`] additions waited on the last:
/// a 16-component sum ran at half speed).
#[inline(always)]
fn sum_by_groups<'f, 'g, V: Copy + 'f + 'g>(
    acc: &mut [V],
    f: impl Fn(usize) -> &'f [V; BATCH],
    g: impl Fn(usize) -> &'g [V; BATCH],
    add: impl Fn(V, V, V) -> V,
) {
    let first = acc.len() - acc.len() % GROUP;
    let mut groups = acc.chunks_exact_mut(GROUP);
    for (n, sums) in groups.by_ref().enumerate() {
        let (mut fs, mut gs) = ([f(n * GROUP); GROUP], [g(n * GROUP); GROUP]);
        for (i, (fi, gi)) in fs.iter_mut().zip(&mut gs).enumerate() {
            (*fi, *gi) = (f(n * GROUP + i), g(n * GROUP + i));
        }
        // In a local: the compiler kept the slice's sums in memory.
        let mut local: [V; GROUP] = (&*sums).try_into().expect("a group of sums");
        for u in 0..BATCH {
            for ((s, fi), gi) in local.iter_mut().zip(&fs).zip(&gs) {
                *s = add(*s, fi[u], gi[u]);
            }
        }
        sums.copy_from_slice(&local);
    }
    for (k, s) in acc.iter_mut().enumerate().skip(first) {
        let (fk, gk) = (f(k), g(k));
        for u in 0..BATCH {
            *s = add(*s, fk[u], gk[u]);
        }
    }
}

/// The sums of products `difference(o_k, y_k) * g_k` of a batch's components, [`GROUP`] at a
/// time as [`sum_by_groups`]: `o_k` the output row's feature, `y_k` the reduced rows', given by
/// `d`. The same operations in the same order as on the differences stored.
#[inline(always)]
fn products_of_differences<'a, T: Real, M: Math<T>>(
    m: M,
    acc: &mut [M::V],
    d: FeatureDifferences<'_, T>,
    inner: impl Fn(u32) -> &'a [M::V; BATCH],
    g: impl Fn(usize) -> &'a [M::V; BATCH],
    difference: impl Fn(M::V, M::V) -> M::V,
) {
    let features = d.differences.features;
    let outer = |k: usize| m.splat(d.outer[features[k][0] as usize]);
    let first = acc.len() - acc.len() % GROUP;
    for (n, sums) in acc.chunks_exact_mut(GROUP).enumerate() {
        let mut os = [m.splat(T::ZERO); GROUP];
        let (mut ys, mut gs) = ([inner(features[n * GROUP][1]); GROUP], [g(n * GROUP); GROUP]);
        for (i, ((o, y), gi)) in os.iter_mut().zip(&mut ys).zip(&mut gs).enumerate() {
            let k = n * GROUP + i;
            (*o, *y, *gi) = (outer(k), inner(features[k][1]), g(k));
        }
        let mut local: [M::V; GROUP] = (&*sums).try_into().expect("a group of sums");
        for u in 0..BATCH {
            for (((s, &o), y), gi) in local.iter_mut().zip(&os).zip(&ys).zip(&gs) {
                *s = m.mul_add(difference(o, y[u]), gi[u], *s);
            }
        }
        sums.copy_from_slice(&local);
    }
    for (k, s) in acc.iter_mut().enumerate().skip(first) {
        let (o, y, gk) = (outer(k), inner(features[k][1]), g(k));
        for u in 0..BATCH {
            *s = m.mul_add(difference(o, y[u]), gk[u], *s);
        }
    }
}

/// Components whose sums [`sum_by_groups`] interleaves: as many as the registers hold beside
/// their operands.
const GROUP: usize = 8;

/// Inserts `x` (index `i`) into `slots`, in increasing order, if it is below the last; after
/// the values equal to it, so that earlier indices win ties. NaN never enters.
#[inline(always)]
fn insert<T: Real>(slots: &mut [(T, u32)], x: T, i: u32) {
    let last = slots.len() - 1;
    let enters = x < slots[last].0;
    if !enters {
        return;
    }
    let mut p = last;
    while p > 0 && x < slots[p - 1].0 {
        slots[p] = slots[p - 1];
        p -= 1;
    }
    slots[p] = (x, i);
}
