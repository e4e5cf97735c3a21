//! Hostile inputs for both parsers: whatever the text, parsing, checking and code generation
//! return `Ok` or diagnostics, never a panic, a stack overflow or a hang.

use std::str::FromStr;

use proc_macro2::TokenStream;

use crate::check::check;
use crate::codegen::rust::{TypeDecl, kernel_type};
use crate::syntax::keops::parse_genred_str;
use crate::syntax::math::{MacroInput, parse_macro_input};

/// Runs the whole `keops!` pipeline on `text`; `Err` with the messages if it fails (it must not
/// panic).
fn keops_pipeline(text: &str) -> Result<(), Vec<String>> {
    let Ok(tokens) = TokenStream::from_str(text) else { return Err(vec!["does not lex".into()]) };
    let render = |d: crate::diag::Diagnostics| d.errors().iter().map(|e| d.render(e)).collect::<Vec<_>>();
    match parse_macro_input(tokens).map_err(render)? {
        MacroInput::Expr(src) => {
            let kernel = check(&src).map_err(render)?;
            let decl = TypeDecl {
                attrs: vec![],
                vis: syn::Visibility::Inherited,
                name: quote::format_ident!("K"),
                backward: true,
            };
            kernel_type(&kernel, &decl);
        }
        MacroInput::Items(items) => {
            for item in items {
                check(&item.kernel).map_err(render)?;
            }
        }
    }
    Ok(())
}

fn genred_pipeline(text: &str) -> Result<(), Vec<String>> {
    let render = |d: crate::diag::Diagnostics| d.errors().iter().map(|e| d.render(e)).collect::<Vec<_>>();
    let src = parse_genred_str(text).map_err(render)?;
    check(&src).map_err(render)?;
    Ok(())
}

/// Runs `f` on a thread with the stack rustc runs proc macros on (8 MiB), so that a recursion
/// the limits do not bound fails here (the process aborts) rather than in a user's build.
fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new().stack_size(8 << 20).spawn(f).unwrap().join().unwrap()
}

fn nested(depth: usize, open: &str, inner: &str, close: &str) -> String {
    let mut s = String::with_capacity(depth * (open.len() + close.len()) + inner.len());
    for _ in 0..depth {
        s.push_str(open);
    }
    s.push_str(inner);
    for _ in 0..depth {
        s.push_str(close);
    }
    s
}

#[test]
fn deeply_nested_math_formulas_are_errors_not_overflows() {
    for (open, close) in [("exp(", ")"), ("(", ")"), ("-", ""), ("[", "]")] {
        let body = nested(10_000, open, "x_i", close);
        let text = format!("|x_i: [f32; 1], y_j: [f32; 1]| sum_j {body}");
        let result = on_small_stack(move || keops_pipeline(&text));
        let errors = result.expect_err("a 10000-deep formula is refused");
        assert!(errors.iter().any(|e| e.contains("nest")), "{open}: {errors:?}");
    }
}

#[test]
fn deeply_nested_keops_formulas_are_errors_not_overflows() {
    for (open, close) in [("Exp(", ")"), ("(", ")"), ("-", ""), ("Sum(", ")")] {
        let body = nested(10_000, open, "x", close);
        let text = format!("\"{body}\", [\"x = Vi(1)\"]");
        let result = on_small_stack(move || genred_pipeline(&text));
        let errors = result.expect_err("a 10000-deep formula is refused");
        assert!(errors.iter().any(|e| e.contains("nest")), "{open}: {errors:?}");
    }
}

#[test]
fn long_operator_chains_are_errors_not_overflows() {
    let text = format!("|x_i: [f32; 1], y_j: [f32; 1]| sum_j x_i{}", " + y_j".repeat(10_000));
    let errors = on_small_stack(move || keops_pipeline(&text)).unwrap_err();
    assert!(errors.iter().any(|e| e.contains("nested too deeply")), "{errors:?}");
    // The string parser builds chains without recursing: it must bound them too (dropping a
    // 100000-deep tree overflows).
    for op in [" + ", " * ", " | ", " ** "] {
        let text = format!("\"x{}\", [\"x = Vi(1)\"]", format!("{op}x").repeat(100_000));
        let errors = on_small_stack(move || genred_pipeline(&text)).unwrap_err();
        assert!(errors.iter().any(|e| e.contains("nested too deeply")), "{op}: {errors:?}");
    }
    // 300 terms: more than the limit of 256 levels.
    let text = format!("|x_i: [f32; 1], y_j: [f32; 1]| sum_j x_i{}", " * y_j".repeat(300));
    let errors = keops_pipeline(&text).unwrap_err();
    assert!(errors[0].starts_with("this formula is nested too deeply: more than 256 levels"), "{errors:?}");
}

#[test]
fn deeply_nested_macro_tokens_are_errors_not_overflows() {
    // Groups around the genred arguments and inside the alias list are refused before
    // anything recursive renders them.
    for body in [nested(100_000, "[", "", "]"), nested(100_000, "(", "\"x\"", ")")] {
        let text = format!("\"x\", {body}");
        let errors = on_small_stack(move || genred_pipeline(&text)).unwrap_err();
        assert!(errors.iter().any(|e| e.contains("nested too deeply")), "{errors:?}");
    }
    let text = format!("|x_i: [f32; 1]| sum_j x_i {}", nested(100_000, "{", "", "}"));
    let errors = on_small_stack(move || keops_pipeline(&text)).unwrap_err();
    assert!(errors.iter().any(|e| e.contains("nested too deeply")), "{errors:?}");
}

#[test]
fn moderately_nested_formulas_still_work() {
    // Up to the limit, on the stack a proc macro gets.
    let body = nested(250, "exp(", "x_i - y_j", ")");
    let text = format!("|x_i: [f32; 1], y_j: [f32; 1]| sum_j {body}");
    on_small_stack(move || keops_pipeline(&text)).unwrap();
    let text = format!("|x_i: [f32; 1], y_j: [f32; 1]| sum_j x_i{}", " + y_j".repeat(250));
    on_small_stack(move || keops_pipeline(&text)).unwrap();
    let body = nested(250, "Exp(", "x - y", ")");
    let text = format!("\"{body}\", [\"x = Vi(1)\", \"y = Vj(1)\"]");
    on_small_stack(move || genred_pipeline(&text)).unwrap();
    let text = format!("\"x{}\", [\"x = Vi(1)\", \"y = Vj(1)\"]", " * Exp(x - y)".repeat(250));
    on_small_stack(move || genred_pipeline(&text)).unwrap();
}
