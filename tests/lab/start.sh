#!/usr/bin/env bash
# Starts a mail lab for the tests: the demo gateway's own start script (src-tauri/core/gateway/start.sh, the code
# `mailproof lab start` runs) with the tests' fake Google as its OAuth 2.0 issuer. Arguments as that script's:
#
#   tests/lab/start.sh [DIR] [--ntlm]     # prints DIR/lab.env as its last line; stop with tests/lab/stop.sh DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/../../src-tauri/core/gateway/start.sh" --oauth-issuer "$here/../fakes/google.py" "$@"
