#!/usr/bin/env bash
# Runs the Autobahn TestSuite against wsio: the echo server and the client, on every runtime.
#
#   bash autobahn/run.sh
#
# The runner is kosoku (PyPI, pinned below), a Python 3 runner of Autobahn's own case files,
# installed into .venv/ at the repository root when missing. Reports (index.json + HTML) go to
# autobahn/reports/{server,client}-RUNTIME/, runner and binary logs to autobahn/reports/logs/.
# One summary line per combination; the exit status is non-zero when any case is not OK
# (INFORMATIONAL aside), a report is missing or incomplete, or a run could not complete.
#
# Environment (all optional):
#   AUTOBAHN_RUNTIMES   runtimes to test (default: "std tokio smol")
#   AUTOBAHN_SIDES      "server client" (default), or just one of them
#   AUTOBAHN_PARALLEL   combinations run at once (default 2; they use different ports)
#   AUTOBAHN_PORT       first port of the range used (default 19001: server runs take PORT+i,
#                       client runs PORT+10+i)
#   AUTOBAHN_PROFILE    cargo profile of the binaries (default test, the test command's, which
#                       the workspace optimises, so CI reuses what `cargo test` built)
#   AUTOBAHN_CASES      kosoku -i selection, e.g. "1.* 9.7.*" (default: the whole suite)
#   AUTOBAHN_TIMEOUT    seconds one combination may take before it is stopped (default 1200)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

KOSOKU_VERSION=0.1.0
# Cases in kosoku 0.1.0's suite (Autobahn's 1.* to 13.*).
SUITE_CASES=517
VENV=$ROOT/.venv
REPORTS=$ROOT/autobahn/reports
LOGS=$REPORTS/logs
RUNTIMES=${AUTOBAHN_RUNTIMES:-std tokio smol}
SIDES=${AUTOBAHN_SIDES:-server client}
PARALLEL=${AUTOBAHN_PARALLEL:-2}
PORT=${AUTOBAHN_PORT:-19001}
PROFILE=${AUTOBAHN_PROFILE:-test}
TIMEOUT=${AUTOBAHN_TIMEOUT:-1200}
# Cases run at once: the server suite at -p 8, the client with 4 workers.
SERVER_PARALLELISM=8
CLIENT_JOBS=4

started=$(date +%s)
say() { printf '[autobahn %4ss] %s\n' "$(($(date +%s) - started))" "$*"; }

# ------------------------------------------------------------------ the runner

install_kosoku() {
    local have=""
    if [[ -x $VENV/bin/python ]]; then
        have=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("kosoku"))' 2>/dev/null || true)
    fi
    if [[ $have == "$KOSOKU_VERSION" && -x $VENV/bin/kosoku ]]; then
        return
    fi
    say "installing kosoku==$KOSOKU_VERSION into $VENV"
    [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "kosoku==$KOSOKU_VERSION"
}

# ------------------------------------------------------------------ the binaries

# With the profile, packages and features of the test command (`cargo test --workspace
# --all-features --exclude wsio-bench`, which .ci/run runs first and which builds these
# binaries for autobahn/tests/), so that in CI nothing here needs compiling. `--tests` is what
# makes the features the same: without a test target, dev-dependencies add no features, and
# tokio, hyper and wsio-* would be compiled a second time (about 30 s on two cores).
build() {
    say "building autobahn-server and autobahn-client (profile $PROFILE)"
    cargo build --quiet --workspace --all-features --exclude wsio-bench --profile "$PROFILE" \
        --tests --bin autobahn-server --bin autobahn-client
    local dir=$PROFILE
    case $PROFILE in
        dev | test) dir=debug ;;
        bench) dir=release ;;
    esac
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/$dir
}

# ------------------------------------------------------------------ one combination

