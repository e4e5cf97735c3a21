//! The pair stage's instructions applied to a batch: where their operands are, and what each
//! computes.

use super::{BATCH, Differences, Inst, Op, Term};
use crate::cpu::math::{Math, Real};

/// Where the pair stage's operands are: the reduced rows' features in their packed batch,
/// read in place (copying them into the register file for each batch cost a fifth of a wide
/// gradient's time), every other value in the register file, which holds the output row's
/// features first.
#[derive(Clone, Copy)]
pub(super) struct Operands<'a, V> {
    pub regs: &'a [[V; BATCH]],
    pub inner: &'a [[V; BATCH]],
    /// The output row's features.
    pub no: usize,
}

impl<'a, V> Operands<'a, V> {
    #[inline(always)]
    pub(super) fn get(self, r: u32) -> &'a [V; BATCH] {
        let r = r as usize;
        match r.wrapping_sub(self.no) {
            k if k < self.inner.len() => &self.inner[k],
            _ => &self.regs[r],
        }
    }
}

/// Runs the pair stage's `code` on every value of a batch. Each instruction is decoded once,
/// then applied to the [`BATCH`] values.
///
/// Returns whether an `exp` of the batch went beyond its normal range. Its products, and those
/// of the values computed from it, then go through [`Math::mul_tiny`] and
/// [`Math::mul_add_tiny`], as in the compiled kernels: the same values, without the slow path
/// some processors take on subnormal operands (a sharp Gaussian's gradient ran 4.6 times
/// slower than compiled without them).
#[inline(always)]
pub(super) fn exec<T: Real, M: Math<T>>(
    m: M,
    code: &[Inst<T>],
    regs: &mut [[M::V; BATCH]],
    features: Features<'_, T, M>,
) -> bool {
    let mut tiny = false;
    for inst in code {
        let regs = Regs { m, regs: &mut *regs, features };
        if let Inst::Chain { term, dst, init, pairs } = *inst {
            regs.regs[dst as usize] = chain_batch(m, term, init, pairs, &regs);
            continue;
        }
        let Inst::Op { op, dst, args: [a, b, c] } = *inst else { continue };
        let (a, b, c) = (Operand(a), Operand(b), Operand(c));
        let dst = dst as usize;
        match op {
            Op::Add => binary(regs, dst, [a, b], |x, y| m.add(x, y)),
            Op::Sub => binary(regs, dst, [a, b], |x, y| m.sub(x, y)),
            Op::Mul if tiny => binary(regs, dst, [a, b], |x, y| m.mul_tiny(true, x, y)),
            Op::Mul => binary(regs, dst, [a, b], |x, y| m.mul(x, y)),
            Op::Div => binary(regs, dst, [a, b], |x, y| m.div(x, y)),
            Op::MulAdd if tiny => ternary(regs, dst, [a, b, c], |x, y, z| m.mul_add_tiny(x, y, z)),
            Op::MulAdd => ternary(regs, dst, [a, b, c], |x, y, z| m.mul_add(x, y, z)),
            Op::Neg => unary(regs, dst, a, |x| m.neg(x)),
            Op::Abs => unary(regs, dst, a, |x| m.abs(x)),
            Op::Min => binary(regs, dst, [a, b], |x, y| m.min(x, y)),
            Op::Max => binary(regs, dst, [a, b], |x, y| m.max(x, y)),
            Op::Sqrt => unary(regs, dst, a, |x| m.sqrt(x)),
            Op::Floor => unary(regs, dst, a, |x| m.floor(x)),
            Op::RoundEven => unary(regs, dst, a, |x| m.round_even(x)),
            Op::Sign => unary(regs, dst, a, |x| m.sign(x)),
            Op::Step => unary(regs, dst, a, |x| m.step(x)),
            Op::Select => ternary(regs, dst, [a, b, c], |x, y, z| m.select(x, y, z)),
            Op::Lt => binary(regs, dst, [a, b], |x, y| m.lt(x, y)),
            Op::Le => binary(regs, dst, [a, b], |x, y| m.le(x, y)),
            Op::Eq => binary(regs, dst, [a, b], |x, y| m.eq(x, y)),
            Op::Ne => binary(regs, dst, [a, b], |x, y| m.ne(x, y)),
            Op::Ldexp => binary(regs, dst, [a, b], |x, y| m.ldexp(x, y)),
            Op::LdexpInt => {
                // As the compiled kernels: the plain scaling where no lane leaves the normal
                // range (`Math::ldexp_normal` gives `ldexp_int`'s values there).
                let normal = regs
                    .value(b)
                    .iter()
                    .fold(m.tail(M::LANES), |all, &n| m.and_mask(all, m.scales_normally(n)));
                if m.all(normal) {
                    binary(regs, dst, [a, b], |x, y| m.ldexp_normal(x, y));
                } else {
                    binary(regs, dst, [a, b], |x, y| m.ldexp_int(x, y));
                }
            }
            Op::GetExp => unary(regs, dst, a, |x| m.get_exp(x)),
            Op::GetMant => unary(regs, dst, a, |x| m.get_mant(x)),
            Op::Exp => {
                tiny = tiny || !m.all_below_abs(&regs.value(a), T::EXP_NORMAL_BOUND);
                unary(regs, dst, a, |x| T::exp(m, x))
            }
            Op::Rsqrt => unary(regs, dst, a, |x| T::rsqrt(m, x)),
            Op::Sin => unary(regs, dst, a, |x| T::sin(m, x)),
            Op::SqSub => binary(regs, dst, [a, b], |x, y| {
                let d = m.sub(x, y);
                m.mul(d, d)
            }),
            Op::SqSubAdd => ternary(regs, dst, [a, b, c], |x, y, z| {
                let d = m.sub(x, y);
                m.mul_add(d, d, z)
            }),
        }
    }
    tiny
}

