// The wizard's draft: defaults, guessed settings, and which validation issues belong to which step.
import type {
  Discovery,
  FieldIssue,
  Findings,
  HintProtocol,
  OAuthHint,
  ProfileDraft,
  Security,
  ServerType,
  SourceKind,
} from "../../lib/ipc";

export const steps = ["Address and type", "Account", "Incoming server", "Outgoing server", "Test", "Save"] as const;
export type StepIndex = 0 | 1 | 2 | 3 | 4 | 5;

/** Which draft fields each step edits; a step's Next is blocked by errors in its own fields only. */
const stepFields: Record<number, string[]> = {
  0: ["email", "serverType", "zoneId", "actorIds"],
  1: ["username", "password", "graph", "graph.", "gmail", "gmail.", "oauth", "oauth."],
  2: ["incoming."],
  3: ["outgoing."],
};

export function issuesOfStep(findings: Findings, step: number, kind: "errors" | "warnings" = "errors"): FieldIssue[] {
  const fields = stepFields[step] ?? [];
  return findings[kind].filter((i) => fields.some((f) => (f.endsWith(".") ? i.field.startsWith(f) : i.field === f)));
}

export function issuesOf(findings: Findings | null, field: string): string[] {
  return findings ? findings.errors.filter((i) => i.field === field).map((i) => i.message) : [];
}

/**
 * The steps a draft goes through: a Microsoft 365 or Gmail profile has no servers to enter, and a Gmail profile
 * can be tested only once its account has consented (`signedIn`), which happens after saving.
 */
/** What each server type is called, everywhere the app names one. */
export const serverTypeLabel: Record<ServerType, string> = {
  imap: "IMAP",
  pop3: "POP3",
  graph: "Microsoft 365 (Graph API)",
  gmail: "Gmail (Gmail API)",
};

/** The protocol a side of a classic profile speaks: "SMTP" out, the server type's own name in. */
export function protocolLabel(serverType: ServerType, side: "incoming" | "outgoing"): string {
  return side === "outgoing" ? "SMTP" : serverTypeLabel[serverType];
}

export function stepsOf(serverType: ServerType, signedIn = true): number[] {
  if (serverType === "gmail") return signedIn ? [0, 1, 4, 5] : [0, 1, 5];
  return serverType === "graph" ? [0, 1, 4, 5] : [0, 1, 2, 3, 4, 5];
}

/** The step after (or before) `step` for this kind of profile. */
export function stepAfter(serverType: ServerType, step: number, delta: 1 | -1, signedIn = true): number {
  const order = stepsOf(serverType, signedIn);
  const at = order.indexOf(step);
  return order[Math.min(order.length - 1, Math.max(0, (at < 0 ? 0 : at) + delta))];
}

/** The names of the steps a Microsoft 365 profile shows. */
export const graphStepNames: Record<number, string> = { 0: "Address and type", 1: "App registration", 4: "Test", 5: "Save" };

/** The names of the steps a Gmail profile shows. */
export const gmailStepNames: Record<number, string> = { 0: "Address and type", 1: "OAuth client", 4: "Test", 5: "Save and sign in" };

/** A new Microsoft 365 app registration: the global cloud, everything else to enter. */
export function emptyGraph(): NonNullable<ProfileDraft["graph"]> {
  return { tenantId: "", clientId: "", secretExpires: "", cloud: "global" };
}

/** Days until `expires` (YYYY-MM-DD) from `today`, or null when it is not a date. */
export function daysUntil(expires: string, today: Date = new Date()): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(expires.trim());
  if (!m) return null;
  const end = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  const start = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate());
  return Math.round((end - start) / 86_400_000);
}

