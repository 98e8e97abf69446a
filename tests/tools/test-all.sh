#!/usr/bin/env bash
# Every test, on real parts: UI checks and unit tests, Rust unit and integration tests against a real mail lab
# and a real keyring, and the real app driven through WebDriver under Xvfb. Installs what is missing first.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

bash tests/tools/install-deps.sh --tests
export PATH="$HOME/.cargo/bin:$PATH"
out="$root/tests/out"
mkdir -p "$out"

say "UI: type check, unit tests, build"
(cd ui && npm run --silent check && npm test --silent && npm run --silent build)

say "Starting the mail lab"
lab_dir=$(mktemp -d /tmp/mailproof-lab.XXXXXX)
trap 'bash tests/lab/stop.sh "$lab_dir"' EXIT
export MAILPROOF_LAB_ENV
MAILPROOF_LAB_ENV=$(bash tests/lab/start.sh "$lab_dir" --ntlm | tail -n 1)

# Missing real components fail the tests instead of skipping them.
export MAILPROOF_REQUIRE_REAL=1

say "Rust: unit, store, IPC, keyring and lab tests"
bash tests/tools/with-session.sh cargo test --workspace --locked

say "E2E: the real app in its WebView"
# cargo test built the app binary with the same features; this is a no-op unless something changed.
cargo build -p mailproof-desktop -p mailproof-cli --locked --quiet
export MAILPROOF_APP="$root/target/debug/mailproof-desktop" MAILPROOF_CLI="$root/target/debug/mailproof"
export MAILPROOF_E2E_OUT="$out/e2e"
bash tests/tools/with-session.sh xvfb-run -a -s "-screen 0 1280x800x24 -noreset" node --test --test-concurrency=1 tests/e2e/

say "The .deb: built from the test build, installed with apt, started, removed"
deb=$(bash tests/tools/build-deb.sh --debug | tail -n 1)
bash tests/tools/with-session.sh bash tests/tools/deb-check.sh "$deb" "$out/deb"

say "All tests passed. Screenshots: $out/e2e"
