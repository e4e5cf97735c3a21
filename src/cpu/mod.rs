//! The CPU backend: rayon over blocks of output rows, tiles of the reduced index, lanes of
//! consecutive reduced rows.
//!
//! A kernel's build cost is what is compiled in the crate that defines it, so as little as
//! possible is generic over the kernel: [`driver`] (features, packing, parallel tasks) is
//! compiled here once per tier, [`compiled`] holds the reduction loops that are compiled per
//! kernel, and parallel loops go through [`parallel_for`], which takes a `dyn` closure, so
//! that rayon's generic machinery is compiled once too.

mod compiled;
pub mod driver;
pub mod interp;
pub mod math;
mod mathfns;
pub mod reduce;
pub mod simd;
mod tasks;

use std::marker::PhantomData;
use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;

use crate::cpu::compiled::Compiled;
use crate::cpu::interp::Call;
use crate::cpu::math::{Math, Real};
use crate::cpu::simd::WithMath;
use crate::kernel::KernelDef;

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
/// K-selection's overhang) are this long, and the driver's packing checks every tier against it.
const MAX_LANES: usize = 16;

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

/// `f(t)` for each `t` in `0..n`, computed in parallel: [`parallel_map`] for code compiled
/// once per kernel, where each type `X` instantiates it again. It allocates once and writes in
/// place, so that it brings no vector initialisation and no per-task locks.
fn parallel_collect<X: Copy + Send>(n: usize, f: &(dyn Fn(usize) -> X + Sync)) -> Vec<X> {
    /// The vector's buffer, written by every task.
    struct Slots<X>(*mut X);
    // SAFETY: tasks write distinct elements (below) of a buffer that outlives them, and `X` is
    // `Send`, so moving values into it from other threads is sound.
    unsafe impl<X: Send> Sync for Slots<X> {}
    let mut out: Vec<X> = Vec::with_capacity(n);
    let slots = Slots(out.as_mut_ptr());
    parallel_for(n, &|t| {
        let slots = &slots;
        // SAFETY: `t < n`, within the capacity, and `parallel_for` runs each `t` exactly once,
        // so no element is written twice or concurrently.
        unsafe { slots.0.add(t).write(f(t)) }
    });
    // SAFETY: `parallel_for` has returned, so every one of the `n` elements was written; had `f`
    // panicked, the panic would have left before this, with the length still 0 (and `X: Copy`
    // drops nothing).
    unsafe { out.set_len(n) };
    out
}

/// Evaluates kernel `K` into `values` and `indices` (`outer_rows` rows each): compiled, or
/// interpreted on the tiers kernels are not compiled for (see `simd::dispatch_compiled_f32`).
pub(crate) fn run<K: KernelDef>(call: Call<'_, K::T>) {
    if let Err(Run { call, .. }) = K::T::dispatch_compiled(Run::<K> { call, kernel: PhantomData }) {
        K::T::interpret(&K::PROGRAM, &K::INFO, call);
    }
}

/// A call of kernel `K`, waiting for the SIMD implementation.
struct Run<'a, K: KernelDef> {
    call: Call<'a, K::T>,
    kernel: PhantomData<K>,
}

impl<K: KernelDef> WithMath<K::T> for Run<'_, K> {
    type Output = ();

    fn with<M: Math<K::T>>(self, m: M) {
        m.drive(&Compiled::<K>::NEW, &Compiled::<K>::NEW, self.call);
    }
}
