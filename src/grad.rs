//! Backward passes: the gradient of `sum <output, e>` with respect to each input, running the
//! backward kernels that `keops!` generated (see keops-core's `backward` module for which kernel
//! computes what).

use std::borrow::Cow;
use std::cell::OnceCell;

use crate::cpu::math::Real;
use crate::error::{Error, Result};
use crate::eval::{Sizes, compute, sizes};
use crate::info::Index;
use crate::kernel::{Array, KernelDef};
use crate::ranges::Ranges;

/// One backward pass: the inputs, the incoming gradient, and the forward results that several
/// inputs' gradients share, computed once.
pub struct Backprop<'a, K: KernelDef> {
    kernel: &'a K,
    inputs: Vec<&'a [K::T]>,
    e: &'a [K::T],
    sizes: Sizes,
    /// The pairs: every pair, or those of block-sparse ranges over the kernel's reduced index,
    /// and the same pairs' ranges over the other index, for the backward kernels that reduce
    /// over it (transposed when first needed, unless given).
    ranges: Option<&'a Ranges>,
    transposed: OnceCell<Cow<'a, Ranges>>,
    output: OnceCell<Vec<K::T>>,
    auxiliary: OnceCell<(Vec<K::T>, Vec<usize>)>,
}

impl<'a, K: KernelDef> Backprop<'a, K> {
    /// Checks the inputs and `e`, which has the shape of the output: its values part, or the
    /// whole flat output of a two-part reduction (whose indices part is ignored).
    pub fn new<S: AsRef<[K::T]>>(kernel: &'a K, inputs: &'a [S], e: &'a [K::T]) -> Result<Self> {
        let inputs: Vec<&[K::T]> = inputs.iter().map(AsRef::as_ref).collect();
        let sizes = sizes::<K>(&inputs)?;
        let values = sizes.outer * K::INFO.value_width;
        let full = sizes.outer * (K::INFO.value_width + K::INFO.index_width);
        if e.len() != values && e.len() != full {
            return Err(Error::GradientShape { len: e.len(), expected: values });
        }
        Ok(Backprop {
            kernel,
            inputs,
            e,
            sizes,
            ranges: None,
            transposed: OnceCell::new(),
            output: OnceCell::new(),
            auxiliary: OnceCell::new(),
        })
    }

    /// This pass over the pairs of `ranges` only (and of `transposed`, their ranges over the
    /// other index, if given), after checking that they lie within the inputs' rows.
    pub(crate) fn with_ranges(mut self, ranges: &'a Ranges, transposed: Option<&'a Ranges>) -> Result<Self> {
        ranges.check_bounds(self.sizes.outer, self.sizes.inner)?;
        if let Some(t) = transposed {
            t.check_bounds(self.sizes.inner, self.sizes.outer)?;
            self.transposed = OnceCell::from(Cow::Borrowed(t));
        }
        self.ranges = Some(ranges);
        Ok(self)
    }

    /// The ranges of a reduction over `reduced`, if this pass has ranges.
    fn ranges_over(&self, reduced: Index) -> Option<&Ranges> {
        let ranges = self.ranges?;
        if reduced == K::INFO.reduced {
            return Some(ranges);
        }
        Some(self.transposed.get_or_init(|| Cow::Owned(ranges.transposed())))
    }

    /// Fails for a position the kernel does not have.
    pub fn check(&self, pos: usize) -> Result<()> {
        let count = K::INFO.vars.len();
        if pos < count { Ok(()) } else { Err(Error::NoSuchVariable { pos, count }) }
    }

    /// The incoming gradient's values part.
    pub fn gradient(&self) -> &[K::T] {
        &self.e[..self.sizes.outer * K::INFO.value_width]
    }

    /// The forward output's values.
    pub fn output(&self) -> Result<&[K::T]> {
        if let Some(out) = self.output.get() {
            return Ok(out);
        }
        let mut values = vec![K::T::ZERO; self.sizes.outer * K::INFO.value_width];
        let mut indices = vec![0; self.sizes.outer * K::INFO.index_width];
        compute(self.kernel, &self.inputs, self.sizes, self.ranges, &mut values, &mut indices)?;
        Ok(self.output.get_or_init(|| values))
    }

    /// The results of the auxiliary forward kernel `A` (a log-sum-exp, or the reduction with its
    /// indices), on the same inputs.
    pub fn auxiliary<A: KernelDef<T = K::T>>(&self) -> Result<&(Vec<K::T>, Vec<usize>)> {
        if let Some(aux) = self.auxiliary.get() {
            return Ok(aux);
        }
        let a = A::on_backend(self.kernel.backend());
        let mut values = vec![K::T::ZERO; self.sizes.outer * A::INFO.value_width];
        let mut indices = vec![0; self.sizes.outer * A::INFO.index_width];
        compute(&a, &self.inputs, self.sizes, self.ranges_over(A::INFO.reduced), &mut values, &mut indices)?;
        Ok(self.auxiliary.get_or_init(|| (values, indices)))
    }

