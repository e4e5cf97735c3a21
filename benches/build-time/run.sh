#!/usr/bin/env bash
# Build-time benchmark of users' crates: how long `cargo build` takes, and how much memory it
# needs, for a crate that defines 1, 4 or 16 kernels with `keops::keops!` (the macro parses,
# checks and generates every kernel's CPU code, gradients and PTX at build time, and rustc then
# compiles that code). Run by hand; the results go into BENCHMARKS.md by hand.
#
# Usage:
#   benches/build-time/run.sh [--keops PATH] [--out DIR] [--cases LIST] [--profiles LIST]
#                             [--timeout SECS] [--runs N] [--jobs N] [--check] [--generate]
#
#   --keops PATH      the keops checkout the scratch crates depend on (default: the repository
#                     that contains this script)
#   --out DIR         scratch directory, outside the checkout (default:
#                     $TMPDIR/keops-build-time)
#   --cases LIST      comma-separated subset of: k1 k4 k16 k1_grad k4_grad k16_grad d300
#                     d300_grad d990
#                     (default: all)
#   --profiles LIST   comma-separated subset of: release dev (default: both)
#   --timeout SECS    kill a build that takes longer, and report "timeout" (default 900)
#   --runs N          repeat the `touch` measurement N times: median, min and max (default 1)
#   --jobs N          pass `-j N` to cargo (default: cargo's, all cores)
#   --check           only `cargo check` the selected cases (dev profile), to test that the
#                     generated crates compile (their rows give the check's time and memory)
#   --generate        only write the crates under $OUT/crates, build nothing
#
# What it does: it writes one scratch binary crate per case under $OUT/crates (edition 2024, an
# empty `[workspace]` table so it stands alone, `keops = { path = PATH }` with default
# features and `[profile.dev.package.keops] opt-level = 3` as the README recommends (debug
# builds then interpret their kernels), a copy of the
# checkout's Cargo.lock so the dependencies are the versions the keops
# repository uses), all sharing ONE target directory, $OUT/target. A warm-up crate that uses
# keops but defines no kernel is built first in each profile, so the dependencies (keops,
# keops-macros, rayon, pulp, cudarc, ...) are built once and are not part of any measurement.
# Every case's main.rs defines its kernels with `keops::keops!`, one function per kernel, and
# calls `eval` on small data (16 x 16 rows, through `black_box`), and prints a checksum, so
# nothing is optimised away.
#
#   k1, k4, k16         1 / 4 / 16 kernels: the Gaussian sum, log-sum-exp, ArgKMin, D = 64 sums,
#                       then variations (f32 and f64, D = 2, 3, 16, 64, 300; Laplace, Cauchy,
#                       Min_ArgMin, SumSoftMaxWeight)
#   k1_grad, ...        the same, and each Sum / LogSumExp / SumSoftMaxWeight kernel is also
#                       differentiated with `grad_flat` (input 0); index reductions are not
#   d300, d300_grad     one Gaussian sum over D = 300 (the one of k16), alone
#   d990                one Min_ArgMin reduction over i of D = 990 vectors, known to take very
#                       long to build: it is what --timeout is for
#
# For each case and profile (`release`: `cargo build --release`, `dev`: `cargo build`), two
# measurements:
#   clean   `cargo clean -p <case crate>` first (its incremental cache goes too; the
#           dependencies stay built), then build: the cost of a fresh build of the user's crate
#   touch   `touch src/main.rs`, then build: the cost of an edit (incremental in dev)
# and for each: the wall time, the time per kernel (wall / number of `keops!` invocations), the
# peak memory and the size of the binary. The peak memory is `/usr/bin/time -f '%e %M'` around
# cargo: the maximum resident set size of cargo and the children it waited for, so the largest
# single rustc process (which runs the proc macro too), not the sum of concurrent ones; good
# enough, since one rustc compiles the crate with the kernels.
#
# Output: an aligned table on stdout (a header line with the date, nproc, the load average at
# start and end, rustc's version and the keops commit, then one line per case, profile and
# measurement); the same rows as TSV in $OUT/results.tsv and the table in $OUT/results.txt;
# every build's log in $OUT/logs. A build that fails prints the last 30 lines of its log and
# its row says "failed"; one that runs past --timeout says "timeout"; the touch measurement of
# a case whose clean build did not succeed says "skipped"; "ok+deps" says that the build also
# compiled something else than the case crate (the keops checkout was edited during the run),
# so its time is not the case's alone: rerun it. The exit status is 1 when a build failed (a
# timeout is not a failure), 2 for bad arguments.
#
# How long: on a 2-core machine, the warm-up takes 1-2 minutes per profile, a k1 release build
# about 10 s and a dev one 2 s; k4 and k16 take longer (roughly in proportion to their kernels
# and dimensions: `cargo check` of k16 alone takes 5 s); d990 may run to --timeout in each
# profile (2 x 15 minutes by default). Everything: up to about an hour, most of it d990;
# without it (--cases k1,k4,k16,k1_grad,k4_grad,k16_grad) much less. Run it on an otherwise
# idle machine: the load average in the header says whether it was. Cargo's defaults are used,
# as in a user's fresh crate: e.g. proc macros are compiled with opt-level 0 in both profiles
# (`build-override`); the environment passes through, so
# `CARGO_PROFILE_RELEASE_BUILD_OVERRIDE_OPT_LEVEL=3 run.sh ...` measures the other choice.
set -euo pipefail

