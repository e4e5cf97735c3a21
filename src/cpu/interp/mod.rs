//! The CPU interpreter: a kernel's lowered formula ([`Program`]) run by code compiled once, in
//! this crate, rather than by code generated and optimised in the user's crate.
//!
//! Debug builds run kernels this way (see `KernelDef::run_cpu`): the compiled kernels'
//! generic driver, instantiated in a crate built without optimisation, ran about 200 times
//! slower than in a release build, while this crate's own code is optimised once the user's
//! profile asks for it (`[profile.dev.package.keops] opt-level = 3`) and costs their build
//! nothing per kernel. `KEOPS_CPU=interpreter` selects it in optimised builds too.
//!
//! Each instruction is applied to a batch of [`BATCH`] SIMD values of reduced rows at once, so
//! that decoding it costs little next to the arithmetic. The instructions are the compiled
//! kernel's own, applied by the same [`Math`] methods, so the formula's values are the same
//! to the bit; the reductions follow the compiled reducers' rules (lanes, tiles of
//! [`TILE`](super::TILE) reduced rows, merges, collapses), but not every schedule of theirs
//! (blocks of output rows, settled maxima, reduced rows split across threads), so sums may
//! differ from theirs in the last bits, as the SIMD tiers' do from each other.

mod exec;
mod program;
mod reduce;

use std::ops::Range;
use std::sync::OnceLock;

pub use program::{Differences, Inst, Op, PairStage, Prepass, Program, Reduction, Term};

use crate::cpu::math::{Math, Real, Task};
use crate::cpu::simd::WithMath;
use crate::cpu::tasks::Schedule;
use crate::cpu::{ROWS_PER_TASK, TILE, parallel_chunks, parallel_map};
use crate::info::KernelInfo;
use crate::ranges::Ranges;
use exec::{Features, Operands, apply, chain, exec, store_differences};
use program::row_offset;
use reduce::Rule;

/// SIMD values of reduced rows that each instruction is applied to.
const BATCH: usize = 8;

/// Whether `KEOPS_CPU=interpreter` asks optimised builds to interpret their kernels too.
pub(crate) fn forced() -> bool {
    static FORCED: OnceLock<bool> = OnceLock::new();
    *FORCED.get_or_init(|| std::env::var("KEOPS_CPU").is_ok_and(|v| v.eq_ignore_ascii_case("interpreter")))
}

/// One evaluation: the inputs (flat, in declaration order, already checked against the
/// kernel's declaration) and the outputs, `outer_rows` rows each.
pub struct Call<'a, T> {
    pub inputs: &'a [&'a [T]],
    pub outer_rows: usize,
    pub inner_rows: usize,
    /// The pairs to reduce: every pair, or those of block-sparse ranges (already checked to lie
    /// within the rows).
    pub ranges: Option<&'a Ranges>,
    pub values: &'a mut [T],
    pub indices: &'a mut [usize],
}

/// Runs `program` for `f32` kernels. Not generic, so that it is compiled (and optimised) in
/// this crate, whatever the caller's profile.
pub fn run_f32(program: &Program<f32>, info: &KernelInfo, call: Call<'_, f32>) {
    run(program, info, call);
}

/// [`run_f32`] for `f64` kernels.
pub fn run_f64(program: &Program<f64>, info: &KernelInfo, call: Call<'_, f64>) {
    run(program, info, call);
}

fn run<T: Real>(program: &Program<T>, info: &KernelInfo, call: Call<'_, T>) {
    assert!(program.fits(info), "the interpreted program of `{}` does not fit its kernel", info.formula);
    debug_assert_eq!(call.values.len(), call.outer_rows * info.value_width);
    debug_assert_eq!(call.indices.len(), call.outer_rows * info.index_width);
    if call.outer_rows == 0 {
        return;
    }
    T::dispatch(Interpret { program, info, call });
}

struct Interpret<'a, T: 'static> {
    program: &'a Program<T>,
    info: &'a KernelInfo,
    call: Call<'a, T>,
}

