//! Backward kernels: how the gradient of a kernel's output with respect to each input is
//! computed, decided at compile time from the reduction's [`Gradient`].
//!
//! For a kernel `a_r = Red_s F(x_r, y_s, p)` and an incoming gradient `e` (of `a`'s shape), the
//! gradient of `sum_r <a_r, e_r>` with respect to an input is:
//!
//! - for `Sum`, `LogSumExp` and `SumSoftMaxWeight`: a `Sum` reduction of a derived formula
//!   `Phi` (built with [`crate::autodiff::grad`]), over the same index for an input indexed by the
//!   output index `r`, over `r` for an input indexed by the reduced index `s`, and over `s` then
//!   summed over rows for a parameter. `Phi` reads the extra variables `e`, and for the log-sum-exp
//!   family the forward result (and, for the soft-max, its log-sum-exp);
//! - for `Min`, `Max`, `KMin` and their two-part forms (beyond KeOps, which raises): the
//!   derivative of `F` at the pairs the reduction selected, scattered to the selected rows (the
//!   usual subgradient);
//! - zero for the index-only reductions.

use crate::ast::Param;
use crate::autodiff::grad;
use crate::check::Kernel;
use crate::diag::Loc;
use crate::ir::{DimError, Graph, NodeId, Role, Var};
use crate::ops::Op;
use crate::reduction::{Accumulator, Gradient, Reduction, ReductionKind, SumScheme};

/// An extra input of a backward kernel, appended after the forward kernel's inputs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Extra {
    /// `e`, the gradient flowing into the output (values part).
    Gradient,
    /// The forward kernel's output (values part).
    Output,
    /// `log sum_s exp(F)`, computed by the auxiliary kernel.
    LogSumExp,
}

/// How the gradient with respect to one input is computed.
#[derive(Clone, Debug)]
pub enum Backward {
    /// The output does not depend on this input differentiably.
    Zero,
    /// The gradient cannot be taken (an operation refuses it, as in KeOps): asking for it is
    /// an error at run time that gives this reason, so that the other inputs keep theirs.
    Refused(String),
    /// Evaluate `kernel` (a `Sum` reduction) on the forward inputs followed by `extras`; for a
    /// parameter, also sum its output rows.
    Reduction { kernel: Box<Kernel>, extras: Vec<Extra>, sum_rows: bool },
    /// Evaluate `kernel`'s formula (the derivative of `F` for an incoming gradient `E`, the
    /// extra input appended after the forward inputs) at each selected pair.
    Selection { kernel: Box<Kernel> },
}

/// The auxiliary forward kernels backward passes need.
#[derive(Clone, Debug, Default)]
pub struct Auxiliary {
    /// `log sum_s exp(F)`, for the soft-max gradient.
    pub log_sum_exp: Option<Box<Kernel>>,
    /// The reduction with indices (`min_argmin` for `min`, ...), for selection gradients.
    pub selection: Option<Box<Kernel>>,
}

/// The backward plan of every input of `kernel`, and the auxiliary kernels it uses.
pub fn plan(kernel: &Kernel) -> Result<(Vec<Backward>, Auxiliary), DimError> {
    let mut aux = Auxiliary::default();
    let forward = |kind: ReductionKind, what: &str| {
        let reduction = Reduction { kind, scheme: SumScheme::Block, ..kernel.reduction };
        derived(kernel, None, &[], &|_, f, _| Ok(f.0), reduction, format!("{what} of {}", kernel.text))
    };
    match kernel.reduction.kind.spec().gradient {
        Gradient::SoftMax => {
            aux.log_sum_exp = Some(Box::new(forward(ReductionKind::LogSumExp, "log-sum-exp")?))
        }
        Gradient::AtSelected { selection } => {
            aux.selection = Some(Box::new(forward(selection, "selection")?))
        }
        Gradient::Zero | Gradient::Sum | Gradient::LogSumExp | Gradient::Refused(_) => {}
    }
    let plans = (0..kernel.params.len()).map(|pos| backward(kernel, pos)).collect::<Result<_, _>>()?;
    Ok((plans, aux))
}

