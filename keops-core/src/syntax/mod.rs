//! Parsers: the math syntax of `keops!` and the KeOps formula strings of `genred!`. Both
//! produce the same [`crate::ast::KernelSource`].

pub mod keops;
pub mod math;

#[cfg(test)]
mod robustness;

use proc_macro2::TokenStream;

use crate::ast::KernelSource;
use crate::diag::{Diagnostics, Loc};

/// `tokens` with each invisible group (`Delimiter::None`) of a single token replaced by that
/// token. `macro_rules!` passes a `$d:literal`, `$t:ty` or `$e:expr` fragment wrapped in such a
/// group, where a literal, a type or an identifier was expected; a group of several tokens
/// (an expression) stays, since it keeps the expression's precedence, and the parsers accept
/// it there.
pub(crate) fn unwrap_fragments(tokens: TokenStream) -> TokenStream {
    use proc_macro2::{Delimiter, Group, TokenTree};
    tokens
        .into_iter()
        .map(|token| match token {
            TokenTree::Group(g) => {
                let inner = unwrap_fragments(g.stream());
                let mut single = inner.clone().into_iter();
                match (g.delimiter(), single.next(), single.next()) {
                    (Delimiter::None, Some(only), None) => only,
                    (delimiter, ..) => {
                        let mut group = Group::new(delimiter, inner);
                        group.set_span(g.span());
                        group.into()
                    }
                }
            }
            other => other,
        })
        .collect()
}

/// Parses a kernel from the text its macro recorded (`KernelInfo::formula`): `genred!`
/// arguments (they start with the formula string) or a `keops!` kernel.
pub fn parse_kernel_text(text: &str) -> Result<KernelSource, Diagnostics> {
    if text.trim_start().starts_with('"') {
        keops::parse_genred_str(text)
    } else {
        math::parse_kernel_str(text)
    }
}

/// The bound on [`deeper_than`]'s measure that syn gets to parse. Every level of the syntax
/// tree takes at least one token, so this bounds syn's recursion (and the conversion to the
/// AST, whose depth the checker then limits to [`crate::ast::MAX_DEPTH`]), while leaving room
/// for long flat sums.
pub(crate) const MAX_TOKEN_DEPTH: usize = 8 * crate::ast::MAX_DEPTH;

/// Whether some token lies deeper than `limit` in `tokens`, measured as the number of tokens
/// that precede it in its comma- or semicolon-separated segment, plus one per enclosing group
/// and the tokens preceding that group in its own segment, and so on outwards. This bounds the
/// depth of any syntax tree parsed from the tokens. Iterative, so safe on any input; returns the
/// span of the first token too deep.
pub(crate) fn deeper_than(tokens: &TokenStream, limit: usize) -> Option<proc_macro2::Span> {
    use proc_macro2::TokenTree;
    // Per open group: its remaining tokens, the measure at its start, tokens so far in the
    // current segment.
    let mut stack = vec![(tokens.clone().into_iter(), 0usize, 0usize)];
    while let Some((iter, base, count)) = stack.last_mut() {
        let Some(tt) = iter.next() else {
            stack.pop();
            continue;
        };
        *count += 1;
        let depth = *base + *count;
        if depth > limit {
            return Some(tt.span());
        }
        match tt {
            TokenTree::Punct(p) if matches!(p.as_char(), ',' | ';') => *count = 0,
            TokenTree::Group(g) => stack.push((g.stream().into_iter(), depth, 0)),
            _ => {}
        }
    }
    None
}

/// Refuses macro input whose tokens are nested deeper than [`MAX_TOKEN_DEPTH`], before anything
/// recursive (syn's parser, the rendering of the kernel text) runs on it.
pub(crate) fn shallow_enough(tokens: &TokenStream) -> Result<(), Diagnostics> {
    let Some(span) = deeper_than(tokens, MAX_TOKEN_DEPTH) else { return Ok(()) };
    let mut diags = Diagnostics::new();
    diags.error(
        Loc::span(span),
        format!(
            "this formula is nested too deeply: more than {MAX_TOKEN_DEPTH} tokens deep (the limit is {} levels of operations)",
            crate::ast::MAX_DEPTH
        ),
    );
    Err(diags)
}
