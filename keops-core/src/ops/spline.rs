//! B-splines and soft dynamic time warping: operations defined by a recursion over their
//! operands' components, written out in full when they are lowered (their dimensions are small).

use super::{Attr, Derivative, Kind, OpSpec, TestCase, keep, pick};
use crate::ir::{DimError, Graph, NodeId};
use crate::lower::{Program, Val};
use crate::ops::Op;
use crate::prim::Prim;

/// Gradients that are never asked for: the operands are all listed as constant.
fn no_gradients(
    g: &mut Graph,
    a: &[NodeId],
    _: &[i64],
    _: NodeId,
    _: NodeId,
) -> Result<Vec<NodeId>, DimError> {
    Ok(a.iter().map(|&x| g.zero(g.dim(x))).collect())
}

fn bspline_dim(d: &[usize], attrs: &[i64]) -> Result<usize, DimError> {
    let (knots, order) = (d[0], attrs[0]);
    if order < 0 {
        return Err(format!("the order of a `bspline` must be at least 0, got {order}"));
    }
    if d[1] != 1 {
        return Err(format!("`bspline` samples at a scalar `x`, but `x` has dimension {}", d[1]));
    }
    let needed = order as usize + 2;
    if knots < needed {
        return Err(format!(
            "a `bspline` of order {order} needs at least {needed} knots, but `knots` has dimension {knots}"
        ));
    }
    Ok(knots - needed + 1)
}

/// De Boor's recursion, as KeOps computes it: the order-0 splines are the indicators of
/// `t_j <= x < t_{j+1}`, and each order combines two neighbours of the previous one with the
/// ratios `(x - t_i) / (t_{i+k} - t_i)`, taken as 0 where `t_i >= t_{i+k}`.
fn bspline_ref(t: &[f64], x: f64, order: usize) -> Vec<f64> {
    let n = t.len() - 1;
    let ratio = |i: usize, k: usize| if t[i] < t[i + k] { (x - t[i]) / (t[i + k] - t[i]) } else { 0.0 };
    let mut b: Vec<f64> = (0..n).map(|j| f64::from(u8::from(t[j] <= x && x < t[j + 1]))).collect();
    for k in 1..=order {
        for i in 0..n - k {
            b[i] = ratio(i, k) * b[i] + (1.0 - ratio(i + 1, k)) * b[i + 1];
        }
    }
    b.truncate(n - order);
    b
}

fn bspline_lower(p: &mut Program, t: &[Val], x: Val, order: usize) -> Vec<Val> {
    let n = t.len() - 1;
    let zero = p.constant(0.0);
    let one = p.constant(1.0);
    let ratio = |p: &mut Program, i: usize, k: usize| {
        let increasing = p.prim(Prim::Lt, &[t[i], t[i + k]]);
        let num = p.sub(x, t[i]);
        let den = p.sub(t[i + k], t[i]);
        let r = p.div(num, den);
        pick(p, increasing, r, zero)
    };
    let mut b: Vec<Val> = (0..n)
        .map(|j| {
            let after = p.prim(Prim::Le, &[t[j], x]);
            let before = p.prim(Prim::Lt, &[x, t[j + 1]]);
            p.mul(after, before)
        })
        .collect();
    for k in 1..=order {
        for i in 0..n - k {
            let left = ratio(p, i, k);
            let right = ratio(p, i + 1, k);
            let keep_right = p.sub(one, right);
            let a = p.mul(left, b[i]);
            let c = p.mul(keep_right, b[i + 1]);
            b[i] = p.add(a, c);
        }
    }
    b.truncate(n - order);
    b
}

pub(super) static BSPLINE: OpSpec = OpSpec {
    name: "bspline",
    keops: "BSpline",
    symbol: None,
    operands: &["knots", "x"],
    attrs: &[Attr::int("order")],
    commutative: false,
    kind: Kind::Vector {
        dim: bspline_dim,
        dim_doc: "`dim(knots) - order - 1` (`x` a scalar)",
        eval: |a, r, o| o.copy_from_slice(&bspline_ref(a[0], a[1][0], r[0] as usize)),
        lower: |p, a, r| bspline_lower(p, a[0], a[1][0], r[0] as usize),
    },
    derivative: Derivative::Partial { vjp: no_gradients, constant: &[0, 1] },
    simplify: keep,
    tests: &[
        TestCase { operands: &[(7, 0.0, 4.0), (1, 0.0, 4.0)], attrs: &[2] },
        TestCase { operands: &[(4, -1.0, 1.0), (1, -1.0, 1.0)], attrs: &[0] },
    ],
    doc: "the B-splines of order `order` on the knots `knots`, at `x` (De Boor's recursion, as in KeOps)",
};