die() {
    echo "run.sh: error: $*" >&2
    exit 2
}
note() { echo "[build-time] $*" >&2; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
all_cases=(k1 k4 k16 k1_grad k4_grad k16_grad d300 d300_grad d990)

keops=""
out=""
cases_arg=""
profiles_arg="release,dev"
timeout_s=900
runs=1
jobs=""
check_only=0
generate_only=0

while [ $# -gt 0 ]; do
    case $1 in
        --keops | --out | --cases | --profiles | --timeout | --runs | --jobs)
            [ $# -ge 2 ] || die "$1 needs a value"
            case $1 in
                --keops) keops=$2 ;;
                --out) out=$2 ;;
                --cases) cases_arg=$2 ;;
                --profiles) profiles_arg=$2 ;;
                --timeout) timeout_s=$2 ;;
                --runs) runs=$2 ;;
                --jobs) jobs=$2 ;;
            esac
            shift 2
            ;;
        --keops=* | --out=* | --cases=* | --profiles=* | --timeout=* | --runs=* | --jobs=*)
            set -- "${1%%=*}" "${1#*=}" "${@:2}"
            ;;
        --check) check_only=1; shift ;;
        --generate) generate_only=1; shift ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

# --- Options ---------------------------------------------------------------------------------

# Outside the checkout, whose .cargo/config.toml (--cfg keops_compiled) must not reach the
# scratch crates: their debug builds would then compile their kernels.
default_out=${TMPDIR:-/tmp}/keops-build-time
if [ -z "$keops" ]; then
    keops=$(cd "$script_dir/../.." && pwd)
else
    [ -d "$keops" ] || die "--keops $keops: no such directory"
    keops=$(cd "$keops" && pwd)
fi
[ -f "$keops/Cargo.toml" ] && grep -q '^name = "keops"$' "$keops/Cargo.toml" ||
    die "$keops is not a keops checkout (no Cargo.toml with name = \"keops\")"
case $keops in *'"'* | *'\'*) die "the keops path may not contain '\"' or '\\': $keops" ;; esac

out=${out:-$default_out}
mkdir -p "$out" || die "cannot create --out $out"
out=$(cd "$out" && pwd)

