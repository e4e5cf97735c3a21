//! The error type of every fallible call.

use std::fmt;

/// Everything that can go wrong when calling a kernel. Messages name the variable and the shape
/// that was expected.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// `eval_flat` got a different number of inputs than the kernel declares.
    InputCount { expected: usize, got: usize },
    /// An i- or j-variable's length is not a multiple of its dimension.
    Length { var: &'static str, len: usize, dim: usize },
    /// A parameter does not have exactly its dimension's number of values.
    ParamLength { var: &'static str, len: usize, dim: usize },
    /// Two variables indexed by the same index have different row counts.
    RowMismatch { index: char, var: &'static str, rows: usize, first: &'static str, first_rows: usize },
    /// More rows than the reduction's index type can address.
    TooManyRows { index: char, rows: usize, limit: usize },
    /// A gradient input `e` does not have the shape of the output.
    GradientShape { len: usize, expected: usize },
    /// `grad_flat` was asked for a variable position the kernel does not have.
    NoSuchVariable { pos: usize, count: usize },
    /// The requested backend cannot run here (no GPU, or built without the `cuda` feature).
    BackendUnavailable { backend: String, reason: String },
    /// A device-resident input is on another device than the call runs on.
    WrongDevice { var: &'static str, device: usize, expected: usize },
    /// A failure reported by the CUDA driver.
    Cuda { operation: &'static str, message: String },
    /// An array input does not have its variable's number of columns (for the output's
    /// gradient `e`, the output's width).
    Columns { var: &'static str, cols: usize, dim: usize },
    /// A linear solve was asked of a kernel or system that does not allow it.
    Solve { reason: String },
    /// Conjugate gradients did not reach the tolerance within the allowed iterations.
    NotConverged { iterations: usize, residual: f64, tol: f64 },
    /// A kernel with dimensions given at run time (`[f32; _]`) cannot run with the dimensions
    /// given: the formula's dimension rules refuse them, or they are missing.
    Dimensions { reason: String },
    /// The gradient with respect to `var` cannot be taken: an operation of the formula is not
    /// differentiable with respect to an operand that depends on it (as in KeOps), or the
    /// reduction has no gradient (`Max_SumShiftExp`).
    NotDifferentiable { var: &'static str, reason: String },
    /// Block-sparse ranges, or the clusters they are made from, are malformed.
    Ranges { reason: String },
    /// Batch shapes do not broadcast together, or do not match the inputs' lengths.
    Batch { reason: String },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InputCount { expected, got } => {
                write!(f, "the kernel takes {expected} inputs, got {got}")
            }
            Error::Length { var, len, dim } => write!(
                f,
                "input `{var}` has {len} values, which is not a whole number of rows of dimension {dim} (expected a multiple of {dim})"
            ),
            Error::ParamLength { var, len, dim } => {
                write!(f, "parameter `{var}` has {len} values, expected exactly {dim}")
            }
            Error::RowMismatch { index, var, rows, first, first_rows } => write!(
                f,
                "`{var}` has {rows} rows but `{first}` has {first_rows}: all variables indexed by {index} must have the same number of rows"
            ),
            Error::TooManyRows { index, rows, limit } => write!(
                f,
                "{rows} rows along {index} exceed the {limit} that the reduction's indices can address"
            ),
            Error::GradientShape { len, expected } => write!(
                f,
                "the incoming gradient has {len} values, expected {expected} (the shape of the output)"
            ),
            Error::NoSuchVariable { pos, count } => {
                write!(f, "no variable at position {pos}: the kernel has {count}")
            }
            Error::BackendUnavailable { backend, reason } => {
                write!(f, "backend {backend} is unavailable: {reason}")
            }
            Error::WrongDevice { var, device, expected } => write!(
                f,
                "`{var}` is on CUDA device {device}, but the call runs on device {expected}: copy it there first"
            ),
            Error::Cuda { operation, message } => write!(f, "CUDA error in {operation}: {message}"),
            Error::Columns { var, cols, dim } => {
                write!(f, "input `{var}` has {cols} columns, expected {dim} (its dimension)")
            }
            Error::Solve { reason } => write!(f, "cannot solve: {reason}"),
            Error::NotConverged { iterations, residual, tol } => write!(
                f,
                "conjugate gradients did not converge: relative residual {residual:e} after {iterations} iterations (tolerance {tol:e})"
            ),
            Error::Dimensions { reason } => write!(f, "dimensions given at run time: {reason}"),
            Error::NotDifferentiable { var, reason } => {
                write!(f, "no gradient with respect to `{var}`: {reason}")
            }
            Error::Ranges { reason } => write!(f, "block-sparse ranges: {reason}"),
            Error::Batch { reason } => write!(f, "batch dimensions: {reason}"),
        }
    }
}

impl std::error::Error for Error {}
