// A Gmail profile in the real app, against the fake Google (tests/fakes/google.py) in front of the lab: the
// wizard's Gmail path with its checks, "Save and sign in with Google" with the consent through the loopback (the
// test plays the browser from the link the app shows when no browser opens), the connection test of the signed-in
// profile, verification from the table, and a job to it that shows Detected for the copy Gmail labelled Spam.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { playBrowser, runOneAction, startFake, trustLabCa } from "./cloud.mjs";
import { setUpWithCli } from "./headless.mjs";
import { auditSecrets, recordIpc } from "./secrets.mjs";
import { Session, readLab, startDriver } from "./webdriver.mjs";

const app = process.env.MAILPROOF_APP;
const labEnv = process.env.MAILPROOF_LAB_ENV;
const cli = process.env.MAILPROOF_CLI ?? (app && join(dirname(app), "mailproof"));
const shots = process.env.MAILPROOF_E2E_OUT ?? join(tmpdir(), "mailproof-e2e");
mkdirSync(shots, { recursive: true });

const CLIENT_ID = "418276350914-e2e0fake9gmail2desktop5client.apps.googleusercontent.com";
const SECRET = "GOCSPX-e2e_Fake-Gmail-client-Secret77";

const skip = (!app && "MAILPROOF_APP is not set") || (!labEnv && "MAILPROOF_LAB_ENV is not set (no mail lab)");



