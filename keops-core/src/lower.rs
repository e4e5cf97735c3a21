//! Lowering: from the vector IR to a scalar program, and the split of that program into the
//! stages a kernel runs.
//!
//! Each formula node of dimension `d` becomes `d` scalar values, computed by [`Prim`]
//! instructions; the op table says how (its `lower` column). The scalar program is hash-consed
//! like the IR, so a component shared by several nodes is computed once.
//!
//! Every value then gets a *level*: which side of the reduction it depends on. Values that depend
//! only on the output row's variables (and parameters) are computed once per output row; values
//! that depend only on the reduced variables are computed once per reduced row, before the
//! reduction; only the rest is evaluated per pair. The per-pair stage reads the first two
//! through *features*: the values the pair stage consumes from each side.

use std::collections::HashMap;

use crate::ir::{DType, Graph, Node, NodeId, Role};
use crate::prim::Prim;

/// A scalar value of a [`Program`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Val(u32);

impl Val {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One scalar instruction. Each defines the value with the same index.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Inst {
    /// Component `comp` of the variable at signature position `var`.
    Load { var: usize, comp: usize },
    /// A constant, stored as bits so that instructions hash.
    Const(u64),
    /// A primitive applied to the first `prim.arity()` operands.
    Prim(Prim, [Val; 3]),
}

impl Inst {
    pub fn operands(&self) -> &[Val] {
        match self {
            Inst::Prim(p, args) => &args[..p.arity()],
            _ => &[],
        }
    }
}

/// A straight-line scalar program in SSA form, for one floating-point type.
#[derive(Clone, Debug)]
pub struct Program {
    dtype: DType,
    insts: Vec<Inst>,
    index: HashMap<Inst, Val>,
    /// The expanded primitives that stay one instruction, for a target that lowers them itself.
    native: &'static [Prim],
}

impl Program {
    pub fn new(dtype: DType) -> Program {
        Program { dtype, insts: Vec::new(), index: HashMap::new(), native: &[] }
    }

    /// A program whose `native` expanded primitives (`Prim::Exp`, `Prim::Rsqrt`) are
    /// instructions rather than expanded, for a target with its own lowering of them (a GPU's
    /// special-function unit).
    pub fn with_native(dtype: DType, native: &'static [Prim]) -> Program {
        Program { native, ..Program::new(dtype) }
    }

    /// A program with no instructions and the same settings.
    pub fn emptied(&self) -> Program {
        Program { native: self.native, ..Program::new(self.dtype) }
    }

    /// Whether `prim` is an instruction of this program although it is an expanded primitive.
    pub fn is_native(&self, prim: Prim) -> bool {
        self.native.contains(&prim)
    }

    /// The type the program computes in.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn insts(&self) -> &[Inst] {
        &self.insts
    }

    pub fn inst(&self, v: Val) -> Inst {
        self.insts[v.index()]
    }

    pub fn as_const(&self, v: Val) -> Option<f64> {
        match self.inst(v) {
            Inst::Const(bits) => Some(f64::from_bits(bits)),
            _ => None,
        }
    }

    fn push(&mut self, inst: Inst) -> Val {
        if let Some(&v) = self.index.get(&inst) {
            return v;
        }
        let v = Val(u32::try_from(self.insts.len()).expect("program over 2^32 instructions"));
        self.insts.push(inst);
        self.index.insert(inst, v);
        v
    }

    pub fn load(&mut self, var: usize, comp: usize) -> Val {
        self.push(Inst::Load { var, comp })
    }

    /// A constant, rounded to the program's type.
    pub fn constant(&mut self, value: f64) -> Val {
        let value = match self.dtype {
            _ if value.is_nan() => f64::NAN,
            DType::F32 => value as f32 as f64,
            DType::F64 => value,
        };
        self.push(Inst::Const(value.to_bits()))
    }

