// The local demo gateway and the demo workspace, as the screens use them.
import { Channel } from "@tauri-apps/api/core";
import { ipc, type JobSpec } from "../../lib/ipc";

/** Fired on `window` whenever the open workspace may have changed: the shell reloads its status and screens. */
export const WORKSPACE_EVENT = "mailproof-workspace";

function workspaceChanged() {
  window.dispatchEvent(new Event(WORKSPACE_EVENT));
}

/** Starts the demo gateway, opens the demo workspace and readies it, each step told to `onStep`; the demo job. */
export async function openDemo(onStep: (step: string) => void): Promise<JobSpec> {
  const channel = new Channel<string>();
  channel.onmessage = onStep;
  try {
    const spec = await ipc.openDemo(channel);
    workspaceChanged();
    return spec;
  } catch (e) {
    // A failure after the switch (a demo profile that did not verify) leaves the demo workspace open.
    const now = await ipc.appStatus().catch(() => null);
    if (now?.workspace === "demo") workspaceChanged();
    throw e;
  }
}

/** Opens the user's own workspace again. */
export async function leaveDemo(): Promise<void> {
  await ipc.leaveDemo();
  workspaceChanged();
}

// A job handed to the job builder to start at once (the demo's one click), taken once.
let pendingStart: JobSpec | null = null;
export function offerStart(spec: JobSpec) {
  pendingStart = spec;
}
export function takeStart(): JobSpec | null {
  const s = pendingStart;
  pendingStart = null;
  return s;
}
