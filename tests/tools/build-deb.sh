#!/usr/bin/env bash
# Builds Mailproof's .deb with Tauri's bundler: the app, its desktop entry and icons, and the `mailproof` command
# on PATH with its man pages and shell completions (generated from the command's own definitions), and the agent's
# systemd unit (`mailproof agent install` sets it up).
#
#   tests/tools/build-deb.sh            # a release build (several minutes)
#   tests/tools/build-deb.sh --debug    # from the test build, in seconds (what CI installs and launches)
#
# The UI must be built first (ui/dist). Prints the path of the .deb as its last line.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
profile=release
tauri_flags=()
cargo_flags=(--release)
if [ "${1:-}" = --debug ]; then
  profile=debug
  tauri_flags=(--debug)
  cargo_flags=()
fi
[ -f ui/dist/index.html ] || { echo "build-deb: build the UI first: (cd ui && npm ci && npm run build)" >&2; exit 1; }

cargo build -p mailproof-cli --locked "${cargo_flags[@]}" --quiet
cli="$root/target/$profile/mailproof"
extra="$root/target/$profile/deb-extra"
rm -rf "$extra"
mkdir -p "$extra/man"
"$cli" man --dir "$extra/man" > /dev/null
gzip -9n "$extra"/man/*.1
"$cli" completions bash > "$extra/mailproof.bash"
"$cli" completions zsh > "$extra/_mailproof"
"$cli" completions fish > "$extra/mailproof.fish"
"$cli" agent unit > "$extra/mailproof-agent.service"

# Where each file goes in the package, merged into tauri.conf.json's bundle for this build only.
config=$(python3 - "$cli" "$extra" <<'PY'
import json, os, sys
cli, extra = sys.argv[1], sys.argv[2]
files = {
    "/usr/bin/mailproof": cli,
    "/usr/share/bash-completion/completions/mailproof": f"{extra}/mailproof.bash",
    "/usr/share/zsh/vendor-completions/_mailproof": f"{extra}/_mailproof",
    "/usr/share/fish/vendor_completions.d/mailproof.fish": f"{extra}/mailproof.fish",
    # The agent's service, inert until `mailproof agent install` writes its identity (ConditionPathExists).
    "/usr/lib/systemd/system/mailproof-agent.service": f"{extra}/mailproof-agent.service",
}
for page in sorted(os.listdir(f"{extra}/man")):
    files[f"/usr/share/man/man1/{page}"] = f"{extra}/man/{page}"
print(json.dumps({"bundle": {"linux": {"deb": {"files": files}}}}))
PY
)
(cd src-tauri && npx --prefix ../ui tauri build "${tauri_flags[@]}" --bundles deb --config "$config") >&2
ls "$root/target/$profile/bundle/deb/"*.deb | tail -n 1
