//! Loops over the components of long vectors in the CPU kernel's pair stage.
//!
//! The lowered program is scalar: `sqdist(x, y)` over 300 components is 300 subtractions and 300
//! fused multiply-adds in four interleaved chains ([`Program::dot`](crate::lower::Program::dot)),
//! and its gradient 300 more products. Printed one statement per instruction and per row of the
//! block, such a kernel is thousands of lines that rustc and LLVM take tens of seconds to compile,
//! and that spill registers when they run. This module finds, in the pair schedule, the
//! four chains of a long dot product (a [`Dot`]) and the instructions that compute its operands
//! component by component (a [`Map`]), so that the Rust generator prints them as one loop over
//! the components, each component computed where the loop reads it. The loop performs the same
//! operations on the same operands, in the same order within each chain: the results are the
//! same bits. Kernels whose formula has many components stay unrolled unless their values are
//! summed where the loop computes them (see [`Rerolled::find`]).

use std::collections::{HashMap, HashSet};

use crate::lower::{CHAINS, Inst, Operand, Program, Staged, Val};
use crate::prim::Prim;

/// Vectors shorter than this stay unrolled: their code is small and the straight-line schedule
/// interleaves them with the rest of the formula.
pub(crate) const REROLL_MIN: usize = 64;

/// How an operand of a component-wise operation varies with the component `k`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Lane {
    /// Component `k` of map `id`.
    Map(usize),
    /// The output row's feature `table[k]`.
    Outer(Vec<usize>),
    /// The reduced row's feature `table[k]`.
    Inner(Vec<usize>),
    /// The same value for every component.
    Scalar(Val),
}

/// `elems[k] = prim(args at k)` for every component `k`.
#[derive(Debug)]
pub(crate) struct Map {
    pub(crate) prim: Prim,
    /// Whether the product is printed as `Math::mul_tiny` (see the Rust generator).
    pub(crate) tiny: bool,
    pub(crate) args: Vec<Lane>,
    pub(crate) elems: Vec<Val>,
}

/// `sum_k x_k * y_k` over the components, as [`CHAINS`] chains of fused multiply-adds (term `k`
/// in chain `k % CHAINS`, the first term of each a product), whose ends the program then adds.
#[derive(Debug)]
pub(crate) struct Dot {
    pub(crate) x: Lane,
    pub(crate) y: Lane,
    pub(crate) len: usize,
    /// The last instruction of each chain, which the program reads.
    pub(crate) ends: Vec<Val>,
}

/// The pair stage's long dot products and the maps they read, for the Rust generator.
#[derive(Debug, Default)]
pub(crate) struct Rerolled {
    pub(crate) maps: Vec<Map>,
    pub(crate) dots: Vec<Dot>,
    /// The map and component of each value that a map computes.
    pub(crate) member: HashMap<Val, (usize, usize)>,
    /// The dot product each chain instruction belongs to.
    pub(crate) in_dot: HashMap<Val, usize>,
    /// Where the formula is wide and its values are summed (see [`Outputs`]), how they vary
    /// with their component: the values, or the factors of each product. Empty otherwise.
    pub(crate) values: Vec<Lane>,
}

/// What the code after the pair stage does with the formula's values.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Outputs {
    /// Reads them from the arrays that the stage returns.
    Returned,
    /// Adds each into a sum: where a loop computes it, if the formula is wide.
    Summed,
    /// Adds the product of each value of the first half of the outputs and the value of the
    /// second half at the same component into a sum, as `Summed`.
    SummedProducts,
}

impl Outputs {
    /// The parts the outputs are made of: the values, or the two factors of each.
    fn parts(self) -> usize {
        match self {
            Outputs::SummedProducts => 2,
            Outputs::Returned | Outputs::Summed => 1,
        }
    }
}

