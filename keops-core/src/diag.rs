//! Diagnostics: errors that carry a source location and are collected, not thrown, so that one
//! `cargo build` reports every mistake in a formula.

use proc_macro2::{Span, TokenStream};

/// Where an error points: a span of tokens, and for formulas given as string literals the
/// character range inside the string (a span cannot point inside a literal on stable Rust).
#[derive(Clone, Copy, Debug)]
pub struct Loc {
    pub start: Span,
    pub end: Span,
    /// Character range in a literal's text, for string formulas.
    pub range: Option<TextRange>,
}

/// A character range `start..end` in one of the texts a [`Diagnostics`] quotes from (`source`
/// is its index: a macro call can hold several string formulas).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextRange {
    pub source: usize,
    pub start: usize,
    pub end: usize,
}

impl Loc {
    pub fn span(span: Span) -> Loc {
        Loc { start: span, end: span, range: None }
    }

    pub fn spans(start: Span, end: Span) -> Loc {
        Loc { start, end, range: None }
    }

    /// From the first to the last token of `tokens`.
    pub fn of(tokens: &impl quote::ToTokens) -> Loc {
        let mut iter = tokens.to_token_stream().into_iter();
        let first = iter.next().map(|t| t.span()).unwrap_or_else(Span::call_site);
        let last = iter.last().map(|t| t.span()).unwrap_or(first);
        Loc::spans(first, last)
    }

    /// A range inside a string literal spanned by `span` (the first source of the diagnostics).
    pub fn in_literal(span: Span, start: usize, end: usize) -> Loc {
        Loc::in_source(span, 0, start, end)
    }

    /// A range inside the string literal spanned by `span`, whose text is source `source`.
    pub fn in_source(span: Span, source: usize, start: usize, end: usize) -> Loc {
        Loc { start: span, end: span, range: Some(TextRange { source, start, end }) }
    }

    /// The smallest location covering both.
    pub fn to(self, other: Loc) -> Loc {
        let range = match (self.range, other.range) {
            (Some(a), Some(b)) if a.source == b.source => Some(TextRange { end: b.end, ..a }),
            (r, _) => r,
        };
        Loc { start: self.start, end: other.end, range }
    }
}

/// One error.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub loc: Loc,
    pub message: String,
}

