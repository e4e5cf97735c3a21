//! Parsers: the math syntax of `keops!`.

pub mod math;
