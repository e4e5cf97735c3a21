//! Functions that the runtime's reducers compute as generated kernels do (`exp` and `log` of
//! the online log-sum-exp and soft-max), generated from the same programs.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{constant, scalar_type, val_tokens};
use crate::ast::DType;
use crate::lower::{Inst, Program, Val};
use crate::math::exp_normal_bound;
use crate::prim::Prim;

/// Scalar functions the runtime needs outside formulas (the online log-sum-exp reductions), as
/// generated kernels compute them: `exp_f32`, `exp_f64`, `log_f32`, `log_f64`, generic over
/// `Math` like `pair`; and `rsqrt_*` and `sin_*`, for the interpreter's `Rsqrt` and `Sin`.
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
        for prim in [Prim::Exp, Prim::Log, Prim::Rsqrt, Prim::Sin] {
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