fn softdtw_dim(name: &str, d: &[usize]) -> Result<(), DimError> {
    if d[2] != 1 {
        return Err(format!(
            "the smoothing `gamma` of `{name}` must be a scalar, but it has dimension {}",
            d[2]
        ));
    }
    Ok(())
}

/// `min_gamma(a, b, c) = -gamma log(exp(-a / gamma) + exp(-b / gamma) + exp(-c / gamma))`,
/// shifted by the minimum as KeOps computes it.
fn softmin_ref(r: [f64; 3], gamma: f64) -> f64 {
    let m = r[0].min(r[1]).min(r[2]);
    m - gamma * r.iter().map(|v| ((m - v) / gamma).exp()).sum::<f64>().ln()
}

/// The soft-DTW table `R[j][i]` of the squared differences `d_ij = (x_i - y_j)^2`:
/// `R[j][i] = d_ij + min_gamma(R[j-1][i-1], R[j-1][i], R[j][i-1])`, plain sums along the first
/// row and column.
fn softdtw_table(x: &[f64], y: &[f64], gamma: f64) -> Vec<Vec<f64>> {
    let mut r = vec![vec![0.0; x.len()]; y.len()];
    for j in 0..y.len() {
        for i in 0..x.len() {
            let d = (x[i] - y[j]) * (x[i] - y[j]);
            r[j][i] = d + match (i, j) {
                (0, 0) => 0.0,
                (_, 0) => r[0][i - 1],
                (0, _) => r[j - 1][0],
                _ => softmin_ref([r[j - 1][i - 1], r[j - 1][i], r[j][i - 1]], gamma),
            };
        }
    }
    r
}

/// The gradient of the last entry of the table with respect to `x` and `y`, concatenated:
/// reverse accumulation over the table, where the derivative of `R[j][i]` with respect to a
/// predecessor `R[q][p]` is `exp((R[j][i] - d_ij - R[q][p]) / gamma)` (1 along the first row
/// and column, where the formula gives exactly that).
fn softdtw_grad_ref(x: &[f64], y: &[f64], gamma: f64) -> Vec<f64> {
    let (n, m) = (x.len(), y.len());
    let r = softdtw_table(x, y, gamma);
    let d = |i: usize, j: usize| (x[i] - y[j]) * (x[i] - y[j]);
    let mut e = vec![vec![0.0; n]; m];
    let mut out = vec![0.0; n + m];
    for j in (0..m).rev() {
        for i in (0..n).rev() {
            e[j][i] = if (i, j) == (n - 1, m - 1) {
                1.0
            } else {
                let mut total = 0.0;
                for (q, p) in [(j, i + 1), (j + 1, i), (j + 1, i + 1)] {
                    if p < n && q < m {
                        total += e[q][p] * ((r[q][p] - d(p, q) - r[j][i]) / gamma).exp();
                    }
                }
                total
            };
            let g = 2.0 * (x[i] - y[j]) * e[j][i];
            out[i] += g;
            out[n + j] -= g;
        }
    }
    out
}

fn softmin_lower(p: &mut Program, r: [Val; 3], gamma: Val) -> Val {
    let m = p.prim(Prim::Min, &[r[0], r[1]]);
    let m = p.prim(Prim::Min, &[m, r[2]]);
    let terms: Vec<Val> = r
        .iter()
        .map(|&v| {
            let shift = p.sub(m, v);
            let scaled = p.div(shift, gamma);
            p.prim(Prim::Exp, &[scaled])
        })
        .collect();
    let total = p.sum(&terms);
    let log = p.prim(Prim::Log, &[total]);
    let smooth = p.mul(gamma, log);
    p.sub(m, smooth)
}

fn softdtw_table_lower(p: &mut Program, x: &[Val], y: &[Val], gamma: Val) -> Vec<Vec<Val>> {
    let mut r: Vec<Vec<Val>> = Vec::with_capacity(y.len());
    for j in 0..y.len() {
        let mut row = Vec::with_capacity(x.len());
        for i in 0..x.len() {
            let diff = p.sub(x[i], y[j]);
            let d = p.mul(diff, diff);
            let v = match (i, j) {
                (0, 0) => d,
                (_, 0) => p.add(d, row[i - 1]),
                (0, _) => p.add(d, r[j - 1][0]),
                _ => {
                    let s = softmin_lower(p, [r[j - 1][i - 1], r[j - 1][i], row[i - 1]], gamma);
                    p.add(d, s)
                }
            };
            row.push(v);
        }
        r.push(row);
    }
    r
}

