#!/usr/bin/env bash
# UI responsiveness while a big job streams its progress: the real app, under Xvfb, runs a job of N actions
# (default 1,000: one action repeated, alice -> bob on a private lab) started from its job builder, while a
# requestAnimationFrame loop in the WebView records every frame. Prints the frame gaps during the job (p50, p99,
# max) and how many exceeded 100 ms (target: none), and the job's wall time.
#
#   tests/bench/ui-progress.sh [N]    # needs root (the lab) and a built app (test-all.sh or run-app.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-1000}
app=${MAILPROOF_APP:-$root/target/debug/mailproof-desktop}
[ -x "$app" ] || { echo "No app binary at $app: build it first (bash tests/tools/run-app.sh)." >&2; exit 1; }
if [ -z "${MAILPROOF_BENCH_SESSION:-}" ]; then
  MAILPROOF_BENCH_SESSION=1 exec bash "$root/tests/tools/with-session.sh" \
    xvfb-run -a -s "-screen 0 1280x800x24 -noreset" bash "$0" "$@"
fi
# shellcheck source=lab-with-bob.sh
source "$root/tests/bench/lab-with-bob.sh"
with_alice_verified
export PATH="$HOME/.cargo/bin:$PATH"
node "$root/tests/bench/ui-progress.mjs" "$app" "$n" "$LAB_CA" "$work"
