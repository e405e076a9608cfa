#!/usr/bin/env bash
# The interop suite (issue 09): Chromium and Python `websockets` against wsio's servers and
# clients on every runtime, and the chat example in the browser. Installs what it needs first
# (setup.sh), builds our peers once, prints one line per check and ends with
# `N passed, N failed`; exits non-zero if any check failed. See run.py for the checks.
#
#   bash tests/interop/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/setup.sh"
# Close reasons carry non-ASCII text; every Python involved speaks UTF-8 whatever the locale.
export PYTHONUTF8=1
exec "$here/.venv/bin/python" "$here/run.py" "$@"
