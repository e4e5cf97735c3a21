//! Tensor algebra on vectors read as row-major tensors (KeOps' `C_CONTIGUOUS` layout):
//! matrix-vector products, outer products and general contractions.

use super::{Attr, AttrValue, Derivative, Kind, OpSpec, TestCase, attrs, zero_if_any_zero};
use crate::ir::{DimError, Graph, NodeId};
use crate::lower::Val;
use crate::ops::Op;

/// `(rows, cols)` of the matrix of a matrix-vector product, or the error of `name`.
fn matrix_shape(name: &str, matrix: usize, vector: usize) -> Result<usize, DimError> {
    if matrix.is_multiple_of(vector) {
        Ok(matrix / vector)
    } else {
        Err(format!(
            "dimension mismatch in `{name}`: a matrix of dimension {matrix} cannot multiply a vector of dimension {vector} (the matrix dimension must be a multiple of it)"
        ))
    }
}

pub(super) static MATVECMULT: OpSpec = OpSpec {
    name: "matvecmult",
    keops: "MatVecMult",
    symbol: None,
    operands: &["m", "v"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| matrix_shape("matvecmult", d[0], d[1]),
        dim_doc: "`dim(m) / dim(v)`",
        eval: |a, _, o| {
            let cols = a[1].len();
            for (i, o) in o.iter_mut().enumerate() {
                *o = (0..cols).map(|k| a[0][i * cols + k] * a[1][k]).sum();
            }
        },
        lower: |p, a, _| {
            let cols = a[1].len();
            a[0].chunks(cols).map(|row| p.dot(row, a[1])).collect()
        },
    },
    derivative: Derivative::Vjp(|g, a, _, _, e| {
        Ok(vec![g.op(Op::TensorProd, &[e, a[1]], &[])?, g.op(Op::VecMatMult, &[e, a[0]], &[])?])
    }),
    simplify: zero_if_any_zero,
    tests: &[TestCase { operands: &[(6, -2.0, 2.0), (3, -2.0, 2.0)], attrs: &[] }],
    doc: "matrix-vector product `m v`, `m` a row-major matrix with `dim(v)` columns",
};

pub(super) static VECMATMULT: OpSpec = OpSpec {
    name: "vecmatmult",
    keops: "VecMatMult",
    symbol: None,
    operands: &["v", "m"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| matrix_shape("vecmatmult", d[1], d[0]),
        dim_doc: "`dim(m) / dim(v)`",
        eval: |a, _, o| {
            let cols = o.len();
            for (i, o) in o.iter_mut().enumerate() {
                *o = a[0].iter().enumerate().map(|(k, v)| a[1][k * cols + i] * v).sum();
            }
        },
        lower: |p, a, _| {
            let cols = a[1].len() / a[0].len();
            (0..cols)
                .map(|i| {
                    let column: Vec<Val> = (0..a[0].len()).map(|k| a[1][k * cols + i]).collect();
                    p.dot(&column, a[0])
                })
                .collect()
        },
    },
    derivative: Derivative::Vjp(|g, a, _, _, e| {
        Ok(vec![g.op(Op::MatVecMult, &[a[1], e], &[])?, g.op(Op::TensorProd, &[a[0], e], &[])?])
    }),
    simplify: zero_if_any_zero,
    tests: &[TestCase { operands: &[(2, -2.0, 2.0), (6, -2.0, 2.0)], attrs: &[] }],
    doc: "vector-matrix product `v^T m`, `m` a row-major matrix with `dim(v)` rows",
};

pub(super) static TENSORPROD: OpSpec = OpSpec {
    name: "tensorprod",
    keops: "TensorProd",
    symbol: None,
    operands: &["a", "b"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| Ok(d[0] * d[1]),
        dim_doc: "`dim(a) * dim(b)`",
        eval: |a, _, o| {
            let n = a[1].len();
            for (k, o) in o.iter_mut().enumerate() {
                *o = a[0][k / n] * a[1][k % n];
            }
        },
        lower: |p, a, _| {
            let n = a[1].len();
            (0..a[0].len() * n).map(|k| p.mul(a[0][k / n], a[1][k % n])).collect()
        },
    },
    derivative: Derivative::Vjp(|g, a, _, _, e| {
        Ok(vec![g.op(Op::MatVecMult, &[e, a[1]], &[])?, g.op(Op::VecMatMult, &[a[0], e], &[])?])
    }),
    simplify: zero_if_any_zero,
    tests: &[TestCase { operands: &[(2, -2.0, 2.0), (3, -2.0, 2.0)], attrs: &[] }],
    doc: "outer product `a b^T`, row-major",
};

