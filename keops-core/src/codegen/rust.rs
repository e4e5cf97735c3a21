//! The Rust code generator: a checked kernel becomes a struct implementing
//! `keops::__private::KernelDef`, with its typed `eval`.
//!
//! The formula is lowered to scalar instructions and split into stages
//! ([`crate::lower::Staged`]): `outer` and `inner` compute per-row features in scalar code,
//! `pair` computes the formula from two feature sets, generic over the runtime's `Math` trait so
//! that the same body is compiled for scalar lanes and for every SIMD width.

use std::collections::{BTreeSet, HashMap, HashSet};

use proc_macro2::{Literal, TokenStream};
use quote::{ToTokens, format_ident, quote};
use syn::ext::IdentExt;

use crate::ast::{DType, Param};
use crate::backward::{Auxiliary, Backward, Extra, plan};
use crate::check::Kernel;
use crate::codegen::reroll::{Dot, Lane, Rerolled};
use crate::codegen::{lower_kernel, ptx};
use crate::ir::Role;
use crate::lower::{Inst, Operand, Program, Staged, Val};
use crate::math::{ClampedExp, clamped_exp, exp_normal_bound};
use crate::prim::Prim;
use crate::reduction::Accumulator;

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
fn eval_methods(kernel: &Kernel) -> TokenStream {
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
fn backward(
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

/// A hidden kernel type (backward or auxiliary), used only by the gradient methods.
fn hidden_kernel(
    kernel: &Kernel,
    name: &syn::Ident,
    gpu: Option<&ptx::Module>,
    values: Values,
) -> TokenStream {
    let def = kernel_def(kernel, name, TokenStream::new(), gpu, values);
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug)]
        struct #name {
            backend: ::keops::Backend,
        }

        #def
    }
}

/// Who consumes a kernel's pair values.
#[derive(Clone, Copy, PartialEq)]
enum Values {
    /// Only its reducer, which may then take a sum's values as two factors.
    Reduced,
    /// Also code that calls `pair` and reads the formula values themselves (the gradients
    /// through selected indices).
    Read,
}

