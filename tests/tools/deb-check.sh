#!/usr/bin/env bash
# Installs a Mailproof .deb with apt, checks what it put where, runs `mailproof --version` and `mailproof doctor`
# from the install, starts the installed app under Xvfb (a screenshot, which must not be blank), and removes the
# package again, checking nothing of it stays. Run as root inside tests/tools/with-session.sh (doctor needs the
# keyring):
#
#   tests/tools/deb-check.sh PATH/TO/Mailproof.deb OUT_DIR
set -euo pipefail
deb=$(realpath "$1")
out=$2
mkdir -p "$out"
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
fail() { echo "deb-check: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "installing a package needs root"
dpkg -s mailproof > /dev/null 2>&1 && fail "a mailproof package is installed already; remove it first (apt-get purge mailproof)"
trap 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -q mailproof > /dev/null 2>&1 || true' EXIT

size=$(du -m "$deb" | cut -f1)
start=$(date +%s%N)
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$deb" > "$out/install.log" 2>&1 \
  || { cat "$out/install.log" >&2; fail "apt could not install $deb"; }
install_ms=$(( ($(date +%s%N) - start) / 1000000 ))

say "The package's files"
for f in /usr/bin/mailproof-desktop /usr/bin/mailproof /usr/share/applications/Mailproof.desktop \
  /usr/share/icons/hicolor/128x128/apps/mailproof-desktop.png /usr/share/man/man1/mailproof.1.gz \
  /usr/share/man/man1/mailproof-run.1.gz /usr/share/bash-completion/completions/mailproof \
  /usr/share/zsh/vendor-completions/_mailproof /usr/share/fish/vendor_completions.d/mailproof.fish \
  /usr/lib/systemd/system/mailproof-agent.service; do
  [ -e "$f" ] || fail "$f is not installed"
done
systemd-analyze verify --man=no /usr/lib/systemd/system/mailproof-agent.service > "$out/unit-verify.txt" 2>&1 \
  || { cat "$out/unit-verify.txt" >&2; fail "the agent's unit does not verify"; }
grep -q '^Exec=mailproof-desktop' /usr/share/applications/Mailproof.desktop || fail "the desktop entry does not start the app"
zcat /usr/share/man/man1/mailproof-run.1.gz | grep -q 'quiet' || fail "mailproof-run(1) does not document --quiet"
[ "$(command -v mailproof)" = /usr/bin/mailproof ] || fail "mailproof is not the installed command on PATH"

say "mailproof --version and doctor, from the install"
version=$(/usr/bin/mailproof --version)
[ "$version" = "mailproof $(dpkg-query -W -f='${Version}' mailproof)" ] || fail "--version says '$version'"
data=$(mktemp -d)
MAILPROOF_DATA_DIR="$data/cli" /usr/bin/mailproof doctor > "$out/doctor.txt" 2>&1 || { cat "$out/doctor.txt" >&2; fail "doctor failed"; }

say "The installed app under Xvfb"
MAILPROOF_DATA_DIR="$data/app" xvfb-run -a -s "-screen 0 1280x800x24" bash -c '
  /usr/bin/mailproof-desktop > "$1/app.log" 2>&1 &
  app=$!
  sleep 8
  kill -0 "$app" || { echo "the installed app exited:" >&2; cat "$1/app.log" >&2; exit 1; }
  import -window root "$1/installed-app.png"
  kill "$app"; wait "$app" 2> /dev/null || true
' _ "$out" || fail "the installed app did not start"
spread=$(convert "$out/installed-app.png" -colorspace Gray -format '%[fx:standard_deviation]' info:)
python3 -c "import sys; sys.exit(0 if float('$spread') > 0.01 else 1)" || fail "the screenshot is blank (spread $spread)"

say "Removing it"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q mailproof > "$out/remove.log" 2>&1 || fail "apt could not remove it"
trap - EXIT
for f in /usr/bin/mailproof-desktop /usr/bin/mailproof /usr/share/applications/Mailproof.desktop /usr/share/man/man1/mailproof.1.gz \
  /usr/lib/systemd/system/mailproof-agent.service; do
  [ ! -e "$f" ] || fail "$f is still there after removal"
done
dpkg -s mailproof > /dev/null 2>&1 && fail "dpkg still knows the package"
rm -rf "$data"
echo "DEB | $(basename "$deb") | ${size} MiB | installed in ${install_ms} ms | $version | app started, screenshot $out/installed-app.png | removed cleanly"