    /// Emits `prim(args)`, folding constants and the identities that are exact in floating
    /// point (`x + 0`, `x * 1`, `x / 1`, `--x`), and putting commutative operands in order. An
    /// expanded primitive (`exp`, `sin`, ...) with a non-constant operand becomes its sequence of
    /// basic primitives ([`crate::math`]), so that none is ever an instruction.
    pub fn prim(&mut self, prim: Prim, args: &[Val]) -> Val {
        assert_eq!(args.len(), prim.arity(), "wrong operand count for {prim:?}");
        let consts: Option<Vec<f64>> = args.iter().map(|&a| self.as_const(a)).collect();
        if let Some(c) = consts {
            return self.constant(prim.eval(&c));
        }
        if prim.is_expanded() && !self.is_native(prim) {
            return crate::math::expand(self, prim, args);
        }
        let c = |i: usize| self.as_const(args[i]);
        match prim {
            Prim::Add if c(0) == Some(0.0) => return args[1],
            Prim::Add | Prim::Sub if c(1) == Some(0.0) => return args[0],
            Prim::Mul if c(0) == Some(1.0) => return args[1],
            Prim::Mul | Prim::Div if c(1) == Some(1.0) => return args[0],
            Prim::Sub if c(0) == Some(0.0) => return self.prim(Prim::Neg, &args[1..]),
            Prim::MulAdd if c(0) == Some(0.0) || c(1) == Some(0.0) => return args[2],
            Prim::MulAdd if c(2) == Some(0.0) => return self.prim(Prim::Mul, &args[..2]),
            Prim::MulAdd if c(0) == Some(1.0) => return self.prim(Prim::Add, &[args[1], args[2]]),
            Prim::MulAdd if c(1) == Some(1.0) => return self.prim(Prim::Add, &[args[0], args[2]]),
            Prim::Neg => {
                if let Inst::Prim(Prim::Neg, inner) = self.inst(args[0]) {
                    return inner[0];
                }
            }
            _ => {}
        }
        // Unused operand slots hold a fixed sentinel, so that equal instructions hash equal.
        let mut ops = [Val(u32::MAX); 3];
        ops[..args.len()].copy_from_slice(args);
        // Min and max are left alone: with a NaN operand their result depends on the order.
        if matches!(prim, Prim::Add | Prim::Mul | Prim::MulAdd) && ops[1] < ops[0] {
            ops.swap(0, 1);
        }
        self.push(Inst::Prim(prim, ops))
    }

    pub fn add(&mut self, a: Val, b: Val) -> Val {
        self.prim(Prim::Add, &[a, b])
    }

    pub fn sub(&mut self, a: Val, b: Val) -> Val {
        self.prim(Prim::Sub, &[a, b])
    }

    pub fn mul(&mut self, a: Val, b: Val) -> Val {
        self.prim(Prim::Mul, &[a, b])
    }

    pub fn div(&mut self, a: Val, b: Val) -> Val {
        self.prim(Prim::Div, &[a, b])
    }

    pub fn mul_add(&mut self, a: Val, b: Val, c: Val) -> Val {
        self.prim(Prim::MulAdd, &[a, b, c])
    }

    /// `sum_k a_k`: left to right, or for a long sum in [`CHAINS`] interleaved partial sums
    /// (term `k` in chain `k % CHAINS`) added pairwise at the end, so that it is not one chain
    /// of dependent additions.
    pub fn sum(&mut self, a: &[Val]) -> Val {
        let zero = self.constant(0.0);
        let n = chains(a.len());
        let chains: Vec<Val> =
            (0..n).map(|c| a.iter().skip(c).step_by(n).fold(zero, |acc, &x| self.add(acc, x))).collect();
        self.combine(chains, zero)
    }

    /// `sum_k a_k * b_k` as fused multiply-adds, split into chains as [`Program::sum`].
    pub fn dot(&mut self, a: &[Val], b: &[Val]) -> Val {
        debug_assert_eq!(a.len(), b.len());
        let zero = self.constant(0.0);
        let n = chains(a.len());
        let chains: Vec<Val> = (0..n)
            .map(|c| {
                let terms = a.iter().zip(b).skip(c).step_by(n);
                terms.fold(zero, |acc, (&x, &y)| self.mul_add(x, y, acc))
            })
            .collect();
        self.combine(chains, zero)
    }

