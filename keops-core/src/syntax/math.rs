//! Parser for the math syntax of `keops!`:
//!
//! ```text
//! |x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j
//! ```
//!
//! and its item form, which names the generated type:
//!
//! ```text
//! /// docs
//! pub struct GaussConv = |x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j;
//! ```
//!
//! The formula is Rust expression syntax (parsed by syn, so precedence is Rust's). Syntax errors
//! stop the parse; everything else (unknown reductions, bad types, unsupported constructs) is
//! collected so that all of them are reported at once.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::{ParseStream, Parser};
use syn::{Token, spanned::Spanned};

use crate::ast::{BinOp, DType, Expr, GpuMath, KernelSource, Param, ReductionDecl, Syntax};
use crate::diag::{Diagnostics, Loc, did_you_mean, tidy};
use crate::ir::Role;
use crate::reduction::{Arity2, ReductionKind, SumScheme};

/// A `keops!` invocation: one anonymous kernel, or named kernel types.
pub enum MacroInput {
    Expr(Box<KernelSource>),
    Items(Vec<KernelItem>),
}

/// `#[attrs] vis struct Name = |...| ...;`
pub struct KernelItem {
    pub attrs: Vec<syn::Attribute>,
    pub vis: syn::Visibility,
    pub name: syn::Ident,
    pub kernel: KernelSource,
}

/// Rust keywords that are also operation names: a call of one (`mod(x_i, 2, 0)`) is not a Rust
/// expression, so it is rewritten as a raw identifier (`r#mod(...)`) before parsing.
const KEYWORD_OPS: &[&str] = &["mod"];

/// `tokens` with every call of a keyword operation written with a raw identifier.
fn raw_keyword_calls(tokens: TokenStream) -> TokenStream {
    let mut out: Vec<proc_macro2::TokenTree> = Vec::new();
    let mut tokens = tokens.into_iter().peekable();
    while let Some(token) = tokens.next() {
        out.push(match token {
            proc_macro2::TokenTree::Ident(i)
                if KEYWORD_OPS.iter().any(|k| i == k)
                    && matches!(tokens.peek(), Some(proc_macro2::TokenTree::Group(g)) if g.delimiter() == proc_macro2::Delimiter::Parenthesis) =>
            {
                proc_macro2::Ident::new_raw(&i.to_string(), i.span()).into()
            }
            proc_macro2::TokenTree::Group(g) => {
                let mut group = proc_macro2::Group::new(g.delimiter(), raw_keyword_calls(g.stream()));
                group.set_span(g.span());
                group.into()
            }
            other => other,
        });
    }
    out.into_iter().collect()
}

/// Parses a `keops!` invocation.
pub fn parse_macro_input(tokens: TokenStream) -> Result<MacroInput, Diagnostics> {
    let mut diags = Diagnostics::new();
    let parser = |input: ParseStream| -> syn::Result<MacroInput> {
        let fork = input.fork();
        fork.call(syn::Attribute::parse_outer)?;
        if fork.peek(Token![|]) || fork.peek(Token![||]) {
            let mut attrs = input.call(syn::Attribute::parse_outer)?;
            let gpu_math = take_gpu_math(&mut attrs, &mut diags);
            for attr in &attrs {
                diags.error(Loc::of(attr), "a kernel expression takes only `#[gpu_math = \"...\"]`");
            }
            let mut kernel = parse_closure(input, &mut diags)?;
            if !input.is_empty() {
                return Err(input.error("unexpected tokens after the formula"));
            }
            set_gpu_math(&mut kernel, gpu_math);
            return Ok(MacroInput::Expr(Box::new(kernel)));
        }
        let mut items = Vec::new();
        while !input.is_empty() {
            let mut attrs = input.call(syn::Attribute::parse_outer)?;
            let gpu_math = take_gpu_math(&mut attrs, &mut diags);
            let vis: syn::Visibility = input.parse()?;
            input.parse::<Token![struct]>().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected a kernel `|x_i: [f32; 3], ...| sum_j ...` or an item `pub struct Name = |...| ...;`",
                )
            })?;
            let name: syn::Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let mut kernel = parse_closure(input, &mut diags)?;
            set_gpu_math(&mut kernel, gpu_math);
            if !input.is_empty() {
                input.parse::<Token![;]>()?;
            }
            items.push(KernelItem { attrs, vis, name, kernel });
        }
        Ok(MacroInput::Items(items))
    };
    super::shallow_enough(&tokens)?;
    match parser.parse2(raw_keyword_calls(super::unwrap_fragments(tokens))) {
        Ok(input) => diags.into_result(input),
        Err(e) => {
            for e in e {
                diags.error(Loc::span(e.span()), e.to_string());
            }
            Err(diags)
        }
    }
}

