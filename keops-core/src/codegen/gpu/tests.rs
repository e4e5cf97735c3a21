//! The plan against a second target: an emitter of structured pseudo-code, which checks that
//! every body the plan writes nests as a language without branches (WGSL, Metal) requires.

use std::fmt::Write as _;

use super::{Class, Cmp, Emit, IntOp, Loop, Space, plan};
use crate::check::{Kernel, check};
use crate::ir::DType;
use crate::lower::Val;
use crate::prim::Prim;
use crate::syntax::keops::parse_genred_str;
use crate::syntax::math::parse_kernel_str;

/// What is open at a point of the body, innermost last.
#[derive(Debug, PartialEq)]
enum Open {
    If(usize),
    Loop(usize),
    Repeat(usize),
}

/// Writes one line of pseudo-code per operation, indented by nesting, and panics where the
/// control flow does not nest: an `end` that is not the innermost construct's, a `break` out
/// of a loop that is not the innermost one.
struct Structured {
    dtype: DType,
    text: String,
    open: Vec<Open>,
    next: usize,
    lines: usize,
}

impl Structured {
    fn new(dtype: DType) -> Structured {
        Structured { dtype, text: String::new(), open: Vec::new(), next: 0, lines: 0 }
    }

    fn line(&mut self, s: impl AsRef<str>) {
        let _ = writeln!(self.text, "{}{}", "  ".repeat(self.open.len()), s.as_ref());
        self.lines += 1;
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }

    fn close(&mut self, expected: Open) {
        assert_eq!(self.open.pop(), Some(expected), "badly nested:\n{}", self.text);
        self.line("end");
    }
}

impl Emit for Structured {
    type Label = usize;

