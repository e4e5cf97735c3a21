//! The reference evaluator: interprets a kernel's IR in f64, pair by pair.
//!
//! It shares nothing with the code generators beyond the IR: operations are evaluated by the
//! op table's `eval` column (plain f64 math), reductions by their reference implementation. Tests
//! use it as an independent oracle for the generated CPU and GPU code.

use crate::check::Kernel;
use crate::ir::{Graph, Node, NodeId, Role};

/// The result of a kernel: `rows` rows of values, then of indices.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    pub rows: usize,
    pub values: Vec<f64>,
    pub indices: Vec<usize>,
    /// Width of a row of values and of indices.
    pub widths: (usize, usize),
}

impl Output {
    /// As `eval_flat` returns it: the values, then the indices as numbers.
    pub fn flat(&self) -> Vec<f64> {
        let mut out = self.values.clone();
        out.extend(self.indices.iter().map(|&i| i as f64));
        out
    }
}

/// Row counts of the i- and j-variables, as the runtime infers them: from the first variable of
/// each kind, 1 if there is none.
pub fn sizes(kernel: &Kernel, inputs: &[&[f64]]) -> Result<(usize, usize), String> {
    if inputs.len() != kernel.params.len() {
        return Err(format!("expected {} inputs, got {}", kernel.params.len(), inputs.len()));
    }
    let (mut m, mut n) = (None, None);
    for (p, x) in kernel.params.iter().zip(inputs) {
        if x.len() % p.dim != 0 || (p.role == Role::Param && x.len() != p.dim) {
            return Err(format!("input `{}` has {} values, not a multiple of {}", p.name, x.len(), p.dim));
        }
        let rows = x.len() / p.dim;
        let slot = match p.role {
            Role::I => &mut m,
            Role::J => &mut n,
            Role::Param => continue,
        };
        match *slot {
            None => *slot = Some(rows),
            Some(r) if r != rows => {
                return Err(format!("`{}` has {rows} rows, expected {r}", p.name));
            }
            _ => {}
        }
    }
    Ok((m.unwrap_or(1), n.unwrap_or(1)))
}

/// Evaluates `kernel` on flat row-major inputs in signature order.
pub fn evaluate(kernel: &Kernel, inputs: &[&[f64]]) -> Result<Output, String> {
    let (m, n) = sizes(kernel, inputs)?;
    let (outer_rows, inner_rows) = if kernel.reduction.over == Role::J { (m, n) } else { (n, m) };
    let dim_f = kernel.graph.dim(kernel.formula);
    let widths = kernel.widths();
    let mut roots = vec![kernel.formula];
    roots.extend(kernel.formula2);
    let order = kernel.graph.topo_order(&roots);
    let mut values = vec![0.0; outer_rows * widths.0];
    let mut indices = vec![0; outer_rows * widths.1];
    let mut pairs = Vec::with_capacity(inner_rows);
    for r in 0..outer_rows {
        pairs.clear();
        for s in 0..inner_rows {
            let (i, j) = if kernel.reduction.over == Role::J { (r, s) } else { (s, r) };
            let row = |pos: usize| -> &[f64] {
                let p = &kernel.params[pos];
                let k = match p.role {
                    Role::I => i,
                    Role::J => j,
                    Role::Param => 0,
                };
                &inputs[pos][k * p.dim..(k + 1) * p.dim]
            };
            let vals = eval_nodes(&kernel.graph, &order, &row);
            let g = kernel.formula2.map_or_else(Vec::new, |g| vals[g.index()].clone());
            pairs.push((vals[kernel.formula.index()].clone(), g));
        }
        kernel.reduction.reduce_reference(
            &pairs,
            dim_f,
            &mut values[r * widths.0..(r + 1) * widths.0],
            &mut indices[r * widths.1..(r + 1) * widths.1],
        );
    }
    Ok(Output { rows: outer_rows, values, indices, widths })
}

/// Evaluates the nodes of `order` (operands first) for one pair; `row(pos)` gives the values of
/// the variable at that position. The result is indexed by node id.
pub fn eval_nodes<'a>(graph: &Graph, order: &[NodeId], row: &dyn Fn(usize) -> &'a [f64]) -> Vec<Vec<f64>> {
    let mut vals: Vec<Vec<f64>> = vec![Vec::new(); graph.len()];
    for &id in order {
        let v = match graph.node(id) {
            Node::Var(var) => row(var.pos).to_vec(),
            Node::Const(bits) => vec![f64::from_bits(*bits)],
            Node::Zero(d) => vec![0.0; *d],
            Node::Op(op, args, attrs) => {
                let a: Vec<&[f64]> = args.iter().map(|a| vals[a.index()].as_slice()).collect();
                let mut out = vec![0.0; graph.dim(id)];
                op.spec().evaluate(&a, attrs, &mut out);
                out
            }
        };
        vals[id.index()] = v;
    }
    vals
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check;
    use crate::syntax::math::parse_kernel_str;

    fn kernel(text: &str) -> Kernel {
        check(&parse_kernel_str(text).unwrap()).unwrap()
    }

    #[test]
    fn gaussian_sum_by_hand() {
        let k = kernel("|x_i: [f64; 2], y_j: [f64; 2], b_j: f64| sum_j exp(-sqdist(x_i, y_j)) * b_j");
        let x = [0.0, 0.0, 1.0, 0.0];
        let y = [0.0, 0.0, 0.0, 1.0, 2.0, 2.0];
        let b = [1.0, 2.0, 3.0];
        let out = evaluate(&k, &[&x, &y, &b]).unwrap();
        let want0 = 1.0 + 2.0 * (-1f64).exp() + 3.0 * (-8f64).exp();
        let want1 = (-1f64).exp() + 2.0 * (-2f64).exp() + 3.0 * (-5f64).exp();
        assert_eq!(out.rows, 2);
        assert!((out.values[0] - want0).abs() < 1e-15);
        assert!((out.values[1] - want1).abs() < 1e-15);
    }

    #[test]
    fn reduction_over_i_and_missing_sides() {
        let k = kernel("|x_i: f64, y_j: f64| sum_i x_i * y_j");
        let out = evaluate(&k, &[&[1.0, 2.0, 3.0], &[10.0, 20.0]]).unwrap();
        assert_eq!(out.values, vec![60.0, 120.0]);
        // No j-variable: one j row, as in pykeops.
        let k = kernel("|x_i: f64| sum_j x_i");
        let out = evaluate(&k, &[&[1.0, 2.0]]).unwrap();
        assert_eq!(out.values, vec![1.0, 2.0]);
    }

    #[test]
    fn bad_inputs() {
        let k = kernel("|x_i: [f64; 2], y_j: [f64; 2], p: [f64; 2]| sum_j sqdist(x_i, y_j) * p");
        assert!(evaluate(&k, &[&[0.0; 3], &[0.0; 2], &[0.0; 2]]).is_err());
        assert!(evaluate(&k, &[&[0.0; 2], &[0.0; 2], &[0.0; 4]]).is_err());
    }
}
