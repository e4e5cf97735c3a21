//! The documentation tables of the reductions, generated from the reduction table so that they
//! cannot drift from it. The `keops` crate includes the result (`docs/reductions.md`) in its
//! documentation, and a test there fails when that file is stale.

use super::{Arity2, Gradient, ReductionKind, ReductionSpec};

/// The markdown of `docs/reductions.md`.
pub fn markdown() -> String {
    let mut out =
        String::from("| math syntax | KeOps | result per output row (`F` of dimension `D`) | gradient |\n");
    out.push_str("|---|---|---|---|\n");
    for &kind in ReductionKind::ALL {
        let spec = kind.spec();
        out.push_str(&format!("| {} | {} | {} | {} |\n", math(spec), keops(spec), spec.doc, gradient(spec)));
    }
    out.push_str(AFTER_TABLE);
    out.push_str("| reduction | NaN among the values | +inf / -inf among the values |\n|---|---|---|\n");
    // Reductions that behave alike share a row.
    let mut rows: Vec<(Vec<String>, [&str; 2])> = Vec::new();
    for &kind in ReductionKind::ALL {
        let spec = kind.spec();
        let name = format!("`{}`", spec.keops);
        match rows.iter_mut().find(|(_, numerics)| *numerics == spec.numerics) {
            Some((names, _)) => names.push(name),
            None => rows.push((vec![name], spec.numerics)),
        }
    }
    for (names, [nan, inf]) in rows {
        out.push_str(&format!("| {} | {nan} | {inf} |\n", names.join(", ")));
    }
    out.push_str(AFTER_NUMERICS);
    out
}

/// The math syntax of a reduction over `j`.
fn math(spec: &ReductionSpec) -> String {
    let name = format!("{}_j{}", spec.name, if spec.takes_k { "::<K>" } else { "" });
    match spec.second {
        Arity2::None => format!("`{name} F`"),
        Arity2::Optional => format!("`{name} F`, `{name}(F, W)`"),
        Arity2::Required => format!("`{name}(F, V)`"),
    }
}

/// How the output is differentiated.
fn gradient(spec: &ReductionSpec) -> &'static str {
    match spec.gradient {
        Gradient::Zero => "zero",
        Gradient::Sum | Gradient::LogSumExp | Gradient::SoftMax => "as KeOps",
        Gradient::AtSelected { .. } => "at the selected pairs (KeOps has none)",
        Gradient::Refused(_) => "none",
    }
}

/// The KeOps name, and the aliases pykeops accepts.
fn keops(spec: &ReductionSpec) -> String {
    let mut names = vec![format!("`{}`", spec.keops)];
    names.extend(spec.keops_aliases.iter().map(|a| format!("`{a}`")));
    names.join(", ")
}

const AFTER_TABLE: &str = r#"
Each also exists over `i` (`sum_i`, `argkmin_i::<K>`, ...), giving one row per `j`. For the
K-reductions, slot `k` of component `c` is at position `k * D + c` of the row.

- **Typed results**: values are `Vec<[T; W]>`, indices `Vec<[usize; W]>`, and the two-part
  reductions return `(values, indices)`. `eval_flat` returns the values then the indices as
  numbers of type `T`, as pykeops does (so `f32` represents indices exactly only below 2^24;
  the typed API has no such limit).
- **Ties** resolve to the lowest index, whatever the number of threads or SIMD lanes.
- **Index range**: indices are 32-bit internally, so index reductions accept up to
  4,294,967,295 rows along the reduced index; more is an [`Error::TooManyRows`]. (KeOps stores
  indices in floats and is exact only up to 2^24 rows in float32.)
- **Empty reductions** give KeOps' identities: 0 for sums, +inf / -inf for min / max, index 0,
  -inf for log-sum-exp, and 0/0 = NaN for the soft-max. K-min slots that no value fills hold
  +inf and index 0.
- **NaN and infinities**: see [Numerics](#numerics).
- **Log-sum-exp and soft-max** are computed online and stably (a running maximum and rescaled
  sums, one exponential per pair), so values of magnitude 1e4 are fine in `f32`.
- **Sums** accumulate lane by lane and tile by tile, the partial sums merged in order (KeOps'
  default `block_sum`). `sum_j::<kahan> F` (`genred!`'s `sum_scheme = "kahan_scheme"`)
  compensates each addition (Kahan's summation, on the CPU and the GPU), so that a sum of
  terms of one sign is within about an ulp of the exact sum however many there are, for about
  four times the additions; its gradients sum the same way. `sum_j::<f64> F` (`genred!`'s
  `dtype_acc = "float64"` or `use_double_acc = true`) sums f32 values in f64 accumulators, on
  the CPU and the GPU, and rounds each result to f32 once: within about half an ulp of the
  exact sum when the terms do not cancel, for the cost of the conversions and of f64
  additions; its gradients sum the same way (an f64 kernel's sums are f64 already).
  `sum_scheme = "direct_sum"` sums as `block_sum` does (never less accurately than KeOps'
  single running sum).

# Numerics

What NaN and infinite values of the formula give, per output row. Min and max compare with
`<` and `>`, as KeOps' `a < b ? a : b`, so a NaN never wins a comparison:

"#;

const AFTER_NUMERICS: &str = "
- \"Never selected\" means the value is treated as if absent: when nothing else is there, the
  result is the empty reduction's (+inf and index 0 for min, -inf and index 0 for max,
  +inf and index 0 for unfilled K-min slots), as KeOps gives.
- Log-sum-exp and soft-max take the limits at infinities where KeOps computes
  `exp(inf - inf)` and gives NaN: log-sum-exp of only -inf values is -inf (so is that of an
  empty set), and any +inf value makes it +inf. The soft-max of an empty set is 0/0 = NaN.
- NaN in a weight (`V`, or `W` of a weighted log-sum-exp) propagates, whatever its `F`.
- These hold for every SIMD width and thread count: lanes and segments are merged with the
  same comparisons, earlier indices first.
";
