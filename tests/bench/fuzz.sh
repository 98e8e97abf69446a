#!/usr/bin/env bash
# Fuzz campaigns: each target of src-tauri/fuzz/targets.rs under libFuzzer (cargo-fuzz, nightly) for SECS seconds
# (default 300), seeded with the fixtures, src-tauri/fuzz/seeds/, the kept regressions and ../shared/corpora
# (read in place, never copied into the tree). Prints per target the executions, executions per second, coverage
# and crashes, and last the total. Each crash is copied to src-tauri/fuzz/regressions/<target>/ — commit it with
# its fix: the normal test suite replays every kept input on stable (tests/rust/fuzz_replay.rs).
#
# Built with -O (optimised, without debug assertions: the product as shipped); the replay runs the same inputs
# with debug assertions on. No sanitizer by default: the targets are safe Rust, where AddressSanitizer finds
# nothing a panic does not, and it slowed the bounce reader from 2,218 to 639 executions a second (measured);
# MAILPROOF_FUZZ_SANITIZER=address brings it back (for the unsafe code in dependencies).
#
#   tests/bench/fuzz.sh [SECS] [TARGET...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$HOME/.cargo/bin:$PATH"
secs=${1:-300}
sanitizer=${MAILPROOF_FUZZ_SANITIZER:-none}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(message bounce autoconfig replies agent_wire)
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "libFuzzer needs a nightly toolchain (rustup toolchain install nightly); none is installed here" >&2
  exit 2
fi
cargo +nightly fuzz --version > /dev/null 2>&1 || cargo install cargo-fuzz --locked
fuzz="$root/src-tauri/fuzz"
work=$(mktemp -d /tmp/mailproof-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
shared="$root/../shared/corpora"
seed() { # TARGET DIR...: copies the files under each DIR into the target's working corpus
  local t=$1; shift
  mkdir -p "$work/corpus/$t"
  for d in "$@"; do
    [ -d "$d" ] && find "$d" -type f ! -name 'README*' ! -name 'LICENSE*' ! -name '*.json' -exec cp -t "$work/corpus/$t" {} + 2>/dev/null || true
  done
}
seed message "$root/tests/fixtures/bounces" "$shared" "$fuzz/regressions/message"
seed bounce "$root/tests/fixtures/bounces" "$shared" "$fuzz/regressions/bounce"
seed autoconfig "$root/tests/fixtures/ispdb" "$fuzz/regressions/autoconfig"
seed replies "$fuzz/seeds/replies" "$fuzz/regressions/replies"
mkdir -p "$work/corpus/agent_wire"
cp "$fuzz/seeds/agent_wire/"* "$work/corpus/agent_wire/"
[ -d "$fuzz/regressions/agent_wire" ] && cp "$fuzz/regressions/agent_wire/"* "$work/corpus/agent_wire/" 2>/dev/null || true
[ -d "$shared" ] || echo "../shared/corpora is absent: seeding from the fixtures only"
(cd "$fuzz" && cargo +nightly fuzz build -O -s "$sanitizer" > "$work/build.log" 2>&1) || { tail -30 "$work/build.log"; exit 1; }
total_execs=0
total_crashes=0
for t in "${targets[@]}"; do
  mkdir -p "$work/artifacts/$t"
  (cd "$fuzz" && cargo +nightly fuzz run -O -s "$sanitizer" "$t" "$work/corpus/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len=1048576 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/$t/" -fork=0 > "$work/$t.log" 2>&1) || true
  execs=$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -a -o 'stat::average_exec_per_sec: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -a -o 'cov: [0-9]*' "$work/$t.log" | tail -n 1 | grep -o '[0-9]*$' || echo "?")
  crashes=$(find "$work/artifacts/$t" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  if [ "$crashes" -gt 0 ]; then
    mkdir -p "$fuzz/regressions/$t"
    cp "$work/artifacts/$t/"* "$fuzz/regressions/$t/"
    grep -a -m 3 -E 'panicked at|ERROR: libFuzzer|SUMMARY' "$work/$t.log" | sed "s/^/  $t: /"
  fi
  echo "$t: ${execs:-0} executions in ${secs} s (${rate:-0}/s), coverage ${cov}, crashes $crashes"
  total_execs=$((total_execs + ${execs:-0}))
  total_crashes=$((total_crashes + crashes))
done
echo "fuzzed ${#targets[@]} targets: $total_execs executions, $total_crashes crashes"
[ "$total_crashes" -eq 0 ]