/// Computes `differences` into `f`'s registers, for a reduction that reads them there.
#[inline(always)]
pub(super) fn store_differences<T: Real, M: Math<T>>(
    m: M,
    differences: Differences,
    f: &[u32],
    regs: &mut [[M::V; BATCH]],
    features: Features<'_, T, M>,
) {
    for (&dst, &[o, i]) in f.iter().zip(differences.features) {
        let [a, b] = if differences.inner_first { [i, o] } else { [o, i] };
        let regs = Regs { m, regs: &mut *regs, features };
        binary(regs, dst as usize, [Operand(a), Operand(b)], |x, y| m.sub(x, y));
    }
}

/// The factors whose product is `term(a, b)`: a square's difference twice, or `a` and `b`.
#[inline(always)]
fn factors<T: Real, M: Math<T>>(m: M, term: Term, a: M::V, b: M::V) -> (M::V, M::V) {
    match term {
        Term::SquaredDifference => {
            let d = m.sub(a, b);
            (d, d)
        }
        Term::Product => (a, b),
    }
}

/// [`Inst::Chain`] of the values `reg(r)` of registers `r`, its partial sums in a local.
#[inline(always)]
pub(super) fn chain<T: Real, M: Math<T>>(
    m: M,
    term: Term,
    init: Option<M::V>,
    pairs: &[[u32; 2]],
    reg: impl Fn(usize) -> M::V,
) -> M::V {
    let factors = |[a, b]: [u32; 2]| factors(m, term, reg(a as usize), reg(b as usize));
    let (first, rest) = pairs.split_first().expect("a chain of at least one term");
    let (x, y) = factors(*first);
    let mut acc = match init {
        Some(c) => m.mul_add(x, y, c),
        None => m.mul(x, y),
    };
    for &pair in rest {
        let (x, y) = factors(pair);
        acc = m.mul_add(x, y, acc);
    }
    acc
}

/// [`chain`] of a batch: the terms added one after the other, to the [`BATCH`] sums at once,
/// so that the sums stay in registers and their multiply-adds overlap (a squared distance or a
/// dot product over hundreds of components, as instructions, wrote and read every partial sum).
#[inline(always)]
fn chain_batch<T: Real, M: Math<T>>(
    m: M,
    term: Term,
    init: Option<u32>,
    pairs: &[[u32; 2]],
    regs: &Regs<'_, T, M>,
) -> [M::V; BATCH] {
    // A loop per term, each with its `factors` inlined.
    match term {
        Term::SquaredDifference => {
            sum_terms(m, init, pairs, regs, |a, b| factors(m, Term::SquaredDifference, a, b))
        }
        Term::Product => sum_terms(m, init, pairs, regs, |a, b| factors(m, Term::Product, a, b)),
    }
}

#[inline(always)]
fn sum_terms<T: Real, M: Math<T>>(
    m: M,
    init: Option<u32>,
    pairs: &[[u32; 2]],
    regs: &Regs<'_, T, M>,
    factors: impl Fn(M::V, M::V) -> (M::V, M::V),
) -> [M::V; BATCH] {
    let (first, rest) = pairs.split_first().expect("a chain of at least one term");
    let (a, b) = (regs.value(Operand(first[0])), regs.value(Operand(first[1])));
    let mut acc = match init {
        Some(c) => regs.value(Operand(c)),
        None => [m.splat(T::ZERO); BATCH],
    };
    for (u, acc) in acc.iter_mut().enumerate() {
        let (x, y) = factors(a[u], b[u]);
        *acc = if init.is_some() { m.mul_add(x, y, *acc) } else { m.mul(x, y) };
    }
    for &[a, b] in rest {
        let (a, b) = (regs.value(Operand(a)), regs.value(Operand(b)));
        for (u, acc) in acc.iter_mut().enumerate() {
            let (x, y) = factors(a[u], b[u]);
            *acc = m.mul_add(x, y, *acc);
        }
    }
    acc
}

/// The features of a batch's pairs, where the interpreter keeps them: the output row's, one
/// scalar each, and the reduced rows' batch.
#[derive(Clone, Copy)]
pub(super) struct Features<'a, T: Real, M: Math<T>> {
    pub outer: &'a [T],
    pub inner: &'a [[M::V; BATCH]],
}

