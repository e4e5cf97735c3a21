//! Kernels whose dimensions are given at run time (`x_i: [f32; _]`): the macro checks their
//! names and operations; once a call knows the dimensions, the runtime (the `keops` crate's
//! `dynamic` feature) runs the rest of the macro's pipeline here, checking the dimension rules
//! and lowering the formula to the interpreter's program.

use crate::ast::{DType, KernelSource};
use crate::backward::{Backward, Extra, plan};
use crate::check::{Kernel, check};
use crate::codegen::program::{Program, program};
use crate::codegen::{lower_kernel, ptx};
use crate::diag::Diagnostics;
use crate::ir::Role;
use crate::reduction::Accumulator;
use crate::syntax::parse_kernel_text;

/// What a kernel declares, with the dimensions given at run time as `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct Declaration {
    /// The variables in declaration order: name, index, dimension.
    pub vars: Vec<(String, Role, Option<usize>)>,
    /// KeOps' name of the reduction.
    pub reduction: &'static str,
    pub reduced: Role,
    pub k: usize,
    pub dtype: &'static str,
}

/// A kernel of the math syntax, specialised to one set of dimensions.
#[derive(Clone, Debug)]
pub struct Specialized {
    /// Every dimension is set.
    pub declaration: Declaration,
    /// The widths of an output row's values and indices.
    pub widths: (usize, usize),
    /// The kernel's program, as the interpreter runs it.
    pub program: Program,
    /// The checked kernel, for its GPU module ([`Specialized::gpu_module`]).
    pub kernel: Kernel,
}

impl Specialized {
    /// The kernel's GPU module, named `name` (for messages), as `keops!` embeds it for a kernel
    /// declared with these dimensions.
    pub fn gpu_module(&self, name: &str) -> ptx::Module {
        ptx::module(&self.kernel, name.to_string())
    }
}

impl Specialized {
    /// A checked kernel (a forward kernel, or one of its backward kernels), lowered.
    fn of(kernel: Kernel) -> Specialized {
        let r = &kernel.reduction;
        let declaration = Declaration {
            vars: kernel.params.iter().map(|p| (p.name.clone(), p.role, Some(p.dim))).collect(),
            reduction: r.kind.keops_name(),
            reduced: r.over,
            k: r.k,
            dtype: kernel.dtype.name(),
        };
        Specialized { declaration, widths: kernel.widths(), program: forward_program(&kernel), kernel }
    }
}

/// How the gradient with respect to one input of a specialised kernel is computed (see
/// [`crate::backward`]).
#[derive(Clone, Debug)]
pub enum BackwardStep {
    /// The output does not depend on this input differentiably.
    Zero,
    /// The gradient cannot be taken, for this reason.
    Refused(String),
    /// Evaluate `kernel`, a sum, on the forward inputs followed by `extras`; for a parameter,
    /// also sum its output rows.
    Reduction { kernel: Box<Specialized>, extras: Vec<Extra>, sum_rows: bool },
    /// The derivative at the pairs a min, max or K-min reduction selected.
    Selection,
}

/// The backward pass of a specialised kernel: one step per input, and the log-sum-exp that a
/// soft-max's gradient reads.
#[derive(Clone, Debug)]
pub struct SpecializedBackward {
    pub steps: Vec<BackwardStep>,
    pub log_sum_exp: Option<Box<Specialized>>,
}

/// The backward kernels of the kernel `text` with `dims`, as `keops!` generates them for a
/// kernel declared with these dimensions.
pub fn specialize_backward(text: &str, dims: &[usize]) -> Result<SpecializedBackward, String> {
    let kernel = specialize(text, dims)?.kernel;
    let (plans, aux) =
        plan(&kernel).map_err(|e| format!("internal error while differentiating the kernel: {e}"))?;
    let steps = (plans.into_iter())
        .map(|step| match step {
            Backward::Zero => BackwardStep::Zero,
            Backward::Refused(reason) => BackwardStep::Refused(reason),
            Backward::Reduction { kernel, extras, sum_rows } => {
                BackwardStep::Reduction { kernel: Box::new(Specialized::of(*kernel)), extras, sum_rows }
            }
            Backward::Selection { .. } => BackwardStep::Selection,
        })
        .collect();
    let log_sum_exp = aux.log_sum_exp.map(|k| Box::new(Specialized::of(*k)));
    Ok(SpecializedBackward { steps, log_sum_exp })
}

/// Parses the kernel `text`, as `keops!` records it.
fn parse(text: &str) -> Result<KernelSource, String> {
    parse_kernel_text(text).map_err(render)
}

/// The errors, one after the other.
fn render(d: Diagnostics) -> String {
    d.errors().iter().map(|e| d.render(e)).collect::<Vec<_>>().join("; ")
}

/// What the kernel `text` declares.
pub fn declaration(text: &str) -> Result<Declaration, String> {
    Ok(declare(&parse(text)?))
}

