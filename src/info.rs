//! What a kernel is: its variables, reduction and output shape, for introspection.

/// Which index a variable is indexed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Index {
    /// Indexed by i (`x_i`, KeOps `Vi`).
    I,
    /// Indexed by j (`y_j`, KeOps `Vj`).
    J,
    /// A parameter: one row for all pairs (KeOps `Pm`).
    Param,
}

impl Index {
    pub(crate) fn letter(self) -> char {
        match self {
            Index::I => 'i',
            Index::J => 'j',
            Index::Param => 'p',
        }
    }
}

/// A declared input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VarInfo {
    pub name: &'static str,
    pub index: Index,
    pub dim: usize,
}

/// Static description of a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelInfo {
    /// The kernel as written.
    pub formula: &'static str,
    /// Inputs in declaration order.
    pub vars: &'static [VarInfo],
    /// KeOps' name of the reduction (`"Sum"`, `"ArgKMin"`, ...).
    pub reduction: &'static str,
    /// The reduced index: `Index::J` for `sum_j` (KeOps `axis = 1`), `Index::I` for `sum_i`.
    pub reduced: Index,
    /// K of the K-reductions, 1 otherwise.
    pub k: usize,
    /// `"f32"` or `"f64"`.
    pub dtype: &'static str,
    /// Width of an output row's values (0 for index-only reductions).
    pub value_width: usize,
    /// Width of an output row's indices (0 unless the reduction returns indices).
    pub index_width: usize,
}

impl KernelInfo {
    /// The index of the output rows.
    pub fn output_index(&self) -> Index {
        match self.reduced {
            Index::J => Index::I,
            _ => Index::J,
        }
    }
}