/// Removes the `#[gpu_math = "..."]` attributes from `attrs`, and returns the mode the last one
/// names (reporting any that is malformed or repeated).
fn take_gpu_math(attrs: &mut Vec<syn::Attribute>, diags: &mut Diagnostics) -> Option<GpuMath> {
    let mut found = None;
    let mut kept = Vec::new();
    for attr in attrs.drain(..) {
        if !attr.path().is_ident("gpu_math") {
            kept.push(attr);
            continue;
        }
        let value = match &attr.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        };
        match value.as_deref().map(|v| (v, GpuMath::from_name(v))) {
            Some((_, Some(math))) if found.is_none() => found = Some(math),
            Some((_, Some(_))) => diags.error(Loc::of(&attr), "`gpu_math` is given twice"),
            Some((v, None)) => diags.error(Loc::of(&attr), format!("{GPU_MATH_CHOICES}, not {v:?}")),
            None => diags.error(Loc::of(&attr), format!("{GPU_MATH_CHOICES}: `#[gpu_math = \"fast\"]`")),
        }
    }
    *attrs = kept;
    found
}

/// What `gpu_math` takes, for messages.
pub(crate) const GPU_MATH_CHOICES: &str =
    "`gpu_math` is \"accurate\" (the default), \"fast\" or \"reproducible\"";

/// Gives `kernel` the mode `math` (if any), and records it in its text so that parsing the
/// text again gives the same kernel.
fn set_gpu_math(kernel: &mut KernelSource, math: Option<GpuMath>) {
    if let Some(math) = math {
        kernel.gpu_math = math;
        if math != GpuMath::default() {
            kernel.text = format!("#[gpu_math = \"{}\"] {}", math.name(), kernel.text);
        }
    }
}

/// Parses a kernel from source text, as `keops!` would (for tests and tools).
pub fn parse_kernel_str(text: &str) -> Result<KernelSource, Diagnostics> {
    let tokens: TokenStream = text.parse().map_err(|e: proc_macro2::LexError| {
        let mut d = Diagnostics::new();
        d.error(Loc::span(proc_macro2::Span::call_site()), format!("cannot tokenize the kernel: {e}"));
        d
    })?;
    match parse_macro_input(tokens)? {
        MacroInput::Expr(k) => Ok(*k),
        MacroInput::Items(mut items) if items.len() == 1 => Ok(items.remove(0).kernel),
        MacroInput::Items(_) => {
            let mut d = Diagnostics::new();
            d.error(Loc::span(proc_macro2::Span::call_site()), "expected exactly one kernel");
            Err(d)
        }
    }
}

