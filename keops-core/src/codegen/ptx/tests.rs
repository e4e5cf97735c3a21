use keops_testkit::Rng;

use super::emulator::{self, Arg};
use super::writer::Ptx;
use super::*;
use crate::codegen::gpu::{BLOCK, Emit, size};
use crate::lower::Val;

/// An instruction that only the lowering of `prim` emits in [`primitive_module`].
fn signature(prim: Prim, t: &str) -> String {
    match prim {
        Prim::Add => format!("add.rn.{t}"),
        Prim::Sub => format!("sub.rn.{t}"),
        Prim::Mul => format!("mul.rn.{t}"),
        Prim::Div => format!("div.rn.{t}"),
        Prim::MulAdd => format!("fma.rn.{t}"),
        Prim::Neg => format!("neg.{t}"),
        Prim::Abs => format!("abs.{t}"),
        Prim::Sqrt => format!("sqrt.rn.{t}"),
        Prim::Floor => format!("cvt.rmi.{t}.{t}"),
        Prim::RoundEven => format!("cvt.rni.{t}.{t}"),
        Prim::Min | Prim::Lt | Prim::Step | Prim::Sign => format!("setp.lt.{t}"),
        Prim::Max => format!("setp.gt.{t}"),
        Prim::Select => format!("setp.ge.{t}"),
        Prim::Le => format!("setp.le.{t}"),
        Prim::Eq => format!("setp.eq.{t}"),
        Prim::Ne => format!("setp.neu.{t}"),
        Prim::Ldexp => format!("cvt.rmi.s32.{t}"),
        Prim::LdexpInt => "shr.s32".into(),
        Prim::GetExp => format!("cvt.rn.{t}.s32"),
        Prim::GetMant => "or.b".into(),
        _ => unreachable!(),
    }
}

#[test]
fn every_basic_primitive_is_lowered_in_both_types() {
    for dtype in [DType::F32, DType::F64] {
        let m = primitive_module(dtype);
        for &prim in Prim::ALL.iter().filter(|p| !p.is_expanded()) {
            let s = signature(prim, dtype.name());
            assert!(m.ptx.contains(&s), "{prim:?} in {dtype:?}: no `{s}`");
        }
        for banned in [".approx", ".ftz", "min.f", "max.f"] {
            assert!(!m.ptx.contains(banned), "`{banned}` in {dtype:?}");
        }
        assert!(m.ptx.starts_with("// keops:"));
        assert!(m.ptx.contains(".version 7.0\n.target sm_70\n.address_size 64\n"));
    }
}

#[test]
fn literals_are_exact_bits() {
    assert_eq!(Ptx::new(DType::F32, GpuMath::Reproducible).literal(1.0), "0f3F800000");
    assert_eq!(Ptx::new(DType::F32, GpuMath::Reproducible).literal(f64::NEG_INFINITY), "0fFF800000");
    assert_eq!(Ptx::new(DType::F64, GpuMath::Reproducible).literal(-2.0), "0dC000000000000000");
}

#[test]
fn expanded_functions_need_no_special_instruction() {
    let mut w = Ptx::new(DType::F64, GpuMath::Reproducible);
    let y = w.function(Prim::Exp, "%v0");
    let z = w.function(Prim::Log, &y);
    assert!(z.starts_with("%t"));
    assert!(!w.body.contains("ex2") && !w.body.contains("lg2"));
}

/// A float type as tests feed it to the emulator.
trait Bits: crate::interp::Float {
    const BYTES: usize;
    fn bits(self) -> u64;
    fn is_nan(self) -> bool;
    fn from_bits64(bits: u64) -> Self;
    /// Special and ordinary values: signed zeros and infinities, NaN, the extremes of the
    /// normal and subnormal ranges, halves (for the roundings), exponents around the limits of
    /// `ldexp`.
    fn specials() -> Vec<Self>;
}