    fn dtype(&self) -> DType {
        self.dtype
    }
    fn float(&mut self) -> String {
        self.fresh("f")
    }
    fn int(&mut self) -> String {
        self.fresh("i")
    }
    fn pred(&mut self) -> String {
        self.fresh("p")
    }
    fn value(&self, v: Val) -> String {
        format!("v{}", v.index())
    }
    fn literal(&self, c: f64) -> String {
        format!("{c:?}")
    }
    fn pointer(&mut self, param: &str) -> String {
        let r = self.fresh("a");
        self.line(format!("{r} = &{param}"));
        r
    }
    fn count(&mut self, param: &str) -> String {
        let r = self.int();
        self.line(format!("{r} = {param}"));
        r
    }
    fn thread_row(&mut self) -> (String, String, String) {
        let (tid, ntid, row) = (self.int(), self.int(), self.int());
        self.line(format!("{tid}, {ntid}, {row} = thread, block size, row"));
        (tid, ntid, row)
    }
    fn chunk_index(&mut self) -> String {
        let r = self.int();
        self.line(format!("{r} = chunk"));
        r
    }
    fn shared_base(&mut self) -> String {
        let r = self.int();
        self.line(format!("{r} = &shared"));
        r
    }
    fn barrier(&mut self) {
        self.line("barrier");
    }
    fn row_address(&mut self, base: &str, row: &str, stride: usize) -> String {
        let r = self.fresh("a");
        self.line(format!("{r} = {base} + {row} * {stride}"));
        r
    }
    fn int_op(&mut self, op: IntOp, d: &str, a: &str, b: &str) {
        self.line(format!("{d} = {op:?}({a}, {b})"));
    }
    fn mad_int(&mut self, d: &str, a: &str, b: &str, c: &str) {
        self.line(format!("{d} = {a} * {b} + {c}"));
    }
    fn mov_int(&mut self, d: &str, a: &str) {
        self.line(format!("{d} = {a}"));
    }
    fn compare_int(&mut self, cmp: Cmp, a: &str, b: &str) -> String {
        let p = self.pred();
        self.line(format!("{p} = {cmp:?}({a}, {b})"));
        p
    }
    fn compare(&mut self, cmp: Cmp, a: &str, b: &str) -> String {
        self.compare_int(cmp, a, b)
    }
    fn select(&mut self, _: Class, d: &str, x: &str, y: &str, p: &str) {
        self.line(format!("{d} = {p} ? {x} : {y}"));
    }
    fn copy(&mut self, _: Class, d: &str, a: &str) {
        self.line(format!("{d} = {a}"));
    }
    fn prim(&mut self, prim: Prim, d: &str, a: &[String]) {
        self.line(format!("{d} = {}({})", prim.method(), a.join(", ")));
    }
    fn load(&mut self, space: Space, _: Class, d: &str, base: &str, offset: usize) {
        self.line(format!("{d} = {space:?}[{base} + {offset}]"));
    }
    fn store(&mut self, space: Space, _: Class, base: &str, offset: usize, r: &str) {
        self.line(format!("{space:?}[{base} + {offset}] = {r}"));
    }
    fn widen(&mut self, x: &str) -> String {
        let d = self.fresh("d");
        self.line(format!("{d} = f64({x})"));
        d
    }
    fn join_double(&mut self, lo: &str, hi: &str) -> String {
        let d = self.fresh("d");
        self.line(format!("{d} = join({lo}, {hi})"));
        d
    }
    fn split_double(&mut self, d: &str, lo: &str, hi: &str) {
        self.line(format!("{lo}, {hi} = split({d})"));
    }
    fn add_double(&mut self, d: &str, a: &str, b: &str) {
        self.line(format!("{d} = {a} + {b}"));
    }
    fn narrow(&mut self, d: &str, x: &str) {
        self.line(format!("{d} = f32({x})"));
    }
    fn begin_if(&mut self, cond: &str, holds: bool, name: &str) -> usize {
        self.line(format!("if {}{cond} {{ // until {name}", if holds { "" } else { "!" }));
        self.next += 1;
        self.open.push(Open::If(self.next));
        self.next
    }
    fn end_if(&mut self, end: usize) {
        self.close(Open::If(end));
    }
    fn begin_loop(&mut self, head: &str, exit: &str) -> Loop<usize> {
        self.line(format!("loop {{ // {head} until {exit}"));
        self.next += 1;
        self.open.push(Open::Loop(self.next));
        Loop { head: self.next, exit: self.next }
    }
    fn break_if(&mut self, l: &Loop<usize>, cond: &str) {
        let innermost = self.open.iter().rev().find(|o| !matches!(o, Open::If(_)));
        assert_eq!(innermost, Some(&Open::Loop(l.head)), "break out of an outer loop:\n{}", self.text);
        self.line(format!("if {cond} break"));
    }
    fn end_loop(&mut self, l: Loop<usize>) {
        self.close(Open::Loop(l.head));
    }
    fn begin_repeat(&mut self, name: &str) -> usize {
        self.line(format!("do {{ // {name}"));
        self.next += 1;
        self.open.push(Open::Repeat(self.next));
        self.next
    }
    fn repeat_while(&mut self, head: usize, cond: &str) {
        self.close(Open::Repeat(head));
        self.line(format!("while {cond}"));
    }
}

/// The three bodies of `kernel`'s plan (`text`), small or large, nest.
fn check_nesting(kernel: &Kernel, text: &str) {
    plan(kernel, |spec| {
        for body in 0..3 {
            let mut w = Structured::new(kernel.dtype);
            match body {
                2 => spec.merge_body(&mut w),
                split => spec.body(&mut w, split == 1),
            }
            assert!(w.open.is_empty(), "{text}: left open: {:?}\n{}", w.open, w.text);
            assert!(w.lines > 10, "{text}: {}", w.text);
        }
    });
}

#[test]
fn every_body_nests_as_structured_control_flow() {
    for text in crate::reduction::test_kernels() {
        let src = parse_genred_str(&text).unwrap_or_else(|_| panic!("cannot parse {text}"));
        check_nesting(&check(&src).unwrap_or_else(|_| panic!("`{text}` does not check")), &text);
    }
    // Large kernels: streamed pairs, states in shared memory, merges by groups of components.
    for text in [
        "|x_i: [f32; 256], y_j: [f32; 256], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j",
        "|x_i: [f32; 200], y_j: [f32; 200], p: f32| kmin_argkmin_i::<2> (x_i - y_j) * p",
        "|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 300]| sum_j::<kahan> exp(-sqdist(x_i, y_j)) * b_j",
    ] {
        let src = parse_kernel_str(text).unwrap_or_else(|_| panic!("cannot parse {text}"));
        check_nesting(&check(&src).unwrap_or_else(|_| panic!("`{text}` does not check")), text);
    }
}
