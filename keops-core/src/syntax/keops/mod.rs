//! Parser for `genred!`: KeOps formula strings, as pykeops' `Genred` takes them.
//!
//! ```text
//! "Exp(-SqDist(x,y)) * b", ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)"],
//! reduction = "Sum", axis = 1, dtype = f32, opt_arg = 3, formula2 = "b"
//! ```
//!
//! KeOps evaluates these strings as Python expressions, so this parser follows Python's grammar
//! and precedence: comparisons, then `|` (KeOps' scalar product, usually written `(x|y)`), then
//! `+ -`, `* /`, unary `-`, `**`, and calls. It is hand-written (a tokenizer and a recursive
//! descent) so that every error can point at a character range of the string: on stable Rust a
//! span covers a whole literal, so messages quote the offending part and give its column.
//!
//! Variables come from the alias strings (`x = Vi(3)`, `x = Vi(0, 3)`, `Vj`, `Pm`, the old
//! `Vx`/`Vy`, `x = Var(0, 3, 0)`) and from `Var(pos, dim, cat)` used directly in a formula;
//! positions give the argument order and must run from 0 without gaps.

use std::collections::BTreeMap;

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser as _};
use syn::{LitStr, Token};

use crate::ast::{DType, Expr, GpuMath, KernelSource, Param, ReductionDecl, Syntax};
use crate::diag::{Diagnostics, Loc, did_you_mean, tidy};
use crate::ir::Role;
use crate::reduction::{Accumulator, Arity2, ReductionKind, SumScheme};
use crate::syntax::math::GPU_MATH_CHOICES;

use formula::{Strings, parse_alias, parse_formula};

mod formula;

/// Parses the arguments of a `genred!` invocation.
pub fn parse_genred(tokens: TokenStream) -> Result<KernelSource, Diagnostics> {
    super::shallow_enough(&tokens)?;
    let tokens = super::unwrap_fragments(tokens);
    let text = tidy(&tokens);
    let raw = match raw_args.parse2(tokens) {
        Ok(raw) => raw,
        Err(e) => {
            let mut diags = Diagnostics::new();
            for e in e {
                diags.error(Loc::span(e.span()), e.to_string());
            }
            return Err(diags);
        }
    };
    Builder::new(&raw).build(&raw, text)
}

/// Parses `genred!` arguments from source text (for tests and tools): the text `info().formula`
/// records for kernels made by `genred!`.
pub fn parse_genred_str(text: &str) -> Result<KernelSource, Diagnostics> {
    let tokens: TokenStream = text.parse().map_err(|e: proc_macro2::LexError| {
        let mut d = Diagnostics::new();
        d.error(Loc::span(Span::call_site()), format!("cannot tokenize the kernel: {e}"));
        d
    })?;
    parse_genred(tokens)
}

/// The macro's arguments, before their strings are parsed.
struct RawArgs {
    formula: LitStr,
    aliases: Vec<LitStr>,
    aliases_loc: Loc,
    named: Vec<(syn::Ident, syn::Expr)>,
}

fn raw_args(input: ParseStream) -> syn::Result<RawArgs> {
    const USAGE: &str =
        "expected `genred!(\"formula\", [\"x = Vi(3)\", ...], reduction = \"Sum\", axis = 1, dtype = f32)`";
    let formula: LitStr = input.parse().map_err(|e| syn::Error::new(e.span(), USAGE))?;
    input.parse::<Token![,]>().map_err(|e| syn::Error::new(e.span(), USAGE))?;
    let content;
    let bracket = syn::bracketed!(content in input);
    let aliases = content.parse_terminated(|s: ParseStream| s.parse::<LitStr>(), Token![,])?;
    let mut named = Vec::new();
    while !input.is_empty() {
        input.parse::<Token![,]>()?;
        if input.is_empty() {
            break;
        }
        let key: syn::Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        let value: syn::Expr = input.parse()?;
        named.push((key, value));
    }
    Ok(RawArgs {
        formula,
        aliases: aliases.into_iter().collect(),
        aliases_loc: Loc::spans(bracket.span.open(), bracket.span.close()),
        named,
    })
}

