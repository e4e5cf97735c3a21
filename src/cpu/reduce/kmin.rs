//! The K smallest values and their indices, kept sorted in registers.

use super::{PairValues, Reducer, Scalar};
use crate::cpu::MAX_LANES;
use crate::cpu::math::{Math, Real, Task};
use crate::kernel::{Array, KernelDef};

/// `kmin_j::<N>`, `argkmin_j::<N>`, `kmin_argkmin_j::<N>`: per component, the `N` smallest
/// values in increasing order (ties by increasing index) and their indices.
///
/// The selection is kept once per output row, rather than once per lane: a vector of values is
/// compared with the row's current `N`-th value, and only the rare lanes below it are inserted,
/// in lane order. After the first few chunks almost every step is one comparison. An insertion
/// moves `LANES` slots at a time (a `Selection`'s slots are consecutive), without branches:
/// at 2,000 reduced rows and `N = 10`, when insertions are frequent, this ran ArgKMin 1.4 x
/// faster on AVX2 than a scalar insertion.
pub struct KMin<const N: usize>;

impl<const N: usize> KMin<N> {
    /// Inserts the lanes of `x` (indices `j`) among `below` (the lanes below the `N`-th value
    /// when the step began) that are still below it when their turn comes, in lane order. The
    /// lanes are stored here, inlined where the SIMD instructions are enabled; the insertions,
    /// rare, are out of line.
    #[inline(always)]
    fn insert_lanes<T: Real, M: Math<T>>(
        m: M,
        selection: &mut Selection<T, N>,
        (x, j): (M::V, M::Idx),
        below: u64,
    ) {
        let (mut xs, mut js) = ([T::ZERO; MAX_LANES], [0u32; MAX_LANES]);
        m.store(x, &mut xs);
        m.store_idx(j, &mut js);
        Self::insert_stored(m, selection, (&xs, &js), below);
    }

    /// [`Selection::insert`] of the lanes `below` of `xs` (indices `js`), in order, with the
    /// target features of `m`.
    #[cold]
    #[inline(never)]
    fn insert_stored<T: Real, M: Math<T>>(
        m: M,
        selection: &mut Selection<T, N>,
        (xs, js): (&[T; MAX_LANES], &[u32; MAX_LANES]),
        below: u64,
    ) {
        m.vectorize(InsertLanes { m, selection, xs, js, below });
    }
}

/// A selection's `N` slots (values or indices), followed by room for the lanes past `N` of the
/// last of the vectors that cover them: the slots are read and written a vector at a time.
#[derive(Clone, Copy)]
#[repr(C)]
struct Padded<X, const N: usize> {
    slots: [X; N],
    overhang: [X; MAX_LANES],
}

impl<X: Copy, const N: usize> Padded<X, N> {
    fn filled(x: X) -> Self {
        Padded { slots: [x; N], overhang: [x; MAX_LANES] }
    }

    /// The slots, then the overhang.
    #[inline(always)]
    fn all(&self) -> &[X] {
        // SAFETY: `repr(C)` places `overhang` right after `slots`, at `size_of::<[X; N]>()`,
        // a multiple of `X`'s alignment, so no padding separates the two arrays: `self` is
        // `N + MAX_LANES` initialised `X`s, borrowed for as long as `self` is.
        unsafe { std::slice::from_raw_parts((self as *const Self).cast::<X>(), N + MAX_LANES) }
    }

    /// [`Padded::all`], mutably.
    #[inline(always)]
    fn all_mut(&mut self) -> &mut [X] {
        // SAFETY: as in `all`; the borrow of `self` is exclusive.
        unsafe { std::slice::from_raw_parts_mut((self as *mut Self).cast::<X>(), N + MAX_LANES) }
    }
}

/// One component's K-selection: its `N` smallest values in increasing order, and their
/// indices. Slots that no value filled hold +inf and index 0.
#[derive(Clone, Copy)]
pub struct Selection<T, const N: usize> {
    values: Padded<T, N>,
    indices: Padded<u32, N>,
}

impl<T: Real, const N: usize> Selection<T, N> {
    fn empty() -> Self {
        Selection { values: Padded::filled(T::INFINITY), indices: Padded::filled(0) }
    }

    /// The `N`-th value: a candidate enters only if it is below.
    #[inline(always)]
    fn last(&self) -> T {
        self.values.slots[N - 1]
    }

