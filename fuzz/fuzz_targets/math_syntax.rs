//! `keops!`: arbitrary text, lexed by proc-macro2 as the compiler would, through the math-syntax
//! parser, the checker and the Rust code generator. The result must be a kernel or
//! diagnostics: never a panic, a stack overflow or a hang.

#![no_main]

use std::str::FromStr;

use keops_core::syntax::math::{MacroInput, parse_macro_input};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Text the compiler would not lex never reaches the macro.
    let Ok(tokens) = proc_macro2::TokenStream::from_str(text) else { return };
    match parse_macro_input(tokens) {
        Err(diags) => {
            // Rendering the errors is part of what the macro does.
            let _ = diags.to_compile_errors();
        }
        Ok(MacroInput::Expr(src)) => common::check_and_generate(&src),
        Ok(MacroInput::Items(items)) => {
            for item in &items {
                common::check_and_generate(&item.kernel);
            }
        }
    }
});