impl Bits for f32 {
    const BYTES: usize = 4;
    fn bits(self) -> u64 {
        self.to_bits().into()
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn from_bits64(bits: u64) -> f32 {
        f32::from_bits(bits as u32)
    }
    fn specials() -> Vec<f32> {
        let mut v = vec![f32::MIN_POSITIVE, f32::MIN_POSITIVE / 3.0, f32::from_bits(1), f32::MAX, 8388609.0];
        v.extend([0.49999997, 2f32.powi(-140), 1.0 + f32::EPSILON, 16777215.0]);
        v.extend(common_specials().into_iter().map(|x| x as f32));
        v
    }
}

impl Bits for f64 {
    const BYTES: usize = 8;
    fn bits(self) -> u64 {
        self.to_bits()
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn from_bits64(bits: u64) -> f64 {
        f64::from_bits(bits)
    }
    fn specials() -> Vec<f64> {
        let mut v = vec![f64::MIN_POSITIVE, f64::MIN_POSITIVE / 3.0, f64::from_bits(1), f64::MAX];
        v.extend([0.49999999999999994, 2f64.powi(-1060), 4503599627370497.0, 1e300]);
        v.extend(common_specials());
        v
    }
}

fn common_specials() -> Vec<f64> {
    let mut v = vec![0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, 3.0, 0.75, -7.75, 123.456, 1e-3];
    v.extend([f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -1e-30, 1e30]);
    v.extend([-1200.0, -1075.0, -1074.5, -1022.0, -150.0, -149.0, -126.0, 127.0, 128.0, 1023.0, 1024.0, 3e9]);
    v
}

fn same<T: Bits>(a: T, b: T) -> bool {
    a.bits() == b.bits() || (a.is_nan() && b.is_nan())
}

/// A module whose thread `t` applies `prim` to `x[3t..3t + 3]` (operands in registers, except
/// `literal = Some((k, c))`: operand `k` is the constant `c`), writing `out[t]`.
fn primitive_harness(dtype: DType, prim: Prim, literal: Option<(usize, f64)>) -> String {
    primitive_harness_in(dtype, GpuMath::Reproducible, prim, literal)
}

/// [`primitive_harness`] with `exp` lowered as `math` says.
fn primitive_harness_in(dtype: DType, math: GpuMath, prim: Prim, literal: Option<(usize, f64)>) -> String {
    let mut w = Ptx::new(dtype, math);
    let size = size(dtype);
    let t = w.ty();
    let (x, out) = (w.pointer("keops_x"), w.pointer("keops_out"));
    let (tid, n) = (w.int(), w.int());
    w.op(format!("mov.u32 {tid}, %tid.x"));
    w.op(format!("ld.param.u32 {n}, [keops_n]"));
    let (outside, exit) = (w.pred(), w.label("exit"));
    w.op(format!("setp.ge.u32 {outside}, {tid}, {n}"));
    w.op(format!("@{outside} bra {exit}"));
    let at = w.row_address(&x, &tid, 3 * size);
    let mut args = Vec::new();
    for k in 0..prim.arity() {
        match literal {
            Some((l, c)) if l == k => args.push(w.literal(c)),
            _ => {
                w.op(format!("ld.global.nc.{t} %v{k}, [{at}+{}]", k * size));
                args.push(format!("%v{k}"));
            }
        }
    }
    w.prim(prim, "%v3", &args);
    let at = w.row_address(&out, &tid, size);
    w.op(format!("st.global.{t} [{at}+0], %v3"));
    w.place(&exit);
    w.op("ret");
    let params = ".param .u64 keops_x,\n.param .u64 keops_out,\n.param .u32 keops_n";
    format!(".visible .entry keops_test(\n{params}\n)\n{{\n{}{}}}\n", w.declarations(4), w.body)
}

/// Every basic primitive on every combination of special values (a subset for the ternary
/// ones), with a constant in each operand position too, bit for bit as the CPU semantics
/// ([`crate::interp`]) compute it.
fn check_primitives<T: Bits>() {
    let specials = T::specials();
    for &prim in Prim::ALL.iter().filter(|p| !p.is_expanded()) {
        let arity = prim.arity();
        let values = if arity == 3 { &specials[..12] } else { &specials[..] };
        let mut cases: Vec<[T; 3]> = vec![];
        let combos = values.len().pow(arity as u32);
        for c in 0..combos {
            let pick = |k: usize| values[(c / values.len().pow(k as u32)) % values.len()];
            cases.push([
                pick(0),
                if arity > 1 { pick(1) } else { T::ZERO },
                if arity > 2 { pick(2) } else { T::ZERO },
            ]);
        }
        if prim == Prim::LdexpInt {
            cases.retain(|c| crate::prim::ldexp_int_domain(c[0].to_f64(), c[1].to_f64(), T::DTYPE));
        }
        let mut p = Program::new(T::DTYPE);
        let loads: Vec<Val> = (0..3).map(|k| p.load(0, k)).collect();
        let r = p.prim(prim, &loads[..arity]);
        let columns: Vec<Vec<T>> = (0..3).map(|k| cases.iter().map(|c| c[k]).collect()).collect();
        let want =
            crate::interp::run::<T>(&p, &[r], &[columns.iter().map(Vec::as_slice).collect()]).remove(0);
        // 0.75 is not an exponent `LdexpInt` takes.
        let literals = std::iter::once(None)
            .chain((0..arity).map(|k| Some((k, 0.75))))
            .filter(|l| prim != Prim::LdexpInt || *l != Some((1, 0.75)));
        for literal in literals {
            let text = primitive_harness(T::DTYPE, prim, literal);
            let mut input: Vec<[T; 3]> = cases.clone();
            if let Some((k, c)) = literal {
                input.iter_mut().for_each(|x| x[k] = T::from_f64(c));
                if prim == Prim::LdexpInt {
                    // A NaN exponent goes with a NaN operand only.
                    input.retain(|c| crate::prim::ldexp_int_domain(c[0].to_f64(), c[1].to_f64(), T::DTYPE));
                }
            }
            let want = match literal {
                None => want.clone(),
                Some(_) => {
                    let columns: Vec<Vec<T>> = (0..3).map(|k| input.iter().map(|c| c[k]).collect()).collect();
                    crate::interp::run::<T>(&p, &[r], &[columns.iter().map(Vec::as_slice).collect()])
                        .remove(0)
                }
            };
            let bytes =
                input.iter().flatten().flat_map(|x| x.bits().to_le_bytes()[..T::BYTES].to_vec()).collect();
            let n = input.len() as u32;
            let mut args = [Arg::Buffer(bytes), Arg::Buffer(vec![0; input.len() * T::BYTES]), Arg::U32(n)];
            emulator::run(&text, "keops_test", &mut args, (1, 1), n, 0);
            let Arg::Buffer(out) = &args[1] else { unreachable!() };
            for (k, chunk) in out.chunks(T::BYTES).enumerate() {
                let mut b = [0u8; 8];
                b[..T::BYTES].copy_from_slice(chunk);
                let got = T::from_bits64(u64::from_le_bytes(b));
                assert!(
                    same(got, want[k]),
                    "{prim:?} {:?} of {:?} (constant {literal:?}): {got:?}, want {:?}",
                    T::DTYPE,
                    input[k],
                    want[k]
                );
            }
        }
    }
}

#[test]
fn primitives_compute_the_cpu_bits_f32() {
    check_primitives::<f32>();
}

#[test]
fn primitives_compute_the_cpu_bits_f64() {
    check_primitives::<f64>();
}

/// The threads per block of the emulated launches: small, so that tiles are many and partial.
const EMULATED_BLOCK: u32 = 32;

/// Runs the module of `kernel` in the emulator on `m` i-rows and `n` j-rows of random inputs
/// (rounded to the kernel's type), in one pass ([`ENTRY`]) and split into chunks of one and of
/// two blocks' rows ([`ENTRY_2D`] then [`ENTRY_MERGE`]; the runtime's chunks are of several
/// blocks), and compares each with the reference evaluator: values within a relative
/// tolerance, indices exactly when `exact_indices`.
fn check_kernel(text: &str, m: usize, n: usize, seed: u64, exact_indices: bool) {
    check_random(&checked(text), text, m, n, seed, exact_indices);
}

/// [`check_kernel`] on a checked kernel (`text` names it in messages).
fn check_random(
    kernel: &crate::check::Kernel,
    text: &str,
    m: usize,
    n: usize,
    seed: u64,
    exact_indices: bool,
) {
    let f32s = kernel.dtype == DType::F32;
    let mut rng = Rng::new(seed);
    let inputs: Vec<Vec<f64>> = (kernel.params.iter())
        .map(|p| {
            let rows = match p.role {
                Role::I => m,
                Role::J => n,
                Role::Param => 1,
            };
            let round = |x: f64| if f32s { x as f32 as f64 } else { x };
            (0..rows * p.dim).map(|_| round(rng.uniform(-1.0, 1.0))).collect()
        })
        .collect();
    check_kernel_on(kernel, text, &inputs, exact_indices);
}

fn checked(text: &str) -> crate::check::Kernel {
    let src = crate::syntax::math::parse_kernel_str(text).unwrap_or_else(|_| panic!("cannot parse {text}"));
    crate::check::check(&src).unwrap_or_else(|_| panic!("{text} does not check"))
}

/// [`check_kernel`] on given inputs (flat, in declaration order, exact in the kernel's type).
fn check_kernel_on(kernel: &crate::check::Kernel, text: &str, inputs: &[Vec<f64>], exact_indices: bool) {
    let f32s = kernel.dtype == DType::F32;
    let refs: Vec<&[f64]> = inputs.iter().map(Vec::as_slice).collect();
    let want = crate::eval::evaluate(kernel, &refs).unwrap();
    let (m, n) = crate::eval::sizes(kernel, &refs).unwrap();
    let inner = if kernel.reduction.over == Role::J { n } else { m };
    let tol = if f32s { 2e-4 } else { 1e-10 };
    for (scheme, values, indices) in run_schemes(kernel, inputs) {
        let what = format!("{text}, M = {m}, N = {n}, {scheme}");
        for (k, (got, w)) in values.into_iter().zip(&want.values).enumerate() {
            let close = got == *w || (got.is_nan() && w.is_nan()) || (got - w).abs() <= tol * (1.0 + w.abs());
            assert!(close, "{what}: value {k} is {got}, want {w}");
        }
        for (k, got) in indices.into_iter().enumerate() {
            assert!(got < inner.max(1), "{what}: index {k} is {got}, out of range");
            if exact_indices {
                assert_eq!(got, want.indices[k], "{what}: index {k}");
            }
        }
    }
}

/// The kernel's outputs (values, indices) on `inputs` in the emulator, in each scheme: 1D, and
/// 2D with chunks of one and two blocks.
fn run_schemes(
    kernel: &crate::check::Kernel,
    inputs: &[Vec<f64>],
) -> Vec<(&'static str, Vec<f64>, Vec<usize>)> {
    let module = module(kernel, "test".into());
    let f32s = kernel.dtype == DType::F32;
    let refs: Vec<&[f64]> = inputs.iter().map(Vec::as_slice).collect();
    let want = crate::eval::evaluate(kernel, &refs).unwrap();
    let (m, n) = crate::eval::sizes(kernel, &refs).unwrap();
    let encode = |v: &[f64]| -> Vec<u8> {
        v.iter()
            .flat_map(|&x| if f32s { (x as f32).to_le_bytes().to_vec() } else { x.to_le_bytes().to_vec() })
            .collect()
    };
    let decode = |b: &[u8]| -> Vec<f64> {
        match f32s {
            true => b.chunks(4).map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap()))).collect(),
            false => b.chunks(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect(),
        }
    };
    let (outer, inner) = if kernel.reduction.over == Role::J { (m, n) } else { (n, m) };
    let outputs = |widths: (usize, usize), rows: usize| {
        [
            Arg::Buffer(vec![0; rows * widths.0 * size(kernel.dtype)]),
            Arg::Buffer(vec![0; rows * widths.1 * 4]),
        ]
    };
    // A large kernel's shared memory is laid out for `module.block` threads, at most.
    let block = EMULATED_BLOCK.min(module.block);
    let grid_x = (outer as u32).div_ceil(block);
    let shared = block.max(module.block) as usize * module.shared_per_thread as usize;
    let counts = [Arg::U32(outer as u32), Arg::U32(inner as u32)];

