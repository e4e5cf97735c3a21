//! The GPU kernels' PTX, checked by a real `ptxas` (no GPU needed): every module of a
//! representative set of kernels (the Gaussian kernel sum, every reduction over both indices in
//! both float types with its backward kernels, function-heavy and large formulas, every basic
//! primitive) must assemble for sm_70, sm_80 and sm_90, the kernels of every operation of the op
//! table for sm_80, and neither the D = 3 Gaussian kernels nor the large ones (D = 256, and
//! D = 300 and a 300-wide output as in pykeops' chunked-mode tests; forward and backward, kept
//! partly in shared memory) may spill registers (D = 990 does, see `dimension_990_assembles`).
//!
//! With `cuobjdump` as well, `pair_loops_keep_their_length` counts the machine instructions
//! per pair of the standard kernels' sm_90 pair loops, the offline measure of their GPU speed,
//! and fails if one grows beyond its record.
//!
//! `ptxas` is `$KEOPS_PTXAS`, else `ptxas` on the `PATH` (the PyPI package
//! `nvidia-cuda-nvcc-cu12` ships one; see `.ci/run`), and `cuobjdump` `$KEOPS_CUOBJDUMP`, else
//! on the `PATH` (PyPI's `nvidia-cuda-cuobjdump`, with `nvidia-cuda-nvdisasm`, whose `nvdisasm`
//! it runs). Without them the tests print
//! `SKIPPED: no ptxas` (or `no cuobjdump`) and pass, unless `KEOPS_REQUIRE_PTXAS=1`, which
//! makes that a failure.
//!
//! The kernels are compiled by keops-core's generator directly rather than declared with
//! `keops!` (which would also build their CPU code); one declared kernel checks that
//! `ptx_modules()` embeds exactly what the generator prints.

use std::path::{Path, PathBuf};
use std::process::Command;

use keops_core::ast::GpuMath;
use keops_core::backward::plan;
use keops_core::check::{Kernel, check};
use keops_core::codegen::ptx::{self, Module};
use keops_core::ir::{DType, Role};
use keops_core::ops::Op;

const ARCHS: &[&str] = &["sm_70", "sm_80", "sm_90"];

const GAUSS_F32: &str = "|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j";
const GAUSS_F64: &str = "|x_i: [f64; 3], y_j: [f64; 3], b_j: [f64; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j";

keops::keops! {
    /// The Gaussian kernel sum of `GAUSS_F32`.
    struct Gauss = |x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j;
}

/// A kernel in math syntax, checked.
fn kernel(text: &str) -> Kernel {
    let src =
        keops_core::syntax::math::parse_kernel_str(text).unwrap_or_else(|_| panic!("cannot parse `{text}`"));
    check(&src).unwrap_or_else(|_| panic!("`{text}` does not check"))
}

/// A kernel from `genred!` arguments, checked.
fn genred(text: &str) -> Kernel {
    let src =
        keops_core::syntax::keops::parse_genred_str(text).unwrap_or_else(|_| panic!("cannot parse `{text}`"));
    check(&src).unwrap_or_else(|_| panic!("`{text}` does not check"))
}

/// The forward, auxiliary and backward modules of `kernel`, as the macros embed them.
fn modules_of(kernel: &Kernel, name: &str) -> Vec<Module> {
    let planned = plan(kernel).unwrap_or_else(|e| panic!("{name}: no backward plan: {e:?}"));
    ptx::modules(kernel, name, Some(&planned))
}

fn gaussian_modules() -> Vec<Module> {
    let mut out = modules_of(&kernel(GAUSS_F32), "gauss_f32");
    out.extend(modules_of(&kernel(GAUSS_F64), "gauss_f64"));
    out
}

/// Every reduction, over i and over j, in f32 and f64, with and without an optional second
/// formula (keops-core's `reduction::test_kernels`), and its backward kernels once (over j in
/// f64: they are sums like any other, over i or j depending on the input).
fn reduction_modules() -> Vec<Module> {
    let mut out = Vec::new();
    for (n, text) in keops_core::reduction::test_kernels().iter().enumerate() {
        let (k, name) = (genred(text), format!("reduction{n}"));
        match (k.dtype, k.reduction.over) {
            (DType::F64, Role::J) => out.extend(modules_of(&k, &name)),
            _ => out.push(ptx::module(&k, name)),
        }
    }
    out
}