fn softdtw_grad_lower(p: &mut Program, x: &[Val], y: &[Val], gamma: Val) -> Vec<Val> {
    let (n, m) = (x.len(), y.len());
    let r = softdtw_table_lower(p, x, y, gamma);
    let diff: Vec<Vec<Val>> = (0..m).map(|j| (0..n).map(|i| p.sub(x[i], y[j])).collect()).collect();
    let mut e: Vec<Vec<Option<Val>>> = vec![vec![None; n]; m];
    let mut gx: Vec<Vec<Val>> = vec![Vec::new(); n];
    let mut gy: Vec<Vec<Val>> = vec![Vec::new(); m];
    for j in (0..m).rev() {
        for i in (0..n).rev() {
            let eij = if (i, j) == (n - 1, m - 1) {
                p.constant(1.0)
            } else {
                let mut terms = Vec::with_capacity(3);
                for (q, s) in [(j, i + 1), (j + 1, i), (j + 1, i + 1)] {
                    if s < n && q < m {
                        let d = p.mul(diff[q][s], diff[q][s]);
                        let t = p.sub(r[q][s], d);
                        let t = p.sub(t, r[j][i]);
                        let t = p.div(t, gamma);
                        let w = p.prim(Prim::Exp, &[t]);
                        terms.push(p.mul(e[q][s].expect("successors come first"), w));
                    }
                }
                p.sum(&terms)
            };
            e[j][i] = Some(eij);
            let two = p.constant(2.0);
            let t = p.mul(two, diff[j][i]);
            let g = p.mul(t, eij);
            gx[i].push(g);
            gy[j].push(g);
        }
    }
    let mut out: Vec<Val> = gx.iter().map(|terms| p.sum(terms)).collect();
    for terms in &gy {
        let s = p.sum(terms);
        out.push(p.prim(Prim::Neg, &[s]));
    }
    out
}

pub(super) static SOFTDTW_SQDIST: OpSpec = OpSpec {
    name: "softdtw_sqdist",
    keops: "SoftDTW_SqDist",
    symbol: None,
    operands: &["x", "y", "gamma"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| softdtw_dim("softdtw_sqdist", d).map(|()| 1),
        dim_doc: "1 (`gamma` a scalar)",
        eval: |a, _, o| o[0] = *softdtw_table(a[0], a[1], a[2][0]).last().unwrap().last().unwrap(),
        lower: |p, a, _| vec![*softdtw_table_lower(p, a[0], a[1], a[2][0]).last().unwrap().last().unwrap()],
    },
    derivative: Derivative::Partial {
        vjp: |g, a, _, _, e| {
            let (n, m) = (g.dim(a[0]), g.dim(a[1]));
            let grad = g.op(Op::GradSoftDtwSqDist, a, &[])?;
            let grad = g.mul(grad, e)?;
            let gx = g.op(Op::Extract, &[grad], &[0, n as i64])?;
            let gy = g.op(Op::Extract, &[grad], &[n as i64, m as i64])?;
            Ok(vec![gx, gy, g.zero(1)])
        },
        constant: &[2],
    },
    simplify: keep,
    tests: &[
        TestCase { operands: &[(4, -2.0, 2.0), (3, -2.0, 2.0), (1, 0.5, 2.0)], attrs: &[] },
        TestCase { operands: &[(1, -2.0, 2.0), (3, -2.0, 2.0), (1, 0.1, 1.0)], attrs: &[] },
    ],
    doc: "soft dynamic time warping between the series `x` and `y` for squared differences, smoothing `gamma`",
};

pub(super) static GRADSOFTDTW_SQDIST: OpSpec = OpSpec {
    name: "gradsoftdtw_sqdist",
    keops: "GradSoftDTW_SqDist",
    symbol: None,
    operands: &["x", "y", "gamma"],
    attrs: &[],
    commutative: false,
    kind: Kind::Vector {
        dim: |d, _| softdtw_dim("gradsoftdtw_sqdist", d).map(|()| d[0] + d[1]),
        dim_doc: "`dim(x) + dim(y)` (`gamma` a scalar)",
        eval: |a, _, o| o.copy_from_slice(&softdtw_grad_ref(a[0], a[1], a[2][0])),
        lower: |p, a, _| softdtw_grad_lower(p, a[0], a[1], a[2][0]),
    },
    derivative: Derivative::Partial { vjp: no_gradients, constant: &[0, 1, 2] },
    simplify: keep,
    tests: &[
        TestCase { operands: &[(4, -2.0, 2.0), (3, -2.0, 2.0), (1, 0.5, 2.0)], attrs: &[] },
        TestCase { operands: &[(2, -2.0, 2.0), (1, -2.0, 2.0), (1, 0.1, 1.0)], attrs: &[] },
    ],
    doc: "the gradient of `softdtw_sqdist` with respect to `x` and `y`, concatenated",
};