fn parse_closure(input: ParseStream, diags: &mut Diagnostics) -> syn::Result<KernelSource> {
    let mut text = TokenStream::new();
    let begin = input.cursor();
    let mut params = Vec::new();
    if input.peek(Token![||]) {
        let bars: Token![||] = input.parse()?;
        diags.error(
            Loc::of(&bars),
            "a kernel needs at least one variable, e.g. `|x_i: [f32; 3], y_j: [f32; 3]|`",
        );
    } else {
        input.parse::<Token![|]>()?;
        while !input.peek(Token![|]) {
            let name: syn::Ident = input.parse()?;
            input.parse::<Token![:]>()?;
            let ty: syn::Type = input.parse()?;
            if let Some(p) = param(&name, &ty, diags) {
                if params.iter().any(|q: &Param| q.name == p.name) {
                    diags.error(p.loc, format!("variable `{}` is declared twice", p.name));
                }
                params.push(p);
            }
            if !input.peek(Token![,]) {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        input.parse::<Token![|]>()?;
    }
    let reduction = parse_reduction_head(input, diags)?;
    let body: syn::Expr = input.parse().map_err(|e| {
        if input.is_empty() || input.peek(Token![;]) {
            syn::Error::new(e.span(), "missing formula after the reduction")
        } else {
            e
        }
    })?;
    let (formula, formula2) = split_formulas(&body, reduction.as_ref(), diags);
    // The kernel's text: everything from the opening `|` to the end of the body.
    let mut cursor = begin;
    while cursor != input.cursor() {
        match cursor.token_tree() {
            Some((tt, next)) => {
                text.extend([tt]);
                cursor = next;
            }
            None => break,
        }
    }
    let reduction = reduction.unwrap_or(ReductionDecl {
        kind: ReductionKind::Sum,
        over: Role::J,
        k: None,
        scheme: SumScheme::Block,
        loc: Loc::of(&body),
    });
    Ok(KernelSource {
        syntax: Syntax::Math,
        params,
        reduction,
        formula,
        formula2,
        text: tidy(&text),
        sources: Vec::new(),
        gpu_math: GpuMath::default(),
    })
}

/// The `sum_j` / `kmin_j::<K>` word in front of the formula. `None` after reporting an error.
fn parse_reduction_head(input: ParseStream, diags: &mut Diagnostics) -> syn::Result<Option<ReductionDecl>> {
    const MISSING: &str = "missing reduction: the formula must start with a reduction over `i` or `j`, such as `sum_j exp(-sqdist(x_i, y_j))`";
    let fork = input.fork();
    let Ok(head) = fork.parse::<syn::Ident>() else {
        diags.error(Loc::span(input.span()), MISSING);
        return Ok(None);
    };
    let name = head.to_string();
    let Some((kind, over)) = reduction_of(&name) else {
        let starts_expression = fork.peek(syn::Ident)
            || fork.peek(syn::Lit)
            || fork.peek(syn::token::Paren)
            || fork.peek(syn::token::Bracket)
            || fork.peek(Token![-])
            || fork.peek(Token![::]);
        if !(name.ends_with("_i") || name.ends_with("_j")) || !starts_expression {
            // A function or variable in front: the reduction is missing altogether.
            diags.error(Loc::of(&head), format!("{MISSING} (found `{name}`)"));
            return Ok(None);
        }
        let candidates: Vec<String> = ReductionKind::ALL
            .iter()
            .flat_map(|r| [format!("{}_j", r.name()), format!("{}_i", r.name())])
            .collect();
        let hint = match did_you_mean(&name, candidates.iter().map(String::as_str)) {
            Some(s) => format!("; did you mean `{s}`?"),
            None => {
                let names: Vec<&str> = ReductionKind::ALL.iter().map(|r| r.name()).collect();
                format!(" (reductions are {}, followed by `_i` or `_j`)", names.join(", "))
            }
        };
        diags.error(Loc::of(&head), format!("unknown reduction `{name}`{hint}"));
        input.parse::<syn::Ident>()?;
        parse_generic(input)?;
        return Ok(None);
    };
    input.parse::<syn::Ident>()?;
    let mut loc = Loc::of(&head);
    let (mut k, mut scheme) = (None, SumScheme::Block);
    match parse_generic(input)? {
        Some((Generic::K(lit), close)) => {
            loc = loc.to(Loc::of(&close));
            match lit.base10_parse::<usize>() {
                Ok(v) if v >= 1 => k = Some(v),
                _ => diags.error(Loc::of(&lit), "K must be a positive integer"),
            }
            if !kind.takes_k() {
                diags.error(loc, format!("`{name}` takes no `::<K>`"));
            }
        }
        Some((Generic::Scheme(word), close)) => {
            loc = loc.to(Loc::of(&close));
            match word.to_string().as_str() {
                "kahan" if SumScheme::Kahan.applies_to(kind) => scheme = SumScheme::Kahan,
                "f64" if SumScheme::Double.applies_to(kind) => scheme = SumScheme::Double,
                "kahan" => diags.error(
                    loc,
                    format!("`{name}` has no compensated sum: `::<kahan>` applies to `sum_i` and `sum_j`"),
                ),
                "f64" => diags.error(
                    loc,
                    format!(
                        "`{name}` has no sum to accumulate in f64: `::<f64>` applies to `sum_i` and `sum_j`"
                    ),
                ),
                "block" => {}
                other => diags.error(
                    Loc::of(&word),
                    format!("unknown summation scheme `{other}` (expected `kahan`, `f64` or `block`)"),
                ),
            }
        }
        None => {}
    }
    if kind.takes_k() && k.is_none() {
        diags.error(loc, format!("`{name}` needs the number K: write `{name}::<K>`"));
        k = Some(1);
    }
    Ok(Some(ReductionDecl { kind, over, k, scheme, loc }))
}

/// What `::<...>` after a reduction holds: K, or a summation scheme (`sum_j::<kahan>`,
/// `sum_j::<f64>`).
enum Generic {
    K(syn::LitInt),
    Scheme(syn::Ident),
}

/// An optional `::<K>` or `::<scheme>`.
fn parse_generic(input: ParseStream) -> syn::Result<Option<(Generic, Token![>])>> {
    if !input.peek(Token![::]) {
        return Ok(None);
    }
    input.parse::<Token![::]>()?;
    input.parse::<Token![<]>()?;
    let generic =
        if input.peek(syn::Ident) { Generic::Scheme(input.parse()?) } else { Generic::K(input.parse()?) };
    let close: Token![>] = input.parse()?;
    Ok(Some((generic, close)))
}

/// `sum_j` -> (Sum, J).
fn reduction_of(word: &str) -> Option<(ReductionKind, Role)> {
    let (name, index) = word.rsplit_once('_')?;
    let over = match index {
        "i" => Role::I,
        "j" => Role::J,
        _ => return None,
    };
    Some((ReductionKind::from_name(name)?, over))
}

/// Splits `(F, G)` for the reductions that take two formulas.
fn split_formulas(
    body: &syn::Expr,
    reduction: Option<&ReductionDecl>,
    diags: &mut Diagnostics,
) -> (Expr, Option<Expr>) {
    let arity = reduction.map_or(Arity2::None, |r| r.kind.second_formula());
    let name = reduction.map_or_else(String::new, |r| {
        format!("{}_{}", r.kind.name(), if r.over == Role::I { "i" } else { "j" })
    });
    match (body, arity) {
        (syn::Expr::Tuple(t), Arity2::Optional | Arity2::Required) if t.elems.len() == 2 => {
            (convert(&t.elems[0], diags), Some(convert(&t.elems[1], diags)))
        }
        (_, Arity2::Required) => {
            diags.error(Loc::of(body), format!("`{name}` takes two formulas: write `{name}(F, V)`"));
            (Expr::Error, None)
        }
        (syn::Expr::Tuple(t), _) => {
            diags.error(Loc::of(t), format!("`{name}` takes one formula, not a tuple"));
            (Expr::Error, None)
        }
        _ => (convert(body, diags), None),
    }
}

/// A variable declared `[f32; _]`, whose dimension the data gives at run time.
fn param_at_run_time(name: &syn::Ident, name_str: String, role: Role, dtype: DType) -> Param {
    Param { name: name_str, loc: Loc::of(name), role, dim: 1, dtype, bare: false, runtime_dim: true }
}

/// Checks a declared variable: `name: f32`, `name: [f64; D]`, `name: [f32; _]`.
fn param(name: &syn::Ident, ty: &syn::Type, diags: &mut Diagnostics) -> Option<Param> {
    // A type passed by `macro_rules!` as `$t:ty` (an array type: several tokens), which the
    // kernel's text then shows in parentheses.
    match ty {
        syn::Type::Group(g) => return param(name, &g.elem, diags),
        syn::Type::Paren(p) => return param(name, &p.elem, diags),
        _ => {}
    }
    let name_str = name.to_string();
    let role = if name_str.ends_with("_i") {
        Role::I
    } else if name_str.ends_with("_j") {
        Role::J
    } else {
        Role::Param
    };
    let bad = |diags: &mut Diagnostics| {
        diags.error(
            Loc::of(ty),
            format!(
                "unsupported type `{}` for `{name_str}`: expected `f32`, `f64`, `[f32; D]` or `[f64; D]`",
                tidy(&ty.to_token_stream()).replace(" < ", "<").replace(" >", ">")
            ),
        );
        None
    };
    let scalar = |t: &syn::Type| match t {
        syn::Type::Path(p) if p.qself.is_none() && p.path.is_ident("f32") => Some(DType::F32),
        syn::Type::Path(p) if p.qself.is_none() && p.path.is_ident("f64") => Some(DType::F64),
        _ => None,
    };
    let (dtype, dim, bare, runtime_dim) = match ty {
        syn::Type::Array(a) => {
            let Some(dtype) = scalar(&a.elem) else {
                return bad(diags);
            };
            let dim = match &a.len {
                syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(n), .. }) => n.base10_parse::<usize>().ok(),
                syn::Expr::Infer(_) => return Some(param_at_run_time(name, name_str, role, dtype)),
                _ => None,
            };
            match dim {
                Some(d) if d >= 1 => (dtype, d, false, false),
                _ => {
                    diags.error(
                        Loc::of(&a.len),
                        "the dimension must be an integer literal of at least 1, or `_` for a dimension given at run time",
                    );
                    return None;
                }
            }
        }
        t => match scalar(t) {
            Some(dtype) => (dtype, 1, true, false),
            None => return bad(diags),
        },
    };
    Some(Param { name: name_str, loc: Loc::of(name), role, dim, dtype, bare, runtime_dim })
}

