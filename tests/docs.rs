//! The operation and reduction tables in the crate documentation (`docs/ops.md`,
//! `docs/reductions.md`) are generated from the op and reduction tables; these tests fail when
//! a file is stale. Regenerate them with `KEOPS_BLESS=1 cargo test --test docs`.

/// Checks (or with `KEOPS_BLESS`, writes) `docs/{file}`.
fn up_to_date(file: &str, generated: String) {
    let path = format!("{}/docs/{file}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("KEOPS_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == generated,
        "docs/{file} does not match its table: regenerate it with `KEOPS_BLESS=1 cargo test --test docs`"
    );
}

#[test]
fn operation_table_is_up_to_date() {
    up_to_date("ops.md", keops_core::ops::doc::markdown());
}

#[test]
fn reduction_table_is_up_to_date() {
    up_to_date("reductions.md", keops_core::reduction::doc::markdown());
}