[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive number of seconds, not '$timeout_s'"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer, not '$runs'"
[ -z "$jobs" ] || [[ $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive integer, not '$jobs'"

cases=()
if [ -z "$cases_arg" ]; then
    cases=("${all_cases[@]}")
else
    IFS=',' read -ra cases <<<"$cases_arg"
    for c in "${cases[@]}"; do
        [[ " ${all_cases[*]} " == *" $c "* ]] || die "unknown case '$c' (known: ${all_cases[*]})"
    done
fi
[ ${#cases[@]} -gt 0 ] || die "--cases is empty"

profiles=()
IFS=',' read -ra profiles <<<"$profiles_arg"
for p in "${profiles[@]}"; do
    case $p in release | dev) ;; *) die "unknown profile '$p' (known: release, dev)" ;; esac
done
[ ${#profiles[@]} -gt 0 ] || die "--profiles is empty"
[ $check_only = 1 ] && profiles=(dev)

for tool in cargo rustc timeout; do
    command -v "$tool" >/dev/null || die "'$tool' not found in PATH"
done
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is needed for the wall time and peak memory"

jobs_flag=()
[ -n "$jobs" ] && jobs_flag=(-j "$jobs")

export CARGO_TARGET_DIR=$out/target
mkdir -p "$out/crates" "$out/logs"

# --- Kernels ---------------------------------------------------------------------------------
# One kernel a line: type | inputs (name:dimension, ...) | output (values, indices, both) |
# differentiable (g: gets a grad_flat in the _grad cases, -: not) | body.

GAUSS3='f32|x_i:3,y_j:3,b_j:1|values|g|sum_j exp(-sqdist(x_i, y_j)) * b_j'
LSE3='f32|x_i:3,y_j:3|values|g|logsumexp_j -sqdist(x_i, y_j)'
ARGKMIN3='f32|x_i:3,y_j:3|indices|-|argkmin_j::<10> sqdist(x_i, y_j)'
GAUSS64='f32|x_i:64,y_j:64,b_j:1|values|g|sum_j exp(-sqdist(x_i, y_j)) * b_j'
GAUSS300='f32|x_i:300,y_j:300,b_j:1|values|g|sum_j exp(-sqdist(x_i, y_j)) * b_j'

kernels_of() {
    case $1 in
        k1) printf '%s\n' "$GAUSS3" ;;
        k4) printf '%s\n' "$GAUSS3" "$LSE3" "$ARGKMIN3" "$GAUSS64" ;;
        k16)
            printf '%s\n' "$GAUSS3" "$LSE3" "$ARGKMIN3" "$GAUSS64" \
                'f64|x_i:3,y_j:3,b_j:1|values|g|sum_j exp(-sqdist(x_i, y_j)) * b_j' \
                'f32|x_i:2,y_j:2,b_j:1|values|g|sum_j exp(-sqdist(x_i, y_j)) * b_j' \
                'f32|x_i:16,y_j:16,b_j:1|values|g|sum_j exp(-sqdist(x_i, y_j)) * b_j' \
                "$GAUSS300" \
                'f32|x_i:3,y_j:3,b_j:1|values|g|sum_j exp(-sqrt(sqdist(x_i, y_j))) * b_j' \
                'f64|x_i:2,y_j:2,b_j:1|values|g|sum_j exp(-sqrt(sqdist(x_i, y_j))) * b_j' \
                'f32|x_i:3,y_j:3,b_j:1|values|g|sum_j rsqrt(1.0 + sqdist(x_i, y_j)) * b_j' \
                'f64|x_i:16,y_j:16|values|g|logsumexp_j -sqdist(x_i, y_j)' \
                'f64|x_i:16,y_j:16|indices|-|argkmin_j::<5> sqdist(x_i, y_j)' \
                'f32|x_i:3,y_j:3|both|-|min_argmin_j sqdist(x_i, y_j)' \
                'f32|x_i:3,y_j:3,v_j:3|values|g|sumsoftmaxweight_j(-sqdist(x_i, y_j), v_j)' \
                'f32|x_i:16,y_j:16,v_j:16|values|g|sumsoftmaxweight_j(dot(x_i, y_j), v_j)'
            ;;
        d300) printf '%s\n' "$GAUSS300" ;;
        d990) printf '%s\n' 'f32|x_i:990,y_j:990|both|-|min_argmin_i sqdist(x_i, y_j)' ;;
        *_grad) kernels_of "${1%_grad}" ;;
        *) die "internal: no kernels for case '$1'" ;;
    esac
}

