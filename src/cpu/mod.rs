//! The CPU backend: rayon over blocks of output rows, tiles of the reduced index, lanes of
//! consecutive reduced rows.
//!
//! Parallel loops go through [`parallel_for`], which takes a `dyn` closure: rayon's generic
//! machinery is then compiled once for the whole crate rather than once per kernel, which keeps
//! each `keops!` invocation cheap to build.

pub mod interp;
pub mod math;
mod mathfns;
pub mod reduce;
pub mod simd;

use std::ops::Range;
use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;

use crate::cpu::math::{Math, Real, Task};
use crate::cpu::reduce::Reducer;
use crate::cpu::simd::WithMath;
use crate::kernel::{Array, KernelDef};

/// Reduced rows per tile. A tile is accumulated on its own and then merged into the row's
/// total (KeOps' block sum), which keeps float32 error low for large reductions.
const TILE: usize = 1024;

/// Reduced rows per segment when a reduction is split across threads because there are too
/// few output rows to keep them busy. Depends on sizes only, so results do not depend on the
/// number of threads.
const SEGMENT: usize = 16384;

/// Output rows below which the reduced index is split into segments.
const FEW_ROWS: usize = 256;

/// Pairs per parallel task, to amortise scheduling.
const PAIRS_PER_TASK: usize = 1 << 16;

/// Rows per task of the per-row feature computations.
const ROWS_PER_TASK: usize = 4096;

/// The widest SIMD register, in lanes (AVX-512's 16 f32): buffers of a value's lanes (and a
/// K-selection's overhang) are this long, and [`pack_inner`] checks every tier against it.
const MAX_LANES: usize = 16;

type Acc<K, M> = <<K as KernelDef>::Red as Reducer<K>>::Acc<M>;
type ScalarAcc<K> = Acc<K, <<K as KernelDef>::T as Real>::Scalar>;

/// Runs `f(t)` for every `t` in `0..n` on the rayon pool.
fn parallel_for(n: usize, f: &(dyn Fn(usize) + Sync)) {
    (0..n).into_par_iter().for_each(f);
}

/// Calls `f(first, chunk)` on consecutive chunks of `grain` elements of `out`, in parallel.
fn parallel_chunks<X: Send>(out: &mut [X], grain: usize, f: &(dyn Fn(usize, &mut [X]) + Sync)) {
    // Each task locks its own chunk once: uncontended, and no unsafe aliasing of `out`.
    let chunks: Vec<Mutex<&mut [X]>> = out.chunks_mut(grain.max(1)).map(Mutex::new).collect();
    parallel_for(chunks.len(), &|t| {
        let mut chunk = chunks[t].lock().unwrap_or_else(PoisonError::into_inner);
        f(t * grain, &mut chunk);
    });
}

/// `f(r)` for each `r` in `0..n`, computed in parallel.
fn parallel_map<X: Copy + Send + Sync>(n: usize, template: X, f: &(dyn Fn(usize) -> X + Sync)) -> Vec<X> {
    let mut out = vec![template; n];
    parallel_chunks(&mut out, ROWS_PER_TASK, &|first, chunk| {
        for (k, x) in chunk.iter_mut().enumerate() {
            *x = f(first + k);
        }
    });
    out
}

/// Evaluates kernel `K` into `values` and `indices` (`outer_rows` rows each): compiled, or
/// interpreted on the tiers kernels are not compiled for (see `simd::dispatch_compiled_f32`).
pub(crate) fn run<K: KernelDef>(
    inputs: &[&[K::T]],
    outer_rows: usize,
    inner_rows: usize,
    values: &mut [K::T],
    indices: &mut [usize],
) {
    if let Err(Run { inputs, outer_rows, inner_rows, values, indices }) =
        K::T::dispatch_compiled(Run::<K> { inputs, outer_rows, inner_rows, values, indices })
    {
        crate::kernel::run_interpreted::<K>(inputs, outer_rows, inner_rows, values, indices);
    }
}

/// A call of [`run_with`], waiting for the SIMD implementation.
struct Run<'a, K: KernelDef> {
    inputs: &'a [&'a [K::T]],
    outer_rows: usize,
    inner_rows: usize,
    values: &'a mut [K::T],
    indices: &'a mut [usize],
}

impl<K: KernelDef> WithMath<K::T> for Run<'_, K> {
    type Output = ();

    fn with<M: Math<K::T>>(self, m: M) {
        run_with::<K, M>(m, self.inputs, self.outer_rows, self.inner_rows, self.values, self.indices);
    }
}

