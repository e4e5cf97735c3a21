//! Complex numbers, as KeOps stores them: a vector of even dimension holds `dim / 2` complex
//! numbers `(re, im)` side by side. Binary complex operations broadcast a single complex number
//! (dimension 2) against a complex vector.
//!
//! Gradients follow KeOps' convention for complex operations: the gradient with respect to a
//! complex operand is `conj(d out / d operand) * e` for holomorphic operations.

use super::{Attr, Derivative, Kind, OpSpec, TestCase, keep, zero_if_any_zero};
use crate::ir::{DimError, Graph, NodeId};
use crate::lower::{Program, Val};
use crate::ops::Op;
use crate::prim::Prim;

/// The dimension of a vector of complex numbers, or the error of `name`.
fn even(name: &str, d: usize) -> Result<usize, DimError> {
    if d.is_multiple_of(2) {
        Ok(d)
    } else {
        Err(format!(
            "`{name}` needs complex numbers (an even dimension: re, im, re, im, ...), but its operand has dimension {d}"
        ))
    }
}

/// KeOps' broadcasting of complex operands: equal even dimensions, or one of them 2.
fn complex_broadcast(name: &str, d: &[usize]) -> Result<usize, DimError> {
    for &x in d {
        even(name, x)?;
    }
    let out = d.iter().copied().max().unwrap_or(2);
    if d.iter().all(|&x| x == out || x == 2) {
        Ok(out)
    } else {
        Err(format!(
            "dimension mismatch in `{name}`: complex operands have dimensions {} and {} (they must be equal, or 2 for a single complex number)",
            d[0], d[1]
        ))
    }
}

/// Complex number `k` of `v`, broadcasting a single complex number.
fn at<T: Copy>(v: &[T], k: usize) -> (T, T) {
    if v.len() == 2 { (v[0], v[1]) } else { (v[2 * k], v[2 * k + 1]) }
}

/// Applies `f` to each complex number (of the broadcast operands) and interleaves the results.
fn map_ref(a: &[&[f64]], o: &mut [f64], f: impl Fn(&[(f64, f64)]) -> (f64, f64)) {
    for k in 0..o.len() / 2 {
        let z: Vec<(f64, f64)> = a.iter().map(|v| at(v, k)).collect();
        let (re, im) = f(&z);
        o[2 * k] = re;
        o[2 * k + 1] = im;
    }
}

fn map_lower(
    p: &mut Program,
    a: &[&[Val]],
    f: impl Fn(&mut Program, &[(Val, Val)]) -> (Val, Val),
) -> Vec<Val> {
    let n = a.iter().map(|v| v.len()).max().unwrap_or(2) / 2;
    let mut out = Vec::with_capacity(2 * n);
    for k in 0..n {
        let z: Vec<(Val, Val)> = a.iter().map(|v| at(v, k)).collect();
        let (re, im) = f(p, &z);
        out.extend([re, im]);
    }
    out
}

/// `e` summed to a single complex number if `operand` was broadcast against a longer output.
fn sum_if_broadcast(g: &mut Graph, e: NodeId, operand: NodeId) -> Result<NodeId, DimError> {
    if g.dim(operand) == 2 && g.dim(e) > 2 { g.unary(Op::ComplexSum, e) } else { Ok(e) }
}

/// `(x_k, x_k)` for each component: a real vector spread over the real and imaginary parts.
fn spread(g: &mut Graph, x: NodeId) -> Result<NodeId, DimError> {
    let re = g.unary(Op::Real2Complex, x)?;
    let im = g.unary(Op::Imag2Complex, x)?;
    g.op(Op::ComplexAdd, &[re, im], &[])
}

/// `conj(a) * b`, complex.
fn conj_mul(g: &mut Graph, a: NodeId, b: NodeId) -> Result<NodeId, DimError> {
    let c = g.unary(Op::Conj, a)?;
    g.op(Op::ComplexMult, &[c, b], &[])
}

