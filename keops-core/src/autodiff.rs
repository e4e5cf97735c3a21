//! Symbolic differentiation: reverse mode over the formula DAG, at compile time.
//!
//! [`grad`] builds `Grad(F, x, e)`, the gradient of `<F, e>` with respect to `x` (KeOps'
//! convention), as a new formula in the same graph. Each operation's rule comes from the op
//! table's `derivative` column; the graph's simplifying constructors keep the result small (the
//! gradient of a formula that does not depend on `x` is exactly zero, so
//! `Grad(Grad(x + y, x, e), x, f)` is `Zero`).

use std::collections::HashMap;

use crate::ir::{DimError, Graph, Node, NodeId, Role, Var};
use crate::ops::{Derivative, Op};

/// The gradient of `<f, e>` with respect to `wrt` (usually a variable): a formula of the
/// dimension of `wrt`. `e` must have the dimension of `f`.
pub fn grad(g: &mut Graph, f: NodeId, wrt: NodeId, e: NodeId) -> Result<NodeId, DimError> {
    if g.dim(e) != g.dim(f) {
        return Err(format!(
            "the gradient input has dimension {}, but the formula has dimension {} (they must be equal)",
            g.dim(e),
            g.dim(f)
        ));
    }
    let order = g.topo_order(&[f]);
    // Only nodes on a path to `wrt` receive gradients.
    let depends = dependence(g, &order, wrt);
    let mut adjoint: HashMap<NodeId, NodeId> = HashMap::new();
    if depends[&f] {
        adjoint.insert(f, e);
    }
    for &n in order.iter().rev() {
        if n == wrt || !depends[&n] {
            continue;
        }
        let Some(&a) = adjoint.get(&n) else { continue };
        let Node::Op(op, args, attrs) = g.node(n).clone() else { continue };
        let dim = g.dim(n);
        let a = g.broadcast(a, dim)?;
        let spec = op.spec();
        if let Some(reason) = refused_operand(op, &args, &depends) {
            return Err(reason);
        }
        let contributions = match spec.derivative {
            Derivative::Vjp(vjp) | Derivative::Partial { vjp, .. } => vjp(g, &args, &attrs, n, a)?,
            Derivative::Partials(partials) => {
                let p = partials(g, &args, &attrs, n)?;
                let mut c = Vec::with_capacity(args.len());
                for (&arg, &p) in args.iter().zip(&p) {
                    let t = g.mul(a, p)?;
                    let arg_dim = g.dim(arg);
                    c.push(g.sum_to(t, arg_dim)?);
                }
                c
            }
            Derivative::OfExpansion => unreachable!("`{}` is expanded when it is built", spec.name),
        };
        debug_assert_eq!(contributions.len(), args.len(), "derivative of `{}`", op.spec().name);
        for (&arg, &c) in args.iter().zip(&contributions) {
            if !depends[&arg] || g.is_zero(c) {
                continue;
            }
            debug_assert!(
                g.dim(c) == g.dim(arg) || g.dim(c) == 1,
                "gradient of `{}` has dimension {} for an operand of dimension {}",
                op.spec().name,
                g.dim(c),
                g.dim(arg)
            );
            let total = match adjoint.get(&arg) {
                Some(&prev) => g.add(prev, c)?,
                None => c,
            };
            adjoint.insert(arg, total);
        }
    }
    let wrt_dim = g.dim(wrt);
    match adjoint.get(&wrt) {
        Some(&a) => g.broadcast(a, wrt_dim),
        None => Ok(g.zero(wrt_dim)),
    }
}

/// Whether each node of `order` (a topological order) is `wrt` or depends on it.
fn dependence(g: &Graph, order: &[NodeId], wrt: NodeId) -> HashMap<NodeId, bool> {
    let mut depends: HashMap<NodeId, bool> = HashMap::new();
    for &n in order {
        let d = n == wrt
            || match g.node(n) {
                Node::Op(_, args, _) => args.iter().any(|a| depends[a]),
                _ => false,
            };
        depends.insert(n, d);
    }
    depends
}

/// Why `op` cannot pass a gradient to its operands `args`: one that it treats as constant
/// depends on the variable.
fn refused_operand(op: Op, args: &[NodeId], depends: &HashMap<NodeId, bool>) -> Option<String> {
    let spec = op.spec();
    let &k = spec.constant_operands().iter().find(|&&k| depends[&args[k]])?;
    Some(format!(
        "`{}` cannot be differentiated with respect to its operand `{}` (nor can it in KeOps)",
        spec.name, spec.operands[k]
    ))
}

