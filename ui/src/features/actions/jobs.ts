// Pure helpers for the job builder and the results: selection, validation, live progress and summaries.
import type {
  ActionInfo,
  ActionResult,
  ActionState,
  EmailProfile,
  JobEvent,
  JobSummary,
  Reason,
  Rerun,
  Selection,
  Verdict,
} from "../../lib/ipc";

export const WORKSTATION = "this-workstation";

/** Why a profile cannot be a destination, or null when it can: this workstation must have verified it. */
export function unverifiedReason(p: EmailProfile, actorId: string = WORKSTATION, actorName = "this workstation"): string | null {
  const here = p.actors.find((a) => a.actorId === actorId);
  if (!here) return `Not read by ${actorName}: add it as an actor of this profile.`;
  if (here.status !== "verified") {
    return actorId === WORKSTATION
      ? "Not verified yet: verify it in Email Profiles first."
      : `Not verified by ${actorName} yet: verify it in Email Profiles first.`;
  }
  return null;
}

export interface LibraryFilter {
  category: string;
  risk: string;
  direction: string;
  text: string;
}

export function filterLibrary(all: ActionInfo[], f: LibraryFilter): ActionInfo[] {
  const text = f.text.trim().toLowerCase();
  return all.filter(
    (a) =>
      (!f.category || a.category === f.category) &&
      (!f.risk || a.risk === f.risk) &&
      (!f.direction || a.direction === f.direction) &&
      (!text || `${a.id} ${a.name} ${a.description}`.toLowerCase().includes(text)),
  );
}

export interface JobForm {
  selected: string[];
  sourceId: string;
  destinationIds: string[];
  spoofedFrom: string;
  extraSleepSecs: string;
  timeoutSecs: string;
  pauseMillis: string;
  concurrency: string;
  /** The selection runs this many times over (load tests). */
  repeat: string;
}

