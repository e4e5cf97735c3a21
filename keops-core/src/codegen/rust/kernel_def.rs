//! The `KernelDef` implementation: what the runtime reads of a kernel (its types, block size,
//! reducer, interpreter program and GPU module) and calls (its prepasses and pair stage).

use proc_macro2::TokenStream;
use quote::quote;

use super::insts::prepass;
use super::pair::{PairPlan, pair, pair_sum};
use super::scalar_type;
use crate::check::Kernel;
use crate::codegen::reroll::Outputs;
use crate::codegen::{lower_kernel, ptx};
use crate::ir::Role;
use crate::reduction::Accumulator;

/// A hidden kernel type (backward or auxiliary), used only by the gradient methods.
pub(super) fn hidden_kernel(
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
pub(super) enum Values {
    /// Only its reducer, which may then take a sum's values as two factors.
    Reduced,
    /// Also code that calls `pair` and reads the formula values themselves (the gradients
    /// through selected indices).
    Read,
}

/// The `KernelDef` implementation; `gpu` is the kernel's GPU module, if it has one.
pub(super) fn kernel_def(
    kernel: &Kernel,
    name: &syn::Ident,
    backward: TokenStream,
    gpu: Option<&ptx::Module>,
    values: Values,
) -> TokenStream {
    let t = scalar_type(kernel.dtype);
    let lowered = lower_kernel(kernel);
    // A compensated or widened sum adds each product as it is, rounded.
    let plain_sum = kernel.reduction.plain_sum() && values == Values::Reduced;
    let factored = if plain_sum { lowered.factored(kernel) } else { None };
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
    let program = crate::codegen::program::program(kernel, &lowered, products).tokens();
    let staged = lowered.staged;
    let (no, ni) = (staged.outer_features.len(), staged.inner_features.len());

    // Where the reducer adds the values into sums, `pair_sum` may compute and add them in one
    // loop; a scaled sum reads them from `pair`.
    let outputs = match (products, &scaled) {
        (true, None) => Outputs::SummedProducts,
        (false, None) if plain_sum => Outputs::Summed,
        _ => Outputs::Returned,
    };
    let plan = PairPlan::new(&staged, outputs);
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
    let pair_sum = pair_sum(kernel, &staged, &plan, block).filter(|_| !interpreted).map(|body| {
        quote! {
            const SUMS_IN_PAIR: bool = true;

            #[inline(always)]
            #[allow(unused_variables, unused_assignments, clippy::all)]
            fn pair_sum_inline<M: ::keops::__private::Math<#t>>(m: M, o: &[[M::V; #no]; #block], j: &[M::V; #ni], sums: &mut [[M::V; #nf]; #block]) {
                #body
            }
        }
    });
    let run_cpu = if interpreted {
        quote! {
            // Too large to compile in reasonable time and memory (see `MAX_COMPILED_PAIR` in
            // keops-core): interpreted in every build.
            #[inline]
            fn run_cpu(call: ::keops::__private::Call<'_, #t>) {
                ::keops::__private::run_interpreted::<Self>(call);
            }
        }
    } else {
        quote! {
            // Debug builds interpret the kernel where keops is optimised (see
            // `keops::__private::KernelDef::run_cpu`).
            #[inline]
            fn run_cpu(call: ::keops::__private::Call<'_, #t>) {
                ::keops::__run_cpu!(Self, call);
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

            #pair_sum

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
pub(super) const MAX_COMPILED_PAIR: usize = 1024;

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
        Accumulator::Sum if kernel.reduction.widened() => quote!(::keops::__private::DoubleSum),
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