impl Rerolled {
    /// The long dot products of the pair stage scheduled as `order`, and the maps they read;
    /// `excluded` values (the instructions of `exp` expansions, which are printed as blocks)
    /// belong to none, and `tiny` are the products printed as `Math::mul_tiny`.
    ///
    /// A formula of many components is rolled only where its values are summed and are a map
    /// (or, for products, a map times a map, a feature or one value: the gradient of a
    /// Gaussian sum with respect to a wide point, `c * (x_k - y_k)`); otherwise it stays
    /// unrolled: returned in arrays that a loop builds, its values are copied more often by the
    /// reduction loop (a gradient over 300 components ran slower rolled that way; see
    /// BENCHMARKS.md).
    pub(crate) fn find(
        staged: &Staged,
        order: &[Val],
        excluded: &HashSet<Val>,
        tiny: &HashSet<Val>,
        outputs: Outputs,
    ) -> Rerolled {
        let parts = outputs.parts();
        let wide = staged.outputs.len() >= REROLL_MIN * parts;
        if wide && outputs == Outputs::Returned {
            return Rerolled::default();
        }
        let program = &staged.program;
        let mut users: HashMap<Val, Vec<Val>> = HashMap::new();
        for &v in order {
            for &a in program.inst(v).operands() {
                users.entry(a).or_default().push(v);
            }
        }
        let outputs: HashSet<Val> = staged.outputs.iter().copied().collect();
        let mut finder = Finder { staged, excluded, tiny, out: Rerolled::default(), lanes: HashMap::new() };
        for &v in order {
            if let Some((ends, x, y)) = dot_chains(program, v, &users, &outputs) {
                finder.dot(ends, x, y);
            }
        }
        if wide {
            let n = staged.outputs.len() / parts;
            let values: Option<Vec<Lane>> = staged.outputs.chunks(n).map(|part| finder.lane(part)).collect();
            match values {
                Some(values) if values.iter().any(|l| matches!(l, Lane::Map(_))) => {
                    finder.out.values = values
                }
                _ => return Rerolled::default(),
            }
        }
        finder.out
    }

    /// Whether nothing is printed as a loop.
    pub(crate) fn is_empty(&self) -> bool {
        self.dots.is_empty() && self.values.is_empty()
    }

    /// The map computing `v` and its component, if any.
    pub(crate) fn member(&self, v: Val) -> Option<(usize, usize)> {
        self.member.get(&v).copied()
    }
}

struct Finder<'a> {
    staged: &'a Staged,
    excluded: &'a HashSet<Val>,
    tiny: &'a HashSet<Val>,
    out: Rerolled,
    /// Vectors already resolved (or found not to be one), by their components.
    lanes: HashMap<Vec<Val>, Option<Lane>>,
}