    /// The sum of partial sums, pairwise: `(c0 + c1) + (c2 + c3)`.
    fn combine(&mut self, mut parts: Vec<Val>, zero: Val) -> Val {
        while parts.len() > 1 {
            parts = parts
                .chunks(2)
                .map(|pair| if let [x, y] = pair { self.add(*x, *y) } else { pair[0] })
                .collect();
        }
        parts.pop().unwrap_or(zero)
    }
}

/// Independent partial sums of a long sum in [`Program::sum`] and [`Program::dot`]: enough to
/// cover the latency of an addition with the two vector units of a core.
pub const CHAINS: usize = 4;

/// Below this many terms a sum is one chain: its latency is short next to everything else, and
/// one chain of fused multiply-adds is the fewest instructions.
const SHORT: usize = 8;

/// The number of partial sums of a sum of `terms` terms.
fn chains(terms: usize) -> usize {
    if terms < SHORT { terms.min(1) } else { CHAINS }
}

/// Lowers the formula nodes `roots` to scalar values, one per component.
pub fn lower(graph: &Graph, roots: &[NodeId], program: &mut Program) -> Vec<Vec<Val>> {
    let mut vals: HashMap<NodeId, Vec<Val>> = HashMap::new();
    for id in graph.topo_order(roots) {
        let components = match graph.node(id) {
            Node::Var(v) => (0..v.dim).map(|k| program.load(v.pos, k)).collect(),
            Node::Const(bits) => vec![program.constant(f64::from_bits(*bits))],
            Node::Zero(d) => vec![program.constant(0.0); *d],
            Node::Op(op, args, attrs) => {
                let args: Vec<&[Val]> = args.iter().map(|a| vals[a].as_slice()).collect();
                let out = op.spec().lower(program, &args, attrs);
                debug_assert_eq!(out.len(), graph.dim(id), "lowering of `{}`", op.spec().name);
                out
            }
        };
        vals.insert(id, components);
    }
    roots.iter().map(|r| vals[r].clone()).collect()
}

