//! The compile-time half of keops: formula IR, parsers, checker, reference evaluator and code
//! generators, shared by the `keops!` / `genred!` macros and by tests.
//!
//! The pipeline is: a syntax ([`syntax::math`] for `keops!`, [`syntax::keops`] for `genred!`)
//! parses to the [`ast`]; the checker ([`check`]) resolves names against the op table
//! ([`ops`]), checks dimensions and builds the hash-consed IR ([`ir`]), differentiating where
//! asked ([`autodiff`]); [`lower`] turns the IR into scalar instructions ([`prim`]) split into
//! stages, expanding transcendental functions into basic instructions ([`math`]); [`backward`]
//! plans the gradient kernels; the code generators ([`codegen`]) print all of it. [`eval`]
//! interprets the IR in f64 as an oracle; [`interp`] runs a scalar program in its own type, as a
//! backend does.

pub mod ast;
pub mod autodiff;
pub mod backward;
pub mod check;
pub mod codegen;
pub mod diag;
pub mod eval;
pub mod interp;
pub mod ir;
pub mod lower;
pub mod math;
pub mod ops;
pub mod prim;
pub mod reduction;
pub mod specialize;
pub mod syntax;

mod expand;

pub use expand::{expand_genred, expand_keops, expand_op_table_kernels, expand_reduction_kernels};
