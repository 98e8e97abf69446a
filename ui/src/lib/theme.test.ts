import { describe, expect, it } from "vitest";
import { applyTheme, effectiveTheme } from "./theme";

describe("effectiveTheme", () => {
  it("follows the OS only when set to system", () => {
    expect(effectiveTheme("system", true)).toBe("dark");
    expect(effectiveTheme("system", false)).toBe("light");
    expect(effectiveTheme("light", true)).toBe("light");
    expect(effectiveTheme("dark", false)).toBe("dark");
  });
});

describe("applyTheme", () => {
  it("marks the document with the effective theme", () => {
    const root = { dataset: {} as Record<string, string> } as unknown as HTMLElement;
    applyTheme(root, "dark", false);
    expect(root.dataset.theme).toBe("dark");
    applyTheme(root, "system", false);
    expect(root.dataset.theme).toBe("light");
    applyTheme(root, "system", true);
    expect(root.dataset.theme).toBe("dark");
  });
});
