#!/usr/bin/env bash
# Starts a private mail gateway: Postfix (SMTP in, submission, SMTPS, the gateway policy) + Dovecot (IMAP, POP3,
# LMTP, Sieve) + OpenDKIM on free loopback ports, with its own CA. Several run side by side. It is the test lab
# (tests/lab/start.sh runs this file) and the demo gateway of `mailproof lab start` (which carries these files
# inside the binary: src/demo/gateway.rs), so the tests exercise exactly what users try.
#
#   start.sh [DIR] [--ntlm] [--oauth-issuer SCRIPT]     # DIR defaults to a new temporary folder
#
# --ntlm also provisions a Samba AD DC on loopback (domain LAB, user LAB\bob) and serves IMAP, POP3 and
# submission that sign in with NTLMv2 through it (about 5 s more; needs the samba packages).
#
# --oauth-issuer starts SCRIPT (the tests' fake Google) as the OAuth 2.0 issuer Dovecot checks tokens with.
#
# Prints the path of DIR/lab.env (ports, users, passwords, CA) as its last line. Stop with tests/lab/stop.sh DIR.
# Needs root (Postfix's master must start as root). See tests/lab/README.md for the gateway policy.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ntlm=false
issuer=
# Every lab mailbox; the gateway treats some specially (conf/recipient_access, README).
LAB_USER_NAMES="alice bob carol dan erin frank grace heidi ivan judy kate leo mike nina olga alerts verifier"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ntlm) ntlm=true ;;
    --oauth-issuer) issuer=${2:?--oauth-issuer needs a script}; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done
D=${args[0]:-$(mktemp -d /tmp/mailproof-lab.XXXXXX)}
mkdir -p "$D"
D=$(cd "$D" && pwd)
NAME=$(basename "$D" | tr -c 'a-zA-Z0-9\n' '-')

tools=(postfix dovecot opendkim openssl python3 sievec)
$ntlm && tools+=(samba samba-tool ntlm_auth)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || { echo "lab: $tool is missing (Debian: apt install postfix dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-sieve opendkim openssl python3$($ntlm && echo ' samba winbind libnss-wrapper'))" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "lab: must run as root (Postfix's master starts only as root)" >&2; exit 1; }

# Free loopback ports, chosen by the kernel and released just before use.
read -r SMTP SUBMISSION SMTPS REINJECT IMAP IMAPS POP3 POP3S NTLM_IMAP NTLM_IMAPS NTLM_POP3 NTLM_POP3S NTLM_SUBMISSION OAUTH XOAUTH2_SUBMISSION < <(python3 - <<'PY'
import socket
socks = []
for _ in range(15):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)

chmod 755 "$D"
# Postfix and Dovecot run as their own users: every folder above D must let them through.
p=$D
while [ "$p" != / ]; do
  p=$(dirname "$p")
  case "$(stat -c %A "$p")" in
    *[xt]) ;;
    *) echo "lab: $p cannot be entered by other users, so Postfix and Dovecot cannot reach $D. Use a folder under /tmp, or run: chmod o+x $p" >&2; exit 1 ;;
  esac
done
mkdir -p "$D"/{etc,queue,data,log,tls,mail,sieve,bin,run/dovecot,state/dovecot}

# --- TLS: a small CA and a leaf for localhost / 127.0.0.1 (rustls refuses a CA used as a server certificate).
(
  cd "$D/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt -days 30 \
    -subj "/CN=Mailproof Lab CA $NAME" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr \
    -subj "/CN=localhost" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:mx.example.test" > leaf.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 30 \
    -extfile leaf.ext 2>/dev/null
  # A leaf that expired long ago, from the same CA, which Dovecot shows on 127.0.0.2 (the expired-certificate
  # case; it names 127.0.0.1 too, so that only its dates are wrong when it is reached through a proxy there).
  openssl req -new -key server.key -out expired.csr -subj "/CN=127.0.0.2" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:127.0.0.2" > expired.ext
  printf '%s\n' '[ca]' 'default_ca = lab' '[lab]' 'database = index.txt' 'new_certs_dir = .' 'serial = serial' \
    'default_md = sha256' 'policy = any' '[any]' 'commonName = supplied' > ca.cnf
  : > index.txt
  echo 01 > serial
  openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in expired.csr -out expired.crt -notext \
    -startdate 20250101000000Z -enddate 20250201000000Z -extfile expired.ext 2>/dev/null
  chmod 644 server.key
)

# The OAuth client tests sign in with at the lab's issuer (a Desktop-app client, as Google issues them).
LAB_OAUTH_CLIENT_ID=900000000001-labissuer0desktop0client.apps.googleusercontent.com
LAB_OAUTH_CLIENT_SECRET=GOCSPX-lab-issuer-Secret-0001

