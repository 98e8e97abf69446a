// The one typed door to the Rust side. Every command returns its data or throws an IpcFailure
// carrying the `{ code, message }` the Rust side sent; screens show `message`.
import { commands, type IpcError, type Result } from "./bindings";

export type { IpcError };
export * from "./bindings";

export class IpcFailure extends Error {
  readonly code: IpcError["code"];

  constructor(error: IpcError) {
    super(error.message);
    this.name = "IpcFailure";
    this.code = error.code;
  }
}

/** Turns anything the IPC layer may reject with into `{ code, message }`. */
export function toIpcError(raw: unknown): IpcError {
  if (raw && typeof raw === "object" && "code" in raw && "message" in raw) {
    return { code: (raw as IpcError).code, message: String((raw as IpcError).message) };
  }
  // Tauri itself rejects with a plain string, e.g. when a capability does not allow a command.
  const message = raw instanceof Error ? raw.message : String(raw);
  return { code: "internal", message: message || "Unknown error from the Mailproof core." };
}

export async function unwrap<T>(pending: Promise<Result<T, IpcError>>): Promise<T> {
  let result: Result<T, IpcError>;
  try {
    result = await pending;
  } catch (e) {
    throw new IpcFailure(toIpcError(e));
  }
  if (result.status === "error") throw new IpcFailure(toIpcError(result.error));
  return result.data;
}

type Unwrapped<F> = F extends (...args: infer A) => Promise<Result<infer T, IpcError>>
  ? (...args: A) => Promise<T>
  : never;

/** The commands, unwrapped: `await ipc.getSettings()` gives the settings or throws an IpcFailure. */
export const ipc = Object.fromEntries(
  Object.entries(commands).map(([name, fn]) => [
    name,
    (...args: unknown[]) => unwrap((fn as (...a: unknown[]) => Promise<Result<unknown, IpcError>>)(...args)),
  ]),
) as { [K in keyof typeof commands]: Unwrapped<(typeof commands)[K]> };

/** A message fit to show for any error a screen caught. */
export function messageOf(e: unknown): string {
  return e instanceof IpcFailure ? e.message : toIpcError(e).message;
}
