//! Linear systems with a kernel matrix: `(alpha I + K) a = b` by conjugate gradients, as
//! KeOps' `KernelSolve`. The matrix is never stored: each iteration is one kernel reduction.

use crate::cpu::math::Real;
use crate::error::{Error, Result};
use crate::info::Index;
use crate::kernel::Kernel;

/// Options of [`conjugate_gradient`] and [`Kernel::solve_flat`].
///
/// ```
/// use keops::{SolveOptions, StopRule};
/// // The default: |r| <= 1e-6 |b|, at most as many iterations as unknowns.
/// let relative = SolveOptions::default();
/// // KeOps' `KernelSolve(..., eps=1e-6)`: |r|^2 < n 1e-6^2.
/// let keops = SolveOptions::keops(1e-6);
/// assert_eq!(keops.stop, StopRule::KeOps);
/// // Any field, the others by default.
/// let capped = SolveOptions { max_iter: Some(100), ..SolveOptions::default() };
/// # let _ = (relative, capped);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SolveOptions {
    /// The tolerance, which [`SolveOptions::stop`] reads.
    pub tol: f64,
    /// Give up after this many iterations with [`Error::NotConverged`]; `None` allows as many as
    /// the system has unknowns (where exact arithmetic would have converged).
    pub max_iter: Option<usize>,
    /// When the residual `r = b - (alpha I + K) a` is small enough.
    pub stop: StopRule,
}

impl SolveOptions {
    /// KeOps' options: its stopping rule with `eps` (`KernelSolve`'s `eps`, whose default is
    /// `1e-6`), so that ported code stops at the same iteration as pykeops. pykeops sets no
    /// cap on the iterations; here `max_iter` is `None`, as many as the system has unknowns.
    pub fn keops(eps: f64) -> Self {
        SolveOptions { tol: eps, max_iter: None, stop: StopRule::KeOps }
    }
}

impl Default for SolveOptions {
    /// `tol = 1e-6`, `max_iter = None`, `stop = StopRule::Relative`.
    fn default() -> Self {
        SolveOptions { tol: 1e-6, max_iter: None, stop: StopRule::Relative }
    }
}

/// When [`conjugate_gradient`] stops, with `r = b - (alpha I + K) a`, `n` values in `b` and
/// Euclidean norms over all of them. [`Solution::residual`] is relative under either rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StopRule {
    /// `|r| <= tol |b|`: independent of the scale of `b`.
    #[default]
    Relative,
    /// KeOps' rule (pykeops' `ConjugateGradientSolver`): `|r|^2 < n tol^2`, the root mean
    /// square of `r` below `tol`, whatever the scale of `b`.
    KeOps,
}

/// The solution of a system, and how it was reached.
#[derive(Clone, Debug, PartialEq)]
pub struct Solution<T> {
    /// The solution, flat, in the layout of the right-hand side.
    pub a: Vec<T>,
    /// Iterations taken (applications of the operator, besides the first).
    pub iterations: usize,
    /// The final relative residual `|b - (alpha I + K) a| / |b|`.
    pub residual: f64,
}

/// The gradient of a loss through the solution of [`Kernel::solve_flat`]: given `e = dL/da`,
/// `dL/d` every input of the kernel (flat, in declaration order; at the right-hand side's
/// position, `dL/db`) and `dL/dalpha`.
#[derive(Clone, Debug, PartialEq)]
pub struct SolveGradient<T> {
    pub inputs: Vec<Vec<T>>,
    pub alpha: T,
}

/// Solves `(alpha I + K) a = b` by conjugate gradients, where `apply(v)` computes `K v` for a
/// symmetric positive semi-definite `K` and `alpha >= 0` (`alpha > 0` guarantees a unique
/// solution). Inner products are accumulated in f64, so that f32 systems converge as far as
/// f32 kernel products allow.
pub fn conjugate_gradient<T: Real>(
    mut apply: impl FnMut(&[T]) -> Result<Vec<T>>,
    alpha: T,
    b: &[T],
    options: &SolveOptions,
) -> Result<Solution<T>> {
    let n = b.len();
    let max_iter = options.max_iter.unwrap_or(n.max(1));
    let b_norm = dot(b, b).sqrt();
    let mut a = vec![T::ZERO; n];
    if b_norm == 0.0 {
        return Ok(Solution { a, iterations: 0, residual: 0.0 });
    }
    let operator = |v: &[T], apply: &mut dyn FnMut(&[T]) -> Result<Vec<T>>| -> Result<Vec<T>> {
        let kv = apply(v)?;
        if kv.len() != n {
            return Err(Error::Solve {
                reason: format!("the operator returned {} values for {n} unknowns", kv.len()),
            });
        }
        Ok(kv.iter().zip(v).map(|(&k, &v)| T::from_f64(k.to_f64() + alpha.to_f64() * v.to_f64())).collect())
    };
    let mut r = b.to_vec();
    let mut p = r.clone();
    let mut rr = dot(&r, &r);
    let mut iterations = 0;
    let converged = |rr: f64| match options.stop {
        StopRule::Relative => rr.sqrt() / b_norm <= options.tol,
        StopRule::KeOps => rr < n as f64 * options.tol * options.tol,
    };
    loop {
        let residual = rr.sqrt() / b_norm;
        if converged(rr) {
            return Ok(Solution { a, iterations, residual });
        }
        if iterations == max_iter {
            return Err(Error::NotConverged { iterations, residual, tol: options.tol });
        }
        let ap = operator(&p, &mut apply)?;
        let pap = dot(&p, &ap);
        // Also catches NaN, which would otherwise spin until `max_iter`.
        if pap.is_nan() || pap <= 0.0 {
            return Err(Error::Solve {
                reason: format!(
                    "the matrix is not positive definite (p^T A p = {pap:e} after {iterations} iterations)"
                ),
            });
        }
        let step = rr / pap;
        axpy(&mut a, step, &p);
        axpy(&mut r, -step, &ap);
        let rr_next = dot(&r, &r);
        let beta = rr_next / rr;
        for (p, &r) in p.iter_mut().zip(&r) {
            *p = T::from_f64(r.to_f64() + beta * p.to_f64());
        }
        rr = rr_next;
        iterations += 1;
    }
}

