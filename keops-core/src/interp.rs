//! An interpreter for scalar programs that computes as a backend does.
//!
//! [`crate::eval`] evaluates formulas in f64 as an oracle; this module instead runs a lowered
//! [`Program`] in the program's own type, with exactly the semantics a code generator must give
//! each basic primitive: one rounding per instruction, a true fused multiply-add, `ldexp`,
//! `get_exp` and `get_mant` as [`crate::prim`] defines them. Whatever it computes is therefore
//! what every conforming backend computes, bit for bit; the accuracy tests of the function
//! expansions ([`crate::math`]) rely on this, and backends can be tested against it.
//!
//! It runs many inputs at once, instruction by instruction over a block of lanes, so that
//! sweeping millions of inputs stays fast in the test profile.

use std::fmt::Debug;
use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::ir::DType;
use crate::lower::{Inst, Program, Val};
use crate::prim::{self, Prim};

/// A floating-point type a program can run in: `f32` or `f64`.
pub trait Float:
    Copy
    + PartialOrd
    + Debug
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    /// The programs this type runs.
    const DTYPE: DType;
    /// Rounds to this type (exact for constants of a program of this type).
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    /// `self * b + c` with one rounding.
    fn mul_add(self, b: Self, c: Self) -> Self;
    fn abs(self) -> Self;
    fn sqrt(self) -> Self;
    fn floor(self) -> Self;
    fn round_ties_even(self) -> Self;
}

macro_rules! float {
    ($t:ty, $dtype:expr) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const DTYPE: DType = $dtype;
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn mul_add(self, b: Self, c: Self) -> Self {
                <$t>::mul_add(self, b, c)
            }
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn floor(self) -> Self {
                <$t>::floor(self)
            }
            fn round_ties_even(self) -> Self {
                <$t>::round_ties_even(self)
            }
        }
    };
}
float!(f32, DType::F32);
float!(f64, DType::F64);

/// One basic primitive on a block of lanes. `ldexp`, `get_exp` and `get_mant` go through their
/// f64 definitions, which are exact for f32 operands (the f64 result is then rounded once).
/// The match is outside the loops so that each loop is specialised to its primitive.
fn apply<T: Float>(p: Prim, dst: &mut [T], a: &[T], b: &[T], c: &[T]) {
    let bool = |x: bool| if x { T::ONE } else { T::ZERO };
    match p {
        Prim::Add => lanes(dst, a, b, c, |a, b, _| a + b),
        Prim::Sub => lanes(dst, a, b, c, |a, b, _| a - b),
        Prim::Mul => lanes(dst, a, b, c, |a, b, _| a * b),
        Prim::Div => lanes(dst, a, b, c, |a, b, _| a / b),
        Prim::MulAdd => lanes(dst, a, b, c, |a, b, c| a.mul_add(b, c)),
        Prim::Neg => lanes(dst, a, b, c, |a, _, _| -a),
        Prim::Abs => lanes(dst, a, b, c, |a, _, _| a.abs()),
        Prim::Min => lanes(dst, a, b, c, |a, b, _| if a < b { a } else { b }),
        Prim::Max => lanes(dst, a, b, c, |a, b, _| if a > b { a } else { b }),
        Prim::Sqrt => lanes(dst, a, b, c, |a, _, _| a.sqrt()),
        Prim::Floor => lanes(dst, a, b, c, |a, _, _| a.floor()),
        Prim::RoundEven => lanes(dst, a, b, c, |a, _, _| a.round_ties_even()),
        Prim::Sign => lanes(dst, a, b, c, |a, _, _| {
            if a > T::ZERO {
                T::ONE
            } else if a < T::ZERO {
                -T::ONE
            } else {
                T::ZERO
            }
        }),
        Prim::Step => lanes(dst, a, b, c, |a, _, _| if a < T::ZERO { T::ZERO } else { T::ONE }),
        Prim::Select => lanes(dst, a, b, c, |a, b, c| if a >= T::ZERO { b } else { c }),
        Prim::Lt => lanes(dst, a, b, c, |a, b, _| bool(a < b)),
        Prim::Le => lanes(dst, a, b, c, |a, b, _| bool(a <= b)),
        Prim::Eq => lanes(dst, a, b, c, |a, b, _| bool(a == b)),
        Prim::Ne => lanes(dst, a, b, c, |a, b, _| bool(a != b)),
        Prim::Ldexp | Prim::LdexpInt => {
            lanes(dst, a, b, c, |a, b, _| T::from_f64(prim::ldexp(a.to_f64(), b.to_f64())))
        }
        Prim::GetExp => lanes(dst, a, b, c, |a, _, _| T::from_f64(prim::get_exp(a.to_f64()))),
        Prim::GetMant => lanes(dst, a, b, c, |a, _, _| T::from_f64(prim::get_mant(a.to_f64()))),
        // The expanded primitives (`Prim::is_expanded`), which never reach a backend: the tests of
        // every basic primitive would fail here on a basic one.
        expanded => panic!("expanded primitive {expanded:?} in a program"),
    }
}