    let mut args: Vec<Arg> = inputs.iter().map(|v| Arg::Buffer(encode(v))).collect();
    args.extend(outputs(want.widths, outer));
    args.extend(counts.clone());
    emulator::run(&module.ptx, ENTRY, &mut args, (grid_x, 1), block, shared);
    let whole = args.split_off(kernel.params.len());

    let split = |chunk: u32| {
        let chunks = inner.div_ceil(chunk as usize).max(1);
        let partial = (module.partial_widths.0 as usize, module.partial_widths.1 as usize);
        let mut args: Vec<Arg> = inputs.iter().map(|v| Arg::Buffer(encode(v))).collect();
        args.extend(outputs(partial, chunks * outer));
        args.extend(counts.clone());
        args.push(Arg::U32(chunk));
        emulator::run(&module.ptx, ENTRY_2D, &mut args, (grid_x, chunks as u32), block, shared);
        let mut merge: Vec<Arg> = args.drain(kernel.params.len()..).take(2).collect();
        merge.extend(outputs(want.widths, outer));
        merge.extend([Arg::U32(outer as u32), Arg::U32(chunks as u32)]);
        emulator::run(&module.ptx, ENTRY_MERGE, &mut merge, (grid_x, 1), block, 0);
        merge.split_off(2)
    };
    let (one_block, two_blocks) = (split(block), split(2 * block));
    let schemes = [
        ("1D", &whole[..2]),
        ("2D, chunks of a block", &one_block[..]),
        ("2D, chunks of two blocks", &two_blocks[..]),
    ];
    schemes
        .into_iter()
        .map(|(scheme, out)| {
            let (Arg::Buffer(values), Arg::Buffer(indices)) = (&out[0], &out[1]) else { unreachable!() };
            let indices =
                indices.chunks(4).map(|c| u32::from_le_bytes(c.try_into().unwrap()) as usize).collect();
            (scheme, decode(values), indices)
        })
        .collect()
}

