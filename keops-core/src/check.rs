//! The checker: resolves names, checks arities and dimensions, and builds the IR of a kernel.
//!
//! Errors are collected with their locations; a subexpression that failed yields no node and its
//! parents stay silent, so each mistake is reported once.

use crate::ast::{BinOp, DType, Expr, GpuMath, KernelSource, Param, Syntax};
use crate::diag::{Diagnostics, Loc, did_you_mean};
use crate::ir::{Graph, NodeId, Role, Var};
use crate::ops::{AttrKind, AttrValue, Op, OpSpec, attrs};
use crate::reduction::Reduction;

/// The names that KeOps strings use for constants and variables rather than operations.
const KEOPS_SPECIAL: &[&str] = &["IntCst", "RatCst", "IntInv", "Zero", "Var"];

/// An operator on formulas, such as `grad`: its name and how many arguments it takes.
#[derive(Clone, Copy)]
struct Transform {
    name: &'static str,
    least: usize,
    most: usize,
    third: &'static str,
}

/// A checked kernel: its variables, reduction, and formula(s) as IR.
#[derive(Clone, Debug)]
pub struct Kernel {
    pub params: Vec<Param>,
    pub dtype: DType,
    pub reduction: Reduction,
    pub graph: Graph,
    pub formula: NodeId,
    /// The second formula of `sumsoftmaxweight` and weighted `logsumexp`.
    pub formula2: Option<NodeId>,
    pub text: String,
    /// How the GPU kernels compute `exp`.
    pub gpu_math: GpuMath,
}

impl Kernel {
    pub fn var(&self, pos: usize) -> Var {
        let p = &self.params[pos];
        Var { pos, dim: p.dim, role: p.role }
    }

    pub fn roles(&self) -> Vec<Role> {
        self.params.iter().map(|p| p.role).collect()
    }

    /// Dimension of the second formula, 0 if there is none.
    pub fn dim2(&self) -> usize {
        self.formula2.map_or(0, |g| self.graph.dim(g))
    }

    /// Width of an output row's values and indices parts.
    pub fn widths(&self) -> (usize, usize) {
        self.reduction.widths(self.graph.dim(self.formula), self.dim2())
    }
}

/// Checks a parsed kernel and builds its IR.
pub fn check(src: &KernelSource) -> Result<Kernel, Diagnostics> {
    check_with(src, false)
}

/// Checks what can be checked of a kernel with dimensions given at run time, before they are
/// known: names, operations, arities, attributes, types. The dimension rules wait until
/// [`KernelSource::with_dims`] gives the dimensions and [`check`] runs.
pub fn check_names(src: &KernelSource) -> Result<(), Diagnostics> {
    match check_with(src, true) {
        Err(diags) if !diags.is_empty() => Err(diags),
        _ => Ok(()),
    }
}

/// [`check`], or [`check_names`] if `defer_dims`: then a kernel whose dimensions do not fit
/// yields `Err` with no error, as does a subexpression that failed.
fn check_with(src: &KernelSource, defer_dims: bool) -> Result<Kernel, Diagnostics> {
    let diags = Diagnostics::with_sources(src.sources.clone());
    let mut c = Checker { src, graph: Graph::new(), diags, defer_dims };
    // Every stage below recurses over the formula: refuse formulas deep enough to threaten the
    // stack before any of them runs.
    for e in std::iter::once(&src.formula).chain(&src.formula2) {
        if let Some(loc) = e.deeper_than(crate::ast::MAX_DEPTH) {
            c.diags.error(
                loc.unwrap_or(src.reduction.loc),
                format!(
                    "this formula is nested too deeply: more than {} levels of operations (split it, e.g. into several kernels)",
                    crate::ast::MAX_DEPTH
                ),
            );
            return Err(c.diags);
        }
    }
    let dtype = c.dtype();
    let formula = c.expr(&src.formula);
    let formula2 = src.formula2.as_ref().map(|g| c.expr(g));
    let r = &src.reduction;
    let scheme = r.scheme.for_dtype(dtype);
    let reduction = Reduction { kind: r.kind, k: r.k.unwrap_or(1), over: r.over, scheme };
    if let Some(f) = formula.filter(|_| !defer_dims) {
        let dim = c.graph.dim(f);
        if r.kind.needs_scalar_formula() && dim != 1 {
            let loc = src.formula.loc().unwrap_or(r.loc);
            c.diags.error(
                loc,
                format!(
                    "`{}` needs a scalar formula (dimension 1), but this one has dimension {dim}",
                    reduction_word(src)
                ),
            );
        }
    }
    let (Some(formula), Some(formula2)) = (formula, formula2.map_or(Some(None), |g| g.map(Some))) else {
        return Err(c.diags);
    };
    let kernel = Kernel {
        params: src.params.clone(),
        dtype,
        reduction,
        graph: c.graph,
        formula,
        formula2,
        text: src.text.clone(),
        gpu_math: src.gpu_math,
    };
    c.diags.into_result(kernel)
}

