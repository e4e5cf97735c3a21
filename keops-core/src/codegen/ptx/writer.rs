//! A PTX body being written: its registers, labels and instructions, and the one lowering of
//! each basic primitive.

use std::fmt::Write as _;

use crate::ast::GpuMath;
use crate::codegen::gpu::{Class, Cmp, Emit, IntOp, Loop, Space};
use crate::ir::DType;
use crate::lower::Val;
use crate::math::shifter;
use crate::prim::Prim;

/// The binary format of a float type, for the exponent primitives.
pub(super) struct Format {
    /// Explicit mantissa bits.
    pub(super) mantissa: u32,
    pub(super) bias: i32,
    /// Exponents of the largest and smallest normal powers of two.
    pub(super) emax: i32,
    pub(super) emin: i32,
    /// Significand bits, the implicit one included.
    pub(super) precision: i32,
}

pub(super) fn format(dtype: DType) -> Format {
    match dtype {
        DType::F32 => Format { mantissa: 23, bias: 127, emax: 127, emin: -126, precision: 24 },
        DType::F64 => Format { mantissa: 52, bias: 1023, emax: 1023, emin: -1022, precision: 53 },
    }
}

/// A PTX body being written, with its register counters.
pub(super) struct Ptx {
    pub(super) dtype: DType,
    /// How `exp` is lowered.
    pub(super) math: GpuMath,
    pub(super) body: String,
    /// Float scratch registers `%t`.
    pub(super) temps: usize,
    /// Predicates `%p`.
    pub(super) preds: usize,
    /// 32-bit integer registers `%r`.
    pub(super) ints: usize,
    /// 64-bit integer registers `%rd`.
    pub(super) wides: usize,
    /// f64 registers `%fd` of an f32 kernel (its f64 accumulators).
    pub(super) doubles: usize,
    pub(super) labels: usize,
}

impl Ptx {
    /// A body of a kernel of `dtype`, `math` saying how `exp` is lowered (an `f64` kernel's is
    /// always [`GpuMath::Reproducible`]).
    pub(super) fn new(dtype: DType, math: GpuMath) -> Ptx {
        debug_assert!(dtype == DType::F32 || math == GpuMath::Reproducible, "no f64 exp unit");
        let (temps, preds, ints, wides, doubles, labels) = (0, 0, 0, 0, 0, 0);
        Ptx { dtype, math, body: String::new(), temps, preds, ints, wides, doubles, labels }
    }

