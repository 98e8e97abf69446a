#!/usr/bin/env bash
# Detection delay through the cloud APIs' polling, beside IMAP's, on the same private lab: a job of N actions
# (default 60) from alice to bob read over IMAP, then the same job to bob read through the fake Graph
# (tests/fakes/microsoft365.py) and through the fake Gmail API (tests/fakes/google.py), whose mailbox endpoints
# read bob's Dovecot mailbox, all with the default schedule (`mailproof run` without --poll), paced at one action
# every 700 ms so arrivals fall at every phase of the look cycle.
#
#   tests/bench/cloud-detection.sh [N]     # needs root (the lab); prints figures, asserts nothing
#
# The delay is each verdict's time minus the moment its message became visible in bob's mailbox (Dovecot's commit:
# the sdbox file's ctime, as in actions.sh). Target for Graph and Gmail: p50 <= 1 s, p99 <= 3 s. Beside each, the
# API requests the job made, as a rate against the API's limit: Graph's 10,000 requests per app and mailbox in 10
# minutes; Gmail's 15,000 quota units per user per minute (history.list costs 2 units, messages.get 5). The fakes
# answer from loopback in milliseconds; the real services add their own latency (typically 50-300 ms a request).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-60}
if [ -z "${MAILPROOF_BENCH_SESSION:-}" ]; then
  MAILPROOF_BENCH_SESSION=1 exec bash "$root/tests/tools/with-session.sh" bash "$0" "$@"
fi
# shellcheck source=lab-with-bob.sh
source "$root/tests/bench/lab-with-bob.sh"
with_alice_verified

# The fake Microsoft 365 in front of the lab: bob+graph@ is a Graph mailbox delivered to bob's.
tenant=7d3c6a4e-1f0b-4c55-9a8e-2b6f0c9d1e42
client=5e8f2a1c-93b4-4d7e-a6c0-f1b2d3e4a5c6
secret="bench-secret-$RANDOM$RANDOM"
cat > "$work/fake.json" <<JSON
{"tenant": "$tenant",
 "apps": [{"clientId": "$client", "secrets": [{"value": "$secret", "expires": "2099-12-31T00:00:00Z"}],
           "roles": ["Mail.Send", "Mail.ReadWrite"]}],
 "mailboxes": [{"address": "bob+graph@example.test"}]}
JSON
coproc FAKE { exec python3 "$root/tests/fakes/microsoft365.py" --lab-env "$env_file" --config "$work/fake.json" --exit-with-stdin; }
read -r line <&"${FAKE[0]}"
base=${line#listening on }
export MAILPROOF_GRAPH_LOGIN_URL="$base" MAILPROOF_GRAPH_URL="$base"
cat > "$work/graph.toml" <<TOML
email = "bob+graph@example.test"
serverType = "graph"
actorIds = ["this-workstation"]

[graph]
tenantId = "$tenant"
clientId = "$client"
secretExpires = "2099-12-31"
cloud = "global"
TOML
echo "$secret" | "$bin" profile add --file "$work/graph.toml" > /dev/null
"$bin" profile verify bob+graph@example.test --ca "$LAB_CA" --wait 30 > /dev/null 2>&1

# The fake Google in front of the lab: bob+gmail@ is a Gmail mailbox delivered to bob's, signed in at its browser.
gclient=418276350914-bench0fake9gmail2desktop5client.apps.googleusercontent.com
gsecret="GOCSPX-bench-$RANDOM$RANDOM"
cat > "$work/google.json" <<JSON
{"clients": [{"id": "$gclient", "secret": "$gsecret"}],
 "accounts": [{"address": "bob+gmail@example.test"}], "signedIn": "bob+gmail@example.test"}
JSON
# (bash keeps one coprocess at a time: this fake reads a FIFO this script holds open, and stops when it exits.)
mkfifo "$work/google.in"
exec 8<> "$work/google.in"
python3 "$root/tests/fakes/google.py" --lab-env "$env_file" --config "$work/google.json" --exit-with-stdin \
  <&8 > "$work/google.out" 2>&1 &
for _ in $(seq 100); do grep -q '^listening on ' "$work/google.out" 2> /dev/null && break; sleep 0.05; done
gbase=$(sed -n 's/^listening on //p' "$work/google.out")
export MAILPROOF_GOOGLE_OAUTH_URL="$gbase" MAILPROOF_GMAIL_URL="$gbase"
printf 'email = "bob+gmail@example.test"\nserverType = "gmail"\nactorIds = ["this-workstation"]\n[gmail]\nclientId = "%s"\n' \
  "$gclient" > "$work/gmail.toml"
echo "$gsecret" | "$bin" profile add --file "$work/gmail.toml" > /dev/null
# The consent: `profile authorize` prints the page; the benchmark plays the browser and follows it to the loopback.
"$bin" profile authorize bob+gmail@example.test --wait 30 > "$work/consent-url" 2> /dev/null &
authorize=$!
for _ in $(seq 100); do [ -s "$work/consent-url" ] && break; sleep 0.05; done
python3 - "$(head -n 1 "$work/consent-url")" <<'PY'
import http.client, sys, urllib.parse
def get(url):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.netloc, timeout=10)
    c.request("GET", u.path + ("?" + u.query if u.query else ""))
    return c.getresponse()
