//! The procedural macros of [keops](https://docs.rs/keops). All the work happens in
//! `keops-core`; see the `keops` crate for documentation.

use proc_macro::TokenStream;

/// Compiles a kernel reduction written in math syntax. See the `keops` crate documentation.
#[proc_macro]
pub fn keops(input: TokenStream) -> TokenStream {
    keops_core::expand_keops(input.into()).into()
}

/// Compiles a kernel reduction written as KeOps formula strings, as pykeops' `Genred`. See the
/// `keops` crate documentation.
#[proc_macro]
pub fn genred(input: TokenStream) -> TokenStream {
    keops_core::expand_genred(input.into()).into()
}

/// Test support: one kernel per (operation, test case, float type) of the op table. Not a stable
/// API.
#[doc(hidden)]
#[proc_macro]
pub fn __op_table_kernels(input: TokenStream) -> TokenStream {
    keops_core::expand_op_table_kernels(input.into()).into()
}

/// Test support: one kernel per (reduction, axis, float type), with backward kernels in f64.
/// Not a stable API.
#[doc(hidden)]
#[proc_macro]
pub fn __reduction_kernels(input: TokenStream) -> TokenStream {
    keops_core::expand_reduction_kernels(input.into()).into()
}

/// The runtime's copies of `exp` and `log`, generated like formula code. For the `keops` crate
/// itself; not a public API.
#[doc(hidden)]
#[proc_macro]
pub fn __runtime_math(_: TokenStream) -> TokenStream {
    keops_core::codegen::rust::runtime_math().into()
}
