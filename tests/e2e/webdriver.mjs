// A small W3C WebDriver client over fetch: enough to drive the real app through tauri-driver.
import { execFileSync, spawn } from "node:child_process";
import { openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";

const ELEMENT = "element-6066-11e4-a52f-4a1d1f6e5f8c";

/** A TCP port on loopback nobody listens on right now. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts tauri-driver (which starts WebKitWebDriver, which starts the app) on free loopback ports, in its own
 * process group so `stop()` ends all three. Their output goes to `logFile`: an inherited stdout would keep
 * node's test runner waiting for any process that outlived its test.
 */
export async function startDriver(env, logFile) {
  const port = await freePort();
  const nativePort = await freePort();
  const log = openSync(logFile, "a");
  const proc = spawn("tauri-driver", ["--port", String(port), "--native-port", String(nativePort)], {
    env,
    detached: true,
    stdio: ["ignore", log, log],
  });
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  const stop = async () => {
    for (const signal of ["SIGTERM", "SIGKILL"]) {
      try {
        process.kill(-proc.pid, signal);
      } catch {
        return; // the group is gone
      }
      if (await Promise.race([exited.then(() => true), sleep(2000).then(() => false)])) {
        // tauri-driver is gone; make sure nothing it started lingers.
        try {
          process.kill(-proc.pid, "SIGKILL");
        } catch {
          // nothing left
        }
        return;
      }
    }
  };
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(`${base}/status`);
      if (res.ok) return { base, stop };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  await stop();
  throw new Error(`tauri-driver did not start within 10 s; see ${logFile}`);
}

/** The lab's lab.env as an object (tests/lab/start.sh writes it). */
export function readLab(path) {
  return Object.fromEntries(
    readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l.includes("="))
      .map((l) => {
        const i = l.indexOf("=");
        return [l.slice(0, i), l.slice(i + 1).replace(/^"|"$/g, "")];
      }),
  );
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Answers the app's native GTK save dialog the way a person would: waits for the window titled `title` on the
 * X display, focuses its file-name field and types `path` (GTK takes a full path there), then Enter. WebDriver
 * cannot reach native dialogs; xdotool types through XTEST, like a keyboard.
 */
export async function answerSaveDialog(title, path, { timeoutMs = 15000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let id = "";
  while (!id) {
    try {
      id = execFileSync("xdotool", ["search", "--onlyvisible", "--name", title], { encoding: "utf8" }).trim();
    } catch {
      // not mapped yet
    }
    if (!id && Date.now() > deadline) throw new Error(`no dialog titled "${title}" appeared within ${timeoutMs} ms`);
    if (!id) await sleep(100);
  }
  const win = id.split("\n")[0];
  const xdo = (...args) => execFileSync("xdotool", args);
  xdo("windowfocus", "--sync", win);
  await sleep(300); // GTK selects the suggested name once the dialog has the focus
  xdo("key", "--clearmodifiers", "ctrl+a");
  xdo("type", "--delay", "5", path);
  xdo("key", "Return");
}

async function call(base, method, path, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok || json.value?.error) {
    throw new Error(`WebDriver ${method} ${path}: ${json.value?.error} ${json.value?.message ?? ""}`);
  }
  return json.value;
}

export class Session {
  static async start(base, application) {
    const value = await call(base, "POST", "/session", {
      capabilities: { alwaysMatch: { browserName: "wry", "tauri:options": { application } } },
    });
    return new Session(base, value.sessionId);
  }

  constructor(base, id) {
    this.base = base;
    this.id = id;
    /** Element id → [selector, index] it was found by, for `reveal`. */
    this.found = new Map();
  }

  cmd(method, path, body) {
    return call(this.base, method, `/session/${this.id}${path}`, body);
  }

  async quit() {
    await this.cmd("DELETE", "");
  }

  title() {
    return this.cmd("GET", "/title");
  }

  execute(script, ...args) {
    return this.cmd("POST", "/execute/sync", { script, args });
  }

  async findAll(css) {
    const els = await this.cmd("POST", "/elements", { using: "css selector", value: css });
    const ids = els.map((e) => e[ELEMENT] ?? Object.values(e)[0]);
    ids.forEach((id, i) => this.found.set(id, [css, i]));
    return ids;
  }

  /**
   * Scrolls an element found earlier to the middle of the view. WebKitWebDriver neither scrolls before a click
   * nor takes element arguments in scripts, so the element is found again by the selector that found it.
   */
  async reveal(el) {
    const where = this.found.get(el);
    if (where) {
      await this.execute("document.querySelectorAll(arguments[0])[arguments[1]]?.scrollIntoView({ block: 'center' })", ...where);
    }
  }

  /** Waits up to `timeoutMs` for an element matching `css` (and whose text includes `text`, if given). */
  async waitFor(css, { text, timeoutMs = 5000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const el of await this.findAll(css)) {
        if (text === undefined || (await this.textIfStill(el))?.includes(text)) return el;
      }
      if (Date.now() > deadline) {
        throw new Error(`no element ${css}${text ? ` with text "${text}"` : ""} within ${timeoutMs} ms`);
      }
      await sleep(50);
    }
  }

  /** An element's text, or `null` when the page replaced the element since it was found (Svelte re-renders a
   * field's message as the user types): the caller looks again. */
  async textIfStill(el) {
    try {
      return await this.text(el);
    } catch (e) {
      if (String(e.message).includes("stale element")) return null;
      throw e;
    }
  }

  /** Waits up to `timeoutMs` until no element matches `css`. */
  async waitGone(css, { timeoutMs = 5000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    while ((await this.findAll(css)).length > 0) {
      if (Date.now() > deadline) throw new Error(`${css} still shown after ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  async click(el) {
    await this.reveal(el);
    return this.cmd("POST", `/element/${el}/click`, {});
  }

  /** Types `text` into an input (after emptying it, unless `append`). */
  async type(el, text, { append = false } = {}) {
    await this.reveal(el);
    if (!append) await this.cmd("POST", `/element/${el}/clear`, {});
    // WebDriver refuses empty text: typing "" just empties the field.
    if (String(text) !== "") await this.cmd("POST", `/element/${el}/value`, { text: String(text) });
  }

  text(el) {
    return this.cmd("GET", `/element/${el}/text`);
  }

  selected(el) {
    return this.cmd("GET", `/element/${el}/selected`);
  }

  /**
   * A PNG screenshot of the X display the app runs on, as a Buffer: what a person would see, native dialogs
   * included. (WebKitWebDriver's own screenshot waits for a composited frame, and Mailproof renders without
   * accelerated compositing on Linux.)
   */
  async screenshot() {
    await sleep(100); // let the last change paint
    return execFileSync("import", ["-window", "root", "png:-"], { maxBuffer: 64 * 1024 * 1024 });
  }
}
