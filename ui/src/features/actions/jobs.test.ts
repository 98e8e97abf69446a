import { describe, expect, it } from "vitest";
import type { ActionInfo, ActionResult, EmailProfile, JobEvent, Verdict } from "../../lib/ipc";
import {
  applyEvents,
  blocking,
  countVerdicts,
  filterLibrary,
  idsOf,
  jobIdFromHash,
  offerRerun,
  ratesByCategory,
  repeated,
  takeRerun,
  timesRepeated,
  percent,
  preventionRate,
  reasonWords,
  sortJobs,
  unverifiedReason,
  utc,
  validateJob,
  type JobForm,
} from "./jobs";

const action = (id: string, extra: Partial<ActionInfo> = {}): ActionInfo => ({
  id,
  name: `Action ${id}`,
  category: "malware",
  categoryLabel: "Malware test files",
  risk: "high",
  direction: "inbound",
  description: "EICAR in a zip",
  needsSpoofedFrom: false,
  ...extra,
});

const form = (over: Partial<JobForm> = {}): JobForm => ({
  selected: ["A100-001"],
  sourceId: "s",
  destinationIds: ["d"],
  spoofedFrom: "",
  extraSleepSecs: "0",
  timeoutSecs: "300",
  pauseMillis: "0",
  concurrency: "4",
  repeat: "1",
  ...over,
});

describe("job builder", () => {
  it("filters the library by category, risk, direction and text", () => {
    const all = [action("A1"), action("A2", { risk: "low", category: "spam", description: "GTUBE" })];
    expect(filterLibrary(all, { category: "", risk: "", direction: "", text: "gtube" }).map((a) => a.id)).toEqual(["A2"]);
    expect(filterLibrary(all, { category: "malware", risk: "", direction: "", text: "" }).map((a) => a.id)).toEqual(["A1"]);
    expect(filterLibrary(all, { category: "", risk: "low", direction: "outbound", text: "" })).toEqual([]);
  });

  it("validates every field and lets a missing spoofed address through with a warning", () => {
    expect(validateJob(form(), [])).toEqual({});
    const bad = validateJob(form({ selected: [], sourceId: "", destinationIds: [], timeoutSecs: "2", pauseMillis: "x", concurrency: "0" }), []);
    expect(Object.keys(bad).sort()).toEqual(["actions", "concurrency", "destinations", "pauseMillis", "source", "timeoutSecs"]);
    const lib = [action("A500-001", { needsSpoofedFrom: true })];
    const warn = validateJob(form({ selected: ["A500-001"] }), lib);
    expect(warn.spoofedFrom).toContain("A500-001");
    expect(blocking(warn, form({ selected: ["A500-001"] }))).toEqual([]);
    const wrong = validateJob(form({ spoofedFrom: "ceo at example" }), lib);
    expect(blocking(wrong, form({ spoofedFrom: "ceo at example" }))).toHaveLength(1);
  });

  it("offers only profiles this workstation verified", () => {
    const p = (status: "verified" | "unverified", actorId = "this-workstation") =>
      ({ actors: [{ actorId, actorName: "x", status, reason: null, statusAt: null }] }) as unknown as EmailProfile;
    expect(unverifiedReason(p("verified"))).toBeNull();
    expect(unverifiedReason(p("unverified"))).toContain("verify it");
    expect(unverifiedReason(p("verified", "remote"))).toContain("this workstation");
  });
});