impl Finder<'_> {
    /// Records the dot product of chains ending at `ends` over `x` and `y` if both are vectors
    /// and the loop prints its products as the program does (none is a `mul_tiny`).
    fn dot(&mut self, ends: Vec<Val>, x: Vec<Val>, y: Vec<Val>) {
        let program = &self.staged.program;
        let mut chain = Vec::new();
        for &end in &ends {
            let mut v = end;
            loop {
                chain.push(v);
                match program.inst(v) {
                    Inst::Prim(Prim::MulAdd, [_, _, acc]) => v = acc,
                    _ => break,
                }
            }
        }
        if chain.iter().any(|v| self.tiny.contains(v)) {
            return;
        }
        let maps = self.out.maps.len();
        let (Some(lx), Some(ly)) = (self.lane(&x), self.lane(&y)) else { return self.forget_maps_from(maps) };
        if matches!(lx, Lane::Scalar(_)) || matches!(ly, Lane::Scalar(_)) {
            return self.forget_maps_from(maps);
        }
        let id = self.out.dots.len();
        self.out.in_dot.extend(chain.into_iter().map(|v| (v, id)));
        self.out.dots.push(Dot { x: lx, y: ly, len: x.len(), ends });
    }

    /// How `elems` vary with their component, if they are a feature vector, a map or one value.
    fn lane(&mut self, elems: &[Val]) -> Option<Lane> {
        if let Some(lane) = self.lanes.get(elems) {
            return lane.clone();
        }
        let lane = self.resolve(elems);
        self.lanes.insert(elems.to_vec(), lane.clone());
        lane
    }

    fn resolve(&mut self, elems: &[Val]) -> Option<Lane> {
        if elems.iter().all(|&v| v == elems[0]) {
            return Some(Lane::Scalar(elems[0]));
        }
        let operands: Vec<Operand> = elems.iter().map(|&v| self.staged.operand(v)).collect();
        if let Some(table) =
            operands.iter().map(|o| if let Operand::Outer(k) = o { Some(*k) } else { None }).collect()
        {
            return Some(Lane::Outer(table));
        }
        if let Some(table) =
            operands.iter().map(|o| if let Operand::Inner(k) = o { Some(*k) } else { None }).collect()
        {
            return Some(Lane::Inner(table));
        }
        if let Some(&(id, 0)) = self.out.member.get(&elems[0])
            && self.out.maps[id].elems == elems
        {
            return Some(Lane::Map(id));
        }
        let program = &self.staged.program;
        let Inst::Prim(prim, _) = program.inst(elems[0]) else { return None };
        let tiny = self.tiny.contains(&elems[0]);
        let same = |v: &Val| {
            matches!(program.inst(*v), Inst::Prim(p, _) if p == prim)
                && self.tiny.contains(v) == tiny
                && !self.excluded.contains(v)
                && !self.out.member.contains_key(v)
                && matches!(self.staged.operand(*v), Operand::Pair(_))
        };
        if prim == Prim::LdexpInt || !elems.iter().all(same) {
            return None;
        }
        let mut args = Vec::with_capacity(prim.arity());
        for p in 0..prim.arity() {
            let column: Vec<Val> = elems.iter().map(|&v| program.inst(v).operands()[p]).collect();
            args.push(self.lane(&column)?);
        }
        Some(Lane::Map(self.add_map(prim, tiny, args, elems.to_vec())))
    }

    /// Drops the maps from number `first` on, which no dot product reads.
    fn forget_maps_from(&mut self, first: usize) {
        for map in self.out.maps.drain(first..) {
            for v in map.elems {
                self.out.member.remove(&v);
            }
        }
        self.lanes.retain(|_, lane| !matches!(lane, Some(Lane::Map(id)) if *id >= first));
    }

    fn add_map(&mut self, prim: Prim, tiny: bool, args: Vec<Lane>, elems: Vec<Val>) -> usize {
        let id = self.out.maps.len();
        for (k, &v) in elems.iter().enumerate() {
            self.out.member.insert(v, (id, k));
        }
        self.out.maps.push(Map { prim, tiny, args, elems });
        id
    }
}