/// The register file of a batch, with the features beside it.
struct Regs<'a, T: Real, M: Math<T>> {
    m: M,
    regs: &'a mut [[M::V; BATCH]],
    features: Features<'a, T, M>,
}

/// A register of the pair stage, where [`Regs::value`] finds it.
#[derive(Clone, Copy)]
struct Operand(u32);

impl<T: Real, M: Math<T>> Regs<'_, T, M> {
    /// The batch of values of an operand: an output row's feature is one scalar, splatted
    /// here rather than kept in the register file (where a wide kernel's hundreds of them
    /// crowded the cache); a reduced row's is read in its packed batch.
    #[inline(always)]
    fn value(&self, Operand(r): Operand) -> [M::V; BATCH] {
        let Features { outer, inner } = self.features;
        let r = r as usize;
        match r.checked_sub(outer.len()) {
            None => [self.m.splat(outer[r]); BATCH],
            Some(k) if k < inner.len() => inner[k],
            Some(_) => self.regs[r],
        }
    }
}

// Each instruction computes its batch of results in a local, then stores it: operands may be
// the destination, and the reduced rows' features are read where they are packed. (Plain
// loops: `array::from_fn`'s closure is not always inlined, and would then lose the tier's
// target features.)

#[inline(always)]
fn unary<T: Real, M: Math<T>>(regs: Regs<'_, T, M>, dst: usize, a: Operand, f: impl Fn(M::V) -> M::V) {
    let a = regs.value(a);
    let mut out = a;
    for (u, out) in out.iter_mut().enumerate() {
        *out = f(a[u]);
    }
    regs.regs[dst] = out;
}

#[inline(always)]
fn binary<T: Real, M: Math<T>>(
    regs: Regs<'_, T, M>,
    dst: usize,
    [a, b]: [Operand; 2],
    f: impl Fn(M::V, M::V) -> M::V,
) {
    let (a, b) = (regs.value(a), regs.value(b));
    let mut out = a;
    for (u, out) in out.iter_mut().enumerate() {
        *out = f(a[u], b[u]);
    }
    regs.regs[dst] = out;
}

#[inline(always)]
fn ternary<T: Real, M: Math<T>>(
    regs: Regs<'_, T, M>,
    dst: usize,
    [a, b, c]: [Operand; 3],
    f: impl Fn(M::V, M::V, M::V) -> M::V,
) {
    let (a, b, c) = (regs.value(a), regs.value(b), regs.value(c));
    let mut out = a;
    for (u, out) in out.iter_mut().enumerate() {
        *out = f(a[u], b[u], c[u]);
    }
    regs.regs[dst] = out;
}

/// `op` of `a` (and `b`, `c` as its arity asks).
#[inline(always)]
pub(super) fn apply<T: Real, M: Math<T>>(m: M, op: Op, a: M::V, b: M::V, c: M::V) -> M::V {
    match op.arity() {
        1 => apply1(m, op, a),
        2 => apply2(m, op, a, b),
        _ => apply3(m, op, a, b, c),
    }
}

#[inline(always)]
fn apply1<T: Real, M: Math<T>>(m: M, op: Op, a: M::V) -> M::V {
    match op {
        Op::Neg => m.neg(a),
        Op::Abs => m.abs(a),
        Op::Sqrt => m.sqrt(a),
        Op::Floor => m.floor(a),
        Op::RoundEven => m.round_even(a),
        Op::Sign => m.sign(a),
        Op::Step => m.step(a),
        Op::GetExp => m.get_exp(a),
        Op::GetMant => m.get_mant(a),
        Op::Exp => T::exp(m, a),
        Op::Rsqrt => T::rsqrt(m, a),
        Op::Sin => T::sin(m, a),
        _ => unreachable!("{op:?} is not unary"),
    }
}

#[inline(always)]
fn apply2<T: Real, M: Math<T>>(m: M, op: Op, a: M::V, b: M::V) -> M::V {
    match op {
        Op::Add => m.add(a, b),
        Op::Sub => m.sub(a, b),
        Op::Mul => m.mul(a, b),
        Op::Div => m.div(a, b),
        Op::Min => m.min(a, b),
        Op::Max => m.max(a, b),
        Op::Lt => m.lt(a, b),
        Op::Le => m.le(a, b),
        Op::Eq => m.eq(a, b),
        Op::Ne => m.ne(a, b),
        Op::Ldexp => m.ldexp(a, b),
        Op::LdexpInt => m.ldexp_int(a, b),
        Op::SqSub => {
            let d = m.sub(a, b);
            m.mul(d, d)
        }
        _ => unreachable!("{op:?} is not binary"),
    }
}

#[inline(always)]
fn apply3<T: Real, M: Math<T>>(m: M, op: Op, a: M::V, b: M::V, c: M::V) -> M::V {
    match op {
        Op::MulAdd => m.mul_add(a, b, c),
        Op::Select => m.select(a, b, c),
        Op::SqSubAdd => {
            let d = m.sub(a, b);
            m.mul_add(d, d, c)
        }
        _ => unreachable!("{op:?} does not take three operands"),
    }
}
