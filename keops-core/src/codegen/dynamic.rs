//! The type `keops!` generates for a kernel with dimensions given at run time (`[f32; _]`): a
//! wrapper of the runtime's `DynKernel`, which specialises the kernel when a call gives the
//! dimensions ([`crate::specialize`]), with the kernel's typed `eval`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ast::{DType, KernelSource};
use crate::codegen::rust::{TypeDecl, TypedInputs, typed_input};
use crate::reduction::Reduction;

/// The item form: the wrapper type, inside the runtime's `__dynamic_kernel!`, which refuses
/// it with a clear error where keops is built without its `dynamic` feature.
pub fn dynamic_kernel_item(src: &KernelSource, decl: &TypeDecl) -> TokenStream {
    let name = &decl.name;
    let items = wrapper_type(src, decl);
    quote!(::keops::__dynamic_kernel! { items: #name; #items })
}

/// The expression form: a value of a wrapper type declared in a block.
pub fn dynamic_kernel_value(src: &KernelSource) -> TokenStream {
    let name = format_ident!("__KeopsKernel");
    let decl =
        TypeDecl { attrs: vec![], vis: syn::Visibility::Inherited, name: name.clone(), backward: false };
    let items = wrapper_type(src, &decl);
    quote!(::keops::__dynamic_kernel! { value: { #items #name::new() } })
}

/// The wrapper struct and its methods.
fn wrapper_type(src: &KernelSource, decl: &TypeDecl) -> TokenStream {
    let TypeDecl { attrs, vis, name, .. } = decl;
    let t = match src.params.first().map_or(DType::F32, |p| p.dtype) {
        DType::F32 => quote!(f32),
        DType::F64 => quote!(f64),
    };
    let text = &src.text;
    let doc = format!(" Kernel `{text}`, its dimensions `_` given at run time.");
    let doc = if attrs.iter().any(|a| a.path().is_ident("doc")) {
        quote!(#[doc = ""] #[doc = #doc])
    } else {
        quote!(#[doc = #doc])
    };
    let eval = eval_method(src, &t);
    quote! {
            #(#attrs)*
            #doc
            ///
            /// It dereferences to a [`keops::DynKernel`], which has the rest of its API.
            #[derive(Clone, Debug)]
            #vis struct #name(::keops::DynKernel<#t>);

            #[allow(dead_code)]
            impl #name {
                /// The kernel, on the automatic backend.
                pub fn new() -> Self {
                    Self(::keops::DynKernel::new(#text))
                }

                /// The same kernel, running on `backend`.
                pub fn on(&self, backend: ::keops::Backend) -> Self {
                    Self(self.0.on(backend))
                }

                /// The same kernel, with the dimensions `_` set for `eval_flat` and generic code
                /// (see [`keops::DynKernel::with_dims`]); `eval` takes them from its inputs' types.
                pub fn with_dims(&self, dims: &[usize]) -> Self {
                    Self(self.0.with_dims(dims))
                }

                #eval
            }

            impl ::core::ops::Deref for #name {
                type Target = ::keops::DynKernel<#t>;

                fn deref(&self) -> &Self::Target {
                    &self.0
                }
            }

            impl ::core::default::Default for #name {
                fn default() -> Self {
                    Self::new()
                }
            }

            /// The kernel as a [`keops::DynKernel`], for generic code and trait objects.
            impl ::core::convert::From<#name> for ::keops::DynKernel<#t> {
                fn from(k: #name) -> Self {
                    k.0
                }
            }
    }
}

/// The typed `eval`: each variable with a dimension `_` takes rows of a const-generic width,
/// which gives the dimension, and the output's width is the caller's to name.
fn eval_method(src: &KernelSource, t: &TokenStream) -> TokenStream {
    let mut generics = Vec::new();
    let mut dims = Vec::new();
    let TypedInputs { args, bind, flat } = src
        .params
        .iter()
        .map(|p| {
            let dim = if p.runtime_dim {
                let d = format_ident!("D{}", dims.len());
                generics.push(quote!(const #d: usize));
                dims.push(quote!(#d));
                quote!(#d)
            } else {
                let d = p.dim;
                quote!(#d)
            };
            typed_input(p, t, &dim)
        })
        .collect();
    let r = &src.reduction;
    let reduction = Reduction { kind: r.kind, k: r.k.unwrap_or(1), over: r.over, scheme: r.scheme };
    let (ret, call, doc) = match reduction.widths(1, usize::from(src.formula2.is_some())) {
        (_, 0) => (
            quote!(::std::vec::Vec<[#t; W]>),
            quote!(eval_values),
            "Evaluates the kernel: one row of width `W` per output index.",
        ),
        (0, _) => (
            quote!(::std::vec::Vec<[usize; W]>),
            quote!(eval_indices),
            "Evaluates the kernel: the selected indices, one row of width `W` per output index.",
        ),
        _ => (
            quote!((::std::vec::Vec<[#t; W]>, ::std::vec::Vec<[usize; W]>)),
            quote!(eval_both),
            "Evaluates the kernel: the values, then the indices, one row of width `W` per output index.",
        ),
    };
    quote! {
        #[doc = #doc]
        ///
        /// The dimensions `_` are those of the inputs' rows, and `W` must be the output's width
        /// for them (an error says which it is otherwise).
        #[allow(non_snake_case, clippy::too_many_arguments)]
        pub fn eval<#(#generics,)* const W: usize>(&self, #(#args),*) -> ::keops::Result<#ret> {
            #(#bind)*
            self.0.#call::<W>(&[#(#dims),*], &[#(#flat),*])
        }
    }
}