/// The `KernelDef` implementation; `gpu` is the kernel's GPU module, if it has one.
fn kernel_def(
    kernel: &Kernel,
    name: &syn::Ident,
    backward: TokenStream,
    gpu: Option<&ptx::Module>,
    values: Values,
) -> TokenStream {
    let t = scalar_type(kernel.dtype);
    let lowered = lower_kernel(kernel);
    let factored = match kernel.reduction.kind.spec().accumulator {
        // A compensated sum adds each product as it is, rounded, with its error tracked.
        Accumulator::Sum if values == Values::Reduced && !kernel.reduction.compensated() => {
            lowered.factored(kernel)
        }
        _ => None,
    };
    let products = factored.is_some();
    let (red, lowered, scaled) = match factored {
        Some(mut products) => {
            let scaled = products.scaled_features();
            (quote!(::keops::__private::SumOfProducts), products, scaled)
        }
        None => {
            let weighted = matches!(
                kernel.reduction.kind.spec().accumulator,
                Accumulator::LogSumExp { .. } | Accumulator::SoftMax
            );
            let scaled = lowered.weight_features().filter(|_| weighted && values == Values::Reduced);
            (reducer(kernel), lowered, scaled)
        }
    };
    let (nf, ng) = (lowered.nf, lowered.ng());
    let program = super::program::program(kernel, &lowered, products).tokens();
    let staged = lowered.staged;
    let (no, ni) = (staged.outer_features.len(), staged.inner_features.len());

    let plan = PairPlan::new(&staged);
    let outer_body = prepass(kernel, &staged, &PairPlan::arranged(&staged.outer_features, &plan.outer));
    let inner_body = prepass(kernel, &staged, &PairPlan::arranged(&staged.inner_features, &plan.inner));
    let pair_insts = plan.order.len();
    let interpreted = plan.printed() > MAX_COMPILED_PAIR;
    let block = match scaled {
        _ if interpreted => 1,
        Some(_) => SCALED_BLOCK_ROWS,
        None => block_rows(pair_insts, ni, state_registers(kernel, nf, ng)),
    };
    let scaled = scaled.map(|features| {
        let features = features.iter().map(|&f| plan.inner[f]);
        quote!(const SCALED: &'static [usize] = &[#(#features),*];)
    });
    let pair_body = if interpreted && values == Values::Reduced {
        // Only the compiled reduction loops call `pair` on a kernel that is reduced, and an
        // interpreted kernel has none: its pair program would be thousands of lines that the
        // user's build type-checks for nothing.
        quote!(::core::unreachable!("an interpreted kernel has no compiled pair function"))
    } else {
        pair(kernel, &staged, &plan, nf, block)
    };
    let run_cpu = if interpreted {
        quote! {
            // Too large to compile in reasonable time and memory (see `MAX_COMPILED_PAIR` in
            // keops-core): interpreted in every build.
            #[inline]
            fn run_cpu(inputs: &[&[#t]], outer_rows: usize, inner_rows: usize, values: &mut [#t], indices: &mut [usize]) {
                ::keops::__private::run_interpreted::<Self>(inputs, outer_rows, inner_rows, values, indices);
            }
        }
    } else {
        quote! {
            // Debug builds interpret the kernel where keops is optimised (see
            // `keops::__private::KernelDef::run_cpu`).
            #[inline]
            fn run_cpu(inputs: &[&[#t]], outer_rows: usize, inner_rows: usize, values: &mut [#t], indices: &mut [usize]) {
                ::keops::__run_cpu!(Self, inputs, outer_rows, inner_rows, values, indices);
            }
        }
    };
    let info = info(kernel);
    let gpu = gpu.map(|m| {
        let ptx::Module { name, ptx: text, block, shared_per_thread, partial_widths: (pv, pi) } = m;
        quote! {
            const GPU: ::core::option::Option<::keops::__private::GpuModule> =
                ::core::option::Option::Some(::keops::__private::GpuModule {
                    name: #name,
                    ptx: #text,
                    block: #block,
                    shared_per_thread: #shared_per_thread,
                    partial_widths: (#pv, #pi),
                });
        }
    });
    quote! {
        // What the runtime calls; not part of the kernel's documented API.
        #[doc(hidden)]
        impl ::keops::__private::KernelDef for #name {
            type T = #t;
            const INFO: ::keops::KernelInfo = #info;
            type Red = #red;
            type Outer<V: ::core::marker::Copy + ::core::marker::Send + ::core::marker::Sync> = [V; #no];
            type Inner<V: ::core::marker::Copy + ::core::marker::Send + ::core::marker::Sync> = [V; #ni];
            type F<V: ::core::marker::Copy + ::core::marker::Send + ::core::marker::Sync> = [V; #nf];
            type G<V: ::core::marker::Copy + ::core::marker::Send + ::core::marker::Sync> = [V; #ng];
            type Block<V: ::core::marker::Copy + ::core::marker::Send + ::core::marker::Sync> = [V; #block];
            #scaled
            #gpu
            #[allow(clippy::all)]
            const PROGRAM: ::keops::__private::interp::Program<#t> = #program;

            #run_cpu

            #[inline]
            #[allow(unused_variables, clippy::all)]
            fn outer(vars: &[&[#t]], row: usize) -> [#t; #no] {
                #outer_body
            }

            #[inline]
            #[allow(unused_variables, clippy::all)]
            fn inner(vars: &[&[#t]], row: usize) -> [#t; #ni] {
                #inner_body
            }

            #[inline(always)]
            #[allow(unused_variables, clippy::all)]
            fn pair_inline<M: ::keops::__private::Math<#t>>(m: M, o: &[[M::V; #no]; #block], j: &[M::V; #ni]) -> ([([M::V; #nf], [M::V; #ng]); #block], bool) {
                #pair_body
            }

            fn backend(&self) -> ::keops::Backend {
                self.backend
            }

            fn on_backend(backend: ::keops::Backend) -> Self {
                Self { backend }
            }

            #backward
        }
    }
}

/// The most per-pair instructions that a compiled CPU kernel prints one by one (those of its
/// loops over long vectors are not counted). Larger kernels are interpreted in every build: the
/// compiler's time and memory grow faster than their size (a minimum over 990-dimensional
/// distances, about 2,000 instructions, did not compile in 25 minutes at 2.2 GB), while the
/// interpreter's per-instruction overhead is smallest for them.
const MAX_COMPILED_PAIR: usize = 1024;

/// Output rows the CPU kernel reduces together, from the number of per-pair instructions, of
/// reduced-row features and of registers each row's reduction state takes. A small formula's
/// dependency chain is short next to its latency, so independent rows keep the pipeline full,
/// 4 of them unless their states crowd the registers (3 rows of a 3-component sum, such as a
/// gradient in 3D, ran 12 % faster than 4 on AVX2's 16 registers; 1 or 2 words ran as fast or
/// faster with 4). A large formula has parallelism of its own and would only spill registers
/// (and multiply the code the compiler has to optimise), unless it reads many reduced-row
/// features for its size (a high-dimensional distance): those loads are then what limits it,
/// and each serves every row of the block.
fn block_rows(pair_insts: usize, inner_features: usize, state_registers: usize) -> usize {
    match pair_insts {
        0..=64 if state_registers >= 3 => 3,
        0..=64 => 4,
        _ if 4 * inner_features >= pair_insts => 4,
        65..=128 => 2,
        _ => 1,
    }
}

/// Output rows the CPU kernel reduces together for a sum of scaled features (see
/// [`Lowered::scaled_features`](crate::codegen::Lowered::scaled_features) and
/// [`Lowered::weight_features`](crate::codegen::Lowered::weight_features)). Its first pass
/// computes only the per-pair values, chains of dependent operations (an `exp` for a Gaussian
/// kernel) that 6 rows interleave better than 3; its second pass accumulates 3 rows at a time.
/// With 16 components, 6 rows ran at 1.6 Gpairs/s against 1.35 for 3 (AVX2).
const SCALED_BLOCK_ROWS: usize = 6;

/// The SIMD registers a row's reduction state takes in the CPU kernel's inner loop, for a
/// formula of width `nf` and weights of width `ng` (K-selections keep theirs in memory).
fn state_registers(kernel: &Kernel, nf: usize, ng: usize) -> usize {
    match kernel.reduction.kind.spec().accumulator {
        Accumulator::KMin => 0,
        _ => {
            let (values, indices) = kernel.reduction.state_widths(nf, ng);
            values + indices
        }
    }
}

/// The runtime's reducer type for this kernel.
fn reducer(kernel: &Kernel) -> TokenStream {
    match kernel.reduction.kind.spec().accumulator {
        Accumulator::Sum if kernel.reduction.compensated() => quote!(::keops::__private::KahanSum),
        Accumulator::Sum => quote!(::keops::__private::Sum),
        Accumulator::Extremum { max: false } => quote!(::keops::__private::Extremum<false>),
        Accumulator::Extremum { max: true } => quote!(::keops::__private::Extremum<true>),
        Accumulator::KMin => {
            let k = kernel.reduction.k;
            quote!(::keops::__private::KMin<#k>)
        }
        Accumulator::LogSumExp { raw: false } if kernel.formula2.is_some() => {
            quote!(::keops::__private::LogSumExpWeight)
        }
        Accumulator::LogSumExp { raw: false } => quote!(::keops::__private::LogSumExp),
        // The same reducers, writing out their state.
        Accumulator::LogSumExp { raw: true } if kernel.formula2.is_some() => {
            quote!(::keops::__private::LogSumExpWeight<true>)
        }
        Accumulator::LogSumExp { raw: true } => quote!(::keops::__private::LogSumExp<true>),
        Accumulator::SoftMax => quote!(::keops::__private::SumSoftMaxWeight),
    }
}

/// The static description.
fn info(kernel: &Kernel) -> TokenStream {
    let vars = kernel.params.iter().map(|p| {
        let name = &p.name;
        let dim = p.dim;
        let index = role_tokens(p.role);
        quote!(::keops::VarInfo { name: #name, index: #index, dim: #dim })
    });
    let formula = &kernel.text;
    let reduction = kernel.reduction.kind.keops_name();
    let reduced = role_tokens(kernel.reduction.over);
    let k = kernel.reduction.k;
    let dtype = kernel.dtype.name();
    let (vw, iw) = kernel.widths();
    quote! {
        ::keops::KernelInfo {
            formula: #formula,
            vars: &[#(#vars),*],
            reduction: #reduction,
            reduced: #reduced,
            k: #k,
            dtype: #dtype,
            value_width: #vw,
            index_width: #iw,
        }
    }
}

fn role_tokens(role: Role) -> TokenStream {
    match role {
        Role::I => quote!(::keops::Index::I),
        Role::J => quote!(::keops::Index::J),
        Role::Param => quote!(::keops::Index::Param),
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

/// `m.prim(a, b)` for the instruction defining `v`, with operands rendered by `operand`.
fn inst_tokens(
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
fn bind(ids: Vec<syn::Ident>, exprs: Vec<TokenStream>) -> TokenStream {
    bind_groups(ids.into_iter().map(|id| vec![id]).collect(), exprs)
}

/// As [`bind`], where an expression may give a tuple of several values.
fn bind_groups(groups: Vec<Vec<syn::Ident>>, exprs: Vec<TokenStream>) -> TokenStream {
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
fn prepass(kernel: &Kernel, staged: &Staged, features: &[Val]) -> TokenStream {
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

/// The pair stage for a block of output rows: reads the features `o[b][k]` of each row `b` and
/// `j[k]` of the reduced row, and returns each row's formula values, and whether an `exp` took
/// its path for arguments beyond the normal range (`maybe_tiny`: then the values that derive
/// from it may be subnormal, which `Math::mul_tiny` and the sums' `Math::mul_add_tiny` take
/// care of). The rows' instructions are interleaved, so that their independent dependency
/// chains overlap in the pipeline.
///
/// Each `exp` is computed under one test for the whole block, so that the rows' code stays
/// interleaved: if every argument is below [`exp_normal_bound`] in magnitude
/// (`Math::all_below_abs`), without its clamp and with a plain final scaling
/// (`Math::ldexp_normal`), which give the same values there; else as written, scaled by
/// `Math::ldexp_below` if every argument is below that bound (`Math::all_below`), which is
/// cheaper where results may be subnormal or zero (sharp Gaussians ran 1.6x faster on AVX2).
/// The two paths share their code but for the scaling: a third copy of the `exp` made the stack
/// frames of debug builds overflow the test threads' stacks. An `LdexpInt`
/// of no recognised `exp` has a test of its own, on its exponents.
fn pair(kernel: &Kernel, staged: &Staged, plan: &PairPlan, nf: usize, block: usize) -> TokenStream {
    let program = &staged.program;
    let PairPlan { order, exps, tiny, rerolled, outer, inner } = plan;
    let lanes = LaneTokens { kernel, staged, rerolled, outer, inner };
    let operand = |a: Val, b: usize| lanes.operand(a, b);
    let row_ids = |v: Val| -> Vec<syn::Ident> { (0..block).map(|b| row_ident(v, b)).collect() };
    let mut ids = Vec::new();
    let mut exprs = Vec::new();
    for unit in pair_units(program, order, exps, rerolled) {
        let v = match unit {
            Unit::Dot(id) => {
                let dot = &rerolled.dots[id];
                ids.push(dot.ends.iter().flat_map(|&end| row_ids(end)).collect());
                exprs.push(lanes.dot(dot, block));
                continue;
            }
            Unit::Inst(v) => v,
        };
        if let Some(exp) = exps.iter().find(|e| e.result == v) {
            ids.push(row_ids(v));
            exprs.push(exp_block(kernel, program, exp, block, &operand));
            continue;
        }
        if let Inst::Prim(Prim::LdexpInt, [x, n, _]) = program.inst(v) {
            let (x, n): (Vec<_>, Vec<_>) = (0..block).map(|b| (operand(x, b), operand(n, b))).unzip();
            let normal =
                n.iter().map(|n| quote!(m.scales_normally(#n))).reduce(|a, b| quote!(m.and_mask(#a, #b)));
            ids.push(row_ids(v));
            exprs.push(quote! {
                if m.all(#normal) {
                    (#(m.ldexp_normal(#x, #n)),*)
                } else {
                    maybe_tiny = true;
                    (#(m.ldexp_int(#x, #n)),*)
                }
            });
            continue;
        }
        for (b, id) in row_ids(v).into_iter().enumerate() {
            ids.push(vec![id]);
            exprs.push(if tiny.contains(&v) {
                let [x, y] = [0, 1].map(|k| operand(program.inst(v).operands()[k], b));
                quote!(m.mul_tiny(maybe_tiny, #x, #y))
            } else {
                inst_tokens(kernel, program, v, &|a| operand(a, b))
            });
        }
    }
    let body = bind_groups(ids, exprs);
    let rows = (0..block).map(|b| {
        let f = staged.outputs[..nf].iter().map(|&v| operand(v, b));
        let g = staged.outputs[nf..].iter().map(|&v| operand(v, b));
        quote!(([#(#f),*], [#(#g),*]))
    });
    let scales = order.iter().any(|&v| matches!(program.inst(v), Inst::Prim(Prim::LdexpInt, _)));
    let flag = if scales { quote!(let mut maybe_tiny = false;) } else { quote!(let maybe_tiny = false;) };
    let tables = lanes.tables();
    quote! {
        #tables
        #flag
        #body
        ([#(#rows),*], maybe_tiny)
    }
}

/// How the pair stage is printed: its schedule, its `exp` expansions, its products of values
/// that may be subnormal, and its loops over long vectors.
struct PairPlan {
    order: Vec<Val>,
    exps: Vec<ExpRegion>,
    tiny: HashSet<Val>,
    rerolled: Rerolled,
    /// Where each output-row feature of `Staged::outer_features` is in the arrays of features
    /// that the compiled kernel passes around: the components of each vector that a loop reads
    /// are consecutive, so that the loop reads them at `base + k`, not through a table.
    outer: Vec<usize>,
    /// The same for the reduced row's features.
    inner: Vec<usize>,
}

impl PairPlan {
    fn new(staged: &Staged) -> PairPlan {
        let order = staged.pair_schedule();
        let exps = exp_regions(staged, &order);
        let tiny = tiny_products(&staged.program, &order);
        let excluded: HashSet<Val> = exps.iter().flat_map(|e| e.members.iter().copied()).collect();
        let rerolled = Rerolled::find(staged, &order, &excluded, &tiny);
        let lanes = || {
            (rerolled.dots.iter().flat_map(|d| [&d.x, &d.y]))
                .chain(rerolled.maps.iter().flat_map(|m| &m.args))
        };
        let outer = layout(
            staged.outer_features.len(),
            lanes().filter_map(|l| match l {
                Lane::Outer(table) => Some(table.as_slice()),
                _ => None,
            }),
        );
        let inner = layout(
            staged.inner_features.len(),
            lanes().filter_map(|l| match l {
                Lane::Inner(table) => Some(table.as_slice()),
                _ => None,
            }),
        );
        PairPlan { order, exps, tiny, rerolled, outer, inner }
    }

    /// `features` (`Staged::outer_features` or `inner_features`) in the order of `layout`.
    fn arranged(features: &[Val], layout: &[usize]) -> Vec<Val> {
        let mut out = features.to_vec();
        for (k, &v) in features.iter().enumerate() {
            out[layout[k]] = v;
        }
        out
    }

    /// The instructions printed one by one: all but those of the loops.
    fn printed(&self) -> usize {
        self.order.len() - self.rerolled.member.len() - self.rerolled.in_dot.len()
    }
}

/// The positions of `n` features such that each of `tables` (features in component order) that
/// shares none with an earlier one is consecutive; the others keep their order after them.
/// Without tables, each feature keeps its position.
fn layout<'a>(n: usize, tables: impl Iterator<Item = &'a [usize]>) -> Vec<usize> {
    let mut at = vec![usize::MAX; n];
    let mut next = 0;
    for table in tables {
        let distinct = table.iter().collect::<HashSet<_>>().len() == table.len();
        if distinct && table.iter().all(|&f| at[f] == usize::MAX) {
            for &f in table {
                at[f] = next;
                next += 1;
            }
        }
    }
    for place in at.iter_mut().filter(|place| **place == usize::MAX) {
        *place = next;
        next += 1;
    }
    at
}

/// What the pair stage prints, in order: an instruction (an `exp` expansion at its result, the
/// instructions of which are otherwise skipped) or a dot product. Maps are computed where they
/// are read.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
enum Unit {
    Inst(Val),
    Dot(usize),
}

/// The units of the pair stage scheduled as `order`, in an order where each follows what it
/// reads: `order` itself when nothing is rerolled, else the ready unit that `order` reaches
/// first, repeatedly.
fn pair_units(program: &Program, order: &[Val], exps: &[ExpRegion], rerolled: &Rerolled) -> Vec<Unit> {
    let in_exp: HashMap<Val, Val> =
        exps.iter().flat_map(|e| e.members.iter().map(move |&v| (v, e.result))).collect();
    if rerolled.dots.is_empty() {
        let printed = |v: &&Val| in_exp.get(v).is_none_or(|result| result == *v);
        return order.iter().filter(printed).map(|&v| Unit::Inst(v)).collect();
    }
    let inline = |v: Val| rerolled.member(v).is_some();
    // The unit printing `v`; none for the components of a map.
    let unit_of = |v: Val| -> Option<Unit> {
        if let Some(&id) = rerolled.in_dot.get(&v) {
            return Some(Unit::Dot(id));
        }
        match rerolled.member(v) {
            Some(_) => None,
            None => Some(Unit::Inst(in_exp.get(&v).copied().unwrap_or(v))),
        }
    };
    let scheduled: HashSet<Val> = order.iter().copied().collect();
    // The values of other units that `v` reads, through the maps it reads.
    let reads_of = |v: Val, out: &mut Vec<Val>| {
        let mut stack: Vec<Val> = program.inst(v).operands().to_vec();
        while let Some(a) = stack.pop() {
            if !scheduled.contains(&a) {
                continue;
            }
            if inline(a) {
                stack.extend_from_slice(program.inst(a).operands());
            } else {
                out.push(a);
            }
        }
    };
    // Each unit's position (of its first instruction in `order`), and the units it reads.
    let mut first: HashMap<Unit, usize> = HashMap::new();
    let mut reads: HashMap<Unit, HashSet<Unit>> = HashMap::new();
    let mut operands = Vec::new();
    for (at, &v) in order.iter().enumerate() {
        let Some(unit) = unit_of(v) else { continue };
        first.entry(unit).or_insert(at);
        operands.clear();
        reads_of(v, &mut operands);
        let deps = reads.entry(unit).or_default();
        deps.extend(operands.iter().filter_map(|&a| unit_of(a)).filter(|&d| d != unit));
    }
    let mut waiting: HashMap<Unit, usize> = reads.iter().map(|(&u, deps)| (u, deps.len())).collect();
    let mut readers: HashMap<Unit, Vec<Unit>> = HashMap::new();
    for (&u, deps) in &reads {
        for &d in deps {
            readers.entry(d).or_default().push(u);
        }
    }
    let mut ready: BTreeSet<(usize, Unit)> =
        waiting.iter().filter(|&(_, &n)| n == 0).map(|(&u, _)| (first[&u], u)).collect();
    let mut units = Vec::with_capacity(first.len());
    while let Some((_, unit)) = ready.pop_first() {
        units.push(unit);
        for &r in readers.get(&unit).into_iter().flatten() {
            let n = waiting.get_mut(&r).expect("every reader waits");
            *n -= 1;
            if *n == 0 {
                ready.insert((first[&r], r));
            }
        }
    }
    assert_eq!(units.len(), first.len(), "the rerolled pair stage has a cycle");
    units
}

/// Prints the operands, maps and dot products of the pair stage (see
/// [`reroll`](super::reroll)).
struct LaneTokens<'a> {
    kernel: &'a Kernel,
    staged: &'a Staged,
    rerolled: &'a Rerolled,
    /// The plan's feature layout.
    outer: &'a [usize],
    inner: &'a [usize],
}

impl LaneTokens<'_> {
    /// Value `a` for row `b`: computed where it is a component of a map.
    fn operand(&self, a: Val, b: usize) -> TokenStream {
        match self.staged.operand(a) {
            Operand::Pair(v) => match self.rerolled.member(v) {
                Some((id, k)) => self.element(id, &quote!(#k), b),
                None => row_ident(v, b).into_token_stream(),
            },
            Operand::Outer(k) => {
                let k = self.outer[k];
                quote!(o[#b][#k])
            }
            Operand::Inner(k) => {
                let k = self.inner[k];
                quote!(j[#k])
            }
            Operand::Const(c) => {
                let c = constant(self.kernel.dtype, c);
                quote!(m.splat(#c))
            }
        }
    }

    /// Component `k` (an expression) of `lane` for row `b`.
    fn at(&self, lane: &Lane, k: &TokenStream, b: usize) -> TokenStream {
        match lane {
            Lane::Map(id) => self.element(*id, k, b),
            Lane::Outer(table) => {
                let k = table_index(&placed(table, self.outer), k);
                quote!(o[#b][#k])
            }
            Lane::Inner(table) => {
                let k = table_index(&placed(table, self.inner), k);
                quote!(j[#k])
            }
            Lane::Scalar(v) => self.operand(*v, b),
        }
    }

    /// Component `k` of map `id` for row `b`, computed.
    fn element(&self, id: usize, k: &TokenStream, b: usize) -> TokenStream {
        let map = &self.rerolled.maps[id];
        let args: Vec<TokenStream> = map.args.iter().map(|lane| self.at(lane, k, b)).collect();
        if map.tiny {
            return quote!(m.mul_tiny(maybe_tiny, #(#args),*));
        }
        let method = format_ident!("{}", map.prim.method());
        quote!(m.#method(#(#args),*))
    }

    /// The chain ends of `dot` for each row, chain by chain, as one tuple: the chains' first
    /// products, then a loop adding a term to each chain of each row per step, then the last
    /// terms.
    fn dot(&self, dot: &Dot, block: usize) -> TokenStream {
        let chains = dot.ends.len();
        let acc = |l: usize, b: usize| format_ident!("chain{l}_{b}");
        let term = |k: &TokenStream, b: usize, acc: Option<&syn::Ident>| {
            // A squared distance reads one operand twice: computed once.
            let x = self.at(&dot.x, k, b);
            let y = if dot.x == dot.y { quote!(x) } else { self.at(&dot.y, k, b) };
            match acc {
                Some(acc) => quote!({ let x = #x; m.mul_add(x, #y, #acc) }),
                None => quote!({ let x = #x; m.mul(x, #y) }),
            }
        };
        let mut first = Vec::new();
        for l in 0..chains {
            for b in 0..block {
                let id = acc(l, b);
                let k = quote!(#l);
                let value = term(&k, b, None);
                first.push(quote!(let mut #id = #value;));
            }
        }
        let steps = dot.len / chains;
        let mut step = Vec::new();
        for l in 0..chains {
            for b in 0..block {
                let id = acc(l, b);
                let k = quote!((k + #l));
                let value = term(&k, b, Some(&id));
                step.push(quote!(#id = #value;));
            }
        }
        let mut rest = Vec::new();
        for k in chains * steps..dot.len {
            for b in 0..block {
                let id = acc(k % chains, b);
                let kk = quote!(#k);
                let value = term(&kk, b, Some(&id));
                rest.push(quote!(#id = #value;));
            }
        }
        let ends = (0..chains).flat_map(|l| (0..block).map(move |b| acc(l, b)));
        quote! {{
            #(#first)*
            for t in 1..#steps {
                let k = #chains * t;
                #(#step)*
            }
            #(#rest)*
            (#(#ends,)*)
        }}
    }

    /// The feature tables that the lanes index, as constants.
    fn tables(&self) -> TokenStream {
        let mut seen = HashSet::new();
        let lanes = (self.rerolled.maps.iter().flat_map(|m| m.args.iter()))
            .chain(self.rerolled.dots.iter().flat_map(|d| [&d.x, &d.y]));
        let mut out = TokenStream::new();
        for lane in lanes {
            let table = match lane {
                Lane::Outer(table) => placed(table, self.outer),
                Lane::Inner(table) => placed(table, self.inner),
                _ => continue,
            };
            if affine(&table).is_none() && seen.insert(table.clone()) {
                let name = table_ident(&table);
                let n = table.len();
                out.extend(quote!(const #name: [usize; #n] = [#(#table),*];));
            }
        }
        out
    }
}

/// A table of features, at their positions in `layout`.
fn placed(table: &[usize], layout: &[usize]) -> Vec<usize> {
    table.iter().map(|&f| layout[f]).collect()
}

/// `table[k]` as an expression: `base + k` where the table is consecutive features.
fn table_index(table: &[usize], k: &TokenStream) -> TokenStream {
    match affine(table) {
        Some(0) => quote!(#k),
        Some(base) => quote!(#base + #k),
        None => {
            let name = table_ident(table);
            quote!(#name[#k])
        }
    }
}

/// The first entry of a table of consecutive features.
fn affine(table: &[usize]) -> Option<usize> {
    table.iter().enumerate().all(|(k, &f)| f == table[0] + k).then_some(table[0])
}

/// A name for a feature table, from its contents.
fn table_ident(table: &[usize]) -> syn::Ident {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    table.hash(&mut h);
    format_ident!("FEATURES_{:016x}", h.finish())
}

/// The multiplications of `order` that read a value that is often subnormal, emitted as
/// `Math::mul_tiny`: an `exp` (a final `LdexpInt`) wherever it underflows, as for most pairs of
/// a narrow kernel, and what products, fused multiply-adds and negations make of it.
fn tiny_products(program: &Program, order: &[Val]) -> HashSet<Val> {
    let mut tiny = HashSet::new();
    let mut products = HashSet::new();
    for &v in order {
        let inst = program.inst(v);
        let reads = |k: usize| tiny.contains(&inst.operands()[k]);
        let is_tiny = match inst {
            Inst::Prim(Prim::LdexpInt, _) => true,
            Inst::Prim(Prim::Mul | Prim::MulAdd, _) => reads(0) || reads(1),
            Inst::Prim(Prim::Neg, _) => reads(0),
            _ => false,
        };
        if is_tiny {
            if matches!(inst, Inst::Prim(Prim::Mul, _)) {
                products.insert(v);
            }
            tiny.insert(v);
        }
    }
    products
}

/// The pair stage's name for value `v` of row `b` of the block.
fn row_ident(v: Val, b: usize) -> syn::Ident {
    format_ident!("v{}_{b}", v.index())
}

/// The instructions of one `exp` in the pair stage, from its clamp to its final `LdexpInt`
/// (`result`), in schedule order; no other instruction reads any of them but `result`.
pub(crate) struct ExpRegion {
    pub(crate) exp: ClampedExp,
    pub(crate) members: Vec<Val>,
    pub(crate) result: Val,
}

/// The `exp` expansions of the pair stage whose values only the expansion itself reads.
pub(crate) fn exp_regions(staged: &Staged, order: &[Val]) -> Vec<ExpRegion> {
    let program = &staged.program;
    let mut users: HashMap<Val, Vec<Val>> = HashMap::new();
    for &v in order {
        for &a in program.inst(v).operands() {
            users.entry(a).or_default().push(v);
        }
    }
    let position: HashMap<Val, usize> = order.iter().enumerate().map(|(k, &v)| (v, k)).collect();
    let mut regions = Vec::new();
    for (end, &result) in order.iter().enumerate() {
        let Some(exp) = clamped_exp(program, result) else { continue };
        // What the clamp's first instruction leads to up to `result`, then what of that
        // `result` reads. (Only descendants scheduled before `result` can be read by it: the
        // search stops there, or a kernel of a thousand `exp`s takes a quadratic time.)
        let mut below = HashSet::from([exp.clamp[0]]);
        let mut stack = vec![exp.clamp[0]];
        while let Some(v) = stack.pop() {
            for &u in users.get(&v).map_or(&[][..], Vec::as_slice) {
                if position[&u] <= end && below.insert(u) {
                    stack.push(u);
                }
            }
        }
        let mut members = HashSet::new();
        let mut stack = vec![result];
        while let Some(v) = stack.pop() {
            if below.contains(&v) && members.insert(v) {
                stack.extend_from_slice(program.inst(v).operands());
            }
        }
        let private = members.iter().filter(|&&v| v != result).all(|v| {
            !staged.outputs.contains(v) && users.get(v).is_some_and(|u| u.iter().all(|u| members.contains(u)))
        });
        if private && members.contains(&exp.clamp[1]) {
            let mut members: Vec<Val> = members.into_iter().collect();
            members.sort_by_key(|v| position[v]);
            regions.push(ExpRegion { exp, members, result });
        }
    }
    regions
}

/// An `exp` region for a block of rows: a tuple of the rows' results.
fn exp_block(
    kernel: &Kernel,
    program: &Program,
    region: &ExpRegion,
    block: usize,
    operand: &dyn Fn(Val, usize) -> TokenStream,
) -> TokenStream {
    let bound = constant(kernel.dtype, exp_normal_bound(kernel.dtype));
    let args: Vec<_> = (0..block).map(|b| operand(region.exp.arg, b)).collect();
    let body = |normal: bool| {
        let lets = region.members.iter().filter(|&&v| v != region.result).flat_map(|&v| {
            (0..block).map(move |b| {
                let id = row_ident(v, b);
                let value = match program.inst(v) {
                    // The clamp: `min(hi, x)`, then `max(lo, x)`.
                    Inst::Prim(_, [_, x, _]) if normal && region.exp.clamp.contains(&v) => operand(x, b),
                    _ => inst_tokens(kernel, program, v, &|a| operand(a, b)),
                };
                quote!(let #id = #value;)
            })
        });
        let Inst::Prim(Prim::LdexpInt, [x, n, _]) = program.inst(region.result) else {
            unreachable!("an exp region ends with its LdexpInt")
        };
        let scale = |method: &str| {
            let method = format_ident!("{method}");
            let results = (0..block).map(|b| {
                let (x, n) = (operand(x, b), operand(n, b));
                quote!(m.#method(#x, #n))
            });
            quote!((#(#results),*))
        };
        let result = if normal {
            scale("ldexp_normal")
        } else {
            let (below, general) = (scale("ldexp_below"), scale("ldexp_int"));
            quote!(if below { #below } else { #general })
        };
        quote!({ #(#lets)* #result })
    };
    let (normal, general) = (body(true), body(false));
    quote! {
        if m.all_below_abs(&[#(#args),*], #bound) #normal
        else {
            maybe_tiny = true;
            let below = m.all_below(&[#(#args),*], #bound);
            #general
        }
    }
}

/// Scalar functions the runtime needs outside formulas (the online log-sum-exp reductions), as
/// generated kernels compute them: `exp_f32`, `exp_f64`, `log_f32`, `log_f64`, generic over
/// `Math` like `pair`.
///
/// Also `exp_nonpositive_f32` and `exp_nonpositive_f64`, the log-sum-exp's hot step: `exp` on
/// a block of values, all in `[-80, 0]`, where it can skip the clamp and scale by
/// `Math::ldexp_normal`, and gives the same values. The block's instructions are interleaved,
/// so that their independent dependency chains overlap in the pipeline (as in `pair`). And
/// `exp_below_f32` and `exp_below_f64`, `exp` on a block of values below `exp_normal_bound`
/// (however far below), scaled by `Math::ldexp_below`: the soft-maxes' exponents that fall out
/// of that range, where plain `exp` costs about twice as much. And that bound, as
/// `EXP_NORMAL_BOUND_F32` and `EXP_NORMAL_BOUND_F64`.
pub fn runtime_math() -> TokenStream {
    let mut out = TokenStream::new();
    for dtype in [DType::F32, DType::F64] {
        for prim in [Prim::Exp, Prim::Log] {
            let name = format!("{}_{}", prim.method(), dtype.name());
            let mut p = Program::new(dtype);
            let x = p.load(0, 0);
            let y = p.prim(prim, &[x]);
            out.extend(lanes_fn(&p, &name, y));
        }
        let name = format!("exp_nonpositive_{}", dtype.name());
        let mut p = Program::new(dtype);
        let x = p.load(0, 0);
        let y = crate::math::exp_unclamped(&mut p, x);
        out.extend(block_fn(&p, &name, y, "ldexp_normal"));
        let name = format!("exp_below_{}", dtype.name());
        let mut p = Program::new(dtype);
        let x = p.load(0, 0);
        let y = crate::math::exp_below(&mut p, x);
        out.extend(block_fn(&p, &name, y, "ldexp_below"));
        let name = format_ident!("EXP_NORMAL_BOUND_{}", dtype.name().to_uppercase());
        let (t, bound) = (scalar_type(dtype), constant(dtype, exp_normal_bound(dtype)));
        out.extend(quote! {
            /// Below this magnitude, `exp`'s argument gives a normal number.
            pub const #name: #t = #bound;
        });
    }
    out
}

/// `fn <name><M: Math<T>>(m: M, x: M::V) -> M::V`, computing `y` of the one-input program `p`.
fn lanes_fn(p: &Program, name: &str, y: Val) -> TokenStream {
    let t = scalar_type(p.dtype());
    let fn_name = format_ident!("{name}");
    let body = p.insts().iter().enumerate().map(|(i, inst)| {
        let id = format_ident!("v{i}");
        let value = match *inst {
            Inst::Load { .. } => quote!(x),
            Inst::Const(bits) => {
                let c = constant(p.dtype(), f64::from_bits(bits));
                quote!(m.splat(#c))
            }
            Inst::Prim(prim, _) => {
                let method = format_ident!("{}", prim.method());
                let args = inst.operands().iter().map(|&a| val_tokens(a));
                quote!(m.#method(#(#args),*))
            }
        };
        quote!(let #id = #value;)
    });
    let result = val_tokens(y);
    let doc = format!(" `{name}` on lanes, as generated kernels compute it.");
    quote! {
        #[doc = #doc]
        #[inline(always)]
        #[allow(clippy::all, unused_variables)]
        pub fn #fn_name<M: ::keops::__private::Math<#t>>(m: M, x: M::V) -> M::V {
            #(#body)*
            #result
        }
    }
}

/// `fn <name><M: Math<T>, A: Array<M::V>>(m: M, x: &A) -> A`, computing `y` of the one-input
/// program `p` on each value of a block, instruction by instruction across the block. Its final
/// `LdexpInt` is emitted as the `Math` method `ldexp`, whose operands the caller guarantees.
fn block_fn(p: &Program, name: &str, y: Val, ldexp: &str) -> TokenStream {
    let t = scalar_type(p.dtype());
    let fn_name = format_ident!("{name}");
    let is_const = |v: Val| matches!(p.insts()[v.index()], Inst::Const(_));
    let body = p.insts().iter().enumerate().map(|(i, inst)| {
        let id = format_ident!("v{i}");
        let value = match *inst {
            Inst::Load { .. } => quote!(*x),
            Inst::Const(bits) => {
                let c = constant(p.dtype(), f64::from_bits(bits));
                quote!(m.splat(#c))
            }
            Inst::Prim(Prim::LdexpInt, [a, n, _]) => {
                // A loop rather than `A::from_fn`: a closure this large (`ldexp_below`'s) may
                // be left out of line, without the target features, where every intrinsic
                // becomes a call. The small ones below run faster as closures (5 % in the
                // log-sum-exp), which are inlined.
                let method = format_ident!("{ldexp}");
                let (a, n) = (val_tokens(a), val_tokens(n));
                quote!({
                    let mut out = *x;
                    for (b, out) in out.as_mut().iter_mut().enumerate() {
                        *out = m.#method(#a.as_ref()[b], #n.as_ref()[b]);
                    }
                    out
                })
            }
            Inst::Prim(prim, _) => {
                let method = format_ident!("{}", prim.method());
                let args = inst.operands().iter().map(|&a| {
                    let v = val_tokens(a);
                    if is_const(a) { v } else { quote!(#v.as_ref()[b]) }
                });
                quote!(A::from_fn(|b| m.#method(#(#args),*)))
            }
        };
        quote!(let #id = #value;)
    });
    let result = val_tokens(y);
    let doc = format!(" `{name}` on a block of lanes, as generated kernels compute it.");
    quote! {
        #[doc = #doc]
        #[inline(always)]
        #[allow(clippy::all, unused_variables)]
        pub fn #fn_name<M: ::keops::__private::Math<#t>, A: ::keops::__private::Array<M::V>>(m: M, x: &A) -> A {
            #(#body)*
            #result
        }
    }
}

fn val_tokens(v: Val) -> TokenStream {
    let id = val_ident(v);
    quote!(#id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::DType;

    /// `exp(x_i + y_j)` per pair, and the staged program with `extra` outputs too.
    fn exp_of_sum(extra: impl Fn(&Program, Val) -> Vec<Val>) -> (Staged, Val) {
        let mut p = Program::new(DType::F32);
        let (x, y) = (p.load(0, 0), p.load(1, 0));
        let s = p.prim(Prim::Add, &[x, y]);
        let e = p.prim(Prim::Exp, &[s]);
        let mut outputs = vec![e];
        outputs.extend(extra(&p, e));
        (Staged::new(p, outputs, &[Role::I, Role::J], Role::I), e)
    }

    #[test]
    fn an_exp_is_one_region_from_its_clamp_to_its_scaling() {
        let (staged, e) = exp_of_sum(|_, _| vec![]);
        let order = staged.pair_schedule();
        let regions = exp_regions(&staged, &order);
        assert_eq!(regions.len(), 1);
        let region = &regions[0];
        assert_eq!(region.result, e);
        // Everything the pair stage computes but the sum: the clamp, the reduction of the
        // argument, the polynomial and the scaling, in schedule order.
        assert_eq!(region.members, order[1..]);
        assert!(region.exp.clamp.iter().all(|c| region.members.contains(c)));
    }

    #[test]
    fn an_exp_whose_parts_are_read_elsewhere_is_left_as_written() {
        // The exponent `n` of the final scaling as an output of its own.
        let (staged, _) = exp_of_sum(|p, e| match p.inst(e) {
            Inst::Prim(Prim::LdexpInt, [_, n, _]) => vec![n],
            _ => unreachable!(),
        });
        assert!(exp_regions(&staged, &staged.pair_schedule()).is_empty());
    }

    #[test]
    fn the_products_that_follow_an_exp_are_tiny() {
        let mut p = Program::new(DType::F32);
        let (x, y) = (p.load(0, 0), p.load(1, 0));
        let s = p.prim(Prim::Add, &[x, y]);
        let e = p.prim(Prim::Exp, &[s]);
        let scaled = p.mul(e, y);
        let twice = p.mul(x, scaled);
        // Through a fused multiply-add's product and a negation, but not its addend.
        let fused = p.mul_add(x, e, y);
        let negated = p.prim(Prim::Neg, &[fused]);
        let after_fused = p.mul(negated, y);
        let added = p.mul_add(x, y, e);
        let after_added = p.mul(added, x);
        let plain = p.mul(x, y);
        let plain_twice = p.mul(plain, s);
        let outputs = vec![twice, after_fused, after_added, plain_twice];
        let staged = Staged::new(p, outputs, &[Role::I, Role::J], Role::I);
        let tiny = tiny_products(&staged.program, &staged.pair_schedule());
        assert_eq!(tiny, HashSet::from([scaled, twice, after_fused]));
    }

    /// The pair stage of `text`'s forward kernel.
    fn plan_of(text: &str) -> PairPlan {
        let src = crate::syntax::math::parse_kernel_str(text).unwrap_or_else(|d| panic!("{:?}", d.errors()));
        let kernel = crate::check::check(&src).unwrap();
        PairPlan::new(&lower_kernel(&kernel).staged)
    }

    #[test]
    fn loops_over_long_vectors_keep_large_kernels_compiled() {
        // 600 differences and 600 fused multiply-adds, in two loops of the compiled kernel.
        let plan = plan_of("|x_i: [f32; 600], y_j: [f32; 600], b_j: f32| sum_j exp(-sqdist(x_i, y_j)) * b_j");
        assert!(plan.order.len() > MAX_COMPILED_PAIR, "{} instructions", plan.order.len());
        assert!(plan.printed() < 100, "{} printed", plan.printed());
        // 990 exps have no loop: interpreted.
        let plan = plan_of("|x_i: [f32; 990], y_j: [f32; 990]| min_argmin_i sum(exp(-square(x_i + y_j)))");
        assert!(plan.printed() > MAX_COMPILED_PAIR, "{} printed", plan.printed());
    }
}
