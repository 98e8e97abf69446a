// The real Mailproof binary in its real WebView (WebKitGTK), driven through tauri-driver under Xvfb.
// Run by tests/tools/test-all.sh, which sets MAILPROOF_APP and provides a D-Bus session with a keyring.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { spawn, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { auditSecrets, recordIpc } from "./secrets.mjs";
import { Session, startDriver } from "./webdriver.mjs";

const app = process.env.MAILPROOF_APP;
const cli = process.env.MAILPROOF_CLI ?? (app && join(dirname(app), "mailproof"));
const shots = process.env.MAILPROOF_E2E_OUT ?? join(tmpdir(), "mailproof-e2e");
mkdirSync(shots, { recursive: true });

const screens = [
  ["profiles", "Email Profiles", "Add Email Profile"],
  ["actions", "Email Actions", "No email profiles yet"],
  ["results", "Results", "No jobs yet"],
  ["tracking", "Message Tracking", "Wildcards are not needed"],
  ["settings", "Settings", "Appearance"],
];

/** Starts tauri-driver and the app with its data in `dataDir`. */
async function launch(dataDir) {
  const driver = await startDriver({ ...process.env, MAILPROOF_DATA_DIR: dataDir }, join(shots, "driver.log"));
  try {
    const session = await Session.start(driver.base, app);
    return {
      session,
      async close() {
        await session.quit().catch(() => {});
        await driver.stop();
      },
    };
  } catch (e) {
    await driver.stop();
    throw e;
  }
}

async function shoot(session, name) {
  writeFileSync(join(shots, `${name}.png`), await session.screenshot());
}

