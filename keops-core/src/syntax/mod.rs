//! Parsers: the math syntax of `keops!` and the KeOps formula strings of `genred!`. Both
//! produce the same [`crate::ast::KernelSource`].

pub mod keops;
pub mod math;

use crate::ast::KernelSource;
use crate::diag::Diagnostics;

/// Parses a kernel from the text its macro recorded (`KernelInfo::formula`): `genred!`
/// arguments (they start with the formula string) or a `keops!` kernel.
pub fn parse_kernel_text(text: &str) -> Result<KernelSource, Diagnostics> {
    if text.trim_start().starts_with('"') {
        keops::parse_genred_str(text)
    } else {
        math::parse_kernel_str(text)
    }
}