    /// The float type's PTX name.
    pub(super) fn ty(&self) -> &'static str {
        self.dtype.name()
    }

    /// The bit type of the float type.
    pub(super) fn bits(&self) -> &'static str {
        match self.dtype {
            DType::F32 => "b32",
            DType::F64 => "b64",
        }
    }

    pub(super) fn wide(&mut self) -> String {
        self.wides += 1;
        format!("%rd{}", self.wides - 1)
    }

    /// An f64 register, in an f32 kernel.
    pub(super) fn double(&mut self) -> String {
        self.doubles += 1;
        format!("%fd{}", self.doubles - 1)
    }

    /// The PTX type of a value of `class`.
    fn class_type(&self, class: Class) -> &'static str {
        match class {
            Class::Float => self.ty(),
            Class::Index => "u32",
        }
    }

    /// A register holding the float type's bits.
    pub(super) fn bits_reg(&mut self) -> String {
        match self.dtype {
            DType::F32 => self.int(),
            DType::F64 => self.wide(),
        }
    }

    pub(super) fn label(&mut self, what: &str) -> String {
        self.labels += 1;
        format!("$L{}_{what}", self.labels - 1)
    }

    pub(super) fn op(&mut self, text: impl AsRef<str>) {
        let _ = writeln!(self.body, "\t{};", text.as_ref());
    }

    pub(super) fn place(&mut self, label: &str) {
        let _ = writeln!(self.body, "{label}:");
    }

    /// The register declarations of everything written so far, with `values` value registers.
    pub(super) fn declarations(&self, values: usize) -> String {
        let t = self.ty();
        let mut out = String::new();
        for (class, name, n) in [
            ("pred", "%p", self.preds),
            ("b32", "%r", self.ints),
            ("b64", "%rd", self.wides),
            (t, "%t", self.temps),
            (t, "%v", values),
        ] {
            let _ = writeln!(out, "\t.reg .{class} {name}<{}>;", n.max(1));
        }
        if self.doubles > 0 {
            let _ = writeln!(out, "\t.reg .f64 %fd<{}>;", self.doubles);
        }
        out
    }

    /// `d = (a <cmp> b) ? x : y`. The comparisons are PTX's ordered ones (false on NaN), as C's.
    pub(super) fn select_if(&mut self, d: &str, cmp: &str, a: &str, b: &str, x: &str, y: &str) {
        let t = self.ty();
        let p = self.pred();
        self.op(format!("setp.{cmp}.{t} {p}, {a}, {b}"));
        self.op(format!("selp.{t} {d}, {x}, {y}, {p}"));
    }

    /// `d = (a <cmp> b) ? 1 : 0`.
    pub(super) fn indicator(&mut self, d: &str, cmp: &str, a: &[String]) {
        let (zero, one) = (self.literal(0.0), self.literal(1.0));
        self.select_if(d, cmp, &a[0], &a[1], &one, &zero);
    }

    /// `d = x * 2^floor(n)`, rounded once, as C's `scalbn`: the exponent is saturated to the
    /// int range, scaled in exact steps (up by `2^emax`, or down by `2^(emin + precision)`,
    /// which keeps an intermediate normal whenever the result is not zero), then the last
    /// multiplication by a normal power of two is the only rounding.
    pub(super) fn ldexp(&mut self, d: &str, x: &str, n: &str) {
        let t = self.ty();
        let f = format(self.dtype);
        let k = self.int();
        // Rounds down and saturates; NaN gives 0 (and NaN below).
        self.op(format!("cvt.rmi.s32.{t} {k}, {n}"));
        let y = self.float();
        self.op(format!("mov.{t} {y}, {x}"));
        let one = self.literal(1.0);
        let up = self.literal(2f64.powi(f.emax));
        for _ in 0..2 {
            self.scale_step(&y, &k, ("gt", f.emax), &up, &one);
        }
        self.op(format!("min.s32 {k}, {k}, {}", f.emax));
        let down_exp = f.emin + f.precision;
        let down = self.literal(2f64.powi(down_exp));
        for _ in 0..2 {
            self.scale_step(&y, &k, ("lt", f.emin), &down, &one);
        }
        self.op(format!("max.s32 {k}, {k}, {}", f.emin));
        let scale = self.power_of_two(&k);
        self.op(format!("mul.rn.{t} {y}, {y}, {scale}"));
        let nan = self.pred();
        self.op(format!("setp.nan.{t} {nan}, {n}, {n}"));
        self.op(format!("selp.{t} {d}, {n}, {y}, {nan}"));
    }

    /// `Prim::LdexpInt`: `(x 2^h) 2^(n - h)` with `h = floor(n / 2)`, both powers built in the
    /// exponent field, for the integer `n` and the `x` near 1 of the exp expansion.
    pub(super) fn ldexp_int(&mut self, d: &str, x: &str, n: &str) {
        let t = self.ty();
        let k = self.int();
        self.op(format!("cvt.rni.s32.{t} {k}, {n}"));
        let half = self.int();
        self.op(format!("shr.s32 {half}, {k}, 1"));
        self.op(format!("sub.s32 {k}, {k}, {half}"));
        let y = self.float();
        self.op(format!("mov.{t} {y}, {x}"));
        for e in [half, k] {
            let scale = self.power_of_two(&e);
            self.op(format!("mul.rn.{t} {y}, {y}, {scale}"));
        }
        self.op(format!("mov.{t} {d}, {y}"));
    }

    /// `2^e` as a float register, built in the exponent field from the `s32` register `e`
    /// (overwritten), which must hold a normal exponent.
    pub(super) fn power_of_two(&mut self, e: &str) -> String {
        let f = format(self.dtype);
        let scale = self.float();
        match self.dtype {
            DType::F32 => {
                // Shifted, then biased: one instruction (LEA) in the machine code.
                self.op(format!("shl.b32 {e}, {e}, {}", f.mantissa));
                self.op(format!("add.s32 {e}, {e}, {}", f.bias << f.mantissa));
                self.op(format!("mov.b32 {scale}, {e}"));
            }
            DType::F64 => {
                self.op(format!("add.s32 {e}, {e}, {}", f.bias));
                let w = self.wide();
                self.op(format!("cvt.u64.u32 {w}, {e}"));
                self.op(format!("shl.b64 {w}, {w}, {}", f.mantissa));
                self.op(format!("mov.b64 {scale}, {w}"));
            }
        }
        scale
    }

    /// One exact step of [`Ptx::ldexp`]: if `k <cmp> bound`, `y *= factor` (`2^e`) and `k -= e`.
    pub(super) fn scale_step(
        &mut self,
        y: &str,
        k: &str,
        (cmp, bound): (&str, i32),
        factor: &str,
        one: &str,
    ) {
        let t = self.ty();
        let p = self.pred();
        self.op(format!("setp.{cmp}.s32 {p}, {k}, {bound}"));
        let s = self.float();
        self.op(format!("selp.{t} {s}, {factor}, {one}, {p}"));
        self.op(format!("mul.rn.{t} {y}, {y}, {s}"));
        let e = if cmp == "gt" { bound } else { bound + format(self.dtype).precision };
        let step = self.int();
        self.op(format!("selp.s32 {step}, {e}, 0, {p}"));
        self.op(format!("sub.s32 {k}, {k}, {step}"));
    }

    /// `|x|`, scaled by 2^64 if it is below the normal range (so that its exponent field is
    /// its binary exponent), and the predicate telling whether it was.
    pub(super) fn normalized(&mut self, x: &str) -> (String, String, String) {
        let t = self.ty();
        let f = format(self.dtype);
        let ax = self.float();
        self.op(format!("abs.{t} {ax}, {x}"));
        let small = self.pred();
        let min_normal = self.literal(2f64.powi(f.emin));
        self.op(format!("setp.lt.{t} {small}, {ax}, {min_normal}"));
        let s = self.float();
        let (scale, one) = (self.literal(2f64.powi(64)), self.literal(1.0));
        self.op(format!("selp.{t} {s}, {scale}, {one}, {small}"));
        let y = self.float();
        self.op(format!("mul.rn.{t} {y}, {ax}, {s}"));
        (ax, small, y)
    }

    /// `d = floor(log2 |x|)` from the exponent field (subnormals scaled first); -inf for zero,
    /// +inf for infinities, NaN for NaN.
    pub(super) fn get_exp(&mut self, d: &str, x: &str) {
        let (t, b) = (self.ty(), self.bits());
        let f = format(self.dtype);
        let (ax, small, y) = self.normalized(x);
        let bits = self.bits_reg();
        self.op(format!("mov.{b} {bits}, {y}"));
        let u = if self.dtype == DType::F32 { "u32" } else { "u64" };
        self.op(format!("shr.{u} {bits}, {bits}, {}", f.mantissa));
        let e = match self.dtype {
            DType::F32 => bits,
            DType::F64 => {
                let e = self.int();
                self.op(format!("cvt.u32.u64 {e}, {bits}"));
                e
            }
        };
        let bias = self.int();
        self.op(format!("selp.s32 {bias}, {}, {}, {small}", f.bias + 64, f.bias));
        self.op(format!("sub.s32 {e}, {e}, {bias}"));
        let r = self.float();
        self.op(format!("cvt.rn.{t}.s32 {r}, {e}"));
        let (zero, inf, neg_inf) =
            (self.literal(0.0), self.literal(f64::INFINITY), self.literal(f64::NEG_INFINITY));
        self.select_if(&r, "eq", &ax, &zero, &neg_inf, &r);
        self.select_if(&r, "eq", &ax, &inf, &inf, &r);
        self.nan_passes(d, x, &r);
    }

    /// `d = |x| / 2^get_exp(x)`: the mantissa bits under the exponent of 1 (subnormals scaled
    /// first); 1 for zero and infinities, NaN for NaN.
    pub(super) fn get_mant(&mut self, d: &str, x: &str) {
        let b = self.bits();
        let (_, _, y) = self.normalized(x);
        let bits = self.bits_reg();
        self.op(format!("mov.{b} {bits}, {y}"));
        let (mask, one) = match self.dtype {
            DType::F32 => ("0x007FFFFF", "0x3F800000"),
            DType::F64 => ("0x000FFFFFFFFFFFFF", "0x3FF0000000000000"),
        };
        self.op(format!("and.{b} {bits}, {bits}, {mask}"));
        self.op(format!("or.{b} {bits}, {bits}, {one}"));
        let m = self.float();
        self.op(format!("mov.{b} {m}, {bits}"));
        self.nan_passes(d, x, &m);
    }

    /// `d = rsqrt(x)` on the special-function unit, in an `f32` kernel; 0 at 0, as KeOps'
    /// `Rsqrt`.
    ///
    /// [`GpuMath::Accurate`]: `y = rsqrt.approx(x)` (subnormals kept; within 2^-22.9 by the
    /// PTX ISA), then one Newton step, `y + (y / 2) (1 - (x y) y)` by fused multiply-adds,
    /// which squares that error away and leaves the step's roundings (within an ulp; see
    /// BENCHMARKS.md); 0 at infinity too, where the step would give NaN.
    ///
    /// [`GpuMath::Fast`]: `rsqrt.approx.ftz`, as CUDA's `rsqrtf` under `-use_fast_math`.
    fn rsqrt_on_unit(&mut self, d: &str, x: &str) {
        let zero = self.literal(0.0);
        let at_zero = self.compare(Cmp::Eq, x, &zero);
        if self.math == GpuMath::Fast {
            let y = self.float();
            self.op(format!("rsqrt.approx.ftz.f32 {y}, {x}"));
            self.select(Class::Float, d, &zero, &y, &at_zero);
            return;
        }
        let (one, half, infinity) = (self.literal(1.0), self.literal(0.5), self.literal(f64::INFINITY));
        let (y, h, e, t, y1) = (self.float(), self.float(), self.float(), self.float(), self.float());
        self.op(format!("rsqrt.approx.f32 {y}, {x}"));
        self.op(format!("mul.rn.f32 {h}, {x}, {y}"));
        self.op(format!("neg.f32 {h}, {h}"));
        self.op(format!("fma.rn.f32 {e}, {h}, {y}, {one}"));
        self.op(format!("mul.rn.f32 {t}, {y}, {half}"));
        self.op(format!("fma.rn.f32 {y1}, {t}, {e}, {y}"));
        let at_infinity = self.compare(Cmp::Eq, x, &infinity);
        self.select(Class::Float, &y1, &zero, &y1, &at_infinity);
        self.select(Class::Float, d, &zero, &y1, &at_zero);
    }

    /// `d = exp(x)` on the special-function unit, in an `f32` kernel.
    ///
    /// [`GpuMath::Accurate`]: `exp(x) = 2^r 2^j` with `j = floor(x log2 e)` clamped to
    /// `[-126, 127]` (the exponents of normal powers of two) and `r = x log2 e - j`, `2^r` by
    /// `ex2.approx`, `2^j` built in the exponent field, so that the product rounds once, into
    /// the subnormal range too. Eight instructions: `u = sat(x log2(e) / S + 126 / S)` clamps
    /// (for `S` just below 254), `fma.rm(u, S, M + 1)` with `M = 1.5 2^23` rounds down to
    /// `M + j + 127`, whose low bits shifted into the exponent field are `2^j`; `r` is
    /// `x log2 e - j` with `log2 e` in two words (each product exact in its fused
    /// multiply-add). The clamp's roundings may move `j` by one near an integer, which `r`
    /// follows. Infinities come out of the clamp's ends (`r` infinite); NaN passes through
    /// `r` (the clamp sends it to 0).
    ///
    /// [`GpuMath::Fast`]: `ex2.approx.ftz(x log2 e)`, as CUDA's `__expf`.
    fn exp_on_unit(&mut self, d: &str, x: &str) {
        let log2e = std::f64::consts::LOG2_E;
        if self.math == GpuMath::Fast {
            let (log2e, t) = (self.literal(log2e), self.float());
            self.op(format!("mul.rn.f32 {t}, {x}, {log2e}"));
            self.op(format!("ex2.approx.ftz.f32 {d}, {t}"));
            return;
        }
        let shifter = shifter(self.dtype);
        const S: f64 = 253.99;
        let (scale, offset) = (self.literal(log2e / S), self.literal(126.0 / S));
        let (s, biased, lowest) =
            (self.literal(S), self.literal(shifter + 1.0), self.literal(shifter + 127.0));
        let hi = log2e as f32;
        let (hi, lo) = (self.literal(f64::from(hi)), self.literal(log2e - f64::from(hi)));
        let (u, k, neg_j, r) = (self.float(), self.float(), self.float(), self.float());
        self.op(format!("fma.rn.sat.f32 {u}, {x}, {scale}, {offset}"));
        self.op(format!("fma.rm.f32 {k}, {u}, {s}, {biased}"));
        // Exact.
        self.op(format!("sub.rn.f32 {neg_j}, {lowest}, {k}"));
        self.op(format!("fma.rn.f32 {r}, {x}, {hi}, {neg_j}"));
        self.op(format!("fma.rn.f32 {r}, {x}, {lo}, {r}"));
        self.op(format!("ex2.approx.ftz.f32 {r}, {r}"));
        let bits = self.int();
        self.op(format!("mov.b32 {bits}, {k}"));
        self.op(format!("shl.b32 {bits}, {bits}, 23"));
        self.op(format!("mov.b32 {k}, {bits}"));
        self.op(format!("mul.rn.f32 {d}, {r}, {k}"));
    }

    /// `d = isnan(x) ? x : r`.
    pub(super) fn nan_passes(&mut self, d: &str, x: &str, r: &str) {
        let t = self.ty();
        let nan = self.pred();
        self.op(format!("setp.nan.{t} {nan}, {x}, {x}"));
        self.op(format!("selp.{t} {d}, {x}, {r}, {nan}"));
    }
}

