//! Instructions as calls of the runtime's `Math` methods, and the scalar prepasses that compute
//! each row's features.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{constant, scalar_type, val_ident, val_tokens};
use crate::check::Kernel;
use crate::ir::Role;
use crate::lower::{Inst, Program, Staged, Val};

/// `m.prim(a, b)` for the instruction defining `v`, with operands rendered by `operand`.
pub(super) fn inst_tokens(
    kernel: &Kernel,
    program: &Program,
    v: Val,
    operand: &dyn Fn(Val) -> TokenStream,
) -> TokenStream {
    match program.inst(v) {
        Inst::Load { var, comp } => {
            let p = &kernel.params[var];
            let dim = p.dim;
            let index = if p.role == Role::Param { quote!(#comp) } else { quote!(row * #dim + #comp) };
            quote!(vars[#var][#index])
        }
        Inst::Const(bits) => {
            let c = constant(kernel.dtype, f64::from_bits(bits));
            quote!(m.splat(#c))
        }
        Inst::Prim(prim, _) => {
            debug_assert!(!prim.is_expanded(), "{prim:?} is expanded when it is emitted");
            let method = format_ident!("{}", prim.method());
            let args = program.inst(v).operands().iter().map(|&a| operand(a)).collect::<Vec<_>>();
            quote!(m.#method(#(#args),*))
        }
    }
}

/// Above this many instructions, a function declares its values up front, in groups of this
/// many, and assigns them afterwards: every `let` opens a nested debug-info scope, and LLVM
/// recurses once per level when it emits them, which overflows its stack on very large formulas
/// in debug builds. (Keeping the values in an array instead avoids the nesting but makes LLVM's
/// optimiser superlinear: minutes per kernel.)
const MAX_LETS: usize = 1024;

/// The statements defining the variables `ids` from their expressions.
pub(super) fn bind(ids: Vec<syn::Ident>, exprs: Vec<TokenStream>) -> TokenStream {
    bind_groups(ids.into_iter().map(|id| vec![id]).collect(), exprs)
}

/// As [`bind`], where an expression may give a tuple of several values.
pub(super) fn bind_groups(groups: Vec<Vec<syn::Ident>>, exprs: Vec<TokenStream>) -> TokenStream {
    let pattern = |ids: &[syn::Ident]| match ids {
        [id] => quote!(#id),
        _ => quote!((#(#ids,)*)),
    };
    let ids: Vec<&syn::Ident> = groups.iter().flatten().collect();
    if ids.len() <= MAX_LETS {
        let patterns = groups.iter().map(|g| pattern(g));
        return quote!(#(let #patterns = #exprs;)*);
    }
    let declarations = ids.chunks(MAX_LETS).map(|group| quote!(let (#(#group,)*);));
    let patterns = groups.iter().map(|g| pattern(g));
    quote! {
        #(#declarations)*
        #(#patterns = #exprs;)*
    }
}

/// A prepass: scalar code computing `features` for one row.
pub(super) fn prepass(kernel: &Kernel, staged: &Staged, features: &[Val]) -> TokenStream {
    let t = scalar_type(kernel.dtype);
    let program = &staged.program;
    let order = staged.schedule(features, |_| true);
    let exprs = order.iter().map(|&v| inst_tokens(kernel, program, v, &val_tokens)).collect();
    let body = bind(order.iter().map(|&v| val_ident(v)).collect(), exprs);
    let outs = features.iter().map(|&v| val_tokens(v));
    quote! {
        use ::keops::__private::Math as _;
        let m = ::keops::__private::Scalar::<#t>::new();
        #body
        [#(#outs),*]
    }
}
