#!/usr/bin/env bash
# Jobs between actors: the 1,000-action job (default N) from alice to bob on a private lab, run from this
# workstation and then through a remote actor's agent on loopback (the agent sends from alice and watches bob's
# mailbox), in the same run.
#
#   tests/bench/actors.sh [N]        # needs root (the lab); prints figures, asserts nothing
#
# Prints both wall times (job start → every verdict, as `mailproof run` reports it), their ratio (target <= 1.2x),
# every verdict of both (the same), and the agent's peak RSS (VmHWM).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-1000}
if [ -z "${MAILPROOF_BENCH_SESSION:-}" ]; then
  MAILPROOF_BENCH_SESSION=1 exec bash "$root/tests/tools/with-session.sh" bash "$0" "$@"
fi
# shellcheck source=lab-with-bob.sh
source "$root/tests/bench/lab-with-bob.sh"

# The actor's machine: an agent with an identity of its own.
agent_env=(env MAILPROOF_DATA_DIR="$work/agent" MAILPROOF_KEYRING_SERVICE=dev.mailproof.desktop.bench-agent)
code=$("${agent_env[@]}" "$bin" agent rotate-code | sed -n "s/^pairing code //p" | head -n 1)
"${agent_env[@]}" "$bin" agent serve --listen 127.0.0.1:0 --ca "$LAB_CA" > "$work/agent.out" 2> "$work/agent.log" &
agent_pid=$!
trap 'kill $agent_pid 2>/dev/null; bash "$root/tests/lab/stop.sh" "$work/lab"; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ "$(wc -l < "$work/agent.out")" -ge 2 ] && break; sleep 0.05; done
address=$(sed -n 's/^Mailproof agent listening on //p' "$work/agent.out")
fingerprint=$(sed -n 's/^fingerprint //p' "$work/agent.out")
actor=$("$bin" actor add "Bench agent" 2>/dev/null)
echo "$code" | "$bin" actor pair "Bench agent" --address "$address" --fingerprint "$fingerprint" > /dev/null

# alice and bob, each read by this workstation and by the agent's actor, verified for both.
"$bin" profile delete bob@example.test > /dev/null
cp "$work/bob.toml" "$work/template.toml"
for who in alice bob; do
  sed -e "s/bob@/$who@/g" -e "s/^actorIds = .*/actorIds = [\"this-workstation\", \"$actor\"]/" "$work/template.toml" > "$work/$who.toml"
  pw_var="LAB_PASSWORD_${who^^}"
  echo "${!pw_var}" | "$bin" profile add --file "$work/$who.toml" > /dev/null
done
set_sender verifier
for who in alice bob; do
  "$bin" profile verify "$who@example.test" --ca "$LAB_CA" --wait 30 > /dev/null 2>&1
done

export LAB_CA
python3 - "$bin" "$n" "$work" "$agent_pid" <<'PY'
import json, os, subprocess, sys, time
bin_, n, work, agent_pid = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

def run(tag, extra):
    out = f"{work}/job-{tag}.json"
    t0 = time.monotonic()
    proc = subprocess.run([bin_, "run", "--from", "alice@example.test", "--to", "bob@example.test",
                           "--actions", "A600-001", "--repeat", str(n), "--timeout", "300", "--poll", "1000",
                           "--ca", os.environ["LAB_CA"], "--json", out, "--fail-on", "never", "--quiet", *extra],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    took = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit(f"mailproof run ({tag}) failed: {proc.stdout}{proc.stderr}")
    job = json.load(open(out))
    counts = {}
    for a in job["actions"]:
        counts[a["verdict"]] = counts.get(a["verdict"], 0) + 1
    return took, counts, job

here, here_counts, _ = run("here", [])
remote, remote_counts, job = run("agent", ["--from-actor", "Bench agent", "--to-actor", "Bench agent"])
named = all(a.get("sourceActor") == "Bench agent" and a.get("destinationActor") == "Bench agent" for a in job["actions"])
hwm = next(l.split()[1] for l in open(f"/proc/{agent_pid}/status") if l.startswith("VmHWM"))
print(f"ACTORS | {n} actions alice -> bob | from this workstation {here:.1f} s {here_counts}")
print(f"ACTORS | {n} actions alice -> bob | through the agent {remote:.1f} s {remote_counts} (named: {named})")
print(f"ACTORS | ratio {remote / here:.2f}x (target <= 1.2x) | agent peak RSS {int(hwm) / 1024:.1f} MiB")
PY
