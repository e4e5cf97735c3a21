//! Code generators: Rust for the CPU kernels, PTX for the GPU kernels. Both print the same
//! staged scalar program ([`lower_kernel`]), so they compute the same formula values.

pub mod dynamic;
pub mod gpu;
pub mod program;
pub mod ptx;
mod reroll;
pub mod rust;

use crate::check::Kernel;
use crate::lower::{Operand, Program, Staged, Val, lower};

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

    /// For a [`factored`](Self::factored) sum of at least [`SCALED_MIN`] components, each of
    /// them one per-pair value times a reduced-row feature (`K(x_i, y_j) * b_j` with a vector
    /// `b_j`): the features' positions among the reduced-row features, one per component. The
    /// per-pair value is then put first in each product (the program orders a product's
    /// operands by position, which may put the feature first).
    pub fn scaled_features(&mut self) -> Option<Vec<usize>> {
        let n = self.nf;
        if n < SCALED_MIN || self.ng() != n {
            return None;
        }
        let staged = &self.staged;
        let common = |half: &[Val]| half.iter().all(|&v| v == half[0]);
        let features = |half: &[Val]| -> Option<Vec<usize>> {
            (half.iter())
                .map(|&v| match staged.operand(v) {
                    Operand::Inner(k) => Some(k),
                    _ => None,
                })
                .collect()
        };
        let (first, second) = staged.outputs.split_at(n);
        if common(first) {
            return features(second);
        }
        let scaled = features(first).filter(|_| common(second))?;
        self.staged.outputs.rotate_left(n);
        Some(scaled)
    }

    /// For a log-sum-exp with weights or a soft-max whose weights are all reduced-row features
    /// (`v_j` in `sum_j exp(<q_i, k_j>) v_j`): the features' positions among the reduced-row
    /// features, one per weight, which the CPU kernel then accumulates as a sum of scaled
    /// features (see [`scaled_features`](Self::scaled_features)). Unlike a sum's, this changes
    /// the algorithm (each run of reduced rows raises the maxima once), so a single weight
    /// takes it too: its results are those of each column of a wider one.
    pub fn weight_features(&self) -> Option<Vec<usize>> {
        if self.ng() == 0 {
            return None;
        }
        (self.staged.outputs[self.nf..].iter())
            .map(|&v| match self.staged.operand(v) {
                Operand::Inner(k) => Some(k),
                _ => None,
            })
            .collect()
    }
}

/// The fewest components for which the CPU kernel accumulates a sum of scaled features
/// component group by component group (see [`Lowered::scaled_features`]): with fewer, the
/// accumulators of a block of rows fit in registers anyway.
pub const SCALED_MIN: usize = 2;

/// Lowers the formula and the second formula of `kernel` and splits the program into the
/// stages of its reduction.
pub fn lower_kernel(kernel: &Kernel) -> Lowered {
    lower_kernel_into(kernel, Program::new(kernel.dtype))
}