/// PTX's spelling of the plan's operations.
impl Emit for Ptx {
    type Label = String;

    fn dtype(&self) -> DType {
        self.dtype
    }

    fn lowers(&self, prim: Prim) -> bool {
        match prim {
            Prim::Exp => self.math != GpuMath::Reproducible,
            Prim::Rsqrt => self.math != GpuMath::Reproducible && self.dtype == DType::F32,
            _ => false,
        }
    }

    fn float(&mut self) -> String {
        self.temps += 1;
        format!("%t{}", self.temps - 1)
    }

    fn int(&mut self) -> String {
        self.ints += 1;
        format!("%r{}", self.ints - 1)
    }

    fn pred(&mut self) -> String {
        self.preds += 1;
        format!("%p{}", self.preds - 1)
    }

    /// Every value has one definition, so the prepasses and the pair stage share one
    /// namespace: a feature is computed (or loaded from shared memory) into the register that
    /// the pair stage reads.
    fn value(&self, v: Val) -> String {
        format!("%v{}", v.index())
    }

    fn literal(&self, c: f64) -> String {
        match self.dtype {
            DType::F32 => format!("0f{:08X}", (c as f32).to_bits()),
            DType::F64 => format!("0d{:016X}", c.to_bits()),
        }
    }

    fn pointer(&mut self, param: &str) -> String {
        let r = self.wide();
        self.op(format!("ld.param.u64 {r}, [{param}]"));
        self.op(format!("cvta.to.global.u64 {r}, {r}"));
        r
    }

