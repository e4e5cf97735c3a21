//! A PTX body being written: its registers, labels and instructions, and the one lowering of
//! each basic primitive.

use std::fmt::Write as _;

use crate::ir::DType;
use crate::lower::{Inst, Program};
use crate::prim::Prim;

pub(super) fn size(dtype: DType) -> usize {
    match dtype {
        DType::F32 => 4,
        DType::F64 => 8,
    }
}

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
    pub(super) fn new(dtype: DType) -> Ptx {
        Ptx { dtype, body: String::new(), temps: 0, preds: 0, ints: 0, wides: 0, doubles: 0, labels: 0 }
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

    pub(super) fn temp(&mut self) -> String {
        self.temps += 1;
        format!("%t{}", self.temps - 1)
    }

    pub(super) fn pred(&mut self) -> String {
        self.preds += 1;
        format!("%p{}", self.preds - 1)
    }

    pub(super) fn int(&mut self) -> String {
        self.ints += 1;
        format!("%r{}", self.ints - 1)
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

    /// The f64 value whose low and high 32 bits are the f32 registers `lo` and `hi`.
    pub(super) fn join_double(&mut self, lo: &str, hi: &str) -> String {
        let d = self.double();
        self.op(format!("mov.b64 {d}, {{{lo}, {hi}}}"));
        d
    }

    /// The f32 register `x` as an f64 register (exactly).
    pub(super) fn widen(&mut self, x: &str) -> String {
        let d = self.double();
        self.op(format!("cvt.f64.f32 {d}, {x}"));
        d
    }

    /// Splits the f64 register `d` into the f32 registers `lo` and `hi` (its low and high 32 bits).
    pub(super) fn split_double(&mut self, d: &str, lo: &str, hi: &str) {
        self.op(format!("mov.b64 {{{lo}, {hi}}}, {d}"));
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

    /// A constant of the float type: its exact bits.
    pub(super) fn literal(&self, c: f64) -> String {
        match self.dtype {
            DType::F32 => format!("0f{:08X}", (c as f32).to_bits()),
            DType::F64 => format!("0d{:016X}", c.to_bits()),
        }
    }

    /// The thread's index in its block, the block size, and the thread's output row (its index
    /// in the x dimension of the grid).
    pub(super) fn thread_row(&mut self) -> (String, String, String) {
        let (tid, ntid, ctaid, row) = (self.int(), self.int(), self.int(), self.int());
        self.op(format!("mov.u32 {tid}, %tid.x"));
        self.op(format!("mov.u32 {ntid}, %ntid.x"));
        self.op(format!("mov.u32 {ctaid}, %ctaid.x"));
        self.op(format!("mad.lo.u32 {row}, {ctaid}, {ntid}, {tid}"));
        (tid, ntid, row)
    }

    /// A kernel pointer parameter, converted to a global address.
    pub(super) fn pointer(&mut self, param: &str) -> String {
        let r = self.wide();
        self.op(format!("ld.param.u64 {r}, [{param}]"));
        self.op(format!("cvta.to.global.u64 {r}, {r}"));
        r
    }

    /// `base + row * stride` (`row` a 32-bit register, the result 64-bit).
    pub(super) fn row_address(&mut self, base: &str, row: &str, stride: usize) -> String {
        let r = self.wide();
        self.op(format!("mul.wide.u32 {r}, {row}, {stride}"));
        self.op(format!("add.u64 {r}, {r}, {base}"));
        r
    }

    /// `d = prim(a...)`: the one lowering of each basic primitive.
    pub(super) fn prim(&mut self, prim: Prim, d: &str, a: &[String]) {
        let t = self.ty();
        match prim {
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
            Prim::Min => self.choose(d, "lt", &a[0], &a[1], &a[0], &a[1]),
            Prim::Max => self.choose(d, "gt", &a[0], &a[1], &a[0], &a[1]),
            Prim::Select => {
                let zero = self.literal(0.0);
                self.choose(d, "ge", &a[0], &zero, &a[1], &a[2]);
            }
            Prim::Step => {
                let (zero, one) = (self.literal(0.0), self.literal(1.0));
                self.choose(d, "lt", &a[0], &zero, &zero, &one);
            }
            Prim::Sign => {
                let (zero, one, minus) = (self.literal(0.0), self.literal(1.0), self.literal(-1.0));
                let negative = self.temp();
                self.choose(&negative, "lt", &a[0], &zero, &minus, &zero);
                self.choose(d, "gt", &a[0], &zero, &one, &negative);
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

    /// `d = (a <cmp> b) ? x : y`. The comparisons are PTX's ordered ones (false on NaN), as C's.
    pub(super) fn choose(&mut self, d: &str, cmp: &str, a: &str, b: &str, x: &str, y: &str) {
        let t = self.ty();
        let p = self.pred();
        self.op(format!("setp.{cmp}.{t} {p}, {a}, {b}"));
        self.op(format!("selp.{t} {d}, {x}, {y}, {p}"));
    }

    /// `d = (a <cmp> b) ? 1 : 0`.
    pub(super) fn indicator(&mut self, d: &str, cmp: &str, a: &[String]) {
        let (zero, one) = (self.literal(0.0), self.literal(1.0));
        self.choose(d, cmp, &a[0], &a[1], &one, &zero);
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
        let y = self.temp();
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
        let y = self.temp();
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
        let scale = self.temp();
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
        let s = self.temp();
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
        let ax = self.temp();
        self.op(format!("abs.{t} {ax}, {x}"));
        let small = self.pred();
        let min_normal = self.literal(2f64.powi(f.emin));
        self.op(format!("setp.lt.{t} {small}, {ax}, {min_normal}"));
        let s = self.temp();
        let (scale, one) = (self.literal(2f64.powi(64)), self.literal(1.0));
        self.op(format!("selp.{t} {s}, {scale}, {one}, {small}"));
        let y = self.temp();
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
        let r = self.temp();
        self.op(format!("cvt.rn.{t}.s32 {r}, {e}"));
        let (zero, inf, neg_inf) =
            (self.literal(0.0), self.literal(f64::INFINITY), self.literal(f64::NEG_INFINITY));
        self.choose(&r, "eq", &ax, &zero, &neg_inf, &r);
        self.choose(&r, "eq", &ax, &inf, &inf, &r);
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
        let m = self.temp();
        self.op(format!("mov.{b} {m}, {bits}"));
        self.nan_passes(d, x, &m);
    }

    /// `d = isnan(x) ? x : r`.
    pub(super) fn nan_passes(&mut self, d: &str, x: &str, r: &str) {
        let t = self.ty();
        let nan = self.pred();
        self.op(format!("setp.nan.{t} {nan}, {x}, {x}"));
        self.op(format!("selp.{t} {d}, {x}, {r}, {nan}"));
    }

    /// An expanded function (`exp`, `log`) of `x`, as formulas compute it: its basic
    /// primitives, inline. Returns the operand holding the result.
    pub(super) fn function(&mut self, prim: Prim, x: &str) -> String {
        let mut p = Program::new(self.dtype);
        let input = p.load(0, 0);
        let out = p.prim(prim, &[input]);
        let mut regs: Vec<String> = Vec::with_capacity(p.insts().len());
        for inst in p.insts() {
            let r = match *inst {
                Inst::Load { .. } => x.to_string(),
                Inst::Const(bits) => self.literal(f64::from_bits(bits)),
                Inst::Prim(prim, _) => {
                    let d = self.temp();
                    let args: Vec<String> = inst.operands().iter().map(|a| regs[a.index()].clone()).collect();
                    self.prim(prim, &d, &args);
                    d
                }
            };
            regs.push(r);
        }
        regs.swap_remove(out.index())
    }
}