/// The named arguments `genred!` takes: pykeops' `Genred` options (`reduction_op` is pykeops'
/// spelling of `reduction`, `cuda_type` its old name for `dtype`; `enable_chunks` and
/// `rec_multVar_highdim` tune pykeops' own code generation and change nothing here).
const NAMED: &[&str] = &[
    "reduction",
    "reduction_op",
    "axis",
    "dtype",
    "cuda_type",
    "opt_arg",
    "formula2",
    "sum_scheme",
    "dtype_acc",
    "use_double_acc",
    "gpu_math",
    "enable_chunks",
    "rec_multVar_highdim",
];

/// A declared variable, from an alias or a `Var(pos, dim, cat)` in a formula.
struct Decl {
    name: String,
    pos: usize,
    dim: usize,
    role: Role,
    loc: Loc,
    /// How the user wrote it, for messages.
    shown: String,
    from_alias: bool,
}

/// Collects the pieces and their errors.
struct Builder {
    diags: Diagnostics,
    /// The texts locations point into: the formula, each alias, then `formula2` if given.
    sources: Vec<String>,
}

impl Builder {
    fn new(raw: &RawArgs) -> Builder {
        let mut sources = vec![raw.formula.value()];
        sources.extend(raw.aliases.iter().map(LitStr::value));
        if let Some((_, syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }))) =
            raw.named.iter().find(|(k, _)| k == "formula2")
        {
            sources.push(s.value());
        }
        Builder { diags: Diagnostics::with_sources(sources.clone()), sources }
    }

    fn build(mut self, raw: &RawArgs, text: String) -> Result<KernelSource, Diagnostics> {
        let options = self.options(raw);
        let formula = self.formula(&raw.formula.value(), raw.formula.span(), 0);
        let formula2 =
            options.formula2.as_ref().map(|(s, span)| self.formula(s, *span, raw.aliases.len() + 1));
        let mut decls: Vec<Decl> =
            raw.aliases.iter().enumerate().filter_map(|(k, lit)| self.alias(lit, k + 1, k)).collect();
        // A position left empty by an alias that was not read is not reported again as a gap.
        let aliases_read = decls.len() == raw.aliases.len();
        for f in [Some(&formula), formula2.as_ref()].into_iter().flatten() {
            self.vars_in(f, &mut decls);
        }
        let params = self.params(decls, options.dtype, raw.aliases_loc, aliases_read);
        let reduction = self.reduction(&options, formula2.is_some(), raw);
        let kernel = KernelSource {
            syntax: Syntax::KeOps,
            params,
            reduction,
            formula,
            formula2,
            text,
            sources: self.sources,
            gpu_math: options.gpu_math,
        };
        self.diags.into_result(kernel)
    }

    /// The named arguments.
    fn options(&mut self, raw: &RawArgs) -> Options {
        let mut o = Options {
            reduction: None,
            over: Role::I,
            dtype: DType::F32,
            opt_arg: None,
            formula2: None,
            scheme: None,
            double_acc: None,
            gpu_math: GpuMath::default(),
        };
        let mut seen: Vec<String> = Vec::new();
        for (key, value) in &raw.named {
            let name = key.to_string();
            let loc = Loc::of(value);
            let synonym =
                |a: &str, b: &str| [a, b].contains(&name.as_str()) && seen.iter().any(|s| s == a || s == b);
            if seen.contains(&name) || synonym("reduction", "reduction_op") || synonym("dtype", "cuda_type") {
                self.diags.error(Loc::of(key), format!("`{name}` is given twice"));
                continue;
            }
            seen.push(name.clone());
            let string = match value {
                syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Some((s.value(), s.span())),
                _ => None,
            };
            let int = match value {
                syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(n), .. }) => n.base10_parse::<usize>().ok(),
                _ => None,
            };
            let boolean = match value {
                syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Bool(b), .. }) => Some(b.value),
                // pykeops' `True` and `False`, as they would be copied from Python.
                syn::Expr::Path(p) if p.path.is_ident("True") => Some(true),
                syn::Expr::Path(p) if p.path.is_ident("False") => Some(false),
                _ => None,
            };
            match name.as_str() {
                "reduction" | "reduction_op" => match string {
                    Some((s, _)) => o.reduction = Some((s, loc)),
                    None => self.diags.error(loc, "the reduction is a string, such as `\"Sum\"` or `\"ArgKMin\"`"),
                },
                "axis" => match int {
                    Some(0) => o.over = Role::I,
                    Some(1) => o.over = Role::J,
                    _ => self.diags.error(
                        loc,
                        "`axis` is 1 (reduce over j, one output row per i) or 0 (reduce over i, one row per j)",
                    ),
                },
                "dtype" | "cuda_type" => match dtype(value) {
                    Ok(d) => o.dtype = d,
                    Err(message) => self.diags.error(loc, message),
                },
                "opt_arg" => match int {
                    Some(k) if k >= 1 => o.opt_arg = Some((k, loc)),
                    _ => self.diags.error(loc, "`opt_arg` (K) must be a positive integer literal"),
                },
                "formula2" => match string {
                    Some(s) => o.formula2 = Some(s),
                    None => self.diags.error(loc, "`formula2` is a formula string"),
                },
                "sum_scheme" => match string.as_ref().map(|(s, _)| s.as_str()) {
                    Some("auto") => {}
                    Some(s) if SumScheme::from_keops_name(s).is_some() => {
                        o.scheme = SumScheme::from_keops_name(s).map(|scheme| (scheme, loc))
                    }
                    _ => self.diags.error(
                        loc,
                        "`sum_scheme` is \"block_sum\" (the default), \"kahan_scheme\" (compensated sums) or \"direct_sum\" (which sums as \"block_sum\" does)",
                    ),
                },
                "dtype_acc" => match string.as_ref().map(|(s, _)| s.as_str()) {
                    Some("auto") => {}
                    Some(s) => match dtype(value) {
                        Ok(d) => o.double_acc = Some((d == DType::F64, loc)),
                        Err(_) => self.diags.error(loc, format!("`dtype_acc` is \"auto\", \"float32\" or \"float64\", not {s:?}")),
                    },
                    None => self.diags.error(loc, "`dtype_acc` is a string: \"auto\", \"float32\" or \"float64\""),
                },
                "use_double_acc" => match boolean {
                    Some(b) => o.double_acc = Some((b, loc)),
                    None => self.diags.error(loc, "`use_double_acc` is `true` or `false`"),
                },
                "gpu_math" => match string.as_ref().map(|(s, _)| (s, GpuMath::from_name(s))) {
                    Some((_, Some(math))) => o.gpu_math = math,
                    Some((s, None)) => self.diags.error(loc, format!("{GPU_MATH_CHOICES}, not {s:?}")),
                    None => self.diags.error(loc, format!("{GPU_MATH_CHOICES}: `gpu_math = \"fast\"`")),
                },
                "enable_chunks" | "rec_multVar_highdim" => {
                    if boolean.is_none() {
                        self.diags.error(loc, format!("`{name}` is `true` or `false`"));
                    }
                }
                _ => {
                    let hint = match did_you_mean(&name, NAMED.iter().copied()) {
                        Some(s) => format!("; did you mean `{s}`?"),
                        None => format!(" (expected {})", NAMED.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")),
                    };
                    self.diags.error(Loc::of(key), format!("unknown argument `{name}`{hint}"));
                }
            }
        }
        o
    }

    fn formula(&mut self, text: &str, span: Span, source: usize) -> Expr {
        let p = Strings { span, source };
        match parse_formula(text, &p) {
            Ok(e) => e,
            Err(err) => {
                self.diags.error(p.loc(err.start, err.end), err.message);
                Expr::Error
            }
        }
    }

    fn alias(&mut self, lit: &LitStr, source: usize, index: usize) -> Option<Decl> {
        let text = lit.value();
        let p = Strings { span: lit.span(), source };
        match parse_alias(&text, &p, index) {
            Ok(d) => Some(d),
            Err(err) => {
                self.diags.error(p.loc(err.start, err.end), err.message);
                None
            }
        }
    }

    /// Declarations from `Var(pos, dim, cat)` calls in a formula.
    fn vars_in(&mut self, e: &Expr, decls: &mut Vec<Decl>) {
        match e {
            Expr::Call { name, args, loc, .. } if name == "Var" => {
                let v: Option<Vec<i64>> = args.iter().map(Expr::as_int).collect();
                match v.as_deref().and_then(|v| var_decl(v).ok().map(|d| (v, d))) {
                    Some((v, (pos, dim, role))) => decls.push(Decl {
                        name: format!("var{pos}"),
                        pos,
                        dim,
                        role,
                        loc: *loc,
                        shown: format!("`Var({}, {}, {})`", v[0], v[1], v[2]),
                        from_alias: false,
                    }),
                    None => {
                        let message = match v.as_deref().map(var_decl) {
                            Some(Err(m)) => m,
                            _ => "expected `Var(pos, dim, cat)` with three integer literals".to_string(),
                        };
                        self.diags.error(*loc, message);
                    }
                }
            }
            Expr::Call { args, .. } | Expr::Concat { items: args, .. } | Expr::Tuple { items: args, .. } => {
                args.iter().for_each(|a| self.vars_in(a, decls));
            }
            Expr::Neg { arg, .. } | Expr::Index { base: arg, .. } | Expr::Slice { base: arg, .. } => {
                self.vars_in(arg, decls)
            }
            Expr::Binary { lhs, rhs, .. } => {
                self.vars_in(lhs, decls);
                self.vars_in(rhs, decls);
            }
            Expr::Num { .. } | Expr::Name { .. } | Expr::Error => {}
        }
    }

    /// The kernel's variables in position order, checking positions and names.
    fn params(&mut self, decls: Vec<Decl>, dtype: DType, aliases_loc: Loc, aliases_read: bool) -> Vec<Param> {
        let mut by_pos: BTreeMap<usize, Decl> = BTreeMap::new();
        for d in decls {
            if let Some(first) = by_pos.get(&d.pos) {
                if first.from_alias && d.from_alias {
                    let message = format!(
                        "position {} is given to two aliases, `{}` and `{}`",
                        d.pos, first.name, d.name
                    );
                    self.diags.error(d.loc, message);
                } else if (first.dim, first.role) != (d.dim, d.role) {
                    let message = format!(
                        "{} does not match {}, declared at position {} with dimension {} and category {}",
                        d.shown,
                        first.shown,
                        d.pos,
                        first.dim,
                        first.role.category()
                    );
                    self.diags.error(d.loc, message);
                }
                continue;
            }
            if let Some(other) = by_pos.values().find(|o| o.name == d.name) {
                let message = if d.from_alias && other.from_alias {
                    format!("alias `{}` is declared twice", d.name)
                } else {
                    format!(
                        "alias `{}` clashes with the name given to {}",
                        d.name,
                        if d.from_alias { &other.shown } else { &d.shown }
                    )
                };
                self.diags.error(d.loc, message);
                continue;
            }
            by_pos.insert(d.pos, d);
        }
        // Positions must be exactly 0..n: any gap shows below n.
        let missing: Vec<String> =
            (0..by_pos.len()).filter(|p| !by_pos.contains_key(p)).map(|p| p.to_string()).collect();
        if !missing.is_empty() && aliases_read {
            let declared: Vec<String> = by_pos.keys().map(usize::to_string).collect();
            self.diags.error(
                aliases_loc,
                format!(
                    "no variable at position {}: positions give the argument order and must run from 0 without gaps (declared: {})",
                    missing.join(", "),
                    declared.join(", ")
                ),
            );
        }
        by_pos
            .into_values()
            .map(|d| Param {
                name: d.name,
                loc: d.loc,
                role: d.role,
                dim: d.dim,
                dtype,
                // `Pm(1)` is a scalar parameter, passed by value as `keops!`'s `g: f32` is.
                bare: d.role == Role::Param && d.dim == 1,
                runtime_dim: false,
            })
            .collect()
    }

    fn reduction(&mut self, o: &Options, has_formula2: bool, raw: &RawArgs) -> ReductionDecl {
        let (name, loc) = o.reduction.clone().unwrap_or_else(|| ("Sum".to_string(), Loc::of(&raw.formula)));
        let kind = ReductionKind::from_keops_name(&name).unwrap_or_else(|| {
            let names: Vec<&str> = ReductionKind::ALL.iter().map(|r| r.keops_name()).collect();
            let hint = match did_you_mean(&name, names.iter().copied()) {
                Some(s) => format!("; did you mean `{s}`?"),
                None => format!(" (expected one of {})", names.join(", ")),
            };
            self.diags.error(loc, format!("unknown reduction `{name}`{hint}"));
            ReductionKind::Sum
        });
        let k = match (kind.takes_k(), o.opt_arg) {
            (true, Some((k, _))) => Some(k),
            (true, None) => {
                self.diags.error(loc, format!("`{name}` needs the number K: add `opt_arg = K`"));
                Some(1)
            }
            (false, Some((_, at))) => {
                self.diags.error(
                    at,
                    format!("`{name}` takes no `opt_arg` (only KMin, ArgKMin and KMin_ArgKMin do)"),
                );
                None
            }
            (false, None) => None,
        };
        let needs2 = kind.second_formula() == Arity2::Required || name == "LogSumExpWeight";
        if needs2 && !has_formula2 {
            self.diags.error(loc, format!("`{name}` needs a second formula: add `formula2 = \"...\"`"));
        } else if kind.second_formula() == Arity2::None && has_formula2 {
            self.diags.error(loc, format!("`{name}` takes no `formula2`"));
        }
        let scheme = match o.scheme {
            Some((scheme, at)) if !scheme.applies_to(kind) => {
                self.diags.error(
                    at,
                    format!(
                        "`{name}` has no compensated sum: `sum_scheme = \"kahan_scheme\"` applies to `Sum`"
                    ),
                );
                SumScheme::Block
            }
            Some((scheme, _)) => scheme,
            None => SumScheme::Block,
        };
        let scheme = match o.double_acc {
            Some((true, at)) if o.dtype == DType::F32 => match kind.spec().accumulator {
                Accumulator::Sum if scheme == SumScheme::Kahan => {
                    self.diags.error(
                        at,
                        "choose one of float64 accumulation and `sum_scheme = \"kahan_scheme\"`: either keeps a float32 sum to about an ulp",
                    );
                    scheme
                }
                Accumulator::Sum => SumScheme::Double,
                // Selections compare the values exactly, in any type.
                Accumulator::Extremum { .. } | Accumulator::KMin => scheme,
                Accumulator::LogSumExp { .. } | Accumulator::SoftMax => {
                    self.diags.error(
                        at,
                        format!("`{name}` accumulates in float32: float64 accumulation applies to `Sum` (or use `dtype = \"float64\"`)"),
                    );
                    scheme
                }
            },
            _ => scheme,
        };
        ReductionDecl { kind, over: o.over, k, scheme, loc }
    }
}

