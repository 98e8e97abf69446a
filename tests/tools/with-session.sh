#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with an unlocked gnome-keyring and a private HOME, so tests
# use a real Secret Service without touching the user's own keyring.
#
#   tests/tools/with-session.sh CMD [ARGS...]
set -euo pipefail
session=$(mktemp -d /tmp/mailproof-session.XXXXXX)
mkdir -p "$session/xdg"
chmod 700 "$session/xdg"
trap 'rm -rf "$session"' EXIT
# rustup and cargo find their homes from HOME; pin them before HOME moves.
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export PATH="$CARGO_HOME/bin:$PATH"
HOME="$session" XDG_RUNTIME_DIR="$session/xdg" dbus-run-session -- bash -c '
  # gnome-keyring prints a harmless "Failed to set fd limit" line; the unlock creates the login collection.
  echo -n mailproof-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
  exec "$@"' bash "$@"