pub(super) static TENSORDOT: OpSpec = OpSpec {
    name: "tensordot",
    keops: "TensorDot",
    symbol: None,
    operands: &["a", "b"],
    attrs: &[
        Attr::tuple("dims_a"),
        Attr::tuple("dims_b"),
        Attr::tuple("contract_a"),
        Attr::tuple("contract_b"),
        Attr::optional_tuple("permute"),
    ],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, t| Contraction::new(d, t).map(|c| c.terms.len()),
        dim_doc: "product of the kept dimensions",
        eval: |a, t, o| {
            let c = Contraction::new(&[a[0].len(), a[1].len()], t).expect("checked by the dimension rule");
            for (o, terms) in o.iter_mut().zip(&c.terms) {
                *o = terms.iter().map(|&(i, j)| a[0][i] * a[1][j]).sum();
            }
        },
        lower: |p, a, t| {
            let c = Contraction::new(&[a[0].len(), a[1].len()], t).expect("checked by the dimension rule");
            c.terms
                .iter()
                .map(|terms| {
                    let (x, y): (Vec<Val>, Vec<Val>) = terms.iter().map(|&(i, j)| (a[0][i], a[1][j])).unzip();
                    p.dot(&x, &y)
                })
                .collect()
        },
    },
    derivative: Derivative::Vjp(tensordot_vjp),
    simplify: zero_if_any_zero,
    tests: &[
        // A 2x3 matrix times a 3x2 matrix.
        TestCase { operands: &[(6, -2.0, 2.0), (6, -2.0, 2.0)], attrs: &[2, 2, 3, 2, 3, 2, 1, 1, 1, 0, 0] },
        // Two contracted axes, in crossed order: a is 2x3x2, b is 2x3.
        TestCase {
            operands: &[(12, -2.0, 2.0), (6, -2.0, 2.0)],
            attrs: &[3, 2, 3, 2, 2, 2, 3, 2, 1, 2, 2, 1, 0, 0],
        },
        // No contraction, output axes permuted: a 2x3 and b 4 give a 3x4x2 tensor.
        TestCase { operands: &[(6, -2.0, 2.0), (4, -2.0, 2.0)], attrs: &[2, 2, 3, 1, 4, 0, 0, 3, 2, 0, 1] },
    ],
    doc: "contraction of `a` and `b` (tensors of shapes `dims_a`, `dims_b`) over the axes \
          `contract_a` of `a` and `contract_b` of `b`, as numpy's `tensordot`; the kept axes of \
          `a` then `b` go to the output positions `permute` (default: in order)",
};

pub(super) static KRON: OpSpec = OpSpec {
    name: "kron",
    keops: "Kron",
    symbol: None,
    operands: &["a", "b"],
    attrs: &[Attr::tuple("dims_a"), Attr::tuple("dims_b")],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, t| {
            TENSORDOT.output_dim(d, &kron_as_tensordot(t)?).map_err(|e| e.replace("`tensordot`", "`kron`"))
        },
        dim_doc: "`dim(a) * dim(b)`",
        eval: |a, t, o| {
            let attrs = kron_as_tensordot(t).expect("checked by the dimension rule");
            TENSORDOT.evaluate(a, &attrs, o)
        },
        lower: |p, a, t| {
            let attrs = kron_as_tensordot(t).expect("checked by the dimension rule");
            TENSORDOT.lower(p, a, &attrs)
        },
    },
    derivative: Derivative::Vjp(|g, a, t, out, e| tensordot_vjp(g, a, &kron_as_tensordot(t)?, out, e)),
    simplify: |g, a, t, _| Ok(Some(g.op(Op::TensorDot, a, &kron_as_tensordot(t)?)?)),
    tests: &[TestCase { operands: &[(6, -2.0, 2.0), (4, -2.0, 2.0)], attrs: &[2, 2, 3, 2, 2, 2] }],
    doc: "Kronecker product of tensors of shapes `dims_a` and `dims_b` (of equal rank), as numpy's `kron`",
};