/// A compensated sum of 0.1 taken many times is within an ulp of the exact sum in every scheme,
/// where the block sum is several ulps off; summed in f64, it is the f32 nearest the exact sum.
#[test]
fn compensated_and_widened_sums_are_within_an_ulp() {
    let n = 20_000;
    let b = vec![f64::from(0.1f32); n];
    let exact = n as f64 * f64::from(0.1f32);
    let nearest = exact as f32;
    let ulps = |v: f64| (v - exact).abs() / f64::from(nearest.next_up() - nearest);
    let inputs = [vec![0.0; 2], b];
    let block = checked("|x_i: f32, b_j: f32| sum_j b_j + 0 * x_i");
    let worst =
        run_schemes(&block, &inputs).into_iter().flat_map(|(_, v, _)| v).map(ulps).fold(0.0, f64::max);
    assert!(worst > 2.0, "the block sum is at most {worst} ulps off: the case should defeat it");
    let kahan = checked("|x_i: f32, b_j: f32| sum_j::<kahan> b_j + 0 * x_i");
    for (scheme, values, _) in run_schemes(&kahan, &inputs) {
        for v in values {
            assert!(ulps(v) <= 1.0, "{scheme}: {v} is {} ulps from {exact}", ulps(v));
        }
    }
    let double = checked("|x_i: f32, b_j: f32| sum_j::<f64> b_j + 0 * x_i");
    for (scheme, values, _) in run_schemes(&double, &inputs) {
        assert!(values.iter().all(|&v| v == f64::from(nearest)), "{scheme}: {values:?}, want {nearest}");
    }
}

/// Sizes (M, N): two blocks and two tiles of [`EMULATED_BLOCK`], the last ones partial (the
/// last tile's 11 pairs are two unrolled groups and three single pairs); one row; empty
/// reductions.
const SIZES: &[(usize, usize)] = &[(33, 43), (1, 1), (5, 0), (0, 3)];

#[test]
fn every_reduction_matches_the_reference() {
    for text in crate::reduction::test_kernels() {
        let src =
            crate::syntax::keops::parse_genred_str(&text).unwrap_or_else(|_| panic!("cannot parse {text}"));
        let kernel = crate::check::check(&src).unwrap_or_else(|_| panic!("`{text}` does not check"));
        for (seed, &(m, n)) in SIZES.iter().enumerate() {
            check_random(&kernel, &text, m, n, seed as u64, kernel.dtype == DType::F64);
        }
    }
    check_kernel("|x_i: [f32; 2], y_j: [f32; 2]| logsumexp_j -sqdist(x_i, y_j) * 1e4", 9, 40, 7, true);
}

#[test]
fn ties_resolve_to_the_lowest_index() {
    for text in [
        "|x_i: f32, y_j: f32| min_argmin_j floor(3.0 * y_j) + floor(x_i)",
        "|x_i: f32, y_j: f32| max_argmax_i floor(3.0 * y_j) + floor(x_i)",
        "|x_i: f32, y_j: f32| kmin_argkmin_j::<4> floor(3.0 * y_j) + floor(x_i)",
    ] {
        check_kernel(text, 33, 90, 3, true);
    }
}

#[test]
fn gaussian_kernels_match_the_reference() {
    for t in ["f32", "f64"] {
        let text =
            format!("|x_i: [{t}; 3], y_j: [{t}; 3], b_j: [{t}; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j");
        check_kernel(&text, 40, 33, 11, true);
        let text = format!(
            "|x_i: [{t}; 3], y_j: [{t}; 3], b_j: [{t}; 2], g: {t}| sum_i exp(-g * sqdist(x_i, y_j)) * b_j"
        );
        check_kernel(&text, 33, 40, 12, true);
    }
}

#[test]
fn infinities_and_nan_follow_the_reference() {
    let (inf, nan) = (f64::INFINITY, f64::NAN);
    let rows: &[&[f64]] = &[
        &[-inf, -inf],
        &[1.0, inf, 2.0],
        &[inf, inf],
        &[1.0, nan, 3.0],
        &[inf, nan],
        &[-inf, 2.0, -inf],
        &[nan, nan],
        &[0.0, inf, 5.0, inf],
    ];
    for t in ["f32", "f64"] {
        for body in [
            "logsumexp_j f_j",
            "sumsoftmaxweight_j(f_j, w_j)",
            "logsumexp_j(f_j, w_j)",
            "min_argmin_j f_j",
            "max_argmax_j f_j",
            "kmin_argkmin_j::<3> f_j",
            "sum_j f_j * w_j",
        ] {
            let text = format!("|f_j: {t}, w_j: {t}| {body}");
            let kernel = checked(&text);
            // The reference evaluator lets +inf values into K-min selections, which the CPU and
            // GPU kernels (and the documentation) never select: not compared here.
            let kmin = body.starts_with("kmin");
            for f in rows.iter().filter(|f| !(kmin && f.contains(&inf))) {
                let w: Vec<f64> = (0..f.len()).map(|k| k as f64 + 1.0).collect();
                check_kernel_on(&kernel, &format!("{text} on {f:?}"), &[f.to_vec(), w], true);
            }
        }
    }
}

