//! Loops over the components of long vectors in the CPU kernel's pair stage.
//!
//! The lowered program is scalar: `sqdist(x, y)` over 300 components is 300 subtractions and 300
//! fused multiply-adds in four interleaved chains ([`Program::dot`](crate::lower::Program::dot)),
//! and its gradient 300 more products. Printed one statement per instruction and per row of the
//! block, such a kernel is thousands of lines that rustc and LLVM take tens of seconds to compile,
//! and that spill registers when they run. This module finds, in the pair schedule, the
//! instructions that are one operation applied component by component (a [`Map`]) and the four
//! chains of a long dot product over them (a [`Dot`]), so that the Rust generator prints them as
//! loops over the components. The loops perform the same operations on the same operands, in the
//! same order within each chain: the results are the same bits.

use std::collections::{HashMap, HashSet};

use crate::lower::{CHAINS, Inst, Operand, Program, Staged, Val};
use crate::prim::Prim;

/// Vectors shorter than this stay unrolled: their code is small and the straight-line schedule
/// interleaves them with the rest of the formula.
pub(crate) const REROLL_MIN: usize = 128;

/// How an operand of a component-wise operation varies with the component `k`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
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
    /// Whether only dot products read it: then each component is computed where it is used,
    /// rather than stored in an array.
    pub(crate) inline: bool,
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

/// The pair stage's maps and dot products, for the Rust generator.
#[derive(Debug, Default)]
pub(crate) struct Rerolled {
    pub(crate) maps: Vec<Map>,
    pub(crate) dots: Vec<Dot>,
    /// The map and component of each value that a map computes.
    pub(crate) member: HashMap<Val, (usize, usize)>,
    /// The dot product each chain instruction belongs to.
    pub(crate) in_dot: HashMap<Val, usize>,
}

