// The Add Email Profile wizard in the real app against the real mail lab: validation, the live connection test,
// an untrusted certificate refused then pinned, a wrong password explained, and the saved row in the table.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { auditSecrets, recordIpc } from "./secrets.mjs";
import { Session, freePort, readLab, startDriver } from "./webdriver.mjs";

const app = process.env.MAILPROOF_APP;
const labEnv = process.env.MAILPROOF_LAB_ENV;
const shots = process.env.MAILPROOF_E2E_OUT ?? join(tmpdir(), "mailproof-e2e");
mkdirSync(shots, { recursive: true });

/** Serves example.test's autoconfig file, pointing at the lab; everything else is 404. Loopback only. */
async function autoconfigServer(lab) {
  const xml = `<?xml version="1.0"?><clientConfig version="1.1"><emailProvider id="example.test">
<domain>example.test</domain>
<incomingServer type="imap"><hostname>${lab.LAB_HOST}</hostname><port>${lab.LAB_IMAPS_PORT}</port>
<socketType>SSL</socketType><username>%EMAILADDRESS%</username><authentication>password-cleartext</authentication></incomingServer>
<outgoingServer type="smtp"><hostname>${lab.LAB_HOST}</hostname><port>${lab.LAB_SUBMISSION_PORT}</port>
<socketType>STARTTLS</socketType><username>%EMAILADDRESS%</username></outgoingServer>
</emailProvider></clientConfig>`;
  const server = createServer((req, res) => {
    const wanted = req.headers.host === "autoconfig.example.test" && req.url.startsWith("/mail/config-v1.1.xml");
    res.writeHead(wanted ? 200 : 404, { "content-type": "text/xml" });
    res.end(wanted ? xml : "");
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

const skip = (!app && "MAILPROOF_APP is not set") || (!labEnv && "MAILPROOF_LAB_ENV is not set (no mail lab)");

describe("the Add Email Profile wizard against the lab", { skip }, () => {
  let session;
  let driver;
  let lab;
  let autoconfig;
  let dataDir;

  before(async () => {
    lab = readLab(labEnv);
    autoconfig = await autoconfigServer(lab);
    const base = `http://127.0.0.1:${autoconfig.address().port}`;
    dataDir = mkdtempSync(join(tmpdir(), "mailproof-e2e-profiles-"));
    const env = {
      ...process.env,
      MAILPROOF_DATA_DIR: dataDir,
      // Discovery stays on loopback: autoconfig and ISPDB from the server above, DNS from a port where nothing
      // listens (SRV, MX and the guess then find nothing, quickly).
      MAILPROOF_DISCOVERY_HTTP_BASE: base,
      MAILPROOF_ISPDB_BASE: `${base}/ispdb/`,
      MAILPROOF_DISCOVERY_DNS: `127.0.0.1:${await freePort()}`,
    };
    driver = await startDriver(env, join(shots, "driver-profiles.log"));
    session = await Session.start(driver.base, app);
  });

  after(async () => {
    await session?.quit().catch(() => {});
    await driver?.stop();
    autoconfig?.close();
  });

  const input = (name) => session.waitFor(`[data-wizard] [name="${name}"]`);
  const click = async (css) => session.click(await session.waitFor(css));
  const next = () => click('[data-action="next"]');
  const atStep = (n, timeoutMs = 5000) => session.waitFor(`[data-step="${n}"]`, { timeoutMs });
  const shoot = async (name) => writeFileSync(join(shots, `${name}.png`), await session.screenshot());

  it("adds bob's IMAP profile from discovery to saved row: bad address refused, certificate pinned, wrong password explained", async () => {
    await recordIpc(session);
    await click('[data-nav="profiles"]');
    await click('[data-action="add-profile"]');

    // Step 1 warns, before anything is typed, that test threats will arrive in the mailbox.
    await session.waitFor("[data-dedicated-mailbox]", { text: "a mailbox set aside for testing that nobody reads" });
    // A bad address is refused inline.
    await session.type(await input("email"), "bob");
    await next();
    await session.waitFor('[data-field-error="email"]', { text: "such as name@example.com" });
    await session.type(await input("email"), "bob@example.test");
    await next();

    // Step 2 (after discovery, a few seconds at most): the user name comes from the autoconfig file; a wrong
    // password first.
    await atStep(1, 15000);
    assert.equal(await session.execute('return document.querySelector("[name=username]").value'), "bob@example.test");
    // Before the first failure: what a two-factor account needs instead of its password.
    await session.waitFor("[data-app-password]", { text: "create an app password" });
    await session.type(await input("password"), "wrong-password");
    await next();

    // Steps 3 and 4: prefilled by discovery from the domain's autoconfig file, which says so.
    await atStep(2);
    await session.waitFor('[data-origin="incoming"]', { text: "Found in the domain's autoconfig file" });
    const value = (name) => session.execute(`return document.querySelector('[name="${name}"]').value`);
    assert.equal(await value("incoming-host"), lab.LAB_HOST);
    assert.equal(await value("incoming-port"), lab.LAB_IMAPS_PORT);
    await session.waitFor('[data-source="autoconfig"][data-outcome="found"]');
    await session.waitFor('[data-source="srv"]:not([data-outcome="found"])');
    await shoot("wizard-discovered");
    await next();
    await atStep(3);
    await session.waitFor('[data-origin="outgoing"]', { text: "Found in the domain's autoconfig file" });
    assert.equal(await value("outgoing-host"), lab.LAB_HOST);
    assert.equal(await value("outgoing-port"), lab.LAB_SUBMISSION_PORT);
    await next();

    // Step 5: the lab's own CA is not trusted: refused, with the certificate offered for pinning.
    await atStep(4);
    await session.waitFor('[data-diagnosis-result="failed"]', { timeoutMs: 20000 });
    await session.waitFor('[data-side="incoming"] [data-step-kind="tls"][data-step-status="failed"]', {
      text: "which this machine does not trust",
    });
    await shoot("wizard-untrusted-certificate");
    await click('[data-action="pin-incoming"]');
    await session.waitFor('[data-diagnosis-result="failed"]', { timeoutMs: 20000 });
    await click('[data-action="pin-outgoing"]');
    await session.waitFor('[data-diagnosis-result="failed"]', { timeoutMs: 20000 });

    // Pinned: TLS goes through (with a warning); the wrong password is explained on both servers.
    await session.waitFor('[data-side="incoming"] [data-step-kind="tls"][data-step-status="warning"]');
    await session.waitFor('[data-side="incoming"] [data-step-kind="login"][data-step-status="failed"]', {
      text: "Check the user name (bob@example.test) and the password",
    });
    await session.waitFor('[data-side="outgoing"] [data-step-kind="login"][data-step-status="failed"]', {
      text: "rejected the user name or password",
    });
    await shoot("wizard-wrong-password");

    // Back to the account step, the right password, and the test passes.
    for (let i = 0; i < 3; i++) await click('[data-action="back"]');
    await atStep(1);
    await session.type(await input("password"), lab.LAB_PASSWORD_BOB);
    await next();
    await next();
    await next();
    await session.waitFor('[data-diagnosis-result="ok"]', { timeoutMs: 20000 });
    await session.waitFor('[data-side="outgoing"] [data-step-kind="login"][data-step-status="passed"]');
    await shoot("wizard-test-passed");
    await next();

    // Step 6: save, and the row appears.
    await atStep(5);
    await click('[data-action="save"]');
    const row = await session.waitFor('[data-table="profiles"] tr[data-profile="bob@example.test"]');
    const text = await session.text(row);
    assert.match(text, new RegExp(`${lab.LAB_HOST}:${lab.LAB_IMAPS_PORT}`));
    assert.match(text, /Not yet verified/);
    assert.match(text, /This workstation: Not yet verified/);
    await shoot("profiles-table");
  });

  it("tests the saved profile's connection from the table with the stored password", async () => {
    await click('[data-profile="bob@example.test"] [data-action="test"]');
    await session.waitFor('[data-diagnosis-result="ok"]', { timeoutMs: 20000 });
    await click('[data-action="cancel"]');
    await session.waitFor('[data-table="profiles"]');
  });

  it("adds a POP3 profile that signs in with NTLMv2 as LAB\\bob on the lab's Samba domain", async (t) => {
    if (!lab.LAB_NTLM_USER) return t.skip("the lab was started without --ntlm");
    await click('[data-action="add-profile"]');
    await session.type(await input("email"), "ntlm-bob@example.test");
    await click('[data-wizard] input[name="serverType"][value="pop3"]');
    await next();
    await atStep(1, 15000);
    await session.type(await input("username"), lab.LAB_NTLM_USER);
    await session.type(await input("password"), lab.LAB_NTLM_PASSWORD);
    await next();

    // Nothing discovered for POP3 (the autoconfig file names IMAP only): guessed, and said so.
    await atStep(2);
    await session.waitFor('[data-origin="incoming"]', { text: "Nothing was discovered for this server" });
    await session.type(await input("incoming-host"), lab.LAB_HOST);
    await session.type(await input("incoming-port"), lab.LAB_NTLM_POP3S_PORT);
    await click('[data-wizard] input[name="incoming-auth"][value="ntlm"]');
    await next();
    await atStep(3);
    await session.type(await input("outgoing-host"), lab.LAB_HOST);
    await session.type(await input("outgoing-port"), lab.LAB_NTLM_SUBMISSION_PORT);
    await click('[data-wizard] input[name="outgoing-auth"][value="ntlm"]');
    await next();

    await atStep(4);
    await session.waitFor('[data-diagnosis-result="failed"]', { timeoutMs: 20000 });
    await click('[data-action="pin-incoming"]');
    await session.waitFor('[data-diagnosis-result="failed"]', { timeoutMs: 20000 });
    await click('[data-action="pin-outgoing"]');
    await session.waitFor('[data-diagnosis-result="ok"]', { timeoutMs: 20000 });
    await session.waitFor('[data-side="incoming"] [data-step-kind="login"][data-step-status="passed"]', {
      text: "Signed in as LAB\\bob",
    });
    await shoot("wizard-ntlm-pop3-passed");

    // Back on the outgoing step, the choices follow what the server announced: NTLM only.
    await click('[data-action="back"]');
    await atStep(3);
    await session.waitFor('[data-offered="outgoing"]', { text: "The server announced: NTLM." });
    assert.equal(
      await session.execute('return document.querySelector(\'[name="outgoing-auth"][value="plain"]\').disabled'),
      true,
    );
    await next();
    await session.waitFor('[data-diagnosis-result="ok"]', { timeoutMs: 20000 });
    await next();
    await atStep(5);
    await click('[data-action="save"]');
    const row = await session.waitFor('[data-table="profiles"] tr[data-profile="ntlm-bob@example.test"]');
    assert.match(await session.text(row), /POP3/);
  });

  it("verifies bob from the table once Mailproof's sender and the lab CA are set in Settings", async () => {
    // Without a sender, verification says where to set one.
    await click('[data-profile="bob@example.test"] [data-action="verify"]');
    await session.waitFor('[data-banner="error"]', { text: "Settings → Email" });
    await click('[data-action="open-email-settings"]');
    await session.waitFor('[data-screen="settings"]');

    await session.type(await session.waitFor('[name="trusted-ca"]'), lab.LAB_CA);
    await click('[data-action="save-ca"]');
    await session.waitFor("[data-ca-result]", { text: "Trusting the CA" });
    await session.type(await session.waitFor('[name="sender-host"]'), lab.LAB_HOST);
    await session.type(await session.waitFor('[name="sender-port"]'), lab.LAB_SUBMISSION_PORT);
    await session.type(await session.waitFor('[name="sender-username"]'), "alice@example.test");
    await session.type(await session.waitFor('[name="sender-password"]'), lab.LAB_PASSWORD_ALICE);
    await session.type(await session.waitFor('[name="sender-from"]'), "alice@example.test");
    await click('[data-action="test-sender"]');
    await session.waitFor('[data-sender-diagnosis="ok"] [data-step-kind="login"][data-step-status="passed"]', {
      timeoutMs: 20000,
    });
    await click('[data-action="save-sender"]');
    await session.waitFor("[data-saved-email]", { text: "Sender saved" });
    await shoot("settings-email");

    await click('[data-nav="profiles"]');
    await click('[data-profile="bob@example.test"] [data-action="verify"]');
    const status = '[data-profile="bob@example.test"] [data-actor-status="this-workstation"]';
    await session.waitFor(status, { text: "This workstation: Verified", timeoutMs: 30000 });
    await session.waitFor(status, { text: "the verification mail arrived after" });
    await session.waitFor('[data-profile="bob@example.test"] [data-account-status]', { text: "Verified" });
    await shoot("profiles-verified");
  });

  it("leaves no password in the data folder, in anything the app printed or sent its window, or in any process's arguments", async () => {
    const secrets = [lab.LAB_PASSWORD_BOB, lab.LAB_PASSWORD_ALICE, lab.LAB_NTLM_PASSWORD, "wrong-password"].filter(Boolean);
    await auditSecrets({
      session,
      secrets,
      users: [["bob@example.test", lab.LAB_PASSWORD_BOB], ["alice@example.test", lab.LAB_PASSWORD_ALICE]],
      dirs: [dataDir],
      files: [join(shots, "driver-profiles.log")],
      present: ["bob@example.test"],
    });
  });
});