/// Regroups products so that their factors of one side of the reduction are multiplied
/// together, once per row, rather than one by one into a per-pair value: a gradient's
/// `((exp(..) (b_j e_i)) g) 2` becomes `(exp(..) b_j) (e_i g 2)`, two per-pair
/// multiplications instead of four. A product is a tree of multiplications whose inner nodes
/// have no other use; its per-pair factors keep their order, then come the reduced-row factors,
/// then the output-row factors and constants. The rounding differs, as with any reassociation,
/// but not its bound: the same factors, the same number of multiplications. Trees that would
/// not save a per-pair multiplication are left as they are.
fn hoist_factors(
    program: Program,
    outputs: Vec<Val>,
    levels: &dyn Fn(&Program) -> Vec<Level>,
) -> (Program, Vec<Val>) {
    let level = levels(&program);
    let insts = &program.insts;
    let is_mul = |v: Val| matches!(insts[v.index()], Inst::Prim(Prim::Mul, _));
    let mut uses = vec![0usize; insts.len()];
    for inst in insts {
        for a in inst.operands() {
            uses[a.index()] += 1;
        }
    }
    for v in &outputs {
        uses[v.index()] += 1;
    }
    // A multiplication is absorbed into its user's product when that user is its only use and
    // a multiplication too.
    let mut absorbed = vec![false; insts.len()];
    for inst in insts {
        if let Inst::Prim(Prim::Mul, _) = inst {
            for &a in inst.operands() {
                if is_mul(a) && uses[a.index()] == 1 {
                    absorbed[a.index()] = true;
                }
            }
        }
    }
    let mut rebuilt = program.emptied();
    let mut map: Vec<Val> = Vec::with_capacity(insts.len());
    for (i, inst) in insts.iter().enumerate() {
        let v = Val(i as u32);
        let new = match *inst {
            Inst::Load { var, comp } => rebuilt.load(var, comp),
            Inst::Const(bits) => rebuilt.constant(f64::from_bits(bits)),
            Inst::Prim(Prim::Mul, _) if !absorbed[i] && level[i] == Level::PAIR => {
                // The factors, left to right, and how many of the tree's multiplications are
                // per pair.
                let (mut factors, mut per_pair) = (vec![], 0);
                let mut stack = vec![v];
                while let Some(u) = stack.pop() {
                    if is_mul(u) && (u == v || absorbed[u.index()]) {
                        per_pair += usize::from(level[u.index()] == Level::PAIR);
                        stack.extend(insts[u.index()].operands().iter().rev());
                    } else {
                        factors.push(u);
                    }
                }
                let level = &level;
                let side = |l: Level| factors.iter().copied().filter(move |f| level[f.index()] == l);
                let pair: Vec<Val> = side(Level::PAIR).collect();
                let inner: Vec<Val> = side(Level::INNER).collect();
                let outer: Vec<Val> = side(Level::OUTER).chain(side(Level::NONE)).collect();
                let groups = usize::from(!inner.is_empty()) + usize::from(!outer.is_empty());
                let needed = (pair.len() + groups).saturating_sub(1);
                if needed < per_pair {
                    let product = |vals: &[Val], rebuilt: &mut Program| {
                        vals.iter().map(|f| map[f.index()]).reduce(|a, b| rebuilt.mul(a, b))
                    };
                    let parts = [
                        product(&pair, &mut rebuilt),
                        product(&inner, &mut rebuilt),
                        product(&outer, &mut rebuilt),
                    ];
                    parts
                        .into_iter()
                        .flatten()
                        .reduce(|a, b| rebuilt.mul(a, b))
                        .expect("a product has factors")
                } else {
                    // Not regrouped: its absorbed multiplications are emitted as they were.
                    copy_tree(v, insts, &absorbed, &map, &mut rebuilt)
                }
            }
            _ if absorbed[i] => Val(u32::MAX),
            Inst::Prim(prim, _) => {
                let args: Vec<Val> = inst
                    .operands()
                    .iter()
                    .map(|a| resolve(*a, insts, &absorbed, &map, &mut rebuilt))
                    .collect();
                rebuilt.prim(prim, &args)
            }
        };
        map.push(new);
    }
    let outputs = outputs.iter().map(|&v| map[v.index()]).collect();
    (rebuilt, outputs)
}

/// The value of `v` in the rebuilt program, emitting the absorbed multiplications under it.
fn resolve(v: Val, insts: &[Inst], absorbed: &[bool], map: &[Val], rebuilt: &mut Program) -> Val {
    if absorbed[v.index()] { copy_tree(v, insts, absorbed, map, rebuilt) } else { map[v.index()] }
}

/// Emits the multiplication `v` as it was, absorbed operands included.
fn copy_tree(v: Val, insts: &[Inst], absorbed: &[bool], map: &[Val], rebuilt: &mut Program) -> Val {
    let [a, b] = [0, 1].map(|k| resolve(insts[v.index()].operands()[k], insts, absorbed, map, rebuilt));
    rebuilt.mul(a, b)
}

/// Which side of the reduction a value depends on, as a bit set.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Level(u8);

impl Level {
    /// Constants and parameters.
    pub const NONE: Level = Level(0);
    /// The variables of the output row.
    pub const OUTER: Level = Level(1);
    /// The variables of the reduced index.
    pub const INNER: Level = Level(2);
    /// Both: evaluated per pair.
    pub const PAIR: Level = Level(3);

    fn union(self, other: Level) -> Level {
        Level(self.0 | other.0)
    }
}

/// Where the pair stage finds an operand.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Operand {
    /// A value computed in the pair stage itself.
    Pair(Val),
    /// The k-th feature of the output row.
    Outer(usize),
    /// The k-th feature of the reduced row.
    Inner(usize),
    Const(f64),
}