/// `sum x_k y_k` in f64.
fn dot<T: Real>(x: &[T], y: &[T]) -> f64 {
    x.iter().zip(y).map(|(x, y)| x.to_f64() * y.to_f64()).sum()
}

/// `y += s x`.
fn axpy<T: Real>(y: &mut [T], s: f64, x: &[T]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y = T::from_f64(y.to_f64() + s * x.to_f64());
    }
}

/// [`Kernel::solve_flat`]: checks that the kernel is a square linear operator in input `pos`.
pub(crate) fn solve_flat<K: Kernel + ?Sized, S: AsRef<[K::T]>>(
    k: &K,
    pos: usize,
    inputs: &[S],
    alpha: K::T,
    options: &SolveOptions,
) -> Result<Solution<K::T>> {
    let info = k.info();
    let fail = |reason: String| Err(Error::Solve { reason });
    let Some(var) = info.vars.get(pos) else {
        return Err(Error::NoSuchVariable { pos, count: info.vars.len() });
    };
    if info.reduction != "Sum" {
        return fail(format!("the kernel's reduction is {}, but only a Sum is linear", info.reduction));
    }
    if var.index != info.reduced {
        return fail(format!(
            "`{}` is not indexed by the reduced index, so the kernel is not a matrix applied to it",
            var.name
        ));
    }
    if var.dim != info.value_width {
        return fail(format!(
            "`{}` has dimension {} but the output has {}: the system must be square",
            var.name, var.dim, info.value_width
        ));
    }
    let current: Vec<&[K::T]> = inputs.iter().map(AsRef::as_ref).collect();
    if current.len() != info.vars.len() {
        return Err(Error::InputCount { expected: info.vars.len(), got: current.len() });
    }
    let b = current[pos];
    let rows = b.len() / var.dim;
    let outer_rows = info
        .vars
        .iter()
        .zip(&current)
        .find(|(v, _)| v.index != info.reduced && v.index != Index::Param)
        .map_or(1, |(v, x)| x.len() / v.dim);
    if outer_rows != rows {
        return fail(format!(
            "the output has {outer_rows} rows but `{}` has {rows}: the system must be square",
            var.name
        ));
    }
    let apply = |v: &[K::T]| {
        let mut with_v = current.clone();
        with_v[pos] = v;
        k.eval_flat(&with_v)
    };
    conjugate_gradient(apply, alpha, b, options)
}

/// [`Kernel::solve_grad_flat`]: the adjoint system `(alpha I + K) w = e` (the matrix is
/// symmetric), then `dL/db = w`, `dL/dalpha = -<w, a>`, and for every other input `-w^T (dK) a`,
/// the kernel's own gradient of `sum_i <(K a)_i, w_i>` at `b = a`, against `-w`.
pub(crate) fn solve_grad_flat<K: Kernel + ?Sized, S: AsRef<[K::T]>>(
    k: &K,
    pos: usize,
    inputs: &[S],
    alpha: K::T,
    a: &[K::T],
    e: &[K::T],
    options: &SolveOptions,
) -> Result<SolveGradient<K::T>> {
    let current: Vec<&[K::T]> = inputs.iter().map(AsRef::as_ref).collect();
    let b_len = current.get(pos).map_or(0, |b| b.len());
    for (what, len) in [("the solution", a.len()), ("its gradient `e`", e.len())] {
        if len != b_len {
            return Err(Error::Solve {
                reason: format!("{what} has {len} values, the right-hand side {b_len}"),
            });
        }
    }
    let mut adjoint = current.clone();
    adjoint[pos] = e;
    let w = solve_flat(k, pos, &adjoint, alpha, options)?.a;
    let mut at_solution = current;
    at_solution[pos] = a;
    let minus_w: Vec<K::T> = w.iter().map(|&x| K::T::from_f64(-x.to_f64())).collect();
    let mut gradients = Vec::with_capacity(at_solution.len());
    for p in 0..at_solution.len() {
        gradients.push(if p == pos { w.clone() } else { k.grad_flat(p, &at_solution, &minus_w)? });
    }
    Ok(SolveGradient { inputs: gradients, alpha: K::T::from_f64(-dot(&w, a)) })
}