describe("the Mailproof app", { skip: !app && "MAILPROOF_APP is not set" }, () => {
  let dataDir;
  let running;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "mailproof-e2e-data-"));
    running = await launch(dataDir);
  });

  after(async () => {
    await running?.close();
  });

  it("opens a window titled Mailproof on Email Profiles", async () => {
    const { session } = running;
    assert.equal(await session.title(), "Mailproof");
    await session.waitFor('[data-screen="profiles"] h1', { text: "Email Profiles" });
    await session.waitFor(".version", { text: "v0.1.0" }); // the version came over IPC
  });

  for (const [id, heading, body] of screens) {
    it(`shows the ${heading} screen from the navigation`, async () => {
      const { session } = running;
      await session.click(await session.waitFor(`[data-nav="${id}"]`));
      await session.waitFor(`[data-screen="${id}"] h1`, { text: heading });
      await session.waitFor(`[data-screen="${id}"]`, { text: body });
      const current = await session.waitFor('[aria-current="page"]');
      assert.equal(await session.text(current), heading);
      await shoot(session, id);
    });
  }

  it("lists the built-in actor and zone in Settings", async () => {
    const { session } = running;
    await session.click(await session.waitFor('[data-nav="settings"]'));
    await session.waitFor('[data-table="actors"] td', { text: "This workstation (built in)" });
    await session.waitFor('[data-table="zones"] td', { text: "Default (built in)" });
  });

  it("manages security zones and actors in Settings, refusing deletions that would break them", async () => {
    const { session } = running;
    await recordIpc(session);
    await session.click(await session.waitFor('[data-nav="settings"]'));
    await session.type(await session.waitFor('[name="zone-name"]'), "DMZ");
    await session.click(await session.waitFor('[data-form="add-zone"] button'));
    await session.waitFor('[data-table="zones"] tr[data-zone="DMZ"]');

    await session.type(await session.waitFor('[name="actor-name"]'), "Mail reader DMZ-1");
    const dmz = await session.execute(
      `const o = [...document.querySelectorAll('[name="actor-zone"] option')].find((o) => o.textContent === "DMZ"); return o.value;`,
    );
    await session.execute(
      `const s = document.querySelector('[name="actor-zone"]'); s.value = arguments[0]; s.dispatchEvent(new Event("change"));`,
      dmz,
    );
    await session.click(await session.waitFor('[data-form="add-actor"] button'));
    const row = await session.waitFor('[data-table="actors"] tr[data-actor="Mail reader DMZ-1"]');
    assert.match(await session.text(row), /Remote — not paired with an agent\s*DMZ/);

    // On that machine (here beside the app): a pairing code, shown once, then the agent, which shows where it
    // listens and its fingerprint.
    const agentEnv = { ...process.env, MAILPROOF_DATA_DIR: mkdtempSync(join(tmpdir(), "mailproof-agent-")) };
    const rotated = spawnSync(cli, ["agent", "rotate-code"], { env: agentEnv, encoding: "utf8" });
    assert.equal(rotated.status, 0, rotated.stderr);
    const code = rotated.stdout.trim().replace(/^pairing code /, "");
    const agent = spawn(cli, ["agent", "serve", "--listen", "127.0.0.1:0"], { env: agentEnv });
    try {
      const shown = await new Promise((resolve, reject) => {
        let text = "";
        agent.stdout.on("data", (d) => {
          text += d;
          if (text.split("\n").length > 3) resolve(text);
        });
        agent.on("exit", (code) => reject(new Error(`the agent exited (${code})`)));
      });
      const field = (label) => shown.split("\n").find((l) => l.startsWith(label)).slice(label.length);
      const [address, fingerprint] = [field("Mailproof agent listening on "), field("fingerprint ")];
      assert.ok(!field("pairing code ").includes(code), "the code is not shown again");
      await session.click(await session.waitFor('[data-actor="Mail reader DMZ-1"] [data-action="pair-agent"]'));
      await session.type(await session.waitFor('[name="agent-address"]'), address);
      await session.type(await session.waitFor('[name="agent-fingerprint"]'), fingerprint);
      await session.type(await session.waitFor('[name="agent-code"]'), "not-the-code");
      await session.click(await session.waitFor('[data-form="pair-agent"] button[type="submit"]'));
      await session.waitFor("[data-pair-error]", { text: "wrong pairing code", timeoutMs: 20000 });
      await session.type(await session.waitFor('[name="agent-code"]'), code);
      await session.click(await session.waitFor('[data-form="pair-agent"] button[type="submit"]'));
      await session.waitFor('[data-actor="Mail reader DMZ-1"] [data-actor-reach]', { text: `Agent at ${address}`, timeoutMs: 20000 });
    } finally {
      agent.kill();
    }
    // The pairing code, shown once by rotate-code and typed into the app, is nowhere else: not in either data
    // folder, the app's log, its window's IPC, or any process's arguments.
    await auditSecrets({
      session,
      secrets: [code],
      dirs: [dataDir, agentEnv.MAILPROOF_DATA_DIR],
      files: [join(shots, "driver.log")],
      present: ["Mail reader DMZ-1"],
    });

    await session.click(await session.waitFor('[data-zone="DMZ"] [data-action="delete-zone"]'));
    await session.waitFor("[data-directory-error]", { text: "DMZ still has 1 actor(s)" });
    await shoot(session, "settings-zones-actors");
    await session.click(await session.waitFor('[data-actor="Mail reader DMZ-1"] [data-action="delete-actor"]'));
    // The zone can go only once the actor's deletion has come back and the tables are drawn again.
    await session.waitGone('[data-actor="Mail reader DMZ-1"]');
    await session.click(await session.waitFor('[data-zone="DMZ"] [data-action="delete-zone"]'));
    await session.waitGone('[data-zone="DMZ"]');
    assert.equal((await session.findAll("[data-directory-error]")).length, 0, "no error shown once the zone is empty");
  });

  it("adds, refuses and deletes email rules in Settings", async () => {
    const { session } = running;
    await session.click(await session.waitFor('[data-nav="settings"]'));
    await session.waitFor("[data-rules-empty]");
    await session.type(await session.waitFor('[name="rule-name"]'), "Mailbox full");
    await session.type(await session.waitFor('[name="rule-pattern"]'), "mailbox (full");
    await session.click(await session.waitFor("[data-add-rule]"));
    await session.waitFor("[data-rules-error]", { text: "The pattern is not a valid regular expression" });
    await session.type(await session.waitFor('[name="rule-pattern"]'), "mailbox (is )?full");
    await session.click(await session.waitFor("[data-add-rule]"));
    await session.waitFor('[data-rules] [data-rule="Mailbox full"]', { text: "mailbox (is )?full" });
    await shoot(session, "settings-email-rules");
    await session.click(await session.waitFor('[data-rule="Mailbox full"] button'));
    await session.waitFor("[data-rules-empty]");
  });

  it("checks the real keyring from Settings", async () => {
    const { session } = running;
    await session.click(await session.waitFor('[data-action="check-keyring"]'));
    const result = await session.waitFor("[data-keyring-result]", { timeoutMs: 10000 });
    assert.match(await session.text(result), /^Working: stored, read back and deleted a test entry/);
  });

  it("keeps a setting across a restart (it round-trips through SQLite)", async () => {
    let { session } = running;
    await session.click(await session.waitFor('[data-nav="settings"]'));
    await session.click(await session.waitFor('input[name="theme"][value="dark"]'));
    await session.waitFor("[data-saved]", { text: "Saved." });
    assert.equal(await session.execute("return document.documentElement.dataset.theme"), "dark");
    await shoot(session, "settings-dark");

    await running.close();
    running = await launch(dataDir);
    session = running.session;
    await session.click(await session.waitFor('[data-nav="settings"]'));
    const dark = await session.waitFor('input[name="theme"][value="dark"]');
    for (let i = 0; i < 50 && !(await session.selected(dark)); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await session.selected(dark), true, "the dark theme is still chosen after a restart");
    assert.equal(await session.execute("return document.documentElement.dataset.theme"), "dark");
  });
});

describe("start-up with a damaged database", { skip: !app && "MAILPROOF_APP is not set" }, () => {
  it("moves the file aside, starts anyway, and says so", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "mailproof-e2e-corrupt-"));
    writeFileSync(join(dataDir, "mailproof.db"), "this is not a SQLite database ".repeat(200));
    const running = await launch(dataDir);
    try {
      const { session } = running;
      const banner = await session.waitFor('[data-banner="warning"]', { text: "was damaged" });
      assert.match(await session.text(banner), /moved aside to .*mailproof\.db\.corrupt-/);
      await shoot(session, "corrupt-database-notice");
      assert.equal(readdirSync(dataDir).filter((f) => f.startsWith("mailproof.db.corrupt-")).length, 1);
    } finally {
      await running.close();
    }
  });
});
