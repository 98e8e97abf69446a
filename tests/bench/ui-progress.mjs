// Driven by ui-progress.sh: starts the app on the data folder the script prepared, runs an N-action job from
// the job builder and reports the WebView's frame gaps while the progress streams in.
import { join } from "node:path";
import { Session, startDriver } from "../e2e/webdriver.mjs";

const [app, n, ca, work] = process.argv.slice(2);
const driver = await startDriver({ ...process.env }, join(work, "driver.log"));
const session = await Session.start(driver.base, app);
const click = async (css, opts) => session.click(await session.waitFor(css, opts));
try {
  await click('[data-nav="settings"]');
  await session.type(await session.waitFor('[name="trusted-ca"]'), ca);
  await click('[data-action="save-ca"]');
  await session.waitFor("[data-ca-result]", { text: "Trusting the CA" });
  await click('[data-nav="actions"]');
  await click('[data-action="A600-001"] input[type="checkbox"]');
  await click('select[name="source"] option', { text: "alice@example.test" });
  await click('input[name="destination"][value="bob@example.test"]');
  await session.type(await session.waitFor('[name="repeat"]'), n);
  await session.type(await session.waitFor('[name="timeout"]'), "120");
  await session.type(await session.waitFor('[name="pause"]'), process.env.MAILPROOF_BENCH_PAUSE ?? "0");
  await session.waitFor("[data-start-job]", { text: `Start job (${n} actions)` });
  // Every frame's time, from now on.
  await session.execute(`
    window.__frames = [];
    const loop = (t) => { window.__frames.push(t); requestAnimationFrame(loop); };
    requestAnimationFrame(loop);
  `);
  await new Promise((r) => setTimeout(r, 2000));
  const started = await session.execute("return performance.now()");
  const idle = (await session.execute("return window.__frames")).filter((t) => t > started - 1500);
  const idleGaps = idle.slice(1).map((t, i) => t - idle[i]);
  console.log(
    `idle, before the job: ${(idle.length / 1.5).toFixed(0)} frames per s, longest gap ${Math.max(...idleGaps).toFixed(1)} ms`,
  );
  const t0 = Date.now();
  await click("[data-start-job]");
  await session.waitFor("[data-finished]", { timeoutMs: 600000 });
  const wall = (Date.now() - t0) / 1000;
  const ended = await session.execute("return performance.now()");
  const frames = (await session.execute("return window.__frames")).filter((t) => t >= started && t <= ended);
  const gaps = frames.slice(1).map((t, i) => t - frames[i]).sort((a, b) => a - b);
  const pct = (p) => gaps[Math.min(gaps.length - 1, Math.round((p / 100) * (gaps.length - 1)))];
  const long = gaps.filter((g) => g > 100);
  const rows = await session.execute("return document.querySelector('[data-progress-rows]')?.dataset.progressRows");
  console.log(`job of ${n} actions from the app: ${wall.toFixed(1)} s; ${rows} progress rows at the end`);
  console.log(
    `frames while it streamed: ${frames.length} (${(frames.length / ((ended - started) / 1000)).toFixed(0)} per s); ` +
      `gap p50 ${pct(50).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms, max ${gaps.at(-1).toFixed(1)} ms; ` +
      `${long.length} frames longer than 100 ms (target 0)`,
  );
} finally {
  await session.quit().catch(() => {});
  await driver.stop();
}