/// Why the gradient of `f` with respect to `wrt` cannot be taken, if it cannot: an operation
/// on the way refuses it (see [`crate::ops::Derivative::Partial`]). [`grad`] fails with the
/// same message.
pub fn refusal(g: &Graph, f: NodeId, wrt: NodeId) -> Option<String> {
    let order = g.topo_order(&[f]);
    let depends = dependence(g, &order, wrt);
    order.iter().find_map(|&n| match g.node(n) {
        Node::Op(op, args, _) if depends[&n] => refused_operand(*op, args, &depends),
        _ => None,
    })
}

/// The unit vector `k` of dimension `dim`, as a constant formula.
fn unit(g: &mut Graph, k: usize, dim: usize) -> Result<NodeId, DimError> {
    let mut v = g.constant(1.0);
    if k > 0 {
        let z = g.zero(k);
        v = g.op(Op::Concat, &[z, v], &[])?;
    }
    if k + 1 < dim {
        let z = g.zero(dim - k - 1);
        v = g.op(Op::Concat, &[v, z], &[])?;
    }
    Ok(v)
}

/// Positions of placeholder variables, which no kernel input has: the gradient input inside
/// [`diff`], and the direction in which [`check_linear`] differentiates.
const GRADIENT_PLACEHOLDER: usize = usize::MAX;
const DIRECTION_PLACEHOLDER: usize = usize::MAX - 1;

/// `Diff(F, x, u)`: the derivative of `F` with respect to `x` in the direction `u` (a
/// Jacobian-vector product), as the adjoint of the gradient: the gradient of `Grad(F, x, e)`
/// with respect to a placeholder `e`, which is linear in `e` and so no longer contains it.
pub fn diff(g: &mut Graph, f: NodeId, x: NodeId, u: NodeId) -> Result<NodeId, DimError> {
    if g.dim(u) != g.dim(x) {
        return Err(format!(
            "the direction has dimension {}, but the variable has dimension {} (they must be equal)",
            g.dim(u),
            g.dim(x)
        ));
    }
    let placeholder = g.var(Var { pos: GRADIENT_PLACEHOLDER, dim: g.dim(f), role: Role::Param });
    let gt = grad(g, f, x, placeholder)?;
    let d = grad(g, gt, placeholder, u)?;
    if g.vars_of(d).iter().any(|v| v.pos == GRADIENT_PLACEHOLDER) {
        return Err("internal error: the derivative still depends on its placeholder".into());
    }
    Ok(d)
}

/// `GradMatrix(F, x)`: the gradients of each component of `F`, concatenated (row `k` is the
/// gradient of `F_k`), of dimension `dim F * dim x`.
pub fn grad_matrix(g: &mut Graph, f: NodeId, x: NodeId) -> Result<NodeId, DimError> {
    let dim = g.dim(f);
    let mut out: Option<NodeId> = None;
    for k in 0..dim {
        let e = unit(g, k, dim)?;
        let row = grad(g, f, x, e)?;
        out = Some(match out {
            Some(prev) => g.op(Op::Concat, &[prev, row], &[])?,
            None => row,
        });
    }
    out.ok_or_else(|| "empty formula".into())
}

/// `Divergence(F, x)`: `sum_k dF_k / dx_k`, for `F` of the dimension of `x`.
pub fn divergence(g: &mut Graph, f: NodeId, x: NodeId) -> Result<NodeId, DimError> {
    let dim = g.dim(x);
    if g.dim(f) != dim {
        return Err(format!(
            "the divergence needs a formula of the variable's dimension ({dim}), but this one has dimension {}",
            g.dim(f)
        ));
    }
    let mut total = g.zero(1);
    for k in 0..dim {
        let e = unit(g, k, dim)?;
        let gk = grad(g, f, x, e)?;
        let term = g.op(Op::Elem, &[gk], &[k as i64])?;
        total = g.add(total, term)?;
    }
    Ok(total)
}

/// `Laplacian(F, x)`: the divergence of the gradient of a scalar `F`.
pub fn laplacian(g: &mut Graph, f: NodeId, x: NodeId) -> Result<NodeId, DimError> {
    if g.dim(f) != 1 {
        return Err(format!("the Laplacian needs a scalar formula, but this one has dimension {}", g.dim(f)));
    }
    let one = g.constant(1.0);
    let gradient = grad(g, f, x, one)?;
    divergence(g, gradient, x)
}

