#!/usr/bin/env bash
# Installs what the interop suite needs, and only what is missing, so that it can run on every
# invocation of run.sh: Debian's chromium, a venv with the pinned Python `websockets`
# (requirements.txt), and the pinned playwright-core (package-lock.json). Needs root or sudo
# only for apt, and only on a machine without chromium.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

sudo=""
if [ "$(id -u)" != 0 ]; then sudo=sudo; fi

# Registries can fail for a moment; three tries before giving up. The command's output is
# kept in a log and shown only if the last try fails.
retry() {
    local log
    log=$(mktemp)
    for attempt in 1 2 3; do
        if "$@" >"$log" 2>&1; then
            rm -f "$log"
            return 0
        fi
        echo "setup: '$*' failed (try $attempt of 3)" >&2
        if [ "$attempt" -lt 3 ]; then sleep $((attempt * 5)); fi
    done
    cat "$log" >&2
    rm -f "$log"
    return 1
}

apt_updated=""
apt_install() {
    if [ -z "$apt_updated" ]; then
        retry $sudo apt-get update -qq
        apt_updated=yes
    fi
    retry $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# Chromium: Debian's build, since no browser can be downloaded by playwright here.
if [ ! -x /usr/bin/chromium ]; then
    echo "setup: installing chromium (apt)"
    apt_install chromium
fi

# Python websockets in a venv of its own.
want_ws=$(sed -n 's/^websockets==//p' requirements.txt)
if ! .venv/bin/python -c "import sys, websockets; sys.exit(websockets.__version__ != '$want_ws')" 2>/dev/null; then
    echo "setup: creating .venv with websockets $want_ws"
    if ! python3 -m venv --clear .venv 2>/dev/null; then
        # A Debian python3 without ensurepip.
        apt_install python3-venv
        python3 -m venv --clear .venv
    fi
    retry .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
fi

# playwright-core, exactly as locked. It downloads no browser (that is the `playwright`
# package); the variable makes sure of it.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt_install nodejs npm
fi
want_pw=$(node -p "require('./package-lock.json').packages['node_modules/playwright-core'].version")
have_pw=$(node -p "require('./node_modules/playwright-core/package.json').version" 2>/dev/null || true)
if [ "$have_pw" != "$want_pw" ]; then
    echo "setup: npm ci (playwright-core $want_pw)"
    retry env PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
fi
