// A job between actors in the real app: a remote actor ("Branch PC", an agent process on loopback paired with
// this workstation) has verified bob's profile; the job builder's "Read by" picks it, the job runs, the agent
// watches bob's mailbox on its machine, and Results name the actor in the group's title.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { setUpWithCli } from "./headless.mjs";
import { Session, readLab, startDriver } from "./webdriver.mjs";
import { trustLabCa } from "./cloud.mjs";

const app = process.env.MAILPROOF_APP;
const labEnv = process.env.MAILPROOF_LAB_ENV;
const cli = process.env.MAILPROOF_CLI ?? (app && join(dirname(app), "mailproof"));
const shots = process.env.MAILPROOF_E2E_OUT ?? join(tmpdir(), "mailproof-e2e");
mkdirSync(shots, { recursive: true });

const skip = (!app && "MAILPROOF_APP is not set") || (!labEnv && "MAILPROOF_LAB_ENV is not set (no mail lab)");

describe("a job read by a remote actor", { skip }, () => {
  let session;
  let driver;
  let agent;
  let agentLog = "";

  before(async () => {
    const lab = readLab(labEnv);
    const dataDir = mkdtempSync(join(tmpdir(), "mailproof-e2e-actors-"));
    const env = { ...process.env, MAILPROOF_DATA_DIR: dataDir };
    // The branch machine: an agent with an identity of its own (its own data folder and keyring service).
    const agentEnv = {
      ...process.env,
      MAILPROOF_DATA_DIR: join(dataDir, "agent"),
      MAILPROOF_KEYRING_SERVICE: "dev.mailproof.desktop.e2e-agent",
    };
    const code = execFileSync(cli, ["agent", "rotate-code"], { env: agentEnv }).toString().trim().replace("pairing code ", "");
    agent = spawn(cli, ["agent", "serve", "--listen", "127.0.0.1:0", "--ca", lab.LAB_CA], { env: agentEnv });
    agent.stderr.on("data", (d) => (agentLog += d));
    const lines = createInterface({ input: agent.stdout });
    const shown = [];
    await new Promise((resolve) => lines.on("line", (l) => shown.push(l) === 2 && resolve()));
    const address = shown[0].replace("Mailproof agent listening on ", "");
    const fingerprint = shown[1].replace("fingerprint ", "");

    setUpWithCli(cli, env, lab, ["alice"]);
    const run = (args, input) => execFileSync(cli, args, { env, input }).toString().trim();
    const branch = run(["actor", "add", "Branch PC"]);
    run(["actor", "pair", "Branch PC", "--address", address, "--fingerprint", fingerprint], code);
    setUpWithCli(cli, env, lab, ["bob"], { actors: { bob: [branch] } });

    driver = await startDriver(env, join(shots, "driver-actors.log"));
    session = await Session.start(driver.base, app);
    await trustLabCa(session, lab);
  });

  after(async () => {
    await session?.quit().catch(() => {});
    await driver?.stop();
    agent?.kill();
  });

  const click = async (css, opts) => session.click(await session.waitFor(css, opts));
  const shoot = async (name, css) => {
    if (css) await session.execute(`document.querySelector(${JSON.stringify(css)})?.scrollIntoView()`);
    writeFileSync(join(shots, `${name}.png`), await session.screenshot());
  };

  it("picks the remote actor as the reader, runs, and names it in Results", async () => {
    await click('[data-nav="actions"]');
    await session.waitFor('[data-action="A100-002"]');
    await click('[data-action="A100-002"] input[type="checkbox"]');
    await click('select[name="source"] option', { text: "alice@example.test" });
    await click('select[name="read-by"] option', { text: "Branch PC" });
    await session.waitFor("legend", { text: "only profiles Branch PC has verified" });
    await click('input[name="destination"][value="bob@example.test"]');
    await shoot("actors-builder", '[aria-label="Profiles"]');
    await click("[data-start-job]");
    await session.waitFor("[data-finished]", { timeoutMs: 60000 });
    await session.waitFor(".counts .verdict-missed", { text: "Missed 1" });
    await click("[data-finished] a");
    await session.waitFor("[data-group-title]", {
      text: "Src: This workstation (alice@example.test) → Dest: Branch PC (bob@example.test)",
    });
    await shoot("actors-results");
    // Message Tracking says which actor read the test message.
    await click('[data-nav="tracking"]');
    await session.waitFor('[data-track-results] [data-track-actor]', { text: "by This workstation, read by Branch PC" });
    await shoot("actors-tracking");
    // Settings → Actors: the agent's state, checked now; once it is gone, the check says so in words.
    await click('[data-nav="settings"]');
    await session.waitFor('[data-actor="Branch PC"] [data-agent-state]', { text: "version 0.1.0 · last seen" }).catch(async (e) => {
      await shoot("actors-settings-failed", '[data-actor="Branch PC"]');
      throw e;
    });
    await click('[data-actor="Branch PC"] [data-action="check-agent"]');
    await session.waitFor('[data-actor="Branch PC"] [data-agent-check]', { text: "Reachable: it answered as paired" });
    await shoot("actors-settings", '[data-actor="Branch PC"]');
    agent.kill();
    await click('[data-actor="Branch PC"] [data-action="check-agent"]');
    await session.waitFor('[data-actor="Branch PC"] [data-agent-check]', { text: "cannot reach the agent at", timeoutMs: 20000 });
    assert.match(agentLog, /watching bob@example\.test/);
    assert.doesNotMatch(agentLog, /bob-lab-password/);
  });
});