/// [`lower_kernel`] into `program`, an empty program with the settings of a target (see
/// [`Program::with_native`]).
pub fn lower_kernel_into(kernel: &Kernel, mut program: Program) -> Lowered {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{DType, Role};
    use crate::lower::Inst;

    const ROLES: [Role; 3] = [Role::I, Role::J, Role::J];

    /// `w * b_c` for `c < width`, with `w = (x_i - y_j)^2` and `b_j` the variable at position
    /// 2, loaded before `w` is computed if `b_first` (the program then puts it first in each
    /// product); `second` may replace the feature by another value.
    fn scaled_sum(width: usize, b_first: bool, second: impl Fn(&mut Program, Val) -> Val) -> Option<Lowered> {
        let mut p = Program::new(DType::F32);
        let (x, y) = (p.load(0, 0), p.load(1, 0));
        let loads = |p: &mut Program| (0..width).map(|c| p.load(2, c)).collect::<Vec<_>>();
        let early = if b_first { loads(&mut p) } else { vec![] };
        let d = p.sub(x, y);
        let w = p.mul(d, d);
        let b = if b_first { early } else { loads(&mut p) };
        let outputs = b
            .into_iter()
            .map(|b| {
                let b = second(&mut p, b);
                p.mul(w, b)
            })
            .collect();
        let staged = Staged::new(p, outputs, &ROLES, Role::I).as_products(&ROLES, Role::I)?;
        Some(Lowered { staged, nf: width })
    }

    /// The features `scaled_features` found are the loads of `b_j`'s components, in order,
    /// and each product now has the per-pair value first.
    fn check_scaled(mut lowered: Lowered) {
        let features = lowered.scaled_features().expect("a sum of scaled features");
        let staged = &lowered.staged;
        let n = lowered.nf;
        assert_eq!(features.len(), n);
        for (c, &k) in features.iter().enumerate() {
            assert_eq!(staged.program.inst(staged.inner_features[k]), Inst::Load { var: 2, comp: c });
            assert_eq!(staged.operand(staged.outputs[n + c]), Operand::Inner(k));
        }
        let w = staged.outputs[0];
        assert_eq!(staged.operand(w), Operand::Pair(w));
        assert!(staged.outputs[..n].iter().all(|&v| v == w));
    }

    #[test]
    fn sums_of_scaled_features_are_found_whatever_the_order_of_the_factors() {
        check_scaled(scaled_sum(3, false, |_, b| b).unwrap());
        check_scaled(scaled_sum(16, true, |_, b| b).unwrap());
    }

    #[test]
    fn other_sums_of_products_are_not_scaled_sums() {
        // A single component: its accumulators fit in registers.
        let mut one = scaled_sum(1, false, |_, b| b).unwrap();
        assert_eq!(one.scaled_features(), None);
        // Second factors computed per pair.
        let mut per_pair = scaled_sum(3, false, |p, b| {
            let x = p.load(0, 0);
            p.add(x, b)
        })
        .unwrap();
        assert_eq!(per_pair.scaled_features(), None);
        // First factors that differ between components.
        let mut p = Program::new(DType::F32);
        let (x, y) = (p.load(0, 0), p.load(1, 0));
        let d = p.sub(x, y);
        let e = p.mul(d, x);
        let outputs = [d, e].into_iter().enumerate().map(|(c, f)| {
            let b = p.load(2, c);
            p.mul(f, b)
        });
        let outputs = outputs.collect();
        let staged = Staged::new(p, outputs, &ROLES, Role::I).as_products(&ROLES, Role::I).unwrap();
        assert_eq!(Lowered { staged, nf: 2 }.scaled_features(), None);
    }

    /// A soft-max of `exp(x_i y_j)` with weights `weight(b_c)`, `b_j` the variable at
    /// position 2 of `width` components.
    fn soft_max(width: usize, weight: impl Fn(&mut Program, Val) -> Val) -> Lowered {
        let mut p = Program::new(DType::F32);
        let (x, y) = (p.load(0, 0), p.load(1, 0));
        let f = p.mul(x, y);
        let mut outputs = vec![f];
        for c in 0..width {
            let b = p.load(2, c);
            outputs.push(weight(&mut p, b));
        }
        Lowered { staged: Staged::new(p, outputs, &ROLES, Role::I), nf: 1 }
    }

    #[test]
    fn weights_that_are_reduced_row_features_are_found() {
        let lowered = soft_max(5, |_, b| b);
        let features = lowered.weight_features().expect("weights that are features");
        let staged = &lowered.staged;
        assert_eq!(features.len(), 5);
        for (c, &k) in features.iter().enumerate() {
            assert_eq!(staged.program.inst(staged.inner_features[k]), Inst::Load { var: 2, comp: c });
        }
        assert_eq!(soft_max(1, |_, b| b).weight_features(), Some(vec![0]));
        // Weights computed per pair.
        let per_pair = soft_max(3, |p, b| {
            let x = p.load(0, 0);
            p.mul(x, b)
        });
        assert_eq!(per_pair.weight_features(), None);
    }
}