fn backward(kernel: &Kernel, pos: usize) -> Result<Backward, DimError> {
    let gradient = kernel.reduction.kind.spec().gradient;
    let v = kernel.var(pos);
    let depends = kernel.graph.vars_of(kernel.formula).contains(&v)
        || kernel.formula2.is_some_and(|g| kernel.graph.vars_of(g).contains(&v));
    if !depends || gradient == Gradient::Zero {
        return Ok(Backward::Zero);
    }
    let var = kernel.graph.find_var(v);
    let refused = |f: NodeId| var.and_then(|x| crate::autodiff::refusal(&kernel.graph, f, x));
    if let Some(reason) = refused(kernel.formula).or_else(|| kernel.formula2.and_then(refused)) {
        return Ok(Backward::Refused(reason));
    }
    let (values, _) = kernel.widths();
    let dim_f = kernel.graph.dim(kernel.formula);
    let outer = kernel.reduction.outer();
    // The backward reduction runs over the other index for an input of the reduced index.
    let over = if v.role == kernel.reduction.over { outer } else { kernel.reduction.over };
    // A gradient sums as the forward reduction does, in its scheme for a sum.
    let scheme = if kernel.reduction.kind.spec().accumulator == Accumulator::Sum {
        kernel.reduction.scheme
    } else {
        SumScheme::Block
    };
    let sum = Reduction { kind: ReductionKind::Sum, k: 1, over, scheme };
    let sum_rows = v.role == Role::Param;
    let text = format!("gradient of {} with respect to `{}`", kernel.text, kernel.params[pos].name);
    let width = |x: &Extra| if *x == Extra::LogSumExp { 1 } else { values };
    let reduction = |extras: Vec<Extra>, phi: PhiBuilder| -> Result<Backward, DimError> {
        let widths: Vec<(Extra, usize)> = extras.iter().map(|x| (*x, width(x))).collect();
        let kernel = derived(kernel, Some(pos), &widths, phi, sum, text.clone())?;
        Ok(Backward::Reduction { kernel: Box::new(kernel), extras, sum_rows })
    };
    match gradient {
        Gradient::Zero => Ok(Backward::Zero),
        Gradient::Refused(reason) => Ok(Backward::Refused(reason.into())),
        Gradient::Sum => reduction(vec![Extra::Gradient], &|g, f, x| grad(g, f.0, x.var, x.extras[0])),
        Gradient::LogSumExp => reduction(vec![Extra::Gradient, Extra::Output], &|g, f, x| {
            // Phi = sum_c e_c exp(F - o_c) W_c, differentiated with e and o fixed.
            let (e, o) = (x.extras[0], x.extras[1]);
            let shifted = g.sub(f.0, o)?;
            let p = g.unary(Op::Exp, shifted)?;
            let weighted = match f.1 {
                Some(w) => g.mul(p, w)?,
                None => p,
            };
            let phi = g.mul(e, weighted)?;
            let phi = g.sum_to(phi, 1)?;
            let one = g.constant(1.0);
            grad(g, phi, x.var, one)
        }),
        Gradient::SoftMax => reduction(vec![Extra::Gradient, Extra::Output, Extra::LogSumExp], &|g, f, x| {
            // Phi = exp(F - lse) (<e, V> - <e, out>), differentiated with e, out and lse fixed.
            let (e, o, l) = (x.extras[0], x.extras[1], x.extras[2]);
            let Some(v) = f.1 else { return Err("soft-max without its second formula".into()) };
            let shifted = g.sub(f.0, l)?;
            let p = g.unary(Op::Exp, shifted)?;
            let ev = g.op(Op::Dot, &[e, v], &[])?;
            let eo = g.op(Op::Dot, &[e, o], &[])?;
            let d = g.sub(ev, eo)?;
            let phi = g.mul(p, d)?;
            let one = g.constant(1.0);
            grad(g, phi, x.var, one)
        }),
        Gradient::AtSelected { .. } => {
            // Selections: Grad(F, v, E) for an incoming gradient E of F's dimension, evaluated
            // at the selected pairs. Its stages keep the forward kernel's sides.
            let phi: PhiBuilder = &|g, f, x| grad(g, f.0, x.var, x.extras[0]);
            let same_sides = Reduction { over: kernel.reduction.over, ..sum };
            let kernel = derived(kernel, Some(pos), &[(Extra::Gradient, dim_f)], phi, same_sides, text)?;
            Ok(Backward::Selection { kernel: Box::new(kernel) })
        }
    }
}

/// What a derived formula is built from: the differentiated variable (the formula itself when
/// there is none) and the extra inputs.
struct Inputs {
    var: NodeId,
    extras: Vec<NodeId>,
}

/// Builds a derived formula from the forward formulas `(F, G)` and the [`Inputs`].
type PhiBuilder<'a> = &'a dyn Fn(&mut Graph, (NodeId, Option<NodeId>), &Inputs) -> Result<NodeId, DimError>;

/// A kernel on the forward kernel's inputs plus `extras` (each indexed by the forward output's
/// index, with the given dimension), whose formula `phi` builds, reduced by `reduction`.
fn derived(
    kernel: &Kernel,
    var: Option<usize>,
    extras: &[(Extra, usize)],
    phi: PhiBuilder,
    reduction: Reduction,
    text: String,
) -> Result<Kernel, DimError> {
    let mut graph = kernel.graph.clone();
    let mut params = kernel.params.clone();
    let outer = kernel.reduction.outer();
    let mut extra_nodes = Vec::new();
    for &(x, dim) in extras {
        let pos = params.len();
        let name = match x {
            Extra::Gradient => "__keops_e",
            Extra::Output => "__keops_out",
            Extra::LogSumExp => "__keops_lse",
        };
        params.push(Param {
            name: name.into(),
            loc: Loc::span(proc_macro2::Span::call_site()),
            role: outer,
            dim,
            dtype: kernel.dtype,
            bare: false,
            runtime_dim: false,
        });
        extra_nodes.push(graph.var(Var { pos, dim, role: outer }));
    }
    let var_node = var.map_or(kernel.formula, |pos| graph.var(kernel.var(pos)));
    let inputs = Inputs { var: var_node, extras: extra_nodes };
    let formula = phi(&mut graph, (kernel.formula, kernel.formula2), &inputs)?;
    let keeps_second = reduction.kind == kernel.reduction.kind;
    Ok(Kernel {
        params,
        dtype: kernel.dtype,
        reduction,
        graph,
        formula,
        formula2: if keeps_second { kernel.formula2 } else { None },
        text,
        gpu_math: kernel.gpu_math,
    })
}
