#!/usr/bin/env bash
# Stops the lab in DIR (started by tests/lab/start.sh). Leaves DIR, its logs and mailboxes in place.
set -uo pipefail
D=${1:?usage: tests/lab/stop.sh DIR}
[ -f "$D/run/oauth.pid" ] && kill "$(cat "$D/run/oauth.pid")" 2>/dev/null
[ -f "$D/etc/main.cf" ] && script -qec "postfix -c $D/etc stop" /dev/null >/dev/null 2>&1
for pidfile in "$D/run/opendkim/opendkim.pid" "$D/run/dovecot/master.pid" "$D/ntlm/run/dovecot/master.pid" "$D/ntlm/dc/run/samba.pid"; do
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
done
exit 0