fn run_with<K: KernelDef, M: Math<K::T>>(
    m: M,
    inputs: &[&[K::T]],
    outer_rows: usize,
    inner_rows: usize,
    values: &mut [K::T],
    indices: &mut [usize],
) {
    let (vw, iw) = (K::INFO.value_width, K::INFO.index_width);
    debug_assert_eq!(values.len(), outer_rows * vw);
    debug_assert_eq!(indices.len(), outer_rows * iw);
    if outer_rows == 0 {
        return;
    }
    let outer: Vec<K::Outer<K::T>> =
        parallel_map(outer_rows, Array::from_fn(|_| K::T::ZERO), &|r| K::outer(inputs, r));
    let inner = pack_inner::<K, M>(m, inputs, inner_rows);
    let block = <K::Block<()> as Array<()>>::LEN;
    let blocks = outer_rows.div_ceil(block);
    // Chunks of the reduced rows per segment: whole tiles, and a function of the sizes along
    // the reduced index only. Every output row is reduced segment by segment and the segments'
    // results merged in order, whether the segments run in parallel (few output rows) or one
    // after the other, so a row's result does not depend on the other rows.
    let tile_chunks = (TILE / M::LANES).max(1);
    let per = inner.len().div_ceil((inner_rows / SEGMENT).clamp(1, 64)).next_multiple_of(tile_chunks).max(1);
    let segments = if outer_rows >= FEW_ROWS { 1 } else { inner.len().div_ceil(per).max(1) };
    if segments == 1 {
        // Selections give the same result in one segment as in several.
        let per = if K::Red::TILED { per } else { inner.len().max(1) };
        let rows_per_task = (PAIRS_PER_TASK / inner_rows.max(1)).clamp(1, 256).next_multiple_of(block);
        let tasks: Vec<Mutex<OutputBlock<K::T>>> =
            row_blocks(values, indices, vw, iw, outer_rows, rows_per_task)
                .into_iter()
                .map(Mutex::new)
                .collect();
        parallel_for(tasks.len(), &|t| {
            let mut task = tasks[t].lock().unwrap_or_else(PoisonError::into_inner);
            let (values, indices) = &mut *task;
            let first = t * rows_per_task;
            let rows = first..outer_rows.min(first + rows_per_task);
            m.vectorize(ReduceRows::<K, M> {
                m,
                outer: &outer,
                rows,
                inner: &inner,
                inner_rows,
                per,
                values,
                indices,
            })
        });
    } else {
        let template = Array::from_fn(|_| <K::Red as Reducer<K>>::init(<K::T as Real>::Scalar::default()));
        let partial: Vec<K::Block<ScalarAcc<K>>> = parallel_map(blocks * segments, template, &|t| {
            let (b, s) = (t / segments, t % segments);
            let range = (s * per).min(inner.len())..((s + 1) * per).min(inner.len());
            reduce_block_once::<K, M>(m, &outer, b * block, &inner, range, inner_rows, per)
        });
        let scalar = <K::T as Real>::Scalar::default();
        for r in 0..outer_rows {
            let (b, k) = (r / block, r % block);
            let mut acc = partial[b * segments].as_ref()[k];
            for later in &partial[b * segments + 1..(b + 1) * segments] {
                K::Red::merge(scalar, &mut acc, &later.as_ref()[k]);
            }
            K::Red::finalize(&acc, &mut values[r * vw..(r + 1) * vw], &mut indices[r * iw..(r + 1) * iw]);
        }
    }
}

/// Reduces the output rows `rows` over every reduced row, writing their results into `values`
/// and `indices` (which start at the first of these rows).
struct ReduceRows<'a, K: KernelDef, M: Math<K::T>> {
    m: M,
    outer: &'a [K::Outer<K::T>],
    rows: Range<usize>,
    inner: &'a [K::Inner<M::V>],
    inner_rows: usize,
    /// Chunks per segment.
    per: usize,
    values: &'a mut [K::T],
    indices: &'a mut [usize],
}