impl<T: Real> WithMath<T> for Interpret<'_, T> {
    type Output = ();

    fn with<M: Math<T>>(self, m: M) {
        let Interpret { program, info, call } = self;
        let Call { inputs, outer_rows, inner_rows, ranges, values, indices } = call;
        let outer = features(&program.outer, info, inputs, outer_rows);
        let inner = pack(m, &program.inner, info, inputs, inner_rows);
        let rule = Rule::new(program.reduction, program.pair.f.len(), program.pair.g.len());
        let (vw, iw) = (info.value_width, info.index_width);
        let no = program.outer.features.len() as u32;
        let mut splatted: Vec<usize> =
            program.pair.f.iter().chain(program.pair.g).filter(|&&r| r < no).map(|&r| r as usize).collect();
        splatted.sort_unstable();
        splatted.dedup();
        let rows =
            Rows { m, program, rule, outer: &outer, inner: &inner, splatted: &splatted, widths: (vw, iw) };
        let schedule = match ranges {
            Some(ranges) => Schedule::ranged(outer_rows, ranges),
            None => Schedule::dense(outer_rows, inner_rows, 1),
        };
        schedule.run(values, indices, (vw, iw), &|range, reduced, values, indices| {
            m.vectorize(Reduce { rows: &rows, range, reduced, values, indices });
        });
    }
}

/// Every row's features, `features.len()` per row.
fn features<T: Real>(stage: &Prepass<T>, info: &KernelInfo, inputs: &[&[T]], rows: usize) -> Vec<T> {
    let width = stage.features.len();
    let mut out = vec![T::ZERO; rows * width];
    if width == 0 {
        return out;
    }
    parallel_chunks(&mut out, ROWS_PER_TASK * width, &|first, chunk| {
        let s = T::Scalar::default();
        let mut regs = vec![T::ZERO; stage.registers as usize];
        for (k, row) in chunk.chunks_exact_mut(width).enumerate() {
            let r = first / width + k;
            for inst in stage.code {
                match *inst {
                    Inst::Load { dst, var, comp } => {
                        let var = var as usize;
                        regs[dst as usize] = inputs[var][row_offset(info, var, r) + comp as usize];
                    }
                    Inst::Const { dst, value } => regs[dst as usize] = value,
                    Inst::Op { op, dst, args: [a, b, c] } => {
                        let arg = |x: u32| if (x as usize) < regs.len() { regs[x as usize] } else { T::ZERO };
                        regs[dst as usize] = apply(s, op, arg(a), arg(b), arg(c));
                    }
                    Inst::Chain { term, dst, init, pairs } => {
                        regs[dst as usize] =
                            chain(s, term, init.map(|c| regs[c as usize]), pairs, |r| regs[r]);
                    }
                }
            }
            for (x, &f) in row.iter_mut().zip(stage.features) {
                *x = regs[f as usize];
            }
        }
    });
    out
}

/// The reduced rows' features, [`BATCH`] values of `M::LANES` rows per feature and batch,
/// batch-major. Lanes past the last row repeat it; the reductions mask them out.
fn pack<T: Real, M: Math<T>>(
    m: M,
    stage: &Prepass<T>,
    info: &KernelInfo,
    inputs: &[&[T]],
    rows: usize,
) -> Vec<[M::V; BATCH]> {
    let width = stage.features.len();
    let flat = features(stage, info, inputs, rows);
    let batches = rows.div_ceil(M::LANES * BATCH);
    parallel_map(batches * width, [m.splat(T::ZERO); BATCH], &|t| {
        let (b, k) = (t / width, t % width);
        core::array::from_fn(|u| {
            let mut lanes = [T::ZERO; super::MAX_LANES];
            for (l, x) in lanes[..M::LANES].iter_mut().enumerate() {
                let row = ((b * BATCH + u) * M::LANES + l).min(rows - 1);
                *x = flat[row * width + k];
            }
            m.load(&lanes[..M::LANES])
        })
    })
}

/// The values of the formulas for a batch.
#[derive(Clone, Copy)]
pub(super) struct Batch<'a, T: Real, M: Math<T>> {
    operands: Operands<'a, M::V>,
    f: &'a [u32],
    g: &'a [u32],
    /// Whether an `exp` of the batch went beyond its normal range (see [`exec`]).
    tiny: bool,
    /// `f`'s components, where the reduction computes them (see [`Rule::computes_differences`]).
    differences: Option<FeatureDifferences<'a, T>>,
}

/// A batch's [`Differences`], with the output row's features they read.
#[derive(Clone, Copy)]
pub(super) struct FeatureDifferences<'a, T> {
    differences: Differences,
    outer: &'a [T],
}

impl<'a, T: Real, M: Math<T>> Batch<'a, T, M> {
    /// Component `k` of the formula, a value per lane group.
    #[inline(always)]
    fn f(&self, k: usize) -> &'a [M::V; BATCH] {
        self.operands.get(self.f[k])
    }

    /// Component `k` of the second formula.
    #[inline(always)]
    fn g(&self, k: usize) -> &'a [M::V; BATCH] {
        self.operands.get(self.g[k])
    }
}

