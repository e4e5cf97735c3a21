//! The formula IR: a hash-consed DAG of vector-valued nodes.
//!
//! Every node is interned, so structurally equal subexpressions are one node (common
//! subexpressions are shared by construction) and equality of formulas is equality of ids. Nodes
//! are only built through [`Graph`]'s constructors, which check dimensions against the op table
//! and simplify as they go (0/1 folding, constant folding, `a - a = 0`, ...).

use std::collections::HashMap;

use crate::ops::Op;

/// Floating-point type of a kernel.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DType {
    F32,
    F64,
}

impl DType {
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }
}

/// Which index a variable is indexed by.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Role {
    /// Indexed by `i` (KeOps `Vi`, category 0).
    I,
    /// Indexed by `j` (KeOps `Vj`, category 1).
    J,
    /// A parameter: one row shared by all pairs (KeOps `Pm`, category 2).
    Param,
}

impl Role {
    /// KeOps' category number (`Var(pos, dim, cat)`).
    pub fn category(self) -> u8 {
        match self {
            Role::I => 0,
            Role::J => 1,
            Role::Param => 2,
        }
    }
}

/// An input variable of a kernel: its position in the signature, its dimension and its role.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Var {
    pub pos: usize,
    pub dim: usize,
    pub role: Role,
}

/// Index of a node in its [`Graph`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct NodeId(u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A node of the formula DAG.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Node {
    Var(Var),
    /// A scalar constant (dimension 1), stored as bits so that nodes hash.
    Const(u64),
    /// The zero vector of the given dimension.
    Zero(usize),
    /// An operation of the op table, with its operands and integer attributes.
    Op(Op, Box<[NodeId]>, Box<[i64]>),
}

/// A dimension error, worded for the user; the caller attaches the span.
pub type DimError = String;