describe("a Gmail profile through the Gmail API", { skip }, () => {
  let session;
  let driver;
  let lab;
  let fake;
  let base;
  let dataDir;

  before(async () => {
    lab = readLab(labEnv);
    dataDir = mkdtempSync(join(tmpdir(), "mailproof-e2e-gmail-"));
    ({ fake, base } = await startFake("google.py", dataDir, labEnv, {
      clients: [{ id: CLIENT_ID, secret: SECRET }],
      accounts: [{ address: "erin@example.test" }, { address: "bob@example.test" }],
      signedIn: "erin@example.test",
    }));
    // No browser on this machine: the app says so and shows the link, which the test opens itself.
    const env = {
      ...process.env,
      MAILPROOF_DATA_DIR: dataDir,
      MAILPROOF_GOOGLE_OAUTH_URL: base,
      MAILPROOF_GMAIL_URL: base,
      BROWSER: join(dataDir, "no-browser-here"),
    };
    setUpWithCli(cli, env, lab, ["alice"]);
    driver = await startDriver(env, join(shots, "driver-gmail.log"));
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

  it("adds erin's mailbox with the Gmail path, signs it in through the loopback, tests, verifies it and detects Spam", async () => {
    await trustLabCa(session, lab);
    await recordIpc(session);

    await click('[data-nav="profiles"]');
    await click('[data-action="add-profile"]');
    await session.type(await input("email"), "erin@example.test");
    await click('[data-wizard] input[name="serverType"][value="gmail"]');
    await click('[data-action="next"]');
    await session.waitFor('[data-step="1"] [data-gmail-howto]', { text: "Desktop app" });
    // A project name instead of the client ID, and the client ID pasted as the secret, are caught at once.
    await session.type(await input("gmail-client"), "my-mailproof-project");
    await session.type(await input("password"), CLIENT_ID);
    await click('[data-action="next"]');
    await session.waitFor('[data-field-error="gmail.clientId"]', { text: "apps.googleusercontent.com" });
    await session.waitFor('[data-field-error="password"]', { text: "not the Client secret" });
    await session.type(await input("gmail-client"), CLIENT_ID);
    await session.type(await input("password"), SECRET);
    await shoot("gmail-oauth-client");
    await click('[data-action="next"]');
    // Not signed in yet: no test step; saving signs in.
    await session.waitFor('[data-step="5"] [data-summary]', { text: "Gmail (Gmail API)" });
    await click('[data-action="save"]', { text: "Save and sign in with Google" });

    const link = await session.waitFor("[data-signing-in] [data-consent-url]", { timeoutMs: 10000 }).catch(async (e) => {
      await shoot("gmail-sign-in-failed");
      throw e;
    });
    await session.waitFor("[data-signing-in]", { text: "could not open your browser" });
    await shoot("gmail-sign-in");
    const url = await session.text(link);
    assert.ok(url.startsWith(`${base}/o/oauth2/v2/auth?`) && url.includes("code_challenge_method=S256"), url);
    const page = await playBrowser(url);
    assert.match(page, /Mailproof has your consent/);
    await session.waitFor('[data-banner="info"]', { text: "signed in to Google", timeoutMs: 15000 });

    const row = '[data-table="profiles"] tr[data-profile="erin@example.test"]';
    await session.waitFor(row, { text: "Gmail" });
    await session.waitFor(`${row} [data-action="sign-in"]`, { text: "Sign in again" });
    await click(`${row} [data-action="test"]`);
    await session.waitFor('[data-diagnosis-result="ok"]', { text: "through Gmail API passed", timeoutMs: 20000 });
    await session.waitFor('[data-side="incoming"]', { text: "Inbox, Spam and Trash" });
    await session.waitFor('[data-side="outgoing"]', { text: "Mail goes out as erin@example.test" });
    await shoot("gmail-test");
    await click('[data-action="cancel"]');

    await click(`${row} [data-action="verify"]`);
    await session.waitFor(`${row} [data-account-status]`, { text: "Verified", timeoutMs: 30000 });
    await shoot("gmail-profiles");

    await runOneAction(session, { source: "alice@example.test", destination: "erin@example.test", verdict: "Detected", evidence: "Spam" });
    await shoot("gmail-results");

    // Nothing holds the client secret or a token Google issued: the data folder, the app's log, its window's
    // IPC, any process's arguments.
    const log = await (await fetch(`${base}/_fake/log`)).json();
    assert.ok(log.issuedTokens.length > 0);
    await auditSecrets({
      session,
      secrets: [SECRET, ...log.issuedTokens],
      dirs: [dataDir],
      files: [join(shots, "driver-gmail.log")],
      present: ["erin@example.test"],
      skip: [join(dataDir, "google.py.json")],
    });
  });

  it("adds and signs in a Gmail profile headless: the URL on stdout, the consent on the loopback, then verifies it", async () => {
    const env = { ...process.env, MAILPROOF_DATA_DIR: dataDir, MAILPROOF_GOOGLE_OAUTH_URL: base, MAILPROOF_GMAIL_URL: base };
    const file = join(dataDir, "bob-gmail.toml");
    writeFileSync(file, `email = "bob@example.test"\nserverType = "gmail"\nactorIds = ["this-workstation"]\n[gmail]\nclientId = "${CLIENT_ID}"\n`);
    execFileSync(cli, ["profile", "add", "--file", file], { env, input: SECRET, stdio: ["pipe", "pipe", "pipe"] });
    const list = execFileSync(cli, ["profile", "list"], { env }).toString();
    assert.match(list, /Not signed in to Google yet/);

    await fetch(`${base}/_fake/control`, { method: "POST", body: JSON.stringify({ signedIn: "bob@example.test" }) });
    const authorize = spawn(cli, ["profile", "authorize", "bob@example.test", "--wait", "30"], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    authorize.stderr.on("data", (d) => (stderr += d));
    const url = await new Promise((resolve, reject) => {
      authorize.stdout.once("data", (d) => resolve(String(d).trim()));
      authorize.once("exit", (code) => reject(new Error(`authorize exited (${code}): ${stderr}`)));
    });
    assert.ok(url.startsWith(`${base}/o/oauth2/v2/auth?`) && url.includes("login_hint=bob%40example.test"), url);
    await playBrowser(url);
    const code = await new Promise((resolve) => authorize.once("exit", resolve));
    assert.equal(code, 0, stderr);
    assert.match(stderr, /Authorized bob@example.test/);
    const verified = execFileSync(cli, ["profile", "verify", "bob@example.test", "--ca", lab.LAB_CA, "--wait", "20"], { env }).toString();
    assert.match(verified, /^Verified\s+This workstation: Verified: the verification mail arrived/m);
  });
});
