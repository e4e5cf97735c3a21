//! KeOps formula strings: a tokenizer and a recursive descent with Python's precedence, and the
//! alias declarations (`x = Vi(3)`, ...), every error at a character range of its string.

use proc_macro2::Span;

use crate::ast::{BinOp, Expr};
use crate::diag::{Loc, did_you_mean};
use crate::ir::Role;

use super::{Decl, var_decl};

/// Where the strings being parsed sit: the literal's span and its source index.
pub(super) struct Strings {
    pub(super) span: Span,
    pub(super) source: usize,
}

impl Strings {
    pub(super) fn loc(&self, start: usize, end: usize) -> Loc {
        Loc::in_source(self.span, self.source, start, end)
    }
}

/// A syntax error at a character range.
#[derive(Debug)]
pub(super) struct SyntaxError {
    pub(super) message: String,
    pub(super) start: usize,
    pub(super) end: usize,
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

pub(super) fn parse_formula(text: &str, strings: &Strings) -> Result<Expr, SyntaxError> {
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
pub(super) fn parse_alias(text: &str, strings: &Strings, index: usize) -> Result<Decl, SyntaxError> {
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
