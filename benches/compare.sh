#!/usr/bin/env bash
# Times the standard cases with keops for Rust (examples/bench.rs) and with pykeops' CPU backend
# in the same run, for BENCHMARKS.md. Usage: benches/compare.sh [N] [RUNS]
# EXTRA=1 adds the bench example's --extra cases on both sides.
# Needs a Python with pykeops 2.3 and numpy (PYTHON=..., default python3) and
# ../shared/bench/pykeops_bench.py (SHARED=..., default ../shared).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
runs=${2:-5}
python=${PYTHON:-python3}
shared=${SHARED:-../shared}
threads=${THREADS:-2}
extra=()
extra_tasks=()
if [ "${EXTRA:-0}" = 1 ]; then
    extra=(--extra)
    extra_tasks=(laplace cauchy matern32 periodic gauss_vec gauss_vec16 gauss_i grad_y nbody argmin softmax attention gauss_sharp grad_sharp softmax_sharp)
fi

echo "## keops for Rust (RAYON_NUM_THREADS=$threads, N = M = $n, median of $runs runs)"
cargo build --release --example bench --quiet
RAYON_NUM_THREADS=$threads ./target/release/examples/bench --n "$n" --runs "$runs" "${extra[@]}"

echo
echo "## pykeops (OMP_NUM_THREADS=$threads, N = M = $n, median of $runs runs)"
for task in gauss grad argkmin lse; do
    OMP_NUM_THREADS=$threads "$python" "$shared/bench/pykeops_bench.py" "$task" "$n" "$runs"
done
for task in gauss64 gauss_f64 "${extra_tasks[@]}"; do
    OMP_NUM_THREADS=$threads "$python" benches/pykeops_cases.py "$task" "$n" "$runs"
done