fn declare(src: &KernelSource) -> Declaration {
    let r = &src.reduction;
    Declaration {
        vars: (src.params.iter())
            .map(|p| (p.name.clone(), p.role, (!p.runtime_dim).then_some(p.dim)))
            .collect(),
        reduction: r.kind.keops_name(),
        reduced: r.over,
        k: r.k.unwrap_or(1),
        dtype: src.params.first().map_or(DType::F32, |p| p.dtype).name(),
    }
}

/// The kernel `text` (as `keops!` records it) with `dims` for its variables declared
/// `[f32; _]`, in declaration order. The error says what does not fit, as the macro would
/// have said it of a kernel declared with these dimensions.
pub fn specialize(text: &str, dims: &[usize]) -> Result<Specialized, String> {
    let src = parse(text)?;
    let runtime: Vec<&str> = src.params.iter().filter(|p| p.runtime_dim).map(|p| p.name.as_str()).collect();
    let src = src.with_dims(dims).ok_or_else(|| {
        format!(
            "expected {} dimensions of at least 1 (for {}), got {dims:?}",
            runtime.len(),
            runtime.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        )
    })?;
    let kernel = check(&src).map_err(render)?;
    Ok(Specialized {
        declaration: declare(&src),
        widths: kernel.widths(),
        program: forward_program(&kernel),
        kernel,
    })
}

