//! Code generators: Rust for the CPU kernels, PTX for the GPU kernels. Both print the same
//! staged scalar program ([`lower_kernel`]), so they compute the same formula values.

pub mod ptx;
pub mod rust;

use crate::check::Kernel;
use crate::lower::{Program, Staged, Val, lower};

/// A kernel's formulas as one staged scalar program.
pub struct Lowered {
    pub staged: Staged,
    /// How many of `staged.outputs` are components of the first formula; the rest are the
    /// second formula's.
    pub nf: usize,
}

impl Lowered {
    /// The components of the second formula (none if the kernel has no second formula).
    pub fn ng(&self) -> usize {
        self.staged.outputs.len() - self.nf
    }

    /// For a sum, the formula's components as products, so that the CPU kernel accumulates
    /// each with one fused multiply-add (see [`Staged::as_products`]); `None` if no component
    /// is a per-pair product, or the kernel has a second formula.
    pub fn factored(&self, kernel: &Kernel) -> Option<Lowered> {
        if self.ng() != 0 {
            return None;
        }
        let staged = self.staged.as_products(&kernel.roles(), kernel.reduction.outer())?;
        Some(Lowered { staged, nf: self.nf })
    }
}

/// Lowers the formula and the second formula of `kernel` and splits the program into the
/// stages of its reduction.
pub fn lower_kernel(kernel: &Kernel) -> Lowered {
    let mut program = Program::new(kernel.dtype);
    let mut roots = vec![kernel.formula];
    roots.extend(kernel.formula2);
    let mut lowered = lower(&kernel.graph, &roots, &mut program);
    let f_vals = lowered.remove(0);
    let g_vals = lowered.pop().filter(|_| kernel.formula2.is_some()).unwrap_or_default();
    let nf = f_vals.len();
    let outputs: Vec<Val> = f_vals.into_iter().chain(g_vals).collect();
    let staged = Staged::new(program, outputs, &kernel.roles(), kernel.reduction.outer());
    Lowered { staged, nf }
}
