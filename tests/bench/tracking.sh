#!/usr/bin/env bash
# Message tracking at scale: seeds ROWS (default 1,000,000) tracked messages into a real SQLite file and prints
# query latency per filter, fuzzy search, count, a 50,000-row CSV export, database size and seeding rate.
#   tests/bench/tracking.sh [ROWS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$HOME/.cargo/bin:$PATH"
cargo bench -q -p mailproof-tests --bench tracking --manifest-path "$root/Cargo.toml" -- "${1:-1000000}"
