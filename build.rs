//! Tells the crate whether it is optimised (`keops_optimized`): then the SIMD tiers' methods are
//! always inlined, also in a debug profile that optimises this crate
//! (`[profile.dev.package.keops] opt-level = 3`), so that the interpreter debug builds run
//! gets the tier's instructions inline. Unoptimised, they stay out of line: inlined, each call
//! kept its own stack slots and a large kernel's frame overflowed a thread's stack.

fn main() {
    println!("cargo:rustc-check-cfg=cfg(keops_optimized)");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("OPT_LEVEL").is_ok_and(|level| level != "0") {
        println!("cargo:rustc-cfg=keops_optimized");
    }
}
