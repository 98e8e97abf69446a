#!/usr/bin/env bash
# Installs what Mailproof needs on Debian 12, skipping whatever is already there. Run as root.
#
#   tests/tools/install-deps.sh          # to build and run the app
#   tests/tools/install-deps.sh --tests  # also the mail lab, keyring session, Xvfb and WebDriver for the tests
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
for_tests=false
[ "${1:-}" = "--tests" ] && for_tests=true

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

packages=(
  # build: Tauri 2 on WebKitGTK 4.1, the keyring crate's D-Bus binding
  build-essential curl wget file pkg-config libwebkit2gtk-4.1-dev libxdo-dev libssl-dev
  libayatana-appindicator3-dev librsvg2-dev libdbus-1-dev
  # run: a Secret Service keyring for passwords
  gnome-keyring dbus dbus-x11 libsecret-tools
  # the agent as a service: systemd keeps its identity as an encrypted credential (systemd-creds)
  systemd
)
# The local demo gateway (`mailproof lab start`, the first run's "Try it on the local demo gateway") and the
# tests' mail lab, which runs the same gateway: Postfix, Dovecot, OpenDKIM, run with their own configuration.
gateway=(postfix dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-sieve opendkim openssl python3 bsdutils procps)
packages+=("${gateway[@]}")
if $for_tests; then
  packages+=(
    # a local DNS server for the autodiscovery tests
    dnsmasq-base
    # the lab's NTLM side: a Samba AD DC on loopback that Dovecot asks through winbind
    samba winbind samba-ad-provision samba-dsdb-modules samba-vfs-modules libnss-wrapper
    # the real app in its WebView under Xvfb, and screenshots
    xvfb xauth webkit2gtk-driver imagemagick
    # typing into native dialogs (the save dialog of an export)
    xdotool
  )
fi
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "These Debian packages are missing: ${missing[*]}. Run this script as root." >&2; exit 1; }
  say "Installing Debian packages: ${missing[*]}"
  echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
  echo "postfix postfix/mailname string localhost" | debconf-set-selections
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
  # The demo gateway runs these daemons with its own configuration on loopback; the system's own services, which
  # the packages just installed may have started (Dovecot's listens on every interface), are stopped and disabled.
  # Services of packages that were there before are left alone.
  for unit in postfix:postfix dovecot-imapd:dovecot dovecot-pop3d:dovecot opendkim:opendkim; do
    case " ${missing[*]} " in
      *" ${unit%%:*} "*)
        if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
          systemctl disable --now "${unit#*:}.service" >/dev/null 2>&1 || true
        else
          service "${unit#*:}" stop >/dev/null 2>&1 || true
        fi ;;
    esac
  done
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || { echo "Node.js 18 or newer is needed (found $(node --version))." >&2; exit 1; }

if ! command -v cargo >/dev/null; then
  [ -x "$HOME/.cargo/bin/cargo" ] || {
    say "Installing Rust with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  }
  export PATH="$HOME/.cargo/bin:$PATH"
fi

if [ ! -d "$root/ui/node_modules" ] || [ "$root/ui/package.json" -nt "$root/ui/node_modules/.package-lock.json" ]; then
  say "Installing the UI's npm packages"
  (cd "$root/ui" && npm install --no-audit --no-fund --loglevel=error)
fi

if $for_tests && ! command -v tauri-driver >/dev/null; then
  say "Installing tauri-driver"
  cargo install tauri-driver --version '^2' --locked --quiet
fi