/// The errors found so far, with the source texts of string formulas for quoting.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    errors: Vec<Diagnostic>,
    sources: Vec<String>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    /// For a string formula: errors with a character range quote this text.
    pub fn with_source(source: impl Into<String>) -> Self {
        Diagnostics::with_sources(vec![source.into()])
    }

    /// For several string formulas: an error's [`TextRange`] says which one it quotes.
    pub fn with_sources(sources: Vec<String>) -> Self {
        Diagnostics { errors: Vec::new(), sources }
    }

    pub fn error(&mut self, loc: Loc, message: impl Into<String>) {
        self.errors.push(Diagnostic { loc, message: message.into() });
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn len(&self) -> usize {
        self.errors.len()
    }

    pub fn errors(&self) -> &[Diagnostic] {
        &self.errors
    }

    /// Moves all errors of `other` (with their own source quoting) into `self`.
    pub fn extend(&mut self, other: Diagnostics) {
        for d in other.errors.iter() {
            let message = other.render(d);
            self.errors.push(Diagnostic { loc: Loc { range: None, ..d.loc }, message });
        }
    }

    /// The message as shown to the user: for string formulas, with the position and a caret
    /// line under the offending part.
    pub fn render(&self, d: &Diagnostic) -> String {
        match d.loc.range.and_then(|r| Some((self.sources.get(r.source)?, r.start, r.end))) {
            Some((src, start, end)) => {
                let chars: Vec<char> = src.chars().collect();
                let end = end.clamp(start + 1, chars.len().max(start + 1));
                let part: String = chars[start.min(chars.len())..end.min(chars.len())].iter().collect();
                let carets = "^".repeat((end - start).max(1));
                let at = if part.is_empty() { "at the end".to_string() } else { format!("at `{part}`") };
                format!(
                    "{msg}\n  {at} (column {col}) in:\n    {src}\n    {pad}{carets}",
                    msg = d.message,
                    col = start + 1,
                    pad = " ".repeat(start),
                )
            }
            None => d.message.clone(),
        }
    }

    /// `Ok(value)` if no error was recorded.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.is_empty() { Ok(value) } else { Err(self) }
    }

    /// All errors as `compile_error!` invocations at their spans.
    pub fn to_compile_errors(&self) -> TokenStream {
        self.compile_errors().collect()
    }

    /// All errors in expression position: a block whose value is the last `compile_error!`.
    /// rustc gives that value its error type, so the caller's uses of the kernel report nothing
    /// more: no unknown method, no unreachable statement after it.
    pub fn to_compile_error_expr(&self) -> TokenStream {
        let mut errors: Vec<TokenStream> = self.compile_errors().collect();
        let last = errors.pop().unwrap_or_else(|| quote::quote!(::core::compile_error!("invalid kernel")));
        quote::quote!({ #(#errors)* (#last) })
    }

    fn compile_errors(&self) -> impl Iterator<Item = TokenStream> + '_ {
        self.errors.iter().map(|d| {
            let start = proc_macro2::Ident::new("start", d.loc.start);
            let end = proc_macro2::Ident::new("end", d.loc.end);
            let range = quote::quote!(#start #end);
            syn::Error::new_spanned(range, self.render(d)).to_compile_error()
        })
    }
}

/// The candidate closest to `name` by edit distance, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|&(d, c)| d <= (c.chars().count().max(name.chars().count()) / 3).max(1))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, with an adjacent transposition counted as one edit.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// Renders tokens as a person would write them: `exp(-sqdist(x_i, y_j))` rather than
/// proc-macro2's `exp (- sqdist (x_i , y_j))`. Used for messages and the recorded kernel text.
pub fn tidy(tokens: &TokenStream) -> String {
    let mut out = String::new();
    let mut state = Tidy { prev: Prev::Start, pipes: 0 };
    state.render(tokens.clone(), &mut out);
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Prev {
    /// Nothing yet, or an opening delimiter: no space before the next token.
    Start,
    /// A name or literal (`true` if it is a function-like name, glued to a following group).
    Word { callable: bool },
    /// A closing delimiter.
    Close,
    /// Punctuation after which the next token is glued (`::`, unary `-`, `.`, `!`, opening `|`).
    Glue,
    /// Any other punctuation: a binary operator or separator, followed by a space.
    Punct,
}

struct Tidy {
    prev: Prev,
    pipes: usize,
}

impl Tidy {
    fn render(&mut self, tokens: TokenStream, out: &mut String) {
        use proc_macro2::{Delimiter, Spacing, TokenTree};
        let mut iter = tokens.into_iter().peekable();
        while let Some(tt) = iter.next() {
            match tt {
                TokenTree::Group(g) => {
                    let (open, close) = match g.delimiter() {
                        Delimiter::Parenthesis => ("(", ")"),
                        Delimiter::Bracket => ("[", "]"),
                        Delimiter::Brace => ("{", "}"),
                        // An expression passed by `macro_rules!` (see `unwrap_fragments`): its
                        // precedence kept in the text, which is parsed again.
                        Delimiter::None => ("(", ")"),
                    };
                    let glued = matches!(self.prev, Prev::Start | Prev::Glue | Prev::Word { callable: true })
                        || (self.prev == Prev::Close && g.delimiter() == Delimiter::Bracket);
                    if !glued {
                        out.push(' ');
                    }
                    out.push_str(open);
                    self.prev = Prev::Start;
                    self.render(g.stream(), out);
                    out.push_str(close);
                    self.prev = Prev::Close;
                }
                TokenTree::Ident(i) => {
                    let name = i.to_string();
                    self.space(out);
                    out.push_str(&name);
                    let reduction = name.rsplit_once('_').is_some_and(|(r, idx)| {
                        matches!(idx, "i" | "j") && crate::reduction::ReductionKind::from_name(r).is_some()
                    });
                    self.prev = Prev::Word { callable: !reduction };
                }
                TokenTree::Literal(l) => {
                    self.space(out);
                    out.push_str(&l.to_string());
                    self.prev = Prev::Word { callable: false };
                }
                TokenTree::Punct(p) => {
                    let c = p.as_char();
                    let joint = p.spacing() == Spacing::Joint;
                    let separator = matches!(c, ',' | ';' | ':' | '.');
                    let unary = c == '-' && matches!(self.prev, Prev::Start | Prev::Punct | Prev::Glue);
                    let after_turbofish = matches!(c, '<' | '>') && self.prev == Prev::Glue;
                    let closing_pipe = c == '|' && self.pipes % 2 == 1;
                    if !(separator || closing_pipe || after_turbofish || c == '>' && self.turbofish_open(out))
                    {
                        self.space(out);
                    }
                    out.push(c);
                    if c == '|' {
                        self.pipes += 1;
                    }
                    self.prev = if joint
                        || unary
                        || matches!(c, '.' | '!')
                        || (c == '|' && !closing_pipe)
                        || c == '<' && out.ends_with("::<")
                    {
                        Prev::Glue
                    } else {
                        Prev::Punct
                    };
                    // `::` is two joint colons: glue both sides.
                    if joint
                        && c == ':'
                        && let Some(TokenTree::Punct(second)) = iter.peek()
                        && second.as_char() == ':'
                    {
                        out.pop();
                        while out.ends_with(' ') {
                            out.pop();
                        }
                        out.push_str("::");
                        iter.next();
                        self.prev = Prev::Glue;
                    }
                }
            }
        }
    }

    fn space(&self, out: &mut String) {
        if !matches!(self.prev, Prev::Start | Prev::Glue) {
            out.push(' ');
        }
    }

    /// Whether the last `<` printed opened a turbofish that is still open.
    fn turbofish_open(&self, out: &str) -> bool {
        match (out.rfind("::<"), out.rfind('>')) {
            (Some(a), Some(b)) => a > b,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let names = ["exp", "log", "sqrt", "sqdist", "sqnorm2"];
        assert_eq!(did_you_mean("exq", names), Some("exp"));
        assert_eq!(did_you_mean("sqdsit", names), Some("sqdist"));
        assert_eq!(did_you_mean("Exp", names), Some("exp"));
        assert_eq!(did_you_mean("banana", names), None);
    }

    #[test]
    fn tidy_tokens() {
        let t = |s: &str| tidy(&s.parse::<TokenStream>().unwrap());
        assert_eq!(
            t("|x_i: [f32; 3], y_j: [f32; 3]| sum_j exp(-sqdist(x_i, y_j)) * b_j"),
            "|x_i: [f32; 3], y_j: [f32; 3]| sum_j exp(-sqdist(x_i, y_j)) * b_j"
        );
        assert_eq!(t("|x_i: f32| kmin_j::<5> x_i - -x_i[0..2]"), "|x_i: f32| kmin_j::<5> x_i - -x_i[0..2]");
        assert_eq!(t("sum_j (x_i - y_j)[0]"), "sum_j (x_i - y_j)[0]");
        assert_eq!(t("Vec<f32>"), "Vec < f32 >");
    }

    #[test]
    fn string_errors_quote_the_part() {
        let mut d = Diagnostics::with_source("Exp(-SqDis(x,y))");
        d.error(Loc::in_literal(Span::call_site(), 5, 10), "unknown operation `SqDis`");
        let text = d.render(&d.errors()[0]);
        assert!(text.contains("`SqDis` (column 6)"), "{text}");
        assert!(text.ends_with("     ^^^^^"), "{text}");
    }
}
