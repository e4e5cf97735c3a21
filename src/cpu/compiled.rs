//! What a compiled kernel gives the [driver](super::driver): its features and, for each tier,
//! its reduction loops. This is the code compiled in the crate that defines the kernel, so it
//! holds no more than the loops over a block of output rows and the merges of their results.

use std::marker::PhantomData;
use std::ops::Range;

use super::driver::{Job, RowFeatures, Shape, TierKernel};
use super::math::{Math, Real, Task};
use super::reduce::Reducer;
use super::{TILE, parallel_collect};
use crate::kernel::{Array, KernelDef};

type Acc<K, M> = <<K as KernelDef>::Red as Reducer<K>>::Acc<M>;
type ScalarAcc<K> = Acc<K, <<K as KernelDef>::T as Real>::Scalar>;

/// Kernel `K`, as the driver reaches it.
pub(crate) struct Compiled<K>(PhantomData<K>);

impl<K> Compiled<K> {
    pub(crate) const NEW: Self = Compiled(PhantomData);
}

impl<K: KernelDef> RowFeatures<K::T> for Compiled<K> {
    fn shape(&self) -> Shape {
        Shape {
            outer_width: <K::Outer<()> as Array<()>>::LEN,
            inner_width: <K::Inner<()> as Array<()>>::LEN,
            block: <K::Block<()> as Array<()>>::LEN,
            tiled: K::Red::TILED,
            value_width: K::INFO.value_width,
            index_width: K::INFO.index_width,
        }
    }

    fn outer_row(&self, inputs: &[&[K::T]], row: usize, out: &mut [K::T]) {
        out.copy_from_slice(K::outer(inputs, row).as_ref());
    }

    fn inner_row(&self, inputs: &[&[K::T]], row: usize, out: &mut [K::T]) {
        out.copy_from_slice(K::inner(inputs, row).as_ref());
    }
}

/// The job's features as kernel `K`'s arrays: the output rows', and the packed reduced rows'.
#[allow(clippy::type_complexity)]
fn arrays<'a, K: KernelDef, M: Math<K::T>>(
    job: &Job<'a, K::T, M::V>,
) -> (&'a [K::Outer<K::T>], &'a [K::Inner<M::V>]) {
    (K::Outer::<K::T>::slice_of(job.outer, job.outer_rows), K::Inner::<M::V>::slice_of(job.inner, job.chunks))
}

impl<K: KernelDef, M: Math<K::T>> TierKernel<K::T, M> for Compiled<K> {
    fn reduce_rows(
        &self,
        m: M,
        job: &Job<'_, K::T, M::V>,
        rows: Range<usize>,
        values: &mut [K::T],
        indices: &mut [usize],
    ) {
        let (outer, inner) = arrays::<K, M>(job);
        let (vw, iw) = (K::INFO.value_width, K::INFO.index_width);
        let block = <K::Block<()> as Array<()>>::LEN;
        for first in rows.clone().step_by(block) {
            let accs =
                reduce_block_once::<K, M>(m, outer, first, inner, 0..job.chunks, job.inner_rows, job.per);
            for row in first..rows.end.min(first + block) {
                let r = row - rows.start;
                let acc = &accs.as_ref()[row - first];
                K::Red::finalize(acc, &mut values[r * vw..(r + 1) * vw], &mut indices[r * iw..(r + 1) * iw]);
            }
        }
    }

    fn reduce_segments(
        &self,
        m: M,
        job: &Job<'_, K::T, M::V>,
        segments: usize,
        values: &mut [K::T],
        indices: &mut [usize],
    ) {
        let (outer, inner) = arrays::<K, M>(job);
        let (vw, iw) = (K::INFO.value_width, K::INFO.index_width);
        let block = <K::Block<()> as Array<()>>::LEN;
        let blocks = job.outer_rows.div_ceil(block);
        let (chunks, per) = (job.chunks, job.per);
        let partial: Vec<K::Block<ScalarAcc<K>>> = parallel_collect(blocks * segments, &|t| {
            let (b, s) = (t / segments, t % segments);
            let range = (s * per).min(chunks)..((s + 1) * per).min(chunks);
            reduce_block_once::<K, M>(m, outer, b * block, inner, range, job.inner_rows, per)
        });
        let scalar = <K::T as Real>::Scalar::default();
        for r in 0..job.outer_rows {
            let (b, k) = (r / block, r % block);
            let mut acc = partial[b * segments].as_ref()[k];
            for later in &partial[b * segments + 1..(b + 1) * segments] {
                K::Red::merge(scalar, &mut acc, &later.as_ref()[k]);
            }
            K::Red::finalize(&acc, &mut values[r * vw..(r + 1) * vw], &mut indices[r * iw..(r + 1) * iw]);
        }
    }
}

/// [`reduce_block`], out of line, under the tier's target features: its two callers (whole
/// rows, and segments of rows) share one copy of the reduction loop, the largest code of a
/// kernel, rather than each inlining its own, which the compiler would have to optimise twice
/// per kernel and tier.
///
/// Its arguments are slices and sizes, not the [`Job`]: passed by value rather than read
/// through a pointer, they cost the compiler markedly less to optimise in the loops (see
/// BENCHMARKS.md).
#[inline(never)]
fn reduce_block_once<K: KernelDef, M: Math<K::T>>(
    m: M,
    outer: &[K::Outer<K::T>],
    first: usize,
    inner: &[K::Inner<M::V>],
    range: Range<usize>,
    inner_rows: usize,
    per: usize,
) -> K::Block<ScalarAcc<K>> {
    m.vectorize(ReduceBlock::<K, M> { m, outer, first, inner, range, inner_rows, per })
}