/// The modules of large kernels keep output-row features and wide states in shared memory and
/// stream the pair program: the same values as the reference, in both schemes, in both types,
/// with tiles of several blocks and partial ones.
#[test]
fn large_kernels_match_the_reference() {
    for t in ["f32", "f64"] {
        let texts = [
            format!("|x_i: [{t}; 256], y_j: [{t}; 256], b_j: [{t}; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j"),
            format!("|x_i: [{t}; 256], y_j: [{t}; 256], b_j: [{t}; 256]| sum_j exp(-sqdist(x_i, y_j)) * b_j"),
            format!("|x_i: [{t}; 256], y_j: [{t}; 256]| logsumexp_j -sqdist(x_i, y_j)"),
            format!("|x_i: [{t}; 256], y_j: [{t}; 256]| min_argmin_j sqdist(x_i, y_j)"),
        ];
        for (seed, text) in texts.iter().enumerate() {
            let kernel = checked(text);
            let large = module(&kernel, "large".into());
            assert!(large.block < BLOCK as u32, "{text}: block {}", large.block);
            check_kernel(text, 21, 37, seed as u64, true);
        }
    }
    // Wide states of every kind, over i as well, with a parameter feature.
    for text in [
        "|x_i: [f32; 200], y_j: [f32; 200], p: f32| kmin_argkmin_i::<2> (x_i - y_j) * p",
        "|x_i: [f64; 100], y_j: [f64; 100], b_j: [f64; 100]| sumsoftmaxweight_j(-sqdist(x_i, y_j), b_j * x_i)",
        "|x_i: [f32; 100], y_j: [f32; 100], b_j: [f32; 90]| logsumexp_i(dot(x_i, y_j), exp(b_j))",
        "|x_i: [f64; 100], y_j: [f64; 100]| max_argmax_j x_i * y_j",
    ] {
        check_kernel(text, 19, 35, 5, true);
    }
    // pykeops' chunked-mode tests: D = 300, an output of width 300, and `Min_ArgMin` over i in
    // D = 990 (`test_chunks.py`, `test_finalchunks.py`, `test_torch.py`).
    for text in [
        "|x_i: [f32; 300], y_j: [f32; 300], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j",
        "|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 300]| sum_j exp(-sqdist(x_i, y_j)) * b_j",
        "|x_i: [f32; 990], y_j: [f32; 990]| min_argmin_i sum(exp(-square(x_i + y_j)))",
        // A wide compensated sum: its sums and errors merged a group of components at a time.
        "|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 300]| sum_j::<kahan> exp(-sqdist(x_i, y_j)) * b_j",
    ] {
        check_kernel(text, 9, 13, 6, true);
    }
}

/// The backward kernels of a large kernel are large kernels too.
#[test]
fn large_backward_kernels_match_the_reference() {
    let text = "|x_i: [f32; 256], y_j: [f32; 256], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j";
    let (plans, _) = crate::backward::plan(&checked(text)).unwrap();
    let mut checked_some = 0;
    for (pos, plan) in plans.iter().enumerate() {
        if let crate::backward::Backward::Reduction { kernel, .. } = plan {
            check_random(kernel, &format!("{text}, gradient {pos}"), 13, 19, pos as u64, true);
            checked_some += 1;
        }
    }
    assert!(checked_some >= 2);
}

#[test]
fn small_kernels_stay_in_registers() {
    for t in ["f32", "f64"] {
        let text =
            format!("|x_i: [{t}; 3], y_j: [{t}; 3], b_j: [{t}; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j");
        let m = module(&checked(&text), "small".into());
        assert_eq!(m.block, BLOCK as u32);
        assert_eq!(m.shared_per_thread as usize, 4 * size(if t == "f32" { DType::F32 } else { DType::F64 }));
    }
}

#[test]
fn small_kernels_pad_tile_rows_for_wide_loads() {
    // (features of a reduced row, bytes of its tile row): 16-byte multiples from 3 floats up.
    for (dim, bytes) in [(1, 4), (2, 8), (3, 16), (64, 256), (65, 272)] {
        let text = format!("|x_i: [f32; {dim}], y_j: [f32; {dim}]| sum_j sqdist(x_i, y_j)");
        let m = module(&checked(&text), "padded".into());
        assert_eq!(m.shared_per_thread, bytes, "dimension {dim}");
    }
    let text = "|x_i: [f64; 3], y_j: [f64; 3]| sum_j sqdist(x_i, y_j)";
    assert_eq!(module(&checked(text), "padded".into()).shared_per_thread, 32);
}

#[test]
fn small_kernels_unroll_their_pair_loop() {
    let text = "|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j";
    let m = module(&checked(text), "unrolled".into());
    // Four copies of the pair program in the groups, one in the loop for the rest, in each of
    // the two reducing entry points.
    assert_eq!(m.ptx.matches("ld.shared.f32").count(), 2 * 5 * 4, "{}", m.ptx);
}

#[test]
fn sums_of_products_are_fused_multiply_adds() {
    // Terms (0 - a_j) * b_j: -1, then (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24. Fused into the sum,
    // the second is exact (-1 + it = 2^-11 + 2^-24); rounded first, its 2^-24 is lost.
    let text = "|x_i: [f32; 1], a_j: [f32; 1], b_j: [f32; 1]| sum_j (x_i - a_j) * b_j";
    let m = module(&checked(text), "fused".into());
    let e = 1.0 + 2f32.powi(-12);
    let floats = |v: &[f32]| Arg::Buffer(v.iter().flat_map(|x| x.to_le_bytes()).collect());
    let mut args =
        vec![floats(&[0.0]), floats(&[1.0, -e]), floats(&[1.0, e]), floats(&[0.0]), Arg::Buffer(vec![])];
    args.extend([Arg::U32(1), Arg::U32(2)]);
    emulator::run(&m.ptx, ENTRY, &mut args, (1, 1), 32, 32 * m.shared_per_thread as usize);
    let Arg::Buffer(out) = &args[3] else { unreachable!() };
    let got = f32::from_le_bytes(out[..4].try_into().unwrap());
    assert_eq!(got, 2f32.powi(-11) + 2f32.powi(-24));
}