/// The chunks of reduced rows (`M::LANES` rows each) that a batch's lane groups hold, and
/// the rows among them to reduce.
#[derive(Clone, Copy)]
pub(super) struct Chunks {
    /// The first lane group's chunk.
    first: usize,
    /// The lane groups to reduce: `from..groups`.
    from: usize,
    groups: usize,
    /// The reduced rows to reduce: lanes outside them are masked out.
    rows: (usize, usize),
}

impl Chunks {
    /// Whether every lane of every lane group from the first is reduced.
    #[inline(always)]
    fn unmasked<T: Real, M: Math<T>>(self) -> bool {
        let (lo, hi) = self.rows;
        self.from == 0 && self.first * M::LANES >= lo && (self.first + self.groups) * M::LANES <= hi
    }

    /// Whether these are a whole batch of whole chunks, the common case.
    #[inline(always)]
    fn whole<T: Real, M: Math<T>>(self) -> bool {
        self.groups == BATCH && self.unmasked::<T, M>()
    }

    /// `f(u, j, mask)` for each lane group `u` to reduce, with its reduced rows' indices `j`
    /// and, for a partial chunk, the mask of its rows.
    #[inline(always)]
    fn each<T: Real, M: Math<T>>(self, m: M, mut f: impl FnMut(usize, M::Idx, Option<M::Mask>)) {
        let (lo, hi) = self.rows;
        for u in self.from..self.groups {
            let c = self.first + u;
            let j = m.iota((c * M::LANES) as u32);
            let (start, end) = (c * M::LANES, (c + 1) * M::LANES);
            let partial = start < lo || end > hi;
            f(u, j, partial.then(|| m.lanes_between(lo.saturating_sub(start), hi.min(end) - start)));
        }
    }
}

/// [`Rows::reduce`] as a task for [`Math::vectorize`], whose `run` is inlined (a closure's
/// body may not be, and would then lose the tier's target features).
struct Reduce<'a, 'b, T: Real, M: Math<T>> {
    rows: &'a Rows<'b, T, M>,
    range: Range<usize>,
    reduced: &'a [Range<usize>],
    values: &'a mut [T],
    indices: &'a mut [usize],
}

impl<T: Real, M: Math<T>> Task for Reduce<'_, '_, T, M> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        self.rows.reduce(self.range, self.reduced, self.values, self.indices);
    }
}

/// What every task reads.
struct Rows<'a, T: Real, M: Math<T>> {
    m: M,
    program: &'a Program<T>,
    rule: Rule,
    outer: &'a [T],
    inner: &'a [[M::V; BATCH]],
    /// The output row's features that are components of the formulas, which the reduction
    /// reads in the register file (instructions read them as scalars).
    splatted: &'a [usize],
    /// The output widths: values and indices.
    widths: (usize, usize),
}

impl<T: Real, M: Math<T>> Rows<'_, T, M> {
    /// Reduces the output rows `rows` over the reduced rows `reduced` (ranges, in order), into
    /// `values` and `indices` (which start at the first row).
    #[inline(always)]
    fn reduce(&self, rows: Range<usize>, reduced: &[Range<usize>], values: &mut [T], indices: &mut [usize]) {
        let Rows { m, program, rule, .. } = *self;
        let pair = &program.pair;
        let (no, ni) = (program.outer.features.len(), program.inner.features.len());
        let mut regs = vec![[m.splat(T::ZERO); BATCH]; pair.registers as usize];
        for &(r, c) in pair.consts {
            regs[r as usize] = [m.splat(c); BATCH];
        }
        let (mut total, mut tile) = (rule.state(m), rule.state(m));
        // Tiles start at multiples of their size (from chunk 0), which are whole batches.
        let tile_chunks = if rule.tiled() { (TILE / M::LANES).max(1) } else { usize::MAX };
        let (vw, iw) = self.widths;
        for (r, row) in rows.enumerate() {
            for &k in self.splatted {
                regs[k] = [m.splat(self.outer[row * no + k]); BATCH];
            }
            rule.init(m, &mut total);
            for range in reduced.iter().filter(|r| !r.is_empty()) {
                let mut start = range.start / M::LANES;
                let chunks = range.end.div_ceil(M::LANES);
                while start < chunks {
                    let end = (start / tile_chunks).saturating_add(1).saturating_mul(tile_chunks).min(chunks);
                    let acc = if rule.tiled() {
                        rule.restart(m, &mut tile, &total);
                        &mut tile
                    } else {
                        &mut total
                    };
                    let mut batch = start;
                    while batch < end {
                        let b = batch / BATCH;
                        let next = ((b + 1) * BATCH).min(end);
                        let inner = &self.inner[b * ni..(b + 1) * ni];
                        let outer = &self.outer[row * no..(row + 1) * no];
                        let features = Features { outer, inner };
                        let tiny = exec(m, pair.code, &mut regs, features);
                        let (first, rows) = (b * BATCH, (range.start, range.end));
                        let chunks = Chunks { first, from: batch - first, groups: next - first, rows };
                        let differences = match pair.differences {
                            Some(differences) if rule.computes_differences::<T, M>(chunks, tiny) => {
                                Some(FeatureDifferences { differences, outer })
                            }
                            Some(differences) => {
                                store_differences(m, differences, pair.f, &mut regs, features);
                                None
                            }
                            None => None,
                        };
                        let operands = Operands { regs: &regs, inner, no };
                        let batch_values = Batch { operands, f: pair.f, g: pair.g, tiny, differences };
                        rule.step(m, acc, batch_values, chunks);
                        batch = next;
                    }
                    if rule.tiled() {
                        rule.merge(m, &mut total, &tile);
                    }
                    start = end;
                }
            }
            rule.finish(m, &total, &mut values[r * vw..(r + 1) * vw], &mut indices[r * iw..(r + 1) * iw]);
        }
    }
}

