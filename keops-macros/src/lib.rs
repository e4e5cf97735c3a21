//! The procedural macros of [keops](https://docs.rs/keops). All the work happens in
//! `keops-core`; see the `keops` crate for documentation.

use proc_macro::TokenStream;

/// Compiles a kernel reduction written in math syntax. See the `keops` crate documentation.
#[proc_macro]
pub fn keops(input: TokenStream) -> TokenStream {
    keops_core::expand_keops(input.into()).into()
}