# The Rust function `kernel_<n>` for one kernel line; with gradients when $3 = 1.
emit_kernel() {
    local n=$1 spec=$2 grad=$3 t inputs outkind diff body
    IFS='|' read -r t inputs outkind diff body <<<"$spec"
    local sig="" decls="" args="" flats="" seed=1 var name dim rows vars mut=""
    [ "$grad" = 1 ] && [ "$diff" = g ] && mut="mut "
    IFS=',' read -ra vars <<<"$inputs"
    for var in "${vars[@]}"; do
        name=${var%%:*}
        dim=${var#*:}
        case $name in *_i) rows=M ;; *_j) rows=N ;; *) die "internal: variable $name is neither _i nor _j" ;; esac
        sig+="${sig:+, }$name: [$t; $dim]"
        decls+="    let $name = black_box(rows::<$t, $dim>($rows, $((seed++))));"$'\n'
        args+="${args:+, }&$name"
        flats+="${flats:+, }$name.as_flattened()"
    done
    echo "/// \`$body\` ($t)"
    echo "fn kernel_$n() -> f64 {"
    echo "    let k = keops::keops!(|$sig| $body);"
    printf '%s' "$decls"
    case $outkind in
        values)
            echo "    let out = k.eval($args).expect(\"eval\");"
            echo "    let ${mut}sum = sum_values(out.as_flattened());"
            ;;
        indices)
            echo "    let out = k.eval($args).expect(\"eval\");"
            echo "    let ${mut}sum = sum_indices(out.as_flattened());"
            ;;
        both)
            echo "    let (values, indices) = k.eval($args).expect(\"eval\");"
            echo "    let ${mut}sum = sum_values(values.as_flattened()) + sum_indices(indices.as_flattened());"
            ;;
        *) die "internal: output kind $outkind" ;;
    esac
    if [ -n "$mut" ]; then
        echo "    // The gradient of <output, e> with respect to input 0."
        echo "    let e: Vec<$t> = vec![1.0; out.as_flattened().len()];"
        echo "    let g = k.grad_flat(0, &[$flats], &e).expect(\"grad_flat\");"
        echo "    sum += sum_values(&g);"
    fi
    echo "    sum"
    echo "}"
    echo
}

# Writes $2 to file $1 only if it differs (keeps the mtime otherwise).
write_if_changed() {
    if [ ! -f "$1" ] || [ "$(cat "$1")" != "$2" ]; then
        printf '%s\n' "$2" >"$1"
    fi
}

# Creates the crate of case $1 (or the warm-up crate, "warmup") under $out/crates.
generate_crate() {
    local case=$1 dir=$out/crates/$1 grad=0 n=0 spec main
    mkdir -p "$dir/src"
    write_if_changed "$dir/Cargo.toml" "# Generated by benches/build-time/run.sh; overwritten on every run.
[package]
name = \"bt_$case\"
version = \"0.0.0\"
edition = \"2024\"
publish = false

[dependencies]
keops = { path = \"$keops\" }

# As the README recommends: debug builds then interpret their kernels.
[profile.dev.package.keops]
opt-level = 3

[workspace]"
    if [ "$case" = warmup ]; then
        main='// Generated by benches/build-time/run.sh: uses keops without defining a kernel, so that
// building it builds the dependencies.
fn main() {
    println!("{}", keops::cpu_simd());
}'
    else
        [[ $case == *_grad ]] && grad=1
        main="// Generated by benches/build-time/run.sh: case $case; overwritten on every run.
use std::hint::black_box;

const M: usize = 16;
const N: usize = 16;

/// \`n\` deterministic rows in [0, 1).
fn rows<T: From<f32> + Copy, const D: usize>(n: usize, seed: usize) -> Vec<[T; D]> {
    (0..n)
        .map(|r| std::array::from_fn(|c| T::from(((r * 37 + c * 11 + seed * 53) % 101) as f32 / 101.0)))
        .collect()
}

#[allow(dead_code)]
fn sum_values<T: Copy + Into<f64>>(v: &[T]) -> f64 {
    v.iter().map(|&x| x.into()).sum()
}

#[allow(dead_code)]
fn sum_indices(v: &[usize]) -> f64 {
    v.iter().sum::<usize>() as f64
}
"
        while IFS= read -r spec; do
            main+=$'\n'$(emit_kernel "$n" "$spec" "$grad")$'\n'
            n=$((n + 1))
        done < <(kernels_of "$case")
        main+=$'\n'"fn main() {"$'\n'"    let sums = ["
        for ((i = 0; i < n; i++)); do main+="kernel_$i(), "; done
        main="${main%, }];"$'\n'
        main+='    for (n, s) in sums.iter().enumerate() {
        println!("kernel {n}: {s}");
    }
}'
    fi
    write_if_changed "$dir/src/main.rs" "$main"
}

