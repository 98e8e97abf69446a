// The secrets audit: after a flow in the real app, every place a secret could leak to is read back — the data
// folder (the database, its write-ahead log, anything else written there), the exports and logs the flow wrote,
// every IPC reply and event the WebView received, and the arguments of every process on the machine — and none
// may hold any secret the flow used, as typed or in the encodings a protocol would carry it in.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/**
 * From now on the WebView keeps a copy of every IPC reply and every event or channel message it receives. Tauri's
 * invoke cannot be replaced (a read-only property), but every reply and message reaches the page through a
 * callback looked up in one map, which Tauri exposes: its look-up is wrapped.
 */
export async function recordIpc(session) {
  await session.execute(`
    const callbacks = window.__TAURI_INTERNALS__.callbacks;
    if (!window.__mailproofIpc) {
      window.__mailproofIpc = [];
      const keep = (v) => { try { window.__mailproofIpc.push(JSON.stringify(v) ?? ""); } catch (_) {} };
      const get = Map.prototype.get;
      callbacks.get = function (id) {
        const cb = get.call(this, id);
        return cb && ((data) => { keep(data); return cb(data); });
      };
    }`);
}

function filesUnder(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** The forms a secret takes on the way: as typed, in base64 (AUTH LOGIN), URL-encoded, JSON-escaped. */
function forms(secret) {
  return [...new Set([secret, Buffer.from(secret).toString("base64"), encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)])];
}

/**
 * Asserts that none of `secrets` is in `dirs` (every file, recursively), `files`, the IPC the WebView recorded
 * since `recordIpc` (when `session` is given), or any process's arguments; `users` adds each user's AUTH PLAIN
 * token. `present` is text the flow must have left in the files and the IPC (an address, a name): found by the
 * same scan, it shows the scan reads what is really there. `skip`: the test's own files in those folders (a fake
 * service's configuration, which holds the secret it expects). Prints what it read.
 */
export async function auditSecrets({ session, secrets, users = [], dirs = [], files = [], present = [], skip = [] }) {
  const secretForms = secrets.filter(Boolean).flatMap((s) => forms(s).map((f) => [s, f]));
  for (const [user, password] of users) {
    const plain = Buffer.from(`\0${user}\0${password}`).toString("base64");
    secretForms.push([password, plain]);
  }
  const found = [];
  const look = (where, bytes) => {
    for (const [secret, form] of secretForms) {
      if (bytes.includes(Buffer.from(form))) found.push(`${JSON.stringify(secret)} (as ${JSON.stringify(form)}) in ${where}`);
    }
  };
  const read = [...dirs.flatMap(filesUnder).filter((f) => !skip.includes(f)), ...files];
  let bytes = 0;
  const inFiles = new Set();
  for (const file of read) {
    const content = readFileSync(file);
    bytes += content.length;
    look(file, content);
    present.filter((p) => content.includes(Buffer.from(p))).forEach((p) => inFiles.add(p));
  }
  let ipc = [];
  if (session) {
    ipc = await session.execute("return window.__mailproofIpc ?? []");
    ipc.forEach((reply, i) => look(`IPC message ${i}`, Buffer.from(reply)));
    for (const p of present) assert.ok(ipc.some((m) => m.includes(p)), `the IPC recorded holds ${p}`);
  }
  for (const p of present) assert.ok(inFiles.has(p), `the files read hold ${p}`);
  let processes = 0;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      look(`the arguments of process ${pid}`, readFileSync(`/proc/${pid}/cmdline`));
      processes += 1;
    } catch {
      // Ended meanwhile.
    }
  }
  assert.ok(read.some((f) => f.endsWith("mailproof.db")), "the database was read");
  assert.ok(!session || ipc.length > 0, "the IPC was recorded");
  console.log(
    `SECRETS | ${secrets.length} secrets in ${secretForms.length} forms | ${read.length} files (${bytes} bytes), ` +
      `${ipc.length} IPC messages, ${processes} processes' arguments | found: ${found.length}`,
  );
  assert.deepEqual(found, [], "no secret anywhere");
}