/// `sum_j` as the user wrote it (or the KeOps name).
fn reduction_word(src: &KernelSource) -> String {
    let r = &src.reduction;
    match src.syntax {
        Syntax::Math => format!("{}_{}", r.kind.name(), if r.over == Role::I { "i" } else { "j" }),
        Syntax::KeOps => r.kind.keops_name().to_string(),
    }
}

/// `1 formula`, `2 formulas`.
fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") }
}

struct Checker<'a> {
    src: &'a KernelSource,
    graph: Graph,
    diags: Diagnostics,
    /// Dimensions are placeholders: their rules are not reported (see [`check_names`]).
    defer_dims: bool,
}

impl Checker<'_> {
    /// All variables must share one float type.
    fn dtype(&mut self) -> DType {
        let params = &self.src.params;
        let Some(first) = params.first() else {
            return DType::F32;
        };
        for p in &params[1..] {
            if p.dtype != first.dtype {
                self.diags.error(
                    p.loc,
                    format!(
                        "all variables must have the same float type: `{}` is {} but `{}` is {}",
                        p.name,
                        p.dtype.name(),
                        first.name,
                        first.dtype.name()
                    ),
                );
            }
        }
        first.dtype
    }

    fn lookup_op(&self, name: &str) -> Option<Op> {
        match self.src.syntax {
            Syntax::Math => Op::from_name(name),
            Syntax::KeOps => Op::from_keops_name(name),
        }
    }

    /// The formula transformations (autodiff and KeOps' linear operators), by name in this
    /// syntax: the numbers of arguments they take, and what the third argument is.
    fn transforms(&self) -> [Transform; 7] {
        let math = self.src.syntax == Syntax::Math;
        let t = |math_name, keops_name, least, most, third| Transform {
            name: if math { math_name } else { keops_name },
            least,
            most,
            third,
        };
        [
            t("grad", "Grad", 3, 3, "gradient input"),
            t("diff", "Diff", 3, 3, "direction"),
            t("gradmatrix", "GradMatrix", 2, 2, ""),
            t("divergence", "Divergence", 2, 2, ""),
            t("laplacian", "Laplacian", 2, 2, ""),
            t("traceoperator", "TraceOperator", 2, 3, "weight"),
            t("adjointoperator", "AdjointOperator", 3, 3, "vector"),
        ]
    }

    /// `grad(F, x, e)`, `diff(F, x, u)`, `gradmatrix(F, x)`, `divergence(F, x)`,
    /// `laplacian(F, x)`, `traceoperator(F, x[, w])`, `adjointoperator(F, x, u)`: operators
    /// applied to `F` with respect to the variable `x`.
    fn transform(&mut self, t: Transform, args: &[Expr], loc: Loc) -> Option<NodeId> {
        let name = t.name;
        if !(t.least..=t.most).contains(&args.len()) {
            for a in args {
                self.expr(a);
            }
            let what = match (t.least, t.most) {
                (3, 3) => format!("3 arguments (formula, variable, {})", t.third),
                (2, 2) => "2 arguments (formula, variable)".to_string(),
                _ => format!("2 or 3 arguments (formula, variable, and optionally a {})", t.third),
            };
            self.diags.error(loc, format!("`{name}` takes {what}, got {}", args.len()));
            return None;
        }
        let fv = self.expr(&args[0]);
        let ev = args.get(2).map(|e| self.expr(e));
        let xv = match &args[1] {
            Expr::Name { name: var, loc } => self.name(var, *loc),
            other => {
                if let Some(l) = other.loc() {
                    self.diags.error(l, format!("the second argument of `{name}` must be a variable"));
                }
                None
            }
        };
        let (f, x, e) = (fv?, xv?, ev.map_or(Some(None), |e| e.map(Some))?);
        let g = &mut self.graph;
        let result = match (name.to_ascii_lowercase().as_str(), e) {
            ("grad", Some(e)) => crate::autodiff::grad(g, f, x, e),
            ("diff", Some(u)) => crate::autodiff::diff(g, f, x, u),
            ("gradmatrix", None) => crate::autodiff::grad_matrix(g, f, x),
            ("divergence", None) => crate::autodiff::divergence(g, f, x),
            ("laplacian", None) => crate::autodiff::laplacian(g, f, x),
            ("traceoperator", w) => {
                let w = w.unwrap_or_else(|| g.constant(1.0));
                crate::autodiff::trace(g, f, x, w)
            }
            (_, u) => crate::autodiff::adjoint(g, f, x, u.expect("adjointoperator takes 3 arguments")),
        };
        match result {
            Ok(g) => Some(g),
            Err(message) => {
                let message = match self.src.syntax {
                    Syntax::Math => message,
                    Syntax::KeOps => {
                        message.replace(&format!("`{}`", name.to_ascii_lowercase()), &format!("`{name}`"))
                    }
                };
                self.dimension_error(loc, message);
                None
            }
        }
    }

    fn op_names(&self) -> Vec<&'static str> {
        let special: &[&'static str] = match self.src.syntax {
            Syntax::Math => &[],
            Syntax::KeOps => KEOPS_SPECIAL,
        };
        Op::ALL
            .iter()
            .map(|op| self.shown(op.spec()))
            .chain(self.transforms().map(|t| t.name))
            .chain(special.iter().copied())
            .collect()
    }

    /// Builds `op(args; attrs)`, reporting a dimension error at `loc`.
    fn build(&mut self, op: Op, args: &[NodeId], attrs: &[i64], loc: Loc) -> Option<NodeId> {
        match self.graph.op(op, args, attrs) {
            Ok(id) => Some(id),
            Err(message) => {
                let message = self.localize(message, op.spec());
                self.dimension_error(loc, message);
                None
            }
        }
    }

    /// Reports an error of the dimension rules, unless the dimensions are placeholders.
    fn dimension_error(&mut self, loc: Loc, message: String) {
        if !self.defer_dims {
            self.diags.error(loc, message);
        }
    }

    /// The op table words its messages with math-syntax names; KeOps strings use KeOps names.
    fn localize(&self, message: String, spec: &OpSpec) -> String {
        match self.src.syntax {
            Syntax::Math => message,
            Syntax::KeOps => message.replace(&format!("`{}`", spec.name), &format!("`{}`", spec.keops)),
        }
    }

    /// The name of `spec` in the syntax at hand.
    fn shown(&self, spec: &OpSpec) -> &'static str {
        match self.src.syntax {
            Syntax::Math => spec.name,
            Syntax::KeOps => spec.keops,
        }
    }

    fn expr(&mut self, e: &Expr) -> Option<NodeId> {
        match e {
            Expr::Error => None,
            Expr::Num { value, .. } => Some(self.graph.constant(*value)),
            Expr::Name { name, loc } => self.name(name, *loc),
            Expr::Neg { arg, loc } => {
                let a = self.expr(arg)?;
                self.build(Op::Neg, &[a], &[], *loc)
            }
            Expr::Binary { op, lhs, rhs, loc } => {
                let (a, b) = (self.expr(lhs), self.expr(rhs));
                let (a, b) = (a?, b?);
                // `a > b` is `b < a` and `a >= b` is `b <= a`, as in KeOps.
                let (op, args) = match op {
                    BinOp::Add => (Op::Add, [a, b]),
                    BinOp::Sub => (Op::Sub, [a, b]),
                    BinOp::Mul => (Op::Mul, [a, b]),
                    BinOp::Div => (Op::Div, [a, b]),
                    BinOp::Lt => (Op::LessThan, [a, b]),
                    BinOp::Gt => (Op::LessThan, [b, a]),
                    BinOp::Le => (Op::LessOrEqual, [a, b]),
                    BinOp::Ge => (Op::LessOrEqual, [b, a]),
                    BinOp::Eq => (Op::Equal, [a, b]),
                    BinOp::Ne => (Op::NotEqual, [a, b]),
                    BinOp::Dot => (Op::Dot, [a, b]),
                };
                self.build(op, &args, &[], *loc)
            }
            Expr::Call { name, name_loc, args, loc } => self.call(name, *name_loc, args, *loc),
            Expr::Index { base, index, loc } => {
                let b = self.expr(base)?;
                self.build(Op::Elem, &[b], &[*index], *loc)
            }
            Expr::Slice { base, start, end, loc } => {
                let b = self.expr(base)?;
                let end = end.unwrap_or(self.graph.dim(b) as i64);
                self.build(Op::Extract, &[b], &[*start, end - start], *loc)
            }
            Expr::Tuple { loc, .. } => {
                self.diags.error(
                    *loc,
                    "a tuple is not a formula: tuples of integers are attributes of operations such as `tensordot`",
                );
                None
            }
            Expr::Concat { items, loc } => {
                let nodes: Vec<Option<NodeId>> = items.iter().map(|i| self.expr(i)).collect();
                let nodes: Vec<NodeId> = nodes.into_iter().collect::<Option<_>>()?;
                let mut acc = nodes[0];
                for &n in &nodes[1..] {
                    acc = self.build(Op::Concat, &[acc, n], &[], *loc)?;
                }
                Some(acc)
            }
        }
    }

    fn name(&mut self, name: &str, loc: Loc) -> Option<NodeId> {
        if let Some(pos) = self.src.params.iter().position(|p| p.name == name) {
            let p = &self.src.params[pos];
            return Some(self.graph.var(Var { pos, dim: p.dim, role: p.role }));
        }
        let hint = match did_you_mean(name, self.src.params.iter().map(|p| p.name.as_str())) {
            Some(s) => format!("; did you mean `{s}`?"),
            None => {
                let names: Vec<String> = self.src.params.iter().map(|p| format!("`{}`", p.name)).collect();
                format!(" (declared: {})", names.join(", "))
            }
        };
        self.diags.error(loc, format!("unknown variable `{name}`{hint}"));
        None
    }

    fn call(&mut self, name: &str, name_loc: Loc, args: &[Expr], loc: Loc) -> Option<NodeId> {
        if let Some(&t) = self.transforms().iter().find(|t| t.name == name) {
            return self.transform(t, args, loc);
        }
        if self.src.syntax == Syntax::KeOps && KEOPS_SPECIAL.contains(&name) {
            return self.keops_special(name, args, loc);
        }
        let Some(op) = self.lookup_op(name) else {
            self.check_args(args);
            let names = self.op_names();
            let hint = match did_you_mean(name, names.iter().copied()) {
                Some(s) => format!("; did you mean `{s}`?"),
                None => String::new(),
            };
            let message = format!("unknown function `{name}`{hint}");
            self.diags.error(name_loc, message);
            return None;
        };
        let spec = op.spec();
        let shown = self.shown(spec);
        let optional = spec.attrs.iter().filter(|a| a.kind == AttrKind::OptionalTuple).count();
        let most = spec.arity() + spec.attrs.len();
        let least = most - optional;
        if !(least..=most).contains(&args.len()) {
            self.check_args(args);
            let count =
                if optional > 0 { format!("{least} or {most} arguments") } else { plural(most, "argument") };
            let message = format!("`{shown}` takes {count}{}, got {}", describe_attrs(spec), args.len());
            self.diags.error(loc, message);
            return None;
        }
        let operands: Vec<Option<NodeId>> = args[..spec.arity()].iter().map(|a| self.expr(a)).collect();
        let mut values = Vec::with_capacity(spec.attrs.len());
        let mut ok = true;
        for (k, attr) in spec.attrs.iter().enumerate() {
            let Some(a) = args.get(spec.arity() + k) else {
                values.push(AttrValue::Tuple(Vec::new()));
                continue;
            };
            let value = match attr.kind {
                AttrKind::Int => a.as_int().map(AttrValue::Int),
                AttrKind::Tuple | AttrKind::OptionalTuple => a.as_int_tuple().map(AttrValue::Tuple),
            };
            match value {
                Some(v) => values.push(v),
                None => {
                    ok = false;
                    let what = match attr.kind {
                        AttrKind::Int => "an integer literal",
                        _ => "a tuple of integer literals, such as `(2, 3)` or `(1,)`",
                    };
                    if let Some(l) = a.loc() {
                        self.diags
                            .error(l, format!("the `{}` argument of `{shown}` must be {what}", attr.name));
                    }
                }
            }
        }
        let operands: Vec<NodeId> = operands.into_iter().collect::<Option<_>>()?;
        if !ok {
            return None;
        }
        self.build(op, &operands, &attrs::encode(&values), loc)
    }

    /// Checks the arguments of a call that cannot be built, so that their own mistakes are
    /// reported now; tuples are left alone (they are attributes, not formulas).
    fn check_args(&mut self, args: &[Expr]) {
        for a in args {
            if !matches!(a, Expr::Tuple { .. }) {
                self.expr(a);
            }
        }
    }

    /// `IntCst(n)`, `RatCst(p, q)`, `IntInv(n)`, `Zero(d)` and `Var(pos, dim, cat)` in KeOps
    /// strings: constants and variables, written like calls.
    fn keops_special(&mut self, name: &str, args: &[Expr], loc: Loc) -> Option<NodeId> {
        let (arity, usage) = match name {
            "IntCst" => (1, "`IntCst(n)` with an integer literal `n`"),
            "RatCst" => (2, "`RatCst(p, q)` with integer literals `p`, `q`"),
            "IntInv" => (1, "`IntInv(n)` with an integer literal `n`"),
            "Zero" => (1, "`Zero(d)` with a dimension `d`"),
            _ => (3, "`Var(pos, dim, cat)` with integer literals"),
        };
        let ints: Option<Vec<i64>> = args.iter().map(Expr::as_int).collect();
        let Some(v) = ints.filter(|v| v.len() == arity) else {
            self.diags.error(loc, format!("expected {usage}"));
            return None;
        };
        let value = match name {
            "IntCst" => v[0] as f64,
            "RatCst" | "IntInv" => {
                let (p, q) = if name == "RatCst" { (v[0], v[1]) } else { (1, v[0]) };
                if q == 0 {
                    self.diags.error(loc, format!("`{name}` divides by zero"));
                    return None;
                }
                p as f64 / q as f64
            }
            "Zero" => match usize::try_from(v[0]) {
                Ok(d) if d >= 1 => return Some(self.graph.zero(d)),
                _ => {
                    self.diags.error(loc, format!("`Zero` needs a dimension of at least 1, got {}", v[0]));
                    return None;
                }
            },
            _ => return self.var_at(&v, loc),
        };
        Some(self.graph.constant(value))
    }

    /// `Var(pos, dim, cat)`: the declared variable at `pos`, which must match.
    fn var_at(&mut self, v: &[i64], loc: Loc) -> Option<NodeId> {
        let found = usize::try_from(v[0]).ok().and_then(|pos| Some((pos, self.src.params.get(pos)?)));
        match found {
            Some((pos, p)) if p.dim as i64 == v[1] && i64::from(p.role.category()) == v[2] => {
                Some(self.graph.var(Var { pos, dim: p.dim, role: p.role }))
            }
            _ => {
                self.diags.error(
                    loc,
                    format!("`Var({}, {}, {})` does not match a declared variable", v[0], v[1], v[2]),
                );
                None
            }
        }
    }
}

