//! An emulator of the PTX subset the generator emits, for tests: it runs a module's entry on a
//! grid of threads (a block's threads in turn, each up to the next barrier), with the
//! instruction semantics of the PTX ISA for the types and modifiers used: IEEE round-to-nearest
//! arithmetic with a true fused multiply-add, subnormals kept, ordered comparisons false on NaN
//! (`neu`, `nan` unordered), float-to-integer conversions that saturate and send NaN to 0.
//!
//! It lets the lowerings and the reduction scheme be checked, bit for bit, against the CPU
//! semantics ([`crate::interp`]) and the reference evaluator without a GPU. What it cannot
//! check is the assembler (`tests/ptxas.rs` runs a real `ptxas`) and the hardware.

use std::collections::HashMap;

/// A kernel argument: a global buffer (its bytes), or a 32-bit integer.
#[derive(Clone, Debug)]
pub enum Arg {
    Buffer(Vec<u8>),
    U32(u32),
}

/// Buffer `k` lives at `(k + 1) << BUFFER_SHIFT`.
const BUFFER_SHIFT: u32 = 40;

/// An instruction operand, resolved when the text is parsed.
#[derive(Clone, Debug)]
enum Operand {
    Reg(usize),
    Imm(u64),
    /// `%tid.x`, `%ntid.x`, `%ctaid.x`.
    Special(&'static str),
    /// The shared-memory array, at address 0 of the shared space.
    Shared,
    /// `[reg+offset]` or `[param]`.
    Mem(Box<Operand>, u64),
    Param(usize),
    Label(usize),
    /// `{lo, hi}`: two 32-bit registers as the halves of a 64-bit value.
    Pair(usize, usize),
}

/// An instruction: its guard predicate (negated or not), its opcode split at the dots
/// (`["add", "rn", "f32"]`), and its operands.
#[derive(Clone, Debug)]
struct Instr<'a> {
    guard: Option<(bool, usize)>,
    op: Vec<&'a str>,
    args: Vec<Operand>,
}

struct Parsed<'a> {
    insts: Vec<Instr<'a>>,
    registers: usize,
}

/// What a thread did when it stopped.
enum Stop {
    Barrier,
    Exit,
}

/// Runs the entry `entry` of the module `text` on a grid of `grid` blocks (x, y) of `block`
/// threads with `shared` bytes of shared memory per block; `args` are the entry's parameters in
/// order, and buffers hold what the kernel wrote afterwards.
pub fn run(text: &str, entry: &str, args: &mut [Arg], grid: (u32, u32), block: u32, shared: usize) {
    let parsed = parse(text, entry);
    let blocks = (0..grid.1).flat_map(|y| (0..grid.0).map(move |x| (x, y)));
    for ctaid in blocks {
        let mut memory = Memory { args, shared: vec![0; shared] };
        let mut threads: Vec<Thread> = (0..block)
            .map(|tid| Thread {
                regs: vec![0; parsed.registers],
                pc: 0,
                tid,
                ntid: block,
                ctaid,
                done: false,
            })
            .collect();
        while threads.iter().any(|t| !t.done) {
            let mut at_barrier = 0;
            for t in threads.iter_mut().filter(|t| !t.done) {
                match t.run(&parsed.insts, &mut memory) {
                    Stop::Barrier => at_barrier += 1,
                    Stop::Exit => t.done = true,
                }
            }
            assert!(at_barrier == 0 || threads.iter().all(|t| !t.done), "a barrier that some threads skip");
        }
    }
}