/// `Kron(a, b, dims_a, dims_b)` is `TensorDot(a, b, dims_a, dims_b, (), (), permute)` with the
/// axes of `a` and `b` interleaved, as in KeOps.
fn kron_as_tensordot(attrs: &[i64]) -> Result<Vec<i64>, DimError> {
    let t = attrs::tuples(attrs);
    let rank = t[0].len();
    if t[1].len() != rank {
        return Err(format!(
            "`kron` needs tensors of the same rank, got shapes of {} and {} axes",
            rank,
            t[1].len()
        ));
    }
    let permute: Vec<usize> = (0..rank).map(|k| 2 * k).chain((0..rank).map(|k| 2 * k + 1)).collect();
    let dims = |v: &[i64]| v.iter().map(|&x| usize::try_from(x).unwrap_or(0)).collect::<Vec<_>>();
    Ok(tensordot_attrs([&dims(t[0]), &dims(t[1]), &[], &[], &permute]))
}

/// A validated tensor contraction: for each output component, the pairs of components of `a`
/// and `b` whose products it sums.
struct Contraction {
    shape_a: Vec<usize>,
    shape_b: Vec<usize>,
    contract_a: Vec<usize>,
    contract_b: Vec<usize>,
    /// Output position of each kept axis (the kept axes of `a`, then of `b`).
    permute: Vec<usize>,
    /// Output shape (after the permutation).
    out_shape: Vec<usize>,
    terms: Vec<Vec<(usize, usize)>>,
}

/// Row-major strides of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        s[k] = s[k + 1] * shape[k + 1];
    }
    s
}

/// Every multi-index of `shape`, in row-major order.
fn multi_indices(shape: &[usize]) -> impl Iterator<Item = Vec<usize>> + '_ {
    let total: usize = shape.iter().product();
    (0..total).map(move |mut flat| {
        let mut idx = vec![0; shape.len()];
        for k in (0..shape.len()).rev() {
            idx[k] = flat % shape[k];
            flat /= shape[k];
        }
        idx
    })
}

impl Contraction {
    fn new(dims: &[usize], attrs: &[i64]) -> Result<Contraction, DimError> {
        let t = attrs::tuples(attrs);
        let shape = |name: &str, values: &[i64], dim: usize| -> Result<Vec<usize>, DimError> {
            let shape: Vec<usize> = values.iter().map(|&v| usize::try_from(v).unwrap_or(0)).collect();
            if shape.contains(&0) {
                return Err(format!("`tensordot`: the sizes in `{name}` must be positive"));
            }
            let product = shape.iter().try_fold(1usize, |p, &d| p.checked_mul(d));
            if product != Some(dim) {
                let product = product.map_or("too many".to_string(), |p| p.to_string());
                return Err(format!(
                    "dimension mismatch in `tensordot`: `{name}` describes {product} components, but the operand has dimension {dim}"
                ));
            }
            Ok(shape)
        };
        let shape_a = shape("dims_a", t[0], dims[0])?;
        let shape_b = shape("dims_b", t[1], dims[1])?;
        let axes = |name: &str, values: &[i64], rank: usize| -> Result<Vec<usize>, DimError> {
            let axes: Vec<usize> = values.iter().map(|&v| usize::try_from(v).unwrap_or(usize::MAX)).collect();
            for (k, &a) in axes.iter().enumerate() {
                if a >= rank || axes[..k].contains(&a) {
                    return Err(format!(
                        "`tensordot`: `{name}` must list distinct axes among 0..{rank}, got {values:?}"
                    ));
                }
            }
            Ok(axes)
        };
        let contract_a = axes("contract_a", t[2], shape_a.len())?;
        let contract_b = axes("contract_b", t[3], shape_b.len())?;
        if contract_a.len() != contract_b.len() {
            return Err("`tensordot`: `contract_a` and `contract_b` must have the same length".into());
        }
        for (&i, &j) in contract_a.iter().zip(&contract_b) {
            if shape_a[i] != shape_b[j] {
                return Err(format!(
                    "dimension mismatch in `tensordot`: axis {i} of `a` has size {} but axis {j} of `b` has size {}",
                    shape_a[i], shape_b[j]
                ));
            }
        }
        let keep_a: Vec<usize> = (0..shape_a.len()).filter(|k| !contract_a.contains(k)).collect();
        let keep_b: Vec<usize> = (0..shape_b.len()).filter(|k| !contract_b.contains(k)).collect();
        let kept: Vec<usize> =
            keep_a.iter().map(|&k| shape_a[k]).chain(keep_b.iter().map(|&k| shape_b[k])).collect();
        let permute = if t[4].is_empty() {
            (0..kept.len()).collect()
        } else {
            let p = axes("permute", t[4], kept.len())?;
            if p.len() != kept.len() {
                return Err(format!(
                    "`tensordot`: `permute` must be a permutation of the {} kept axes",
                    kept.len()
                ));
            }
            p
        };
        let mut out_shape = vec![0; kept.len()];
        for (k, &p) in permute.iter().enumerate() {
            out_shape[p] = kept[k];
        }
        let (sa, sb, so) = (strides(&shape_a), strides(&shape_b), strides(&out_shape));
        let contracted: Vec<usize> = contract_a.iter().map(|&k| shape_a[k]).collect();
        let mut terms = vec![Vec::new(); kept.iter().product()];
        for kidx in multi_indices(&kept) {
            let out: usize = kidx.iter().zip(&permute).map(|(&i, &p)| i * so[p]).sum();
            let (ka, kb) = kidx.split_at(keep_a.len());
            let base_a: usize = ka.iter().zip(&keep_a).map(|(&i, &ax)| i * sa[ax]).sum();
            let base_b: usize = kb.iter().zip(&keep_b).map(|(&i, &ax)| i * sb[ax]).sum();
            for cidx in multi_indices(&contracted) {
                let ia = base_a + cidx.iter().zip(&contract_a).map(|(&i, &ax)| i * sa[ax]).sum::<usize>();
                let ib = base_b + cidx.iter().zip(&contract_b).map(|(&i, &ax)| i * sb[ax]).sum::<usize>();
                terms[out].push((ia, ib));
            }
        }
        Ok(Contraction { shape_a, shape_b, contract_a, contract_b, permute, out_shape, terms })
    }