# Waits until `log` has a line matching `pattern` (the process is listening), as long as
# process `pid` lives, for at most 30 s.
wait_listening() {
    local log=$1 pattern=$2 pid=$3
    for _ in $(seq 300); do
        grep -q "$pattern" "$log" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# The kosoku arguments selecting AUTOBAHN_CASES (split on spaces, never globbed by the shell).
case_args() {
    local selection c
    read -r -a selection <<<"${AUTOBAHN_CASES:-}"
    for c in "${selection[@]}"; do printf -- '-i\n%s\n' "$c"; done
}

# Runs one combination in the background-safe way: every process it starts is stopped when it
# ends, however it ends. Writes the summary line to $LOGS/SIDE-RT.summary, exit status 0/1.
combination() {
    local side=$1 rt=$2 port=$3
    local name=$side-$rt out=$REPORTS/$side-$rt
    # Global (this runs in its own subshell): the EXIT trap runs after the function returned.
    pids=()
    # shellcheck disable=SC2317  # called through the trap
    cleanup() {
        local p
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
        for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    }
    trap cleanup EXIT
    trap 'exit 143' TERM INT
    rm -rf "$out"
    # Before any process starts: a previous run's "listening on" must not be taken for this one's.
    rm -f "$LOGS/$name".*
    local t0 problem=""
    t0=$(date +%s)
    local -a cases
    mapfile -t cases < <(case_args)
    if [[ $side == server ]]; then
        "$BIN/autobahn-server" --runtime "$rt" --addr "127.0.0.1:$port" \
            >"$LOGS/$name.server.log" 2>&1 &
        pids+=($!)
        if ! wait_listening "$LOGS/$name.server.log" "listening on" "${pids[0]}"; then
            problem="autobahn-server did not start (see logs/$name.server.log)"
        else
            # kosoku exits 1 when a case is UNIMPLEMENTED: index.json is the verdict.
            timeout "$TIMEOUT" "$VENV/bin/kosoku" -m fuzzingclient "127.0.0.1:$port" \
                -p "$SERVER_PARALLELISM" -o "$out" "${cases[@]}" \
                >"$LOGS/$name.kosoku.log" 2>&1 &
            pids+=($!)
            wait "${pids[1]}" || [[ $? != 124 ]] || problem="kosoku timed out after ${TIMEOUT} s"
        fi
    else
        # kosoku waits forever for /updateReports if the client never gets there: bounded.
        timeout "$TIMEOUT" "$VENV/bin/kosoku" -m fuzzingserver "127.0.0.1:$port" -o "$out" "${cases[@]}" \
            >"$LOGS/$name.kosoku.log" 2>&1 &
        pids+=($!)
        if ! wait_listening "$LOGS/$name.kosoku.log" "listening on" "${pids[0]}"; then
            problem="kosoku did not start (see logs/$name.kosoku.log)"
        else
            timeout "$TIMEOUT" "$BIN/autobahn-client" --runtime "$rt" --url "ws://127.0.0.1:$port" \
                --agent "wsio-$rt" --jobs "$CLIENT_JOBS" >"$LOGS/$name.client.log" 2>&1 &
            pids+=($!)
            if wait "${pids[1]}"; then
                # The reports are written once /updateReports arrived; give it a minute.
                local waited=0
                while kill -0 "${pids[0]}" 2>/dev/null && ((waited < 600)); do
                    sleep 0.1
                    waited=$((waited + 1))
                done
                kill -0 "${pids[0]}" 2>/dev/null && problem="kosoku did not finish after /updateReports"
            else
                problem="autobahn-client failed (see logs/$name.client.log)"
            fi
        fi
    fi
    local seconds=$(($(date +%s) - t0)) status=0
    "$VENV/bin/python" "$ROOT/autobahn/summarize.py" "$(printf '%-6s %-5s' "$side" "$rt")" \
        "$out" "$EXPECTED" "$seconds" >"$LOGS/$name.summary" || status=1
    if [[ -n $problem ]]; then
        echo "  ($side $rt: $problem)" >>"$LOGS/$name.summary"
        status=1
    fi
    return $status
}

# ------------------------------------------------------------------ main

install_kosoku
build
mkdir -p "$LOGS"
rm -f "$LOGS"/*.summary

EXPECTED=$SUITE_CASES
if [[ -n ${AUTOBAHN_CASES:-} ]]; then
    # A selection: count what it selects.
    EXPECTED=$("$VENV/bin/python" - "$AUTOBAHN_CASES" <<'EOF'
import fnmatch, sys
from kosoku._caseindex import initialize_shims
initialize_shims()
from kosoku.cases import CASES
patterns = sys.argv[1].split()
print(sum(any(fnmatch.fnmatchcase(c, p) for p in patterns) for c in CASES))
EOF
)
fi

combos=()
i=0
for rt in $RUNTIMES; do
    for side in $SIDES; do
        case $side in
            server) combos+=("server $rt $((PORT + i))") ;;
            client) combos+=("client $rt $((PORT + 10 + i))") ;;
            *) echo "unknown side $side" >&2; exit 2 ;;
        esac
    done
    i=$((i + 1))
done

say "running ${#combos[@]} combinations, $PARALLEL at a time, $EXPECTED cases each"
declare -A running=()
failed=0
reap() {
    local pid
    for pid in "${!running[@]}"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" || failed=1
            say "done: ${running[$pid]}"
            unset "running[$pid]"
        fi
    done
}
stop_all() {
    local pid
    for pid in "${!running[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait
}
trap 'stop_all; exit 130' INT TERM
for combo in "${combos[@]}"; do
    while ((${#running[@]} >= PARALLEL)); do
        sleep 0.5
        reap
    done
    # shellcheck disable=SC2086
    (combination $combo) &
    running[$!]=$combo
    say "started: $combo"
done
while ((${#running[@]} > 0)); do
    sleep 0.5
    reap
done

elapsed=$(($(date +%s) - started))
{
    echo "Autobahn TestSuite (kosoku $KOSOKU_VERSION), reports in autobahn/reports/:"
    for combo in "${combos[@]}"; do
        read -r side rt _ <<<"$combo"
        cat "$LOGS/$side-$rt.summary" 2>/dev/null || echo "$side $rt: FAIL (no summary)"
    done
    echo "wall time: ${elapsed} s"
} >"$REPORTS/summary.txt"
echo
cat "$REPORTS/summary.txt"

# A front page linking each combination's report.
html_escape() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'; }
{
    echo '<!DOCTYPE html><html><head><meta charset="utf-8"><title>wsio: Autobahn TestSuite</title></head><body>'
    echo "<h1>wsio: Autobahn TestSuite</h1><p>kosoku $KOSOKU_VERSION, $(date -u '+%Y-%m-%d %H:%M UTC')</p><ul>"
    for combo in "${combos[@]}"; do
        read -r side rt _ <<<"$combo"
        printf '<li><a href="%s/index.html">%s %s</a></li>\n' "$side-$rt" "$side" "$rt"
    done
    echo "</ul><pre>"
    html_escape <"$REPORTS/summary.txt"
    echo "</pre></body></html>"
} >"$REPORTS/index.html"
if ((failed)); then
    echo "Autobahn: FAILED"
    exit 1
fi
echo "Autobahn: all combinations passed"