    fn count(&mut self, param: &str) -> String {
        let r = self.int();
        self.op(format!("ld.param.u32 {r}, [{param}]"));
        r
    }

    fn thread_row(&mut self) -> (String, String, String) {
        let (tid, ntid, ctaid, row) = (self.int(), self.int(), self.int(), self.int());
        self.op(format!("mov.u32 {tid}, %tid.x"));
        self.op(format!("mov.u32 {ntid}, %ntid.x"));
        self.op(format!("mov.u32 {ctaid}, %ctaid.x"));
        self.op(format!("mad.lo.u32 {row}, {ctaid}, {ntid}, {tid}"));
        (tid, ntid, row)
    }

    fn chunk_index(&mut self) -> String {
        let r = self.int();
        self.op(format!("mov.u32 {r}, %ctaid.y"));
        r
    }

    fn shared_base(&mut self) -> String {
        let r = self.int();
        self.op(format!("mov.u32 {r}, keops_shared"));
        r
    }

    fn barrier(&mut self) {
        self.op("bar.sync 0");
    }

    fn row_address(&mut self, base: &str, row: &str, stride: usize) -> String {
        let r = self.wide();
        self.op(format!("mul.wide.u32 {r}, {row}, {stride}"));
        self.op(format!("add.u64 {r}, {r}, {base}"));
        r
    }

