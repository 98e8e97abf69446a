import { afterEach, describe, expect, it } from "vitest";
import { emptyFilters, exportNote, localToUtcMs, pageLabel, toQuery } from "./tracking";

// Node reads TZ afresh on each change; the UI's tsconfig has no Node types, hence the narrow cast.
const env = (globalThis as unknown as { process: { env: Record<string, string | undefined> } }).process.env;
const tz = env.TZ;
afterEach(() => {
  env.TZ = tz;
});

describe("periods", () => {
  it("reads local times across a DST change into UTC", () => {
    env.TZ = "Europe/Berlin";
    // 29 March 2026: clocks go from 02:00 CET to 03:00 CEST.
    expect(new Date(localToUtcMs("2026-03-29T01:30")!).toISOString()).toBe("2026-03-29T00:30:00.000Z");
    expect(new Date(localToUtcMs("2026-03-29T03:30")!).toISOString()).toBe("2026-03-29T01:30:00.000Z");
    // A local day across the change is 23 hours long.
    const day = localToUtcMs("2026-03-30T00:00")! - localToUtcMs("2026-03-29T00:00")!;
    expect(day).toBe(23 * 3_600_000);
    // And 25 hours in autumn.
    expect(localToUtcMs("2026-10-26T00:00")! - localToUtcMs("2026-10-25T00:00")!).toBe(25 * 3_600_000);
  });

  it("refuses malformed dates and backwards ranges", () => {
    expect(localToUtcMs("yesterday")).toBeNull();
    expect(localToUtcMs("2026-02-30T10:00")).toBeNull();
    const f = { ...emptyFilters(), preset: "custom" as const, customFrom: "2026-11-24T10:00", customTo: "2026-11-24T09:00" };
    expect(toQuery(f, 0, 0, 50)).toEqual({ error: "The start of the range is after its end." });
    expect(toQuery({ ...f, customFrom: "soon" }, 0, 0, 50)).toEqual({ error: 'The start "soon" is not a date and time.' });
  });

  it("turns presets into ranges ending now", () => {
    const q = toQuery({ ...emptyFilters(), preset: "24h" }, 100 * 3_600_000, 2, 50);
    expect(q).toMatchObject({ fromMs: 76 * 3_600_000, toMs: null, page: 2, pageSize: 50 });
  });

  it("labels pages", () => {
    expect(pageLabel(0, 50, 50, 1234)).toBe("1–50 of 1,234");
    expect(pageLabel(24, 50, 34, 1234)).toBe("1,201–1,234 of 1,234");
    expect(pageLabel(0, 50, 0, 0)).toBe("No matching messages");
  });
});

describe("export note", () => {
  it("says where the file went and when the cap cut the export short", () => {
    expect(exportNote({ path: "/tmp/t.csv", written: 1, total: 1, capped: false })).toBe("Exported 1 message to /tmp/t.csv.");
    const capped = exportNote({ path: "/tmp/t.csv", written: 50000, total: 61234, capped: true });
    expect(capped).toContain("Exported 50,000 messages");
    expect(capped).toContain("61,234 matched");
  });
});