kernel_count() { kernels_of "$1" | wc -l; }

profile_dir() { if [ "$1" = dev ]; then echo debug; else echo "$1"; fi; }

# --- Building and timing ---------------------------------------------------------------------

# Runs `cargo $2...` in crate dir $1 under /usr/bin/time and the timeout, its output in $log.
# Sets: status (ok, failed, timeout), wall (s), rss_kib. The timeout runs in a process group of
# its own (so that on expiry it kills rustc too, not only cargo); the trap below ends that group
# when the script is interrupted.
timed_cargo() {
    local dir=$1 tfile rc
    shift
    tfile=$(mktemp "$out/logs/time.XXXXXX")
    (cd "$dir" && exec /usr/bin/time -f '%e %M' -o "$tfile" \
        timeout -k 10 "$timeout_s" cargo "$@" --color never "${jobs_flag[@]}") >"$log" 2>&1 &
    running=$!
    if wait "$running"; then rc=0; else rc=$?; fi
    running=""
    # The last line is "%e %M"; a failed command's file starts with "Command exited ...".
    wall="" rss_kib=""
    read -r wall rss_kib < <(tail -n 1 "$tfile") || true
    rm -f "$tfile"
    [[ $wall =~ ^[0-9.]+$ ]] || wall=""
    [[ $rss_kib =~ ^[0-9]+$ ]] || rss_kib=""
    if [ $rc = 0 ]; then
        status=ok
        # Anything compiled besides the case crate (the keops checkout edited during the run)
        # is in the time: flag it.
        local others
        others=$(grep -E '^ *(Compiling|Checking) ' "$log" | grep -v "^ *[A-Z][a-z]* $crate v" |
            awk '{ printf "%s%s", sep, $2; sep = ", " }' || true)
        if [ -n "$others" ]; then
            status=ok+deps
            note "  warning: this build also compiled $others (changed during the run?): its time is not the case's alone"
        fi
    elif [ $rc = 124 ] || [ $rc = 137 ]; then
        status=timeout
        note "  timeout after ${timeout_s} s (log: $log)"
    else
        status=failed
        note "  failed (exit $rc); the last 30 lines of $log:"
        tail -n 30 "$log" | sed 's/^/    | /' >&2
    fi
}

running=""
interrupted() {
    if [ -n "$running" ]; then
        # $running is /usr/bin/time; its child is timeout, the leader of the build's group.
        local leader
        for leader in $(pgrep -P "$running" 2>/dev/null || true); do
            kill -TERM -- "-$leader" 2>/dev/null || true
        done
        kill -TERM "$running" 2>/dev/null || true
    fi
    note "interrupted"
    exit 130
}
trap interrupted INT TERM

# Untimed cargo command in crate dir $1; dies on failure (used for the warm-up and fetching).
untimed_cargo() {
    local dir=$1
    shift
    if ! (cd "$dir" && cargo "$@" --color never) >"$log" 2>&1; then
        note "'cargo $*' failed in $dir; the last 30 lines of $log:"
        tail -n 30 "$log" | sed 's/^/    | /' >&2
        exit 1
    fi
}