    /// Inserts `x` (index `i`) if it is below the `N`-th value; equal values stay before it, so
    /// earlier indices win ties. `LANES` slots at a time (see [`shift_in`]).
    #[inline(always)]
    fn insert<M: Math<T>>(&mut self, m: M, x: T, i: u32) {
        // NaN compares as not smaller, so it never enters the selection.
        let enters = x < self.last();
        if !enters {
            return;
        }
        let (x, i) = (m.splat(x), m.splat_idx(i));
        let mut carry = (m.splat(T::NEG_INFINITY), m.splat_idx(0));
        for s in (0..N).step_by(M::LANES) {
            let own = (m.load(&self.values.all()[s..]), m.load_idx(&self.indices.all()[s..]));
            let (new, up) = shift_in(m, (x, i), own, carry);
            m.store(new.0, &mut self.values.all_mut()[s..]);
            m.store_idx(new.1, &mut self.indices.all_mut()[s..]);
            carry = up;
        }
    }

    /// [`Selection::insert`] of the lanes `below` of `xs` (indices `js`), in lane order, for
    /// selections of at most [`HELD_VECTORS`] vectors: their slots stay in registers from the
    /// first insertion to the last. Each insertion is then a few dependent vector operations,
    /// where reading the slots back from memory waited on the previous insertion's stores. A
    /// value not below the `N`-th when its turn comes leaves every slot as it is, so there is
    /// no test.
    #[inline(always)]
    fn insert_held<M: Math<T>>(&mut self, m: M, xs: &[T; MAX_LANES], js: &[u32; MAX_LANES], mut below: u64) {
        let vectors = N.div_ceil(M::LANES);
        debug_assert!(vectors <= HELD_VECTORS);
        let mut held = [(m.splat(T::ZERO), m.splat_idx(0)); HELD_VECTORS];
        for (v, slots) in held.iter_mut().enumerate().take(vectors) {
            let s = v * M::LANES;
            *slots = (m.load(&self.values.all()[s..]), m.load_idx(&self.indices.all()[s..]));
        }
        while below != 0 {
            let l = below.trailing_zeros() as usize;
            let x = (m.splat(xs[l]), m.splat_idx(js[l]));
            let mut carry = (m.splat(T::NEG_INFINITY), m.splat_idx(0));
            for slots in held.iter_mut().take(vectors) {
                let (new, up) = shift_in(m, x, *slots, carry);
                (*slots, carry) = (new, up);
            }
            below &= below - 1;
        }
        for (v, slots) in held.iter().enumerate().take(vectors) {
            let s = v * M::LANES;
            m.store(slots.0, &mut self.values.all_mut()[s..]);
            m.store_idx(slots.1, &mut self.indices.all_mut()[s..]);
        }
    }
}

/// The most vectors of slots a selection may take to be held in registers across a step's
/// insertions ([`Selection::insert_held`]): `N` up to 32 in f32 with AVX2 (64 with AVX-512),
/// 16 in f64 (32).
const HELD_VECTORS: usize = 4;

/// A vector of a selection's values and the vector of their indices.
type Slots<T, M> = (<M as Math<T>>::V, <M as Math<T>>::Idx);

/// One vector of a selection's slots (values and indices) with `x` (index `i`) inserted: a
/// slot takes its predecessor where `x` is below that, else `x` where `x` is below its own
/// value, else keeps its own; without a data-dependent branch. `carry` is the previous vector's
/// slots moved up a lane (its last slot in lane 0, the predecessor of this vector's first; -inf
/// before the first vector, which no `x` is below). Returns the new slots, and this vector's
/// slots moved up a lane, the next one's `carry`.
#[inline(always)]
fn shift_in<T: Real, M: Math<T>>(
    m: M,
    (x, i): Slots<T, M>,
    (own, own_i): Slots<T, M>,
    (carry, carry_i): Slots<T, M>,
) -> (Slots<T, M>, Slots<T, M>) {
    let first = m.tail(1);
    let (up, up_i) = (m.rotate_up(own), m.rotate_up_idx(own_i));
    let (prev, prev_i) = (m.blend(first, carry, up), m.blend_idx(first, carry_i, up_i));
    let (shifts, takes) = (m.lt_mask(x, prev), m.lt_mask(x, own));
    let new = m.blend(shifts, prev, m.blend(takes, x, own));
    let new_i = m.blend_idx(shifts, prev_i, m.blend_idx(takes, i, own_i));
    ((new, new_i), (up, up_i))
}

/// [`KMin::insert_stored`]'s loop, as a task for [`Math::vectorize`].
struct InsertLanes<'a, T, M, const N: usize> {
    m: M,
    selection: &'a mut Selection<T, N>,
    xs: &'a [T; MAX_LANES],
    js: &'a [u32; MAX_LANES],
    below: u64,
}