/// If `root` adds the ends of [`CHAINS`] chains of a long dot product, `((e0 + e1) + (e2 + e3))`
/// as [`Program::dot`](crate::lower::Program::dot) combines them: the chains' ends and the
/// product's operands in component order.
fn dot_chains(
    program: &Program,
    root: Val,
    users: &HashMap<Val, Vec<Val>>,
    outputs: &HashSet<Val>,
) -> Option<(Vec<Val>, Vec<Val>, Vec<Val>)> {
    debug_assert_eq!(CHAINS, 4);
    let add = |v: Val| match program.inst(v) {
        Inst::Prim(Prim::Add, [a, b, _]) => Some([a, b]),
        _ => None,
    };
    let [left, right] = add(root)?;
    let [e0, e1] = add(left)?;
    let [e2, e3] = add(right)?;
    let private = |v: Val| !outputs.contains(&v) && users.get(&v).is_some_and(|u| u.len() == 1);
    if ![left, right].into_iter().all(private) {
        return None;
    }
    // Each chain's terms, first to last.
    let mut chains = Vec::with_capacity(CHAINS);
    for end in [e0, e1, e2, e3] {
        if !private(end) {
            return None;
        }
        let mut terms = Vec::new();
        let mut v = end;
        loop {
            match program.inst(v) {
                Inst::Prim(Prim::MulAdd, [x, y, acc]) => {
                    terms.push((x, y));
                    if !private(acc) {
                        return None;
                    }
                    v = acc;
                }
                Inst::Prim(Prim::Mul, [x, y, _]) => {
                    terms.push((x, y));
                    break;
                }
                _ => return None,
            }
        }
        terms.reverse();
        chains.push(terms);
    }
    let len: usize = chains.iter().map(Vec::len).sum();
    // Chain `l` has the terms `l, l + 4, ...`: as many as `len` has.
    let counts_fit = chains.iter().enumerate().all(|(l, c)| c.len() == (len + CHAINS - 1 - l) / CHAINS);
    if len < REROLL_MIN || !counts_fit {
        return None;
    }
    let (x, y) = (0..len).map(|k| chains[k % CHAINS][k / CHAINS]).unzip();
    Some((vec![e0, e1, e2, e3], x, y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backward::{Backward, plan};
    use crate::check::{Kernel, check};
    use crate::codegen::lower_kernel;
    use crate::syntax::math::parse_kernel_str;

    fn kernel(text: &str) -> Kernel {
        check(&parse_kernel_str(text).unwrap_or_else(|d| panic!("{:?}", d.errors()))).unwrap()
    }

    /// What `kernel`'s pair stage rerolls: the lengths of its dot products and of its maps.
    fn rerolled(kernel: &Kernel, outputs: Outputs) -> (Vec<usize>, Vec<usize>) {
        let staged = lower_kernel(kernel).staged;
        let order = staged.pair_schedule();
        let r = Rerolled::find(&staged, &order, &HashSet::new(), &HashSet::new(), outputs);
        (r.dots.iter().map(|d| d.len).collect(), r.maps.iter().map(|m| m.elems.len()).collect())
    }

    #[test]
    fn long_squared_distances_are_a_dot_product_over_a_map() {
        let k = kernel("|x_i: [f32; 200], y_j: [f32; 200], b_j: f32| sum_j exp(-sqdist(x_i, y_j)) * b_j");
        // The differences.
        assert_eq!(rerolled(&k, Outputs::Returned), (vec![200], vec![200]));
        let (backward, _) = plan(&k).unwrap();
        let kernel_of = |pos: usize, outputs| match &backward[pos] {
            Backward::Reduction { kernel, .. } => rerolled(kernel, outputs),
            _ => panic!("a backward kernel"),
        };
        // The gradient with respect to x has 200 components: unrolled where they are returned,
        // else a loop over the differences and one over the values, `c * (x_k - y_k)`.
        assert_eq!(kernel_of(0, Outputs::Returned), (vec![], vec![]));
        assert_eq!(kernel_of(0, Outputs::Summed), (vec![200], vec![200, 200]));
        // As products, `(x_k - y_k) * c`: the differences, times one value.
        let Backward::Reduction { kernel: gx, .. } = &backward[0] else { panic!("a backward kernel") };
        let products = lower_kernel(gx).factored(gx).unwrap().staged;
        let r = Rerolled::find(
            &products,
            &products.pair_schedule(),
            &HashSet::new(),
            &HashSet::new(),
            Outputs::SummedProducts,
        );
        assert_eq!((r.dots.len(), r.maps.len()), (1, 1));
        assert!(matches!(r.values.as_slice(), [Lane::Map(0), Lane::Scalar(_)]), "{:?}", r.values);
        // With respect to b, one: the same loop.
        assert_eq!(kernel_of(2, Outputs::Returned), (vec![200], vec![200]));
    }

    #[test]
    fn wide_values_that_are_no_map_stay_unrolled() {
        // The values' `exp`s are no map, and the dot product over the differences is not rolled
        // either.
        let k = kernel("|x_i: [f32; 64], y_j: [f32; 64]| sum_j exp(x_i - y_j) * sqdist(x_i, y_j)");
        assert_eq!(rerolled(&k, Outputs::Summed), (vec![], vec![]));
    }

    #[test]
    fn a_dot_product_of_features_needs_no_map() {
        let k = kernel("|x_i: [f64; 131], y_j: [f64; 131]| sum_j exp(dot(x_i, y_j))");
        assert_eq!(rerolled(&k, Outputs::Returned), (vec![131], vec![]));
    }

    #[test]
    fn a_dot_product_that_stays_unrolled_leaves_no_map() {
        // The differences are a map, but the `exp`s are not: neither is kept.
        let k = kernel("|x_i: [f32; 64], y_j: [f32; 64]| sum_j dot(x_i - y_j, exp(x_i - y_j))");
        assert_eq!(rerolled(&k, Outputs::Returned), (vec![], vec![]));
    }

    #[test]
    fn short_vectors_stay_unrolled() {
        let n = REROLL_MIN - 1;
        let k = kernel(&format!("|x_i: [f32; {n}], y_j: [f32; {n}]| sum_j exp(-sqdist(x_i, y_j))"));
        assert_eq!(rerolled(&k, Outputs::Returned), (vec![], vec![]));
    }
}
