//! Each `exp` of the pair stage under one range test for the whole block of rows, so that the
//! rows' code stays interleaved.

use std::collections::{HashMap, HashSet};

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::constant;
use super::insts::inst_tokens;
use super::pair::row_ident;
use crate::check::Kernel;
use crate::lower::{Inst, Program, Staged, Val};
use crate::math::{ClampedExp, clamped_exp, exp_normal_bound, is_exp_of};
use crate::prim::Prim;

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
    let users = readers(program, order);
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
        if private(staged, &members, result, &users) && members.contains(&exp.clamp[1]) {
            let mut members: Vec<Val> = members.into_iter().collect();
            members.sort_by_key(|v| position[v]);
            regions.push(ExpRegion { exp, members, result });
        }
    }
    regions
}

/// The instructions among `order` that read each value.
pub(crate) fn readers(program: &Program, order: &[Val]) -> HashMap<Val, Vec<Val>> {
    let mut users: HashMap<Val, Vec<Val>> = HashMap::new();
    for &v in order {
        for &a in program.inst(v).operands() {
            users.entry(a).or_default().push(v);
        }
    }
    users
}

/// Whether the values of an expansion's `members` but its `result` are its own: only members
/// read them (`users` says who reads what), and none is an output.
pub(crate) fn private(
    staged: &Staged,
    members: &HashSet<Val>,
    result: Val,
    users: &HashMap<Val, Vec<Val>>,
) -> bool {
    members.iter().filter(|&&v| v != result).all(|v| {
        !staged.outputs.contains(v) && users.get(v).is_some_and(|u| u.iter().all(|u| members.contains(u)))
    })
}

/// An `exp` region for a block of rows: a tuple of the rows' results.
///
/// Where every argument is within the normal range (`Math::all_below_abs`), the region's
/// instructions without the clamp, scaled by `Math::ldexp_normal`. Else, where every argument
/// is below that bound (`Math::all_below`: the pairs far apart of a sharp kernel), without the
/// clamp's upper half, scaled by `Math::ldexp_below`, which is cheaper where results may be
/// subnormal or zero (sharp Gaussians ran 1.6x faster on AVX2). Else (an argument above the
/// bound, or NaN: an overflow) by `Math::exp_beyond`, out of line: that path, inline, was about
/// as much code as the rest of a small kernel (see BENCHMARKS.md). A region that is not exactly
/// keops-core's `exp` is computed inline in that path too, as written.
pub(super) fn exp_block(
    kernel: &Kernel,
    program: &Program,
    region: &ExpRegion,
    block: usize,
    operand: &dyn Fn(Val, usize) -> TokenStream,
) -> TokenStream {
    let bound = constant(kernel.dtype, exp_normal_bound(kernel.dtype));
    let args: Vec<_> = (0..block).map(|b| operand(region.exp.arg, b)).collect();
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
    // The region's instructions but the final scaling, without the clamp's instructions in
    // `skipped` (`clamp[0]` is `min(hi, x)`, `clamp[1]` is `max(lo, x)`).
    let lets = |skipped: &[Val]| {
        let lets = region.members.iter().filter(|&&v| v != region.result).flat_map(|&v| {
            (0..block).map(move |b| {
                let id = row_ident(v, b);
                let value = match program.inst(v) {
                    Inst::Prim(_, [_, x, _]) if skipped.contains(&v) => operand(x, b),
                    _ => inst_tokens(kernel, program, v, &|a| operand(a, b)),
                };
                quote!(let #id = #value;)
            })
        });
        quote!(#(#lets)*)
    };
    let [high, low] = region.exp.clamp;
    let normal = lets(&[high, low]);
    let normal_scale = scale("ldexp_normal");
    let beyond = if is_exp_of(program, region.result, region.exp.arg) {
        let below = lets(&[high]);
        let below_scale = scale("ldexp_below");
        let results = (0..block).map(|b| quote!(x[#b]));
        quote! {
            if m.all_below(&[#(#args),*], #bound) {
                #below
                #below_scale
            } else {
                let mut x = [#(#args),*];
                m.exp_beyond(&mut x);
                (#(#results),*)
            }
        }
    } else {
        let general = lets(&[]);
        let (below_scale, general_scale) = (scale("ldexp_below"), scale("ldexp_int"));
        quote! {
            let below = m.all_below(&[#(#args),*], #bound);
            #general
            if below { #below_scale } else { #general_scale }
        }
    };
    quote! {
        if m.all_below_abs(&[#(#args),*], #bound) {
            #normal
            #normal_scale
        } else {
            maybe_tiny = true;
            #beyond
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{DType, Role};

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

    /// The `exp`s of kernels, lowered and specialised, are keops-core's `exp` of their
    /// argument: their overflows take `Math::exp_beyond`, which is what keeps kernels small.
    #[test]
    fn the_exps_of_kernels_overflow_out_of_line() {
        for text in [
            "|g: f32, x_i: [f32; 3], y_j: [f32; 3], b_j: f32| sum_j exp(-g * sqdist(x_i, y_j)) * b_j",
            "|x_i: [f64; 2], y_j: [f64; 2], b_j: [f64; 2]| sum_j exp(-norm2(x_i - y_j)) * b_j",
            "|x_i: f32, y_j: f32| sum_j exp(x_i + y_j) + exp(x_i * y_j)",
        ] {
            let src =
                crate::syntax::math::parse_kernel_str(text).unwrap_or_else(|d| panic!("{:?}", d.errors()));
            let kernel = crate::check::check(&src).unwrap();
            let staged = crate::codegen::lower_kernel(&kernel).staged;
            let regions = exp_regions(&staged, &staged.pair_schedule());
            assert!(!regions.is_empty(), "{text}");
            for region in regions {
                assert!(is_exp_of(&staged.program, region.result, region.exp.arg), "{text}");
            }
        }
    }
}