impl<K: KernelDef, M: Math<K::T>> Task for ReduceRows<'_, K, M> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let (vw, iw) = (K::INFO.value_width, K::INFO.index_width);
        let block = <K::Block<()> as Array<()>>::LEN;
        let all = 0..self.inner.len();
        for first in self.rows.clone().step_by(block) {
            let accs = reduce_block_once::<K, M>(
                self.m,
                self.outer,
                first,
                self.inner,
                all.clone(),
                self.inner_rows,
                self.per,
            );
            for (row, acc) in (first..self.rows.end.min(first + block)).zip(accs.as_ref()) {
                let r = row - self.rows.start;
                K::Red::finalize(
                    acc,
                    &mut self.values[r * vw..(r + 1) * vw],
                    &mut self.indices[r * iw..(r + 1) * iw],
                );
            }
        }
    }
}

/// Computes every reduced row's features and packs them `LANES` rows per value. The last chunk
/// is padded with copies of the last row; those lanes are masked out of the reduction.
fn pack_inner<K: KernelDef, M: Math<K::T>>(
    m: M,
    inputs: &[&[K::T]],
    inner_rows: usize,
) -> Vec<K::Inner<M::V>> {
    assert!(M::LANES <= MAX_LANES);
    let rows: Vec<K::Inner<K::T>> =
        parallel_map(inner_rows, Array::from_fn(|_| K::T::ZERO), &|r| K::inner(inputs, r));
    let chunks = inner_rows.div_ceil(M::LANES);
    let template: K::Inner<M::V> = Array::from_fn(|_| m.splat(K::T::ZERO));
    parallel_map(chunks, template, &|c| {
        Array::from_fn(|f| {
            let mut lanes = [K::T::ZERO; MAX_LANES];
            for (l, x) in lanes[..M::LANES].iter_mut().enumerate() {
                *x = rows[(c * M::LANES + l).min(inner_rows - 1)].as_ref()[f];
            }
            m.load(&lanes[..M::LANES])
        })
    })
}

/// [`reduce_block`], out of line, under the tier's target features: its two callers (whole
/// rows, and segments of rows for calls with few output rows, each a parallel task) share one
/// copy of the reduction loop, the largest code of a kernel, rather than each inlining its own,
/// which the compiler would have to optimise twice per kernel and tier.
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
        for (t, a) in total.as_mut().iter_mut().zip(later.as_ref()) {
            K::Red::merge(scalar, t, a);
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
    let mut total = init();
    let mut start = range.start;
    while start < full {
        let end = start.saturating_add(tile).min(full);
        let mut acc: K::Block<Acc<K, M>> = Array::from_fn(|b| K::Red::restart(m, &total.as_ref()[b]));
        K::Red::step_chunks(m, &mut acc, o, &inner[start..end], start);
        for (t, a) in total.as_mut().iter_mut().zip(acc.as_ref()) {
            K::Red::merge(m, t, a);
        }
        start = end;
    }
    if full < range.end {
        // The last, partial chunk.
        let j = m.iota((full * M::LANES) as u32);
        let mask = m.tail(inner_rows - full * M::LANES);
        let values = K::pair(m, o, &inner[full]);
        for (t, (f, g)) in total.as_mut().iter_mut().zip(values.as_ref()) {
            let mut acc = K::Red::init(m);
            K::Red::step_masked(m, &mut acc, f, g, j, mask);
            K::Red::merge(m, t, &acc);
        }
    }
    // A loop rather than `from_fn`'s closure, which the compiler may leave out of line, without
    // the target features that the collapses' scalar arithmetic needs (see `Reducer::collapse`).
    let mut collapsed: K::Block<ScalarAcc<K>> =
        Array::from_fn(|_| K::Red::init(<K::T as Real>::Scalar::default()));
    for (c, t) in collapsed.as_mut().iter_mut().zip(total.as_ref()) {
        *c = K::Red::collapse(m, t);
    }
    collapsed
}

/// The values and indices of a block of output rows.
type OutputBlock<'a, T> = (&'a mut [T], &'a mut [usize]);

/// Splits the outputs into blocks of `rows` output rows.
fn row_blocks<'a, T>(
    mut values: &'a mut [T],
    mut indices: &'a mut [usize],
    vw: usize,
    iw: usize,
    outer_rows: usize,
    rows: usize,
) -> Vec<OutputBlock<'a, T>> {
    let mut blocks = Vec::with_capacity(outer_rows.div_ceil(rows));
    let mut start = 0;
    while start < outer_rows {
        let n = rows.min(outer_rows - start);
        let (v, rest_v) = values.split_at_mut(n * vw);
        let (i, rest_i) = indices.split_at_mut(n * iw);
        blocks.push((v, i));
        values = rest_v;
        indices = rest_i;
        start += n;
    }
    blocks
}
