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

use crate::ast::{BinOp, DType, Expr, KernelSource, Param, ReductionDecl, Syntax};
use crate::diag::{Diagnostics, Loc, did_you_mean, tidy};
use crate::ir::Role;
use crate::reduction::{Arity2, ReductionKind, SumScheme};

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
        if let Some((true, at)) = o.double_acc
            && o.dtype == DType::F32
        {
            self.diags.error(
                at,
                "accumulating float32 in float64 is not supported yet: `sum_scheme = \"kahan_scheme\"` keeps float32 sums accurate to about an ulp, or use `dtype = \"float64\"`",
            );
        }
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

/// Where the strings being parsed sit: the literal's span and its source index.
struct Strings {
    span: Span,
    source: usize,
}

impl Strings {
    fn loc(&self, start: usize, end: usize) -> Loc {
        Loc::in_source(self.span, self.source, start, end)
    }
}

/// A syntax error at a character range.
#[derive(Debug)]
struct SyntaxError {
    message: String,
    start: usize,
    end: usize,
}

fn error<T>(message: impl Into<String>, start: usize, end: usize) -> Result<T, SyntaxError> {
    Err(SyntaxError { message: message.into(), start, end })
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Int(i64),
    Float(f64),
    Sym(&'static str),
    End,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

impl Token {
    /// The token as it appears in messages.
    fn shown(&self, text: &[char]) -> String {
        match self.tok {
            Tok::End => "the end of the string".to_string(),
            _ => format!("`{}`", text[self.start..self.end].iter().collect::<String>()),
        }
    }
}

/// Longest first, so that `**` is not read as two `*`.
const SYMBOLS: &[&str] = &[
    "**", "//", "<=", ">=", "==", "!=", "+", "-", "*", "/", "%", "@", "|", "&", "^", "~", "<", ">", "=", "(",
    ")", "[", "]", ",", ".", ":", ";",
];

fn lex(text: &[char]) -> Result<Vec<Token>, SyntaxError> {
    let mut toks = Vec::new();
    let mut k = 0;
    while k < text.len() {
        let c = text[k];
        let start = k;
        if c.is_whitespace() {
            k += 1;
            continue;
        }
        let tok = if c.is_ascii_alphabetic() || c == '_' {
            while k < text.len() && (text[k].is_ascii_alphanumeric() || text[k] == '_') {
                k += 1;
            }
            Tok::Ident(text[start..k].iter().collect())
        } else if c.is_ascii_digit() || (c == '.' && text.get(k + 1).is_some_and(char::is_ascii_digit)) {
            number(text, &mut k)?
        } else if let Some(sym) =
            SYMBOLS.iter().find(|s| s.chars().enumerate().all(|(i, sc)| text.get(k + i) == Some(&sc)))
        {
            k += sym.chars().count();
            Tok::Sym(sym)
        } else {
            return error(format!("unexpected character `{c}`"), k, k + 1);
        };
        toks.push(Token { tok, start, end: k });
    }
    toks.push(Token { tok: Tok::End, start: text.len(), end: text.len() });
    Ok(toks)
}

/// A Python number literal: `3`, `2.5`, `.5`, `1.`, `1e-3`.
fn number(text: &[char], k: &mut usize) -> Result<Tok, SyntaxError> {
    let start = *k;
    let digits = |k: &mut usize| {
        while *k < text.len() && text[*k].is_ascii_digit() {
            *k += 1;
        }
    };
    digits(k);
    let mut float = false;
    if text.get(*k) == Some(&'.') {
        float = true;
        *k += 1;
        digits(k);
    }
    if matches!(text.get(*k), Some('e' | 'E')) {
        let mut e = *k + 1;
        if matches!(text.get(e), Some('+' | '-')) {
            e += 1;
        }
        if text.get(e).is_some_and(char::is_ascii_digit) {
            float = true;
            *k = e;
            digits(k);
        }
    }
    if text.get(*k).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
        return error("invalid number", start, *k + 1);
    }
    let s: String = text[start..*k].iter().collect();
    if float {
        s.parse().map(Tok::Float).or_else(|_| error("invalid number", start, *k))
    } else {
        s.parse().map(Tok::Int).or_else(|_| error("integer literal out of range", start, *k))
    }
}

/// A recursive-descent parser over the tokens of one string.
struct Parser<'a> {
    text: &'a [char],
    toks: Vec<Token>,
    at: usize,
    strings: &'a Strings,
    /// Nesting of the recursive calls in progress (parentheses, unary operators, exponents),
    /// bounded so that no input can overflow the stack.
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.toks[self.at]
    }

    fn bump(&mut self) -> Token {
        let t = self.toks[self.at].clone();
        if t.tok != Tok::End {
            self.at += 1;
        }
        t
    }

    fn is(&self, sym: &str) -> bool {
        matches!(self.peek().tok, Tok::Sym(s) if s == sym)
    }

    fn eat(&mut self, sym: &str) -> Option<Token> {
        self.is(sym).then(|| self.bump())
    }

    fn unexpected<T>(&self, expected: &str) -> Result<T, SyntaxError> {
        let t = self.peek();
        error(format!("expected {expected}, found {}", t.shown(self.text)), t.start, t.end.max(t.start + 1))
    }

    fn loc(&self, start: usize, end: usize) -> Loc {
        self.strings.loc(start, end)
    }

    /// Runs `f` one level of nesting deeper, or fails if that is too deep.
    fn nested(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<Expr, SyntaxError>,
    ) -> Result<Expr, SyntaxError> {
        self.deeper(1)?;
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    /// Fails if `extra` more levels (recursive calls, or operators chained at this level, each
    /// of which nests the tree one level deeper) would exceed the limit. Parenthesised formulas
    /// take two levels of the parser's per level of the tree, hence twice the checker's limit.
    fn deeper(&self, extra: usize) -> Result<(), SyntaxError> {
        if self.depth + extra > 2 * crate::ast::MAX_DEPTH {
            let t = self.peek();
            return error(
                format!(
                    "this formula is nested too deeply: more than {} levels of parentheses and operators",
                    crate::ast::MAX_DEPTH
                ),
                t.start,
                t.end.max(t.start + 1),
            );
        }
        Ok(())
    }

    /// comparison := bitor [('<' | '<=' | '>' | '>=' | '==' | '!=') bitor]
    fn expr(&mut self) -> Result<Expr, SyntaxError> {
        self.nested(Self::comparison)
    }

    fn comparison(&mut self) -> Result<Expr, SyntaxError> {
        let lhs = self.bitor()?;
        let Some(op) = self.comparison_op() else {
            return Ok(lhs);
        };
        self.bump();
        let rhs = self.bitor()?;
        if self.comparison_op().is_some() {
            let t = self.peek();
            return error(
                "chained comparisons are not supported: compare two formulas at a time",
                t.start,
                t.end,
            );
        }
        Ok(self.binary(op, lhs, rhs))
    }

    /// The comparison operator ahead, if any.
    fn comparison_op(&self) -> Option<BinOp> {
        match self.peek().tok {
            Tok::Sym("<") => Some(BinOp::Lt),
            Tok::Sym("<=") => Some(BinOp::Le),
            Tok::Sym(">") => Some(BinOp::Gt),
            Tok::Sym(">=") => Some(BinOp::Ge),
            Tok::Sym("==") => Some(BinOp::Eq),
            Tok::Sym("!=") => Some(BinOp::Ne),
            _ => None,
        }
    }

    fn binary(&self, op: BinOp, lhs: Expr, rhs: Expr) -> Expr {
        let loc = self.loc(range(&lhs).0, range(&rhs).1);
        Expr::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs), loc }
    }

    /// bitor := sum ('|' sum)*
    fn bitor(&mut self) -> Result<Expr, SyntaxError> {
        let mut lhs = self.sum()?;
        let mut chain = 0;
        while self.eat("|").is_some() {
            chain += 1;
            self.deeper(chain)?;
            let rhs = self.sum()?;
            lhs = self.binary(BinOp::Dot, lhs, rhs);
        }
        Ok(lhs)
    }

    /// sum := term (('+' | '-') term)*
    fn sum(&mut self) -> Result<Expr, SyntaxError> {
        let mut lhs = self.term()?;
        let mut chain = 0;
        loop {
            let op = if self.eat("+").is_some() {
                BinOp::Add
            } else if self.eat("-").is_some() {
                BinOp::Sub
            } else {
                return Ok(lhs);
            };
            chain += 1;
            self.deeper(chain)?;
            let rhs = self.term()?;
            lhs = self.binary(op, lhs, rhs);
        }
    }

    /// term := unary (('*' | '/') unary)*
    fn term(&mut self) -> Result<Expr, SyntaxError> {
        let mut lhs = self.unary()?;
        let mut chain = 0;
        loop {
            let op = if self.eat("*").is_some() {
                BinOp::Mul
            } else if self.eat("/").is_some() {
                BinOp::Div
            } else if let Tok::Sym(s @ ("//" | "%" | "@" | "&" | "^")) = self.peek().tok {
                let t = self.peek();
                return error(format!("operator `{s}` is not supported in formulas"), t.start, t.end);
            } else {
                return Ok(lhs);
            };
            chain += 1;
            self.deeper(chain)?;
            let rhs = self.unary()?;
            lhs = self.binary(op, lhs, rhs);
        }
    }

    /// unary := '-' unary | power
    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        self.nested(Self::unary_body)
    }

    fn unary_body(&mut self) -> Result<Expr, SyntaxError> {
        if let Some(minus) = self.eat("-") {
            let arg = self.unary()?;
            let loc = self.loc(minus.start, range(&arg).1);
            return Ok(Expr::Neg { arg: Box::new(arg), loc });
        }
        if let Tok::Sym(s @ ("+" | "~")) = self.peek().tok {
            let t = self.peek();
            return error(format!("unary `{s}` is not supported in formulas"), t.start, t.end);
        }
        self.power()
    }

    /// power := atom ['**' unary]: `x ** n` is `Pow(x, n)` for an integer `n` (KeOps' rule),
    /// `Powf(x, y)` otherwise.
    fn power(&mut self) -> Result<Expr, SyntaxError> {
        let base = self.atom()?;
        let Some(op) = self.eat("**") else {
            return Ok(base);
        };
        let exponent = self.unary()?;
        let name = if exponent.as_int().is_some() { "Pow" } else { "Powf" };
        let loc = self.loc(range(&base).0, range(&exponent).1);
        Ok(Expr::Call {
            name: name.to_string(),
            name_loc: self.loc(op.start, op.end),
            args: vec![base, exponent],
            loc,
        })
    }

    fn atom(&mut self) -> Result<Expr, SyntaxError> {
        let t = self.peek().clone();
        match t.tok {
            Tok::Int(v) => {
                self.bump();
                Ok(Expr::Num { value: v as f64, int: Some(v), loc: self.loc(t.start, t.end) })
            }
            Tok::Float(v) => {
                self.bump();
                Ok(Expr::Num { value: v, int: None, loc: self.loc(t.start, t.end) })
            }
            Tok::Ident(name) => {
                self.bump();
                let name_loc = self.loc(t.start, t.end);
                let Some(open) = self.eat("(") else {
                    return Ok(Expr::Name { name, loc: name_loc });
                };
                let (args, end) = self.items(")", open.start)?;
                let loc = self.loc(t.start, end);
                // KeOps' `Ind(2, 3)` is an integer tuple.
                if name == "Ind" {
                    return Ok(Expr::Tuple { items: args, loc });
                }
                Ok(Expr::Call { name, name_loc, args, loc })
            }
            Tok::Sym("(") => {
                self.bump();
                let (mut items, end) = self.items(")", t.start)?;
                let trailing_comma = self.toks[self.at - 2].tok == Tok::Sym(",");
                if items.len() == 1 && !trailing_comma {
                    return Ok(items.remove(0));
                }
                Ok(Expr::Tuple { items, loc: self.loc(t.start, end) })
            }
            Tok::Sym("[") => {
                self.bump();
                let (items, end) = self.items("]", t.start)?;
                Ok(Expr::Tuple { items, loc: self.loc(t.start, end) })
            }
            _ => self.unexpected("a formula"),
        }
    }

    /// Comma-separated formulas up to `close` (a trailing comma is allowed), after an opening
    /// delimiter at `open`. Returns them and the end of the closing delimiter.
    fn items(&mut self, close: &str, open: usize) -> Result<(Vec<Expr>, usize), SyntaxError> {
        let mut items = Vec::new();
        loop {
            if let Some(t) = self.eat(close) {
                return Ok((items, t.end));
            }
            if self.peek().tok == Tok::End {
                let opening = if close == ")" { "(" } else { "[" };
                return error(format!("this `{opening}` is never closed"), open, open + 1);
            }
            items.push(self.expr()?);
            if self.eat(",").is_none() && !self.is(close) && self.peek().tok != Tok::End {
                return self.unexpected(&format!("`,` or `{close}`"));
            }
        }
    }
}

