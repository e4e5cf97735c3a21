//! `exp` and `log` for the reductions that need them (log-sum-exp, soft-max), generated from
//! keops-core's lowering so that they compute exactly what formula code computes.

keops_macros::__runtime_math!();
