//! What both targets do with a parsed kernel: check it and, when it is valid, lower it and
//! print its Rust code, as the macros would. None of it may panic.

use keops_core::ast::KernelSource;
use keops_core::check::check;
use keops_core::codegen::rust::{TypeDecl, kernel_type};

pub fn check_and_generate(src: &KernelSource) {
    let Ok(kernel) = check(src) else { return };
    let decl = TypeDecl {
        attrs: vec![],
        vis: syn::Visibility::Inherited,
        name: quote::format_ident!("Fuzzed"),
        backward: true,
    };
    let code = kernel_type(&kernel, &decl);
    // The generated code must at least be valid Rust items.
    if let Err(e) = syn::parse2::<syn::File>(code) {
        panic!("generated code does not parse: {e}\nkernel: {}", src.text);
    }
}