/// Checks that `f` is linear (or affine) in the variable `x`: its derivative in a placeholder
/// direction no longer contains `x`. KeOps' `TraceOperator` and `AdjointOperator` refuse other
/// formulas too; `what` names the operator in the message.
fn check_linear(g: &mut Graph, f: NodeId, x: NodeId, what: &str) -> Result<(), DimError> {
    let Node::Var(var) = *g.node(x) else {
        return Err(format!("`{what}` needs a variable as its second argument"));
    };
    let placeholder = g.var(Var { pos: DIRECTION_PLACEHOLDER, dim: g.dim(x), role: Role::Param });
    let derivative = diff(g, f, x, placeholder)?;
    if g.vars_of(derivative).contains(&var) {
        return Err(format!("`{what}` needs a formula that is linear in the variable"));
    }
    Ok(())
}

/// `AdjointOperator(F, x, u)`: for `F` linear in `x`, `F = M x`, the adjoint `M^T u`, which is
/// the gradient of `<F, u>`.
pub fn adjoint(g: &mut Graph, f: NodeId, x: NodeId, u: NodeId) -> Result<NodeId, DimError> {
    check_linear(g, f, x, "adjointoperator")?;
    grad(g, f, x, u)
}

/// `TraceOperator(F, x, w)`: for `F` linear in `x` with matrix `M`, the trace weighted by `w`
/// (of dimension 1 or `dim x`; KeOps' default is 1): `sum_k w_k M_kk` if `F` has the dimension
/// of `x`, `sum_k w_k M_k` if `F` is a scalar.
pub fn trace(g: &mut Graph, f: NodeId, x: NodeId, w: NodeId) -> Result<NodeId, DimError> {
    let (dim, dim_f, dim_w) = (g.dim(x), g.dim(f), g.dim(w));
    if dim_w != 1 && dim_w != dim {
        return Err(format!(
            "the weight of `traceoperator` has dimension {dim_w}, but it must be 1 or the variable's ({dim})"
        ));
    }
    check_linear(g, f, x, "traceoperator")?;
    let diagonal = if dim_f == dim && dim_f != 1 {
        let mut terms = Vec::with_capacity(dim);
        for k in 0..dim {
            let e = unit(g, k, dim)?;
            let column = grad(g, f, x, e)?;
            terms.push(g.op(Op::Elem, &[column], &[k as i64])?);
        }
        let mut all = terms[0];
        for &t in &terms[1..] {
            all = g.op(Op::Concat, &[all, t], &[])?;
        }
        all
    } else if dim_f == 1 {
        let one = g.constant(1.0);
        grad(g, f, x, one)?
    } else {
        return Err(format!(
            "`traceoperator` needs a formula of dimension 1 or of the variable's ({dim}), but this one has dimension {dim_f}"
        ));
    };
    let weighted = g.mul(w, diagonal)?;
    g.unary(Op::Sum, weighted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::eval_nodes;

    fn eval(g: &Graph, root: NodeId, inputs: &[Vec<f64>]) -> Vec<f64> {
        let order = g.topo_order(&[root]);
        eval_nodes(g, &order, &|pos| inputs[pos].as_slice())[root.index()].clone()
    }

    /// Every derivative rule of the op table agrees with central finite differences in f64, on
    /// the op's test cases. An op without test cases fails.
    #[test]
    fn derivative_rules_match_finite_differences() {
        let mut rng = keops_testkit::Rng::new(1);
        for &op in Op::ALL {
            let spec = op.spec();
            assert!(!spec.tests.is_empty(), "`{}` has no test case", spec.name);
            for case in spec.tests {
                let mut g = Graph::new();
                let n = case.operands.len();
                let vars: Vec<NodeId> = case
                    .operands
                    .iter()
                    .enumerate()
                    .map(|(pos, &(dim, _, _))| g.var(Var { pos, dim, role: Role::I }))
                    .collect();
                let out = g.op(op, &vars, case.attrs).unwrap();
                let out_dim = g.dim(out);
                let e = g.var(Var { pos: n, dim: out_dim, role: Role::I });
                let mut inputs: Vec<Vec<f64>> =
                    case.operands.iter().map(|&(dim, lo, hi)| rng.vec(dim, lo, hi)).collect();
                inputs.push(rng.vec(out_dim, -1.0, 1.0));
                let objective = |g: &Graph, inputs: &[Vec<f64>]| -> f64 {
                    eval(g, out, inputs).iter().zip(&inputs[n]).map(|(f, e)| f * e).sum()
                };
                for (k, &v) in vars.iter().enumerate() {
                    if spec.constant_operands().contains(&k) {
                        let refused = grad(&mut g, out, v, e).unwrap_err();
                        assert!(refused.contains(spec.operands[k]), "{refused}");
                        continue;
                    }
                    let gk = grad(&mut g, out, v, e).unwrap();
                    assert_eq!(g.dim(gk), g.dim(v));
                    let symbolic = eval(&g, gk, &inputs);
                    for c in 0..g.dim(v) {
                        let x = inputs[k][c];
                        let h = 1e-6 * x.abs().max(1.0);
                        let mut plus = inputs.clone();
                        plus[k][c] = x + h;
                        let mut minus = inputs.clone();
                        minus[k][c] = x - h;
                        let fd = (objective(&g, &plus) - objective(&g, &minus)) / (2.0 * h);
                        let err = (symbolic[c] - fd).abs();
                        assert!(
                            err <= 1e-6 * (1.0 + fd.abs()),
                            "`{}` {case:?}: d/d operand {k}[{c}]: symbolic {}, finite differences {fd}",
                            spec.name,
                            symbolic[c]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn grad_of_a_constant_gradient_is_exactly_zero() {
        // KeOps' check: Grad(Grad(x + y, x, e), x, f) = 0.
        let mut g = Graph::new();
        let x = g.var(Var { pos: 0, dim: 3, role: Role::I });
        let y = g.var(Var { pos: 1, dim: 3, role: Role::J });
        let e = g.var(Var { pos: 2, dim: 3, role: Role::I });
        let f = g.var(Var { pos: 3, dim: 3, role: Role::I });
        let s = g.add(x, y).unwrap();
        let g1 = grad(&mut g, s, x, e).unwrap();
        assert_eq!(g1, e);
        let g2 = grad(&mut g, g1, x, f).unwrap();
        assert_eq!(g.node(g2), &Node::Zero(3));
    }

    #[test]
    fn gaussian_kernel_gradient_is_small() {
        // d/dx <exp(-|x-y|^2) b, e> = -2 (x - y) exp(-|x-y|^2) b e.
        let mut g = Graph::new();
        let x = g.var(Var { pos: 0, dim: 3, role: Role::I });
        let y = g.var(Var { pos: 1, dim: 3, role: Role::J });
        let b = g.var(Var { pos: 2, dim: 1, role: Role::J });
        let e = g.var(Var { pos: 3, dim: 1, role: Role::I });
        let d = g.op(Op::SqDist, &[x, y], &[]).unwrap();
        let nd = g.neg(d).unwrap();
        let k = g.unary(Op::Exp, nd).unwrap();
        let f = g.mul(k, b).unwrap();
        let before = g.len();
        let gx = grad(&mut g, f, x, e).unwrap();
        assert!(g.len() - before <= 12, "{} new nodes: {}", g.len() - before, g.display(gx));
        let inputs = vec![vec![0.1, 0.2, 0.3], vec![0.3, -0.1, 0.5], vec![1.5], vec![0.7]];
        let got = eval(&g, gx, &inputs);
        let d2: f64 = (0..3).map(|c| (inputs[0][c] - inputs[1][c]).powi(2)).sum();
        for c in 0..3 {
            let want = -2.0 * (inputs[0][c] - inputs[1][c]) * (-d2).exp() * 1.5 * 0.7;
            assert!((got[c] - want).abs() < 1e-15, "{} vs {want}", got[c]);
        }
    }

    #[test]
    fn differential_operators() {
        // F(x) = (x0^2 x1, sin(x1)): J = [[2 x0 x1, x0^2], [0, cos x1]].
        let mut g = Graph::new();
        let x = g.var(Var { pos: 0, dim: 2, role: Role::I });
        let u = g.var(Var { pos: 1, dim: 2, role: Role::I });
        let x0 = g.op(Op::Elem, &[x], &[0]).unwrap();
        let x1 = g.op(Op::Elem, &[x], &[1]).unwrap();
        let sq = g.unary(Op::Square, x0).unwrap();
        let a = g.mul(sq, x1).unwrap();
        let b = g.unary(Op::Sin, x1).unwrap();
        let f = g.op(Op::Concat, &[a, b], &[]).unwrap();
        let (xv, uv): (Vec<f64>, Vec<f64>) = (vec![0.3, -0.8], vec![1.5, 2.0]);
        let inputs = vec![xv.clone(), uv.clone()];
        let jac = [[2.0 * xv[0] * xv[1], xv[0] * xv[0]], [0.0, xv[1].cos()]];

        let d = diff(&mut g, f, x, u).unwrap();
        let got = eval(&g, d, &inputs);
        for r in 0..2 {
            let want = jac[r][0] * uv[0] + jac[r][1] * uv[1];
            assert!((got[r] - want).abs() < 1e-14, "Diff row {r}: {} vs {want}", got[r]);
        }
        let m = grad_matrix(&mut g, f, x).unwrap();
        let got = eval(&g, m, &inputs);
        assert_eq!(got.len(), 4);
        for (k, row) in jac.iter().enumerate() {
            for c in 0..2 {
                assert!((got[k * 2 + c] - row[c]).abs() < 1e-14);
            }
        }
        let div = divergence(&mut g, f, x).unwrap();
        assert!((eval(&g, div, &inputs)[0] - (jac[0][0] + jac[1][1])).abs() < 1e-14);
        // Laplacian of |x|^2 e^{x0} = (4 + 4 x0 + |x|^2) e^{x0} in two dimensions.
        let n2 = g.unary(Op::SqNorm2, x).unwrap();
        let ex = g.unary(Op::Exp, x0).unwrap();
        let s = g.mul(n2, ex).unwrap();
        let lap = laplacian(&mut g, s, x).unwrap();
        let want = (4.0 + 4.0 * xv[0] + xv[0] * xv[0] + xv[1] * xv[1]) * xv[0].exp();
        assert!((eval(&g, lap, &inputs)[0] - want).abs() < 1e-13);
    }

    #[test]
    fn second_order() {
        // d/dx <d/dx <exp(-x^2), e>, f> = (4x^2 - 2) exp(-x^2) e f, for scalar x.
        let mut g = Graph::new();
        let x = g.var(Var { pos: 0, dim: 1, role: Role::I });
        let e = g.var(Var { pos: 1, dim: 1, role: Role::I });
        let f = g.var(Var { pos: 2, dim: 1, role: Role::I });
        let sq = g.unary(Op::Square, x).unwrap();
        let nsq = g.neg(sq).unwrap();
        let k = g.unary(Op::Exp, nsq).unwrap();
        let g1 = grad(&mut g, k, x, e).unwrap();
        let g2 = grad(&mut g, g1, x, f).unwrap();
        let (xv, ev, fv) = (0.7f64, 1.3, -0.4);
        let got = eval(&g, g2, &[vec![xv], vec![ev], vec![fv]])[0];
        let want = (4.0 * xv * xv - 2.0) * (-xv * xv).exp() * ev * fv;
        assert!((got - want).abs() < 1e-14, "{got} vs {want}");
    }

    #[test]
    fn linear_operators() {
        // F(x) = A x for a 2x2 matrix A (row-major): trace a00 + a11, adjoint A^T u.
        let mut g = Graph::new();
        let a = g.var(Var { pos: 0, dim: 4, role: Role::Param });
        let x = g.var(Var { pos: 1, dim: 2, role: Role::I });
        let u = g.var(Var { pos: 2, dim: 2, role: Role::I });
        let w = g.var(Var { pos: 3, dim: 2, role: Role::J });
        let f = g.op(Op::MatVecMult, &[a, x], &[]).unwrap();
        let inputs = vec![vec![1.0, 2.0, 3.0, 4.0], vec![0.5, -0.7], vec![0.3, -1.1], vec![2.0, -3.0]];
        let one = g.constant(1.0);
        let tr = trace(&mut g, f, x, one).unwrap();
        assert_eq!(eval(&g, tr, &inputs), [5.0]);
        let weighted = trace(&mut g, f, x, w).unwrap();
        assert_eq!(eval(&g, weighted, &inputs), [2.0 * 1.0 - 3.0 * 4.0]);
        let adj = adjoint(&mut g, f, x, u).unwrap();
        assert_eq!(eval(&g, adj, &inputs), [1.0 * 0.3 + 3.0 * -1.1, 2.0 * 0.3 + 4.0 * -1.1]);
        // A scalar F(x) = <w, x>: its matrix is the row w^T, so the trace is sum_k w_k.
        let s = g.op(Op::Dot, &[w, x], &[]).unwrap();
        let tr = trace(&mut g, s, x, one).unwrap();
        assert_eq!(eval(&g, tr, &inputs), [-1.0]);
        // Not linear in x: refused, as in KeOps.
        let sq = g.unary(Op::Square, x).unwrap();
        let err = trace(&mut g, sq, x, one).unwrap_err();
        assert!(err.contains("linear in the variable"), "{err}");
        assert!(adjoint(&mut g, sq, x, u).is_err());
        let err = trace(&mut g, f, x, a).unwrap_err();
        assert!(err.contains("weight of `traceoperator` has dimension 4"), "{err}");
    }
}