impl<T: Real, M: Math<T>, const N: usize> Task for InsertLanes<'_, T, M, N> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        if N.div_ceil(M::LANES) <= HELD_VECTORS {
            return self.selection.insert_held(self.m, self.xs, self.js, self.below);
        }
        let mut below = self.below;
        while below != 0 {
            let l = below.trailing_zeros() as usize;
            self.selection.insert(self.m, self.xs[l], self.js[l]);
            below &= below - 1;
        }
    }
}

impl<K: KernelDef, const N: usize> Reducer<K> for KMin<N> {
    const TILED: bool = false;

    type Acc<M: Math<K::T>> = K::F<Selection<K::T, N>>;

    #[inline(always)]
    fn init<M: Math<K::T>>(_: M) -> Self::Acc<M> {
        Array::from_fn(|_| Selection::empty())
    }

    #[inline(always)]
    fn step<M: Math<K::T>>(m: M, acc: &mut Self::Acc<M>, f: &K::F<M::V>, _: &K::G<M::V>, j: M::Idx) {
        for (selection, &x) in acc.as_mut().iter_mut().zip(f.as_ref()) {
            // Most values are worse than the current N-th: skip them with one comparison.
            let below = m.lane_bits(m.lt_mask(x, m.splat(selection.last())));
            if below != 0 {
                Self::insert_lanes(m, selection, (x, j), below);
            }
        }
    }

    /// Once the selections have filled, almost no value of any row enters them: one test of
    /// every row and component skips the block.
    #[inline(always)]
    fn step_rows<M: Math<K::T>>(
        m: M,
        accs: &mut K::Block<Self::Acc<M>>,
        values: &K::Block<PairValues<K, M::V>>,
        j: M::Idx,
    ) {
        let mut take = m.tail(0);
        for (acc, (f, _)) in accs.as_ref().iter().zip(values.as_ref()) {
            for (selection, &x) in acc.as_ref().iter().zip(f.as_ref()) {
                take = m.or_mask(take, m.lt_mask(x, m.splat(selection.last())));
            }
        }
        if m.any(take) {
            for (acc, (f, g)) in accs.as_mut().iter_mut().zip(values.as_ref()) {
                <Self as Reducer<K>>::step(m, acc, f, g, j);
            }
        }
    }

    #[inline(always)]
    fn step_masked<M: Math<K::T>>(
        m: M,
        acc: &mut Self::Acc<M>,
        f: &K::F<M::V>,
        _: &K::G<M::V>,
        j: M::Idx,
        mask: M::Mask,
    ) {
        for (selection, &x) in acc.as_mut().iter_mut().zip(f.as_ref()) {
            // Lanes past the end hold padding, left out by the mask.
            let below = m.lane_bits(m.and_mask(mask, m.lt_mask(x, m.splat(selection.last()))));
            if below != 0 {
                Self::insert_lanes(m, selection, (x, j), below);
            }
        }
    }

    fn merge<M: Math<K::T>>(_: M, acc: &mut Self::Acc<M>, later: &Self::Acc<M>) {
        let scalar = <K::T as Real>::Scalar::default();
        for (selection, later) in acc.as_mut().iter_mut().zip(later.as_ref()) {
            // +inf is never selected, so a first slot at +inf is an empty selection, the first
            // tile's `total`: what `later` holds is the merge.
            let empty = selection.values.slots[0] == K::T::INFINITY;
            if empty {
                *selection = *later;
                continue;
            }
            for (&x, &i) in later.values.slots.iter().zip(&later.indices.slots) {
                // `later`'s values increase: once one is not below the N-th, none after is.
                let enters = x < selection.last();
                if !enters {
                    break;
                }
                selection.insert(scalar, x, i);
            }
        }
    }

    #[inline(always)]
    fn collapse<M: Math<K::T>>(_: M, acc: &Self::Acc<M>) -> Self::Acc<Scalar<K>> {
        *acc
    }

    #[inline(always)]
    fn finalize(acc: &Self::Acc<Scalar<K>>, values: &mut [K::T], indices: &mut [usize]) {
        let width = acc.as_ref().len();
        for (c, selection) in acc.as_ref().iter().enumerate() {
            for k in 0..N {
                if !values.is_empty() {
                    values[k * width + c] = selection.values.slots[k];
                }
                if !indices.is_empty() {
                    indices[k * width + c] = selection.indices.slots[k] as usize;
                }
            }
        }
    }
}
