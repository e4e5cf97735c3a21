//! Every operation of the op table, through generated code: every test case of every op, in
//! f32 and f64, must agree with keops-core's reference evaluator on random inputs in the
//! case's domain. The kernels are compiled from the op table itself by the hidden
//! `keops::__op_table_kernels!` (as `genred!` would compile them), one per float type; their
//! output is the concatenation of every case's result, in table order. An op without a test
//! case fails.

mod common;

use common::{assert_close, checked, random_inputs_in, tolerance};
use keops::{Kernel, Real, VarInfo};
use keops_core::ops::Op;

/// Output rows and reduced rows: odd sizes, more than one SIMD width.
const SIZES: &[(usize, usize)] = &[(7, 13), (1, 37)];

/// The range of a variable `{KeOpsName}_{case}_{operand}`; the multiplier `s` is 1.
fn range(v: &VarInfo) -> (f64, f64) {
    let mut parts = v.name.rsplitn(3, '_');
    let (Some(k), Some(case), Some(op)) = (parts.next(), parts.next(), parts.next()) else {
        return (1.0, 1.0);
    };
    let spec = Op::from_keops_name(op).unwrap_or_else(|| panic!("no op `{op}`")).spec();
    let (_, lo, hi) = spec.tests[case.parse::<usize>().unwrap()].operands[k.parse::<usize>().unwrap()];
    (lo, hi)
}

/// Runs a generated op-table kernel and compares each case's components with the reference.
fn check<K: Kernel>(k: &K) {
    let info = k.info();
    let reference = checked(k);
    let tol = tolerance(k);
    for (seed, &(m, n)) in SIZES.iter().enumerate() {
        let inputs = random_inputs_in(k, m, n, &range, seed as u64);
        let got: Vec<f64> = k.eval_flat(&inputs).unwrap().into_iter().map(Real::to_f64).collect();
        let inputs64: Vec<Vec<f64>> = inputs.iter().map(|v| v.iter().map(|x| x.to_f64()).collect()).collect();
        let refs: Vec<&[f64]> = inputs64.iter().map(Vec::as_slice).collect();
        let want = keops_core::eval::evaluate(&reference, &refs).unwrap().values;
        let width = info.value_width;
        let mut offset = 0;
        for &op in Op::ALL {
            let spec = op.spec();
            for (c, case) in spec.tests.iter().enumerate() {
                let dims: Vec<usize> = case.operands.iter().map(|o| o.0).collect();
                let dim = spec.output_dim(&dims, case.attrs).unwrap();
                let part = |v: &[f64]| -> Vec<f64> {
                    v.chunks(width).flat_map(|row| row[offset..offset + dim].to_vec()).collect()
                };
                let what = format!("`{}` case {c} {case:?} in {}, M = {m}, N = {n}", spec.keops, info.dtype);
                assert_close(&part(&got), &part(&want), tol, tol, &what);
                offset += dim;
            }
        }
        assert_eq!(offset, width, "the kernel's output is the concatenation of every case");
    }
}

#[test]
fn every_op_agrees_with_the_reference() {
    for &op in Op::ALL {
        let spec = op.spec();
        assert!(
            !spec.tests.is_empty(),
            "`{}` has no test case: add one to its row of the op table",
            spec.keops
        );
    }
    common::on_big_stacks(|| keops::__op_table_kernels!(check));
}
