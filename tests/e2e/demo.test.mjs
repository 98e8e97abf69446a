// The first run in the real app: an empty workspace offers "Try it on the local demo gateway", and that one click
// starts the demo gateway, readies the demo workspace (profiles added and verified) and runs the demo job to its
// end with Prevented, Detected and Missed verdicts — timed from the click. Then back to the user's own workspace,
// untouched, and the demo gateway stopped from Settings.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Session, startDriver } from "./webdriver.mjs";
import { auditSecrets, recordIpc } from "./secrets.mjs";

const app = process.env.MAILPROOF_APP;
const labEnv = process.env.MAILPROOF_LAB_ENV;
const cli = process.env.MAILPROOF_CLI ?? (app && join(dirname(app), "mailproof"));
const shots = process.env.MAILPROOF_E2E_OUT ?? join(tmpdir(), "mailproof-e2e");
mkdirSync(shots, { recursive: true });

// The demo starts a gateway of its own; a lab running says this machine has its programs and root.
const skip = (!app && "MAILPROOF_APP is not set") || (!labEnv && "MAILPROOF_LAB_ENV is not set (no mail lab)");

describe("the first run's demo", { skip }, () => {
  let session;
  let driver;
  let env;
  let dataDir;
  let gatewayDir;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "mailproof-e2e-demo-"));
    // Postfix and Dovecot run as their own users and must pass through every folder above the gateway's.
    const parent = mkdtempSync("/tmp/mailproof-e2e-demo-gateway-");
    chmodSync(parent, 0o755);
    gatewayDir = join(parent, "gateway");
    env = { ...process.env, MAILPROOF_DATA_DIR: dataDir, MAILPROOF_DEMO_GATEWAY_DIR: gatewayDir };
    driver = await startDriver(env, join(shots, "driver-demo.log"));
    session = await Session.start(driver.base, app);
    await recordIpc(session);
  });

  after(async () => {
    await session?.quit().catch(() => {});
    await driver?.stop();
    try {
      execFileSync(cli, ["lab", "stop"], { env });
    } catch (_) {
      // Stopped already.
    }
  });

  const click = async (css, opts) => session.click(await session.waitFor(css, opts));
  const shoot = async (name, css) => {
    if (css) await session.execute(`document.querySelector(${JSON.stringify(css)})?.scrollIntoView()`);
    writeFileSync(join(shots, `${name}.png`), await session.screenshot());
  };

  it("goes from one click to a finished demo job with all three verdict kinds in under 60 s", async () => {
    await session.waitFor("[data-empty-state]", { text: "No email profiles yet" });
    await session.waitFor('[data-action="add-first-profile"]', { text: "Add your first email profile" });
    await session.waitFor('[data-action="try-demo"]', { text: "Try it on the local demo gateway" });
    await shoot("demo-first-run");

    const clicked = Date.now();
    await click('[data-action="try-demo"]');
    await session.waitFor("[data-finished]", { timeoutMs: 60000 }).catch(async (e) => {
      await shoot("demo-not-finished");
      throw e;
    });
    const took = Date.now() - clicked;
    console.log(`DEMO | click to finished demo job: ${took} ms (target < 60000 ms)`);
    assert.ok(took < 60000, `${took} ms`);
    await session.waitFor(".counts .verdict-prevented", { text: "Prevented 3" });
    await session.waitFor(".counts .verdict-detected", { text: "Detected 3" });
    await session.waitFor(".counts .verdict-missed", { text: "Missed 3" });
    await session.waitFor('[data-workspace="demo"]', { text: "Demo workspace — mail stays on this machine." });
    await session.waitFor('[data-badge="demo"]', { text: "Demo" });
    await shoot("demo-finished", "[data-progress]");

    await click("[data-finished] a");
    await session.waitFor("[data-group]", { text: "frank@example.test" });
    await session.waitFor("h1, h2", { text: "Demo: alice → bob, erin, frank" });
    await shoot("demo-results");

    // The demo's profiles are in the demo workspace, verified; the job builder offers the demo job as a preset.
    await click('[data-nav="profiles"]');
    for (const who of ["alice", "bob", "erin", "frank"]) {
      await session.waitFor(`[data-profile="${who}@example.test"]`, { text: "Verified" });
    }
    await click('[data-nav="actions"]');
    await click('[data-preset="demo"]');
    await session.waitFor("[data-start-job]", { text: "Start job (9 actions)" });
  });

  it("switches back to the user's own workspace in one click, untouched, and stops the gateway from Settings", async () => {
    await click('[data-action="leave-demo"]');
    await session.waitGone('[data-workspace="demo"]');
    await session.waitFor("[data-empty-state]", { text: "No email profiles yet" });
    await click('[data-nav="results"]');
    // The demo job stays in the demo workspace.
    await session.waitFor('[data-screen="results"] [data-empty-state]', { text: "No jobs yet" });
    await shoot("demo-back-home");

    await click('[data-nav="settings"]');
    await session.waitFor('[data-section="demo-gateway"] [data-gateway-state="running"]', { text: "Running" });
    await shoot("demo-settings", '[data-section="demo-gateway"]');
    await click('[data-action="stop-demo"]');
    await session.waitFor('[data-section="demo-gateway"] [data-gateway-state="stopped"]', {
      text: "Not running",
      timeoutMs: 30000,
    });
    const status = spawnSync(cli, ["lab", "status", "--json"], { env });
    assert.equal(status.status, 1, "lab status exits 1 while stopped");
    assert.equal(JSON.parse(status.stdout.toString("utf8")).running, false);
  });

  it("leaves no demo password in the data folders, the IPC replies or any process's arguments", async () => {
    const lab = Object.fromEntries(
      readFileSync(join(gatewayDir, "lab.env"), "utf8")
        .split("\n")
        .filter((l) => l.includes("="))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1).replace(/^"|"$/g, "")]),
    );
    const users = ["alice", "bob", "erin", "frank", "verifier"];
    const passwords = users.map((u) => lab[`LAB_PASSWORD_${u.toUpperCase()}`]);
    assert.ok(passwords.every(Boolean), "the gateway lists every demo password");
    await auditSecrets({
      session,
      secrets: passwords,
      users: users.map((u, i) => [`${u}@example.test`, passwords[i]]),
      dirs: [dataDir],
      files: [join(shots, "driver-demo.log")],
      present: ["frank@example.test"],
    });
  });
});