/// The named arguments, with their defaults: `Sum` over j, in f32.
struct Options {
    reduction: Option<(String, Loc)>,
    over: Role,
    dtype: DType,
    opt_arg: Option<(usize, Loc)>,
    /// The text and span of `formula2`.
    formula2: Option<(String, Span)>,
    /// `sum_scheme`, when not the default.
    scheme: Option<(SumScheme, Loc)>,
    /// Whether `dtype_acc` or `use_double_acc` asked for float64 accumulation.
    double_acc: Option<(bool, Loc)>,
    gpu_math: GpuMath,
}

/// `f32`, `f64`, or pykeops' `"float32"`, `"float64"`.
fn dtype(value: &syn::Expr) -> Result<DType, String> {
    let word = match value {
        syn::Expr::Path(p) if p.qself.is_none() => p.path.get_ident().map(ToString::to_string),
        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Some(s.value()),
        _ => None,
    };
    match word.as_deref() {
        Some("f32" | "float32" | "float") => Ok(DType::F32),
        Some("f64" | "float64" | "double") => Ok(DType::F64),
        Some(w @ ("f16" | "float16" | "half")) => Err(format!("`{w}` is not supported: use `f32` or `f64`")),
        _ => Err("`dtype` is `f32` or `f64` (or the strings \"float32\", \"float64\")".to_string()),
    }
}

