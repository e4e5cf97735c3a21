//! Compile errors: each kind of formula mistake, with its message at the offending span.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    // Dimensions `_` without the feature that runs them.
    #[cfg(not(feature = "dynamic"))]
    t.compile_fail("tests/ui/without_dynamic/*.rs");
}
