//! Prints the expansion of a `keops!` invocation given on the command line (for debugging).
fn main() {
    let text = std::env::args().nth(1).expect("usage: expand '<keops! input>'");
    let tokens: proc_macro2::TokenStream = text.parse().expect("tokens");
    println!("{}", keops_core::expand_keops(tokens));
}
