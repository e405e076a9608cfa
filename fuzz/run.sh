#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, one after the other, on one
# core: the committed seeds are copied into the working corpus first, and the script exits
# non-zero if any target crashed (the reproducer is left in fuzz/artifacts/<target>/).
#
#   fuzz/run.sh SECONDS [TARGET...]
#
# Installs cargo-fuzz from crates.io when it is missing; needs the nightly toolchain.
# Environment: FUZZ_ARGS adds libFuzzer options; CARGO_BUILD_JOBS defaults to 1.
set -euo pipefail
cd "$(dirname "$0")"

if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ ]]; then
    echo "usage: $0 SECONDS [TARGET...]" >&2
    exit 2
fi
seconds=$1
shift
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# `fuzz build` builds one target or all of them.
if [[ ${#targets[@]} -eq 1 ]]; then
    cargo +nightly fuzz build "${targets[0]}"
else
    cargo +nightly fuzz build
fi

mkdir -p logs
failed=()
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    if [[ -d "seeds/$target" ]]; then
        cp -n "seeds/$target"/* "corpus/$target/" 2>/dev/null || true
    fi
    log="logs/$target.log"
    echo "== $target: ${seconds}s (log: fuzz/$log)"
    # One process (no -jobs/-workers): the machine's other core belongs to someone else.
    # -timeout catches inputs that take super-linear time; -malloc_limit_mb catches any
    # allocation sized by a declared length rather than by bytes that arrived.
    set +e
    # shellcheck disable=SC2086
    cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
        -print_final_stats=1 ${FUZZ_ARGS:-} >"$log" 2>&1
    status=$?
    set -e
    grep -E '^#[0-9]+[[:space:]]+DONE|^stat::number_of_executed_units' "$log" || true
    if [[ $status -ne 0 ]]; then
        tail -n 40 "$log"
        failed+=("$target")
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "crashed: ${failed[*]} (see fuzz/artifacts/)" >&2
    exit 1
fi
echo "all ${#targets[@]} targets ran ${seconds}s each without a crash"
