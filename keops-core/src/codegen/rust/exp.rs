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
use crate::math::{ClampedExp, clamped_exp, exp_normal_bound};
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
pub(super) fn exp_block(
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
}