    fn keep_a(&self) -> Vec<usize> {
        (0..self.shape_a.len()).filter(|k| !self.contract_a.contains(k)).collect()
    }

    fn keep_b(&self) -> Vec<usize> {
        (0..self.shape_b.len()).filter(|k| !self.contract_b.contains(k)).collect()
    }
}

/// The attributes of `TensorDot` as a node stores them.
fn tensordot_attrs(tuples: [&[usize]; 5]) -> Vec<i64> {
    let values: Vec<AttrValue> =
        tuples.iter().map(|t| AttrValue::Tuple(t.iter().map(|&v| v as i64).collect())).collect();
    attrs::encode(&values)
}

/// The gradient of a contraction with respect to each operand: the incoming gradient `e`
/// contracted with the other operand over that operand's kept axes, with the result's axes
/// permuted back into the operand's own order.
fn tensordot_vjp(
    g: &mut Graph,
    a: &[NodeId],
    attrs: &[i64],
    _: NodeId,
    e: NodeId,
) -> Result<Vec<NodeId>, DimError> {
    let c = Contraction::new(&[g.dim(a[0]), g.dim(a[1])], attrs)?;
    let (ce, cb, perm) = c.adjoint_axes(true);
    let ga =
        g.op(Op::TensorDot, &[e, a[1]], &tensordot_attrs([&c.out_shape, &c.shape_b, &ce, &cb, &perm]))?;
    let (ce, ca, perm) = c.adjoint_axes(false);
    let gb =
        g.op(Op::TensorDot, &[e, a[0]], &tensordot_attrs([&c.out_shape, &c.shape_a, &ce, &ca, &perm]))?;
    Ok(vec![ga, gb])
}