    fn int_op(&mut self, op: IntOp, d: &str, a: &str, b: &str) {
        let op = match op {
            IntOp::Add => "add.u32",
            IntOp::Sub => "sub.u32",
            IntOp::Min => "min.u32",
            IntOp::Mul => "mul.lo.u32",
        };
        self.op(format!("{op} {d}, {a}, {b}"));
    }

    fn mad_int(&mut self, d: &str, a: &str, b: &str, c: &str) {
        self.op(format!("mad.lo.u32 {d}, {a}, {b}, {c}"));
    }

    fn mov_int(&mut self, d: &str, a: &str) {
        self.op(format!("mov.u32 {d}, {a}"));
    }

    fn compare_int(&mut self, cmp: Cmp, a: &str, b: &str) -> String {
        let p = self.pred();
        self.op(format!("setp.{}.u32 {p}, {a}, {b}", comparison(cmp)));
        p
    }

    fn compare(&mut self, cmp: Cmp, a: &str, b: &str) -> String {
        let (p, t) = (self.pred(), self.ty());
        self.op(format!("setp.{}.{t} {p}, {a}, {b}", comparison(cmp)));
        p
    }

    fn select(&mut self, class: Class, d: &str, x: &str, y: &str, p: &str) {
        let ty = match class {
            Class::Float => self.ty(),
            Class::Index => "b32",
        };
        self.op(format!("selp.{ty} {d}, {x}, {y}, {p}"));
    }

