#!/usr/bin/env bash
# Verification benchmark: how long after the verification mail is accepted by the sender's server the actor's
# status changes, on a private lab, through `mailproof profile verify`.
#
#   tests/bench/verification.sh [RUNS]     # default 20 runs per poll interval; needs root (the lab)
#
# The figure is the engine's own `foundAfterMillis`: from the SMTP 250 for the verification mail to the search
# that finds it (the lab delivers in a few ms, so this is essentially the watching delay). Target: p50 <= 100 ms
# with polling. IMAP IDLE is not built yet, so there is no IDLE figure to print beside it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-20}
if [ -z "${MAILPROOF_BENCH_SESSION:-}" ]; then
  MAILPROOF_BENCH_SESSION=1 exec bash "$root/tests/tools/with-session.sh" bash "$0" "$@"
fi
# shellcheck source=lab-with-bob.sh
source "$root/tests/bench/lab-with-bob.sh"
cat > "$work/sender.toml" <<TOML
host = "$LAB_HOST"
port = $LAB_SUBMISSION_PORT
security = "startTls"
requiresAuth = true
auth = "plain"
username = "alice@example.test"
fromAddress = "alice@example.test"
TOML
echo "$LAB_PASSWORD_ALICE" | "$bin" sender set --file "$work/sender.toml" > /dev/null
for poll in 100 1000; do
  for i in $(seq "$runs"); do
    "$bin" profile verify bob@example.test --json --ca "$LAB_CA" --wait 30 --poll "$poll" 2>/dev/null > "$work/poll-$poll-$i.json"
  done
done
python3 - "$work" "$runs" <<'PY'
import json, sys
work, runs = sys.argv[1], int(sys.argv[2])
pct = lambda xs, p: xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
for poll in (100, 1000):
    found = sorted(json.load(open(f"{work}/poll-{poll}-{i}.json"))[0]["foundAfterMillis"] for i in range(1, runs + 1))
    print(f"polling every {poll:4d} ms: status changed after p50 {pct(found, 50)} ms, p95 {pct(found, 95)} ms ({runs} runs)")
print("target: p50 <= 100 ms with polling; IMAP IDLE: not built yet, no figure")
PY