describe("progress and results", () => {
  const ev = (rowId: string, state: JobEvent["state"], verdict: JobEvent["verdict"] = null): JobEvent => ({
    jobId: "j",
    group: 0,
    rowId,
    actionId: "A1",
    actionName: "n",
    state,
    verdict,
    reason: null,
  });

  it("applies batches of events in place, keeping unchanged rows, and counts verdicts", () => {
    const index = new Map<string, number>();
    let rows = applyEvents([], index, [ev("r1", "sending"), ev("r2", "sending")]);
    const r2 = rows[1];
    rows = applyEvents(rows, index, [ev("r1", "watching"), ev("r1", "decided", "prevented")]);
    expect(rows.map((r) => r.state)).toEqual(["decided", "sending"]);
    expect(rows[1]).toBe(r2);
    const c = countVerdicts(rows.map((r) => r.verdict));
    expect(c.prevented).toBe(1);
    expect(preventionRate({ prevented: 1, detected: 0, alerted: 0, missed: 1 })).toBe(0.5);
    expect(preventionRate({ prevented: 1, detected: 0, alerted: 1, missed: 0 })).toBe(0.5);
    expect(percent(preventionRate({ prevented: 0, detected: 0, alerted: 0, missed: 0 }))).toBe("—");
  });

  it("shows UTC, sorts jobs and reads the job id from the route", () => {
    expect(utc("2026-11-24T08:00:05.123Z")).toBe("2026-11-24 08:00:05 UTC");
    const j = (id: string, startedAt: string, prevented: number) =>
      ({ id, name: id, status: "completed" as const, createdAt: startedAt, startedAt, endedAt: null, actions: 2, prevented, detected: 0, alerted: 0, missed: 2 - prevented, errored: 0, incomplete: 0 });
    const jobs = [j("a", "2026-11-24T08:00:00Z", 2), j("b", "2026-11-24T09:00:00Z", 0)];
    expect(sortJobs(jobs, "started", true).map((x) => x.id)).toEqual(["b", "a"]);
    expect(sortJobs(jobs, "rate", true).map((x) => x.id)).toEqual(["a", "b"]);
    expect(jobIdFromHash("#/results/0b6f1c1e-aaaa-bbbb-cccc-000000000000")).toBe("0b6f1c1e-aaaa-bbbb-cccc-000000000000");
    expect(jobIdFromHash("#/results")).toBeNull();
  });
});

describe("re-runs and charts", () => {
  const lib = [
    action("A1"),
    action("A2", { category: "spam" }),
    action("A3", { category: "dataLoss", direction: "outbound" }),
  ];

  it("turns any stored selection back into the builder's action IDs, in library order", () => {
    expect(idsOf({ kind: "ids", ids: ["A3", "A1", "A1"] }, lib)).toEqual(["A1", "A3"]);
    expect(idsOf({ kind: "allInbound" }, lib)).toEqual(["A1", "A2"]);
    expect(idsOf({ kind: "allOutbound" }, lib)).toEqual(["A3"]);
    expect(idsOf({ kind: "category", category: "spam" }, lib)).toEqual(["A2"]);
    expect(idsOf({ kind: "all" }, lib)).toHaveLength(3);
  });

  it("repeats a selection for load tests and reads the repeat back", () => {
    const ids = repeated(["A1", "A2"], 3);
    expect(ids).toEqual(["A1", "A2", "A1", "A2", "A1", "A2"]);
    expect(timesRepeated({ kind: "ids", ids })).toBe(3);
    expect(timesRepeated({ kind: "ids", ids: ["A1", "A1", "A2"] })).toBe(1);
    expect(timesRepeated({ kind: "all" })).toBe(1);
  });

  it("hands a re-run to the builder once", () => {
    const r = {
      spec: {
        name: "j",
        selection: { kind: "all" as const },
        sourceProfileId: "s",
        destinationProfileIds: [],
        params: { spoofedFrom: null, extraSleepSecs: 0 },
        timing: { timeoutSecs: 300, pauseMillis: 0, pollMillis: 250, concurrency: 4 },
      },
      deletedProfiles: [],
    };
    offerRerun(r);
    expect(takeRerun()).toBe(r);
    expect(takeRerun()).toBeNull();
  });

  it("computes the prevention rate per category, Errored not counted", () => {
    const result = (category: string, verdict: Verdict | null) => ({ category, verdict }) as unknown as ActionResult;
    const rows = ratesByCategory(
      [result("malware", "prevented"), result("malware", "missed"), result("malware", "errored"), result("spam", null)],
      { malware: "Malware test files" },
    );
    expect(rows.map((r) => [r.label, r.rate])).toEqual([
      ["Malware test files", 0.5],
      ["spam", null],
    ]);
  });
});

describe("reasonWords", () => {
  it("says a bounce's reason in words", () => {
    expect(reasonWords("userUnknown")).toBe("user unknown");
    expect(reasonWords("virusDetected")).toBe("virus detected");
    expect(reasonWords("relayDenied")).toBe("relaying denied");
    expect(reasonWords(undefined)).toBe("reason not recorded");
  });
});
