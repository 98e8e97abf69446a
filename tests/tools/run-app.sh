#!/usr/bin/env bash
# Installs what is missing, builds the UI and the app, and launches Mailproof.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bash tests/tools/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
(cd ui && npm run --silent build)
cargo build -p mailproof-desktop --locked
exec "$root/target/debug/mailproof-desktop" "$@"
