// What the cloud mailboxes' and OAuth E2E tests share: a fake cloud service (tests/fakes) started in front of the lab,
// the lab CA trusted in Settings, a browser playing a consent, and a job of one action read in Results.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/** Starts `tests/fakes/<script>` with `config` (written to `dir`); resolves with the process and its base URL. */
export async function startFake(script, dir, labEnv, config) {
  const file = join(dir, `${script}.json`);
  writeFileSync(file, JSON.stringify(config));
  const fake = spawn("python3", [join(here, "../fakes", script), "--lab-env", labEnv, "--config", file, "--exit-with-stdin"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const base = await new Promise((resolve, reject) => {
    fake.stdout.once("data", (d) => resolve(String(d).trim().replace("listening on ", "")));
    fake.once("exit", (code) => reject(new Error(`the fake exited (${code})`)));
  });
  return { fake, base };
}

/**
 * Runs action A100-002 from `source` to `destination` on the Email Actions screen and waits for `verdict`, then
 * opens its evidence in Results and waits for `evidence` in it.
 */
export async function runOneAction(session, { source, destination, verdict, evidence }) {
  const click = async (css, opts) => session.click(await session.waitFor(css, opts));
  await click('[data-nav="actions"]');
  await click('[data-action="A100-002"] input[type="checkbox"]');
  await click('select[name="source"] option', { text: source });
  await click(`input[name="destination"][value="${destination}"]`);
  await session.type(await session.waitFor('[name="timeout"]'), "10");
  await click("[data-start-job]");
  await session.waitFor("[data-finished]", { timeoutMs: 60000 });
  await session.waitFor('[data-progress] [data-row="A100-002"]', { text: verdict });
  await click("[data-finished] a");
  await click('[data-group="0"] [data-expand="A100-002"]');
  await session.waitFor('[data-group="0"] [data-evidence]', { text: evidence });
}

/** Trusts the lab's CA in Settings, as an analyst trusts their organisation's. */
export async function trustLabCa(session, lab) {
  const click = async (css) => session.click(await session.waitFor(css));
  await click('[data-nav="settings"]');
  await session.type(await session.waitFor('[name="trusted-ca"]'), lab.LAB_CA);
  await click('[data-action="save-ca"]');
  await session.waitFor("[data-ca-result]", { text: "Trusting the CA" });
}

/** What a browser does with a consent link: asks the issuer, and follows its redirect back to the app's loopback. */
export async function playBrowser(url) {
  const page = await fetch(url, { redirect: "manual" });
  const back = page.headers.get("location");
  if (!back?.startsWith("http://127.0.0.1:")) {
    throw new Error(`the consent page does not redirect to the loopback (${page.status} ${back})`);
  }
  return (await fetch(back)).text();
}