get(get(sys.argv[1]).getheader("Location")).read()
PY
wait "$authorize"
"$bin" profile verify bob+gmail@example.test --ca "$LAB_CA" --wait 30 > /dev/null 2>&1

mails="$work/lab/mail/example.test/bob/mailboxes/INBOX/dbox-Mails"
export LAB_CA
python3 - "$bin" "$n" "$mails" "$work" "$base" "$gbase" <<'PY'
import glob, json, os, re, subprocess, sys, time, urllib.request
from datetime import datetime

bin_, n, mails, work, base, gbase = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
env = os.environ
pct = lambda xs, p: xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
ts = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

def files():
    return set(glob.glob(f"{mails}/u.*"))

def fake_requests(fake):
    with urllib.request.urlopen(f"{fake}/_fake/log") as r:
        return json.load(r)["requests"]

def run(to, tag, fake):
    before = files()
    asked = len(fake_requests(fake))
    out = f"{work}/job-{tag}.json"
    proc = subprocess.run([bin_, "run", "--from", "alice@example.test", "--to", to, "--actions", "A600-001",
                           "--repeat", str(n), "--timeout", "60", "--pause", "700", "--concurrency", "1",
                           "--ca", env["LAB_CA"], "--json", out, "--fail-on", "never"],
                          stderr=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"mailproof run failed: {proc.stdout}")
    job = json.load(open(out))
    visible = {}
    for p in files() - before:
        with open(p, "rb") as f:
            found = re.search(rb"(?im)^Message-ID:[ \t]*<([^>\r\n]+)>", f.read())
        if found:
            visible[found.group(1).decode()] = os.stat(p).st_ctime_ns / 1e9
    decided = [a for a in job["actions"] if a["messageId"] in visible and a.get("decidedAt")]
    delays = sorted((ts(a["decidedAt"]) - visible[a["messageId"]]) * 1000 for a in decided)
    verdicts = {}
    for a in job["actions"]:
        verdicts[a["verdict"]] = verdicts.get(a["verdict"], 0) + 1
    wall = ts(job["endedAt"]) - ts(job["startedAt"])
    return delays, verdicts, wall, fake_requests(fake)[asked:]

print(f"{n} actions alice -> bob, one every 700 ms, default schedule")
results = {}
runs = (("IMAP (IDLE on INBOX)", "bob@example.test", base), ("Microsoft Graph (polled)", "bob+graph@example.test", base),
        ("Gmail API (history polled)", "bob+gmail@example.test", gbase))
for label, to, fake in runs:
    delays, verdicts, wall, requests = run(to, label.split()[0].lower(), fake)
    results[label] = delays
    line = (f"{label:26s} detection delay p50 {pct(delays, 50):7.1f} ms, p99 {pct(delays, 99):7.1f} ms, "
            f"max {delays[-1]:7.1f} ms over {len(delays)} messages; verdicts {verdicts}")
    print(line)
    if "Graph" in label:
        # The fake serves this job only: every request it answered in the job's time is the job's (both mailboxes
        # are one here, bob+graph; alice sends over SMTP).
        rate = len(requests) / wall * 600
        print(f"{'':26s} {len(requests)} Graph requests in {wall:.1f} s = {rate:.0f} per 10 minutes "
              f"(Graph's limit: 10,000 per app and mailbox)")
    if "Gmail" in label:
        # Gmail's quota units (its documented costs): history.list 2, messages.get 5, messages.list 5, send 100,
        # labels and profile 1; token requests cost none.
        def units(r):
            p = r["path"].split("?")[0]
            if "/history" in p: return 2
            if p.endswith("/messages/send"): return 100
            if "/messages" in p: return 5
            if "/gmail/" in p: return 1
            return 0
        per_minute = sum(units(r) for r in requests) / wall * 60
        print(f"{'':26s} {len(requests)} requests in {wall:.1f} s = {per_minute:.0f} quota units per minute "
              f"(Gmail's limit: 15,000 per user per minute)")
i = results["IMAP (IDLE on INBOX)"]
for label in ("Microsoft Graph (polled)", "Gmail API (history polled)"):
    c = results[label]
    print(f"{label.split(' (')[0]} / IMAP at p50: {pct(c, 50) / max(pct(i, 50), 0.1):.1f}x")
print("target for Graph and Gmail: p50 <= 1000 ms, p99 <= 3000 ms")
PY
