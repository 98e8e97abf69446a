// Alerted in the real app against the lab: mark alerts@ as the alerts mailbox on the Email Profiles screen, run one
// action to nina (the lab's gateway delivers her mail untouched and sends an incident report about it to alerts@)
// and to olga (held in quarantine, and reported there too), and see the notice in the live progress, the counts
// and the evidence — nina's action Alerted, olga's still Prevented with the notice beside it.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setUpWithCli } from "./headless.mjs";
import { Session, answerSaveDialog, readLab, startDriver } from "./webdriver.mjs";
import { trustLabCa } from "./cloud.mjs";

const app = process.env.MAILPROOF_APP;
const labEnv = process.env.MAILPROOF_LAB_ENV;
const cli = process.env.MAILPROOF_CLI ?? (app && join(dirname(app), "mailproof"));
const shots = process.env.MAILPROOF_E2E_OUT ?? join(tmpdir(), "mailproof-e2e");
mkdirSync(shots, { recursive: true });

const skip = (!app && "MAILPROOF_APP is not set") || (!labEnv && "MAILPROOF_LAB_ENV is not set (no mail lab)");

describe("a gateway's notice in the alerts mailbox", { skip }, () => {
  let session;
  let driver;
  let lab;

  before(async () => {
    lab = readLab(labEnv);
    const dataDir = mkdtempSync(join(tmpdir(), "mailproof-e2e-alerted-"));
    setUpWithCli(cli, { ...process.env, MAILPROOF_DATA_DIR: dataDir }, lab, ["alice", "nina", "olga", "alerts"]);
    driver = await startDriver({ ...process.env, MAILPROOF_DATA_DIR: dataDir }, join(shots, "driver-alerted.log"));
    session = await Session.start(driver.base, app);
  });

  after(async () => {
    await session?.quit().catch(() => {});
    await driver?.stop();
  });

  const click = async (css, opts) => session.click(await session.waitFor(css, opts));
  const shoot = async (name, css) => {
    if (css) await session.execute(`document.querySelector(${JSON.stringify(css)})?.scrollIntoView()`);
    writeFileSync(join(shots, `${name}.png`), await session.screenshot());
  };

  it("marks the alerts mailbox, and a reported delivery ends Alerted with the notice as evidence", async () => {
    await trustLabCa(session, lab);
    await click('[data-nav="profiles"]');
    await click('[data-profile="alerts@example.test"] [data-action="alerts-mailbox"]', { text: "Use as alerts mailbox" });
    await session.waitFor('[data-profile="alerts@example.test"] [data-alerts-mailbox]', { text: "Alerts mailbox" });
    await session.waitFor('[data-banner="info"]', { text: "alerts@example.test is now an alerts mailbox" });
    assert.equal((await session.findAll("[data-alerts-mailbox]")).length, 1, "only the one marked");
    await shoot("alerts-mailbox");

    // The job's wait comes from Settings → Email Actions, not from the builder: a bad value is refused in words,
    // a good one saved and found in the builder.
    await click('[data-nav="settings"]');
    await session.type(await session.waitFor('[name="default-timeout"]'), "1");
    await click('[data-action="save-action-timing"]');
    await session.waitFor('[data-field-error="action-timing"]', { text: "a whole number of seconds from 3 to 86,400" });
    await session.type(await session.waitFor('[name="default-timeout"]'), "6");
    await click('[data-action="save-action-timing"]');
    await session.waitFor('[data-saved="action-timing"]', { text: "new jobs start from this timing" });

    await click('[data-nav="actions"]');
    await session.waitFor('[data-action="A100-002"]');
    assert.equal(await session.execute('return document.querySelector("[name=timeout]").value'), "6", "from Settings");
    await click('[data-action="A100-002"] input[type="checkbox"]');
    await click('select[name="source"] option', { text: "alice@example.test" });
    for (const who of ["nina", "olga"]) await click(`input[name="destination"][value="${who}@example.test"]`);
    await click("[data-start-job]");
    await session.waitFor("[data-finished]", { timeoutMs: 60000 });
    await session.waitFor('[data-progress] [data-row="A100-002"]', { text: "Alerted" });
    await session.waitFor('[data-progress] [data-row="A100-002"]', { text: "Prevented" });
    await session.waitFor(".counts .verdict-alerted", { text: "Alerted 1" });
    await shoot("alerted-finished", "[data-progress]");

    await click("[data-finished] a");
    await session.waitFor('[data-group="0"]', { text: "0 Detected · 1 Alerted · 0 Missed" });
    await click('[data-group="0"] [data-expand="A100-002"]');
    await session.waitFor('[data-group="0"] [data-notice="0"]', { text: "Incident report: a message to nina@example.test" });
    await session.waitFor('[data-group="0"] [data-notice="0"]', { text: "to alerts@example.test" });
    // The received copy's authentication results, as the lab gateway's DKIM verifier (OpenDKIM) wrote them.
    await session.waitFor('[data-group="0"] [data-auth-summary]', { text: "DKIM none" });
    await session.waitFor('[data-group="0"] [data-auth-results]', { text: "mx.example.test" });
    await shoot("alerted-evidence", '[data-group="0"] [data-notice="0"]');
    await click('[data-group="1"] [data-expand="A100-002"]');
    await session.waitFor('[data-group="1"] [data-result="A100-002"]', { text: "The gateway also sent a notice about it" });
    await session.waitFor('[data-group="1"] [data-notice="0"]', { text: "Quarantine notice" });

    const resultsCsv = join(shots, "alerted-results.csv");
    rmSync(resultsCsv, { force: true });
    await click("[data-export-csv]");
    await answerSaveDialog("Export job results", resultsCsv);
    await session.waitFor('[data-banner="info"]', { text: `Saved to ${resultsCsv}` });
    const rows = readFileSync(resultsCsv, "utf8").trim().split("\r\n");
    assert.match(rows[0], /,notices,sent_by,read_by$/);
    assert.ok(rows.slice(1).every((r) => r.endsWith(",This workstation,This workstation")), rows.join("\n"));
    assert.ok(rows.some((r) => r.includes("nina@example.test") && r.includes(",Alerted,")), rows.join("\n"));

    // Message Tracking tells the notice Mailproof received from the test messages it sent.
    await click('[data-nav="tracking"]');
    await session.type(await session.waitFor('[name="track-subject"]'), "incident report");
    await click("[data-track-search]");
    await session.waitFor("[data-track-count]", { text: "1–1 of 1" });
    await session.waitFor('[data-track-results] [data-direction="received"]', { text: "Received" });
    await click("button", { text: "Clear filters" });
    await session.waitFor('[data-track-results] [data-direction="sent"]', { text: "Sent" });
    await shoot("alerted-tracking");

    await click('[data-nav="results"]');
    const row = await session.waitFor("[data-jobs] [data-job]");
    // Prevented, Detected, Alerted, Missed, Errored: 1, 0, 1, 0, 0; the rate counts the alerted action as not stopped.
    const cells = await session.execute(
      `return [...document.querySelectorAll("[data-jobs] [data-job] td")].map((td) => td.textContent.trim())`,
    );
    assert.deepEqual(cells.slice(4, 10), ["1", "0", "1", "0", "0", "50%"], JSON.stringify(cells));
    assert.ok(row);
    await shoot("alerted-jobs");
  });
});