export function emptyDraft(): ProfileDraft {
  return {
    email: "",
    serverType: "imap",
    manualVerification: false,
    zoneId: null,
    actorIds: ["this-workstation"],
    username: "",
    password: "",
    incoming: { host: "", port: 993, security: "tls", auth: "plain", pinnedSha256: null },
    // Encryption off by default, as in the reference product; the wizard warns while a password would cross in
    // clear text, and discovery usually fills in the server's own choice.
    outgoing: { host: "", port: 587, security: "none", requiresAuth: true, auth: "plain", pinnedSha256: null },
    graph: null,
    gmail: null,
    oauth: null,
  };
}

type OAuth = NonNullable<ProfileDraft["oauth"]>;

/** New OAuth 2.0 settings, the issuer guessed from the servers' hosts (Google's, Microsoft's) or else custom. */
export function emptyOAuth(hosts: string[]): OAuth {
  const h = hosts.map((x) => x.trim().toLowerCase());
  const issuer: OAuth["issuer"] = h.some((x) => x.endsWith(".gmail.com") || x.endsWith(".googlemail.com"))
    ? "google"
    : h.some((x) => x.endsWith(".office365.com") || x.endsWith(".outlook.com"))
      ? "microsoft"
      : "custom";
  return { issuer, clientId: "", tenant: "", authorizationUrl: "", tokenUrl: "", scopes: "" };
}

/** OAuth 2.0 settings from a discovered issuer: Google's and Microsoft's presets, else the issuer's own endpoints. */
export function oauthFromHint(hint: OAuthHint, hosts: string[]): OAuth {
  const guessed = emptyOAuth(hosts);
  const issuer: OAuth["issuer"] =
    hint.issuer === "accounts.google.com"
      ? "google"
      : hint.issuer === "login.microsoftonline.com"
        ? "microsoft"
        : hint.issuer
          ? "custom"
          : guessed.issuer;
  if (issuer !== "custom") return { ...guessed, issuer };
  return { ...guessed, issuer, authorizationUrl: hint.authorizationUrl, tokenUrl: hint.tokenUrl, scopes: hint.scopes };
}

/** Who a profile signs in at, for buttons and notices: Google, Microsoft 365, or a custom issuer's host. */
export function issuerName(p: { serverType: ServerType; oauth?: OAuth | null }): string {
  if (p.serverType === "gmail" || !p.oauth || p.oauth.issuer === "google") return "Google";
  if (p.oauth.issuer === "microsoft") return "Microsoft 365";
  const host = p.oauth.tokenUrl.split("://")[1]?.split("/")[0] ?? "";
  return host.split(":")[0] || "the issuer";
}

/** The standard port for a protocol and connection security. */
export function standardPort(protocol: ServerType | "smtp", security: Security): number {
  const table: Record<string, [tls: number, clear: number]> = { imap: [993, 143], pop3: [995, 110], smtp: [465, 587] };
  const [tls, clear] = table[protocol] ?? table.imap;
  return security === "tls" ? tls : clear;
}

/** The domain of an address, or "" when there is none yet. */
export function domainOf(email: string): string {
  const at = email.lastIndexOf("@");
  return at >= 0 ? email.slice(at + 1).trim().toLowerCase() : "";
}

/**
 * Guessed settings from the address alone: common host names (imap./pop./smtp. + domain) and the encrypted
 * standard ports. Only fills fields the user has not typed in. Marked in the UI as a guess.
 */
export function guessFromAddress(draft: ProfileDraft): ProfileDraft {
  const domain = domainOf(draft.email);
  if (!domain) return draft;
  const incomingHost = `${draft.serverType === "pop3" ? "pop" : "imap"}.${domain}`;
  return {
    ...draft,
    username: draft.username || draft.email.trim(),
    incoming: {
      ...draft.incoming,
      host: draft.incoming.host || incomingHost,
      port: draft.incoming.host ? draft.incoming.port : standardPort(draft.serverType, "tls"),
      security: draft.incoming.host ? draft.incoming.security : "tls",
    },
    outgoing: { ...draft.outgoing, host: draft.outgoing.host || `smtp.${domain}` },
  };
}

