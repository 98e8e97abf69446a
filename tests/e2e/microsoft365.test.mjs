// A Microsoft 365 profile in the real app, against the fake identity platform and Graph (tests/fakes) in front
// of the lab: the wizard's Graph path with its live test, the secret's expiry warning in the table, verification
// from the table, and a job to it that shows Detected for the copy the gateway filed to Junk Email.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runOneAction, startFake, trustLabCa } from "./cloud.mjs";
import { setUpWithCli } from "./headless.mjs";
import { auditSecrets, recordIpc } from "./secrets.mjs";
import { Session, readLab, startDriver } from "./webdriver.mjs";

const app = process.env.MAILPROOF_APP;
const labEnv = process.env.MAILPROOF_LAB_ENV;
const cli = process.env.MAILPROOF_CLI ?? (app && join(dirname(app), "mailproof"));
const shots = process.env.MAILPROOF_E2E_OUT ?? join(tmpdir(), "mailproof-e2e");
mkdirSync(shots, { recursive: true });

const TENANT = "7d3c6a4e-1f0b-4c55-9a8e-2b6f0c9d1e42";
const CLIENT_ID = "5e8f2a1c-93b4-4d7e-a6c0-f1b2d3e4a5c6";
const SECRET = "Xq8~e2e.fake-Graph_secret-value-9876543210";

const skip = (!app && "MAILPROOF_APP is not set") || (!labEnv && "MAILPROOF_LAB_ENV is not set (no mail lab)");


describe("a Microsoft 365 profile through Graph", { skip }, () => {
  let session;
  let driver;
  let lab;
  let fake;
  let dataDir;

  before(async () => {
    lab = readLab(labEnv);
    dataDir = mkdtempSync(join(tmpdir(), "mailproof-e2e-m365-"));
    const started = await startFake("microsoft365.py", dataDir, labEnv, {
      tenant: TENANT,
      apps: [{ clientId: CLIENT_ID, secrets: [{ value: SECRET, expires: "2099-12-31T00:00:00Z" }] }],
      mailboxes: [{ address: "erin@example.test" }],
    });
    fake = started.fake;
    const env = { ...process.env, MAILPROOF_DATA_DIR: dataDir, MAILPROOF_GRAPH_LOGIN_URL: started.base, MAILPROOF_GRAPH_URL: started.base };
    // Mailproof's sender and the IMAP source profile, set up headless as a scheduled setup would.
    setUpWithCli(cli, env, lab, ["alice"]);
    driver = await startDriver(env, join(shots, "driver-m365.log"));
    session = await Session.start(driver.base, app);
  });

  after(async () => {
    await session?.quit().catch(() => {});
    await driver?.stop();
    fake?.kill();
  });

  const click = async (css, opts) => session.click(await session.waitFor(css, opts));
  const input = (name) => session.waitFor(`[data-wizard] [name="${name}"]`);
  const shoot = async (name) => writeFileSync(join(shots, `${name}.png`), await session.screenshot());

  it("adds erin's mailbox with the Graph path, warns of the secret's expiry, verifies it and detects Junk Email", async () => {
    await trustLabCa(session, lab);
    await recordIpc(session);

    await click('[data-nav="profiles"]');
    await click('[data-action="add-profile"]');
    await session.type(await input("email"), "erin@example.test");
    await click('[data-wizard] input[name="serverType"][value="graph"]');
    await click('[data-action="next"]');
    await session.waitFor('[data-step="1"] [data-graph-howto]', { text: "Mail.ReadWrite" });
    // The secret's ID (a GUID) instead of its value is caught before anything is tried.
    await session.type(await input("graph-tenant"), TENANT);
    await session.type(await input("graph-client"), CLIENT_ID);
    await session.type(await input("password"), "0b6f1c1e-aaaa-bbbb-cccc-000000000000");
    const soon = new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10);
    await session.execute(
      `const i = document.querySelector('[name="graph-secret-expires"]'); i.value = arguments[0]; i.dispatchEvent(new Event("input", { bubbles: true }));`,
      soon,
    );
    await click('[data-action="next"]');
    await session.waitFor('[data-field-error="password"]', { text: "the secret's ID" });
    await session.type(await input("password"), SECRET);
    await session.waitFor("[data-secret-days]", { text: "expires in 10 days" });
    await shoot("m365-app-registration");
    await click('[data-action="next"]');

    await session.waitFor('[data-step="4"]');
    await session.waitFor('[data-diagnosis-result="ok"]', { text: "through Microsoft Graph passed", timeoutMs: 20000 });
    await session.waitFor('[data-side="incoming"]', { text: "Mailbox folders" });
    await session.waitFor('[data-side="outgoing"]', { text: "Mail.Send is granted" });
    await shoot("m365-test");
    await click('[data-action="next"]');
    await session.waitFor("[data-summary]", { text: "Microsoft 365 (Graph API)" });
    await click('[data-action="save"]');

    const row = '[data-table="profiles"] tr[data-profile="erin@example.test"]';
    await session.waitFor(row, { text: "Microsoft 365" });
    await session.waitFor(`${row} [data-secret-notice]`, { text: `expires on ${soon} (in 10 days)` });
    await click(`${row} [data-action="verify"]`);
    await session.waitFor(`${row} [data-account-status]`, { text: "Verified", timeoutMs: 30000 });
    await shoot("m365-profiles");

    await runOneAction(session, { source: "alice@example.test", destination: "erin@example.test", verdict: "Detected", evidence: "Junk Email" });
    await shoot("m365-results");

    // Nothing holds the secret: the data folder (database, write-ahead log, evidence), the app's log, its
    // window's IPC, any process's arguments.
    await auditSecrets({
      session,
      secrets: [SECRET],
      dirs: [dataDir],
      files: [join(shots, "driver-m365.log")],
      present: ["erin@example.test"],
      skip: [join(dataDir, "microsoft365.py.json")],
    });
  });
});
