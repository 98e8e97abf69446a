// Pure helpers for Message Tracking: periods (picked in local time, stored as UTC), the query and paging.
import type { TrackQuery, TrackStatus } from "../../lib/ipc";

export type Preset = "all" | "hour" | "24h" | "7d" | "30d" | "custom";

export const presets: { id: Preset; label: string }[] = [
  { id: "all", label: "Any time" },
  { id: "hour", label: "Last hour" },
  { id: "24h", label: "Last 24 hours" },
  { id: "7d", label: "Last 7 days" },
  { id: "30d", label: "Last 30 days" },
  { id: "custom", label: "Custom range" },
];

export const statuses: { id: TrackStatus; label: string }[] = [
  { id: "queued", label: "Queued for delivery" },
  { id: "delivered", label: "Delivered" },
  { id: "deliveredToJunk", label: "Delivered to Junk" },
  { id: "unsuccessful", label: "Delivery unsuccessful" },
  { id: "notReceived", label: "Not received" },
  { id: "modified", label: "Modified" },
  { id: "deleted", label: "Deleted" },
];

const HOUR = 3_600_000;

/** A `datetime-local` value ("2026-03-29T02:30") read in the user's time zone, as UTC milliseconds. */
export function localToUtcMs(value: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value.trim());
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map((x) => (x === undefined ? 0 : Number(x)));
  const date = new Date(y, mo - 1, d, h, mi, s);
  return Number.isNaN(date.getTime()) || date.getMonth() !== mo - 1 ? null : date.getTime();
}

export interface Filters {
  preset: Preset;
  customFrom: string;
  customTo: string;
  recipient: string;
  to: string;
  sender: string;
  from: string;
  subject: string;
  messageId: string;
  sourceIp: string;
  risk: string;
  statuses: TrackStatus[];
}

export const emptyFilters = (): Filters => ({
  preset: "all",
  customFrom: "",
  customTo: "",
  recipient: "",
  to: "",
  sender: "",
  from: "",
  subject: "",
  messageId: "",
  sourceIp: "",
  risk: "",
  statuses: [],
});

/** The query for `filters`, or what is wrong with them. */
export function toQuery(f: Filters, now: number, page: number, pageSize: number): TrackQuery | { error: string } {
  let fromMs: number | null = null;
  let toMs: number | null = null;
  const back = { hour: HOUR, "24h": 24 * HOUR, "7d": 7 * 24 * HOUR, "30d": 30 * 24 * HOUR } as const;
  if (f.preset in back) fromMs = now - back[f.preset as keyof typeof back];
  if (f.preset === "custom") {
    if (f.customFrom) {
      fromMs = localToUtcMs(f.customFrom);
      if (fromMs === null) return { error: `The start "${f.customFrom}" is not a date and time.` };
    }
    if (f.customTo) {
      toMs = localToUtcMs(f.customTo);
      if (toMs === null) return { error: `The end "${f.customTo}" is not a date and time.` };
    }
    if (fromMs !== null && toMs !== null && fromMs > toMs) return { error: "The start of the range is after its end." };
  }
  return {
    fromMs,
    toMs,
    recipient: f.recipient,
    to: f.to,
    sender: f.sender,
    from: f.from,
    subject: f.subject,
    messageId: f.messageId,
    sourceIp: f.sourceIp,
    risk: f.risk,
    statuses: f.statuses,
    page,
    pageSize,
  };
}

/** "51–100 of 1,234" for a page. */
export function pageLabel(page: number, pageSize: number, shown: number, total: number): string {
  if (total === 0) return "No matching messages";
  const first = page * pageSize + 1;
  return `${first.toLocaleString("en")}–${(page * pageSize + shown).toLocaleString("en")} of ${total.toLocaleString("en")}`;
}

/** What an export did, in words: where it wrote, how many, and whether the cap cut it short. */
export function exportNote(done: { path: string; written: number; total: number; capped: boolean }): string {
  const n = (x: number) => x.toLocaleString("en");
  const what = `Exported ${n(done.written)} message${done.written === 1 ? "" : "s"} to ${done.path}.`;
  return done.capped
    ? `${what} ${n(done.total)} matched; an export holds the newest ${n(done.written)}. Narrow the filters (e.g. the period) for the rest.`
    : what;
}

export function localTime(ms: number): string {
  return new Date(ms).toLocaleString();
}

export function utcTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}