# --- Users: alice, bob, carol @example.test. Lab-only passwords, never used anywhere else.
: > "$D/etc/dovecot-users"
for u in $LAB_USER_NAMES; do
  echo "$u@example.test:{PLAIN}$u-lab-password::::::" >> "$D/etc/dovecot-users"
done

render() { # render TEMPLATE OUT: substitutes @VAR@ placeholders
  sed -e "s|@D@|$D|g" -e "s|@NAME@|$NAME|g" -e "s|@SMTP@|$SMTP|g" -e "s|@SUBMISSION@|$SUBMISSION|g" \
      -e "s|@SMTPS@|$SMTPS|g" -e "s|@REINJECT@|$REINJECT|g" -e "s|@IMAP@|$IMAP|g" -e "s|@IMAPS@|$IMAPS|g" \
      -e "s|@POP3@|$POP3|g" -e "s|@POP3S@|$POP3S|g" -e "s|@NTLM_IMAP@|$NTLM_IMAP|g" -e "s|@NTLM_IMAPS@|$NTLM_IMAPS|g" \
      -e "s|@NTLM_POP3@|$NTLM_POP3|g" -e "s|@NTLM_POP3S@|$NTLM_POP3S|g" -e "s|@NTLM_SUBMISSION@|$NTLM_SUBMISSION|g" \
      -e "s|@OAUTH@|$OAUTH|g" -e "s|@XOAUTH2_SUBMISSION@|$XOAUTH2_SUBMISSION|g" "$1" > "$2"
}
render "$here/conf/dovecot.conf" "$D/etc/dovecot.conf"
render "$here/conf/dovecot-oauth2.conf.ext" "$D/etc/dovecot-oauth2.conf.ext"
render "$here/conf/main.cf" "$D/etc/main.cf"
render "$here/conf/master.cf" "$D/etc/master.cf"
render "$here/conf/opendkim.conf" "$D/etc/opendkim.conf"
cp "$here/conf/header_checks" "$here/conf/body_checks" "$here/conf/recipient_access" "$here/conf/data_access" "$here/conf/trusted_senders" "$D/etc/"
cp "$here/conf/gateway.sieve" "$D/sieve/"
render "$here/filters/strip-attachments.py" "$D/bin/strip-attachments"
cp "$here/filters/bounce.sh" "$D/bin/bounce"
cp "$here/filters/unknown.sh" "$D/bin/unknown"
render "$here/filters/notify.py" "$D/bin/notify"
chmod 755 "$D/bin/"*
chown -R dovecot:dovecot "$D/mail"
chown postfix "$D/data"

sievec -c "$D/etc/dovecot.conf" "$D/sieve/gateway.sieve"

if $ntlm; then
  # A Samba AD DC that opens no TCP port (winbindd only), with an empty config so the system's smb.conf
  # cannot leak in. LAB\bob's password expires never; NTLMv1 is refused.
  N=$D/ntlm
  mkdir -p "$N/run/dovecot" "$N/state" "$N/dc/run"
  : > "$N/empty.conf"
  : > "$N/nobody"
  samba-tool domain provision -s "$N/empty.conf" --use-rfc2307 --realm=LAB.TEST --domain=LAB --server-role=dc \
    --dns-backend=NONE --adminpass='Admin-lab-Passw0rd-1' --host-name=dc1 --host-ip=127.0.0.1 --targetdir="$N/dc" \
    --option="interfaces=lo" --option="bind interfaces only=yes" --option="server services=winbindd" \
    --option="winbindd socket directory=$N/dc/run/winbindd" --option="ncalrpc dir=$N/dc/run/ncalrpc" \
    --option="pid directory=$N/dc/run" --option="ntlm auth=ntlmv2-only" \
    --option="old password allowed period = 0" > "$D/log/samba-provision.log" 2>&1 \
    || { cat "$D/log/samba-provision.log" >&2; exit 1; }
  samba-tool user create bob 'Bob-lab-Ntlm-1' -s "$N/dc/etc/smb.conf" > /dev/null
  samba-tool user setexpiry bob --noexpiry -s "$N/dc/etc/smb.conf" > /dev/null
  samba -s "$N/dc/etc/smb.conf" --foreground --no-process-group > "$D/log/samba.log" 2>&1 &
  # ntlm_auth looks for winbindd in the system's folder unless nss_wrapper is loaded (LAB-NOTES).
  cat > "$N/ntlm-auth" <<HELPER
