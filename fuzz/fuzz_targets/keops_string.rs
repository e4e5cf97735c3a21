//! `genred!`: arbitrary text as the macro's arguments (formula and alias strings, options),
//! through the KeOps string parser, the checker and the Rust code generator. The result must
//! be a kernel or diagnostics: never a panic, a stack overflow or a hang.
//!
//! Inputs starting with `"` are taken as the whole argument list; others as a formula, wrapped
//! with a fixed alias list, so that the fuzzer spends its time inside the formula parser.

#![no_main]

use keops_core::syntax::keops::parse_genred_str;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let args = if text.starts_with('"') {
        text.to_string()
    } else {
        let escaped: String = text.escape_default().collect();
        format!(
            "\"{escaped}\", [\"x = Vi(3)\", \"y = Vj(3)\", \"b = Vj(1)\", \"p = Pm(2)\"], reduction = \"Sum\""
        )
    };
    match parse_genred_str(&args) {
        Err(diags) => {
            let _ = diags.to_compile_errors();
            for d in diags.errors() {
                let _ = diags.render(d);
            }
        }
        Ok(src) => common::check_and_generate(&src),
    }
});