const EMAIL = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[^\s@<>(),;:"]+$/;

function whole(value: string, min: number, max: number): number | null {
  if (!/^\d+$/.test(value.trim())) return null;
  const n = Number(value.trim());
  return n >= min && n <= max ? n : null;
}

/** Every problem with the form, keyed by field; empty when the job can start. */
export function validateJob(form: JobForm, library: ActionInfo[]): Record<string, string> {
  const issues: Record<string, string> = {};
  if (form.selected.length === 0) issues.actions = "Pick at least one action, or a preset.";
  if (!form.sourceId) issues.source = "Choose the profile that sends the actions: one this workstation has verified.";
  if (form.destinationIds.length === 0) issues.destinations = "Choose at least one verified destination.";
  const spoof = form.spoofedFrom.trim();
  if (spoof && !EMAIL.test(spoof)) issues.spoofedFrom = `"${spoof}" is not an email address (name@domain.tld).`;
  const needsSpoof = library.filter((a) => a.needsSpoofedFrom && form.selected.includes(a.id));
  if (needsSpoof.length > 0 && !spoof)
    issues.spoofedFrom = `${needsSpoof.map((a) => a.id).join(", ")} use the spoofed From address; without one they claim to come from the destination itself.`;
  if (whole(form.timeoutSecs, 3, 86400) === null) issues.timeoutSecs = "A whole number of seconds from 3 to 86,400.";
  if (whole(form.extraSleepSecs, 0, 3600) === null) issues.extraSleepSecs = "A whole number of seconds from 0 to 3,600.";
  if (whole(form.pauseMillis, 0, 600000) === null) issues.pauseMillis = "A whole number of milliseconds from 0 to 600,000.";
  if (whole(form.concurrency, 1, 16) === null) issues.concurrency = "A whole number from 1 to 16.";
  if (whole(form.repeat, 1, 1000) === null) issues.repeat = "A whole number of times from 1 to 1,000.";
  return issues;
}

/** Only the spoofed-From note is a warning; everything else blocks the start. */
export function blocking(issues: Record<string, string>, form: JobForm): string[] {
  return Object.entries(issues)
    .filter(([k]) => !(k === "spoofedFrom" && (!form.spoofedFrom.trim() || EMAIL.test(form.spoofedFrom.trim()))))
    .map(([, v]) => v);
}

export interface LiveRow {
  rowId: string;
  group: number;
  actionId: string;
  actionName: string;
  state: ActionState;
  verdict: Verdict | null;
  reason: string | null;
}

/**
 * Applies a batch of progress events in one pass: one new array per batch, rows that did not change kept as they
 * were (so a keyed list re-renders only the changed ones). `index` maps row ids to positions and is kept up to
 * date; pass the same map with each batch.
 */
export function applyEvents(rows: LiveRow[], index: Map<string, number>, events: JobEvent[]): LiveRow[] {
  const next = rows.slice();
  for (const e of events) {
    const row: LiveRow = {
      rowId: e.rowId,
      group: e.group,
      actionId: e.actionId,
      actionName: e.actionName,
      state: e.state,
      verdict: e.verdict,
      reason: e.reason,
    };
    const i = index.get(e.rowId);
    if (i === undefined) {
      index.set(e.rowId, next.length);
      next.push(row);
    } else {
      next[i] = row;
    }
  }
  return next;
}

export type Counts = Record<Verdict, number>;

export function countVerdicts(verdicts: (Verdict | null)[]): Counts {
  const c: Counts = { prevented: 0, detected: 0, alerted: 0, missed: 0, errored: 0, incomplete: 0 };
  for (const v of verdicts) if (v) c[v] += 1;
  return c;
}

/** Prevented among the actions that ran (Errored and Incomplete do not count either way); null when none ran. */
export function preventionRate(c: { prevented: number; detected: number; alerted: number; missed: number }): number | null {
  const ran = c.prevented + c.detected + c.alerted + c.missed;
  return ran === 0 ? null : c.prevented / ran;
}

export function percent(rate: number | null): string {
  return rate === null ? "—" : `${Math.round(rate * 100)}%`;
}

export const verdictLabel: Record<Verdict, string> = {
  prevented: "Prevented",
  detected: "Detected",
  alerted: "Alerted",
  missed: "Missed",
  errored: "Errored",
  incomplete: "Incomplete",
};

/** A bounce reason in words: "userUnknown" → "user unknown"; reports read before reasons were kept say so. */
export function reasonWords(reason: Reason | undefined): string {
  if (!reason) return "reason not recorded";
  if (reason === "notAccepted") return "host does not accept mail";
  if (reason === "relayDenied") return "relaying denied";
  if (reason === "authFailure") return "authentication failure";
  return reason.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`);
}

/** "2026-11-24 08:00:05 UTC" from an RFC 3339 time; the input when it is not one. */
export function utc(iso: string | null): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** The same time in the user's zone, for a hover title. */
export function local(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : `${d.toLocaleString()} (local time)`;
}

export type JobSort = "started" | "name" | "rate";

export function sortJobs(jobs: JobSummary[], by: JobSort, descending: boolean): JobSummary[] {
  const key = (j: JobSummary): string | number =>
    by === "name" ? j.name.toLowerCase() : by === "rate" ? (preventionRate(j) ?? -1) : (j.startedAt ?? j.createdAt);
  const sorted = jobs.slice().sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return descending ? sorted.reverse() : sorted;
}

/** The results route: `#/results` (the list) or `#/results/<job id>`. */
export function jobIdFromHash(hash: string): string | null {
  const m = /^#\/results\/([0-9a-fA-F-]{8,})$/.exec(hash);
  return m ? m[1] : null;
}

/** The action IDs a stored selection stands for, in library order, each once. */
export function idsOf(selection: Selection, library: ActionInfo[]): string[] {
  switch (selection.kind) {
    case "ids":
      return library.filter((a) => selection.ids.includes(a.id)).map((a) => a.id);
    case "allInbound":
      return library.filter((a) => a.direction === "inbound").map((a) => a.id);
    case "allOutbound":
      return library.filter((a) => a.direction === "outbound").map((a) => a.id);
    case "category":
      return library.filter((a) => a.category === selection.category).map((a) => a.id);
    case "all":
      return library.map((a) => a.id);
  }
}

// A re-run handed from Results to the job builder, taken once.
let pendingRerun: Rerun | null = null;
export function offerRerun(r: Rerun) {
  pendingRerun = r;
}
export function takeRerun(): Rerun | null {
  const r = pendingRerun;
  pendingRerun = null;
  return r;
}

export interface CategoryRate {
  category: string;
  label: string;
  counts: Counts;
  rate: number | null;
}

/** Prevention rate per category of a job's actions, in the order categories first appear. */
export function ratesByCategory(actions: ActionResult[], labels: Record<string, string>): CategoryRate[] {
  const by = new Map<string, (Verdict | null)[]>();
  for (const a of actions) by.set(a.category, [...(by.get(a.category) ?? []), a.verdict]);
  return [...by.entries()].map(([category, verdicts]) => {
    const counts = countVerdicts(verdicts);
    return { category, label: labels[category] ?? category, counts, rate: preventionRate(counts) };
  });
}

/** The IDs `times` times over, in order: the selection of a load test. */
export function repeated(ids: string[], times: number): string[] {
  return Array.from({ length: Math.max(1, times) }, () => ids).flat();
}

/** How many times over a stored selection ran (1 unless its IDs repeat as a whole). */
export function timesRepeated(selection: Selection): number {
  if (selection.kind !== "ids" || selection.ids.length === 0) return 1;
  const once = [...new Set(selection.ids)].length;
  return selection.ids.length % once === 0 ? selection.ids.length / once : 1;
}
