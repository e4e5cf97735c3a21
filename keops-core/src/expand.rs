//! Macro expansion: parse, check, generate; or report every error found.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::check::{check, check_names};
use crate::codegen::dynamic::{dynamic_kernel_item, dynamic_kernel_value};
use crate::codegen::rust::{TypeDecl, kernel_type};
use crate::syntax::keops::parse_genred;
use crate::syntax::math::{MacroInput, parse_macro_input};

/// Expands `keops!(...)`.
pub fn expand_keops(input: TokenStream) -> TokenStream {
    match parse_macro_input(input) {
        Err(errors) => errors.to_compile_error_expr(),
        Ok(MacroInput::Expr(src)) => kernel_value(&src),
        Ok(MacroInput::Items(items)) => items
            .into_iter()
            .map(|item| {
                let decl = TypeDecl { attrs: item.attrs, vis: item.vis, name: item.name, backward: true };
                if item.kernel.has_runtime_dims() {
                    return match check_names(&item.kernel) {
                        Err(errors) => errors.to_compile_errors(),
                        Ok(()) => dynamic_kernel_item(&item.kernel, &decl),
                    };
                }
                match check(&item.kernel) {
                    Err(errors) => errors.to_compile_errors(),
                    Ok(kernel) => kernel_type(&kernel, &decl),
                }
            })
            .collect(),
    }
}

/// Expands `genred!(...)`: the same kind of kernel value as `keops!`, from KeOps strings.
pub fn expand_genred(input: TokenStream) -> TokenStream {
    match parse_genred(input) {
        Err(errors) => errors.to_compile_error_expr(),
        Ok(src) => kernel_value(&src),
    }
}

/// A kernel in expression position: its type in a block, and the value.
fn kernel_value(src: &crate::ast::KernelSource) -> TokenStream {
    if src.has_runtime_dims() {
        return match check_names(src) {
            Err(errors) => errors.to_compile_error_expr(),
            Ok(()) => dynamic_kernel_value(src),
        };
    }
    match check(src) {
        Err(errors) => errors.to_compile_error_expr(),
        Ok(kernel) => {
            let name = format_ident!("__KeopsKernel");
            let decl = TypeDecl {
                attrs: vec![],
                vis: syn::Visibility::Inherited,
                name: name.clone(),
                backward: true,
            };
            let ty = kernel_type(&kernel, &decl);
            quote!({
                #ty
                #name::new()
            })
        }
    }
}

