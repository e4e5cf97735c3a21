//! Batch dimensions, as in KeOps: many independent reductions of the same formula in one call.
//!
//! Each input carries leading batch dimensions `(B1, ..., Bk)` before its rows and columns: a
//! variable is `(B1, ..., Bk, rows, dim)` and a parameter `(B1, ..., Bk, dim)`, row-major. Every
//! input has the same number `k` of batch dimensions, and along each of them its size is either
//! the batch size or 1, in which case it is broadcast (shared by every problem along it). The
//! output is batched by the broadcast shape; a gradient has the shape of its input, summed over
//! the batches that input was broadcast to.
//!
//! The formula and its dimensions stay fixed when the kernel is built; the batch shapes are given
//! at run time with the data, as [`Batches`]. Each problem is one call of the kernel on views of
//! its inputs (nothing is copied), on the kernel's backend, the problems in parallel.
//!
//! ```
//! use keops::batch::Batches;
//! use keops::keops;
//!
//! // Two clouds of 3 points x_i, each against its own 2 points y_j and the shared weights b_j.
//! let k = keops!(|x_i: [f64; 1], y_j: [f64; 1], b_j: f64| sum_j exp(-sqdist(x_i, y_j)) * b_j);
//! let x = [0.0, 1.0, 2.0, /* second batch */ 5.0, 6.0, 7.0];
//! let y = [0.0, 1.0, /* second batch */ 6.0, 7.0];
//! let b = [1.0, 2.0]; // batch shape [1]: shared by both batches
//! let batches = Batches::new(&[&[2], &[2], &[1]])?;
//! let out = keops::batch::eval_flat(&k, &[&x[..], &y, &b], &batches)?;
//! assert_eq!(batches.shape(), [2]);
//! assert_eq!(out.len(), 2 * 3);
//! assert_eq!(out[3..], k.eval_flat(&[&x[3..], &y[2..], &b])?[..]);
//! # Ok::<(), keops::Error>(())
//! ```

use rayon::prelude::*;

use crate::cpu::math::Real;
use crate::error::{Error, Result};
use crate::eval::sizes_for;
use crate::info::KernelInfo;
use crate::kernel::Kernel;

/// The batch shape of each input and the broadcast shape of the output: KeOps' leading batch
/// dimensions, checked once against each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batches {
    inputs: Vec<Vec<usize>>,
    shape: Vec<usize>,
}

impl Batches {
    /// The batch shapes of the kernel's inputs, in order (the dimensions before a variable's
    /// rows, or before a parameter's values). An error unless they all have the same number of
    /// dimensions and, along each, the same size wherever it is not 1 (none of them 0).
    pub fn new(shapes: &[&[usize]]) -> Result<Batches> {
        let rank = shapes.first().map_or(0, |s| s.len());
        if let Some((k, s)) = shapes.iter().enumerate().find(|(_, s)| s.len() != rank) {
            return Err(Error::Batch {
                reason: format!(
                    "input {k} has {} batch dimensions, input 0 has {rank}: give every input all \
                     of them, with 1 where it is shared",
                    s.len()
                ),
            });
        }
        if let Some((k, s)) = shapes.iter().enumerate().find(|(_, s)| s.contains(&0)) {
            return Err(Error::Batch { reason: format!("input {k} has a batch dimension of size 0: {s:?}") });
        }
        let mut shape = vec![1; rank];
        for (d, size) in shape.iter_mut().enumerate() {
            for (k, s) in shapes.iter().enumerate() {
                match (*size, s[d]) {
                    (_, 1) => {}
                    (1, n) => *size = n,
                    (m, n) if m == n => {}
                    (m, n) => {
                        return Err(Error::Batch {
                            reason: format!(
                                "batch dimension {d} is {n} for input {k} but {m} for an earlier \
                                 input; sizes must agree or be 1"
                            ),
                        });
                    }
                }
            }
        }
        Ok(Batches { inputs: shapes.iter().map(|s| s.to_vec()).collect(), shape })
    }

    /// The output's batch shape: each dimension the largest of the inputs'.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of independent problems, the product of [`shape`](Self::shape).
    pub fn count(&self) -> usize {
        self.shape.iter().product()
    }

    /// Where problem `b` (counted row-major over [`shape`](Self::shape)) finds its data in input
    /// `k`: the index of its batch among that input's batches, broadcast dimensions held at 0.
    fn batch_of(&self, k: usize, b: usize) -> usize {
        let mut rest = b;
        let mut index = 0;
        let mut stride = 1;
        for (&out, &size) in self.shape.iter().zip(&self.inputs[k]).rev() {
            if size != 1 {
                index += (rest % out) * stride;
            }
            rest /= out;
            stride *= size;
        }
        index
    }
}

