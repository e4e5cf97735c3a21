//! The typed methods of a kernel's struct: `eval`, `eval_flat`, and the gradients.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote};

use super::kernel_def::{Values, hidden_kernel};
use super::{TypeDecl, module_named, scalar_type};
use crate::ast::Param;
use crate::backward::{Auxiliary, Backward, Extra};
use crate::check::Kernel;
use crate::codegen::ptx;
use crate::ir::Role;

/// A kernel's inputs in its typed methods.
pub(crate) struct TypedInputs {
    /// The declarations in the signature.
    pub args: Vec<TokenStream>,
    /// Statements giving each parameter its declared type (see [`typed_input`]).
    pub bind: Vec<TokenStream>,
    /// Expressions viewing each input as a flat slice, after `bind`.
    pub flat: Vec<TokenStream>,
}

impl FromIterator<(TokenStream, Option<TokenStream>, TokenStream)> for TypedInputs {
    fn from_iter<I: IntoIterator<Item = (TokenStream, Option<TokenStream>, TokenStream)>>(iter: I) -> Self {
        let mut inputs = TypedInputs { args: vec![], bind: vec![], flat: vec![] };
        for (arg, bind, flat) in iter {
            inputs.args.push(arg);
            inputs.bind.extend(bind);
            inputs.flat.push(flat);
        }
        inputs
    }
}

fn typed_inputs(kernel: &Kernel) -> TypedInputs {
    let t = scalar_type(kernel.dtype);
    kernel.params.iter().map(|p| typed_input(p, &t, &p.dim)).collect()
}

