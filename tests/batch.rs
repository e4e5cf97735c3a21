//! Batch dimensions with broadcasting, against pykeops 2.3 on the same inputs
//! (`tests/data/keops_batch/make.py`): the Gaussian case of pykeops' own batch test with its
//! gradients, a log-sum-exp with a batched parameter and its gradient, and an ArgKMin; shapes
//! that do not fit are errors. Every reduction kind is batched in `tests/reductions.rs`.
//! Run on its own with `cargo test --test batch`.

mod common;

use common::json::Json;
use keops::batch::{self, Batches};
use keops::{Error, genred};

fn case(name: &str) -> Json {
    let path = format!("{}/tests/data/keops_batch/cases.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let cases = Json::parse(&text);
    let found = cases.arr().iter().find(|c| c.get("name").map(Json::str) == Some(name)).cloned();
    found.unwrap_or_else(|| panic!("no case `{name}`"))
}

fn nums(case: &Json, key: &str) -> Vec<f64> {
    case.get(key).unwrap_or_else(|| panic!("no `{key}`")).nums()
}

/// The case's inputs and their batch shapes.
fn inputs(case: &Json) -> (Vec<Vec<f64>>, Batches) {
    let inputs = case.get("inputs").unwrap().arr().iter().map(Json::nums).collect();
    let shapes: Vec<Vec<usize>> = case
        .get("shapes")
        .unwrap()
        .arr()
        .iter()
        .map(|s| s.nums().into_iter().map(|d| d as usize).collect())
        .collect();
    let shapes: Vec<&[usize]> = shapes.iter().map(Vec::as_slice).collect();
    (inputs, Batches::new(&shapes).unwrap())
}

/// pykeops' `test_lazytensor_gaussian_batch.py`: x of batch shape (1, B2), y of (B1, B2), b of
/// (B1, 1); the sum, and the gradients of sum(out^2) with respect to b and x, each summed over
/// the batches its input is shared by.
#[test]
fn gaussian_batch_and_its_gradients_are_pykeops() {
    let c = case("gaussian");
    let k = genred!(
        "Exp(-SqDist(x, y)) * b",
        ["x = Vi(3)", "y = Vj(3)", "b = Vj(2)"],
        reduction_op = "Sum",
        axis = 1,
        dtype = "float64"
    );
    let (inputs, batches) = inputs(&c);
    assert_eq!(batches.shape(), [3, 4]);
    let out = batch::eval_flat(&k, &inputs, &batches).unwrap();
    common::assert_close(&out, &nums(&c, "out"), 1e-12, 1e-12, "out");
    let e = nums(&c, "e");
    let grad_b = batch::grad_flat(&k, 2, &inputs, &e, &batches).unwrap();
    common::assert_close(&grad_b, &nums(&c, "grad_b"), 1e-12, 1e-12, "d/db");
    let grad_x = batch::grad_flat(&k, 0, &inputs, &e, &batches).unwrap();
    common::assert_close(&grad_x, &nums(&c, "grad_x"), 1e-12, 1e-12, "d/dx");
}

/// A log-sum-exp whose parameter has a batch of its own, shared along the second dimension.
#[test]
fn logsumexp_with_a_batched_parameter_is_pykeops() {
    let c = case("logsumexp");
    let k = genred!(
        "-s * SqDist(x, y)",
        ["x = Vi(3)", "y = Vj(3)", "s = Pm(1)"],
        reduction_op = "LogSumExp",
        axis = 1,
        dtype = "float64"
    );
    let (inputs, batches) = inputs(&c);
    let out = batch::eval_flat(&k, &inputs, &batches).unwrap();
    common::assert_close(&out, &nums(&c, "out"), 1e-12, 1e-12, "out");
    let grad_s = batch::grad_flat(&k, 2, &inputs, &nums(&c, "e"), &batches).unwrap();
    common::assert_close(&grad_s, &nums(&c, "grad_s"), 1e-11, 1e-12, "d/ds");
}

/// The 3 nearest neighbours within each batch: indices count within the batch.
#[test]
fn argkmin_counts_indices_within_each_batch_as_pykeops() {
    let c = case("argkmin");
    let k = genred!(
        "SqDist(x, y)",
        ["x = Vi(3)", "y = Vj(3)"],
        reduction_op = "ArgKMin",
        opt_arg = 3,
        axis = 1,
        dtype = "float64"
    );
    let (inputs, batches) = inputs(&c);
    assert_eq!(batch::eval_flat(&k, &inputs, &batches).unwrap(), nums(&c, "out"));
}

#[test]
fn inputs_that_do_not_fill_their_batches_are_errors() {
    let k = genred!(
        "SqDist(x, y)",
        ["x = Vi(3)", "y = Vj(3)"],
        reduction_op = "Sum",
        axis = 1,
        dtype = "float64"
    );
    let (x, y) = (vec![0.0; 2 * 5 * 3], vec![0.0; 4 * 3]);
    let batched = Batches::new(&[&[2], &[1]]).unwrap();
    assert_eq!(batch::eval_flat(&k, &[&x, &y], &batched).unwrap().len(), 2 * 5);

    let odd = Batches::new(&[&[4], &[1]]).unwrap();
    assert!(matches!(batch::eval_flat(&k, &[&x, &y], &odd), Err(Error::Batch { .. })));
    let one_shape = Batches::new(&[&[2]]).unwrap();
    assert!(matches!(batch::eval_flat(&k, &[&x, &y], &one_shape), Err(Error::Batch { .. })));
    let ragged = vec![0.0; 2 * 5 * 3 + 2];
    let err = batch::eval_flat(&k, &[&ragged, &y], &batched).unwrap_err();
    assert!(matches!(err, Error::Length { .. }), "{err}");
    let e = vec![1.0; 2 * 5 - 1];
    let err = batch::grad_flat(&k, 0, &[&x, &y], &e, &batched).unwrap_err();
    assert!(matches!(err, Error::GradientShape { .. }), "{err}");
    assert!(matches!(
        Batches::new(&[&[2, 3], &[3, 3]]),
        Err(Error::Batch { reason }) if reason.contains("dimension 0")
    ));
}