fn parse<'a>(text: &'a str, entry: &str) -> Parsed<'a> {
    let start = text.find(&format!(".entry {entry}(")).unwrap_or_else(|| panic!("no entry `{entry}`"));
    let text = &text[start..];
    let (head, body) = text.split_once("\n{\n").expect("an entry body");
    let body = &body[..body.find("\n}\n").expect("the end of the entry")];
    let params: HashMap<&str, usize> = head
        .lines()
        .filter_map(|l| l.trim().strip_prefix(".param "))
        .enumerate()
        .map(|(k, l)| (l.split_whitespace().nth(1).unwrap().trim_end_matches(','), k))
        .collect();
    let mut registers: HashMap<String, usize> = HashMap::new();
    let mut labels: HashMap<String, usize> = HashMap::new();
    let mut lines = Vec::new();
    for line in body.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(".reg") || line.starts_with("//") || line == "}" {
            continue;
        }
        match line.strip_suffix(':') {
            Some(label) => {
                labels.insert(label.to_string(), lines.len());
            }
            None => lines.push(line.strip_suffix(';').expect("an instruction ends with `;`")),
        }
    }
    let mut reg = |name: &str| {
        let n = registers.len();
        *registers.entry(name.to_string()).or_insert(n)
    };
    let insts = lines
        .into_iter()
        .map(|line| {
            let (guard, line) = match line.strip_prefix('@') {
                Some(rest) => {
                    let (p, rest) = rest.split_once(' ').unwrap();
                    let (negated, p) = p.strip_prefix('!').map_or((false, p), |p| (true, p));
                    (Some((negated, reg(p))), rest)
                }
                None => (None, line),
            };
            let (op, rest) = line.split_once(' ').unwrap_or((line, ""));
            let args = operands(rest)
                .into_iter()
                .map(|a| match a.strip_prefix('{').and_then(|a| a.strip_suffix('}')) {
                    Some(pair) => {
                        let (lo, hi) = pair.split_once(',').expect("a pair `{lo, hi}`");
                        Operand::Pair(reg(lo.trim()), reg(hi.trim()))
                    }
                    None => operand(a, &params, &labels, &mut reg),
                })
                .collect();
            Instr { guard, op: op.split('.').collect(), args }
        })
        .collect();
    Parsed { insts, registers: registers.len() }
}

/// The comma-separated operands of an instruction; a `{lo, hi}` pair is one.
fn operands(rest: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut depth) = (0, 0);
    for (n, c) in rest.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(rest[start..n].trim());
                start = n + 1;
            }
            _ => {}
        }
    }
    out.push(rest[start..].trim());
    out.retain(|a| !a.is_empty());
    out
}

fn operand(
    a: &str,
    params: &HashMap<&str, usize>,
    labels: &HashMap<String, usize>,
    reg: &mut dyn FnMut(&str) -> usize,
) -> Operand {
    if let Some(inner) = a.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
        let (base, offset) = inner.split_once('+').map_or((inner, 0), |(b, o)| (b, o.parse().unwrap()));
        return match params.get(base) {
            Some(&k) => Operand::Param(k),
            None => Operand::Mem(Box::new(operand(base, params, labels, reg)), offset),
        };
    }
    if let Some(&target) = labels.get(a) {
        return Operand::Label(target);
    }
    match a {
        "%tid.x" => return Operand::Special("tid"),
        "%ntid.x" => return Operand::Special("ntid"),
        "%ctaid.x" => return Operand::Special("ctaid"),
        "%ctaid.y" => return Operand::Special("ctaid.y"),
        "keops_shared" => return Operand::Shared,
        _ => {}
    }
    if a.starts_with('%') {
        return Operand::Reg(reg(a));
    }
    let imm = if let Some(h) = a.strip_prefix("0f").or(a.strip_prefix("0d")).or(a.strip_prefix("0x")) {
        u64::from_str_radix(h, 16).unwrap()
    } else {
        a.parse::<i64>().unwrap_or_else(|_| panic!("operand `{a}`")) as u64
    };
    Operand::Imm(imm)
}

struct Memory<'a> {
    args: &'a mut [Arg],
    shared: Vec<u8>,
}

impl Memory<'_> {
    /// The `n` bytes at global address `at`.
    fn global(&mut self, at: u64, n: usize) -> &mut [u8] {
        let k = (at >> BUFFER_SHIFT) as usize - 1;
        let offset = (at & ((1 << BUFFER_SHIFT) - 1)) as usize;
        match &mut self.args[k] {
            Arg::Buffer(b) => &mut b[offset..offset + n],
            Arg::U32(_) => unreachable!("argument {k} is not a buffer"),
        }
    }
}

struct Thread {
    regs: Vec<u64>,
    pc: usize,
    tid: u32,
    ntid: u32,
    /// The block's coordinates in the grid.
    ctaid: (u32, u32),
    done: bool,
}

fn f32_of(bits: u64) -> f32 {
    f32::from_bits(bits as u32)
}

fn f64_of(bits: u64) -> f64 {
    f64::from_bits(bits)
}

