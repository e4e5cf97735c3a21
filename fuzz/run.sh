#!/usr/bin/env bash
# Fuzzes keops' two parsers (with the checker and the Rust code generator behind them):
#   math_syntax   `keops!` input: arbitrary text lexed by proc-macro2, then parse/check/codegen
#   keops_string  `genred!` input: KeOps formula strings (or whole argument lists)
# The property: every input gives a kernel or diagnostics; no panic, stack overflow or hang.
#
# Usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]   (default: 300 s, both targets)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain, or the stable one with
# RUSTC_BOOTSTRAP=1 as below. `--sanitizer none` because the targets are safe Rust and ASan
# slows them down; drop it to run with AddressSanitizer. Seeds live in fuzz/seeds/<target>
# (small, committed); the growing corpus in fuzz/corpus/<target> and crashes in
# fuzz/artifacts/<target> are not committed. Add every crash as a regression test in
# keops-core (see keops-core/src/syntax/robustness.rs).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(math_syntax keops_string)
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    # -rss_limit_mb: bounded memory; -timeout: no input may take more than 10 s (a hang).
    cargo fuzz run -O --sanitizer none "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
