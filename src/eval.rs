//! The entry points generated code calls: input validation, size inference, backend dispatch.

#[cfg(feature = "cuda")]
use crate::backend::Resolved;
use crate::cpu::interp::Call;
use crate::cpu::math::Real;
use crate::error::{Error, Result};
use crate::info::{Index, KernelInfo};
use crate::kernel::KernelDef;
use crate::ranges::Ranges;

/// Row counts along the output index and the reduced index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sizes {
    pub outer: usize,
    pub inner: usize,
}

/// Checks the inputs against the kernel's declaration and infers the sizes: rows of the
/// i-variables and of the j-variables, 1 along an index that has no variable (as pykeops).
pub(crate) fn sizes<K: KernelDef>(inputs: &[&[K::T]]) -> Result<Sizes> {
    sizes_for(&K::INFO, &lengths(inputs))
}

/// The inputs' lengths.
pub(crate) fn lengths<T>(inputs: &[&[T]]) -> Vec<usize> {
    inputs.iter().map(|x| x.len()).collect()
}

/// [`sizes`] from the inputs' lengths alone (device-resident inputs have no host slice), for
/// the kernel `info` describes. Not generic, so that it is compiled once, in this crate.
pub(crate) fn sizes_for(info: &KernelInfo, lengths: &[usize]) -> Result<Sizes> {
    let vars = info.vars;
    if lengths.len() != vars.len() {
        return Err(Error::InputCount { expected: vars.len(), got: lengths.len() });
    }
    let mut rows: [Option<(&'static str, usize)>; 2] = [None, None];
    for (v, &len) in vars.iter().zip(lengths) {
        let slot = match v.index {
            Index::Param => {
                if len != v.dim {
                    return Err(Error::ParamLength { var: v.name, len, dim: v.dim });
                }
                continue;
            }
            Index::I => 0,
            Index::J => 1,
        };
        if len % v.dim != 0 {
            return Err(Error::Length { var: v.name, len, dim: v.dim });
        }
        let n = len / v.dim;
        match rows[slot] {
            None => rows[slot] = Some((v.name, n)),
            Some((first, first_rows)) if first_rows != n => {
                return Err(Error::RowMismatch {
                    index: v.index.letter(),
                    var: v.name,
                    rows: n,
                    first,
                    first_rows,
                });
            }
            Some(_) => {}
        }
    }
    let [m, n] = rows.map(|r| r.map_or(1, |(_, n)| n));
    let sizes = match info.reduced {
        Index::J => Sizes { outer: m, inner: n },
        _ => Sizes { outer: n, inner: m },
    };
    if info.index_width > 0 {
        check_index_range(info.reduced, sizes.inner)?;
    }
    Ok(sizes)
}

/// The most reduced rows an index reduction accepts: indices are kept as `u32` in the kernels.
pub(crate) const MAX_INDEXED_ROWS: usize = u32::MAX as usize;

/// An index reduction over `rows` rows of `reduced` fits its index type.
fn check_index_range(reduced: Index, rows: usize) -> Result<()> {
    if rows > MAX_INDEXED_ROWS {
        return Err(Error::TooManyRows { index: reduced.letter(), rows, limit: MAX_INDEXED_ROWS });
    }
    Ok(())
}

/// Evaluates into `values` (`outer * value_width`) and `indices` (`outer * index_width`),
/// over every pair or over the pairs of `ranges` (checked against the sizes by the caller).
pub(crate) fn compute<K: KernelDef>(
    k: &K,
    inputs: &[&[K::T]],
    sizes: Sizes,
    ranges: Option<&Ranges>,
    values: &mut [K::T],
    indices: &mut [usize],
) -> Result<()> {
    #[cfg_attr(not(feature = "cuda"), allow(unused_variables))]
    let resolved = k.backend().resolve()?;
    #[cfg(feature = "cuda")]
    if let (Resolved::Cuda(ordinal), Some(module), None) = (resolved, K::GPU, ranges) {
        return crate::backend::gpu::run::<K>(ordinal, &module, inputs, sizes, values, indices);
    }
    // The CPU; a kernel without a GPU module (the derivatives of selections, which
    // `Backprop::selection` evaluates on the CPU anyway); or ranges, which reach the GPU one
    // block at a time (`ranges::eval_flat`), and the CPU in one call.
    K::run_cpu(Call { inputs, outer_rows: sizes.outer, inner_rows: sizes.inner, ranges, values, indices });
    Ok(())
}

/// `eval_flat`: values then indices (as numbers), flat.
pub fn eval_flat<K: KernelDef, S: AsRef<[K::T]>>(k: &K, inputs: &[S]) -> Result<Vec<K::T>> {
    let inputs: Vec<&[K::T]> = inputs.iter().map(AsRef::as_ref).collect();
    let sizes = sizes::<K>(&inputs)?;
    let mut values = vec![K::T::ZERO; sizes.outer * K::INFO.value_width];
    let mut indices = vec![0; sizes.outer * K::INFO.index_width];
    compute(k, &inputs, sizes, None, &mut values, &mut indices)?;
    values.extend(indices.into_iter().map(K::T::from_index));
    Ok(values)
}

/// `eval_flat` over the pairs of `ranges`, in one call.
pub(crate) fn eval_ranged<K: KernelDef>(k: &K, inputs: &[&[K::T]], ranges: &Ranges) -> Result<Vec<K::T>> {
    let sizes = sizes::<K>(inputs)?;
    ranges.check_bounds(sizes.outer, sizes.inner)?;
    let mut values = vec![K::T::ZERO; sizes.outer * K::INFO.value_width];
    let mut indices = vec![0; sizes.outer * K::INFO.index_width];
    compute(k, inputs, sizes, Some(ranges), &mut values, &mut indices)?;
    values.extend(indices.into_iter().map(K::T::from_index));
    Ok(values)
}

/// Typed `eval` of a reduction with values only.
pub fn eval_values<K: KernelDef, const W: usize>(k: &K, inputs: &[&[K::T]]) -> Result<Vec<[K::T; W]>> {
    debug_assert_eq!((W, K::INFO.index_width), (K::INFO.value_width, 0));
    let sizes = sizes::<K>(inputs)?;
    let mut values = vec![[K::T::ZERO; W]; sizes.outer];
    compute(k, inputs, sizes, None, values.as_flattened_mut(), &mut [])?;
    Ok(values)
}

/// Typed `eval` of a reduction with indices only.
pub fn eval_indices<K: KernelDef, const W: usize>(k: &K, inputs: &[&[K::T]]) -> Result<Vec<[usize; W]>> {
    debug_assert_eq!((0, W), (K::INFO.value_width, K::INFO.index_width));
    let sizes = sizes::<K>(inputs)?;
    let mut indices = vec![[0; W]; sizes.outer];
    compute(k, inputs, sizes, None, &mut [], indices.as_flattened_mut())?;
    Ok(indices)
}

/// Values and indices, one row per output index.
pub type ValuesAndIndices<T, const W: usize> = (Vec<[T; W]>, Vec<[usize; W]>);

/// Typed `eval` of a reduction with values and indices.
pub fn eval_both<K: KernelDef, const W: usize>(
    k: &K,
    inputs: &[&[K::T]],
) -> Result<ValuesAndIndices<K::T, W>> {
    debug_assert_eq!((W, W), (K::INFO.value_width, K::INFO.index_width));
    let sizes = sizes::<K>(inputs)?;
    let mut values = vec![[K::T::ZERO; W]; sizes.outer];
    let mut indices = vec![[0; W]; sizes.outer];
    compute(k, inputs, sizes, None, values.as_flattened_mut(), indices.as_flattened_mut())?;
    Ok((values, indices))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_reductions_refuse_rows_beyond_u32() {
        assert_eq!(check_index_range(Index::J, MAX_INDEXED_ROWS), Ok(()));
        let err = check_index_range(Index::I, MAX_INDEXED_ROWS + 1).unwrap_err();
        assert_eq!(err, Error::TooManyRows { index: 'i', rows: 1 << 32, limit: (1 << 32) - 1 });
        assert_eq!(
            err.to_string(),
            "4294967296 rows along i exceed the 4294967295 that the reduction's indices can address"
        );
    }
}