/// Kernels computing every test case of every operation of the op table, a group of cases per
/// kernel (ptxas takes much longer on one large kernel than on several smaller ones).
fn op_table_modules() -> Vec<Module> {
    let mut out = Vec::new();
    for t in ["f32", "f64"] {
        let mut parts = Vec::new();
        for &op in Op::ALL {
            let spec = op.spec();
            for (c, case) in spec.tests.iter().enumerate() {
                let mut args = Vec::new();
                let mut aliases = Vec::new();
                for (k, &(dim, _, _)) in case.operands.iter().enumerate() {
                    let name = format!("{}_{c}_{k}", spec.keops);
                    aliases.push(format!("\"{name} = {}({dim})\"", if k % 2 == 0 { "Vi" } else { "Vj" }));
                    args.push(name);
                }
                if let [only] = args.as_mut_slice() {
                    *only = format!("{only} * s");
                }
                args.extend(keops_core::ops::attrs::format(spec.attrs, case.attrs));
                parts.push((format!("{}({})", spec.keops, args.join(", ")), aliases));
            }
        }
        for (g, group) in parts.chunks(OPS_PER_KERNEL).enumerate() {
            let formula = group.iter().map(|p| p.0.clone()).reduce(|a, b| format!("Concat({a}, {b})"));
            let mut aliases: Vec<String> = group.iter().flat_map(|p| p.1.clone()).collect();
            aliases.push("\"s = Vj(1)\"".into());
            let text = format!("\"{}\", [{}], dtype = {t}", formula.unwrap_or_default(), aliases.join(", "));
            out.push(ptx::module(&genred(&text), format!("op_table_{t}_{g}")));
        }
    }
    out
}

/// Op-table cases per kernel of [`op_table_modules`].
const OPS_PER_KERNEL: usize = 24;

/// A few large or function-heavy formulas (forward only: their gradients are larger still and
/// slow to assemble), and every basic primitive.
fn heavy_modules() -> Vec<Module> {
    let mut out = Vec::new();
    let heavy = [
        "|x_i: [f32; 4], y_j: [f32; 4]| sum_j log(1.5 + sin(x_i * y_j)) * sqrt(2.0 + cos(x_i - y_j)) + atan2(x_i, y_j)",
        "|x_i: [f64; 4], y_j: [f64; 4]| sum_i asin(x_i * y_j * 0.5) + acos(y_j * 0.5) * exp(x_i) + powf(abs(x_i) + 1.0, y_j)",
        "|x_i: [f32; 3], y_j: [f32; 3]| sum_j relu(x_i - y_j) + abs(x_i) * sign(y_j) + step(x_i + y_j) + ifelse(x_i - y_j, x_i, rsqrt(y_j))",
        "|x_i: [f32; 64], y_j: [f32; 64], b_j: [f32; 4]| sum_j exp(-sqdist(x_i, y_j)) * b_j",
    ];
    for (n, text) in heavy.iter().enumerate() {
        out.push(ptx::module(&kernel(text), format!("heavy{n}")));
    }
    for dtype in [DType::F32, DType::F64] {
        out.push(ptx::primitive_module(dtype));
    }
    out
}

/// `ptxas`, or `None` (after printing `SKIPPED: no ptxas`) if there is none and none is
/// required.
fn ptxas() -> Option<PathBuf> {
    let found = match std::env::var_os("KEOPS_PTXAS") {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "KEOPS_PTXAS={} is not a file", p.display());
            Some(p)
        }
        None => std::env::var_os("PATH")
            .and_then(|path| std::env::split_paths(&path).map(|d| d.join("ptxas")).find(|p| p.is_file())),
    };
    if found.is_none() {
        let required = std::env::var("KEOPS_REQUIRE_PTXAS").is_ok_and(|v| v == "1");
        assert!(!required, "KEOPS_REQUIRE_PTXAS=1 but no ptxas: set KEOPS_PTXAS or put ptxas on the PATH");
        println!("SKIPPED: no ptxas");
    }
    found
}