impl Thread {
    fn get(&self, a: &Operand, memory: &Memory) -> u64 {
        match a {
            Operand::Reg(r) => self.regs[*r],
            Operand::Pair(lo, hi) => (self.regs[*lo] & 0xFFFF_FFFF) | (self.regs[*hi] << 32),
            Operand::Imm(v) => *v,
            Operand::Special("tid") => self.tid.into(),
            Operand::Special("ntid") => self.ntid.into(),
            Operand::Special("ctaid") => self.ctaid.0.into(),
            Operand::Special(_) => self.ctaid.1.into(),
            Operand::Shared => 0,
            Operand::Param(k) => match &memory.args[*k] {
                Arg::Buffer(_) => ((*k as u64) + 1) << BUFFER_SHIFT,
                Arg::U32(v) => (*v).into(),
            },
            Operand::Mem(..) | Operand::Label(_) => unreachable!("not a value: {a:?}"),
        }
    }

    fn set(&mut self, a: &Operand, v: u64) {
        match a {
            Operand::Reg(r) => self.regs[*r] = v,
            Operand::Pair(lo, hi) => {
                self.regs[*lo] = v & 0xFFFF_FFFF;
                self.regs[*hi] = v >> 32;
            }
            _ => unreachable!("not a register: {a:?}"),
        }
    }

    fn address(&self, a: &Operand, memory: &Memory) -> u64 {
        match a {
            Operand::Mem(base, offset) => self.get(base, memory) + offset,
            _ => unreachable!("not an address: {a:?}"),
        }
    }

    /// Runs up to the next barrier or the end.
    fn run(&mut self, insts: &[Instr], memory: &mut Memory) -> Stop {
        loop {
            let i = &insts[self.pc];
            self.pc += 1;
            if let Some((negated, p)) = i.guard
                && (self.regs[p] != 0) == negated
            {
                continue;
            }
            match i.op[..] {
                ["ret"] => return Stop::Exit,
                ["bar", "sync"] => return Stop::Barrier,
                ["bra"] => match i.args[0] {
                    Operand::Label(target) => self.pc = target,
                    _ => unreachable!(),
                },
                _ => self.execute(&i.op, &i.args, memory),
            }
        }
    }

    fn execute(&mut self, parts: &[&str], a: &[Operand], memory: &mut Memory) {
        let mut values = [0u64; 4];
        for (v, x) in values.iter_mut().zip(a) {
            if !matches!(x, Operand::Mem(..) | Operand::Label(_)) {
                *v = self.get(x, memory);
            }
        }
        let v = |k: usize| values[k];
        let ty = *parts.last().unwrap();
        let result: u64 = match *parts {
            ["ld", "param", _] | ["cvta", "to", "global", _] | ["mov", _] => v(1),
            ["ld", space, .., _] => {
                let at = self.address(&a[1], memory);
                let n = if ty.ends_with("64") { 8 } else { 4 };
                let bytes = if space == "shared" {
                    &memory.shared[at as usize..at as usize + n]
                } else {
                    &*memory.global(at, n)
                };
                let mut buf = [0u8; 8];
                buf[..n].copy_from_slice(bytes);
                u64::from_le_bytes(buf)
            }
            ["st", space, _] => {
                let at = self.address(&a[0], memory);
                let n = if ty.ends_with("64") { 8 } else { 4 };
                let bytes = v(1).to_le_bytes();
                let dst = if space == "shared" {
                    &mut memory.shared[at as usize..at as usize + n]
                } else {
                    memory.global(at, n)
                };
                dst.copy_from_slice(&bytes[..n]);
                return;
            }
            ["setp", cmp, _] => u64::from(compare(cmp, ty, v(1), v(2))),
            ["selp", _] => {
                if v(3) != 0 {
                    v(1)
                } else {
                    v(2)
                }
            }
            ["mad", "lo", "u32"] => {
                u64::from((v(1) as u32).wrapping_mul(v(2) as u32).wrapping_add(v(3) as u32))
            }
            ["mul", "lo", "u32"] => u64::from((v(1) as u32).wrapping_mul(v(2) as u32)),
            ["mul", "wide", "u32"] => (v(1) as u32 as u64) * (v(2) as u32 as u64),
            [name, "u64" | "b64"] => integer64(name, v(1), v(2)),
            [name, "u32" | "s32" | "b32"] => u64::from(integer32(name, ty, v(1) as u32, v(2) as u32)),
            ["cvt", "u64", "u32"] => v(1) & 0xFFFF_FFFF,
            ["cvt", "u32", "u64"] => v(1) & 0xFFFF_FFFF,
            // Widening is exact; narrowing rounds to nearest.
            ["cvt", "f64", "f32"] => f64::from(f32_of(v(1))).to_bits(),
            ["cvt", "rn", "f32", "f64"] => u64::from((f64_of(v(1)) as f32).to_bits()),
            ["cvt", "rn", _, "s32"] => match ty_of(parts[2]) {
                32 => u64::from((v(1) as u32 as i32 as f32).to_bits()),
                _ => (v(1) as u32 as i32 as f64).to_bits(),
            },
            ["cvt", mode @ ("rmi" | "rni"), "s32", from] => {
                let x = if from == "f32" { f64::from(f32_of(v(1))) } else { f64_of(v(1)) };
                let x = if mode == "rmi" { x.floor() } else { x.round_ties_even() };
                // Rust's float-to-int casts saturate and send NaN to 0, as PTX's.
                u64::from(x as i32 as u32)
            }
            ["ex2", "approx", "ftz", "f32"] => u64::from(ex2_approx_ftz(f32_of(v(1))).to_bits()),
            ["rsqrt", "approx", "ftz", "f32"] => u64::from(rsqrt_approx_ftz(f32_of(v(1))).to_bits()),
            ["rsqrt", "approx", "f32"] => u64::from(rsqrt_approx(f32_of(v(1))).to_bits()),
            ["fma", "rn", "sat", "f32"] => {
                u64::from(fma_saturated(f32_of(v(1)), f32_of(v(2)), f32_of(v(3))).to_bits())
            }
            ["fma", "rm", "f32"] => u64::from(fma_down(f32_of(v(1)), f32_of(v(2)), f32_of(v(3))).to_bits()),
            ["cvt", mode, _, _] => float(ty, &[v(1)], |x| match mode {
                "rmi" => x[0].floor(),
                _ => x[0].round_ties_even(),
            }),
            // Flushed to zero: subnormal operands and results.
            [name, _, "ftz", "f32"] => {
                let flush = |x: u64| if f32_of(x).is_subnormal() { x & 0x8000_0000 } else { x };
                let operands: Vec<u64> = values[1..a.len()].iter().map(|&x| flush(x)).collect();
                flush(float_op(name, ty, &operands))
            }
            [name, ..] => float_op(name, ty, &values[1..a.len()]),
            [] => unreachable!(),
        };
        self.set(&a[0], result);
    }
}