/// [`reduce_block`]'s arguments, as a task for [`Math::vectorize`].
struct ReduceBlock<'a, K: KernelDef, M: Math<K::T>> {
    m: M,
    outer: &'a [K::Outer<K::T>],
    first: usize,
    inner: &'a [K::Inner<M::V>],
    range: Range<usize>,
    inner_rows: usize,
    per: usize,
}

impl<K: KernelDef, M: Math<K::T>> Task for ReduceBlock<'_, K, M> {
    type Output = K::Block<ScalarAcc<K>>;

    #[inline(always)]
    fn run(self) -> Self::Output {
        reduce_block::<K, M>(
            self.m,
            self.outer,
            self.first,
            self.inner,
            self.range,
            self.inner_rows,
            self.per,
        )
    }
}

/// Reduces the block of output rows starting at `first` over the chunks `range` of the packed
/// reduced rows, segment by segment (`per` chunks each, counted from chunk 0), merging the
/// segments' collapsed results in order. Rows past the end repeat the last one (their results
/// are not used). Each row is reduced in the same order whatever the block size and whether
/// the segments are reduced here or in parallel, so results do not depend on either.
#[inline(always)]
fn reduce_block<K: KernelDef, M: Math<K::T>>(
    m: M,
    outer: &[K::Outer<K::T>],
    first: usize,
    inner: &[K::Inner<M::V>],
    range: Range<usize>,
    inner_rows: usize,
    per: usize,
) -> K::Block<ScalarAcc<K>> {
    let o: K::Block<K::Outer<M::V>> = Array::from_fn(|b| {
        let row = &outer[(first + b).min(outer.len() - 1)];
        Array::from_fn(|k| m.splat(row.as_ref()[k]))
    });
    let end = ((range.start / per + 1) * per).min(range.end);
    let mut total = reduce_segment::<K, M>(m, &o, inner, range.start..end, inner_rows);
    let mut start = end;
    while start < range.end {
        let end = (start + per).min(range.end);
        let later = reduce_segment::<K, M>(m, &o, inner, start..end, inner_rows);
        let scalar = <K::T as Real>::Scalar::default();
        for b in 0..<K::Block<()> as Array<()>>::LEN {
            K::Red::merge(scalar, &mut total.as_mut()[b], &later.as_ref()[b]);
        }
        start = end;
    }
    total
}

/// Reduces a block of output rows, with features `o`, over the chunks `range` of the packed
/// reduced rows: tile by tile, then the partial last chunk; collapses the lanes.
#[inline(always)]
fn reduce_segment<K: KernelDef, M: Math<K::T>>(
    m: M,
    o: &K::Block<K::Outer<M::V>>,
    inner: &[K::Inner<M::V>],
    range: Range<usize>,
    inner_rows: usize,
) -> K::Block<ScalarAcc<K>> {
    let full = (inner_rows / M::LANES).clamp(range.start, range.end);
    let tile = if K::Red::TILED { (TILE / M::LANES).max(1) } else { usize::MAX };
    let init = || -> K::Block<Acc<K, M>> { Array::from_fn(|_| K::Red::init(m)) };
    let mask = m.tail(inner_rows.saturating_sub(full * M::LANES).min(M::LANES));
    // The partial chunk as a last tile of its own, or after the tiles. Branches on the
    // constant, so that a kernel instantiates only the code of its own way.
    let tiles_end = if const { K::Red::PARTIAL_AS_TILE } { range.end } else { full };
    let mut total = init();
    let mut start = range.start;
    while start < tiles_end {
        let end = if start < full { start.saturating_add(tile).min(full) } else { tiles_end };
        let mut acc: K::Block<Acc<K, M>> = Array::from_fn(|b| K::Red::restart(m, &total.as_ref()[b]));
        K::Red::step_chunks(m, &mut acc, o, &inner[start..end], start);
        if const { K::Red::PARTIAL_AS_TILE } && end > full {
            for a in acc.as_mut() {
                K::Red::clear_lanes(m, a, mask);
            }
        }
        for b in 0..<K::Block<()> as Array<()>>::LEN {
            K::Red::merge(m, &mut total.as_mut()[b], &acc.as_ref()[b]);
        }
        start = end;
    }
    if const { !K::Red::PARTIAL_AS_TILE } && full < range.end {
        // The last, partial chunk.
        let j = m.iota((full * M::LANES) as u32);
        let values = K::pair(m, o, &inner[full]);
        for b in 0..<K::Block<()> as Array<()>>::LEN {
            let (f, g) = &values.as_ref()[b];
            let mut acc = K::Red::init(m);
            K::Red::step_masked(m, &mut acc, f, g, j, mask);
            K::Red::merge(m, &mut total.as_mut()[b], &acc);
        }
    }
    // A loop rather than `from_fn`'s closure, which the compiler may leave out of line, without
    // the target features that the collapses' scalar arithmetic needs (see `Reducer::collapse`).
    let mut collapsed: K::Block<ScalarAcc<K>> =
        Array::from_fn(|_| K::Red::init(<K::T as Real>::Scalar::default()));
    for b in 0..<K::Block<()> as Array<()>>::LEN {
        collapsed.as_mut()[b] = K::Red::collapse(m, &total.as_ref()[b]);
    }
    collapsed
}
