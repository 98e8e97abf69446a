#!/usr/bin/env bash
# Detection delay through Microsoft Graph polling, beside IMAP's, on the same private lab: a job of N actions
# (default 60) from alice to bob read over IMAP, then the same job to bob read through the fake Graph
# (tests/fakes/microsoft365.py, whose mailbox endpoints read bob's Dovecot mailbox), both with the default
# schedule (`mailproof run` without --poll), paced at one action every 700 ms so arrivals fall at every phase of
# the look cycle.
#
#   tests/bench/graph-detection.sh [N]     # needs root (the lab); prints figures, asserts nothing
#
# The delay is each verdict's time minus the moment its message became visible in bob's mailbox (Dovecot's commit:
# the sdbox file's ctime, as in actions.sh). Target for Graph: p50 <= 1 s, p99 <= 3 s. Beside it, the Graph
# requests the job made per mailbox, as a rate against Graph's limit of 10,000 requests per app and mailbox in 10
# minutes. The fake answers from loopback in milliseconds; Exchange Online adds its own latency (typically
# 50-300 ms per listing) to the Graph figures.
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

mails="$work/lab/mail/example.test/bob/mailboxes/INBOX/dbox-Mails"
export LAB_CA
python3 - "$bin" "$n" "$mails" "$work" "$base" <<'PY'
import glob, json, os, re, subprocess, sys, time, urllib.request
from datetime import datetime

bin_, n, mails, work, base = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
env = os.environ
pct = lambda xs, p: xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
ts = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

def files():
    return set(glob.glob(f"{mails}/u.*"))

def fake_requests():
    with urllib.request.urlopen(f"{base}/_fake/log") as r:
        return len(json.load(r)["requests"])

def run(to, tag):
    before = files()
    asked = fake_requests()
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
    return delays, verdicts, wall, fake_requests() - asked

print(f"{n} actions alice -> bob, one every 700 ms, default schedule")
results = {}
for label, to in (("IMAP (IDLE on INBOX)", "bob@example.test"), ("Microsoft Graph (polled)", "bob+graph@example.test")):
    delays, verdicts, wall, requests = run(to, label.split()[0].lower())
    results[label] = delays
    line = (f"{label:26s} detection delay p50 {pct(delays, 50):7.1f} ms, p99 {pct(delays, 99):7.1f} ms, "
            f"max {delays[-1]:7.1f} ms over {len(delays)} messages; verdicts {verdicts}")
    print(line)
    if "Graph" in label:
        # The fake serves this job only: every request it answered in the job's time is the job's (both mailboxes
        # are one here, bob+graph; alice sends over SMTP).
        rate = requests / wall * 600
        print(f"{'':26s} {requests} Graph requests in {wall:.1f} s = {rate:.0f} per 10 minutes "
              f"(Graph's limit: 10,000 per app and mailbox)")
g = results["Microsoft Graph (polled)"]
i = results["IMAP (IDLE on INBOX)"]
print(f"Graph / IMAP at p50: {pct(g, 50) / max(pct(i, 50), 0.1):.1f}x; target for Graph p50 <= 1000 ms, p99 <= 3000 ms")
PY
