//! The pair stage: the formula for a block of output rows and one reduced row, its
//! instructions interleaved across the rows, its `exp`s under one test per block
//! ([`super::exp`]) and its long dot products as loops ([`reroll`](crate::codegen::reroll)).

use std::collections::{BTreeSet, HashMap, HashSet};

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote};

use super::constant;
use super::exp::{ExpRegion, exp_block, exp_regions};
use super::insts::{bind_groups, inst_tokens};
use crate::check::Kernel;
use crate::codegen::reroll::{Dot, Lane, Outputs, Rerolled};
use crate::lower::{Inst, Operand, Program, Staged, Val};
use crate::prim::Prim;

/// The pair stage for a block of output rows: reads the features `o[b][k]` of each row `b` and
/// `j[k]` of the reduced row, and returns each row's formula values, and whether an `exp` took
/// its path for arguments beyond the normal range (`maybe_tiny`: then the values that derive
/// from it may be subnormal, which `Math::mul_tiny` and the sums' `Math::mul_add_tiny` take
/// care of). The rows' instructions are interleaved, so that their independent dependency
/// chains overlap in the pipeline.
///
/// Each `exp` is computed under one test for the whole block, so that the rows' code stays
/// interleaved: if every argument is below [`exp_normal_bound`](crate::math::exp_normal_bound)
/// in magnitude (`Math::all_below_abs`), without its clamp and with a plain final scaling
/// (`Math::ldexp_normal`), which give the same values there; else, if every argument is below
/// that bound, with the clamp's lower half and scaled by `Math::ldexp_below`; else (an
/// overflow) by `Math::exp_beyond`, out of line (see [`exp_block`]). An `LdexpInt` of no
/// recognised `exp` has a test of its own, on its exponents.
///
/// Where the formula's values are a loop (a wide formula whose values are summed, see
/// [`Outputs`]), each row's arrays are filled by it.
pub(super) fn pair(
    kernel: &Kernel,
    staged: &Staged,
    plan: &PairPlan,
    nf: usize,
    block: usize,
) -> TokenStream {
    let lanes = plan.lanes(kernel, staged);
    let operand = |a: Val, b: usize| lanes.operand(a, b);
    let stage = stage(kernel, staged, plan, block);
    // Part 0 holds the formula's values, part 1 the second formula's (or the second factors).
    let array = |part: usize, range: std::ops::Range<usize>, b: usize| match plan.rerolled.values.get(part) {
        Some(lane) => {
            let (n, value) = (range.len(), lanes.at(lane, &quote!(k), b));
            let zero = constant(kernel.dtype, 0.0);
            quote! {{
                let mut values = [m.splat(#zero); #n];
                for k in 0..#n {
                    values[k] = #value;
                }
                values
            }}
        }
        None => {
            let values = staged.outputs[range].iter().map(|&v| operand(v, b));
            quote!([#(#values),*])
        }
    };
    let rows = (0..block).map(|b| {
        let (f, g) = (array(0, 0..nf, b), array(1, nf..staged.outputs.len(), b));
        quote!((#f, #g))
    });
    quote! {
        #stage
        ([#(#rows),*], maybe_tiny)
    }
}

/// The pair stage adding each row's formula values into its sums `sums[b]` (the body of
/// `KernelDef::pair_sum_inline`), where they are a loop (see [`Outputs`]): the same operations
/// as the reducer's step (`Sum`'s additions, or `SumOfProducts`' fused multiply-adds, with
/// `Math::mul_add_tiny` where an `exp` went beyond its normal range), in the same order,
/// without returning the values.
pub(super) fn pair_sum(
    kernel: &Kernel,
    staged: &Staged,
    plan: &PairPlan,
    block: usize,
) -> Option<TokenStream> {
    let parts = &plan.rerolled.values;
    if parts.is_empty() {
        return None;
    }
    let lanes = plan.lanes(kernel, staged);
    let n = staged.outputs.len() / parts.len();
    let stage = stage(kernel, staged, plan, block);
    let adds = |method: TokenStream| -> TokenStream {
        let rows = (0..block).map(|b| {
            let at = |part: &Lane| lanes.at(part, &quote!(k), b);
            match parts.as_slice() {
                [value] => {
                    let value = at(value);
                    quote!(sums[#b][k] = m.add(sums[#b][k], #value);)
                }
                [f, g] => {
                    let (f, g) = (at(f), at(g));
                    quote!(sums[#b][k] = m.#method(#f, #g, sums[#b][k]);)
                }
                _ => unreachable!("a sum's values are one part or two factors"),
            }
        });
        quote! {
            for k in 0..#n {
                #(#rows)*
            }
        }
    };
    let sums = match parts.len() {
        1 => adds(TokenStream::new()),
        _ => {
            let (normal, tiny) = (adds(quote!(mul_add)), adds(quote!(mul_add_tiny)));
            quote!(if maybe_tiny { #tiny } else { #normal })
        }
    };
    Some(quote! {
        #stage
        #sums
    })
}

/// The pair stage's instructions, all but the loop over the formula's values where there is one,
/// after the feature tables they read and the `maybe_tiny` flag.
fn stage(kernel: &Kernel, staged: &Staged, plan: &PairPlan, block: usize) -> TokenStream {
    let program = &staged.program;
    let PairPlan { order, exps, tiny, rerolled, .. } = plan;
    let lanes = plan.lanes(kernel, staged);
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
    let scales = order.iter().any(|&v| matches!(program.inst(v), Inst::Prim(Prim::LdexpInt, _)));
    let flag = if scales { quote!(let mut maybe_tiny = false;) } else { quote!(let maybe_tiny = false;) };
    let tables = lanes.tables();
    quote! {
        #tables
        #flag
        #body
    }
}

/// How the pair stage is printed: its schedule, its `exp` expansions, its products of values
/// that may be subnormal, and its loops over long vectors.
pub(super) struct PairPlan {
    pub(super) order: Vec<Val>,
    exps: Vec<ExpRegion>,
    tiny: HashSet<Val>,
    rerolled: Rerolled,
    /// Where each output-row feature of `Staged::outer_features` is in the arrays of features
    /// that the compiled kernel passes around: the components of each vector that a loop reads
    /// are consecutive, so that the loop reads them at `base + k`, not through a table.
    pub(super) outer: Vec<usize>,
    /// The same for the reduced row's features.
    pub(super) inner: Vec<usize>,
}

impl PairPlan {
    /// The plan of `staged`'s pair stage, whose values go to `outputs`.
    pub(super) fn new(staged: &Staged, outputs: Outputs) -> PairPlan {
        let order = staged.pair_schedule();
        let exps = exp_regions(staged, &order);
        let tiny = tiny_products(&staged.program, &order);
        let excluded: HashSet<Val> = exps.iter().flat_map(|e| e.members.iter().copied()).collect();
        let rerolled = Rerolled::find(staged, &order, &excluded, &tiny, outputs);
        let lanes = || {
            (rerolled.dots.iter().flat_map(|d| [&d.x, &d.y]))
                .chain(rerolled.maps.iter().flat_map(|m| &m.args))
                .chain(&rerolled.values)
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
    pub(super) fn arranged(features: &[Val], layout: &[usize]) -> Vec<Val> {
        let mut out = features.to_vec();
        for (k, &v) in features.iter().enumerate() {
            out[layout[k]] = v;
        }
        out
    }

    /// The instructions printed one by one: all but those of the loops.
    pub(super) fn printed(&self) -> usize {
        self.order.len() - self.rerolled.member.len() - self.rerolled.in_dot.len()
    }

    fn lanes<'a>(&'a self, kernel: &'a Kernel, staged: &'a Staged) -> LaneTokens<'a> {
        LaneTokens { kernel, staged, rerolled: &self.rerolled, outer: &self.outer, inner: &self.inner }
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
    if rerolled.is_empty() {
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
/// [`reroll`](crate::codegen::reroll)).
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
            .chain(self.rerolled.dots.iter().flat_map(|d| [&d.x, &d.y]))
            .chain(&self.rerolled.values);
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
pub(super) fn row_ident(v: Val, b: usize) -> syn::Ident {
    format_ident!("v{}_{b}", v.index())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codegen::lower_kernel;
    use crate::codegen::rust::kernel_def::MAX_COMPILED_PAIR;
    use crate::ir::{DType, Role};

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
        PairPlan::new(&lower_kernel(&kernel).staged, Outputs::Returned)
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
