//! Macro expansion: parse, check, generate; or report every error found.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::check::check;
use crate::codegen::rust::{TypeDecl, kernel_type};
use crate::syntax::math::{MacroInput, parse_macro_input};

/// Expands `keops!(...)`.
pub fn expand_keops(input: TokenStream) -> TokenStream {
    match parse_macro_input(input) {
        Err(errors) => expression_errors(errors.to_compile_errors()),
        Ok(MacroInput::Expr(src)) => match check(&src) {
            Err(errors) => expression_errors(errors.to_compile_errors()),
            Ok(kernel) => {
                let name = format_ident!("__KeopsKernel");
                let decl = TypeDecl { attrs: vec![], vis: syn::Visibility::Inherited, name: name.clone() };
                let ty = kernel_type(&kernel, &decl);
                quote!({
                    #ty
                    #name::new()
                })
            }
        },
        Ok(MacroInput::Items(items)) => items
            .into_iter()
            .map(|item| match check(&item.kernel) {
                Err(errors) => errors.to_compile_errors(),
                Ok(kernel) => {
                    kernel_type(&kernel, &TypeDecl { attrs: item.attrs, vis: item.vis, name: item.name })
                }
            })
            .collect(),
    }
}

/// Errors in expression position: the `compile_error!`s, then a value of any type so that no
/// follow-up type error is reported.
fn expression_errors(errors: TokenStream) -> TokenStream {
    quote!({
        #errors
        #[allow(unreachable_code)]
        loop {}
    })
}
