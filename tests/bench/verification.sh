#!/usr/bin/env bash
# Verification benchmark: how long after the verification mail is accepted by the sender's server the actor's
# status changes, on a private lab, through `mailproof profile verify`.
#
#   tests/bench/verification.sh [RUNS]     # default 20 runs per poll interval; needs root (the lab)
#
# The figure is the engine's own `foundAfterMillis`: from the SMTP 250 for the verification mail to the search
# that finds it (the lab delivers in a few ms, so this is essentially the watching delay). Target: p50 <= 100 ms
# with polling; the IMAP IDLE figure (INBOX watched by IDLE, a 1 s poll for the other folders) beside it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-20}
if [ -z "${MAILPROOF_BENCH_SESSION:-}" ]; then
  MAILPROOF_BENCH_SESSION=1 exec bash "$root/tests/tools/with-session.sh" bash "$0" "$@"
fi
# shellcheck source=lab-with-bob.sh
source "$root/tests/bench/lab-with-bob.sh"
set_sender alice
for poll in 100 1000; do
  for i in $(seq "$runs"); do
    "$bin" profile verify bob@example.test --json --ca "$LAB_CA" --wait 30 --poll "$poll" --no-idle 2>/dev/null > "$work/poll-$poll-$i.json"
  done
done
for i in $(seq "$runs"); do
  "$bin" profile verify bob@example.test --json --ca "$LAB_CA" --wait 30 --poll 1000 2>/dev/null > "$work/idle-$i.json"
done
python3 - "$work" "$runs" <<'PY'
import json, sys
work, runs = sys.argv[1], int(sys.argv[2])
pct = lambda xs, p: xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
def report(label, prefix):
    found = sorted(json.load(open(f"{work}/{prefix}-{i}.json"))[0]["foundAfterMillis"] for i in range(1, runs + 1))
    print(f"{label}: status changed after p50 {pct(found, 50)} ms, p95 {pct(found, 95)} ms ({runs} runs)")
for poll in (100, 1000):
    report(f"polling every {poll:4d} ms      ", f"poll-{poll}")
report("IMAP IDLE (+1 s poll)       ", "idle")
print("target: p50 <= 100 ms with polling")
PY
