//! The documentation table of the operations, generated from the op table so that it cannot
//! drift from it. The `keops` crate includes the result (`docs/ops.md`) in its documentation, and
//! a test there fails when that file is stale.

use super::{AttrKind, Kind, Op, OpSpec};
use crate::autodiff::grad;
use crate::ir::{Graph, Role, Var};

/// The markdown of `docs/ops.md`.
pub fn markdown() -> String {
    let mut out = String::from(HEADER);
    out.push_str("| KeOps string | math syntax | output dimension | derivative | description |\n");
    out.push_str("|---|---|---|---|---|\n");
    for &op in Op::ALL {
        let spec = op.spec();
        let (keops, math) = signatures(spec);
        out.push_str(&format!(
            "| {keops} | {math} | {} | {} | {} |\n",
            output_dim(spec),
            derivative(op),
            spec.doc.replace('|', "\\|")
        ));
    }
    out.push_str(SPECIAL);
    out
}

const HEADER: &str = "\
Every operation exists in both syntaxes: its KeOps name in `genred!` strings, its lower-case name
in `keops!`. Integer attributes come after the operands; a tuple attribute is written `(2, 3)`,
`(3,)` or `[2, 3]`. Element-wise operations take operands of equal dimensions, or of dimension 1
(broadcast, as in KeOps). Every operation can be differentiated (`grad`, `Grad`) except where
the table says otherwise; \"zero\" marks piecewise-constant operations, whose derivative is 0
wherever it is defined.

";

const SPECIAL: &str = "
Constants, variables and gradients in KeOps strings:

| KeOps string | math syntax | meaning |
|---|---|---|
| `2`, `2.5` | `2`, `2.5` | a number (KeOps itself accepts integers only) |
| `IntCst(n)` | `n` | the integer `n` |
| `RatCst(p, q)` | `p / q` | the rational `p / q` |
| `IntInv(n)` | `1 / n` | `1 / n` |
| `Zero(d)` | | the zero vector of dimension `d` |
| `Var(pos, dim, cat)` | | the input at position `pos` (category 0: `Vi`, 1: `Vj`, 2: `Pm`) |
| `Grad(f, x, e)` | `grad(f, x, e)` | gradient of `(f \\| e)` with respect to the variable `x` |
| `Diff(f, x, v)` | `diff(f, x, v)` | derivative of `f` with respect to `x` in the direction `v` (a Jacobian-vector product) |
| `GradMatrix(f, x)` | `gradmatrix(f, x)` | the gradients of every component of `f` with respect to `x`, concatenated |
| `Divergence(f, x)` | `divergence(f, x)` | `sum_k df_k / dx_k`, for `f` of the dimension of `x` |
| `Laplacian(f, x)` | `laplacian(f, x)` | the divergence of the gradient of a scalar `f` |
| `TraceOperator(f, x[, w])` | `traceoperator(f, x[, w])` | for `f` linear in `x` with matrix `M`: `sum_k w_k M_kk` (`f` of the dimension of `x`) or `sum_k w_k M_k` (`f` a scalar); `w` of dimension 1 (default 1) or `dim x` |
| `AdjointOperator(f, x, u)` | `adjointoperator(f, x, u)` | for `f` linear in `x` with matrix `M`: `M^T u` |
| `(a \\| b)` | `dot(a, b)` | scalar product |
| `a ** n` | `pow(a, n)` | integer power; `a ** b` for a non-integer `b` is `Powf(a, b)` |
| `a > b`, `a >= b` | `a > b`, `a >= b` | `LessThan(b, a)`, `LessOrEqual(b, a)` |
";

/// `Pow(a, n)` and `pow(a, n)`, plus the operator spelling if there is one.
fn signatures(spec: &OpSpec) -> (String, String) {
    let mut args: Vec<String> = spec.operands.iter().map(|s| s.to_string()).collect();
    let mut optional = String::new();
    for attr in spec.attrs {
        match attr.kind {
            AttrKind::OptionalTuple => optional = format!("[, {}]", attr.name),
            _ => args.push(attr.name.to_string()),
        }
    }
    let call = |name: &str| format!("`{name}({}{optional})`", args.join(", "));
    let (mut keops, mut math) = (call(spec.keops), call(spec.name));
    if let Some(symbol) = spec.symbol {
        let infix = match spec.operands {
            [a] => format!("`{}{a}`", symbol.trim_start_matches("unary ")),
            [a, b] => format!("`{a} {symbol} {b}`"),
            _ => String::new(),
        };
        keops = format!("{infix}, {keops}");
        math = format!("{infix}, {math}");
    }
    (keops, math)
}

fn output_dim(spec: &OpSpec) -> String {
    match spec.kind {
        Kind::Elementwise { .. } => match spec.operands {
            [a] => format!("`dim({a})`"),
            _ => "the operands' (each equal, or 1)".to_string(),
        },
        Kind::Vector { dim_doc, .. } | Kind::Alias { dim_doc, .. } => dim_doc.to_string(),
    }
}

/// "yes"; "zero" when the derivative with respect to every operand is identically zero, as
/// autodiff builds it on the op's first test case; or the operands it cannot be taken in.
fn derivative(op: Op) -> String {
    let spec = op.spec();
    let constant = spec.constant_operands();
    if !constant.is_empty() {
        let names: Vec<String> = constant.iter().map(|&k| format!("`{}`", spec.operands[k])).collect();
        return if constant.len() == spec.arity() {
            "no (as in KeOps)".to_string()
        } else {
            format!("not in {} (as in KeOps)", names.join(", "))
        };
    }
    let Some(case) = spec.tests.first() else {
        return "yes".to_string();
    };
    let mut g = Graph::new();
    let vars: Vec<_> = case
        .operands
        .iter()
        .enumerate()
        .map(|(pos, &(dim, _, _))| g.var(Var { pos, dim, role: Role::I }))
        .collect();
    let Ok(out) = g.op(op, &vars, case.attrs) else {
        return "yes".to_string();
    };
    let e = g.var(Var { pos: vars.len(), dim: g.dim(out), role: Role::I });
    let all_zero = vars.iter().all(|&v| grad(&mut g, out, v, e).map(|d| g.is_zero(d)).unwrap_or(false));
    if all_zero { "zero" } else { "yes" }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_has_a_row() {
        let table = markdown();
        for &op in Op::ALL {
            assert!(table.contains(&format!("`{}(", op.spec().keops)), "{op:?}");
        }
        assert!(table.contains("| `Floor(a)` | `floor(a)` | `dim(a)` | zero |"), "{table}");
        assert!(table.contains("| `a + b`, `Add(a, b)` | `a + b`, `add(a, b)` |"), "{table}");
        assert!(table.contains("`TensorDot(a, b, dims_a, dims_b, contract_a, contract_b[, permute])`"));
    }
}