/// The character range of an expression this parser built.
fn range(e: &Expr) -> (usize, usize) {
    e.loc().and_then(|l| l.range).map_or((0, 0), |r| (r.start, r.end))
}

fn parse_formula(text: &str, strings: &Strings) -> Result<Expr, SyntaxError> {
    let chars: Vec<char> = text.chars().collect();
    let toks = lex(&chars)?;
    let mut p = Parser { text: &chars, toks, at: 0, strings, depth: 0 };
    if p.peek().tok == Tok::End {
        return error("empty formula", 0, 0);
    }
    let e = p.expr()?;
    if p.peek().tok != Tok::End {
        return p.unexpected("an operator or the end of the formula");
    }
    Ok(e)
}

/// Parses an alias string: `x = Vi(3)`, `x = Vi(0, 3)`, `x = Var(0, 3, 0)` (also `Vj`, `Pm`,
/// and the old `Vx`, `Vy`). `index` is its place in the list, the position if none is given.
fn parse_alias(text: &str, strings: &Strings, index: usize) -> Result<Decl, SyntaxError> {
    const FORM: &str = "an alias is written `name = Vi(dim)`, `name = Vi(pos, dim)` (or `Vj`, `Pm`), or `name = Var(pos, dim, cat)`";
    let chars: Vec<char> = text.chars().collect();
    let toks = lex(&chars)?;
    let mut p = Parser { text: &chars, toks, at: 0, strings, depth: 0 };
    let name_tok = p.bump();
    let Tok::Ident(name) = name_tok.tok.clone() else {
        return error(format!("{FORM}; found {}", name_tok.shown(&chars)), name_tok.start, name_tok.end);
    };
    if p.is("(") {
        return error(
            format!("this alias has no name: write `x = {text}`, or use `Var(pos, dim, cat)` in the formula"),
            0,
            chars.len(),
        );
    }
    if syn::parse_str::<syn::Ident>(&name).is_err() {
        return error(
            format!("`{name}` cannot name an argument of `eval` (it is a Rust keyword): rename the alias"),
            name_tok.start,
            name_tok.end,
        );
    }
    if p.eat("=").is_none() {
        return p.unexpected("`=`");
    }
    let kind_tok = p.bump();
    let Tok::Ident(kind) = kind_tok.tok.clone() else {
        return error(format!("{FORM}; found {}", kind_tok.shown(&chars)), kind_tok.start, kind_tok.end);
    };
    let role = match kind.as_str() {
        "Vi" | "Vx" => Some(Role::I),
        "Vj" | "Vy" => Some(Role::J),
        "Pm" => Some(Role::Param),
        "Var" => None,
        _ => {
            let hint = match did_you_mean(&kind, ["Vi", "Vj", "Pm", "Var"]) {
                Some(s) => format!("did you mean `{s}`? "),
                None => String::new(),
            };
            return error(
                format!("unknown variable type `{kind}`: {hint}(expected `Vi`, `Vj`, `Pm` or `Var`)"),
                kind_tok.start,
                kind_tok.end,
            );
        }
    };
    let open = p.peek().start;
    if p.eat("(").is_none() {
        return p.unexpected("`(`");
    }
    let (args, end) = p.items(")", open)?;
    if p.peek().tok != Tok::End {
        return p.unexpected("the end of the alias");
    }
    let ints: Option<Vec<i64>> = args.iter().map(Expr::as_int).collect();
    let whole = (kind_tok.start, end);
    let Some(ints) = ints else {
        return error(format!("the arguments of `{kind}` must be integer literals"), whole.0, whole.1);
    };
    let (pos, dim, role) = match (role, ints.as_slice()) {
        (None, v) => var_decl(v).map_err(|m| SyntaxError { message: m, start: whole.0, end: whole.1 })?,
        (Some(role), [dim]) => (index, usize::try_from(*dim).unwrap_or(0), role),
        (Some(role), [pos, dim]) => match usize::try_from(*pos) {
            Ok(pos) => (pos, usize::try_from(*dim).unwrap_or(0), role),
            Err(_) => return error(format!("a position cannot be negative, got {pos}"), whole.0, whole.1),
        },
        (Some(_), _) => {
            return error(
                format!("`{kind}` takes `(dim)` or `(pos, dim)`, got {} numbers", ints.len()),
                whole.0,
                whole.1,
            );
        }
    };
    if dim == 0 {
        return error("a dimension must be at least 1", whole.0, whole.1);
    }
    let shown = format!("alias `{}`", text.trim());
    Ok(Decl { name, pos, dim, role, loc: strings.loc(name_tok.start, name_tok.end), shown, from_alias: true })
}

#[cfg(test)]
mod tests {
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