/// `exp(x)` of each `f32` of `xs` in the emulator, lowered as `math` says.
fn emulated_exp(math: GpuMath, xs: &[f32]) -> Vec<f32> {
    let text = primitive_harness_in(DType::F32, math, Prim::Exp, None);
    let bytes = xs.iter().flat_map(|x| [x.to_bits(), 0, 0]).flat_map(u32::to_le_bytes).collect();
    let n = xs.len() as u32;
    let mut args = [Arg::Buffer(bytes), Arg::Buffer(vec![0; xs.len() * 4]), Arg::U32(n)];
    emulator::run(&text, "keops_test", &mut args, (1, 1), n, 0);
    let Arg::Buffer(out) = &args[1] else { unreachable!() };
    out.chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

/// Distance from `got` to the exact `want`, in units of the last place of `want`'s binade
/// (subnormals' for results below the normal range).
fn ulps(got: f32, want: f64) -> f64 {
    let ulp = 2f64.powi(want.abs().log2().floor().max(-126.0) as i32 - 23);
    (f64::from(got) - want).abs() / ulp
}

/// Inputs spanning `exp`'s whole `f32` domain: every special value, the ends of the normal,
/// subnormal and overflow ranges, and random arguments in `[-110, 90]`.
fn exp_inputs() -> Vec<f32> {
    let mut xs: Vec<f32> = vec![
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1e-40,
        88.72283,
        88.72284,
        89.0,
        -87.33655,
        -87.33656,
        -103.27893,
        -103.97208,
        -103.97209,
        -104.0,
        -110.0,
        f32::MAX,
        f32::MIN,
    ];
    let mut rng = Rng::new(31);
    xs.extend((0..100_000).map(|_| rng.uniform(-110.0, 90.0) as f32));
    xs.extend((0..20_000).map(|_| rng.uniform(-1.0, 1.0) as f32));
    xs
}

/// The special-function unit's `exp` ([`GpuMath::Accurate`]), with `ex2.approx` modelled as
/// correctly rounded: within 1.5 ulp of `exp` everywhere (the rounding of `2^r`, and that of
/// `r`, below 2^-24, which `2^r` turns into at most 0.7 ulp; 2.5 ulp in the subnormal range,
/// where the result rounds again), with the CPU's special values. The hardware's `ex2.approx`
/// adds its own error, which a GPU run measures (`tests/gpu.rs`).
#[test]
fn exp_on_the_unit_is_accurate() {
    let xs = exp_inputs();
    let got = emulated_exp(GpuMath::Accurate, &xs);
    let mut worst = (0.0, 0.0);
    for (&x, &y) in xs.iter().zip(&got) {
        if let Some((e, subnormal)) = exp_error(x, y) {
            let bound = if subnormal { 2.5 } else { 1.5 };
            assert!(e <= bound, "exp({x}) = {y}: {e} ulp");
            if e > worst.0 {
                worst = (e, x.into());
            }
        }
    }
    println!("largest error {:.3} ulp, at {}", worst.0, worst.1);
}

/// The error of `y` as `exp(x)` in ulps, and whether `exp(x)` is below the normal range; `None`
/// where `exp(x)` is NaN, infinite or below the subnormals, after checking that `y` is too.
fn exp_error(x: f32, y: f32) -> Option<(f64, bool)> {
    let want = f64::from(x).exp();
    match want {
        _ if x.is_nan() => assert!(y.is_nan(), "exp({x}) = {y}"),
        _ if want > f64::from(f32::MAX) => assert_eq!(y, f32::INFINITY, "exp({x})"),
        _ if want < 2f64.powi(-150) => assert_eq!(y, 0.0, "exp({x})"),
        _ => return Some((ulps(y, want), want < 2f64.powi(-126))),
    }
    None
}

/// [`GpuMath::Fast`], `ex2.approx.ftz(x log2 e)` with a correctly rounded `ex2`: within a
/// relative `(1 + |x|) 2^-23` (the rounding of `x log2 e`), or zero where `exp(x)` is below
/// the normal range.
#[test]
fn fast_exp_is_within_its_bound() {
    let xs = exp_inputs();
    let got = emulated_exp(GpuMath::Fast, &xs);
    for (&x, &y) in xs.iter().zip(&got) {
        let want = f64::from(x).exp();
        match want {
            _ if x.is_nan() => assert!(y.is_nan(), "exp({x}) = {y}"),
            _ if want > f64::from(f32::MAX) => assert_eq!(y, f32::INFINITY, "exp({x})"),
            _ if y == 0.0 => assert!(want < 2f64.powi(-125), "exp({x}) = 0, want {want}"),
            _ => {
                let relative = (f64::from(y) - want).abs() / want;
                let bound = (1.0 + f64::from(x.abs())) * 2f64.powi(-23);
                assert!(relative <= bound, "exp({x}) = {y}, want {want}: relative error {relative:e}");
            }
        }
    }
}

/// The accurate `exp`'s eight instructions in Rust, each with the emulator's semantics, to
/// sweep every `f32` argument ([`exp_on_the_unit_over_every_f32`]), which the emulator would
/// take hours to; [`the_model_of_exp_is_the_emulated_one`] checks it against the emulator.
fn modelled_exp(x: f32) -> f32 {
    const S: f64 = 253.99;
    let log2e = std::f64::consts::LOG2_E;
    let shifter = crate::math::shifter(DType::F32);
    let hi = log2e as f32;
    let lo = (log2e - f64::from(hi)) as f32;
    let u = emulator::fma_saturated(x, (log2e / S) as f32, (126.0 / S) as f32);
    let k = emulator::fma_down(u, S as f32, (shifter + 1.0) as f32);
    let neg_j = (shifter + 127.0) as f32 - k;
    let r = x.mul_add(lo, x.mul_add(hi, neg_j));
    emulator::ex2_approx_ftz(r) * f32::from_bits(k.to_bits() << 23)
}

#[test]
fn the_model_of_exp_is_the_emulated_one() {
    let xs = exp_inputs();
    let got = emulated_exp(GpuMath::Accurate, &xs);
    for (&x, &y) in xs.iter().zip(&got) {
        assert_eq!(modelled_exp(x).to_bits(), y.to_bits(), "exp({x})");
    }
}

/// [`exp_on_the_unit_is_accurate`] over every `f32`, with `ex2.approx` correctly rounded:
/// 82 s on two cores (`cargo test --release -p keops-core --lib every_f32 --
/// --ignored --nocapture`); BENCHMARKS.md has its result.
#[test]
#[ignore = "a minute in release builds, hours in debug ones"]
fn exp_on_the_unit_over_every_f32() {
    // The largest error in ulps and where, in the normal range and below it.
    let sweep = |bits: std::ops::Range<u64>| {
        let (mut normal, mut subnormal) = ((0.0f64, 0.0f32), (0.0f64, 0.0f32));
        for b in bits {
            let x = f32::from_bits(b as u32);
            if let Some((e, below)) = exp_error(x, modelled_exp(x)) {
                let worst = if below { &mut subnormal } else { &mut normal };
                if e > worst.0 {
                    *worst = (e, x);
                }
            }
        }
        (normal, subnormal)
    };
    let quarters: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4u64).map(|q| scope.spawn(move || sweep(q << 30..(q + 1) << 30))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let larger = |a: (f64, f32), b: (f64, f32)| if b.0 > a.0 { b } else { a };
    let normal = quarters.iter().map(|q| q.0).fold((0.0, 0.0), larger);
    let subnormal = quarters.iter().map(|q| q.1).fold((0.0, 0.0), larger);
    println!("normal results: largest error {:.4} ulp, at {:e}", normal.0, normal.1);
    println!("subnormal results: largest error {:.4} ulp, at {:e}", subnormal.0, subnormal.1);
    assert!(normal.0 <= 1.2 && subnormal.0 <= 1.0);
}

/// The harness of `prim` in an `f32` module of mode `math`, and its values on `operands` (the
/// first `prim.arity()` of each), in the emulator.
fn f32_harness(math: GpuMath, prim: Prim, operands: &[[f32; 2]]) -> (String, Vec<f32>) {
    let text = primitive_harness_in(DType::F32, math, prim, None);
    let bytes = operands.iter().flat_map(|&[a, b]| [a.to_bits(), b.to_bits(), 0]);
    let bytes = bytes.flat_map(u32::to_le_bytes).collect();
    let n = operands.len() as u32;
    let mut args = [Arg::Buffer(bytes), Arg::Buffer(vec![0; operands.len() * 4]), Arg::U32(n)];
    emulator::run(&text, "keops_test", &mut args, (1, 1), n, 0);
    let Arg::Buffer(out) = &args[1] else { unreachable!() };
    (text, out.chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect())
}

/// [`GpuMath::Fast`]'s `f32` division and square root: `div.full.ftz` and `sqrt.approx.ftz`,
/// modelled as correctly rounded, with subnormal operands and results flushed to zero; the
/// other modes keep IEEE's.
#[test]
fn fast_division_and_square_root_flush_subnormals() {
    let bits = |xs: &[f32]| xs.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let tiny = f32::MIN_POSITIVE / 4.0;
    let operands = [[3.0, 7.0], [1.0e30, 3.0e-9], [tiny, 1.0], [1.0, tiny], [2.0e-30, 1.0e10], [-0.0, 2.0]];
    let (text, quotients) = f32_harness(GpuMath::Fast, Prim::Div, &operands);
    assert!(text.contains("div.full.ftz.f32"), "{text}");
    let flushed = [3.0 / 7.0, 1.0e30 / 3.0e-9, 0.0, f32::INFINITY, 0.0, -0.0];
    assert_eq!(bits(&quotients), bits(&flushed));
    let (text, roots) = f32_harness(GpuMath::Fast, Prim::Sqrt, &operands);
    assert!(text.contains("sqrt.approx.ftz.f32"), "{text}");
    let flushed = [3f32.sqrt(), 1.0e30f32.sqrt(), 0.0, 1.0, 2.0e-30f32.sqrt(), -0.0];
    assert_eq!(bits(&roots), bits(&flushed));
    for math in [GpuMath::Reproducible, GpuMath::Accurate] {
        let (text, quotients) = f32_harness(math, Prim::Div, &operands);
        assert!(text.contains("div.rn.f32"), "{text}");
        assert_eq!(quotients[2], tiny, "{math:?}");
        assert!(f32_harness(math, Prim::Sqrt, &operands).0.contains("sqrt.rn.f32"));
    }
}

/// `rsqrt` on the special-function unit: [`GpuMath::Fast`]'s one `rsqrt.approx.ftz`
/// (modelled as correctly rounded, subnormal operands and results flushed to zero),
/// [`GpuMath::Accurate`]'s `rsqrt.approx` and a Newton step (subnormals kept), both 0 at 0 as
/// KeOps' `Rsqrt`; [`GpuMath::Reproducible`] keeps the expansion, as the CPU computes it.
#[test]
fn rsqrt_on_the_unit() {
    let tiny = f32::MIN_POSITIVE / 4.0;
    let operands = [4.0, 3.0, 1.0e30, 0.0, -0.0, tiny, f32::INFINITY, -1.0];
    let rounded = |x: f32| (1.0 / f64::from(x).sqrt()) as f32;
    let bits =
        |xs: &[f32]| xs.iter().map(|x| if x.is_nan() { u32::MAX } else { x.to_bits() }).collect::<Vec<_>>();
    let (text, fast) = f32_harness(GpuMath::Fast, Prim::Rsqrt, &operands.map(|a| [a, 0.0]));
    assert!(text.contains("rsqrt.approx.ftz.f32") && !text.contains("sqrt.rn"), "{text}");
    let want = [0.5, rounded(3.0), rounded(1.0e30), 0.0, 0.0, f32::INFINITY, 0.0, f32::NAN];
    assert_eq!(bits(&fast), bits(&want));
    let (text, accurate) = f32_harness(GpuMath::Accurate, Prim::Rsqrt, &operands.map(|a| [a, 0.0]));
    assert!(text.contains("rsqrt.approx.f32") && !text.contains("sqrt.rn"), "{text}");
    // The subnormal operand kept, not flushed.
    let want = [0.5, rounded(3.0), rounded(1.0e30), 0.0, 0.0, rounded(tiny), 0.0, f32::NAN];
    assert_eq!(bits(&accurate), bits(&want));
    // The N-body force in every mode, against the reference evaluator.
    let nbody = "|x_i: [f32; 3], y_j: [f32; 3], m_j: f32, e2: f32| sum_j (y_j - x_i) * m_j * pow(rsqrt(sqdist(x_i, y_j) + e2), 3)";
    for (math, instruction) in [
        (GpuMath::Fast, "rsqrt.approx.ftz.f32"),
        (GpuMath::Accurate, "rsqrt.approx.f32"),
        (GpuMath::Reproducible, "sqrt.rn"),
    ] {
        let mut kernel = checked(nbody);
        kernel.gpu_math = math;
        let ptx = module(&kernel, "nbody".into()).ptx;
        let (approx, expected) = (ptx.matches("rsqrt.approx").count(), ptx.matches(instruction).count());
        let on_unit = math != GpuMath::Reproducible;
        assert!(expected > 0 && (approx == expected) == on_unit && (approx > 0) == on_unit, "{math:?}");
        check_random(&kernel, &format!("N-body ({math:?})"), 40, 70, 3, false);
    }
}

/// [`GpuMath::Accurate`]'s `rsqrt` as the emulator runs it: `rsqrt.approx` (the correctly
/// rounded `y0` given), then the Newton step, instruction for instruction.
fn modelled_rsqrt(x: f32, y0: f32) -> f32 {
    let h = -(x * y0);
    let e = h.mul_add(y0, 1.0);
    let y1 = (y0 * 0.5).mul_add(e, y0);
    if x == 0.0 || x == f32::INFINITY { 0.0 } else { y1 }
}

/// Positive `f32`s of every binade, normal and subnormal, and the ends of the range.
fn rsqrt_inputs() -> Vec<f32> {
    let mut rng = Rng::new(9);
    let mut xs = vec![f32::MIN_POSITIVE, f32::MAX, f32::from_bits(1), 1.0, 2.0, 0.25];
    xs.extend((0..100_000).map(|_| f32::from_bits(1 + rng.below(0x7F7F_FFFF) as u32)));
    xs
}

/// [`GpuMath::Accurate`]'s `rsqrt` within an ulp of the exact `1 / sqrt(x)` over the whole
/// positive range, subnormal arguments included: with `rsqrt.approx` correctly rounded (the
/// emulator's, checked against [`modelled_rsqrt`] bit for bit), and with it off by up to 3 ulp
/// either way (beyond the PTX ISA's bound, 2^-22.9), which the Newton step squares away.
#[test]
fn accurate_rsqrt_is_within_an_ulp() {
    let xs = rsqrt_inputs();
    let (_, got) =
        f32_harness(GpuMath::Accurate, Prim::Rsqrt, &xs.iter().map(|&x| [x, 0.0]).collect::<Vec<_>>());
    let error = |x: f32, y: f32| ulps(y, 1.0 / f64::from(x).sqrt());
    let mut worst = [0.0f64; 2];
    for (&x, &y) in xs.iter().zip(&got) {
        let y0 = emulator::rsqrt_approx(x);
        assert_eq!(modelled_rsqrt(x, y0).to_bits(), y.to_bits(), "rsqrt({x:e})");
        worst[0] = worst[0].max(error(x, y));
        for k in [-3i32, -2, -1, 1, 2, 3] {
            let off = f32::from_bits(y0.to_bits().wrapping_add_signed(k));
            worst[1] = worst[1].max(error(x, modelled_rsqrt(x, off)));
        }
    }
    println!("largest error {:.4} ulp, {:.4} ulp with rsqrt.approx 3 ulp off", worst[0], worst[1]);
    assert!(worst[0] <= 1.0 && worst[1] <= 1.0, "{worst:?}");
}

/// Every reduction in the modes other than the default (which the other tests run), in both
/// schemes, against the reference evaluator (the reductions' own exps included).
#[test]
fn every_reduction_matches_the_reference_in_every_mode() {
    for math in [GpuMath::Reproducible, GpuMath::Fast] {
        for text in crate::reduction::test_kernels() {
            let src = crate::syntax::keops::parse_genred_str(&text)
                .unwrap_or_else(|_| panic!("cannot parse {text}"));
            let mut kernel = crate::check::check(&src).unwrap_or_else(|_| panic!("`{text}` does not check"));
            kernel.gpu_math = math;
            check_random(&kernel, &format!("{text} ({math:?})"), 33, 43, 3, kernel.dtype == DType::F64);
        }
        let mut gauss =
            checked("|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j");
        gauss.gpu_math = math;
        check_random(&gauss, "Gaussian", 40, 70, 4, true);
    }
}