    /// A gradient that is zero: the output does not depend on input `pos` differentiably.
    pub fn zero(&self, pos: usize) -> Vec<K::T> {
        vec![K::T::ZERO; self.rows(pos) * K::INFO.vars[pos].dim]
    }

    /// Rows of input `pos`.
    fn rows(&self, pos: usize) -> usize {
        let v = &K::INFO.vars[pos];
        match v.index {
            Index::Param => 1,
            _ if v.index == K::INFO.reduced => self.sizes.inner,
            _ => self.sizes.outer,
        }
    }

    /// Runs the backward reduction `B` on the inputs followed by `extras`; for a parameter
    /// (`sum_rows`), sums the result over its rows.
    pub fn reduction<B: KernelDef<T = K::T>>(&self, extras: &[&[K::T]], sum_rows: bool) -> Result<Vec<K::T>> {
        let b = B::on_backend(self.kernel.backend());
        let mut inputs = self.inputs.clone();
        inputs.extend_from_slice(extras);
        let sizes = sizes::<B>(&inputs)?;
        let width = B::INFO.value_width;
        let mut values = vec![K::T::ZERO; sizes.outer * width];
        compute(&b, &inputs, sizes, self.ranges_over(B::INFO.reduced), &mut values, &mut [])?;
        if !sum_rows {
            return Ok(values);
        }
        let s = <K::T as Real>::Scalar::default();
        let mut total = vec![K::T::ZERO; width];
        for row in values.chunks(width) {
            for (t, &x) in total.iter_mut().zip(row) {
                *t = crate::cpu::math::Math::add(s, *t, x);
            }
        }
        Ok(total)
    }

    /// The gradient of a min / max / K-min reduction with respect to input `pos`: the
    /// derivative kernel `G` (of `F` for an incoming gradient `E`, appended after the inputs)
    /// evaluated at each pair the reduction with indices `A` selected, and added to the row of
    /// the input that pair involves.
    pub fn selection<A: KernelDef<T = K::T>, G: KernelDef<T = K::T>>(&self, pos: usize) -> Result<Vec<K::T>> {
        let (values, indices) = self.auxiliary::<A>()?;
        let dim_f = G::INFO.vars.last().map_or(1, |v| v.dim);
        let width = A::INFO.index_width;
        let slots = width / dim_f;
        let e = self.gradient();
        let var = K::INFO.vars[pos];
        let mut grad = self.zero(pos);
        let s = <K::T as Real>::Scalar::default();
        let rows = self.sizes.outer;
        let mut unit = vec![K::T::ZERO; rows * dim_f];
        for c in 0..dim_f {
            for k in 0..slots {
                // E: the incoming gradient of slot k, component c, in component c only.
                for r in 0..rows {
                    unit[r * dim_f + c] = e[r * width + k * dim_f + c];
                }
                let mut inputs = self.inputs.clone();
                inputs.push(&unit);
                for r in 0..rows {
                    let p = r * width + k * dim_f + c;
                    if !values[p].to_f64().is_finite() {
                        // A slot no finite value filled.
                        continue;
                    }
                    let j = indices[p];
                    let o = G::outer(&inputs, r);
                    let i = G::inner(&inputs, j);
                    // The block's rows are all this one: only the first result is used.
                    let (f, _) = G::pair(s, &Array::from_fn(|_| o), &i).as_ref()[0];
                    let target = match var.index {
                        Index::Param => 0,
                        idx if idx == K::INFO.reduced => j,
                        _ => r,
                    };
                    for (g, &x) in grad[target * var.dim..(target + 1) * var.dim].iter_mut().zip(f.as_ref()) {
                        *g = crate::cpu::math::Math::add(s, *g, x);
                    }
                }
                for r in 0..rows {
                    unit[r * dim_f + c] = K::T::ZERO;
                }
            }
        }
        Ok(grad)
    }
}

/// A flat gradient as rows of `D` values.
pub fn rows<T: Copy + Default, const D: usize>(flat: Vec<T>) -> Vec<[T; D]> {
    flat.chunks_exact(D).map(|r| core::array::from_fn(|k| r[k])).collect()
}

/// A parameter's flat gradient as an array.
pub fn array<T: Copy + Default, const D: usize>(flat: Vec<T>) -> [T; D] {
    core::array::from_fn(|k| flat.get(k).copied().unwrap_or_default())
}
