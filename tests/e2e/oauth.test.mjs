// An IMAP profile that signs in with OAuth 2.0 in the real app, against the lab's real servers and its issuer
// (tests/fakes/google.py on LAB_OAUTH_URL, whose tokens Dovecot checks): the Account step's "OAuth 2.0" choice with
// a custom issuer, the connection test saying the account has not consented yet, "Save" opening the sign-in with the
// link the app shows when no browser opens (the test plays the browser), the connection test signing in with the
// token, verification from the table, and a job from the profile whose transcript shows the OAuth sign-in.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { playBrowser, runOneAction, trustLabCa } from "./cloud.mjs";
import { setUpWithCli } from "./headless.mjs";
import { auditSecrets, recordIpc } from "./secrets.mjs";
import { Session, readLab, startDriver } from "./webdriver.mjs";

const app = process.env.MAILPROOF_APP;
const labEnv = process.env.MAILPROOF_LAB_ENV;
const cli = process.env.MAILPROOF_CLI ?? (app && join(dirname(app), "mailproof"));
const shots = process.env.MAILPROOF_E2E_OUT ?? join(tmpdir(), "mailproof-e2e");
mkdirSync(shots, { recursive: true });

const skip = (!app && "MAILPROOF_APP is not set") || (!labEnv && "MAILPROOF_LAB_ENV is not set (no mail lab)");


describe("an IMAP profile signing in with OAuth 2.0", { skip }, () => {
  let session;
  let driver;
  let lab;
  let dataDir;

  before(async () => {
    lab = readLab(labEnv);
    dataDir = mkdtempSync(join(tmpdir(), "mailproof-e2e-oauth-"));
    const env = { ...process.env, MAILPROOF_DATA_DIR: dataDir, BROWSER: join(dataDir, "no-browser-here") };
    setUpWithCli(cli, env, lab, ["bob"]);
    driver = await startDriver(env, join(shots, "driver-oauth.log"));
    session = await Session.start(driver.base, app);
  });

  after(async () => {
    await session?.quit().catch(() => {});
    await driver?.stop();
  });

  const click = async (css, opts) => session.click(await session.waitFor(css, opts));
  const input = (name) => session.waitFor(`[data-wizard] [name="${name}"]`);
  const next = () => click('[data-action="next"]');
  const atStep = (n, timeoutMs = 5000) => session.waitFor(`[data-step="${n}"]`, { timeoutMs });
  const shoot = async (name) => writeFileSync(join(shots, `${name}.png`), await session.screenshot());

  it("adds carol with OAuth 2.0 at a custom issuer, signs her in through the loopback, tests, verifies and sends from her", async () => {
    await trustLabCa(session, lab);
    await recordIpc(session);

    await click('[data-nav="profiles"]');
    await click('[data-action="add-profile"]');
    await session.type(await input("email"), "carol@example.test");
    await next();
    await atStep(1, 15000);
    await session.type(await input("username"), "carol@example.test");
    await click('[data-wizard] input[name="sign-in"][value="oauth2"]');
    await session.execute(
      'const s = document.querySelector("[name=oauth-issuer]"); s.value = "custom"; s.dispatchEvent(new Event("change"));',
    );
    // A plain-HTTP issuer elsewhere than this machine is refused at once.
    await session.type(await input("oauth-authorization-url"), "http://id.example.test/authorize");
    await next();
    await session.waitFor('[data-field-error="oauth.authorizationUrl"]', { text: "https://" });
    await session.waitFor('[data-field-error="oauth.scopes"]', { text: "scopes" });
    await session.type(await input("oauth-authorization-url"), `${lab.LAB_OAUTH_URL}/o/oauth2/v2/auth`);
    await session.type(await input("oauth-token-url"), `${lab.LAB_OAUTH_URL}/token`);
    await session.type(await input("oauth-client"), lab.LAB_OAUTH_CLIENT_ID);
    await session.type(await input("oauth-scopes"), lab.LAB_OAUTH_SCOPE);
    await session.type(await input("password"), lab.LAB_OAUTH_CLIENT_SECRET);
    await shoot("oauth-account");
    await next();

    await atStep(2);
    await session.type(await input("incoming-host"), lab.LAB_HOST);
    await session.type(await input("incoming-port"), lab.LAB_IMAPS_PORT);
    await session.waitFor('[data-wizard] label', { text: "OAuth 2.0 at 127.0.0.1 (chosen with the account)" });
    await next();
    await atStep(3);
    await session.type(await input("outgoing-host"), lab.LAB_HOST);
    await session.type(await input("outgoing-port"), lab.LAB_SUBMISSION_PORT);
    await click('[data-wizard] input[name="outgoing-security"][value="startTls"]');
    await next();

    // Not signed in yet: the servers are reached, and the sign-in says what to do.
    await atStep(4);
    await session.waitFor('[data-diagnosis-result="failed"]', { timeoutMs: 20000 });
    await session.waitFor('[data-side="incoming"] [data-step-kind="login"][data-step-status="failed"]', {
      text: "has not consented yet",
    });
    await shoot("oauth-test-before-consent");
    await next();
    await session.waitFor('[data-step="5"] [data-summary]', { text: "OAuth 2.0 at 127.0.0.1" });
    await click('[data-action="save"]');

    const link = await session.waitFor("[data-signing-in] [data-consent-url]", { timeoutMs: 10000 });
    await session.waitFor("[data-signing-in]", { text: "Sign in to 127.0.0.1 as carol@example.test" });
    const url = await session.text(link);
    assert.ok(url.startsWith(`${lab.LAB_OAUTH_URL}/o/oauth2/v2/auth?`) && url.includes("code_challenge_method=S256"), url);
    assert.match(await playBrowser(url), /Mailproof has your consent/);
    await session.waitFor('[data-banner="info"]', { text: "signed in to 127.0.0.1", timeoutMs: 20000 });

    const row = '[data-table="profiles"] tr[data-profile="carol@example.test"]';
    await session.waitFor(`${row} [data-action="sign-in"]`, { text: "Sign in again" });
    await click(`${row} [data-action="test"]`);
    await session.waitFor('[data-diagnosis-result="ok"]', { timeoutMs: 20000 });
    await session.waitFor('[data-side="incoming"] [data-step-kind="login"][data-step-status="passed"]');
    await shoot("oauth-test");
    await click('[data-action="cancel"]');

    await click(`${row} [data-action="verify"]`);
    await session.waitFor(`${row} [data-account-status]`, { text: "Verified", timeoutMs: 30000 });
    await runOneAction(session, { source: "carol@example.test", destination: "bob@example.test", verdict: "Missed", evidence: "OAUTHBEARER" });
    await shoot("oauth-results");

    // Nothing holds the client secret: the data folder, the app's log, its window's IPC, any process's arguments.
    await auditSecrets({
      session,
      secrets: [lab.LAB_OAUTH_CLIENT_SECRET],
      dirs: [dataDir],
      files: [join(shots, "driver-oauth.log")],
      present: ["carol@example.test"],
    });
  });
});