#!/bin/sh
export LD_PRELOAD=$(ls /usr/lib/*/libnss_wrapper.so | head -n 1) NSS_WRAPPER_PASSWD=/etc/passwd NSS_WRAPPER_GROUP=/etc/group
export SELFTEST_WINBINDD_SOCKET_DIR=$N/dc/run/winbindd
exec ntlm_auth --configfile=$N/dc/etc/smb.conf "\$@"
HELPER
  chmod 755 "$N/ntlm-auth"
  render "$here/conf/dovecot-ntlm.conf" "$D/etc/dovecot-ntlm.conf"
  render "$here/conf/master-ntlm.cf" "$D/etc/master-ntlm.cf"
  cat "$D/etc/master-ntlm.cf" >> "$D/etc/master.cf"
  for _ in $(seq 100); do [ -S "$N/dc/run/winbindd/pipe" ] && break; sleep 0.05; done
fi

# Postfix starts only when its config is ~2 s old; back-date it instead of waiting.
touch -d "@$(( $(date +%s) - 10 ))" "$D"/etc/*

dovecot -c "$D/etc/dovecot.conf"
$ntlm && dovecot -c "$D/etc/dovecot-ntlm.conf"
mkdir -p "$D/run/opendkim" && chown postfix "$D/run/opendkim"
opendkim -x "$D/etc/opendkim.conf" || { echo "lab: OpenDKIM did not start" >&2; exit 1; }
for _ in $(seq 100); do [ -S "$D/run/opendkim/opendkim.sock" ] && break; sleep 0.05; done
# Postfix prints its errors only to a terminal.
if ! script -qec "postfix -c $D/etc check && postfix -c $D/etc start" /dev/null > "$D/log/postfix-start.log" 2>&1; then
  cat "$D/log/postfix-start.log" >&2
  kill "$(cat "$D/run/dovecot/master.pid")" 2>/dev/null || true
  exit 1
fi

# Wait until every listener answers.
ports="$SMTP $SUBMISSION $XOAUTH2_SUBMISSION $SMTPS $IMAP $IMAPS $POP3 $POP3S"
$ntlm && ports="$ports $NTLM_IMAP $NTLM_IMAPS $NTLM_POP3 $NTLM_POP3S $NTLM_SUBMISSION"
for port in $ports; do
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
  done
done

cat > "$D/lab.env" <<ENV
LAB_DIR=$D
LAB_HOST=127.0.0.1
LAB_DOMAIN=example.test
LAB_CA=$D/tls/ca.crt
LAB_EXPIRED_HOST=127.0.0.2
LAB_SMTP_PORT=$SMTP
LAB_SUBMISSION_PORT=$SUBMISSION
LAB_SMTPS_PORT=$SMTPS
LAB_IMAP_PORT=$IMAP
LAB_IMAPS_PORT=$IMAPS
LAB_POP3_PORT=$POP3
LAB_POP3S_PORT=$POP3S
LAB_USERS="$(echo $LAB_USER_NAMES | sed 's/\([a-z]*\)/\1@example.test/g')"
$(for u in $LAB_USER_NAMES; do echo "LAB_PASSWORD_$(echo "$u" | tr a-z A-Z)=$u-lab-password"; done)
ENV
if [ -n "$issuer" ]; then
  # The lab's OAuth 2.0 issuer: the fake Google's sign-in (tests/fakes/google.py), whose token checks Dovecot asks
  # for XOAUTH2 and OAUTHBEARER (dovecot-oauth2.conf.ext). It signs in whoever the consent's login_hint names.
  accounts=$(for u in $LAB_USER_NAMES; do printf '{"address": "%s@example.test"},' "$u"; done | sed 's/,$//')
  printf '{"clients": [{"id": "%s", "secret": "%s"}],\n "accounts": [%s]}\n' \
    "$LAB_OAUTH_CLIENT_ID" "$LAB_OAUTH_CLIENT_SECRET" "$accounts" > "$D/etc/oauth.json"
  setsid python3 "$issuer" --lab-env "$D/lab.env" --config "$D/etc/oauth.json" --port "$OAUTH" \
    > "$D/log/oauth.log" 2>&1 < /dev/null &
  echo $! > "$D/run/oauth.pid"
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$OAUTH") 2>/dev/null && break; sleep 0.05; done
  printf '%s\n' "LAB_OAUTH_URL=http://127.0.0.1:$OAUTH" "LAB_OAUTH_CLIENT_ID=$LAB_OAUTH_CLIENT_ID" \
    "LAB_OAUTH_CLIENT_SECRET=$LAB_OAUTH_CLIENT_SECRET" "LAB_OAUTH_SCOPE=https://mail.google.com/" \
    "LAB_XOAUTH2_SUBMISSION_PORT=$XOAUTH2_SUBMISSION" >> "$D/lab.env"
fi

if $ntlm; then
  cat >> "$D/lab.env" <<ENV
LAB_NTLM_USER=LAB\\bob
LAB_NTLM_PASSWORD=Bob-lab-Ntlm-1
LAB_NTLM_IMAP_PORT=$NTLM_IMAP
LAB_NTLM_IMAPS_PORT=$NTLM_IMAPS
LAB_NTLM_POP3_PORT=$NTLM_POP3
LAB_NTLM_POP3S_PORT=$NTLM_POP3S
LAB_NTLM_SUBMISSION_PORT=$NTLM_SUBMISSION
ENV
fi
echo "$D/lab.env"
