//! The operation table in the crate documentation (`docs/ops.md`) is generated from the op
//! table; this test fails when the file is stale. Regenerate it with
//! `KEOPS_BLESS=1 cargo test --test docs`.

#[test]
fn operation_table_is_up_to_date() {
    let path = format!("{}/docs/ops.md", env!("CARGO_MANIFEST_DIR"));
    let generated = keops_core::ops::doc::markdown();
    if std::env::var_os("KEOPS_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == generated,
        "docs/ops.md does not match the op table: regenerate it with `KEOPS_BLESS=1 cargo test --test docs`"
    );
}