rows_tsv=()
header_cols=(case profile measure kernels runs wall_s min_s max_s s_per_kernel max_rss_mib binary_mib status)

fmt2() { awk -v x="$1" 'BEGIN { printf "%.2f", x }'; }

# Appends a row: case profile measure kernels runs wall min max rss_kib binary_bytes status.
add_row() {
    local case=$1 profile=$2 measure=$3 kernels=$4 nruns=$5 wall=$6 min=$7 max=$8 rss=$9 bin=${10} st=${11}
    local per="-" rss_m="-" bin_m="-"
    if [[ $st == ok* ]]; then
        per=$(awk -v w="$wall" -v k="$kernels" 'BEGIN { printf "%.2f", w / k }')
        wall=$(fmt2 "$wall")
        [ "$min" = - ] || min=$(fmt2 "$min")
        [ "$max" = - ] || max=$(fmt2 "$max")
    elif [ "$st" = timeout ]; then
        # Killed: rustc may have died after cargo, unreaped by it, so the peak is not known.
        wall=">$timeout_s"
        min=- max=- rss=-
    else
        wall=- min=- max=-
    fi
    [ -n "$rss" ] && [ "$rss" != - ] && rss_m=$(awk -v r="$rss" 'BEGIN { printf "%.0f", r / 1024 }')
    [ -n "$bin" ] && [ "$bin" != - ] && bin_m=$(awk -v b="$bin" 'BEGIN { printf "%.2f", b / 1048576 }')
    local row
    row=$(printf '%s\t' "$case" "$profile" "$measure" "$kernels" "$nruns" "$wall" "$min" "$max" "$per" "$rss_m" "$bin_m" "$st")
    rows_tsv+=("${row%$'\t'}")
    note "  -> $(printf '%s' "${row%$'\t'}" | tr '\t' ' ')"
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

keops_commit=$(git -C "$keops" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$keops_commit" != unknown ] &&
    [ -n "$(git --no-optional-locks -C "$keops" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    keops_commit+="+dirty"
fi
rustc_version=$(rustc --version)
load_start=$(loadavg)
date_start=$(date '+%Y-%m-%d %H:%M:%S %z')

note "keops $keops ($keops_commit), $rustc_version, nproc $(nproc), load $load_start"
note "scratch crates and target dir under $out"

if [ $generate_only = 1 ]; then
    for case in warmup "${cases[@]}"; do generate_crate "$case"; done
    note "crates written under $out/crates"
    exit 0
fi

# The warm-up crate resolves the dependencies (from the checkout's Cargo.lock, when it has
# one) and builds them; every case crate starts from its Cargo.lock, so all use the same
# versions and nothing but the case crate itself is compiled in a measurement.
generate_crate warmup
warm=$out/crates/warmup
[ -f "$keops/Cargo.lock" ] && cp "$keops/Cargo.lock" "$warm/Cargo.lock"
log=$out/logs/warmup-fetch.log
untimed_cargo "$warm" fetch
for profile in "${profiles[@]}"; do
    log=$out/logs/warmup-$profile.log
    note "warm-up: building the dependencies ($profile profile; not reported)"
    if [ $check_only = 1 ]; then
        untimed_cargo "$warm" check --profile "$profile" "${jobs_flag[@]}"
    else
        untimed_cargo "$warm" build --profile "$profile" "${jobs_flag[@]}"
    fi
done

for case in "${cases[@]}"; do
    generate_crate "$case"
    dir=$out/crates/$case
    cp "$warm/Cargo.lock" "$dir/Cargo.lock"
    log=$out/logs/$case-fetch.log
    untimed_cargo "$dir" fetch
    kernels=$(kernel_count "$case")
    crate=bt_$case

    if [ $check_only = 1 ]; then
        log=$out/logs/$case-check.log
        note "$case: cargo check"
        untimed_cargo "$dir" clean -p "$crate"
        timed_cargo "$dir" check
        add_row "$case" dev check "$kernels" 1 "${wall:--}" - - "${rss_kib:--}" - "$status"
        continue
    fi

    for profile in "${profiles[@]}"; do
        pdir=$(profile_dir "$profile")
        bin=$CARGO_TARGET_DIR/$pdir/$crate

        # clean: the crate's artifacts (and its incremental cache) removed, dependencies kept.
        log=$out/logs/$case-$profile-clean-prep.log
        untimed_cargo "$dir" clean -p "$crate" --profile "$profile"
        rm -rf "$CARGO_TARGET_DIR/$pdir/incremental/$crate"-*
        log=$out/logs/$case-$profile-clean.log
        note "$case ($kernels kernels), $profile: clean build"
        timed_cargo "$dir" build --profile "$profile"
        size=-
        [[ $status == ok* ]] && size=$(stat -c %s "$bin")
        add_row "$case" "$profile" clean "$kernels" 1 "${wall:--}" - - "${rss_kib:--}" "$size" "$status"

        if [[ $status != ok* ]]; then
            add_row "$case" "$profile" touch "$kernels" "$runs" - - - - - skipped
            continue
        fi

        # touch: an edit of main.rs, rebuilt; the median of --runs.
        walls=()
        peak=0
        touch_status=ok
        for ((r = 1; r <= runs; r++)); do
            log=$out/logs/$case-$profile-touch-$r.log
            note "$case ($kernels kernels), $profile: touch + build ($r/$runs)"
            touch "$dir/src/main.rs"
            timed_cargo "$dir" build --profile "$profile"
            case $status in
                ok) ;;
                ok+deps) touch_status=ok+deps ;;
                *) touch_status=$status; break ;;
            esac
            walls+=("$wall")
            [ "${rss_kib:-0}" -gt "$peak" ] && peak=$rss_kib
        done
        if [ "$touch_status" = ok ] || [ "$touch_status" = ok+deps ]; then
            read -r median min max < <(printf '%s\n' "${walls[@]}" | sort -g | awk '
                { v[NR] = $1 }
                END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR] }')
            [ "$runs" = 1 ] && min=- max=-
            add_row "$case" "$profile" touch "$kernels" "$runs" "$median" "$min" "$max" "$peak" "$(stat -c %s "$bin")" "$touch_status"
        else
            add_row "$case" "$profile" touch "$kernels" "$runs" - - - - - "$touch_status"
        fi
    done