#[cfg(test)]
mod tests {
    use keops_testkit::Rng;

    use super::*;
    use crate::__private::KernelDef;
    use crate::info::Index;

    /// A sum of products whose differences the reduction computes gives the values of the same
    /// program computing them as instructions, to the bit: on whole batches, partial ones, and
    /// batches of `exp`s below the normal range (the last kernel's, all of them), where the
    /// interpreter stores them first.
    #[test]
    fn differences_computed_by_the_reduction_are_the_stored_ones() {
        same_values(&crate::keops!(|g: f32, x_i: [f32; 19], y_j: [f32; 19], b_j: f32| sum_j(x_i - y_j)
            * (exp(-g * sqdist(x_i, y_j)) * b_j)));
        same_values(&crate::keops!(|g: f64, x_i: [f64; 10], y_j: [f64; 10], b_j: f64| sum_j(y_j - x_i)
            * (exp(-g * sqdist(x_i, y_j)) * b_j)));
        same_values(&crate::keops!(|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j(y_j - x_i)
            * (exp(-80.0 - g * sqdist(x_i, y_j)) * b_j)));
    }

    fn same_values<K: KernelDef>(_: &K) {
        let program = K::PROGRAM;
        let Some(differences) = program.pair.differences else {
            panic!("no differences in {}", K::INFO.formula)
        };
        let pair = program.pair;
        let subs = pair.f.iter().zip(differences.features).map(|(&dst, &[o, i])| {
            let args = if differences.inner_first { [i, o, 0] } else { [o, i, 0] };
            Inst::Op { op: Op::Sub, dst, args }
        });
        let code: Vec<Inst<K::T>> = subs.chain(pair.code.iter().copied()).collect();
        let stored = Program { pair: PairStage { code: code.leak(), differences: None, ..pair }, ..program };
        let info = K::INFO;
        for (seed, (m, n)) in [(3, 1100), (2, 4100), (5, 7)].into_iter().enumerate() {
            let mut rng = Rng::new(seed as u64);
            let inputs: Vec<Vec<K::T>> = (info.vars.iter())
                .map(|v| {
                    let (rows, lo, hi) = match v.index {
                        Index::I => (m, -1.5, 1.5),
                        Index::J => (n, -1.5, 1.5),
                        Index::Param => (1, 0.1, 0.4),
                    };
                    rng.vec(rows * v.dim, lo, hi).into_iter().map(K::T::from_f64).collect()
                })
                .collect();
            let inputs: Vec<&[K::T]> = inputs.iter().map(Vec::as_slice).collect();
            let values = |program: &Program<K::T>| {
                let mut values = vec![K::T::ZERO; m * info.value_width];
                let call = Call {
                    inputs: &inputs,
                    outer_rows: m,
                    inner_rows: n,
                    ranges: None,
                    values: &mut values,
                    indices: &mut [],
                };
                run(program, &info, call);
                values.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>()
            };
            assert_eq!(values(&program), values(&stored), "{} at {m} x {n}", info.formula);
        }
    }
}