impl Rerolled {
    /// The maps and long dot products of the pair stage scheduled as `order`; `excluded` values
    /// (the instructions of `exp` expansions, which are printed as blocks) belong to none, and
    /// `tiny` are the products printed as `Math::mul_tiny`.
    pub(crate) fn find(
        staged: &Staged,
        order: &[Val],
        excluded: &HashSet<Val>,
        tiny: &HashSet<Val>,
    ) -> Rerolled {
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
        if finder.out.dots.is_empty() {
            return Rerolled::default();
        }
        finder.extend(order);
        let mut out = finder.out;
        // A map is inlined into the dot products when nothing else reads it.
        let reads_only_dots = |map: &Map| {
            map.elems.iter().all(|v| {
                !outputs.contains(v) && users.get(v).into_iter().flatten().all(|u| out.in_dot.contains_key(u))
            })
        };
        let inline: Vec<bool> = out.maps.iter().map(reads_only_dots).collect();
        for (map, inline) in out.maps.iter_mut().zip(inline) {
            map.inline = inline;
        }
        out
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
    /// Records the dot product of chains ending at `ends` over `x` and `y` if both are vectors.
    fn dot(&mut self, ends: Vec<Val>, x: Vec<Val>, y: Vec<Val>) {
        let (Some(lx), Some(ly)) = (self.lane(&x), self.lane(&y)) else { return };
        if matches!(lx, Lane::Scalar(_)) || matches!(ly, Lane::Scalar(_)) {
            return;
        }
        let id = self.out.dots.len();
        let program = &self.staged.program;
        for &end in &ends {
            let mut v = end;
            loop {
                self.out.in_dot.insert(v, id);
                match program.inst(v) {
                    Inst::Prim(Prim::MulAdd, [_, _, acc]) => v = acc,
                    _ => break,
                }
            }
        }
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

    fn add_map(&mut self, prim: Prim, tiny: bool, args: Vec<Lane>, elems: Vec<Val>) -> usize {
        let id = self.out.maps.len();
        for (k, &v) in elems.iter().enumerate() {
            self.out.member.insert(v, (id, k));
        }
        self.out.maps.push(Map { prim, tiny, args, elems, inline: false });
        id
    }

    /// Adds the maps of values computed component by component from the maps found so far (the
    /// gradient's products of the differences, for example), until there are no more.
    fn extend(&mut self, order: &[Val]) {
        let program = &self.staged.program;
        loop {
            // Candidates by operation and operands; each one's components, by position.
            let mut groups: HashMap<(Prim, bool, Vec<Lane>), Vec<Option<Val>>> = HashMap::new();
            for &v in order {
                let Inst::Prim(prim, _) = program.inst(v) else { continue };
                if prim == Prim::LdexpInt || self.excluded.contains(&v) || self.out.member.contains_key(&v) {
                    continue;
                }
                if self.out.in_dot.contains_key(&v) {
                    continue;
                }
                let mut at = None;
                let mut args = Vec::with_capacity(prim.arity());
                let mut consistent = true;
                for &a in program.inst(v).operands() {
                    match self.out.member.get(&a) {
                        Some(&(id, k)) => {
                            consistent &= at.is_none_or(|(_, at)| at == k);
                            at = Some((self.out.maps[id].elems.len(), k));
                            args.push(Lane::Map(id));
                        }
                        None => args.push(Lane::Scalar(a)),
                    }
                }
                let Some((len, k)) = at.filter(|_| consistent) else { continue };
                let slots =
                    groups.entry((prim, self.tiny.contains(&v), args)).or_insert_with(|| vec![None; len]);
                slots[k] = Some(v);
            }
            let mut found = false;
            let mut complete: Vec<_> = groups
                .into_iter()
                .filter_map(|(key, slots)| Some((key, slots.into_iter().collect::<Option<Vec<Val>>>()?)))
                .collect();
            // In schedule order of their first component, so that map numbers are deterministic.
            complete.sort_by_key(|(_, elems)| elems[0].index());
            for ((prim, tiny, args), elems) in complete {
                if elems.iter().any(|v| self.out.member.contains_key(v)) {
                    continue;
                }
                self.add_map(prim, tiny, args, elems);
                found = true;
            }
            if !found {
                return;
            }
        }
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

    /// What `kernel`'s pair stage rerolls: (the lengths of its dot products, of its maps, and how
    /// many maps are inlined).
    fn rerolled(kernel: &Kernel) -> (Vec<usize>, Vec<usize>, usize) {
        let staged = lower_kernel(kernel).staged;
        let order = staged.pair_schedule();
        let r = Rerolled::find(&staged, &order, &HashSet::new(), &HashSet::new());
        let inline = r.maps.iter().filter(|m| m.inline).count();
        (r.dots.iter().map(|d| d.len).collect(), r.maps.iter().map(|m| m.elems.len()).collect(), inline)
    }

    #[test]
    fn long_squared_distances_are_a_dot_product_over_a_map() {
        let k = kernel("|x_i: [f32; 200], y_j: [f32; 200], b_j: f32| sum_j exp(-sqdist(x_i, y_j)) * b_j");
        // The differences, computed where the dot product reads them.
        assert_eq!(rerolled(&k), (vec![200], vec![200], 1));
        // The gradient with respect to x reads the differences again: they are stored.
        let (backward, _) = plan(&k).unwrap();
        let Backward::Reduction { kernel: dx, .. } = &backward[0] else { panic!("a backward kernel") };
        let (dots, maps, inline) = rerolled(dx);
        assert_eq!(dots, vec![200]);
        assert!(!maps.is_empty() && maps.iter().all(|&n| n == 200), "{maps:?}");
        assert_eq!(inline, 0);
    }

    #[test]
    fn a_dot_product_of_features_needs_no_map() {
        let k = kernel("|x_i: [f64; 131], y_j: [f64; 131]| sum_j exp(dot(x_i, y_j))");
        assert_eq!(rerolled(&k), (vec![131], vec![], 0));
    }

    #[test]
    fn short_vectors_stay_unrolled() {
        let n = REROLL_MIN - 1;
        let k = kernel(&format!("|x_i: [f32; {n}], y_j: [f32; {n}]| sum_j exp(-sqdist(x_i, y_j))"));
        assert_eq!(rerolled(&k), (vec![], vec![], 0));
    }
}