    /// An index is copied as its bits.
    fn copy(&mut self, class: Class, d: &str, a: &str) {
        let ty = match class {
            Class::Float => self.ty(),
            Class::Index => "b32",
        };
        self.op(format!("mov.{ty} {d}, {a}"));
    }

    fn prim(&mut self, prim: Prim, d: &str, a: &[String]) {
        let t = self.ty();
        // `f32` division and square root as `-use_fast_math` compiles them: `div.full`, within
        // 2 ulp over the whole range (the PTX ISA's bound), and `sqrt.approx`, within 3 ulp
        // (NVIDIA's), with subnormal operands and results flushed to zero, and no branch to a
        // slow path; IEEE's otherwise, as CUDA's default.
        let fast = self.math == GpuMath::Fast && self.dtype == DType::F32;
        match prim {
            Prim::Div if fast => self.op(format!("div.full.ftz.f32 {d}, {}, {}", a[0], a[1])),
            Prim::Sqrt if fast => self.op(format!("sqrt.approx.ftz.f32 {d}, {}", a[0])),
            Prim::Add => self.op(format!("add.rn.{t} {d}, {}, {}", a[0], a[1])),
            Prim::Sub => self.op(format!("sub.rn.{t} {d}, {}, {}", a[0], a[1])),
            Prim::Mul => self.op(format!("mul.rn.{t} {d}, {}, {}", a[0], a[1])),
            Prim::Div => self.op(format!("div.rn.{t} {d}, {}, {}", a[0], a[1])),
            Prim::MulAdd => self.op(format!("fma.rn.{t} {d}, {}, {}, {}", a[0], a[1], a[2])),
            Prim::Neg => self.op(format!("neg.{t} {d}, {}", a[0])),
            Prim::Abs => self.op(format!("abs.{t} {d}, {}", a[0])),
            Prim::Sqrt => self.op(format!("sqrt.rn.{t} {d}, {}", a[0])),
            Prim::Floor => self.op(format!("cvt.rmi.{t}.{t} {d}, {}", a[0])),
            Prim::RoundEven => self.op(format!("cvt.rni.{t}.{t} {d}, {}", a[0])),
            Prim::Min => self.select_if(d, "lt", &a[0], &a[1], &a[0], &a[1]),
            Prim::Max => self.select_if(d, "gt", &a[0], &a[1], &a[0], &a[1]),
            Prim::Select => {
                let zero = self.literal(0.0);
                self.select_if(d, "ge", &a[0], &zero, &a[1], &a[2]);
            }
            Prim::Step => {
                let (zero, one) = (self.literal(0.0), self.literal(1.0));
                self.select_if(d, "lt", &a[0], &zero, &zero, &one);
            }
            Prim::Sign => {
                let (zero, one, minus) = (self.literal(0.0), self.literal(1.0), self.literal(-1.0));
                let negative = self.float();
                self.select_if(&negative, "lt", &a[0], &zero, &minus, &zero);
                self.select_if(d, "gt", &a[0], &zero, &one, &negative);
            }
            Prim::Lt => self.indicator(d, "lt", a),
            Prim::Le => self.indicator(d, "le", a),
            Prim::Eq => self.indicator(d, "eq", a),
            // Unordered: true when either operand is NaN, as `!=` in C.
            Prim::Ne => self.indicator(d, "neu", a),
            Prim::Ldexp => self.ldexp(d, &a[0], &a[1]),
            Prim::LdexpInt => self.ldexp_int(d, &a[0], &a[1]),
            Prim::GetExp => self.get_exp(d, &a[0]),
            Prim::GetMant => self.get_mant(d, &a[0]),
            Prim::Exp if self.lowers(Prim::Exp) => self.exp_on_unit(d, &a[0]),
            Prim::Rsqrt if self.lowers(Prim::Rsqrt) => self.rsqrt_on_unit(d, &a[0]),
            // The expanded primitives (`Prim::is_expanded`), which never reach a backend: the tests of
            // every basic primitive would fail here on a basic one.
            expanded => {
                unreachable!(
                    "`{}` is expanded into basic primitives before code generation",
                    expanded.method()
                )
            }
        }
    }