/// `(pos, dim, role)` of `Var(pos, dim, cat)`, or what is wrong with it.
fn var_decl(v: &[i64]) -> Result<(usize, usize, Role), String> {
    let [pos, dim, cat] = *v else {
        return Err("expected `Var(pos, dim, cat)` with three integer literals".to_string());
    };
    let pos = usize::try_from(pos).map_err(|_| format!("a position cannot be negative, got {pos}"))?;
    let dim = usize::try_from(dim)
        .ok()
        .filter(|&d| d >= 1)
        .ok_or(format!("a dimension must be at least 1, got {dim}"))?;
    let role = match cat {
        0 => Role::I,
        1 => Role::J,
        2 => Role::Param,
        _ => return Err(format!("the category is 0 (`Vi`), 1 (`Vj`) or 2 (`Pm`), got {cat}")),
    };
    Ok((pos, dim, role))
}

#[cfg(test)]
mod tests {
    use super::formula::SyntaxError;
    use super::*;
    use crate::check::check;

    fn parse(args: &str) -> Result<KernelSource, Vec<String>> {
        parse_genred_str(args).map_err(|d| d.errors().iter().map(|e| d.render(e)).collect())
    }

    fn formula(text: &str) -> Result<Expr, SyntaxError> {
        parse_formula(text, &Strings { span: Span::call_site(), source: 0 })
    }

