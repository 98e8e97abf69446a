#!/usr/bin/env bash
# Email actions benchmark: a job of N actions (default 1,000) from alice to bob on a private lab, against the time
# the MTA itself needs to accept and deliver N messages of the same size on the same Postfix → Dovecot path.
#
#   tests/bench/actions.sh [N]        # needs root (the lab); prints figures, asserts nothing
#
# Prints, in one run:
#   - MTA baseline: Postfix's smtp-source sends N messages over one session to the lab's SMTP port; the clock
#     stops when the N-th is in bob's mailbox (no TLS or AUTH on that port: the engine's path adds both);
#   - Mailproof: `mailproof run … --repeat N`, job start → every verdict, and the ratio to the baseline
#     (target <= 2x);
#   - detection delay: each verdict's time minus the moment its message became visible in bob's mailbox: when
#     Dovecot committed it (the lab stores mail as sdbox: a message is written to a temporary file, which the
#     delivery renames to u.<UID> as it commits — the file's ctime). Target p50 <= 20 ms, p99 <= 100 ms. Beside
#     it, how long Dovecot took from writing each message (mtime) to committing it. Printed for that burst,
#     where Postfix, Dovecot and Mailproof share 2 cores flat out, and for a second job of min(N, 300) actions
#     paced at 50 a second;
#   - the command's peak RSS (target <= 200 MB).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-1000}
if [ -z "${MAILPROOF_BENCH_SESSION:-}" ]; then
  MAILPROOF_BENCH_SESSION=1 exec bash "$root/tests/tools/with-session.sh" bash "$0" "$@"
fi
# shellcheck source=lab-with-bob.sh
source "$root/tests/bench/lab-with-bob.sh"
with_alice_verified
mails="$work/lab/mail/example.test/bob/mailboxes/INBOX/dbox-Mails"
export LAB_HOST LAB_SMTP_PORT LAB_CA

python3 - "$bin" "$n" "$mails" "$work" <<'PY'
import glob, json, os, re, resource, subprocess, sys, time
from datetime import datetime

bin_, n, mails, work = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
env = os.environ

def files():
    # sdbox: one file per message, written under a temporary name and renamed to u.<UID> once delivered.
    return glob.glob(f"{mails}/u.*")

def delivered():
    return len(files())

def wait_for(count, limit=600):
    end = time.monotonic() + limit
    while delivered() < count:
        if time.monotonic() > end:
            sys.exit(f"only {delivered()} of {count} messages arrived")
        time.sleep(0.005)

# The engine's message size: one action's message as built.
start_count = delivered()
t0 = time.monotonic()
subprocess.run(["/usr/sbin/smtp-source", "-d", "-s", "1", "-m", str(n), "-l", "1100",
                "-f", "alice@example.test", "-t", "bob@example.test",
                f"{env['LAB_HOST']}:{env['LAB_SMTP_PORT']}"], check=True)
wait_for(start_count + n)
baseline = time.monotonic() - t0

def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

pct = lambda xs, p: xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

def run_job(count, pause_ms, tag):
    """Runs `count` actions alice -> bob; returns the job, its wall time and each verdict's delay after its
    message became visible (the maildir file's mtime)."""
    before = set(files())
    out = f"{work}/job-{tag}.json"
    t0 = time.monotonic()
    proc = subprocess.run([bin_, "run", "--from", "alice@example.test", "--to", "bob@example.test",
                           "--actions", "A600-001", "--repeat", str(count), "--timeout", "300", "--poll", "1000",
                           "--ca", env["LAB_CA"], "--json", out, "--fail-on", "never", "--pause", str(pause_ms)],
                          stderr=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    command = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit(f"mailproof run failed: {proc.stdout}")
    job = json.load(open(out))
    visible = {}
    for p in files():
        if p in before:
            continue
        with open(p, "rb") as f:
            found = re.search(rb"(?im)^Message-ID:[ \t]*<([^>\r\n]+)>", f.read())
        if found:
            st = os.stat(p)
            visible[found.group(1).decode()] = (st.st_ctime_ns / 1e9, st.st_mtime_ns / 1e9)
    decided = [a for a in job["actions"] if a["messageId"] in visible and a.get("decidedAt")]
    delays = sorted((ts(a["decidedAt"]) - visible[a["messageId"]][0]) * 1000 for a in decided)
    commits = sorted((visible[a["messageId"]][0] - visible[a["messageId"]][1]) * 1000 for a in decided)
    return job, ts(job["endedAt"]) - ts(job["startedAt"]), command, (delays, commits)

def delay_line(measured):
    delays, commits = measured
    return (f"p50 {pct(delays, 50):.1f} ms, p99 {pct(delays, 99):.1f} ms, max {delays[-1]:.1f} ms over "
            f"{len(delays)} messages (target p50 <= 20 ms, p99 <= 100 ms); before that, Dovecot took "
            f"p50 {pct(commits, 50):.1f} ms, p99 {pct(commits, 99):.1f} ms from writing each message to committing it")

# 1. As fast as the path takes them: throughput against the MTA's own.
job, wall, command, burst_delays = run_job(n, 0, "burst")
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
verdicts = {}
for a in job["actions"]:
    verdicts[a["verdict"]] = verdicts.get(a["verdict"], 0) + 1
print(f"actions: {n}; verdicts: {verdicts}")
print(f"MTA baseline (smtp-source, {n} messages, accept + deliver): {baseline:.2f} s")
print(f"Mailproof job, start -> all verdicts: {wall:.2f} s (whole command {command:.2f} s); "
      f"ratio to baseline {wall / baseline:.2f}x (target <= 2x)")
cores = os.cpu_count() or 1
print(f"  CPU of mailproof run: user {usage.ru_utime:.2f} s, system {usage.ru_stime:.2f} s "
      f"(of {cores * wall:.1f} core-seconds on {cores} cores; Postfix and Dovecot take the rest)")
if burst_delays[0]:
    print("detection delay during that burst (the box's cores saturated by the mail path): "
          + delay_line(burst_delays))
# 2. Paced below the path's capacity (50 a second): how soon a verdict follows delivery when the server answers.
paced = min(n, 300)
_, _, _, paced_delays = run_job(paced, 20, "paced")
if paced_delays[0]:
    print(f"detection delay, {paced} actions paced at 50/s: {delay_line(paced_delays)}")
peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"peak RSS of mailproof run: {peak_rss_mb:.0f} MB (target <= 200 MB)")
PY