/// Expands the hidden `__op_table_kernels!(check)` used by the op-table test: two kernels (f32
/// and f64), each computing every test case of every op of the table, as `genred!` would
/// compile them (without backward kernels), and a call of `check(&kernel)` for each.
///
/// The formula is the concatenation of `Op(operands, attributes)` over the ops and their test
/// cases, in table order, so the test can tell which components belong to which case. Operand
/// `k` of case `c` of an op is the variable `{KeOpsName}_{c}_{k}`; operands are indexed
/// alternately by i and j (starting with i in f32, with j in f64), so that every op is computed
/// per pair of the reduction; a single operand is multiplied by `s`, a variable of the other
/// index that the test fills with ones. One kernel per type, rather than one per case, keeps
/// the test's compile time to that of a couple of kernels.
pub fn expand_op_table_kernels(input: TokenStream) -> TokenStream {
    let checker: syn::Path = match syn::parse2(input) {
        Ok(p) => p,
        Err(e) => return e.to_compile_error(),
    };
    let mut calls = Vec::new();
    for (dtype, flip) in [("f32", 0), ("f64", 1)] {
        let text = op_table_text(dtype, flip);
        let kernel = match crate::syntax::keops::parse_genred_str(&text).and_then(|src| check(&src)) {
            Ok(kernel) => kernel,
            Err(errors) => return errors.to_compile_errors(),
        };
        let name = format_ident!("__OpTable{}", dtype.to_uppercase());
        let decl =
            TypeDecl { attrs: vec![], vis: syn::Visibility::Inherited, name: name.clone(), backward: false };
        let ty = kernel_type(&kernel, &decl);
        calls.push(quote!({
            #ty
            #checker(&#name::new());
        }));
    }
    quote!({ #(#calls)* })
}

/// The `genred!` arguments of the op-table kernel of one float type.
fn op_table_text(dtype: &str, flip: usize) -> String {
    let role = |k: usize| if (k + flip).is_multiple_of(2) { "Vi" } else { "Vj" };
    let mut parts = Vec::new();
    let mut aliases = Vec::new();
    for &op in crate::ops::Op::ALL {
        let spec = op.spec();
        for (c, case) in spec.tests.iter().enumerate() {
            let mut args = Vec::new();
            for (k, &(dim, _, _)) in case.operands.iter().enumerate() {
                let name = format!("{}_{c}_{k}", spec.keops);
                aliases.push(format!("\"{name} = {}({dim})\"", role(k)));
                args.push(name);
            }
            if let [only] = args.as_mut_slice() {
                *only = format!("{only} * s");
            }
            args.extend(crate::ops::attrs::format(spec.attrs, case.attrs));
            parts.push(format!("{}({})", spec.keops, args.join(", ")));
        }
    }
    aliases.push(format!("\"s = {}(1)\"", role(1)));
    format!("\"{}\", [{}], dtype = {dtype}", concat_tree(&parts), aliases.join(", "))
}

/// Expands the hidden `__reduction_kernels!(forward, gradient)` used by the reduction tests:
/// one kernel per reduction of [`ReductionKind::ALL`](crate::reduction::ReductionKind::ALL) (LogSumExp also with a weight), per axis
/// and per float type, as `genred!` would compile them, and a call of `forward(&kernel)` for
/// each; the f64 kernels also get their backward kernels and a call of `gradient(&kernel)`. A
/// reduction added to the table is therefore tested without anyone listing it.
pub fn expand_reduction_kernels(input: TokenStream) -> TokenStream {
    let parser = syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated;
    let checkers = match syn::parse::Parser::parse2(parser, input) {
        Ok(p) if p.len() == 2 => p,
        Ok(p) => {
            return syn::Error::new_spanned(p, "expected `forward, gradient`").to_compile_error();
        }
        Err(e) => return e.to_compile_error(),
    };
    let (forward, gradient) = (&checkers[0], &checkers[1]);
    let mut calls = Vec::new();
    for (n, text) in crate::reduction::test_kernels().into_iter().enumerate() {
        let kernel = match crate::syntax::keops::parse_genred_str(&text).and_then(|src| check(&src)) {
            Ok(kernel) => kernel,
            Err(errors) => return errors.to_compile_errors(),
        };
        let backward = kernel.dtype == crate::ast::DType::F64;
        let name = format_ident!("__Reduction{n}");
        let decl = TypeDecl { attrs: vec![], vis: syn::Visibility::Inherited, name: name.clone(), backward };
        let ty = kernel_type(&kernel, &decl);
        let grad = backward.then(|| quote!(#gradient(&#name::new());));
        calls.push(quote!({
            #ty
            #forward(&#name::new());
            #grad
        }));
    }
    quote!({ #(#calls)* })
}

/// `Concat` of all `parts` in order, as a balanced tree (shallow, whatever the count).
fn concat_tree(parts: &[String]) -> String {
    match parts {
        [one] => one.clone(),
        _ => {
            let (a, b) = parts.split_at(parts.len() / 2);
            format!("Concat({}, {})", concat_tree(a), concat_tree(b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes what the macros expand to (the Rust code and the embedded PTX of every reduction
    /// kernel, forward and backward, of the op-table kernels and of a few typical kernels) to the
    /// file `$KEOPS_DUMP_EXPANSIONS`, to compare the generators' output before and after a change
    /// that should not alter it:
    /// `KEOPS_DUMP_EXPANSIONS=/tmp/after cargo test -p keops-core --lib dump_expansions -- --ignored`.
    #[test]
    #[ignore = "writes a file for a before/after comparison"]
    fn dump_expansions() {
        let Some(path) = std::env::var_os("KEOPS_DUMP_EXPANSIONS") else {
            panic!("set KEOPS_DUMP_EXPANSIONS to the file to write");
        };
        let mut out = expand_reduction_kernels(quote!(f, g)).to_string();
        out += "\n";
        out += &expand_op_table_kernels(quote!(f)).to_string();
        for text in [
            "|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j",
            "|x_i: [f64; 3], y_j: [f64; 3], b_j: [f64; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j",
            "|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 2]| logsumexp_j(-sqdist(x_i, y_j), b_j)",
            "|x_i: [f32; 16], y_j: [f32; 16]| argkmin_j::<10> sqdist(x_i, y_j)",
            "|x_i: [f32; 64], y_j: [f32; 64], b_j: [f32; 64]| sum_j exp(-sqdist(x_i, y_j)) * b_j",
        ] {
            out += "\n";
            out += &expand_keops(text.parse().unwrap()).to_string();
        }
        std::fs::write(path, out).unwrap();
    }
}