/// One typed input of dimension `dim`: its declaration in a method's signature, the statement
/// that gives a parameter its declared type, and the expression viewing the input as a flat
/// slice. A parameter is declared `impl ParamValue<..>` rather than by its type, so that a
/// wrong argument's error says what a parameter is (the usual mistake: `bj: f32` meant as
/// `b_j`).
pub(crate) fn typed_input(
    p: &Param,
    t: &TokenStream,
    dim: &dyn ToTokens,
) -> (TokenStream, Option<TokenStream>, TokenStream) {
    let name = format_ident!("{}", p.name);
    let bind = quote!(let #name = ::keops::ParamValue::into_value(#name););
    match (p.role, p.bare) {
        (Role::Param, true) => {
            (quote!(#name: impl ::keops::ParamValue<#t>), Some(bind), quote!(::core::slice::from_ref(&#name)))
        }
        (Role::Param, false) => {
            (quote!(#name: impl ::keops::ParamValue<[#t; #dim]>), Some(bind), quote!(&#name[..]))
        }
        (_, true) => (quote!(#name: &[#t]), None, quote!(#name)),
        (_, false) => (quote!(#name: &[[#t; #dim]]), None, quote!(#name.as_flattened())),
    }
}

/// `eval` and `eval_flat`.
pub(super) fn eval_methods(kernel: &Kernel) -> TokenStream {
    let t = scalar_type(kernel.dtype);
    let TypedInputs { args, bind, flat } = typed_inputs(kernel);
    let (values, indices) = kernel.widths();
    let (ret, call) = match (values, indices) {
        (w, 0) => (quote!(::std::vec::Vec<[#t; #w]>), quote!(eval_values::<Self, #w>)),
        (0, w) => (quote!(::std::vec::Vec<[usize; #w]>), quote!(eval_indices::<Self, #w>)),
        (w, _) => {
            (quote!((::std::vec::Vec<[#t; #w]>, ::std::vec::Vec<[usize; #w]>)), quote!(eval_both::<Self, #w>))
        }
    };
    let doc = match (values, indices) {
        (_, 0) => "Evaluates the kernel: one row per output index.",
        (0, _) => "Evaluates the kernel: the selected indices, one row per output index.",
        _ => "Evaluates the kernel: the values, then the indices, one row per output index.",
    };
    quote! {
        #[doc = #doc]
        #[allow(non_snake_case, clippy::too_many_arguments)]
        pub fn eval(&self, #(#args),*) -> ::keops::Result<#ret> {
            #(#bind)*
            ::keops::__private::#call(self, &[#(#flat),*])
        }

        /// Evaluates the kernel on flat row-major inputs in declaration order; returns the
        /// output flat (values, then indices as numbers, for reductions that return both).
        pub fn eval_flat<S: ::core::convert::AsRef<[#t]>>(&self, inputs: &[S]) -> ::keops::Result<::std::vec::Vec<#t>> {
            ::keops::__private::eval_flat(self, inputs)
        }
    }
}

/// The backward kernels, the gradient struct and the `grad` / `grad_flat` methods; and the body
/// of `KernelDef::backward`, which dispatches to them.
pub(super) fn backward(
    kernel: &Kernel,
    decl: &TypeDecl,
    (plans, aux): &(Vec<Backward>, Auxiliary),
    modules: &[ptx::Module],
) -> (TokenStream, TokenStream) {
    let TypeDecl { vis, name, .. } = decl;
    let t = scalar_type(kernel.dtype);
    let mut hidden = TokenStream::new();
    let aux_name = format_ident!("{}__Aux", name);
    if let Some(a) = aux.log_sum_exp.as_ref().or(aux.selection.as_ref()) {
        hidden.extend(hidden_kernel(a, &aux_name, module_named(modules, &aux_name), Values::Reduced));
    }
    // Per input: the expression computing its gradient from the backward pass `bp`.
    let bodies: Vec<TokenStream> = plans
        .iter()
        .enumerate()
        .map(|(pos, plan)| {
            let ident = format_ident!("{}__Grad{}", name, pos);
            match plan {
                Backward::Zero => quote!(::core::result::Result::Ok(bp.zero(#pos))),
                Backward::Refused(reason) => {
                    let var = &kernel.params[pos].name;
                    quote!(::core::result::Result::Err(::keops::Error::NotDifferentiable {
                        var: #var,
                        reason: ::std::string::String::from(#reason),
                    }))
                }
                Backward::Reduction { kernel: k, extras, sum_rows } => {
                    hidden.extend(hidden_kernel(k, &ident, module_named(modules, &ident), Values::Reduced));
                    let extras = extras.iter().map(|x| match x {
                        Extra::Gradient => quote!(bp.gradient()),
                        Extra::Output => quote!(bp.output()?),
                        Extra::LogSumExp => quote!(&bp.auxiliary::<#aux_name>()?.0),
                    });
                    quote!(bp.reduction::<#ident>(&[#(#extras),*], #sum_rows))
                }
                Backward::Selection { kernel: k } => {
                    hidden.extend(hidden_kernel(k, &ident, module_named(modules, &ident), Values::Read));
                    quote!(bp.selection::<#aux_name, #ident>(#pos))
                }
            }
        })
        .collect();
    let arms = bodies.iter().enumerate().map(|(pos, body)| quote!(#pos => #body,));
    let backward_fn = quote! {
        #[inline]
        fn backward(&self, bp: &::keops::__private::Backprop<'_, Self>, pos: usize) -> ::keops::Result<::std::vec::Vec<#t>> {
            bp.check(pos)?;
            match pos {
                #(#arms)*
                _ => ::core::result::Result::Ok(bp.zero(pos)),
            }
        }
    };
    let at = quote! {
        /// The gradient of `sum <output, e>` with respect to the input at position `pos`, flat
        /// and row-major. `e` has the shape of the flat output (for reductions that return
        /// values and indices, either the values part or the whole output).
        #[inline]
        pub fn grad_flat<S: ::core::convert::AsRef<[#t]>>(&self, pos: usize, inputs: &[S], e: &[#t]) -> ::keops::Result<::std::vec::Vec<#t>> {
            ::keops::Kernel::grad_flat(self, pos, inputs, e)
        }
    };
    let (values, _) = kernel.widths();
    let typed = (values > 0).then(|| {
        let grad_name = format_ident!("{}Grad", name);
        let TypedInputs { args, bind, flat } = typed_inputs(kernel);
        // The incoming gradient is `e`, unless a variable already has that name.
        let e = format_ident!("{}", if kernel.params.iter().any(|p| p.name == "e") { "__e" } else { "e" });
        // The type of an input's gradient: the input's own.
        let grad_type = |p: &crate::ast::Param| {
            let dim = p.dim;
            match (p.role, p.bare) {
                (Role::Param, true) => quote!(#t),
                (Role::Param, false) => quote!([#t; #dim]),
                (_, true) => quote!(::std::vec::Vec<#t>),
                (_, false) => quote!(::std::vec::Vec<[#t; #dim]>),
            }
        };
        let fields = kernel.params.iter().map(|p| {
            let field = format_ident!("{}", p.name);
            let ty = grad_type(p);
            let doc = format!(" Gradient with respect to `{}`.", p.name);
            quote!(#[doc = #doc] pub #field: #ty,)
        });
        let convert = |p: &crate::ast::Param| {
            let dim = p.dim;
            match (p.role, p.bare) {
                (Role::Param, true) => quote!(::keops::__private::array::<#t, 1>(g)[0]),
                (Role::Param, false) => quote!(::keops::__private::array::<#t, #dim>(g)),
                (_, true) => quote!(g),
                (_, false) => quote!(::keops::__private::rows::<#t, #dim>(g)),
            }
        };
        let values_of = kernel.params.iter().enumerate().map(|(pos, p)| {
            let field = format_ident!("{}", p.name);
            let convert = convert(p);
            quote!(#field: { let g = ::keops::__private::KernelDef::backward(self, &bp, #pos)?; #convert },)
        });
        // One method per input, `grad_x_i`, which builds and runs that input's backward kernel
        // alone (a variable named `flat` has none: `grad_flat` is taken).
        let one_input = kernel.params.iter().zip(&bodies).filter(|(p, _)| p.name != "flat").map(|(p, body)| {
            let method = format_ident!("grad_{}", p.name);
            let ret = grad_type(p);
            let convert = convert(p);
            let doc = format!(
                " The gradient of `sum_r <output_r, e_r>` with respect to `{}` alone, as the field of [`{name}::grad`]'s result; only its backward kernel is built and run.",
                p.name
            );
            quote! {
                #[doc = #doc]
                #[inline]
                #[allow(non_snake_case)]
                pub fn #method(&self, #(#args,)* #e: &[[#t; #values]]) -> ::keops::Result<#ret> {
                    #(#bind)*
                    let inputs = [#(#flat),*];
                    let bp = ::keops::__private::Backprop::new(self, &inputs, #e.as_flattened())?;
                    let g = #body?;
                    ::core::result::Result::Ok(#convert)
                }
            }
        });
        let doc = format!(
            " Gradients of the kernel's output against an incoming gradient, one field per input (see `{name}::grad`)."
        );
        (
            quote! {
                #[doc = #doc]
                #[derive(Clone, Debug, PartialEq)]
                #[allow(non_snake_case, non_camel_case_types)]
                #vis struct #grad_name {
                    #(#fields)*
                }
            },
            quote! {
                /// The gradient of `sum_r <output_r, e_r>` with respect to every input, where
                /// `e` (the gradient flowing back into the output) has the output's shape. A
                /// parameter's gradient is summed over all rows.
                #[inline]
                #[allow(non_snake_case)]
                pub fn grad(&self, #(#args,)* #e: &[[#t; #values]]) -> ::keops::Result<#grad_name> {
                    #(#bind)*
                    let inputs = [#(#flat),*];
                    let bp = ::keops::__private::Backprop::new(self, &inputs, #e.as_flattened())?;
                    ::core::result::Result::Ok(#grad_name { #(#values_of)* })
                }

                #(#one_input)*
            },
        )
    });
    let (grad_struct, grad_method) = typed.unzip();
    (
        backward_fn,
        quote! {
            #grad_struct

            #[allow(dead_code)]
            impl #name {
                #at
                #grad_method
            }

            #hidden
        },
    )
}