/// A scalar program split into its per-output-row, per-reduced-row and per-pair stages.
#[derive(Clone, Debug)]
pub struct Staged {
    pub program: Program,
    pub levels: Vec<Level>,
    /// Values computed once per output row that the pair stage reads.
    pub outer_features: Vec<Val>,
    /// Values computed once per reduced row that the pair stage reads.
    pub inner_features: Vec<Val>,
    /// The pair stage's results, in order.
    pub outputs: Vec<Val>,
}

impl Staged {
    /// Splits `program` for a reduction whose output rows are indexed by `outer` (I for a
    /// reduction over j); `roles[pos]` is the role of the variable at each position.
    pub fn new(program: Program, outputs: Vec<Val>, roles: &[Role], outer: Role) -> Staged {
        let levels = |program: &Program| -> Vec<Level> {
            let mut levels = Vec::with_capacity(program.insts.len());
            for inst in &program.insts {
                let level = match *inst {
                    Inst::Load { var, .. } => match roles[var] {
                        Role::Param => Level::NONE,
                        r if r == outer => Level::OUTER,
                        _ => Level::INNER,
                    },
                    Inst::Const(_) => Level::NONE,
                    Inst::Prim(..) => {
                        inst.operands().iter().fold(Level::NONE, |l, a| l.union(levels[a.index()]))
                    }
                };
                levels.push(level);
            }
            levels
        };
        let (program, outputs) = hoist_factors(program, outputs, &levels);
        let levels = levels(&program);
        let mut staged = Staged { program, levels, outer_features: vec![], inner_features: vec![], outputs };
        let mut consumed: Vec<Val> = staged.outputs.clone();
        for v in staged.pair_schedule() {
            consumed.extend_from_slice(staged.program.inst(v).operands());
        }
        for v in consumed {
            if staged.program.as_const(v).is_some() || staged.levels[v.index()] == Level::PAIR {
                continue;
            }
            let features = if staged.levels[v.index()] == Level::INNER {
                &mut staged.inner_features
            } else {
                &mut staged.outer_features
            };
            if !features.contains(&v) {
                features.push(v);
            }
        }
        staged
    }

    /// The instructions needed for `targets` (through values that pass `filter`), in the order
    /// code generators emit them: program order, except that a value with a single user is
    /// emitted right before that user. This keeps few values live (the 64 differences of a
    /// 64-dimensional distance are not all computed before the first is squared) while keeping
    /// independent chains interleaved as the lowering created them.
    pub fn schedule(&self, targets: &[Val], filter: impl Fn(Val) -> bool) -> Vec<Val> {
        let n = self.program.insts.len();
        let mut needed = vec![false; n];
        let mut stack: Vec<Val> = targets.iter().copied().filter(|&v| filter(v)).collect();
        while let Some(v) = stack.pop() {
            if std::mem::replace(&mut needed[v.index()], true) {
                continue;
            }
            stack.extend(self.program.inst(v).operands().iter().copied().filter(|&a| filter(a)));
        }
        let mut users = vec![0u32; n];
        for v in (0..n).filter(|&i| needed[i]) {
            let inst = self.program.insts[v];
            let mut operands = inst.operands().to_vec();
            operands.dedup();
            for a in operands.into_iter().filter(|&a| needed[a.index()]) {
                users[a.index()] += 1;
            }
        }
        for t in targets.iter().filter(|&&t| needed[t.index()]) {
            users[t.index()] += 2;
        }
        let deferred = |v: Val| users[v.index()] == 1;
        let mut emitted = vec![false; n];
        let mut order = Vec::new();
        for root in (0..n).filter(|&i| needed[i]).map(|i| Val(i as u32)) {
            if deferred(root) || emitted[root.index()] {
                continue;
            }
            // The root, after the deferred operands not yet emitted (depth first).
            let mut stack = vec![(root, false)];
            while let Some((v, expanded)) = stack.pop() {
                if emitted[v.index()] {
                    continue;
                }
                if expanded {
                    emitted[v.index()] = true;
                    order.push(v);
                    continue;
                }
                stack.push((v, true));
                let inst = self.program.inst(v);
                let pending = inst.operands().iter().rev().filter(|&&a| needed[a.index()] && deferred(a));
                stack.extend(pending.filter(|&&a| !emitted[a.index()]).map(|&a| (a, false)));
            }
        }
        order
    }