/// Converts a syn expression to the formula AST, reporting unsupported constructs.
fn convert(e: &syn::Expr, diags: &mut Diagnostics) -> Expr {
    let loc = Loc::of(e);
    match e {
        syn::Expr::Lit(lit) => match &lit.lit {
            syn::Lit::Int(n) => match n.base10_parse::<i64>() {
                Ok(v) => Expr::Num { value: v as f64, int: Some(v), loc },
                Err(_) => {
                    diags.error(loc, "integer literal out of range");
                    Expr::Error
                }
            },
            syn::Lit::Float(f) => match f.base10_parse::<f64>() {
                Ok(v) => Expr::Num { value: v, int: None, loc },
                Err(_) => {
                    diags.error(loc, "invalid number");
                    Expr::Error
                }
            },
            _ => unsupported(loc, "this literal", diags),
        },
        syn::Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
            Expr::Name { name: p.path.get_ident().map(ToString::to_string).unwrap_or_default(), loc }
        }
        syn::Expr::Paren(p) => convert(&p.expr, diags),
        syn::Expr::Group(g) => convert(&g.expr, diags),
        syn::Expr::Unary(u) => match u.op {
            syn::UnOp::Neg(_) => Expr::Neg { arg: Box::new(convert(&u.expr, diags)), loc },
            _ => unsupported(loc, &format!("operator `{}`", u.op.to_token_stream()), diags),
        },
        syn::Expr::Binary(b) => {
            let op = match &b.op {
                syn::BinOp::Add(_) => BinOp::Add,
                syn::BinOp::Sub(_) => BinOp::Sub,
                syn::BinOp::Mul(_) => BinOp::Mul,
                syn::BinOp::Div(_) => BinOp::Div,
                syn::BinOp::Lt(_) => BinOp::Lt,
                syn::BinOp::Le(_) => BinOp::Le,
                syn::BinOp::Gt(_) => BinOp::Gt,
                syn::BinOp::Ge(_) => BinOp::Ge,
                syn::BinOp::Eq(_) => BinOp::Eq,
                syn::BinOp::Ne(_) => BinOp::Ne,
                other => {
                    convert(&b.left, diags);
                    convert(&b.right, diags);
                    return unsupported(
                        Loc::of(other),
                        &format!("operator `{}`", other.to_token_stream()),
                        diags,
                    );
                }
            };
            Expr::Binary {
                op,
                lhs: Box::new(convert(&b.left, diags)),
                rhs: Box::new(convert(&b.right, diags)),
                loc,
            }
        }
        syn::Expr::Call(c) => {
            let args = c.args.iter().map(|a| convert(a, diags)).collect();
            match &*c.func {
                syn::Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => Expr::Call {
                    name: p
                        .path
                        .get_ident()
                        .map(|i| syn::ext::IdentExt::unraw(i).to_string())
                        .unwrap_or_default(),
                    name_loc: Loc::of(&c.func),
                    args,
                    loc,
                },
                f => unsupported(Loc::of(f), "this callee (call operations by name, e.g. `exp(x_i)`)", diags),
            }
        }
        syn::Expr::Index(ix) => {
            let base = Box::new(convert(&ix.expr, diags));
            match &*ix.index {
                syn::Expr::Range(r) => {
                    let bound = |b: &Option<Box<syn::Expr>>, diags: &mut Diagnostics| match b {
                        None => Some(None),
                        Some(e) => match int_literal(e) {
                            Some(v) => Some(Some(v)),
                            None => {
                                diags.error(Loc::of(e), "slice bounds must be integer literals");
                                None
                            }
                        },
                    };
                    let start = bound(&r.start, diags);
                    let end = bound(&r.end, diags);
                    let (Some(start), Some(end)) = (start, end) else {
                        return Expr::Error;
                    };
                    let end = match r.limits {
                        syn::RangeLimits::HalfOpen(_) => end,
                        syn::RangeLimits::Closed(_) => end.map(|e| e + 1),
                    };
                    Expr::Slice { base, start: start.unwrap_or(0), end, loc }
                }
                index => match int_literal(index) {
                    Some(i) => Expr::Index { base, index: i, loc },
                    None => {
                        diags.error(
                            Loc::of(index),
                            "an index must be an integer literal (or a range `a..b` of them)",
                        );
                        Expr::Error
                    }
                },
            }
        }
        syn::Expr::Array(a) => {
            let items: Vec<Expr> = a.elems.iter().map(|x| convert(x, diags)).collect();
            if items.is_empty() {
                diags.error(loc, "an empty concatenation `[]` has no dimension");
                return Expr::Error;
            }
            Expr::Concat { items, loc }
        }
        syn::Expr::MethodCall(m) => unsupported(
            loc,
            &format!("method-call syntax (write `{}(...)` instead of `.{}()`)", m.method, m.method),
            diags,
        ),
        syn::Expr::Tuple(t) => {
            Expr::Tuple { items: t.elems.iter().map(|x| convert(x, diags)).collect(), loc }
        }
        other => unsupported(Loc::span(other.span()), "this expression", diags),
    }
}