impl Contraction {
    /// The contraction of `e` (shaped as the output) with the other operand that gives the
    /// gradient with respect to `a` (`for_a`) or `b`: the axes of `e` and of the other operand
    /// to contract (the other operand's kept axes), and the output position of each result axis.
    ///
    /// The result's axes are `e`'s remaining ones (this operand's kept axes, in output order),
    /// then the other operand's remaining ones (the contracted axes, in its own order), each
    /// standing for an axis of this operand; the permutation puts them back in place.
    fn adjoint_axes(&self, for_a: bool) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
        let (keep_a, keep_b) = (self.keep_a(), self.keep_b());
        let na = keep_a.len();
        let (own_keep, other_keep, own_contract, other_contract) = if for_a {
            (&keep_a, &keep_b, &self.contract_a, &self.contract_b)
        } else {
            (&keep_b, &keep_a, &self.contract_b, &self.contract_a)
        };
        // Kept axis k (of `a` then `b`) is at position permute[k] of `e`.
        let other_first = if for_a { na } else { 0 };
        let contract_e: Vec<usize> = (0..other_keep.len()).map(|t| self.permute[other_first + t]).collect();
        let own_first = if for_a { 0 } else { na };
        let mut at_position: Vec<(usize, usize)> =
            (0..own_keep.len()).map(|t| (self.permute[own_first + t], own_keep[t])).collect();
        at_position.sort_unstable();
        let mut result_axes: Vec<usize> = at_position.into_iter().map(|(_, axis)| axis).collect();
        let mut rest: Vec<(usize, usize)> =
            other_contract.iter().zip(own_contract.iter()).map(|(&o, &m)| (o, m)).collect();
        rest.sort_unstable();
        result_axes.extend(rest.into_iter().map(|(_, axis)| axis));
        (contract_e, other_keep.clone(), result_axes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(attrs: &[i64], a: &[f64], b: &[f64]) -> Vec<f64> {
        let c = Contraction::new(&[a.len(), b.len()], attrs).unwrap();
        let mut out = vec![0.0; c.terms.len()];
        TENSORDOT.evaluate(&[a, b], attrs, &mut out);
        out
    }

    #[test]
    fn matrix_product() {
        // [[1, 2, 3], [4, 5, 6]] x [[1, 0], [0, 1], [1, 1]]
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let attrs = TENSORDOT.tests[0].attrs;
        assert_eq!(eval(attrs, &a, &b), [4.0, 5.0, 10.0, 11.0]);
    }

    #[test]
    fn permuted_outer_product() {
        // out[j, k, i] = a[i, j] * b[k] with a 2x3 and b 4: the kept axes (i, j, k) go to
        // positions (2, 0, 1).
        let a: Vec<f64> = (0..6).map(f64::from).collect();
        let b = [1.0, 10.0, 100.0, 1000.0];
        let out = eval(TENSORDOT.tests[2].attrs, &a, &b);
        assert_eq!(out.len(), 24);
        for (i, j, k) in (0..2).flat_map(|i| (0..3).flat_map(move |j| (0..4).map(move |k| (i, j, k)))) {
            assert_eq!(out[j * 8 + k * 2 + i], a[i * 3 + j] * b[k]);
        }
    }

    #[test]
    fn kronecker_product_is_numpys() {
        // np.kron of a 2x3 and a 2x2 matrix is 4x6: out[2i + k, 2j + l] = a[i, j] b[k, l].
        let a: Vec<f64> = (1..=6).map(f64::from).collect();
        let b = [1.0, 10.0, 100.0, 1000.0];
        let mut out = vec![0.0; 24];
        KRON.evaluate(&[&a, &b], &[2, 2, 3, 2, 2, 2], &mut out);
        for (i, j, k, l) in (0..2).flat_map(|i| {
            (0..3).flat_map(move |j| (0..2).flat_map(move |k| (0..2).map(move |l| (i, j, k, l))))
        }) {
            assert_eq!(out[(2 * i + k) * 6 + 2 * j + l], a[i * 3 + j] * b[k * 2 + l]);
        }
        assert!(KRON.output_dim(&[6, 4], &[2, 2, 3, 1, 4]).unwrap_err().contains("same rank"));
    }

    #[test]
    fn shape_errors() {
        let err = |attrs: &[i64]| Contraction::new(&[6, 6], attrs).err().unwrap();
        assert!(err(&[2, 2, 2, 2, 3, 2, 1, 1, 1, 0, 0]).contains("`dims_a` describes 4 components"));
        assert!(err(&[2, 2, 3, 2, 3, 2, 1, 0, 1, 0, 0]).contains("axis 0 of `a` has size 2"));
        assert!(err(&[2, 2, 3, 2, 3, 2, 1, 2, 1, 0, 0]).contains("distinct axes among 0..2"));
        assert!(err(&[2, 2, 3, 2, 3, 2, 1, 1, 1, 0, 1, 0]).contains("permutation of the 2 kept axes"));
    }
}
