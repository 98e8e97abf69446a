#!/usr/bin/env bash
# Diagnostics benchmark: the full connection test of a profile's two servers (IMAP over TLS + SMTP submission
# with STARTTLS, both signing in) against a private lab, through the `mailproof` command.
#
#   tests/bench/diagnostics.sh [RUNS]     # default 20 runs; needs root (the lab) and a D-Bus keyring session
#
# Prints the wall time of each `mailproof profile test` (process start to exit, so it includes start-up) and
# the time the diagnostics themselves report, as p50/p95. Target: full diagnostics <= 2 s. Then times
# autodiscovery when its sources are dead (target <= 3 s).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-20}
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ] || [ -z "${MAILPROOF_BENCH_SESSION:-}" ]; then
  MAILPROOF_BENCH_SESSION=1 exec bash "$root/tests/tools/with-session.sh" bash "$0" "$@"
fi
# shellcheck source=lab-with-bob.sh
source "$root/tests/bench/lab-with-bob.sh"
for i in $(seq "$runs"); do
  t0=$(date +%s%N)
  "$bin" profile test bob@example.test --json --ca "$LAB_CA" > "$work/run-$i.json" 2>/dev/null
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000000 )) >> "$work/wall.txt"
done
# Autodiscovery with dead sources: a DNS server that never answers (SRV, MX and the guess wait for it) and an
# HTTP server that accepts connections and never answers (both autoconfig files and the ISPDB wait for it).
python3 - "$work/dead.ports" <<'PY' &
import socket, sys, time
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", 0))
tcp = socket.socket(); tcp.bind(("127.0.0.1", 0)); tcp.listen(64)
open(sys.argv[1], "w").write(f"{udp.getsockname()[1]} {tcp.getsockname()[1]}\n")
held = []
while True:
    held.append(tcp.accept()[0])
PY
dead_pid=$!
for _ in $(seq 100); do [ -s "$work/dead.ports" ] && break; sleep 0.05; done
read -r dead_dns dead_http < "$work/dead.ports"
for i in $(seq 5); do
  t0=$(date +%s%N)
  MAILPROOF_DISCOVERY_DNS="127.0.0.1:$dead_dns" MAILPROOF_DISCOVERY_HTTP_BASE="http://127.0.0.1:$dead_http" \
    MAILPROOF_ISPDB_BASE="http://127.0.0.1:$dead_http/ispdb/" "$bin" profile discover bob@example.test --json > /dev/null || true
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000000 )) >> "$work/discover.txt"
done
kill "$dead_pid"
python3 - "$work" "$runs" <<'PY'
import json, sys, statistics
work, runs = sys.argv[1], int(sys.argv[2])
wall = sorted(int(x) for x in open(f"{work}/wall.txt"))
inner = sorted(max(json.load(open(f"{work}/run-{i}.json"))[s]["millis"] for s in ("incoming", "outgoing")) for i in range(1, runs + 1))
ok = all(json.load(open(f"{work}/run-{i}.json"))["ok"] for i in range(1, runs + 1))
pct = lambda xs, p: xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
print(f"runs: {runs}, all passed: {ok}")
print(f"diagnostics of both servers (as reported): p50 {pct(inner, 50)} ms, p95 {pct(inner, 95)} ms")
print(f"whole `mailproof profile test` process:    p50 {pct(wall, 50)} ms, p95 {pct(wall, 95)} ms (target <= 2000 ms)")
disc = sorted(int(x) for x in open(f"{work}/discover.txt"))
print(f"autodiscovery, every source dead (6 sources, 2.5 s limit each): p50 {pct(disc, 50)} ms, max {disc[-1]} ms (target <= 3000 ms)")
PY