/** A draft for editing a saved profile: its settings, no password (the stored one is kept unless changed). */
export function draftOf(p: {
  email: string;
  serverType: ServerType;
  manualVerification: boolean;
  zoneId: string | null;
  actors: { actorId: string }[];
  username: string;
  incoming: ProfileDraft["incoming"];
  outgoing: ProfileDraft["outgoing"];
  graph?: ProfileDraft["graph"];
  gmail?: ProfileDraft["gmail"];
  oauth?: ProfileDraft["oauth"];
}): ProfileDraft {
  return {
    email: p.email,
    serverType: p.serverType,
    manualVerification: p.manualVerification,
    zoneId: p.zoneId,
    actorIds: p.actors.map((a) => a.actorId),
    username: p.username,
    password: null,
    incoming: { ...p.incoming },
    outgoing: { ...p.outgoing },
    graph: p.graph ? { ...p.graph } : null,
    gmail: p.gmail ? { ...p.gmail } : null,
    oauth: p.oauth ? { ...p.oauth } : null,
  };
}

/** "host:port", with brackets around an IPv6 literal. */
export function hostPort(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Where a prefilled server came from, in words, e.g. "the domain's autoconfig file (https://…)". */
export const sourceNames: Record<SourceKind, string> = {
  autoconfig: "the domain's autoconfig file",
  wellKnown: "the domain's .well-known autoconfig file",
  ispdb: "the Thunderbird ISPDB",
  srv: "the domain's SRV records",
  mx: "the ISPDB entry of the domain's MX provider",
  guess: "a common host name that answered",
};

export type Origin = { incoming: string | null; outgoing: string | null };

/**
 * Fills the servers from the best suggestion that has them (suggestions come best first), for the draft's
 * server type. Returns the draft and, per side, where the values came from (null: nothing discovered).
 */
export function applyDiscovery(draft: ProfileDraft, discovery: Discovery): { draft: ProfileDraft; origin: Origin } {
  const next = structuredClone(draft);
  const origin: Origin = { incoming: null, outgoing: null };
  const wanted: HintProtocol = draft.serverType === "pop3" ? "pop3" : "imap";
  for (const s of discovery.suggestions) {
    const hint = s.incoming.find((h) => h.protocol === wanted);
    if (hint && !origin.incoming) {
      next.incoming = { ...next.incoming, host: hint.host, port: hint.port, security: hint.security, pinnedSha256: null };
      if (hint.username) next.username = hint.username;
      origin.incoming = `${sourceNames[s.source]} (${s.asked})`;
      // The provider says its servers take OAuth 2.0 (Google and Microsoft 365 refuse passwords): start there.
      if (hint.oauth && !next.oauth) {
        next.oauth = oauthFromHint(hint.oauth, [hint.host]);
        next.incoming.auth = "oauth2";
        next.outgoing.auth = "oauth2";
        next.password = "";
      }
    }
    const out = s.outgoing.find((h) => h.protocol === "smtp");
    if (out && !origin.outgoing) {
      next.outgoing = { ...next.outgoing, host: out.host, port: out.port, security: out.security, pinnedSha256: null };
      origin.outgoing = `${sourceNames[s.source]} (${s.asked})`;
    }
  }
  return { draft: next, origin };
}

/** Which sign-in methods a server announced, as the wizard's choices: `null` while no test has run. */
export function offeredMethods(
  mechanisms: string[] | null,
): { plain: boolean; ntlm: boolean; oauth2: boolean } | null {
  if (!mechanisms) return null;
  const upper = mechanisms.map((m) => m.toUpperCase());
  return {
    plain: upper.some((m) => ["PLAIN", "LOGIN", "USER"].includes(m)),
    ntlm: upper.includes("NTLM"),
    oauth2: upper.includes("OAUTHBEARER") || upper.includes("XOAUTH2"),
  };
}