    /// The outputs as two factors each: the first factors, then the second ones, `A * B` being
    /// the output (`B = 1` for an output that is not a per-pair product). A negated product,
    /// `-(A * B)` (the gradient with respect to a reduced variable, `-c (x_k - y_k)`), is
    /// `A * -B`, the same value: `-B` is computed once however many outputs share `B`. `None` if
    /// no output is a per-pair product. `roles` and `outer` are those given to [`Staged::new`].
    pub fn as_products(&self, roles: &[Role], outer: Role) -> Option<Staged> {
        let mut program = self.program.clone();
        let one = program.constant(1.0);
        let per_pair = |v: Val| self.levels[v.index()] == Level::PAIR;
        let (first, second): (Vec<Val>, Vec<Val>) = (self.outputs.iter())
            .map(|&f| match self.program.inst(f) {
                Inst::Prim(Prim::Mul, [a, b, _]) if per_pair(f) => (a, b),
                Inst::Prim(Prim::Neg, [p, _, _]) if per_pair(p) => match self.program.inst(p) {
                    Inst::Prim(Prim::Mul, [a, b, _]) => (a, program.prim(Prim::Neg, &[b])),
                    _ => (f, one),
                },
                _ => (f, one),
            })
            .unzip();
        if second.iter().all(|&b| b == one) {
            return None;
        }
        Some(Staged::new(program, first.into_iter().chain(second).collect(), roles, outer))
    }

    /// The per-pair instructions, in emission order.
    pub fn pair_schedule(&self) -> Vec<Val> {
        self.schedule(&self.outputs, |v| self.levels[v.index()] == Level::PAIR)
    }

