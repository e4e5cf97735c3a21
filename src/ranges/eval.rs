//! Reductions restricted to ranges, on any kernel and backend. On the CPU, one call of the
//! kernel over all the blocks (see [`Kernel::eval_ranged`]). Elsewhere, each block of output
//! rows is reduced over its reduced blocks by one call of the kernel on that sub-problem (the
//! block's rows read in place, its reduced blocks gathered unless there is one), and
//! gradients add up the blocks' gradients.

use std::borrow::Cow;
use std::ops::Range;

use rayon::prelude::*;

use super::Ranges;
use crate::cpu::math::Real;
use crate::error::{Error, Result};
use crate::eval::sizes_for;
use crate::info::{Index, KernelInfo};
use crate::kernel::Kernel;

/// `k.eval_flat(inputs)` with the reduction restricted to `ranges` (see [`Ranges`]): the same
/// layout (all values, then all indices), indices counted among all the reduced rows. Output
/// rows outside every block get the reduction of nothing.
pub fn eval_flat<K: Kernel>(k: &K, inputs: &[&[K::T]], ranges: &Ranges) -> Result<Vec<K::T>> {
    let info = k.info();
    let (outer_rows, _) = check(&info, inputs, ranges)?;
    if let Some(out) = k.eval_ranged(inputs, ranges) {
        return out;
    }
    let (vw, iw) = (info.value_width, info.index_width);
    if outer_rows == 0 {
        return Ok(Vec::new());
    }
    let blocks: Vec<(Range<usize>, Vec<Range<usize>>)> = ranges.blocks().collect();
    let results: Vec<Vec<K::T>> = blocks
        .par_iter()
        .map(|(rows, reduced)| k.eval_flat(&sub_inputs(&info, inputs, rows, reduced)))
        .collect::<Result<_>>()?;
    // Rows outside every block: a call over one of them and no reduced row.
    let empty = k.eval_flat(&sub_inputs(&info, inputs, &(0..outer_rows.min(1)), &[]))?;
    let mut values: Vec<K::T> = (0..outer_rows).flat_map(|_| empty[..vw].iter().copied()).collect();
    let mut indices: Vec<K::T> = (0..outer_rows).flat_map(|_| empty[vw..].iter().copied()).collect();
    for ((rows, reduced), out) in blocks.iter().zip(results) {
        let n = rows.len();
        values[rows.start * vw..rows.end * vw].copy_from_slice(&out[..n * vw]);
        for (slot, &local) in indices[rows.start * iw..rows.end * iw].iter_mut().zip(&out[n * vw..]) {
            *slot = K::T::from_f64(global_index(reduced, local.to_f64() as usize) as f64);
        }
    }
    values.extend(indices);
    Ok(values)
}

/// `k.grad_flat(pos, inputs, e)` of the reduction restricted to `ranges`.
pub fn grad_flat<K: Kernel>(
    k: &K,
    pos: usize,
    inputs: &[&[K::T]],
    e: &[K::T],
    ranges: &Ranges,
) -> Result<Vec<K::T>> {
    grad_flat_transposed(k, pos, inputs, e, ranges, None)
}

/// [`grad_flat`], with the same pairs' ranges over the other index if the caller has them.
pub(super) fn grad_flat_transposed<K: Kernel>(
    k: &K,
    pos: usize,
    inputs: &[&[K::T]],
    e: &[K::T],
    ranges: &Ranges,
    transposed: Option<&Ranges>,
) -> Result<Vec<K::T>> {
    let info = k.info();
    let var = *info.vars.get(pos).ok_or(Error::NoSuchVariable { pos, count: info.vars.len() })?;
    let vw = info.value_width;
    let (outer_rows, _) = check(&info, inputs, ranges)?;
    if e.len() != outer_rows * vw {
        return Err(Error::GradientShape { len: e.len(), expected: outer_rows * vw });
    }
    if let Some(g) = k.grad_ranged(pos, inputs, e, ranges, transposed) {
        return g;
    }
    let blocks: Vec<(Range<usize>, Vec<Range<usize>>)> = ranges.blocks().collect();
    let grads: Vec<Vec<K::T>> = blocks
        .par_iter()
        .map(|(rows, reduced)| {
            let sub = sub_inputs(&info, inputs, rows, reduced);
            k.grad_flat(pos, &sub, &e[rows.start * vw..rows.end * vw])
        })
        .collect::<Result<_>>()?;
    let dim = var.dim;
    let mut g = vec![K::T::ZERO; inputs[pos].len()];
    for ((rows, reduced), block) in blocks.iter().zip(grads) {
        match var.index {
            index if index == info.output_index() => {
                g[rows.start * dim..rows.end * dim].copy_from_slice(&block);
            }
            Index::Param => add(&mut g, &block),
            _ => {
                let mut at = 0;
                for r in reduced {
                    add(&mut g[r.start * dim..r.end * dim], &block[at..at + r.len() * dim]);
                    at += r.len() * dim;
                }
            }
        }
    }
    Ok(g)
}

/// The sizes along the output and reduced indices, after checking the inputs and that the
/// ranges lie within them.
fn check<T>(info: &KernelInfo, inputs: &[&[T]], ranges: &Ranges) -> Result<(usize, usize)> {
    let lengths: Vec<usize> = inputs.iter().map(|x| x.len()).collect();
    let sizes = sizes_for(info, &lengths)?;
    ranges.check_bounds(sizes.outer, sizes.inner)?;
    Ok((sizes.outer, sizes.inner))
}

/// The inputs of the sub-problem of output rows `rows` against the reduced rows `reduced`.
fn sub_inputs<'a, T: Copy>(
    info: &KernelInfo,
    inputs: &[&'a [T]],
    rows: &Range<usize>,
    reduced: &[Range<usize>],
) -> Vec<Cow<'a, [T]>> {
    info.vars
        .iter()
        .zip(inputs)
        .map(|(v, &x)| match v.index {
            Index::Param => Cow::Borrowed(x),
            index if index == info.output_index() => Cow::Borrowed(&x[rows.start * v.dim..rows.end * v.dim]),
            _ => match reduced {
                [one] => Cow::Borrowed(&x[one.start * v.dim..one.end * v.dim]),
                _ => {
                    let mut rows = Vec::with_capacity(reduced.iter().map(|r| r.len() * v.dim).sum());
                    for r in reduced {
                        rows.extend_from_slice(&x[r.start * v.dim..r.end * v.dim]);
                    }
                    Cow::Owned(rows)
                }
            },
        })
        .collect()
}

/// The reduced row that is row `local` of the blocks `reduced` gathered in order.
fn global_index(reduced: &[Range<usize>], mut local: usize) -> usize {
    for r in reduced {
        if local < r.len() {
            return r.start + local;
        }
        local -= r.len();
    }
    local
}

fn add<T: Real>(into: &mut [T], from: &[T]) {
    for (a, &b) in into.iter_mut().zip(from) {
        *a = T::from_f64(a.to_f64() + b.to_f64());
    }
}