    fn load(&mut self, space: Space, class: Class, d: &str, base: &str, offset: usize) {
        let (space, ty) = (state_space(space), self.class_type(class));
        self.op(format!("ld.{space}.{ty} {d}, [{base}+{offset}]"));
    }

    fn store(&mut self, space: Space, class: Class, base: &str, offset: usize, r: &str) {
        let (space, ty) = (state_space(space), self.class_type(class));
        self.op(format!("st.{space}.{ty} [{base}+{offset}], {r}"));
    }

    fn widen(&mut self, x: &str) -> String {
        let d = self.double();
        self.op(format!("cvt.f64.f32 {d}, {x}"));
        d
    }

    fn join_double(&mut self, lo: &str, hi: &str) -> String {
        let d = self.double();
        self.op(format!("mov.b64 {d}, {{{lo}, {hi}}}"));
        d
    }

    fn split_double(&mut self, d: &str, lo: &str, hi: &str) {
        self.op(format!("mov.b64 {{{lo}, {hi}}}, {d}"));
    }

    fn add_double(&mut self, d: &str, a: &str, b: &str) {
        self.op(format!("add.rn.f64 {d}, {a}, {b}"));
    }

    fn narrow(&mut self, d: &str, x: &str) {
        self.op(format!("cvt.rn.f32.f64 {d}, {x}"));
    }

    fn begin_if(&mut self, cond: &str, holds: bool, name: &str) -> String {
        let end = self.label(name);
        let unless = if holds { "!" } else { "" };
        self.op(format!("@{unless}{cond} bra {end}"));
        end
    }

    fn end_if(&mut self, end: String) {
        self.place(&end);
    }

    fn begin_loop(&mut self, head: &str, exit: &str) -> Loop<String> {
        let l = Loop { head: self.label(head), exit: self.label(exit) };
        self.place(&l.head);
        l
    }

    fn break_if(&mut self, l: &Loop<String>, cond: &str) {
        self.op(format!("@{cond} bra {}", l.exit));
    }

    fn end_loop(&mut self, l: Loop<String>) {
        self.op(format!("bra {}", l.head));
        self.place(&l.exit);
    }

    fn begin_repeat(&mut self, name: &str) -> String {
        let head = self.label(name);
        self.place(&head);
        head
    }

    fn repeat_while(&mut self, head: String, cond: &str) {
        self.op(format!("@{cond} bra {head}"));
    }
}

/// PTX's name of a comparison.
fn comparison(cmp: Cmp) -> &'static str {
    match cmp {
        Cmp::Lt => "lt",
        Cmp::Gt => "gt",
        Cmp::Ge => "ge",
        Cmp::Eq => "eq",
    }
}

/// PTX's state space of a memory access; the kernel's inputs are read through the
/// non-coherent (read-only) cache.
fn state_space(space: Space) -> &'static str {
    match space {
        Space::Shared => "shared",
        Space::Global => "global",
        Space::Input => "global.nc",
    }
}
