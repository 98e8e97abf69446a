import { describe, expect, it } from "vitest";
import { IpcFailure, messageOf, toIpcError, unwrap } from "./index";

describe("unwrap", () => {
  it("returns the data of an ok result", async () => {
    await expect(unwrap(Promise.resolve({ status: "ok" as const, data: 42 }))).resolves.toBe(42);
  });

  it("throws the Rust side's code and message", async () => {
    const failed = unwrap(
      Promise.resolve({ status: "error" as const, error: { code: "keyring" as const, message: "cannot reach the OS keyring" } }),
    );
    await expect(failed).rejects.toBeInstanceOf(IpcFailure);
    await expect(failed).rejects.toMatchObject({ code: "keyring", message: "cannot reach the OS keyring" });
  });

  it("turns Tauri's plain-string rejections into an internal error with the text kept", async () => {
    const failed = unwrap(Promise.resolve({ status: "error" as const, error: "set_theme not allowed" as never }));
    await expect(failed).rejects.toMatchObject({ code: "internal", message: "set_theme not allowed" });
  });

  it("wraps a thrown Error", async () => {
    await expect(unwrap(Promise.reject(new Error("IPC bridge gone")))).rejects.toMatchObject({ code: "internal", message: "IPC bridge gone" });
  });
});

describe("messageOf", () => {
  it("never shows an empty message", () => {
    expect(messageOf("")).toMatch(/Unknown error/);
    expect(toIpcError(undefined).message).toBe("undefined");
  });
});
