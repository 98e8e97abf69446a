# Sourced by the benchmarks: builds the release `mailproof`, starts a private lab in a new work folder, and adds
# bob's IMAP profile (IMAP over TLS, submission with STARTTLS) to a fresh data folder. Sets: root, bin, work and
# the lab's LAB_* variables, `set_sender USER` (Mailproof's verification sender, a lab user over submission) and
# `with_alice_verified` (alice added too, both verified);
# stops the lab and removes the folder on exit.
export PATH="$HOME/.cargo/bin:$PATH"
cargo build -q -p mailproof-cli --release --manifest-path "$root/Cargo.toml"
bin="$root/target/release/mailproof"
work=$(mktemp -d /tmp/mailproof-bench.XXXXXX)
chmod 755 "$work" # the lab's daemons run as their own users and must reach $work/lab
trap 'bash "$root/tests/lab/stop.sh" "$work/lab"; rm -rf "$work"' EXIT
env_file=$(bash "$root/tests/lab/start.sh" "$work/lab" | tail -n 1)
# shellcheck disable=SC1090
source "$env_file"
export MAILPROOF_DATA_DIR="$work/data"
cat > "$work/bob.toml" <<TOML
email = "bob@example.test"
serverType = "imap"
actorIds = ["this-workstation"]
username = "bob@example.test"
[incoming]
host = "$LAB_HOST"
port = $LAB_IMAPS_PORT
security = "tls"
auth = "plain"
[outgoing]
host = "$LAB_HOST"
port = $LAB_SUBMISSION_PORT
security = "startTls"
requiresAuth = true
auth = "plain"
TOML
echo "$LAB_PASSWORD_BOB" | "$bin" profile add --file "$work/bob.toml" > /dev/null

# Makes lab user $1 Mailproof's sender of verification mail.
set_sender() {
  local pw_var="LAB_PASSWORD_${1^^}"
  cat > "$work/sender.toml" <<TOML
host = "$LAB_HOST"
port = $LAB_SUBMISSION_PORT
security = "startTls"
requiresAuth = true
auth = "plain"
username = "$1@example.test"
fromAddress = "$1@example.test"
TOML
  echo "${!pw_var}" | "$bin" sender set --file "$work/sender.toml" > /dev/null
}

# Adds alice's profile like bob's, makes the allow-listed verifier the sender, and verifies both: a source and
# a destination for a job.
with_alice_verified() {
  sed 's/bob@/alice@/g' "$work/bob.toml" > "$work/alice.toml"
  echo "$LAB_PASSWORD_ALICE" | "$bin" profile add --file "$work/alice.toml" > /dev/null
  set_sender verifier
  for who in alice bob; do
    "$bin" profile verify "$who@example.test" --ca "$LAB_CA" --wait 30 > /dev/null 2>&1
  done
}