/// `" (1 formula, then the integer `n`)"`: what follows the operands of an op, for messages.
fn describe_attrs(spec: &OpSpec) -> String {
    let required: Vec<String> = spec
        .attrs
        .iter()
        .filter(|a| a.kind != AttrKind::OptionalTuple)
        .map(|a| format!("`{}`", a.name))
        .collect();
    if required.is_empty() {
        return String::new();
    }
    let tuples = spec.attrs.iter().any(|a| a.kind != AttrKind::Int);
    let word = match (tuples, required.len()) {
        (false, 1) => "integer",
        (false, _) => "integers",
        (true, 1) => "integer tuple",
        (true, _) => "integer tuples",
    };
    let optional: Vec<String> = spec
        .attrs
        .iter()
        .filter(|a| a.kind == AttrKind::OptionalTuple)
        .map(|a| format!(", and optionally `{}`", a.name))
        .collect();
    format!(
        " ({}, then the {word} {}{})",
        plural(spec.arity(), "formula"),
        required.join(", "),
        optional.concat()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::math::parse_kernel_str;

    fn errors(text: &str) -> Vec<String> {
        let src = parse_kernel_str(text).unwrap_or_else(|d| panic!("{:?}", d.errors()));
        match check(&src) {
            Ok(_) => vec![],
            Err(d) => d.errors().iter().map(|e| e.message.clone()).collect(),
        }
    }

    #[test]
    fn card_formula_checks() {
        let src = parse_kernel_str(
            "|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j",
        )
        .unwrap();
        let k = check(&src).unwrap();
        assert_eq!(k.graph.dim(k.formula), 1);
        assert_eq!(k.widths(), (1, 0));
        assert_eq!(k.dtype, DType::F32);
    }

    #[test]
    fn dimensions_given_at_run_time_defer_their_rules() {
        let parse = |text| parse_kernel_str(text).unwrap_or_else(|d| panic!("{:?}", d.errors()));
        // Rules that dimensions `_` may satisfy or not wait for them.
        let src = parse("|x_i: [f32; _], y_j: [f32; 2]| logsumexp_j(x_i[4] - y_j + grad(x_i, x_i, y_j))");
        assert!(check_names(&src).is_ok());
        assert!(check(&src.with_dims(&[5]).unwrap()).is_err());
        // Names, operations and attributes do not.
        let src = parse("|x_i: [f32; _], y_j: [f32; _]| sum_j exq(x_i) + pow(y_j, 1.5) + z_j");
        let errors: Vec<String> =
            check_names(&src).unwrap_err().errors().iter().map(|e| e.message.clone()).collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("unknown function `exq`"), "{errors:?}");
        assert!(errors[1].contains("must be an integer literal"), "{errors:?}");
        assert!(errors[2].starts_with("unknown variable `z_j`"), "{errors:?}");
    }

    #[test]
    fn all_errors_are_reported() {
        let e = errors(
            "|x_i: [f32; 3], y_j: [f32; 2]| sum_j exq(x_i) + pow(x_i) + z_j + (x_i - y_j) + sqdsit(x_i, y_j)",
        );
        assert_eq!(e.len(), 5, "{e:?}");
        assert_eq!(e[0], "unknown function `exq`; did you mean `exp`?");
        assert_eq!(e[1], "`pow` takes 2 arguments (1 formula, then the integer `n`), got 1");
        assert!(e[2].starts_with("unknown variable `z_j`"), "{e:?}");
        assert!(e[3].contains("dimensions 3 and 2"), "{e:?}");
        assert_eq!(e[4], "unknown function `sqdsit`; did you mean `sqdist`?");
    }

    #[test]
    fn attribute_arguments_must_be_integers() {
        let e = errors("|x_i: [f32; 3]| sum_j pow(x_i, 1.5)");
        assert_eq!(e, vec!["the `n` argument of `pow` must be an integer literal"]);
        let e = errors("|x_i: [f32; 3]| sum_j x_i[3]");
        assert_eq!(e, vec!["index 3 is out of range for a vector of dimension 3"]);
    }

    #[test]
    fn comparisons_map_to_keops_operations() {
        let src =
            parse_kernel_str("|x_i: f32, y_j: f32| sum_j (x_i > y_j) + (x_i <= y_j) + (x_i != y_j)").unwrap();
        let k = check(&src).unwrap();
        assert_eq!(
            k.graph.display(k.formula),
            "add(add(lessthan(v1_j, v0_i), lessorequal(v0_i, v1_j)), notequal(v0_i, v1_j))"
        );
    }

    #[test]
    fn tuple_attributes() {
        let src = parse_kernel_str(
            "|x_i: [f32; 6], y_j: [f32; 6]| sum_j tensordot(x_i, y_j, (2, 3), [3, 2], (1,), 0)",
        )
        .unwrap();
        let k = check(&src).unwrap();
        assert_eq!(k.graph.dim(k.formula), 4);
        assert_eq!(k.graph.display(k.formula), "tensordot(v0_i, v1_j, (2, 3), (3, 2), (1,), (0,), ())");
        let e = errors("|x_i: [f32; 6], y_j: [f32; 6]| sum_j tensordot(x_i, y_j, (2, 3))");
        assert_eq!(
            e,
            [
                "`tensordot` takes 6 or 7 arguments (2 formulas, then the integer tuples `dims_a`, `dims_b`, `contract_a`, `contract_b`, and optionally `permute`), got 3"
            ]
        );
        let e =
            errors("|x_i: [f32; 6], y_j: [f32; 6]| sum_j tensordot(x_i, y_j, (2, 3), (3, 2), (1.5,), (0,))");
        assert_eq!(
            e,
            [
                "the `contract_a` argument of `tensordot` must be a tuple of integer literals, such as `(2, 3)` or `(1,)`"
            ]
        );
        let e = errors("|x_i: [f32; 6], y_j: [f32; 6]| sum_j (x_i, y_j) + x_i");
        assert!(e[0].starts_with("a tuple is not a formula"), "{e:?}");
    }

    #[test]
    fn linear_operators_are_checked() {
        let e = errors("|x_i: [f32; 3]| sum_j traceoperator(x_i)");
        assert_eq!(
            e,
            ["`traceoperator` takes 2 or 3 arguments (formula, variable, and optionally a weight), got 1"]
        );
        let e = errors("|x_i: [f32; 3], y_j: [f32; 3]| sum_j traceoperator(x_i * x_i, x_i)");
        assert_eq!(e, ["`traceoperator` needs a formula that is linear in the variable"]);
        let e = errors("|x_i: [f32; 3], y_j: [f32; 3]| sum_j adjointoperator(exp(x_i), x_i, y_j)");
        assert_eq!(e, ["`adjointoperator` needs a formula that is linear in the variable"]);
    }

    #[test]
    fn mixed_float_types() {
        let e = errors("|x_i: [f32; 3], y_j: [f64; 3]| sum_j sqdist(x_i, y_j)");
        assert_eq!(e, vec!["all variables must have the same float type: `y_j` is f64 but `x_i` is f32"]);
    }

    #[test]
    fn logsumexp_needs_a_scalar() {
        let e = errors("|x_i: [f32; 3], y_j: [f32; 3]| logsumexp_j x_i - y_j");
        assert_eq!(
            e,
            vec!["`logsumexp_j` needs a scalar formula (dimension 1), but this one has dimension 3"]
        );
    }
}