/// `dst[l] = f(a[l], b[l], c[l])`.
#[inline(always)]
fn lanes<T: Float>(dst: &mut [T], a: &[T], b: &[T], c: &[T], f: impl Fn(T, T, T) -> T) {
    let n = dst.len();
    let (a, b, c) = (&a[..n], &b[..n], &c[..n]);
    for l in 0..n {
        dst[l] = f(a[l], b[l], c[l]);
    }
}

/// Lanes evaluated together, instruction by instruction.
const BLOCK: usize = 256;

/// Runs `program` on many inputs at once and returns the column of each of `outputs`.
///
/// `inputs[var][comp]` is the column of values that `Load { var, comp }` reads, one per lane;
/// all columns have the same length, the number of lanes.
pub fn run<T: Float>(program: &Program, outputs: &[Val], inputs: &[Vec<&[T]>]) -> Vec<Vec<T>> {
    assert_eq!(program.dtype(), T::DTYPE, "a program runs in its own type");
    let lanes = inputs.iter().flatten().map(|c| c.len()).max().unwrap_or(1);
    let insts = program.insts();
    let mut regs = vec![T::ZERO; insts.len() * BLOCK];
    let mut out: Vec<Vec<T>> = outputs.iter().map(|_| Vec::with_capacity(lanes)).collect();
    let zeros = [T::ZERO; BLOCK];
    for start in (0..lanes).step_by(BLOCK) {
        let n = BLOCK.min(lanes - start);
        for (i, inst) in insts.iter().enumerate() {
            let (done, rest) = regs.split_at_mut(i * BLOCK);
            let dst = &mut rest[..n];
            match *inst {
                Inst::Load { var, comp } => dst.copy_from_slice(&inputs[var][comp][start..start + n]),
                Inst::Const(bits) => dst.fill(T::from_f64(f64::from_bits(bits))),
                Inst::Prim(p, ops) => {
                    let arg = |k: usize| {
                        if k < p.arity() { &done[ops[k].index() * BLOCK..][..n] } else { &zeros[..n] }
                    };
                    apply(p, dst, arg(0), arg(1), arg(2));
                }
            }
        }
        for (col, v) in out.iter_mut().zip(outputs) {
            col.extend_from_slice(&regs[v.index() * BLOCK..][..n]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_multiply_add_rounds_once() {
        // (1 + 2^-23)(1 - 2^-23) - 1 = -2^-46: lost if the product is rounded to f32 first.
        let mut p = Program::new(DType::F32);
        let (a, b) = (p.load(0, 0), p.load(1, 0));
        let m1 = p.constant(-1.0);
        let r = p.mul_add(a, b, m1);
        let (x, y) = ([1.0 + f32::EPSILON], [1.0 - f32::EPSILON]);
        let got = run::<f32>(&p, &[r], &[vec![&x], vec![&y]]);
        assert_eq!(got[0][0], -(2f32.powi(-46)));
    }

    #[test]
    fn every_instruction_rounds_to_the_program_type() {
        // 1 + 2^-30 - 1 is 0 in f32 and 2^-30 in f64.
        let program = |dtype| {
            let mut p = Program::new(dtype);
            let x = p.load(0, 0);
            let one = p.constant(1.0);
            let s = p.add(x, one);
            let d = p.sub(s, one);
            (p, d)
        };
        let (p, d) = program(DType::F32);
        assert_eq!(run::<f32>(&p, &[d], &[vec![&[2f32.powi(-30)]]])[0][0], 0.0);
        let (p, d) = program(DType::F64);
        assert_eq!(run::<f64>(&p, &[d], &[vec![&[2f64.powi(-30)]]])[0][0], 2f64.powi(-30));
    }

    #[test]
    fn many_lanes_and_constants() {
        let mut p = Program::new(DType::F64);
        let x = p.load(0, 1);
        let three = p.constant(3.0);
        let y = p.mul(x, three);
        let z = p.prim(Prim::Select, &[x, y, three]);
        let xs: Vec<f64> = (0..1000).map(|i| i as f64 - 500.0).collect();
        let got = run::<f64>(&p, &[y, z], &[vec![&[], &xs]]);
        for (k, &x) in xs.iter().enumerate() {
            assert_eq!(got[0][k], 3.0 * x);
            assert_eq!(got[1][k], if x >= 0.0 { 3.0 * x } else { 3.0 });
        }
    }
}