/// `ex2.approx.ftz.f32`, modelled as correctly rounded (the hardware's is within a few ulp);
/// `.ftz` flushes subnormal operands and results to zero.
pub(super) fn ex2_approx_ftz(x: f32) -> f32 {
    let flush = |x: f32| if x.is_subnormal() { 0.0f32.copysign(x) } else { x };
    flush(f64::from(flush(x)).exp2() as f32)
}

/// `rsqrt.approx.f32`, modelled as correctly rounded (the PTX ISA bounds the hardware's
/// relative error by 2^-22.9).
pub(super) fn rsqrt_approx(x: f32) -> f32 {
    (1.0 / f64::from(x).sqrt()) as f32
}

/// [`rsqrt_approx`] with `.ftz`, which flushes subnormal operands and results to zero.
pub(super) fn rsqrt_approx_ftz(x: f32) -> f32 {
    let flush = |x: f32| if x.is_subnormal() { 0.0f32.copysign(x) } else { x };
    flush(rsqrt_approx(flush(x)))
}

/// `fma.rn.sat.f32`: clamped to [0, 1], NaN to 0.
pub(super) fn fma_saturated(a: f32, b: f32, c: f32) -> f32 {
    let y = a.mul_add(b, c);
    if y.is_nan() { 0.0 } else { y.clamp(0.0, 1.0) }
}

/// `fma.rm.f32`: `a * b + c` rounded toward -inf, for finite operands: the product is exact in
/// f64, and Knuth's TwoSum gives the sum exactly as `s + e`.
pub(super) fn fma_down(a: f32, b: f32, c: f32) -> f32 {
    let (p, c) = (f64::from(a) * f64::from(b), f64::from(c));
    let s = p + c;
    let e = (p - (s - (s - p))) + (c - (s - p));
    let r = s as f32;
    let above = f64::from(r) > s || (f64::from(r) == s && e < 0.0);
    if above { r.next_down() } else { r }
}

fn ty_of(ty: &str) -> u32 {
    if ty.ends_with("64") { 64 } else { 32 }
}