    /// The formula rendered back with explicit parentheses.
    fn show(e: &Expr) -> String {
        match e {
            Expr::Num { value, .. } => value.to_string(),
            Expr::Name { name, .. } => name.clone(),
            Expr::Neg { arg, .. } => format!("(-{})", show(arg)),
            Expr::Binary { op, lhs, rhs, .. } => format!("({} {} {})", show(lhs), op.symbol(), show(rhs)),
            Expr::Call { name, args, .. } => {
                format!("{name}({})", args.iter().map(show).collect::<Vec<_>>().join(", "))
            }
            Expr::Tuple { items, .. } => {
                format!("<{}>", items.iter().map(show).collect::<Vec<_>>().join(", "))
            }
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn python_precedence() {
        let f = |t: &str| show(&formula(t).unwrap());
        assert_eq!(f("Exp(-SqDist(x,y)) * b"), "(Exp((-SqDist(x, y))) * b)");
        assert_eq!(f("a + b * c - d / e"), "((a + (b * c)) - (d / e))");
        assert_eq!(f("(x|y) * 2"), "((x | y) * 2)");
        assert_eq!(f("x|y+z"), "(x | (y + z))");
        assert_eq!(f("-x**2"), "(-Pow(x, 2))");
        assert_eq!(f("x**-2"), "Pow(x, (-2))");
        assert_eq!(f("x**y**2"), "Powf(x, Pow(y, 2))");
        assert_eq!(f("x**0.5"), "Powf(x, 0.5)");
        assert_eq!(f("a < b + 1"), "(a < (b + 1))");
        assert_eq!(f("a >= b"), "(a >= b)");
        assert_eq!(f("TensorDot(a, b, (2, 3), (3,), [1], Ind(0))"), "TensorDot(a, b, <2, 3>, <3>, <1>, <0>)");
        assert_eq!(f(".5 + 1. + 1e-3 + 2E2"), "(((0.5 + 1) + 0.001) + 200)");
    }

    #[test]
    fn syntax_errors_point_at_the_part() {
        let e = |t: &str| {
            let e = formula(t).unwrap_err();
            (e.message, e.start, e.end)
        };
        assert_eq!(e("Exp(x $ y)"), ("unexpected character `$`".into(), 6, 7));
        assert_eq!(e("Exp(x"), ("this `(` is never closed".into(), 3, 4));
        assert_eq!(e("x + * y"), ("expected a formula, found `*`".into(), 4, 5));
        assert_eq!(e("x y"), ("expected an operator or the end of the formula, found `y`".into(), 2, 3));
        assert_eq!(e("x % 2").0, "operator `%` is not supported in formulas");
        assert_eq!(e("a < b < c").0, "chained comparisons are not supported: compare two formulas at a time");
        assert_eq!(e("1x").0, "invalid number");
        assert_eq!(e("").0, "empty formula");
    }

    /// float64 accumulation makes a float32 sum widen; an f64 kernel and a selection keep their
    /// block sum.
    #[test]
    fn float64_accumulation_widens_float32_sums() {
        let scheme = |options: &str| {
            let text = format!(r#""SqDist(x, y)", ["x = Vi(3)", "y = Vj(3)"], {options}"#);
            check(&parse(&text).unwrap()).unwrap().reduction.scheme
        };
        assert_eq!(scheme(r#"dtype_acc = "float64""#), SumScheme::Double);
        assert_eq!(scheme("use_double_acc = True"), SumScheme::Double);
        assert_eq!(scheme(r#"dtype_acc = "float32""#), SumScheme::Block);
        assert_eq!(scheme(r#"dtype_acc = "auto", use_double_acc = false"#), SumScheme::Block);
        assert_eq!(scheme(r#"dtype_acc = "float64", dtype = "float64""#), SumScheme::Block);
        assert_eq!(
            scheme(r#"dtype_acc = "float64", reduction_op = "ArgKMin", opt_arg = 2"#),
            SumScheme::Block
        );
    }

    #[test]
    fn gpu_math_option() {
        let base = r#""Exp(-SqDist(x,y))", ["x = Vi(3)", "y = Vj(3)"], axis = 1"#;
        assert_eq!(parse(base).unwrap().gpu_math, GpuMath::Accurate);
        for math in GpuMath::ALL {
            let k = parse(&format!(r#"{base}, gpu_math = "{}""#, math.name())).unwrap();
            assert_eq!(k.gpu_math, math);
            assert_eq!(parse_genred_str(&k.text).unwrap().gpu_math, math);
        }
        let errors = parse(&format!(r#"{base}, gpu_math = "exact""#)).err().unwrap();
        assert!(errors[0].contains("\"reproducible\""), "{errors:?}");
    }

    #[test]
    fn card_example() {
        let k = parse(r#""Exp(-SqDist(x,y)) * b", ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)"], reduction = "Sum", axis = 1, dtype = f32"#)
            .unwrap();
        assert_eq!(k.syntax, Syntax::KeOps);
        let vars: Vec<_> = k.params.iter().map(|p| (p.name.as_str(), p.role, p.dim)).collect();
        assert_eq!(vars, [("x", Role::I, 3), ("y", Role::J, 3), ("b", Role::J, 1)]);
        assert_eq!((k.reduction.kind, k.reduction.over), (ReductionKind::Sum, Role::J));
        let checked = check(&k).unwrap();
        assert_eq!(checked.widths(), (1, 0));
        // The recorded text parses to the same kernel.
        let again = parse_genred_str(&k.text).unwrap();
        assert_eq!(again.params.len(), 3);
    }

    #[test]
    fn options_and_defaults() {
        let k = parse(r#""SqDist(x,y)", ["x = Vi(0, 3)", "y = Vj(1, 3)"], reduction = "ArgKMin", opt_arg = 3, axis = 0, dtype = "float64""#).unwrap();
        assert_eq!(
            (k.reduction.kind, k.reduction.k, k.reduction.over),
            (ReductionKind::ArgKMin, Some(3), Role::I)
        );
        assert_eq!(k.params[0].dtype, DType::F64);
        // pykeops' `Genred` defaults: `reduction_op="Sum"`, `axis=0`, `dtype="float32"`.
        let k = parse(r#""x", ["x = Vi(2)"]"#).unwrap();
        assert_eq!(
            (k.reduction.kind, k.reduction.over, k.params[0].dtype),
            (ReductionKind::Sum, Role::I, DType::F32)
        );
        let k = parse(r#""SqDist(x,y)", ["x = Vi(3)", "y = Vj(3)", "b = Vj(3)"], reduction = "SumSoftMaxWeight", formula2 = "b""#).unwrap();
        assert!(k.formula2.is_some());
        assert_eq!(k.sources.len(), 5);
    }

    #[test]
    fn var_in_formulas_and_positions() {
        let k = parse(r#""Var(0, 3, 0) - y + Var(2, 1, 2)", ["y = Vj(1, 3)"]"#).unwrap();
        let vars: Vec<_> = k.params.iter().map(|p| (p.name.as_str(), p.role, p.dim)).collect();
        assert_eq!(vars, [("var0", Role::I, 3), ("y", Role::J, 3), ("var2", Role::Param, 1)]);
        check(&k).unwrap();
        // A `Var` naming an alias's position refers to it.
        let k = parse(r#""Var(0, 3, 0) + x", ["x = Vi(3)"]"#).unwrap();
        assert_eq!(k.params.len(), 1);
        check(&k).unwrap();
    }

    #[test]
    fn declaration_errors() {
        let e = parse(r#""x + y", ["x = Vi(0, 3)", "y = Vj(2, 3)"]"#).unwrap_err();
        assert!(e[0].starts_with("no variable at position 1: positions give the argument order"), "{e:?}");
        let e = parse(r#""x", ["x = Vi(0, 3)", "y = Vj(0, 3)"]"#).unwrap_err();
        assert!(e[0].starts_with("position 0 is given to two aliases, `x` and `y`"), "{e:?}");
        let e = parse(r#""x + Var(0, 2, 0)", ["x = Vi(3)"]"#).unwrap_err();
        assert!(e[0].starts_with("`Var(0, 2, 0)` does not match alias `x = Vi(3)`"), "{e:?}");
        let e = parse(r#""x", ["x = Vk(3)"]"#).unwrap_err();
        assert!(e[0].starts_with("unknown variable type `Vk`: did you mean `Vi`?"), "{e:?}");
        assert!(e[0].contains("at `Vk` (column 5) in:\n    x = Vk(3)\n        ^^"), "{e:?}");
        let e = parse(r#""x", ["x = Vi(3)", "x = Vj(3)"]"#).unwrap_err();
        assert!(e[0].starts_with("alias `x` is declared twice"), "{e:?}");
        let e = parse(r#""x", ["x = Vi(0)"]"#).unwrap_err();
        assert!(e[0].starts_with("a dimension must be at least 1"), "{e:?}");
        let e = parse(r#""x", ["Vi(0, 3)"]"#).unwrap_err();
        assert!(e[0].starts_with("this alias has no name"), "{e:?}");
        let e = parse(r#""x", ["fn = Vi(3)"]"#).unwrap_err();
        assert!(e[0].starts_with("`fn` cannot name an argument of `eval`"), "{e:?}");
        let e = parse(r#""x", ["x = Vi(1000000000000, 3)"]"#).unwrap_err();
        assert!(e[0].starts_with("no variable at position 0"), "{e:?}");
    }

    #[test]
    fn option_errors() {
        let e = parse(r#""x", ["x = Vi(3)"], reduction = "KMin""#).unwrap_err();
        assert_eq!(e, ["`KMin` needs the number K: add `opt_arg = K`"]);
        let e = parse(r#""x", ["x = Vi(3)"], reduction = "Summ""#).unwrap_err();
        assert_eq!(e, ["unknown reduction `Summ`; did you mean `Sum`?"]);
        let e = parse(r#""x", ["x = Vi(3)"], axis = 2, dtype = f16, reduktion = "Sum""#).unwrap_err();
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("`axis` is 1"), "{e:?}");
        assert_eq!(e[1], "`f16` is not supported: use `f32` or `f64`");
        assert_eq!(e[2], "unknown argument `reduktion`; did you mean `reduction`?");
        let e = parse(r#""x", ["x = Vi(3)"], reduction = "SumSoftMaxWeight""#).unwrap_err();
        assert!(e[0].contains("needs a second formula"), "{e:?}");
    }

    #[test]
    fn check_errors_quote_the_string() {
        let errors = |args: &str| {
            let k = parse(args).unwrap();
            let d = check(&k).unwrap_err();
            d.errors().iter().map(|e| d.render(e)).collect::<Vec<_>>()
        };
        let e = errors(r#""Exp(-SqDis(x, y))", ["x = Vi(3)", "y = Vj(3)"]"#);
        assert_eq!(
            e,
            [
                "unknown function `SqDis`; did you mean `SqDist`?\n  at `SqDis` (column 6) in:\n    Exp(-SqDis(x, y))\n         ^^^^^"
            ]
        );
        let e = errors(r#""SqDist(x, y)", ["x = Vi(3)", "y = Vj(2)"]"#);
        assert!(
            e[0].starts_with("dimension mismatch in `SqDist`: operands have dimensions 3 and 2"),
            "{e:?}"
        );
        let e = errors(r#""Exp(x, y)", ["x = Vi(3)", "y = Vj(3)"]"#);
        assert!(e[0].starts_with("`Exp` takes 1 argument, got 2"), "{e:?}");
        let e = errors(r#""BSpline(x, y, 3)", ["x = Vi(3)", "y = Vj(3)"]"#);
        assert!(e[0].starts_with("`BSpline` samples at a scalar `x`, but `x` has dimension 3"), "{e:?}");
        let e = errors(r#""x", ["x = Vi(3)"], formula2 = "Exp(y)", reduction = "LogSumExp""#);
        assert!(e[0].contains("unknown variable `y`") && e[0].contains("    Exp(y)\n        ^"), "{e:?}");
    }

    #[test]
    fn constants() {
        let k =
            parse(r#""IntCst(2) * x + IntInv(4) + RatCst(1, 3) + Zero(3) + 2.5", ["x = Vi(3)"]"#).unwrap();
        let k = check(&k).unwrap();
        let out = crate::eval::evaluate(&k, &[&[1.0, 2.0, 3.0]]).unwrap();
        let c = 0.25 + 1.0 / 3.0 + 2.5;
        for (got, want) in out.values.iter().zip([2.0 + c, 4.0 + c, 6.0 + c]) {
            assert!((got - want).abs() < 1e-15, "{got} vs {want}");
        }
    }
}