/// The arena of interned nodes.
#[derive(Clone, Default, Debug)]
pub struct Graph {
    nodes: Vec<Node>,
    dims: Vec<usize>,
    index: HashMap<Node, NodeId>,
}

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    pub fn dim(&self, id: NodeId) -> usize {
        self.dims[id.index()]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The scalar value of a constant node.
    pub fn as_const(&self, id: NodeId) -> Option<f64> {
        match self.node(id) {
            Node::Const(bits) => Some(f64::from_bits(*bits)),
            Node::Zero(1) => Some(0.0),
            _ => None,
        }
    }

    /// Whether the node is identically zero (of any dimension).
    pub fn is_zero(&self, id: NodeId) -> bool {
        matches!(self.node(id), Node::Zero(_)) || self.as_const(id) == Some(0.0)
    }

    /// All component values if the node is a constant (scalar or zero vector).
    pub fn const_values(&self, id: NodeId) -> Option<Vec<f64>> {
        match self.node(id) {
            Node::Const(bits) => Some(vec![f64::from_bits(*bits)]),
            Node::Zero(d) => Some(vec![0.0; *d]),
            _ => None,
        }
    }

    fn intern(&mut self, node: Node, dim: usize) -> NodeId {
        if let Some(&id) = self.index.get(&node) {
            return id;
        }
        let id = NodeId(u32::try_from(self.nodes.len()).expect("formula has over 2^32 nodes"));
        self.nodes.push(node.clone());
        self.dims.push(dim);
        self.index.insert(node, id);
        id
    }

    pub fn var(&mut self, var: Var) -> NodeId {
        self.intern(Node::Var(var), var.dim)
    }

    /// The node of `var`, if the graph has one.
    pub fn find_var(&self, var: Var) -> Option<NodeId> {
        self.index.get(&Node::Var(var)).copied()
    }

    /// A scalar constant. `-0.0` is kept distinct from `0.0` only by its bits, which is what
    /// interning needs; arithmetic treats them alike.
    pub fn constant(&mut self, value: f64) -> NodeId {
        // One canonical NaN, so that all NaN constants share a node.
        let value = if value.is_nan() { f64::NAN } else { value };
        self.intern(Node::Const(value.to_bits()), 1)
    }

    pub fn zero(&mut self, dim: usize) -> NodeId {
        self.intern(Node::Zero(dim), dim)
    }

    /// Builds `op(args; attrs)`: checks arity and dimensions, simplifies, folds constants,
    /// and interns the result.
    pub fn op(&mut self, op: Op, args: &[NodeId], attrs: &[i64]) -> Result<NodeId, DimError> {
        let spec = op.spec();
        if args.len() != spec.arity() {
            return Err(format!("`{}` takes {} operand(s), got {}", spec.name, spec.arity(), args.len()));
        }
        spec.check_attrs(attrs)?;
        let dims: Vec<usize> = args.iter().map(|&a| self.dim(a)).collect();
        let dim = spec.output_dim(&dims, attrs)?;
        if let crate::ops::Kind::Alias { expand, .. } = spec.kind {
            let expansion = expand(self, args, attrs)?;
            debug_assert_eq!(
                self.dim(expansion),
                dim,
                "the expansion of `{}` has another dimension",
                spec.name
            );
            return Ok(expansion);
        }
        if let Some(simpler) = (spec.simplify)(self, args, attrs, dim)? {
            debug_assert_eq!(
                self.dim(simpler),
                dim,
                "simplification of `{}` changed the dimension",
                spec.name
            );
            return Ok(simpler);
        }
        if let Some(folded) = self.fold(op, args, attrs, dim) {
            return Ok(folded);
        }
        let mut args: Box<[NodeId]> = args.into();
        if spec.commutative {
            args.sort();
        }
        Ok(self.intern(Node::Op(op, args, attrs.into()), dim))
    }

    /// `a + b`.
    pub fn add(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, DimError> {
        self.op(Op::Add, &[a, b], &[])
    }

    /// `a - b`.
    pub fn sub(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, DimError> {
        self.op(Op::Sub, &[a, b], &[])
    }

    /// `a * b`.
    pub fn mul(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, DimError> {
        self.op(Op::Mul, &[a, b], &[])
    }

    /// `a / b`.
    pub fn div(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, DimError> {
        self.op(Op::Div, &[a, b], &[])
    }

    /// `-a`.
    pub fn neg(&mut self, a: NodeId) -> Result<NodeId, DimError> {
        self.op(Op::Neg, &[a], &[])
    }

    /// `op(a)` for a unary operation without attributes.
    pub fn unary(&mut self, op: Op, a: NodeId) -> Result<NodeId, DimError> {
        self.op(op, &[a], &[])
    }

    /// `c * a` for a constant `c`.
    pub fn scale(&mut self, c: f64, a: NodeId) -> Result<NodeId, DimError> {
        let c = self.constant(c);
        self.mul(c, a)
    }

    /// `a` repeated to dimension `dim` if it has dimension 1.
    pub fn broadcast(&mut self, a: NodeId, dim: usize) -> Result<NodeId, DimError> {
        if self.dim(a) == dim {
            return Ok(a);
        }
        if self.is_zero(a) {
            return Ok(self.zero(dim));
        }
        // `0 + 1` of dimension `dim` is not folded (it is not a scalar), so this is a vector of
        // ones, and the product lowers to `a` in every component.
        let zero = self.zero(dim);
        let one = self.constant(1.0);
        let ones = self.add(zero, one)?;
        self.mul(a, ones)
    }

    /// `a` summed over its components if it is wider than `dim` (which is then 1).
    pub fn sum_to(&mut self, a: NodeId, dim: usize) -> Result<NodeId, DimError> {
        if self.dim(a) == dim { Ok(a) } else { self.unary(Op::Sum, a) }
    }

    /// Constant folding: an op whose operands are all constants, with a constant scalar result.
    fn fold(&mut self, op: Op, args: &[NodeId], attrs: &[i64], dim: usize) -> Option<NodeId> {
        let values: Vec<Vec<f64>> = args.iter().map(|&a| self.const_values(a)).collect::<Option<_>>()?;
        let refs: Vec<&[f64]> = values.iter().map(Vec::as_slice).collect();
        let mut out = vec![0.0; dim];
        op.spec().evaluate(&refs, attrs, &mut out);
        match out.as_slice() {
            [v] => Some(self.constant(*v)),
            v if v.iter().all(|&x| x == 0.0 && x.is_sign_positive()) => Some(self.zero(dim)),
            _ => None,
        }
    }

    /// The nodes reachable from `roots`, operands before users.
    pub fn topo_order(&self, roots: &[NodeId]) -> Vec<NodeId> {
        let mut seen = vec![false; self.nodes.len()];
        let mut order = Vec::new();
        let mut stack: Vec<(NodeId, bool)> = roots.iter().rev().map(|&r| (r, false)).collect();
        while let Some((id, expanded)) = stack.pop() {
            if expanded {
                order.push(id);
                continue;
            }
            if seen[id.index()] {
                continue;
            }
            seen[id.index()] = true;
            stack.push((id, true));
            if let Node::Op(_, args, _) = self.node(id) {
                for &a in args.iter().rev() {
                    if !seen[a.index()] {
                        stack.push((a, false));
                    }
                }
            }
        }
        order
    }

    /// The variables a formula depends on, sorted by position.
    pub fn vars_of(&self, root: NodeId) -> Vec<Var> {
        let mut vars: Vec<Var> = self
            .topo_order(&[root])
            .into_iter()
            .filter_map(|id| match self.node(id) {
                Node::Var(v) => Some(*v),
                _ => None,
            })
            .collect();
        vars.sort();
        vars.dedup();
        vars
    }

    /// A readable rendering in the math syntax, for messages and debugging.
    pub fn display(&self, id: NodeId) -> String {
        match self.node(id) {
            Node::Var(v) => {
                let suffix = match v.role {
                    Role::I => "i",
                    Role::J => "j",
                    Role::Param => "p",
                };
                format!("v{}_{suffix}", v.pos)
            }
            Node::Const(bits) => format!("{}", f64::from_bits(*bits)),
            Node::Zero(d) => format!("zero({d})"),
            Node::Op(op, args, attrs) => {
                let mut parts: Vec<String> = args.iter().map(|&a| self.display(a)).collect();
                parts.extend(crate::ops::attrs::format(op.spec().attrs, attrs));
                format!("{}({})", op.spec().name, parts.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(g: &mut Graph) -> NodeId {
        g.var(Var { pos: 0, dim: 3, role: Role::I })
    }

    fn y(g: &mut Graph) -> NodeId {
        g.var(Var { pos: 1, dim: 3, role: Role::J })
    }

    #[test]
    fn common_subexpressions_are_shared() {
        let mut g = Graph::new();
        let (x, y) = (x(&mut g), y(&mut g));
        let a = g.op(Op::Sub, &[x, y], &[]).unwrap();
        let b = g.op(Op::Sub, &[x, y], &[]).unwrap();
        assert_eq!(a, b);
        let s1 = g.op(Op::Add, &[x, y], &[]).unwrap();
        let s2 = g.op(Op::Add, &[y, x], &[]).unwrap();
        assert_eq!(s1, s2, "commutative operands are put in a canonical order");
    }

    #[test]
    fn simplifications() {
        let mut g = Graph::new();
        let (x, y) = (x(&mut g), y(&mut g));
        let zero = g.constant(0.0);
        let one = g.constant(1.0);
        assert_eq!(g.op(Op::Add, &[x, zero], &[]).unwrap(), x);
        assert_eq!(g.op(Op::Mul, &[one, x], &[]).unwrap(), x);
        let z = g.op(Op::Mul, &[zero, x], &[]).unwrap();
        assert_eq!(g.node(z), &Node::Zero(3));
        let d = g.op(Op::Sub, &[y, y], &[]).unwrap();
        assert_eq!(g.node(d), &Node::Zero(3));
        let nn = g.op(Op::Neg, &[x], &[]).unwrap();
        assert_eq!(g.op(Op::Neg, &[nn], &[]).unwrap(), x);
        assert_eq!(g.op(Op::Div, &[x, one], &[]).unwrap(), x);
    }

    #[test]
    fn constant_folding() {
        let mut g = Graph::new();
        let two = g.constant(2.0);
        let three = g.constant(3.0);
        let five = g.op(Op::Add, &[two, three], &[]).unwrap();
        assert_eq!(g.as_const(five), Some(5.0));
        let e = g.op(Op::Exp, &[two], &[]).unwrap();
        assert_eq!(g.as_const(e), Some(2f64.exp()));
    }

    #[test]
    fn dimension_errors_name_the_dims() {
        let mut g = Graph::new();
        let x = x(&mut g);
        let w = g.var(Var { pos: 2, dim: 2, role: Role::J });
        let err = g.op(Op::Add, &[x, w], &[]).unwrap_err();
        assert!(err.contains('3') && err.contains('2'), "{err}");
        // A dimension-1 operand broadcasts.
        let b = g.var(Var { pos: 3, dim: 1, role: Role::J });
        let s = g.op(Op::Mul, &[x, b], &[]).unwrap();
        assert_eq!(g.dim(s), 3);
    }
}