done

# --- Report ----------------------------------------------------------------------------------

load_end=$(loadavg)
header="# keops build time, $date_start: nproc $(nproc), load $load_start (start) / $load_end (end), $rustc_version, keops $keops_commit"
[ -n "$jobs" ] && header+=", cargo -j $jobs"
header+=", timeout ${timeout_s} s"
[ -n "${CARGO_PROFILE_RELEASE_BUILD_OVERRIDE_OPT_LEVEL:-}${CARGO_PROFILE_DEV_BUILD_OVERRIDE_OPT_LEVEL:-}" ] &&
    header+=", build-override opt-level release=${CARGO_PROFILE_RELEASE_BUILD_OVERRIDE_OPT_LEVEL:-default} dev=${CARGO_PROFILE_DEV_BUILD_OVERRIDE_OPT_LEVEL:-default}"

tsv_header=$(printf '%s\t' "${header_cols[@]}")
{
    printf '%s\n' "${tsv_header%$'\t'}"
    printf '%s\n' "${rows_tsv[@]}"
} >"$out/results.tsv"

{
    echo "$header"
    awk -F'\t' '
        { for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NF }
        END {
            for (r = 1; r <= NR; r++) {
                line = ""
                for (i = 1; i <= n; i++) {
                    # Text columns left-aligned, numbers right-aligned.
                    fmt = (i <= 3 || i == n) ? "%-" w[i] "s" : "%" w[i] "s"
                    line = line (i > 1 ? "  " : "") sprintf(fmt, cell[r, i])
                }
                sub(/ +$/, "", line)
                print line
            }
        }' "$out/results.tsv"
} | tee "$out/results.txt"

for row in "${rows_tsv[@]}"; do
    [[ $row == *$'\t'failed ]] && exit 1
done
exit 0