    /// Where the pair stage reads `v` from.
    pub fn operand(&self, v: Val) -> Operand {
        if let Some(c) = self.program.as_const(v) {
            return Operand::Const(c);
        }
        if self.levels[v.index()] == Level::PAIR {
            return Operand::Pair(v);
        }
        if let Some(k) = self.inner_features.iter().position(|&f| f == v) {
            return Operand::Inner(k);
        }
        let k = self.outer_features.iter().position(|&f| f == v);
        Operand::Outer(k.expect("pair operand is neither computed nor a feature"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Var;
    use crate::ops::Op;

    #[test]
    fn scalar_identities_and_sharing() {
        let mut p = Program::new(DType::F64);
        let x = p.load(0, 0);
        let zero = p.constant(0.0);
        let one = p.constant(1.0);
        assert_eq!(p.add(x, zero), x);
        assert_eq!(p.mul(one, x), x);
        let y = p.load(1, 0);
        assert_eq!(p.add(x, y), p.add(y, x));
        let two = p.constant(2.0);
        let four = p.mul(two, two);
        assert_eq!(p.as_const(four), Some(4.0));
    }

    #[test]
    fn gaussian_kernel_stages() {
        // exp(-sqdist(x_i, y_j)) * b_j, reduced over j.
        let mut g = Graph::new();
        let x = g.var(Var { pos: 0, dim: 3, role: Role::I });
        let y = g.var(Var { pos: 1, dim: 3, role: Role::J });
        let b = g.var(Var { pos: 2, dim: 1, role: Role::J });
        let d = g.op(Op::SqDist, &[x, y], &[]).unwrap();
        let nd = g.op(Op::Neg, &[d], &[]).unwrap();
        let e = g.op(Op::Exp, &[nd], &[]).unwrap();
        let f = g.op(Op::Mul, &[e, b], &[]).unwrap();
        let mut p = Program::new(DType::F64);
        let out = lower(&g, &[f], &mut p).remove(0);
        let staged = Staged::new(p, out, &[Role::I, Role::J, Role::J], Role::I);
        assert_eq!(staged.outer_features.len(), 3);
        assert_eq!(staged.inner_features.len(), 4);
        assert_eq!(staged.outputs.len(), 1);
        // Reduced over i instead, the roles of the sides swap.
        let staged = Staged::new(staged.program, staged.outputs, &[Role::I, Role::J, Role::J], Role::J);
        assert_eq!(staged.outer_features.len(), 4);
        assert_eq!(staged.inner_features.len(), 3);
    }

    #[test]
    fn products_multiply_each_side_s_factors_once() {
        // ((x_i - y_j) (b_j e_i)) 2, reduced over j: the per-pair multiplications go from 3 to
        // 2, as ((x_i - y_j) b_j) (e_i 2), and e_i 2 becomes an output-row feature.
        let roles = [Role::I, Role::J, Role::J, Role::I];
        let mut p = Program::new(DType::F64);
        let [x, y, b, e] = [0, 1, 2, 3].map(|var| p.load(var, 0));
        let d = p.sub(x, y);
        let be = p.mul(b, e);
        let dbe = p.mul(d, be);
        let two = p.constant(2.0);
        let f = p.mul(dbe, two);
        let staged = Staged::new(p, vec![f], &roles, Role::I);
        let per_pair_muls = staged
            .pair_schedule()
            .into_iter()
            .filter(|&v| matches!(staged.program.inst(v), Inst::Prim(Prim::Mul, _)))
            .count();
        assert_eq!(per_pair_muls, 2);
        assert_eq!(staged.outer_features.len(), 2, "x_i and e_i 2");
        let values = [[0.3], [1.7], [-2.5], [0.4]];
        let inputs: Vec<Vec<&[f64]>> = values.iter().map(|v| vec![&v[..]]).collect();
        let got = crate::interp::run::<f64>(&staged.program, &staged.outputs, &inputs).remove(0)[0];
        let want = (0.3f64 - 1.7) * -2.5 * 0.4 * 2.0;
        assert!((got - want).abs() <= 1e-15 * want.abs(), "{got} vs {want}");
    }

    #[test]
    fn sums_of_products_keep_their_factors() {
        // Outputs (x_i - y_j) b_j, x_i - y_j and x_i x_i (not per pair): the first becomes
        // x_i - y_j times b_j, the others themselves times 1, and the products are the values.
        let roles = [Role::I, Role::J, Role::J];
        let mut p = Program::new(DType::F64);
        let [x, y, b] = [0, 1, 2].map(|var| p.load(var, 0));
        let d = p.sub(x, y);
        let db = p.mul(d, b);
        let xx = p.mul(x, x);
        let staged = Staged::new(p.clone(), vec![db, d, xx], &roles, Role::I);
        let products = staged.as_products(&roles, Role::I).expect("one output is a per-pair product");
        assert_eq!(products.outputs.len(), 6);
        let ones =
            products.outputs[3..].iter().filter(|&&v| products.program.as_const(v) == Some(1.0)).count();
        assert_eq!(ones, 2, "{:?}", &products.outputs[3..]);
        assert!(!products.pair_schedule().contains(&db), "the product itself is no longer computed per pair");
        let values = [[0.3], [1.7], [-2.5]];
        let inputs: Vec<Vec<&[f64]>> = values.iter().map(|v| vec![&v[..]]).collect();
        let columns = crate::interp::run::<f64>(&products.program, &products.outputs, &inputs);
        let got: Vec<f64> = columns.iter().map(|column| column[0]).collect();
        let want = [(0.3 - 1.7) * -2.5, 0.3 - 1.7, 0.3 * 0.3];
        for k in 0..3 {
            assert_eq!(got[k] * got[k + 3], want[k], "output {k}");
        }
        // Without a per-pair product there is nothing to gain.
        let staged = Staged::new(p, vec![d, xx], &roles, Role::I);
        assert!(staged.as_products(&roles, Role::I).is_none());
    }

    #[test]
    fn negated_products_negate_their_shared_factor_once() {
        // -((x_k - y_k) c) for two components with c = b_j exp(x_0): (x_k - y_k) times one -c.
        let roles = [Role::I, Role::J, Role::J];
        let mut p = Program::new(DType::F64);
        let (x, y) = ([p.load(0, 0), p.load(0, 1)], [p.load(1, 0), p.load(1, 1)]);
        let b = p.load(2, 0);
        let d = [p.sub(x[0], y[0]), p.sub(x[1], y[1])];
        let c = p.mul(b, d[0]);
        let outputs = d.map(|d| {
            let dc = p.mul(d, c);
            p.prim(Prim::Neg, &[dc])
        });
        let staged = Staged::new(p, outputs.to_vec(), &roles, Role::I);
        let products = staged.as_products(&roles, Role::I).expect("negated per-pair products");
        let [a0, a1, b0, b1] = products.outputs[..] else { panic!("two factors each") };
        assert_eq!((a0, a1), (d[0], d[1]));
        assert_eq!(b0, b1, "one negation");
        assert!(matches!(products.program.inst(b0), Inst::Prim(Prim::Neg, [v, _, _]) if v == c));
        // One lane: each variable's components, each a slice of one value.
        let inputs: Vec<Vec<&[f64]>> = vec![vec![&[0.3], &[-1.1]], vec![&[1.7], &[0.4]], vec![&[-2.5]]];
        let columns = crate::interp::run::<f64>(&products.program, &products.outputs, &inputs);
        let c = -2.5 * (0.3 - 1.7);
        for (k, want) in [-((0.3 - 1.7) * c), -((-1.1 - 0.4) * c)].into_iter().enumerate() {
            assert_eq!(columns[k][0] * columns[k + 2][0], want, "output {k}");
        }
    }

    #[test]
    fn no_expanded_primitive_survives_lowering() {
        // Every test case of every op, on variables of the case's dimensions, in both types.
        for dtype in [DType::F32, DType::F64] {
            let mut g = Graph::new();
            let mut roots = Vec::new();
            for &op in Op::ALL {
                let spec = op.spec();
                for case in spec.tests {
                    let args: Vec<NodeId> = (case.operands.iter().enumerate())
                        .map(|(k, &(dim, _, _))| {
                            let role = if k % 2 == 0 { Role::I } else { Role::J };
                            g.var(Var { pos: roots.len() * 4 + k, dim, role })
                        })
                        .collect();
                    roots.push(g.op(op, &args, case.attrs).unwrap());
                }
            }
            assert!(roots.len() >= Op::ALL.len());
            let mut p = Program::new(dtype);
            lower(&g, &roots, &mut p);
            for inst in p.insts() {
                if let Inst::Prim(prim, _) = inst {
                    assert!(!prim.is_expanded(), "{prim:?} in a lowered {dtype:?} program");
                }
            }
        }
    }

    #[test]
    fn one_sided_subexpressions_are_hoisted() {
        // normalize(x_i) . y_j: the normalisation of x is computed per output row.
        let mut g = Graph::new();
        let x = g.var(Var { pos: 0, dim: 2, role: Role::I });
        let y = g.var(Var { pos: 1, dim: 2, role: Role::J });
        let n = g.op(Op::Normalize, &[x], &[]).unwrap();
        let f = g.op(Op::Dot, &[n, y], &[]).unwrap();
        let mut p = Program::new(DType::F64);
        let out = lower(&g, &[f], &mut p).remove(0);
        let staged = Staged::new(p, out, &[Role::I, Role::J], Role::I);
        // Only the two normalised components cross into the pair stage.
        assert_eq!(staged.outer_features.len(), 2);
        for &v in &staged.outer_features {
            assert!(matches!(staged.program.inst(v), Inst::Prim(Prim::Mul, _)));
        }
        assert_eq!(staged.pair_schedule().len(), 2, "two fused multiply-adds per pair");
    }
}