/// The interpreter's program of a kernel's forward pass, as `keops!` emits it.
pub fn forward_program(kernel: &Kernel) -> Program {
    let lowered = lower_kernel(kernel);
    let factored = match kernel.reduction.kind.spec().accumulator {
        Accumulator::Sum => lowered.factored(kernel),
        _ => None,
    };
    match factored {
        Some(products) => program(kernel, &products, true),
        None => program(kernel, &lowered, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codegen::program::{Reduction, Step, Term};

    const GAUSS: &str = "|x_i: [f32; _], y_j: [f32; _], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j";

    #[test]
    fn dimensions_are_set_in_declaration_order() {
        let k = specialize(GAUSS, &[5, 5]).unwrap();
        let dims: Vec<Option<usize>> = k.declaration.vars.iter().map(|v| v.2).collect();
        assert_eq!(dims, [Some(5), Some(5), Some(1)]);
        let declared = declaration(GAUSS).unwrap();
        assert_eq!(declared.vars.iter().map(|v| v.2).collect::<Vec<_>>(), [None, None, Some(1)]);
        assert_eq!((declared.reduction, declared.reduced, declared.dtype), ("Sum", Role::J, "f32"));
        assert_eq!(k.widths, (1, 0));
        assert_eq!(k.program.reduction, Reduction::SumOfProducts);
        // One squared distance, of a square per component.
        let squares = |k: &Specialized| -> Vec<usize> {
            (k.program.pair.code.iter())
                .filter_map(|s| match s {
                    Step::Chain { term: Term::SquaredDifference, init: None, pairs, .. } => Some(pairs.len()),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(squares(&k), [5]);
        // Larger ones in four partial sums, as the lowering splits them.
        assert_eq!(squares(&specialize(GAUSS, &[64, 64]).unwrap()), [16; 4]);
    }

    /// A dot product is a chain of products, which the interpreter sums in registers, not
    /// one instruction per component.
    #[test]
    fn dot_products_are_chains() {
        let attention = "|q_i: [f32; _], k_j: [f32; _], v_j: [f32; _], s: f32| sumsoftmaxweight_j(dot(q_i, k_j) * s, v_j)";
        let k = specialize(attention, &[16, 16, 16]).unwrap();
        let products: Vec<usize> = (k.program.pair.code.iter())
            .filter_map(|s| match s {
                Step::Chain { term: Term::Product, init: None, pairs, .. } => Some(pairs.len()),
                _ => None,
            })
            .collect();
        // In four partial sums, as the lowering splits them.
        assert_eq!(products, [4; 4]);
    }

    /// The GPU module is the one of the kernel declared with the same dimensions, but for the
    /// kernel's text, which its comments quote.
    #[test]
    fn gpu_modules_are_those_of_fixed_dimensions() {
        let fixed = "|x_i: [f32; 16], y_j: [f32; 16], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j";
        let fixed = check(&crate::syntax::parse_kernel_text(fixed).unwrap()).unwrap();
        let want = ptx::module(&fixed, "K".into());
        let mut got = specialize(GAUSS, &[16, 16]).unwrap().gpu_module("K");
        got.ptx = got.ptx.replace(GAUSS, &fixed.text);
        assert_eq!((got.ptx, got.block, got.partial_widths), (want.ptx, want.block, want.partial_widths));
    }

    #[test]
    fn backward_kernels_have_the_dimensions() {
        let b = specialize_backward(GAUSS, &[7, 7]).unwrap();
        assert_eq!(b.steps.len(), 3);
        let BackwardStep::Reduction { kernel, extras, sum_rows: false } = &b.steps[0] else {
            panic!("{:?}", b.steps[0])
        };
        assert_eq!(extras, &[Extra::Gradient]);
        assert_eq!((kernel.widths, kernel.declaration.reduced), ((7, 0), Role::J));
        assert!(b.log_sum_exp.is_none());
        let softmax =
            "|x_i: [f32; _], y_j: [f32; _], v_j: [f32; _]| sumsoftmaxweight_j(-sqdist(x_i, y_j), v_j)";
        assert!(specialize_backward(softmax, &[3, 3, 2]).unwrap().log_sum_exp.is_some());
        let nearest = "|x_i: [f32; _], y_j: [f32; _]| min_j sqdist(x_i, y_j)";
        assert!(matches!(specialize_backward(nearest, &[3, 3]).unwrap().steps[0], BackwardStep::Selection));
    }

    /// A gradient's differences `x_i - y_j` are computed where the interpreter's reduction
    /// reads them: the pair stage neither computes nor stores them, and squares them itself.
    #[test]
    fn gradients_leave_their_differences_to_the_reduction() {
        let b = specialize_backward(GAUSS, &[16, 16]).unwrap();
        for (step, inner_first) in [(&b.steps[0], false), (&b.steps[1], true)] {
            let BackwardStep::Reduction { kernel, .. } = step else { panic!("{step:?}") };
            let pair = &kernel.program.pair;
            let differences = pair.differences.as_ref().expect("differences");
            assert_eq!((differences.features.len(), differences.inner_first), (16, inner_first));
            assert!(
                differences.features.iter().all(|&[o, i]| o < 17 && (17..34).contains(&i)),
                "{differences:?}"
            );
            assert!(!pair.code.iter().any(|s| matches!(s, Step::Op { op, .. } if op.name() == "Sub")));
            let squares = |s: &Step| matches!(s, Step::Chain { term: Term::SquaredDifference, .. });
            assert_eq!(pair.code.iter().filter(|s| squares(s)).count(), 4);
        }
        // Differences that another instruction reads, or that are not the factors of a sum of
        // products, stay instructions.
        for text in [
            "|x_i: [f32; _], y_j: [f32; _]| sum_j (x_i - y_j) * sum(x_i - y_j)",
            "|x_i: [f32; _], y_j: [f32; _]| sum_j x_i - y_j",
        ] {
            assert_eq!(specialize(text, &[3, 3]).unwrap().program.pair.differences, None, "{text}");
        }
    }

    /// The N-body force's `rsqrt` is one interpreter instruction, not its expansion's 20, and
    /// so is a `sin`.
    #[test]
    fn rsqrt_and_sin_are_one_instruction() {
        let nbody = "|x_i: [f32; _], y_j: [f32; _], m_j: f32, e2: f32| sum_j (y_j - x_i) * m_j * pow(rsqrt(sqdist(x_i, y_j) + e2), 3)";
        let code = specialize(nbody, &[3, 3]).unwrap().program.pair.code;
        let ops: Vec<String> = (code.iter())
            .filter_map(|s| match s {
                Step::Op { op, .. } => Some(op.name()),
                _ => None,
            })
            .collect();
        assert_eq!(ops.iter().filter(|op| *op == "Rsqrt").count(), 1, "{ops:?}");
        assert!(!ops.iter().any(|op| op == "Sqrt" || op == "Div"), "{ops:?}");
        assert!(code.len() < 15, "{code:?}");
        // The periodic kernel's three `sin`s, likewise.
        let periodic =
            "|x_i: [f32; _], y_j: [f32; _], b_j: f32| sum_j exp(-2.0 * sqnorm2(sin(x_i - y_j))) * b_j";
        let code = specialize(periodic, &[3, 3]).unwrap().program.pair.code;
        let sins = code.iter().filter(|s| matches!(s, Step::Op { op, .. } if op.name() == "Sin")).count();
        assert_eq!(sins, 3, "{code:?}");
        assert!(code.len() < 15, "{code:?}");
    }

    #[test]
    fn dimension_rules_are_checked_with_the_dimensions() {
        let err = specialize(GAUSS, &[3, 4]).unwrap_err();
        assert!(err.contains("dimension mismatch"), "{err}");
        let err = specialize(GAUSS, &[3]).unwrap_err();
        assert_eq!(err, "expected 2 dimensions of at least 1 (for `x_i`, `y_j`), got [3]");
        let err = specialize(GAUSS, &[0, 0]).unwrap_err();
        assert!(err.starts_with("expected 2 dimensions of at least 1"), "{err}");
        let lse = "|x_i: [f64; _], y_j: [f64; 2]| logsumexp_j x_i - y_j";
        assert!(specialize(lse, &[2]).unwrap_err().contains("needs a scalar formula"));
        assert!(specialize(lse, &[3]).unwrap_err().contains("dimension mismatch"));
        assert!(specialize(lse, &[1]).unwrap_err().contains("needs a scalar formula"));
    }
}