fn mul_ref(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

fn mul_lower(p: &mut Program, a: (Val, Val), b: (Val, Val)) -> (Val, Val) {
    let (rr, ii) = (p.mul(a.0, b.0), p.mul(a.1, b.1));
    let (ri, ir) = (p.mul(a.0, b.1), p.mul(a.1, b.0));
    (p.sub(rr, ii), p.add(ri, ir))
}

const ONE: &[TestCase] = &[TestCase { operands: &[(4, -2.0, 2.0)], attrs: &[] }];
const TWO: &[TestCase] = &[
    TestCase { operands: &[(4, -2.0, 2.0), (4, -2.0, 2.0)], attrs: &[] },
    TestCase { operands: &[(2, -2.0, 2.0), (4, -2.0, 2.0)], attrs: &[] },
    TestCase { operands: &[(6, -2.0, 2.0), (2, -2.0, 2.0)], attrs: &[] },
];

pub(super) static COMPLEXREAL: OpSpec = OpSpec {
    name: "complexreal",
    keops: "ComplexReal",
    symbol: None,
    operands: &["z"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| even("complexreal", d[0]).map(|d| d / 2),
        dim_doc: "`dim(z) / 2`",
        eval: |a, _, o| o.iter_mut().enumerate().for_each(|(k, o)| *o = a[0][2 * k]),
        lower: |_, a, _| a[0].iter().step_by(2).copied().collect(),
    },
    derivative: Derivative::Vjp(|g, _, _, _, e| Ok(vec![g.unary(Op::Real2Complex, e)?])),
    simplify: zero_if_any_zero,
    tests: ONE,
    doc: "real parts",
};

pub(super) static COMPLEXIMAG: OpSpec = OpSpec {
    name: "compleximag",
    keops: "ComplexImag",
    symbol: None,
    operands: &["z"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| even("compleximag", d[0]).map(|d| d / 2),
        dim_doc: "`dim(z) / 2`",
        eval: |a, _, o| o.iter_mut().enumerate().for_each(|(k, o)| *o = a[0][2 * k + 1]),
        lower: |_, a, _| a[0].iter().skip(1).step_by(2).copied().collect(),
    },
    derivative: Derivative::Vjp(|g, _, _, _, e| Ok(vec![g.unary(Op::Imag2Complex, e)?])),
    simplify: zero_if_any_zero,
    tests: ONE,
    doc: "imaginary parts",
};

pub(super) static REAL2COMPLEX: OpSpec = OpSpec {
    name: "real2complex",
    keops: "Real2Complex",
    symbol: None,
    operands: &["a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| Ok(2 * d[0]),
        dim_doc: "`2 dim(a)`",
        eval: |a, _, o| {
            for (k, &x) in a[0].iter().enumerate() {
                (o[2 * k], o[2 * k + 1]) = (x, 0.0);
            }
        },
        lower: |p, a, _| {
            let zero = p.constant(0.0);
            a[0].iter().flat_map(|&x| [x, zero]).collect()
        },
    },
    derivative: Derivative::Vjp(|g, _, _, _, e| Ok(vec![g.unary(Op::ComplexReal, e)?])),
    simplify: zero_if_any_zero,
    tests: &[TestCase { operands: &[(3, -2.0, 2.0)], attrs: &[] }],
    doc: "complex numbers `a + 0i`",
};

pub(super) static IMAG2COMPLEX: OpSpec = OpSpec {
    name: "imag2complex",
    keops: "Imag2Complex",
    symbol: None,
    operands: &["a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| Ok(2 * d[0]),
        dim_doc: "`2 dim(a)`",
        eval: |a, _, o| {
            for (k, &x) in a[0].iter().enumerate() {
                (o[2 * k], o[2 * k + 1]) = (0.0, x);
            }
        },
        lower: |p, a, _| {
            let zero = p.constant(0.0);
            a[0].iter().flat_map(|&x| [zero, x]).collect()
        },
    },
    derivative: Derivative::Vjp(|g, _, _, _, e| Ok(vec![g.unary(Op::ComplexImag, e)?])),
    simplify: zero_if_any_zero,
    tests: &[TestCase { operands: &[(3, -2.0, 2.0)], attrs: &[] }],
    doc: "complex numbers `0 + ai`",
};

pub(super) static CONJ: OpSpec = OpSpec {
    name: "conj",
    keops: "Conj",
    symbol: None,
    operands: &["z"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| even("conj", d[0]),
        dim_doc: "`dim(z)`",
        eval: |a, _, o| map_ref(a, o, |z| (z[0].0, -z[0].1)),
        lower: |p, a, _| map_lower(p, a, |p, z| (z[0].0, p.prim(Prim::Neg, &[z[0].1]))),
    },
    derivative: Derivative::Vjp(|g, _, _, _, e| Ok(vec![g.unary(Op::Conj, e)?])),
    simplify: zero_if_any_zero,
    tests: ONE,
    doc: "complex conjugates",
};

pub(super) static COMPLEXADD: OpSpec = OpSpec {
    name: "complexadd",
    keops: "ComplexAdd",
    symbol: None,
    operands: &["z", "w"],
    attrs: &[],
    commutative: true,
    kind: Kind::Vector {
        dim: |d, _| complex_broadcast("complexadd", d),
        dim_doc: "`max(dim(z), dim(w))`",
        eval: |a, _, o| map_ref(a, o, |z| (z[0].0 + z[1].0, z[0].1 + z[1].1)),
        lower: |p, a, _| map_lower(p, a, |p, z| (p.add(z[0].0, z[1].0), p.add(z[0].1, z[1].1))),
    },
    derivative: Derivative::Vjp(|g, a, _, _, e| {
        Ok(vec![sum_if_broadcast(g, e, a[0])?, sum_if_broadcast(g, e, a[1])?])
    }),
    simplify: |g, a, _, d| {
        Ok(if g.is_zero(a[0]) && g.dim(a[1]) == d {
            Some(a[1])
        } else if g.is_zero(a[1]) && g.dim(a[0]) == d {
            Some(a[0])
        } else {
            None
        })
    },
    tests: TWO,
    doc: "complex sum (a single complex number broadcasts)",
};

pub(super) static COMPLEXSUBTRACT: OpSpec = OpSpec {
    name: "complexsubtract",
    keops: "ComplexSubtract",
    symbol: None,
    operands: &["z", "w"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| complex_broadcast("complexsubtract", d),
        dim_doc: "`max(dim(z), dim(w))`",
        eval: |a, _, o| map_ref(a, o, |z| (z[0].0 - z[1].0, z[0].1 - z[1].1)),
        lower: |p, a, _| map_lower(p, a, |p, z| (p.sub(z[0].0, z[1].0), p.sub(z[0].1, z[1].1))),
    },
    derivative: Derivative::Vjp(|g, a, _, _, e| {
        let ne = g.neg(e)?;
        Ok(vec![sum_if_broadcast(g, e, a[0])?, sum_if_broadcast(g, ne, a[1])?])
    }),
    simplify: keep,
    tests: TWO,
    doc: "complex difference (a single complex number broadcasts)",
};

pub(super) static COMPLEXMULT: OpSpec = OpSpec {
    name: "complexmult",
    keops: "ComplexMult",
    symbol: None,
    operands: &["z", "w"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| complex_broadcast("complexmult", d),
        dim_doc: "`max(dim(z), dim(w))`",
        eval: |a, _, o| map_ref(a, o, |z| mul_ref(z[0], z[1])),
        lower: |p, a, _| map_lower(p, a, |p, z| mul_lower(p, z[0], z[1])),
    },
    derivative: Derivative::Vjp(|g, a, _, _, e| {
        let dz = conj_mul(g, a[1], e)?;
        let dw = conj_mul(g, a[0], e)?;
        Ok(vec![sum_if_broadcast(g, dz, a[0])?, sum_if_broadcast(g, dw, a[1])?])
    }),
    simplify: zero_if_any_zero,
    tests: TWO,
    doc: "complex product (a single complex number broadcasts)",
};

/// Which operand of `ComplexRealScal` is the real scalar (KeOps accepts either order).
fn real_scalar_first(d: &[usize]) -> Result<bool, DimError> {
    match d {
        [1, z] if z.is_multiple_of(2) => Ok(true),
        [z, 1] if z.is_multiple_of(2) => Ok(false),
        _ => Err(format!(
            "dimension mismatch in `complexrealscal`: operands have dimensions {} and {} (one must be a real scalar, of dimension 1, and the other complex, of even dimension)",
            d[0], d[1]
        )),
    }
}

pub(super) static COMPLEXREALSCAL: OpSpec = OpSpec {
    name: "complexrealscal",
    keops: "ComplexRealScal",
    symbol: None,
    operands: &["s", "z"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| real_scalar_first(d).map(|first| if first { d[1] } else { d[0] }),
        dim_doc: "`dim(z)` (`s` real scalar; either order)",
        eval: |a, _, o| {
            let (s, z) = if a[0].len() == 1 { (a[0][0], a[1]) } else { (a[1][0], a[0]) };
            o.iter_mut().zip(z).for_each(|(o, x)| *o = s * x);
        },
        lower: |p, a, _| {
            let (s, z) = if a[0].len() == 1 { (a[0][0], a[1]) } else { (a[1][0], a[0]) };
            z.iter().map(|&x| p.mul(s, x)).collect()
        },
    },
    derivative: Derivative::Vjp(|g, a, _, _, e| {
        let first = g.dim(a[0]) == 1;
        let (s, z) = if first { (a[0], a[1]) } else { (a[1], a[0]) };
        let ds = g.op(Op::Dot, &[e, z], &[])?;
        let dz = g.mul(s, e)?;
        Ok(if first { vec![ds, dz] } else { vec![dz, ds] })
    }),
    simplify: zero_if_any_zero,
    tests: &[
        TestCase { operands: &[(1, -2.0, 2.0), (4, -2.0, 2.0)], attrs: &[] },
        TestCase { operands: &[(4, -2.0, 2.0), (1, -2.0, 2.0)], attrs: &[] },
    ],
    doc: "complex vector `z` times the real scalar `s`",
};

pub(super) static COMPLEXSQUAREABS: OpSpec = OpSpec {
    name: "complexsquareabs",
    keops: "ComplexSquareAbs",
    symbol: None,
    operands: &["z"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| even("complexsquareabs", d[0]).map(|d| d / 2),
        dim_doc: "`dim(z) / 2`",
        eval: |a, _, o| {
            o.iter_mut()
                .enumerate()
                .for_each(|(k, o)| *o = a[0][2 * k] * a[0][2 * k] + a[0][2 * k + 1] * a[0][2 * k + 1])
        },
        lower: |p, a, _| a[0].chunks(2).map(|z| p.dot(z, z)).collect(),
    },
    derivative: Derivative::Vjp(|g, a, _, _, e| {
        let e2 = g.scale(2.0, e)?;
        let s = spread(g, e2)?;
        Ok(vec![g.mul(s, a[0])?])
    }),
    simplify: zero_if_any_zero,
    tests: ONE,
    doc: "squared moduli `re^2 + im^2`",
};

pub(super) static COMPLEXABS: OpSpec = OpSpec {
    name: "complexabs",
    keops: "ComplexAbs",
    symbol: None,
    operands: &["z"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| even("complexabs", d[0]).map(|d| d / 2),
        dim_doc: "`dim(z) / 2`",
        eval: |a, _, o| {
            o.iter_mut().enumerate().for_each(|(k, o)| {
                *o = (a[0][2 * k] * a[0][2 * k] + a[0][2 * k + 1] * a[0][2 * k + 1]).sqrt()
            })
        },
        lower: |p, a, _| {
            a[0].chunks(2)
                .map(|z| {
                    let sq = p.dot(z, z);
                    p.prim(Prim::Sqrt, &[sq])
                })
                .collect()
        },
    },
    derivative: Derivative::Vjp(|g, a, _, out, e| {
        let r = g.div(e, out)?;
        let s = spread(g, r)?;
        Ok(vec![g.mul(s, a[0])?])
    }),
    simplify: zero_if_any_zero,
    tests: &[TestCase { operands: &[(4, 0.3, 2.0)], attrs: &[] }],
    doc: "moduli `sqrt(re^2 + im^2)`",
};

pub(super) static COMPLEXANGLE: OpSpec = OpSpec {
    name: "complexangle",
    keops: "ComplexAngle",
    symbol: None,
    operands: &["z"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| even("complexangle", d[0]).map(|d| d / 2),
        dim_doc: "`dim(z) / 2`",
        eval: |a, _, o| o.iter_mut().enumerate().for_each(|(k, o)| *o = a[0][2 * k + 1].atan2(a[0][2 * k])),
        lower: |p, a, _| a[0].chunks(2).map(|z| p.prim(Prim::Atan2, &[z[1], z[0]])).collect(),
    },
    derivative: Derivative::Vjp(|g, a, _, _, e| {
        // d angle = (re d im - im d re) / |z|^2.
        let sq = g.unary(Op::ComplexSquareAbs, a[0])?;
        let w = g.div(e, sq)?;
        let s = spread(g, w)?;
        let (re, im) = (g.unary(Op::ComplexReal, a[0])?, g.unary(Op::ComplexImag, a[0])?);
        let re_up = g.unary(Op::Imag2Complex, re)?;
        let im_down = g.unary(Op::Real2Complex, im)?;
        let rotated = g.op(Op::ComplexSubtract, &[re_up, im_down], &[])?;
        Ok(vec![g.mul(s, rotated)?])
    }),
    simplify: keep,
    tests: &[
        TestCase { operands: &[(4, 0.3, 2.0)], attrs: &[] },
        TestCase { operands: &[(2, -2.0, -0.3)], attrs: &[] },
    ],
    doc: "arguments `atan2(im, re)`",
};

pub(super) static COMPLEXDIVIDE: OpSpec = OpSpec {
    name: "complexdivide",
    keops: "ComplexDivide",
    symbol: None,
    operands: &["z", "w"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| complex_broadcast("complexdivide", d),
        dim_doc: "`max(dim(z), dim(w))`",
        eval: |a, _, o| {
            map_ref(a, o, |z| {
                let ((x, y), (c, d)) = (z[0], z[1]);
                let q = 1.0 / (c * c + d * d);
                ((x * c + y * d) * q, (y * c - x * d) * q)
            })
        },
        lower: |p, a, _| {
            map_lower(p, a, |p, z| {
                let ((x, y), (c, d)) = (z[0], z[1]);
                let sq = p.dot(&[c, d], &[c, d]);
                let one = p.constant(1.0);
                let q = p.div(one, sq);
                let (xc, yd, yc, xd) = (p.mul(x, c), p.mul(y, d), p.mul(y, c), p.mul(x, d));
                let (re, im) = (p.add(xc, yd), p.sub(yc, xd));
                (p.mul(re, q), p.mul(im, q))
            })
        },
    },
    derivative: Derivative::Vjp(|g, a, _, out, e| {
        // d(z / w) = dz / w - (z / w) dw / w.
        let cw = g.unary(Op::Conj, a[1])?;
        let dz = g.op(Op::ComplexDivide, &[e, cw], &[])?;
        let t = conj_mul(g, out, dz)?;
        let dw = g.neg(t)?;
        Ok(vec![sum_if_broadcast(g, dz, a[0])?, sum_if_broadcast(g, dw, a[1])?])
    }),
    simplify: keep,
    tests: &[
        TestCase { operands: &[(4, -2.0, 2.0), (4, 0.3, 2.0)], attrs: &[] },
        TestCase { operands: &[(2, -2.0, 2.0), (4, 0.3, 2.0)], attrs: &[] },
        TestCase { operands: &[(4, -2.0, 2.0), (2, 0.3, 2.0)], attrs: &[] },
    ],
    doc: "complex quotient `z / w` (a single complex number broadcasts)",
};

pub(super) static COMPLEXEXP: OpSpec = OpSpec {
    name: "complexexp",
    keops: "ComplexExp",
    symbol: None,
    operands: &["z"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| even("complexexp", d[0]),
        dim_doc: "`dim(z)`",
        eval: |a, _, o| {
            map_ref(a, o, |z| {
                let r = z[0].0.exp();
                (r * z[0].1.cos(), r * z[0].1.sin())
            })
        },
        lower: |p, a, _| {
            map_lower(p, a, |p, z| {
                let r = p.prim(Prim::Exp, &[z[0].0]);
                let (c, s) = (p.prim(Prim::Cos, &[z[0].1]), p.prim(Prim::Sin, &[z[0].1]));
                (p.mul(r, c), p.mul(r, s))
            })
        },
    },
    derivative: Derivative::Vjp(|g, _, _, out, e| Ok(vec![conj_mul(g, out, e)?])),
    simplify: keep,
    tests: ONE,
    doc: "complex exponentials",
};

pub(super) static COMPLEXEXP1J: OpSpec = OpSpec {
    name: "complexexp1j",
    keops: "ComplexExp1j",
    symbol: None,
    operands: &["a"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| Ok(2 * d[0]),
        dim_doc: "`2 dim(a)`",
        eval: |a, _, o| {
            for (k, &x) in a[0].iter().enumerate() {
                (o[2 * k], o[2 * k + 1]) = (x.cos(), x.sin());
            }
        },
        lower: |p, a, _| {
            a[0].iter().flat_map(|&x| [p.prim(Prim::Cos, &[x]), p.prim(Prim::Sin, &[x])]).collect()
        },
    },
    derivative: Derivative::Vjp(|g, _, _, out, e| {
        let t = conj_mul(g, out, e)?;
        Ok(vec![g.unary(Op::ComplexImag, t)?])
    }),
    simplify: keep,
    tests: &[TestCase { operands: &[(3, -4.0, 4.0)], attrs: &[] }],
    doc: "`exp(i a) = cos(a) + i sin(a)` for real `a`",
};

pub(super) static COMPLEXSUM: OpSpec = OpSpec {
    name: "complexsum",
    keops: "ComplexSum",
    symbol: None,
    operands: &["z"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| even("complexsum", d[0]).map(|_| 2),
        dim_doc: "2",
        eval: |a, _, o| {
            o[0] = a[0].iter().step_by(2).sum();
            o[1] = a[0].iter().skip(1).step_by(2).sum();
        },
        lower: |p, a, _| {
            let re: Vec<Val> = a[0].iter().step_by(2).copied().collect();
            let im: Vec<Val> = a[0].iter().skip(1).step_by(2).copied().collect();
            vec![p.sum(&re), p.sum(&im)]
        },
    },
    derivative: Derivative::Vjp(|g, a, _, _, e| {
        let d = g.dim(a[0]) as i64;
        Ok(vec![g.op(Op::ComplexSumT, &[e], &[d])?])
    }),
    simplify: |g, a, _, _| Ok(if g.dim(a[0]) == 2 { Some(a[0]) } else { zero_if_any_zero(g, a, &[], 2)? }),
    tests: &[TestCase { operands: &[(6, -2.0, 2.0)], attrs: &[] }],
    doc: "sum of the complex numbers",
};

pub(super) static COMPLEXSUMT: OpSpec = OpSpec {
    name: "complexsumt",
    keops: "ComplexSumT",
    symbol: None,
    operands: &["z"],
    attrs: &[Attr::int("dim")],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, n| {
            if d[0] != 2 {
                Err(format!(
                    "`complexsumt` repeats a single complex number (dimension 2), got dimension {}",
                    d[0]
                ))
            } else if n[0] < 2 || n[0] % 2 != 0 {
                Err(format!("`complexsumt` needs an even output dimension of at least 2, got {}", n[0]))
            } else {
                Ok(n[0] as usize)
            }
        },
        dim_doc: "`dim` (`z` a single complex number)",
        eval: |a, _, o| o.iter_mut().enumerate().for_each(|(k, o)| *o = a[0][k % 2]),
        lower: |_, a, n| (0..n[0] as usize).map(|k| a[0][k % 2]).collect(),
    },
    derivative: Derivative::Vjp(|g, _, _, _, e| Ok(vec![g.unary(Op::ComplexSum, e)?])),
    simplify: |g, a, n, d| Ok(if n[0] == 2 { Some(a[0]) } else { zero_if_any_zero(g, a, n, d)? }),
    tests: &[TestCase { operands: &[(2, -2.0, 2.0)], attrs: &[6] }],
    doc: "the complex number `z` repeated to dimension `dim` (the adjoint of `complexsum`)",
};
