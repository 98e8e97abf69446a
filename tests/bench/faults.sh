#!/usr/bin/env bash
# The fault matrix: every fault case of tests/rust/faults.rs against a private lab, behind the fault-injecting
# proxy (tests/rust/support/faults.rs), with the fault cases other suites hold (the engine killed mid-job, Graph's
# and Gmail's throttling against their fakes, DNS failing under the `mailproof` command), and the soak: 10,000
# actions to ten destinations under random faults (tests/rust/soak.rs; MAILPROOF_SOAK_ACTIONS). Prints one line
# per case — fault, expected, seen — and last `faults survived N/M` (a case survives when everything it asserts
# holds: the verdicts, the reason in words, the time it took, no action lost or decided twice). The same cases run
# in the normal test suite (the soak with 200 actions).
#
#   tests/bench/faults.sh          # needs root (the lab); exits non-zero unless every case survives
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${MAILPROOF_BENCH_SESSION:-}" ]; then
  MAILPROOF_BENCH_SESSION=1 exec bash "$root/tests/tools/with-session.sh" bash "$0" "$@"
fi
export PATH="$HOME/.cargo/bin:$PATH"
work=$(mktemp -d /tmp/mailproof-faults.XXXXXX)
chmod 755 "$work" # the lab's daemons run as their own users and must reach $work/lab
trap 'bash "$root/tests/lab/stop.sh" "$work/lab"; rm -rf "$work"' EXIT
env_file=$(bash "$root/tests/lab/start.sh" "$work/lab" | tail -n 1)
export MAILPROOF_LAB_ENV="$env_file" MAILPROOF_REQUIRE_REAL=1
set +e
run() { # TEST [FILTER] [PACKAGE]
  cargo test --locked --manifest-path "$root/Cargo.toml" -p "${3:-mailproof-tests}" --test "$1" -- --nocapture \
    ${2:+"$2"} >> "$work/out.txt" 2>&1
}
run faults
run actions a_job_stopped_mid_run_is_picked_up
run graph throttling_is_waited_out
run gmail rate_limits_are_told_apart
run cli a_run_on_a_machine_whose_dns_fails mailproof-cli
MAILPROOF_SOAK_ACTIONS=${MAILPROOF_SOAK_ACTIONS:-10000} run soak
set -e
python3 - "$work/out.txt" <<'PY'
import re, sys
out = open(sys.argv[1], encoding="utf-8", errors="replace").read()
cases = re.findall(r"^test (\S+) \.\.\. (ok|FAILED)$", out, re.M)
for line in re.findall(r"^FAULT \| (.*)$", out, re.M):
    print(line)
for name, result in cases:
    if result != "ok":
        print(f"FAILED | {name}")
survived = sum(1 for _, r in cases if r == "ok")
if not cases:
    print(out[-3000:])
print(f"faults survived {survived}/{len(cases)}")
sys.exit(0 if cases and survived == len(cases) else 1)
PY
