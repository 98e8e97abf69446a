#!/usr/bin/env bash
# Start-up benchmark: the app's cold start to first paint and its idle resident memory, under Xvfb.
#
#   tests/bench/startup.sh [RUNS]     # default 5 runs; needs a built app (tests/tools/run-app.sh or test-all.sh)
#
# Start-up is measured from just before exec to the UI's first frame (the UI reports it through the
# `ui_ready` command; the app prints it when MAILPROOF_REPORT_STARTUP is set). Each run uses a new, empty data
# folder, so it includes creating and migrating the database. The first run is as cold as this machine allows:
# the page cache is dropped first when we may (root, writable /proc/sys/vm/drop_caches).
# Idle memory is read 5 s after first paint: the app process alone, and with its WebKit helper processes,
# as proportional set size (PSS, which shares libraries fairly) and as plain RSS.
# Targets: first paint <= 1000 ms, idle memory <= 150 MB.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-5}
app=${MAILPROOF_APP:-$root/target/debug/mailproof-desktop}
[ -x "$app" ] || { echo "No app binary at $app: build it first (bash tests/tools/run-app.sh, or cargo build -p mailproof-desktop)." >&2; exit 1; }
work=$(mktemp -d /tmp/mailproof-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

if [ -z "${DISPLAY:-}" ]; then
  exec bash "$root/tests/tools/with-session.sh" xvfb-run -a -s "-screen 0 1280x800x24 -noreset" bash "$0" "$@"
fi

# Sums a /proc/PID/smaps_rollup field (kB) over the given pids.
sum_field() { local field=$1; shift; local total=0 v
  for pid in "$@"; do
    v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
    total=$(( total + ${v:-0} ))
  done
  echo "$total"
}
descendants() { local pid=$1 kids
  kids=$(pgrep -P "$pid" || true)
  for k in $kids; do echo "$k"; descendants "$k"; done
}

printf '%-5s %-8s %14s %16s %16s %16s\n' run cache first_paint_ms app_pss_mb all_pss_mb all_rss_mb
paint=()
for i in $(seq "$runs"); do
  cache=warm
  if [ "$i" = 1 ] && sync && echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then cache=cold; fi
  data="$work/data-$i"; mkdir -p "$data"
  log="$work/run-$i.log"
  t0=$(date +%s%3N)
  MAILPROOF_DATA_DIR="$data" MAILPROOF_REPORT_STARTUP=1 "$app" > "$log" 2>&1 &
  pid=$!
  t1=""
  for _ in $(seq 300); do
    t1=$(sed -n 's/.*first paint at epoch_ms=\([0-9]*\).*/\1/p' "$log" | head -n 1)
    [ -n "$t1" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  if [ -z "$t1" ]; then
    kill "$pid" 2>/dev/null || true
    echo "run $i: the app never reported its first paint; its output:" >&2; cat "$log" >&2; exit 1
  fi
  sleep 5
  mapfile -t helpers < <(descendants "$pid")
  app_pss=$(sum_field Pss "$pid")
  all_pss=$(sum_field Pss "$pid" "${helpers[@]}")
  all_rss=$(sum_field Rss "$pid" "${helpers[@]}")
  if [ "$i" = "$runs" ]; then
    breakdown=$(for p in "$pid" "${helpers[@]}"; do
      printf '  %-28s pss %6.1f MB\n' "$(cat /proc/$p/comm)" "$(awk '$1 == "Pss:" { print $2 / 1024 }' /proc/$p/smaps_rollup)"
    done)
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  ms=$(( t1 - t0 ))
  paint+=("$ms")
  awk -v i="$i" -v c="$cache" -v ms="$ms" -v a="$app_pss" -v p="$all_pss" -v r="$all_rss" \
    'BEGIN { printf "%-5s %-8s %14s %16.1f %16.1f %16.1f\n", i, c, ms, a / 1024, p / 1024, r / 1024 }'
done
median=$(printf '%s\n' "${paint[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "first paint median over $runs runs: ${median} ms (target <= 1000 ms); memory target <= 150 MB"
echo "processes in the last run:"; echo "$breakdown"
echo "app binary: $app ($(du -h "$app" | cut -f1))"
