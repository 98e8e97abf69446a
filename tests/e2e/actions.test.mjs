// Email actions in the real app against the lab: build a job of one action to four verified mailboxes whose
// gateway policy differs (bob: delivered untouched → Missed; frank: refused → Prevented; erin: Junk → Detected;
// heidi: held → Prevented when the wait runs out), watch it run, open its results, expand an action and read its
// hop table and Message-ID.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setUpWithCli } from "./headless.mjs";
import { Session, answerSaveDialog, readLab, startDriver } from "./webdriver.mjs";
import { trustLabCa } from "./cloud.mjs";
import { auditSecrets, recordIpc } from "./secrets.mjs";

const app = process.env.MAILPROOF_APP;
const labEnv = process.env.MAILPROOF_LAB_ENV;
const cli = process.env.MAILPROOF_CLI ?? (app && join(dirname(app), "mailproof"));
const shots = process.env.MAILPROOF_E2E_OUT ?? join(tmpdir(), "mailproof-e2e");
mkdirSync(shots, { recursive: true });

const skip = (!app && "MAILPROOF_APP is not set") || (!labEnv && "MAILPROOF_LAB_ENV is not set (no mail lab)");

describe("email actions against the lab", { skip }, () => {
  let session;
  let driver;
  let lab;
  let dataDir;

  before(async () => {
    lab = readLab(labEnv);
    dataDir = mkdtempSync(join(tmpdir(), "mailproof-e2e-actions-"));
    setUpWithCli(cli, { ...process.env, MAILPROOF_DATA_DIR: dataDir }, lab, ["alice", "bob", "frank", "erin", "heidi"]);
    driver = await startDriver({ ...process.env, MAILPROOF_DATA_DIR: dataDir }, join(shots, "driver-actions.log"));
    session = await Session.start(driver.base, app);
  });

  after(async () => {
    await session?.quit().catch(() => {});
    await driver?.stop();
  });

  const click = async (css, opts) => session.click(await session.waitFor(css, opts));
  /** A screenshot, with the part named by `css` (if given) scrolled into view first. */
  const shoot = async (name, css) => {
    if (css) await session.execute(`document.querySelector(${JSON.stringify(css)})?.scrollIntoView()`);
    writeFileSync(join(shots, `${name}.png`), await session.screenshot());
  };

  it("says there are no jobs yet, then runs one live and shows its evidence", async () => {
    // The lab's CA, so the app trusts the lab's certificates.
    await trustLabCa(session, lab);
    await recordIpc(session);

    await click('[data-nav="results"]');
    await session.waitFor("[data-empty-state]", { text: "No jobs yet" });
    await shoot("results-empty");

    await click('[data-nav="actions"]');
    await session.waitFor('[data-action="A100-001"]');
    assert.ok((await session.findAll("tr[data-action]")).length >= 40, "the whole library is listed");
    // Starting with nothing chosen explains what is missing.
    await click("[data-start-job]");
    await session.waitFor(".field-error", { text: "Pick at least one action" });
    await session.waitFor(".field-error", { text: "at least one verified destination" });

    await click('[data-action="A100-002"] input[type="checkbox"]');
    await click('select[name="source"] option', { text: "alice@example.test" });
    for (const who of ["bob", "frank", "erin", "heidi"]) {
      await click(`input[name="destination"][value="${who}@example.test"]`);
    }
    await session.type(await session.waitFor('[name="timeout"]'), "8");
    await shoot("actions-builder");
    await click("[data-start-job]");
    // heidi's copy is held by the gateway: the job stays live, watching for it, until the wait runs out.
    await session.waitFor("[data-progress]", { text: "Running" });
    await session.waitFor("[data-group-progress] li", { text: "Group 4 → heidi@example.test" });
    await session.waitFor('[data-progress] [data-row="A100-002"][data-state="watching"]', { timeoutMs: 10000 });
    await session.waitFor('[data-progress] [data-row="A100-002"][data-state="decided"]', { timeoutMs: 10000 });
    await shoot("actions-running", "[data-progress]");
    await session.waitFor("[data-finished]", { timeoutMs: 60000 });
    await session.waitFor('[data-progress] [data-row="A100-002"]', { text: "Missed" });
    await session.waitFor('[data-progress] [data-row="A100-002"]', { text: "Prevented" });
    await session.waitFor('[data-progress] [data-row="A100-002"]', { text: "Detected" });
    await shoot("actions-finished", "[data-progress]");

    await click("[data-finished] a");
    await session.waitFor("[data-job-detail]", { text: "prevention rate 50%" });
    await session.waitFor("[data-runtime-params]", { text: "wait for each message 8 s" });
    await session.waitFor('[data-group="0"]', {
      text: "Group 1 (1 Actions): Src: This workstation (alice@example.test) → Dest: This workstation (bob@example.test)",
    });
    await shoot("results-job");
    // The results as CSV through the real save dialog: one row per action.
    const resultsCsv = join(shots, "job-results.csv");
    rmSync(resultsCsv, { force: true });
    await click("[data-export-csv]");
    await answerSaveDialog("Export job results", resultsCsv);
    await session.waitFor('[data-banner="info"]', { text: `Saved to ${resultsCsv}` });
    const rows = readFileSync(resultsCsv, "utf8").trim().split("\r\n");
    assert.equal(rows.length, 5, "a header and four actions");
    assert.ok(rows.some((r) => r.includes("frank@example.test") && r.includes("Prevented")), rows.join("\n"));
    await click('[data-group="0"] [data-expand="A100-002"]');
    const id = await session.text(await session.waitFor('[data-group="0"] [data-message-id]'));
    assert.match(id, /^mp-[a-z2-7]{12}\./);
    await session.waitFor('[data-group="0"] [data-hops] tbody tr', { text: "127.0.0.1" });
    await session.waitFor('[data-group="0"] [data-transcript]', { text: "C: MAIL FROM:<alice@example.test>" });
    await shoot("results-evidence");
    await click('[data-group="1"] [data-expand="A100-002"]');
    await session.waitFor('[data-group="1"] [data-evidence]', { text: "refused" });

    await click('a[href="#/results"]');
    await session.waitFor("[data-jobs] [data-job]", { text: "50%" });
    assert.equal((await session.findAll("[data-jobs] [data-rerun-job]")).length, 1, "each job can be re-run from the list");
    await shoot("results-list");

    // Message Tracking finds the job's messages by subject (words in any order, a typo tolerated) and by
    // Message-ID, and shows a message's history with a link back to the job.
    // Four test messages and the five verification mails of the setup.
    await click('[data-nav="tracking"]');
    await session.waitFor("[data-track-count]", { text: "1–9 of 9" });
    await session.type(await session.waitFor('[name="track-subject"]'), "txt eicar");
    await click("[data-track-search]");
    await session.waitFor("[data-track-count]", { text: "1–4 of 4" });
    await session.type(await session.waitFor('[name="track-subject"]'), "eicra");
    await click("[data-track-search]");
    await session.waitFor('[data-banner="warning"]', { text: "close matches" });
    await session.waitFor("[data-track-count]", { text: "of 4" });
    await click("button", { text: "Clear filters" });
    await session.waitFor("[data-track-count]", { text: "1–9 of 9" });
    await session.type(await session.waitFor('[name="track-message-id"]'), id);
    await click("[data-track-search]");
    await session.waitFor("[data-track-count]", { text: "1–1 of 1" });
    assert.equal((await session.findAll('[data-banner="warning"]')).length, 0, "the Message-ID matches exactly");
    // Export what is on screen through the real save dialog, and read the file back.
    const csv = join(shots, "tracking-export.csv");
    rmSync(csv, { force: true });
    await click("[data-track-export]");
    await answerSaveDialog("Export message tracking", csv);
    await session.waitFor('[data-banner="info"]', { text: `Exported 1 message to ${csv}.` });
    const lines = readFileSync(csv, "utf8").trim().split("\n");
    assert.equal(lines.length, 2, "a header and the one message");
    assert.match(lines[0], /^received_utc,message_id,envelope_sender,from,recipients,to,subject,/);
    assert.ok(lines[1].includes(id) && lines[1].includes("bob@example.test"), lines[1]);
    await click(`[data-track-row="${id}"] td`);
    await session.waitFor("[data-track-history]", { text: "Queued" });
    await session.waitFor("[data-track-history]", { text: "Delivered" });
    await session.waitFor("[data-track-detail]", { text: "Source IP 127.0.0.1" });
    await session.waitFor("[data-track-detail] [data-hops] tbody tr", { text: "127.0.0.1" });
    await shoot("tracking-history");
    await click("[data-track-job]");
    await session.waitFor("[data-job-detail]");

    // The job's prevention rate by category; then a re-run of the same choices (with a shorter wait), after
    // which the trend across runs has two points.
    await session.waitFor('[data-rate-bars] [data-category="malware"]', { text: "50%" });
    await session.waitFor("[data-trend-empty]");
    await click("[data-rerun]");
    await session.waitFor('[data-banner="info"]', { text: "Re-running" });
    await session.waitFor("[data-start-job]", { text: "Start job (4 actions)" });
    await session.type(await session.waitFor('[name="timeout"]'), "5");
    // This time the window is minimised while the job runs: its end is announced by a desktop notification,
    // seen here as the call on the session bus (the test session has no notification daemon to show it).
    const bus = spawn("dbus-monitor", ["--session", "interface=org.freedesktop.Notifications"]);
    let calls = "";
    bus.stdout.on("data", (d) => (calls += d));
    const rect = await session.cmd("GET", "/window/rect");
    await click("[data-start-job]");
    await session.cmd("POST", "/window/minimize", {});
    await session.waitFor("[data-finished]", { timeoutMs: 60000 });
    for (let i = 0; i < 50 && !calls.includes("Mailproof: job finished"); i++) await new Promise((r) => setTimeout(r, 100));
    bus.kill();
    await session.cmd("POST", "/window/rect", rect); // back in front
    assert.match(calls, /Mailproof: job finished/);
    assert.match(calls, /2 Prevented · 1 Detected · 0 Alerted · 1 Missed · 0 Errored · prevention rate 50%/);
    await click("[data-finished] a");
    await session.waitFor("[data-trend] circle");
    assert.equal((await session.findAll("[data-trend] circle")).length, 2, "two runs of the same actions");
    await shoot("results-charts");
  });

  it("leaves no password anywhere after the job, its exports and the tracking export", async () => {
    const users = ["alice", "bob", "frank", "erin", "heidi", "verifier"];
    const passwords = users.map((u) => lab[`LAB_PASSWORD_${u.toUpperCase()}`]);
    await auditSecrets({
      session,
      secrets: passwords,
      users: users.map((u, i) => [`${u}@example.test`, passwords[i]]),
      dirs: [dataDir],
      files: ["job-results.csv", "tracking-export.csv", "driver-actions.log"].map((f) => join(shots, f)),
      present: ["frank@example.test", "heidi@example.test"],
    });
  });
});