fn int_literal(e: &syn::Expr) -> Option<i64> {
    match e {
        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(n), .. }) => n.base10_parse().ok(),
        syn::Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => int_literal(&u.expr).map(|v| -v),
        syn::Expr::Paren(p) => int_literal(&p.expr),
        syn::Expr::Group(g) => int_literal(&g.expr),
        _ => None,
    }
}

fn unsupported(loc: Loc, what: &str, diags: &mut Diagnostics) -> Expr {
    diags.error(loc, format!("{what} is not supported in formulas"));
    Expr::Error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(text: &str) -> Vec<String> {
        match parse_kernel_str(text) {
            Ok(_) => vec![],
            Err(d) => d.errors().iter().map(|e| e.message.clone()).collect(),
        }
    }

    #[test]
    fn gpu_math_attributes() {
        const GAUSS: &str = "|x_i: [f32; 3], y_j: [f32; 3]| sum_j exp(-sqdist(x_i, y_j))";
        assert_eq!(parse_kernel_str(GAUSS).unwrap().gpu_math, GpuMath::Accurate);
        for math in GpuMath::ALL {
            let text = format!("#[gpu_math = \"{}\"] {GAUSS}", math.name());
            let k = parse_kernel_str(&text).unwrap();
            assert_eq!(k.gpu_math, math, "{text}");
            // The recorded text parses to the same mode.
            assert_eq!(parse_kernel_str(&k.text).unwrap().gpu_math, math, "{}", k.text);
            let item = format!("/// Docs.\n#[gpu_math = \"{}\"] pub struct Gauss = {GAUSS};", math.name());
            match parse_macro_input(item.parse().unwrap()) {
                Ok(MacroInput::Items(items)) => {
                    assert_eq!(items[0].kernel.gpu_math, math);
                    // The documentation stays on the item; the mode does not.
                    assert_eq!(items[0].attrs.len(), 1);
                }
                _ => panic!("{item} does not parse"),
            }
        }
        let wrong = |attr: &str| messages(&format!("{attr} {GAUSS}"));
        assert!(wrong("#[gpu_math = \"fastest\"]")[0].contains("\"accurate\" (the default)"));
        assert!(wrong("#[gpu_math(fast)]")[0].contains("`#[gpu_math = \"fast\"]`"));
        assert!(wrong("#[gpu_math = \"fast\"] #[gpu_math = \"fast\"]")[0].contains("given twice"));
        assert!(wrong("#[inline]")[0].contains("takes only `#[gpu_math"));
    }

    #[test]
    fn card_formula() {
        let k = parse_kernel_str(
            "|x_i: [f32; 3], y_j: [f32; 3], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j",
        )
        .unwrap();
        assert_eq!(k.params.len(), 3);
        assert_eq!(k.params[0].role, Role::I);
        assert_eq!(k.params[1].role, Role::J);
        assert_eq!(k.reduction.kind, ReductionKind::Sum);
        assert_eq!(k.reduction.over, Role::J);
        // Precedence is Rust's: the product is the top node.
        assert!(matches!(k.formula, Expr::Binary { op: BinOp::Mul, .. }));
    }

    #[test]
    fn parameters_k_and_two_formulas() {
        let k =
            parse_kernel_str("|x_i: [f64; 2], y_j: [f64; 2], g: f64| argkmin_i::<5> g * sqdist(x_i, y_j)")
                .unwrap();
        assert_eq!(k.params[2].role, Role::Param);
        assert_eq!(k.params[2].dim, 1);
        assert_eq!(k.reduction.k, Some(5));
        assert_eq!(k.reduction.over, Role::I);
        let k = parse_kernel_str(
            "|x_i: [f32; 2], y_j: [f32; 2], v_j: [f32; 4]| sumsoftmaxweight_j(-sqdist(x_i, y_j), v_j)",
        )
        .unwrap();
        assert!(k.formula2.is_some());
    }

    #[test]
    fn indexing_slicing_concatenation() {
        let k = parse_kernel_str("|x_i: [f32; 4]| sum_j [x_i[0], x_i[1..3], x_i[2..]]").unwrap();
        let Expr::Concat { items, .. } = &k.formula else { panic!("{:?}", k.formula) };
        assert!(matches!(items[0], Expr::Index { index: 0, .. }));
        assert!(matches!(items[1], Expr::Slice { start: 1, end: Some(3), .. }));
        assert!(matches!(items[2], Expr::Slice { start: 2, end: None, .. }));
    }

    #[test]
    fn keyword_operations_can_be_called() {
        // `mod` is a Rust keyword; `mod(...)` is still the operation, at any depth.
        let k =
            parse_kernel_str("|x_i: f32, y_j: f32| sum_j(exp(mod(x_i - y_j, 1.0, -0.5)) * [mod(x_i, 2, 0)])")
                .unwrap();
        let text = format!("{:?}", k.formula);
        assert_eq!(text.matches("\"mod\"").count(), 2, "{text}");
    }

    #[test]
    fn errors_are_collected() {
        let m = messages("|x_i: [f32; 3], y_j: Vec<f32>, z_j: [f32; 0]| sum_j x_i % y_j");
        assert_eq!(m.len(), 3, "{m:?}");
        assert!(
            m[0].contains("unsupported type `Vec < f32 >`") || m[0].contains("unsupported type"),
            "{m:?}"
        );
        assert!(m[1].contains("at least 1"), "{m:?}");
        assert!(m[2].contains("operator `%`"), "{m:?}");
    }

    #[test]
    fn reduction_errors() {
        let m = messages("|x_i: [f32; 3]| exp(x_i)");
        assert!(m[0].starts_with("missing reduction"), "{m:?}");
        let m = messages("|x_i: [f32; 3]| summ_j exp(x_i)");
        assert_eq!(m, vec!["unknown reduction `summ_j`; did you mean `sum_j`?".to_string()]);
        let m = messages("|x_i: [f32; 3]| kmin_j x_i");
        assert!(m[0].contains("kmin_j::<K>"), "{m:?}");
        let m = messages("|x_i: [f32; 3]| sum_j");
        assert!(m[0].contains("missing formula"), "{m:?}");
    }
}
