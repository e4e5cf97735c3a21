//! Diagnostics: errors that carry a source location and are collected, not thrown, so that one
//! `cargo build` reports every mistake in a formula.

use proc_macro2::{Span, TokenStream};

/// Where an error points: a span of tokens, and for formulas given as string literals the
/// character range inside the string (a span cannot point inside a literal on stable Rust).
#[derive(Clone, Copy, Debug)]
pub struct Loc {
    pub start: Span,
    pub end: Span,
    /// Character range in the literal's text, for string formulas.
    pub range: Option<(usize, usize)>,
}

impl Loc {
    pub fn span(span: Span) -> Loc {
        Loc {
            start: span,
            end: span,
            range: None,
        }
    }

    pub fn spans(start: Span, end: Span) -> Loc {
        Loc {
            start,
            end,
            range: None,
        }
    }

    /// From the first to the last token of `tokens`.
    pub fn of(tokens: &impl quote::ToTokens) -> Loc {
        let mut iter = tokens.to_token_stream().into_iter();
        let first = iter
            .next()
            .map(|t| t.span())
            .unwrap_or_else(Span::call_site);
        let last = iter.last().map(|t| t.span()).unwrap_or(first);
        Loc::spans(first, last)
    }

    /// A range inside a string literal spanned by `span`.
    pub fn in_literal(span: Span, start: usize, end: usize) -> Loc {
        Loc {
            start: span,
            end: span,
            range: Some((start, end)),
        }
    }

    /// The smallest location covering both.
    pub fn to(self, other: Loc) -> Loc {
        let range = match (self.range, other.range) {
            (Some((a, _)), Some((_, b))) => Some((a, b)),
            (r, _) => r,
        };
        Loc {
            start: self.start,
            end: other.end,
            range,
        }
    }
}

/// One error.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub loc: Loc,
    pub message: String,
}

/// The errors found so far, with the source text of string formulas for quoting.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    errors: Vec<Diagnostic>,
    source: Option<String>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    /// For a string formula: errors with a character range quote this text.
    pub fn with_source(source: impl Into<String>) -> Self {
        Diagnostics {
            errors: Vec::new(),
            source: Some(source.into()),
        }
    }

    pub fn error(&mut self, loc: Loc, message: impl Into<String>) {
        self.errors.push(Diagnostic {
            loc,
            message: message.into(),
        });
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
            self.errors.push(Diagnostic {
                loc: Loc {
                    range: None,
                    ..d.loc
                },
                message,
            });
        }
    }

    /// The message as shown to the user: for string formulas, with the position and a caret
    /// line under the offending part.
    pub fn render(&self, d: &Diagnostic) -> String {
        match (&self.source, d.loc.range) {
            (Some(src), Some((start, end))) => {
                let chars: Vec<char> = src.chars().collect();
                let end = end.clamp(start + 1, chars.len().max(start + 1));
                let part: String = chars[start.min(chars.len())..end.min(chars.len())]
                    .iter()
                    .collect();
                let carets = "^".repeat((end - start).max(1));
                format!(
                    "{msg}\n  at `{part}` (column {col}) in:\n    {src}\n    {pad}{carets}",
                    msg = d.message,
                    col = start + 1,
                    pad = " ".repeat(start),
                )
            }
            _ => d.message.clone(),
        }
    }

    /// `Ok(value)` if no error was recorded.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// All errors as `compile_error!` invocations at their spans.
    pub fn to_compile_errors(&self) -> TokenStream {
        let mut out = TokenStream::new();
        for d in &self.errors {
            let start = proc_macro2::Ident::new("start", d.loc.start);
            let end = proc_macro2::Ident::new("end", d.loc.end);
            let range = quote::quote!(#start #end);
            out.extend(syn::Error::new_spanned(range, self.render(d)).to_compile_error());
        }
        out
    }
}

/// The candidate closest to `name` by edit distance, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
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
    for j in 0..=b.len() {
        d[0][j] = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
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
    fn string_errors_quote_the_part() {
        let mut d = Diagnostics::with_source("Exp(-SqDis(x,y))");
        d.error(
            Loc::in_literal(Span::call_site(), 5, 10),
            "unknown operation `SqDis`",
        );
        let text = d.render(&d.errors()[0]);
        assert!(text.contains("`SqDis` (column 6)"), "{text}");
        assert!(text.ends_with("     ^^^^^"), "{text}");
    }
}
