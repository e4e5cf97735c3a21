//! A module's text: the header, then each entry point's parameters, register declarations and
//! body (the GPU plan's, written by [`Ptx`]).

use std::fmt::Write as _;

use super::writer::Ptx;
use super::{ENTRY, ENTRY_2D, ENTRY_MERGE, Module, Spec};

/// The module of `spec`, named `name`.
pub(super) fn module(spec: &Spec, name: String) -> Module {
    let (block, shared_per_thread, partial_widths) = spec.launch();
    Module { name, ptx: text(spec), block, shared_per_thread, partial_widths }
}

/// The whole module's text.
fn text(spec: &Spec) -> String {
    let mut out = String::new();
    let (vw, iw) = spec.widths();
    let _ = writeln!(
        out,
        "// keops: {} {} of `{}`",
        spec.dtype.name(),
        spec.reduction.kind.keops_name(),
        spec.about
    );
    let _ = writeln!(out, "// value width {vw}, index width {iw}");
    out.push_str(".version 7.0\n.target sm_70\n.address_size 64\n\n");
    out.push_str(".extern .shared .align 16 .b8 keops_shared[];\n");
    let values = spec.staged().program.insts().len();
    let vars = (0..spec.vars.len()).map(|k| format!("keops_var_{k}"));
    let mut w = Ptx::new(spec.dtype, spec.math);
    spec.body(&mut w, false);
    let outputs = ["keops_values", "keops_indices"];
    let params: Vec<String> = vars.clone().chain(outputs.map(String::from)).collect();
    out.push_str(&entry(ENTRY, &params, &["keops_outer_rows", "keops_inner_rows"], &w, values));
    let mut w = Ptx::new(spec.dtype, spec.math);
    spec.body(&mut w, true);
    let partial = ["keops_partial_values", "keops_partial_indices"];
    let params: Vec<String> = vars.chain(partial.map(String::from)).collect();
    let counts = ["keops_outer_rows", "keops_inner_rows", "keops_chunk"];
    out.push_str(&entry(ENTRY_2D, &params, &counts, &w, values));
    let mut w = Ptx::new(spec.dtype, spec.math);
    spec.merge_body(&mut w);
    let params: Vec<String> = partial.iter().chain(&outputs).map(|p| p.to_string()).collect();
    out.push_str(&entry(ENTRY_MERGE, &params, &["keops_outer_rows", "keops_chunks"], &w, 0));
    out
}

/// An entry point: `.u64` pointer parameters, then `.u32` counts, then the body written in `w`
/// (which declares `values` value registers), which returns at its end.
pub(super) fn entry(name: &str, pointers: &[String], counts: &[&str], w: &Ptx, values: usize) -> String {
    let params: Vec<String> = (pointers.iter().map(|p| format!("\t.param .u64 {p}")))
        .chain(counts.iter().map(|c| format!("\t.param .u32 {c}")))
        .collect();
    format!(
        "\n.visible .entry {name}(\n{}\n)\n{{\n{}{}\tret;\n}}\n",
        params.join(",\n"),
        w.declarations(values),
        w.body
    )
}
