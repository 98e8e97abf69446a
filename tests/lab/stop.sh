#!/usr/bin/env bash
# Stops the lab in DIR (tests/lab/start.sh): the demo gateway's own stop script.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/../../src-tauri/core/gateway/stop.sh" "$@"