fn compare(cmp: &str, ty: &str, a: u64, b: u64) -> bool {
    use std::cmp::Ordering::*;
    let order = match ty {
        "u32" => Some((a as u32).cmp(&(b as u32))),
        "s32" => Some((a as u32 as i32).cmp(&(b as u32 as i32))),
        "f32" => f32_of(a).partial_cmp(&f32_of(b)),
        _ => f64_of(a).partial_cmp(&f64_of(b)),
    };
    match (cmp, order) {
        ("nan", o) => o.is_none(),
        ("neu", o) => o != Some(Equal),
        (_, None) => false,
        ("lt", Some(o)) => o == Less,
        ("le", Some(o)) => o != Greater,
        ("gt", Some(o)) => o == Greater,
        ("ge", Some(o)) => o != Less,
        ("eq", Some(o)) => o == Equal,
        _ => unreachable!("comparison `{cmp}`"),
    }
}

fn integer32(name: &str, ty: &str, a: u32, b: u32) -> u32 {
    let (sa, sb) = (a as i32, b as i32);
    match name {
        "add" => a.wrapping_add(b),
        "sub" => a.wrapping_sub(b),
        "min" if ty == "s32" => sa.min(sb) as u32,
        "max" if ty == "s32" => sa.max(sb) as u32,
        "min" => a.min(b),
        "max" => a.max(b),
        "shl" => a << b,
        "shr" if ty == "s32" => (sa >> sb) as u32,
        "shr" => a >> b,
        "and" => a & b,
        "or" => a | b,
        _ => unreachable!("integer instruction `{name}`"),
    }
}

fn integer64(name: &str, a: u64, b: u64) -> u64 {
    match name {
        "add" => a.wrapping_add(b),
        "shl" => a << b,
        "shr" => a >> b,
        "and" => a & b,
        "or" => a | b,
        _ => unreachable!("64-bit instruction `{name}`"),
    }
}

/// `f` on the operands as floats of type `ty` (in f64 for f64; in f32, exactly, for f32: every
/// f32 operation used is exact in f64 before its single rounding to f32, except the fused
/// multiply-add, which `float_op` computes in f32 directly).
fn float(ty: &str, args: &[u64], f: impl Fn(&[f64]) -> f64) -> u64 {
    match ty {
        "f32" => {
            let xs: Vec<f64> = args.iter().map(|&b| f64::from(f32_of(b))).collect();
            u64::from((f(&xs) as f32).to_bits())
        }
        _ => {
            let xs: Vec<f64> = args.iter().map(|&b| f64_of(b)).collect();
            f(&xs).to_bits()
        }
    }
}

fn float_op(name: &str, ty: &str, a: &[u64]) -> u64 {
    match (name, ty) {
        ("fma", "f32") => u64::from(f32_of(a[0]).mul_add(f32_of(a[1]), f32_of(a[2])).to_bits()),
        ("fma", _) => f64_of(a[0]).mul_add(f64_of(a[1]), f64_of(a[2])).to_bits(),
        // Division and square root in f32 are computed in f32: rounding the f64 result again
        // could differ. The approximate forms (`div.full`, `sqrt.approx`) are modelled as
        // correctly rounded, as `ex2.approx` is.
        ("div", "f32") => u64::from((f32_of(a[0]) / f32_of(a[1])).to_bits()),
        ("sqrt", "f32") => u64::from(f32_of(a[0]).sqrt().to_bits()),
        ("add", _) => float(ty, a, |x| x[0] + x[1]),
        ("sub", _) => float(ty, a, |x| x[0] - x[1]),
        ("mul", _) => float(ty, a, |x| x[0] * x[1]),
        ("div", _) => float(ty, a, |x| x[0] / x[1]),
        ("sqrt", _) => float(ty, a, |x| x[0].sqrt()),
        // PTX's `min` and `max` return the other operand when one is NaN.
        ("min", _) => float(ty, a, |x| x[0].min(x[1])),
        ("max", _) => float(ty, a, |x| x[0].max(x[1])),
        ("neg", "f32") => a[0] ^ 0x8000_0000,
        ("neg", _) => a[0] ^ (1 << 63),
        ("abs", "f32") => a[0] & 0x7FFF_FFFF,
        ("abs", _) => a[0] & !(1 << 63),
        _ => unreachable!("float instruction `{name}.{ty}`"),
    }
}
