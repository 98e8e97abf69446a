// Setting a data folder up with the headless command, as a scheduled setup would: Mailproof's sender (the lab's
// verifier) and IMAP profiles of lab users, each verified by mail.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** `actors` names, per user, remote actors (ids) that read the profile besides this workstation. */
export function setUpWithCli(cli, env, lab, users, { actors = {} } = {}) {
  const dataDir = env.MAILPROOF_DATA_DIR;
  const run = (args, input) => execFileSync(cli, args, { env, input, stdio: ["pipe", "pipe", "pipe"] });
  const sender = join(dataDir, "sender.toml");
  writeFileSync(
    sender,
    `host = "${lab.LAB_HOST}"\nport = ${lab.LAB_SUBMISSION_PORT}\nsecurity = "startTls"\nrequiresAuth = true\n` +
      `auth = "plain"\nusername = "verifier@example.test"\nfromAddress = "verifier@example.test"\n`,
  );
  run(["sender", "set", "--file", sender], lab.LAB_PASSWORD_VERIFIER);
  for (const user of users) {
    const file = join(dataDir, `${user}.toml`);
    writeFileSync(
      file,
      `email = "${user}@example.test"\nserverType = "imap"\n` +
        `actorIds = ${JSON.stringify(["this-workstation", ...(actors[user] ?? [])])}\n` +
        `username = "${user}@example.test"\n[incoming]\nhost = "${lab.LAB_HOST}"\nport = ${lab.LAB_IMAPS_PORT}\n` +
        `security = "tls"\nauth = "plain"\n[outgoing]\nhost = "${lab.LAB_HOST}"\nport = ${lab.LAB_SUBMISSION_PORT}\n` +
        `security = "startTls"\nrequiresAuth = true\nauth = "plain"\n`,
    );
    run(["profile", "add", "--file", file], lab[`LAB_PASSWORD_${user.toUpperCase()}`]);
    run(["profile", "verify", `${user}@example.test`, "--ca", lab.LAB_CA, "--wait", "20"]);
  }
}
