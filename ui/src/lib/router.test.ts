import { describe, expect, it } from "vitest";
import { hashFor, screenFromHash, screens } from "./router";

describe("screenFromHash", () => {
  it("selects each screen by its hash", () => {
    for (const s of screens) expect(screenFromHash(hashFor(s.id))).toBe(s.id);
  });

  it("ignores sub-paths and queries", () => {
    expect(screenFromHash("#/settings/keyring")).toBe("settings");
    expect(screenFromHash("#/tracking?q=x")).toBe("tracking");
  });

  it("falls back to Email Profiles for an empty or unknown hash", () => {
    expect(screenFromHash("")).toBe("profiles");
    expect(screenFromHash("#/nowhere")).toBe("profiles");
  });
});