/// `k.eval_flat(inputs)` of every problem of `batches`: the values of all problems (problem
/// after problem, each laid out as `eval_flat`'s values), then their indices likewise, counted
/// within each problem as in KeOps.
pub fn eval_flat<K: Kernel, S: AsRef<[K::T]> + Sync>(
    k: &K,
    inputs: &[S],
    batches: &Batches,
) -> Result<Vec<K::T>> {
    let info = k.info();
    let per_batch = check(&info, inputs, batches)?;
    let outputs: Vec<Vec<K::T>> = (0..batches.count())
        .into_par_iter()
        .map(|b| k.eval_flat(&views(inputs, &per_batch, batches, b)))
        .collect::<Result<_>>()?;
    let rows = outer_rows(&info, &per_batch)?;
    let values = rows * info.value_width;
    let mut flat = Vec::with_capacity(outputs.len() * rows * (info.value_width + info.index_width));
    for out in &outputs {
        flat.extend_from_slice(&out[..values]);
    }
    for out in &outputs {
        flat.extend_from_slice(&out[values..]);
    }
    Ok(flat)
}

/// `k.grad_flat(pos, inputs, e)` of every problem of `batches`, with `e` laid out as the values
/// of [`eval_flat`]: the gradient with respect to input `pos`, in that input's layout, summed
/// over the problems that share each of its batches.
pub fn grad_flat<K: Kernel, S: AsRef<[K::T]> + Sync>(
    k: &K,
    pos: usize,
    inputs: &[S],
    e: &[K::T],
    batches: &Batches,
) -> Result<Vec<K::T>> {
    let info = k.info();
    if pos >= info.vars.len() {
        return Err(Error::NoSuchVariable { pos, count: info.vars.len() });
    }
    let per_batch = check(&info, inputs, batches)?;
    let e_len = outer_rows(&info, &per_batch)? * info.value_width;
    if e.len() != batches.count() * e_len {
        return Err(Error::GradientShape { len: e.len(), expected: batches.count() * e_len });
    }
    let grads: Vec<Vec<K::T>> = (0..batches.count())
        .into_par_iter()
        .map(|b| k.grad_flat(pos, &views(inputs, &per_batch, batches, b), &e[b * e_len..(b + 1) * e_len]))
        .collect::<Result<_>>()?;
    let len = per_batch[pos];
    let mut g = vec![K::T::ZERO; inputs[pos].as_ref().len()];
    for (b, grad) in grads.iter().enumerate() {
        let at = batches.batch_of(pos, b) * len;
        for (into, &from) in g[at..at + len].iter_mut().zip(grad) {
            *into = K::T::from_f64(into.to_f64() + from.to_f64());
        }
    }
    Ok(g)
}

/// The length of one batch of each input, after checking that each input holds a whole number
/// of batches and that a batch of each makes a valid call.
fn check<T, S: AsRef<[T]>>(info: &KernelInfo, inputs: &[S], batches: &Batches) -> Result<Vec<usize>> {
    if inputs.len() != batches.inputs.len() {
        return Err(Error::Batch {
            reason: format!("{} inputs but {} batch shapes", inputs.len(), batches.inputs.len()),
        });
    }
    let mut per_batch = Vec::with_capacity(inputs.len());
    for (k, (x, shape)) in inputs.iter().zip(&batches.inputs).enumerate() {
        let (len, count) = (x.as_ref().len(), shape.iter().product::<usize>());
        if len % count != 0 {
            return Err(Error::Batch {
                reason: format!(
                    "input {k} has {len} values, not a whole number of its {count} batches {shape:?}"
                ),
            });
        }
        per_batch.push(len / count);
    }
    sizes_for(info, &per_batch)?;
    Ok(per_batch)
}

/// The number of output rows of one problem.
fn outer_rows(info: &KernelInfo, per_batch: &[usize]) -> Result<usize> {
    Ok(sizes_for(info, per_batch)?.outer)
}

/// The inputs of problem `b`: a view of each input's batch.
fn views<'a, T, S: AsRef<[T]>>(
    inputs: &'a [S],
    per_batch: &[usize],
    batches: &Batches,
    b: usize,
) -> Vec<&'a [T]> {
    inputs
        .iter()
        .zip(per_batch)
        .enumerate()
        .map(|(k, (x, &len))| {
            let at = batches.batch_of(k, b) * len;
            &x.as_ref()[at..at + len]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_dimensions_hold_at_zero() {
        let b = Batches::new(&[&[1, 4], &[3, 4], &[3, 1]]).unwrap();
        assert_eq!((b.shape(), b.count()), (&[3, 4][..], 12));
        let at = |k| (0..12).map(|p| b.batch_of(k, p)).collect::<Vec<_>>();
        assert_eq!(at(0), [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]);
        assert_eq!(at(1), (0..12).collect::<Vec<_>>());
        assert_eq!(at(2), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    }

    #[test]
    fn shapes_that_do_not_broadcast_are_errors() {
        for shapes in [&[&[2, 3][..], &[2]][..], &[&[2, 3], &[3, 3]], &[&[2], &[3], &[1]], &[&[0], &[1]]] {
            assert!(matches!(Batches::new(shapes), Err(Error::Batch { .. })), "{shapes:?}");
        }
        assert_eq!(Batches::new(&[]).unwrap().count(), 1);
        assert_eq!(Batches::new(&[&[], &[]]).unwrap().shape(), [0usize; 0]);
    }
}
