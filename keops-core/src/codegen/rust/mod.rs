//! The Rust code generator: a checked kernel becomes a struct implementing
//! `keops::__private::KernelDef`, with its typed `eval`.
//!
//! The formula is lowered to scalar instructions and split into stages
//! ([`crate::lower::Staged`]): `outer` and `inner` compute per-row features in scalar code,
//! `pair` computes the formula from two feature sets, generic over the runtime's `Math` trait so
//! that the same body is compiled for scalar lanes and for every SIMD width.
//!
//! - `methods`: the typed methods that users call (`eval`, `grad`, ...);
//! - `kernel_def`: the `KernelDef` implementation that the runtime calls, for the kernel and
//!   for its hidden backward kernels;
//! - `insts`: instructions as calls of `Math` methods, and the per-row prepasses;
//! - `pair`: the pair stage for a block of output rows, with its loops over long vectors, and
//!   for a wide formula whose values a sum reduces, the stage that adds them into the sums;
//! - `exp`: each `exp` of the pair stage under one range test for the whole block;
//! - `runtime_math`: the functions that the runtime's reducers compute as kernels do.

mod exp;
mod insts;
mod kernel_def;
mod methods;
mod pair;
mod runtime_math;

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use syn::ext::IdentExt;

use crate::ast::DType;
use crate::backward::plan;
use crate::check::Kernel;
use crate::codegen::ptx;
use crate::lower::Val;

use kernel_def::{Values, kernel_def};
use methods::{backward, eval_methods};

pub(crate) use exp::{exp_regions, private, readers};
pub(crate) use methods::{TypedInputs, typed_input};
pub use runtime_math::runtime_math;

/// How the generated type is declared.
pub struct TypeDecl {
    pub attrs: Vec<syn::Attribute>,
    pub vis: syn::Visibility,
    pub name: syn::Ident,
    /// Whether to generate the backward kernels and the `grad` methods. Test kernels that are
    /// never differentiated skip them, which keeps their build cheap.
    pub backward: bool,
}

/// The struct, its inherent methods, its `KernelDef` implementation, and its backward kernels.
pub fn kernel_type(kernel: &Kernel, decl: &TypeDecl) -> TokenStream {
    let TypeDecl { attrs, vis, name, .. } = decl;
    let formula_doc = format!(" Kernel `{}`.", kernel.text);
    let doc = if attrs.iter().any(|a| a.path().is_ident("doc")) {
        quote!(#[doc = ""] #[doc = #formula_doc])
    } else {
        quote!(#[doc = #formula_doc])
    };
    let eval = eval_methods(kernel);
    let planned = if decl.backward { Some(plan(kernel)) } else { None };
    let modules =
        ptx::modules(kernel, &name.unraw().to_string(), planned.as_ref().and_then(|p| p.as_ref().ok()));
    let ptx = ptx_method(name, &modules);
    let (backward_fn, backward) = match planned {
        None => (TokenStream::new(), TokenStream::new()),
        Some(Ok(plan)) => backward(kernel, decl, &plan, &modules),
        Some(Err(message)) => {
            let message = format!("internal error while differentiating the kernel: {message}");
            (TokenStream::new(), quote!(::core::compile_error!(#message);))
        }
    };
    let def = kernel_def(kernel, name, backward_fn, module_named(&modules, name), Values::Reduced);
    quote! {
        #(#attrs)*
        #doc
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #vis struct #name {
            backend: ::keops::Backend,
        }

        #[allow(dead_code)]
        impl #name {
            /// The kernel, on the automatic backend.
            pub const fn new() -> Self {
                Self { backend: ::keops::Backend::Auto }
            }

            /// The same kernel, running on `backend`.
            pub const fn on(self, backend: ::keops::Backend) -> Self {
                Self { backend }
            }

            /// Where this kernel value runs.
            pub const fn backend(&self) -> ::keops::Backend {
                self.backend
            }

            /// What this kernel is: variables, reduction, output widths.
            pub fn info(&self) -> ::keops::KernelInfo {
                <Self as ::keops::__private::KernelDef>::INFO
            }

            #eval

            #ptx
        }

        impl ::core::default::Default for #name {
            fn default() -> Self {
                Self::new()
            }
        }

        #def
        #backward
    }
}

/// The module of the kernel type `ident` (the forward kernel or a hidden one) among `modules`.
fn module_named<'a>(modules: &'a [ptx::Module], ident: &syn::Ident) -> Option<&'a ptx::Module> {
    let name = ident.unraw().to_string();
    modules.iter().find(|m| m.name == name)
}

/// `ptx_modules()`: the PTX text of the kernel's GPU modules, forward then backward (see
/// [`super::ptx`]). The text is embedded once, as string literals in each kernel type's
/// `KernelDef::GPU` (which the CUDA backend launches), so that no GPU toolchain is needed at
/// build or run time; this method lists those constants.
fn ptx_method(name: &syn::Ident, modules: &[ptx::Module]) -> TokenStream {
    let base = name.unraw().to_string();
    let entries = modules.iter().map(|m| {
        // Backward and auxiliary kernels are named by suffix, as `backward` declares them.
        let ty = match m.name.strip_prefix(&base) {
            Some("") | None => quote!(#name),
            Some(suffix) => {
                let ident = format_ident!("{}{}", name, suffix);
                quote!(#ident)
            }
        };
        quote!(::keops::__private::ptx_entry(<#ty as ::keops::__private::KernelDef>::GPU))
    });
    quote! {
        /// The GPU kernels of this value, forward and backward, as `(name, PTX text)`, for
        /// `sm_70` and newer; each module has the entry points `keops_reduce`,
        /// `keops_reduce_2d` and `keops_merge` (keops-core's `codegen::ptx` documents their
        /// parameters). Available with or without a GPU, for inspection and for checking the
        /// PTX with `ptxas`.
        pub fn ptx_modules(&self) -> &'static [(&'static str, &'static str)] {
            const MODULES: &[(&str, &str)] = &[#(#entries),*];
            MODULES
        }
    }
}

/// The scalar type's tokens.
fn scalar_type(dtype: DType) -> TokenStream {
    match dtype {
        DType::F32 => quote!(f32),
        DType::F64 => quote!(f64),
    }
}

fn val_ident(v: Val) -> syn::Ident {
    format_ident!("v{}", v.index())
}

/// A constant of the kernel's type.
pub(crate) fn constant(dtype: DType, c: f64) -> TokenStream {
    let t = scalar_type(dtype);
    if c.is_nan() {
        return quote!(#t::NAN);
    }
    if c.is_infinite() {
        return if c > 0.0 { quote!(#t::INFINITY) } else { quote!(#t::NEG_INFINITY) };
    }
    let lit = match dtype {
        DType::F32 => Literal::f32_suffixed(c.abs() as f32),
        DType::F64 => Literal::f64_suffixed(c.abs()),
    };
    if c.is_sign_negative() { quote!((-#lit)) } else { quote!(#lit) }
}

fn val_tokens(v: Val) -> TokenStream {
    let id = val_ident(v);
    quote!(#id)
}