/// A fresh directory for this test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keops-ptxas-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Assembles `module` (written to `dir` by [`assemble_all`]) for `arch` with `-v`; returns
/// ptxas's report, or its errors.
fn assemble(ptxas: &Path, dir: &Path, module: &Module, arch: &str) -> Result<String, String> {
    let file = dir.join(format!("{}.ptx", module.name));
    let out = Command::new(ptxas)
        .args([&format!("-arch={arch}"), "-v", "-o"])
        .arg(dir.join(format!("{}_{arch}.cubin", module.name)))
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", ptxas.display()));
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() { Ok(report) } else { Err(report) }
}

/// Assembles every module for every architecture, on all cores; returns each module's name,
/// architecture and report, or panics listing every failure.
fn assemble_all(
    ptxas: &Path,
    test: &str,
    modules: &[Module],
    archs: &[&'static str],
) -> Vec<(String, &'static str, String)> {
    let dir = scratch(test);
    for m in modules {
        std::fs::write(dir.join(format!("{}.ptx", m.name)), &m.ptx).unwrap();
    }
    let jobs: Vec<(&Module, &'static str)> =
        modules.iter().flat_map(|m| archs.iter().map(move |&a| (m, a))).collect();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let results: Vec<(String, &str, Result<String, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (jobs, dir) = (&jobs, &dir);
                s.spawn(move || {
                    (jobs.iter().skip(w).step_by(workers))
                        .map(|&(m, arch)| (m.name.clone(), arch, assemble(ptxas, dir, m, arch)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let _ = std::fs::remove_dir_all(&dir);
    let failures: Vec<String> = (results.iter())
        .filter_map(|(name, arch, r)| r.as_ref().err().map(|e| format!("{name} for {arch}:\n{e}")))
        .collect();
    assert!(failures.is_empty(), "ptxas rejected {} module(s):\n{}", failures.len(), failures.join("\n"));
    results.into_iter().map(|(name, arch, r)| (name, arch, r.unwrap_or_default())).collect()
}

/// The numbers before `what` in a ptxas `-v` report (`12 bytes spill stores` -> 12).
fn numbers_before(report: &str, what: &str) -> Vec<u64> {
    report
        .match_indices(what)
        .filter_map(|(at, _)| report[..at].split_whitespace().next_back()?.parse().ok())
        .collect()
}

#[test]
fn embedded_modules_are_the_generators() {
    let embedded = Gauss::new().ptx_modules();
    let generated = modules_of(&kernel(GAUSS_F32), "Gauss");
    let names: Vec<&str> = embedded.iter().map(|m| m.0).collect();
    assert_eq!(names, ["Gauss", "Gauss__Grad0", "Gauss__Grad1", "Gauss__Grad2"]);
    assert_eq!(embedded.len(), generated.len());
    for (&(name, text), module) in embedded.iter().zip(&generated) {
        assert_eq!(name, module.name);
        assert_eq!(text, module.ptx, "{name}: the embedded PTX differs from the generator's");
        assert!(text.contains(&format!(".entry {}(", ptx::ENTRY)), "{name}");
    }
}

#[test]
fn every_module_assembles() {
    let Some(ptxas) = ptxas() else { return };
    let mut modules = reduction_modules();
    modules.extend(heavy_modules());
    let reports = assemble_all(&ptxas, "all", &modules, ARCHS);
    println!("ptxas accepted {} modules for {}", reports.len() / ARCHS.len(), ARCHS.join(", "));
}

/// The op table's kernels take seconds each to assemble: one architecture (the primitives they
/// are made of are assembled for all of them above).
#[test]
fn every_operation_assembles() {
    let Some(ptxas) = ptxas() else { return };
    assemble_all(&ptxas, "ops", &op_table_modules(), &["sm_80"]);
}

/// Kernels of dimension 256 (the Gaussian kernel sum with a scalar and a 256-wide `b`, a
/// log-sum-exp and a min-argmin of a squared distance), in f32 and f64, with the backward
/// kernels of the first; and the large kernels of pykeops' own tests.
fn large_modules() -> Vec<Module> {
    let mut out = Vec::new();
    for t in ["f32", "f64"] {
        let gauss =
            format!("|x_i: [{t}; 256], y_j: [{t}; 256], b_j: [{t}; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j");
        out.extend(modules_of(&kernel(&gauss), &format!("large_gauss_{t}")));
        for (name, text) in [
            (
                "large_gauss_wide",
                format!(
                    "|x_i: [{t}; 256], y_j: [{t}; 256], b_j: [{t}; 256]| sum_j exp(-sqdist(x_i, y_j)) * b_j"
                ),
            ),
            ("large_logsumexp", format!("|x_i: [{t}; 256], y_j: [{t}; 256]| logsumexp_j -sqdist(x_i, y_j)")),
            ("large_min_argmin", format!("|x_i: [{t}; 256], y_j: [{t}; 256]| min_argmin_j sqdist(x_i, y_j)")),
        ] {
            out.push(ptx::module(&kernel(&text), format!("{name}_{t}")));
        }
    }
    // pykeops' chunked-mode tests (`test_chunks.py`, `test_finalchunks.py`): D = 300 with its
    // backward kernels, and an output of width 300.
    out.extend(modules_of(
        &genred(r#""Exp(-SqDist(x, y)) * b", ["x = Vi(300)", "y = Vj(300)", "b = Vj(1)"], axis = 1"#),
        "chunks",
    ));
    let finalchunks = r#""Exp(-SqDist(x, y)) * b", ["x = Vi(3)", "y = Vj(3)", "b = Vj(300)"], axis = 1"#;
    out.push(ptx::module(&genred(finalchunks), "finalchunks".into()));
    out
}

/// pykeops' `Min_ArgMin` over D = 990 (`test_torch.py`) assembles. It does spill: ptxas
/// schedules its 990 streamed exponentials for parallelism and runs out of registers (255
/// registers and about 1.9 KB of stack on sm_80), which loops over the components would avoid;
/// the report is printed, not asserted.
#[test]
fn dimension_990_assembles() {
    let Some(ptxas) = ptxas() else { return };
    let text =
        r#""Sum(Exp(-Square(x + y)))", ["x = Vi(990)", "y = Vj(990)"], reduction = "Min_ArgMin", axis = 0"#;
    let modules = [ptx::module(&genred(text), "min_argmin_990".into())];
    for (name, arch, report) in assemble_all(&ptxas, "d990", &modules, &["sm_80"]) {
        println!("{name} for {arch}:\n{report}");
    }
}

/// Checks that no entry point of `modules` (assembled for every architecture) spills registers,
/// printing each one's registers and its block's shared memory.
fn assert_no_spill(test: &str, modules: &[Module]) {
    let Some(ptxas) = ptxas() else { return };
    for (name, arch, report) in assemble_all(&ptxas, test, modules, ARCHS) {
        let module = modules.iter().find(|m| m.name == name).unwrap();
        let entries: Vec<&str> = report.split("Compiling entry function '").skip(1).collect();
        assert_eq!(entries.len(), 3, "{name} for {arch}: three entry points in\n{report}");
        for entry in entries {
            let function = entry.split('\'').next().unwrap_or_default();
            let spilled: u64 = numbers_before(entry, "bytes spill").iter().sum();
            let stack: u64 = numbers_before(entry, "bytes stack frame").iter().sum();
            let registers = numbers_before(entry, "registers");
            assert_eq!(registers.len(), 1, "{name}::{function} for {arch}: no register count in\n{report}");
            let shared = match function {
                ptx::ENTRY_MERGE => 0,
                _ => module.block * module.shared_per_thread,
            };
            println!(
                "{name}::{function} {arch}: {} registers, {spilled} bytes spilled, block {}, {shared} bytes of shared memory",
                registers[0], module.block
            );
            assert_eq!(spilled + stack, 0, "{name}::{function} spills registers on {arch}:\n{report}");
        }
    }
}

#[test]
fn gaussian_kernels_do_not_spill() {
    assert_no_spill("gauss", &gaussian_modules());
}

/// Large kernels keep what does not fit in registers in shared memory, and stream their pair
/// program: none spills, forward or backward, on any architecture.
#[test]
fn large_kernels_do_not_spill() {
    let modules = large_modules();
    for m in &modules {
        // What every device of compute capability 7.0 or more (7.5 apart) grants a block.
        assert!(
            m.block * m.shared_per_thread <= 96 * 1024,
            "{}: {} bytes",
            m.name,
            m.block * m.shared_per_thread
        );
    }
    assert_no_spill("large", &modules);
}

/// `cuobjdump`: `$KEOPS_CUOBJDUMP`, else on the `PATH`, or `None` (after printing `SKIPPED`)
/// unless `KEOPS_REQUIRE_PTXAS=1`, which requires it too.
fn cuobjdump() -> Option<PathBuf> {
    let found = match std::env::var_os("KEOPS_CUOBJDUMP") {
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::var_os("PATH")
            .and_then(|path| std::env::split_paths(&path).map(|d| d.join("cuobjdump")).find(|p| p.is_file())),
    };
    if found.is_none() {
        let required = std::env::var("KEOPS_REQUIRE_PTXAS").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "KEOPS_REQUIRE_PTXAS=1 but no cuobjdump: set KEOPS_CUOBJDUMP or put it on the PATH"
        );
        println!("SKIPPED: no cuobjdump");
    }
    found
}

/// The bench example's standard kernels (`examples/bench.rs`; `grad` is the Gaussian sum's
/// backward kernel for input 1, `x_i`) and three of its `--extra` ones with square roots and
/// divisions, and the machine instructions per pair of their sm_90
/// pair loops as recorded with `.ci/run`'s ptxas (12.9), in each `GpuMath` mode
/// (reproducible, accurate, fast): the instructions of the longest innermost loop (the loop
/// over groups of pairs, which ptxas may unroll further), whether executed or skipped (an
/// ArgKMin's insertion is skipped for most pairs), divided by its pairs (the tile rows it
/// loads from shared memory). A change to the PTX generator that makes one of these loops
/// longer than its record by more than [`SASS_MARGIN`] fails [`pair_loops_keep_their_length`],
/// so that GPU speed cannot regress unseen on machines without a GPU; lower the record when a
/// change shortens a loop (the test prints the counts).
const PAIR_LOOPS: &[(&str, &str, Option<usize>, [f64; 3])] = &[
    ("gauss", BENCH_GAUSS, None, [29.75, 17.44, 11.31]),
    ("grad", BENCH_GAUSS, Some(1), [33.75, 22.75, 15.31]),
    (
        "argkmin",
        "|x_i: [f32; 3], y_j: [f32; 3]| argkmin_j::<10> sqdist(x_i, y_j)",
        None,
        [58.25, 58.25, 58.25],
    ),
    (
        "lse",
        "|ie: f32, x_i: [f32; 3], y_j: [f32; 3], h_j: f32| logsumexp_j h_j - ie * sqdist(x_i, y_j)",
        None,
        [37.75, 26.75, 20.25],
    ),
    (
        "laplace",
        "|x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-norm2(x_i - y_j)) * b_j",
        None,
        [44.25, 34.0, 11.31],
    ),
    (
        "cauchy",
        "|x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j inv(1.0 + sqdist(x_i, y_j)) * b_j",
        None,
        [24.0, 24.0, 14.38],
    ),
    (
        "nbody",
        "|x_i: [f32; 3], y_j: [f32; 3], m_j: f32, e2: f32| sum_j((y_j - x_i) * m_j * pow(rsqrt(sqdist(x_i, y_j) + e2), 3))",
        None,
        [64.25, 30.25, 20.25],
    ),
];

const BENCH_GAUSS: &str =
    "|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j";

/// How much longer than its record a pair loop may grow.
const SASS_MARGIN: f64 = 0.03;

/// The instructions of a function's machine code (`cuobjdump -sass`), with their addresses.
fn sass_functions(sass: &str) -> Vec<(String, Vec<(u64, String)>)> {
    let mut out: Vec<(String, Vec<(u64, String)>)> = Vec::new();
    for line in sass.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("Function : ") {
            out.push((name.trim().to_string(), Vec::new()));
            continue;
        }
        let Some(rest) = line.strip_prefix("/*") else { continue };
        let Some((address, text)) = rest.split_once("*/") else { continue };
        let (Ok(address), Some(f)) = (u64::from_str_radix(address, 16), out.last_mut()) else { continue };
        let text = text.trim();
        if !text.is_empty() && !text.starts_with("/*") {
            f.1.push((address, text.trim_end_matches(|c| c != ';').trim_end_matches(';').trim().to_string()));
        }
    }
    out
}

/// The loops of a function's machine code: each backward branch's target and address, as
/// instruction positions; innermost loops are those that contain no other.
fn innermost_loops(code: &[(u64, String)]) -> Vec<std::ops::Range<usize>> {
    let position = |address: u64| code.iter().position(|&(a, _)| a == address);
    let mut loops = Vec::new();
    for (at, (address, text)) in code.iter().enumerate() {
        let Some(target) = text.split_whitespace().last().and_then(|t| t.strip_prefix("0x")) else {
            continue;
        };
        let target = u64::from_str_radix(target.trim_end_matches(';'), 16).ok();
        if text.contains("BRA")
            && target.is_some_and(|t| t < *address)
            && let Some(start) = target.and_then(position)
        {
            loops.push(start..at + 1);
        }
    }
    let contains = |a: &std::ops::Range<usize>, b: &std::ops::Range<usize>| {
        a != b && a.start <= b.start && b.end <= a.end
    };
    loops.iter().filter(|l| !loops.iter().any(|other| contains(l, other))).cloned().collect()
}

#[test]
fn pair_loops_keep_their_length() {
    let (Some(ptxas), Some(cuobjdump)) = (ptxas(), cuobjdump()) else { return };
    let dir = scratch("sass");
    let mut grown = Vec::new();
    for &(name, text, grad, records) in PAIR_LOOPS {
        let kernel = match grad {
            None => kernel(text),
            Some(pos) => match &plan(&kernel(text)).unwrap().0[pos] {
                keops_core::backward::Backward::Reduction { kernel, .. } => (**kernel).clone(),
                other => panic!("{name}: the gradient of input {pos} is {other:?}"),
            },
        };
        for (math, recorded) in GpuMath::ALL.into_iter().zip(records) {
            let k = Kernel { gpu_math: math, ..kernel.clone() };
            let per_pair = pair_loop(&ptxas, &cuobjdump, &dir, &k, &format!("{name}_{}", math.name()));
            println!(
                "{name}, {}: {per_pair:.2} machine instructions a pair (recorded {recorded})",
                math.name()
            );
            if per_pair > recorded * (1.0 + SASS_MARGIN) {
                grown.push(format!(
                    "{name}, {}: {per_pair:.2} instructions a pair, recorded {recorded}",
                    math.name()
                ));
            } else if per_pair < recorded * (1.0 - SASS_MARGIN) {
                println!("note: this pair loop is shorter than recorded: lower its record in PAIR_LOOPS");
            }
        }
    }
    assert!(grown.is_empty(), "pair loops grew beyond their records:\n{}", grown.join("\n"));
}

/// The machine instructions per pair of the sm_90 pair loop of `kernel`'s [`ptx::ENTRY`],
/// assembled in `dir` as `name`.
fn pair_loop(ptxas: &Path, cuobjdump: &Path, dir: &Path, kernel: &Kernel, name: &str) -> f64 {
    let module = ptx::module(kernel, name.to_string());
    std::fs::write(dir.join(format!("{name}.ptx")), &module.ptx).unwrap();
    assemble(ptxas, dir, &module, "sm_90").unwrap_or_else(|e| panic!("{name}: {e}"));
    let cubin = dir.join(format!("{name}_sm_90.cubin"));
    let out = Command::new(cuobjdump).arg("-sass").arg(&cubin).output().unwrap();
    assert!(out.status.success(), "cuobjdump: {}", String::from_utf8_lossy(&out.stderr));
    let functions = sass_functions(&String::from_utf8_lossy(&out.stdout));
    let (_, code) = functions.iter().find(|(f, _)| f == ptx::ENTRY).expect("the entry point's code");
    // The longest innermost loop: the generator's loop over groups of pairs, which ptxas may
    // unroll further; its pairs are counted by the bytes it loads from the tile.
    let main = innermost_loops(code).into_iter().max_by_key(|l| l.len()).expect("a pair loop");
    let bytes: usize = code[main.clone()].iter().map(|(_, text)| shared_load_bytes(text)).sum();
    let row = ptx::tile_row_bytes(kernel);
    assert!(
        bytes > 0 && bytes.is_multiple_of(row),
        "{name}: the pair loop loads {bytes} bytes, rows of {row}"
    );
    main.len() as f64 / (bytes / row) as f64
}

/// The bytes that a shared-memory load instruction (`LDS`, `LDS.64`, `LDS.128`) reads, 0 for
/// any other instruction.
fn shared_load_bytes(text: &str) -> usize {
    let op = text.split_whitespace().find(|w| !w.starts_with('@')).unwrap_or("");
    match op {
        "LDS" | "LDS.32" => 4,
        "LDS.64" => 8,
        "LDS.128" => 16,
        _ => 0,
    }
}
