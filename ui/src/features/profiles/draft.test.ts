import { describe, expect, it } from "vitest";
import {
  applyDiscovery,
  offeredMethods,
  domainOf,
  emptyDraft,
  guessFromAddress,
  hostPort,
  issuesOfStep,
  protocolLabel,
  serverTypeLabel,
  standardPort,
} from "./draft";

describe("the profile draft", () => {
  it("guesses common host names and encrypted ports from the address, without overwriting typed values", () => {
    const d = guessFromAddress({ ...emptyDraft(), email: "Bob@Example.test" });
    expect(d.incoming).toMatchObject({ host: "imap.example.test", port: 993, security: "tls" });
    expect(d.outgoing.host).toBe("smtp.example.test");
    expect(d.username).toBe("Bob@Example.test");

    const typed = emptyDraft();
    typed.email = "bob@example.test";
    typed.incoming.host = "127.0.0.1";
    typed.incoming.port = 4143;
    typed.incoming.security = "startTls";
    expect(guessFromAddress(typed).incoming).toMatchObject({ host: "127.0.0.1", port: 4143, security: "startTls" });
    expect(guessFromAddress({ ...emptyDraft(), serverType: "pop3", email: "a@b.test" }).incoming).toMatchObject({
      host: "pop.b.test",
      port: 995,
    });
  });

  it("knows the standard ports", () => {
    expect(standardPort("imap", "startTls")).toBe(143);
    expect(standardPort("pop3", "tls")).toBe(995);
    expect(standardPort("smtp", "tls")).toBe(465);
    expect(standardPort("smtp", "none")).toBe(587);
  });

  it("assigns issues to the step that edits their field", () => {
    const findings = {
      errors: [
        { field: "email", message: "bad address" },
        { field: "incoming.port", message: "bad port" },
        { field: "outgoing.security", message: "bad mode" },
      ],
      warnings: [{ field: "outgoing.security", message: "clear text" }],
    };
    expect(issuesOfStep(findings, 0).map((i) => i.message)).toEqual(["bad address"]);
    expect(issuesOfStep(findings, 2).map((i) => i.message)).toEqual(["bad port"]);
    expect(issuesOfStep(findings, 3, "warnings").map((i) => i.message)).toEqual(["clear text"]);
    expect(issuesOfStep(findings, 1)).toEqual([]);
  });

  it("formats addresses", () => {
    expect(domainOf("no-at-sign")).toBe("");
    expect(hostPort("::1", 993)).toBe("[::1]:993");
    expect(hostPort("mail.example.test", 587)).toBe("mail.example.test:587");
  });
});

describe("applying discovery", () => {
  const hint = (protocol: "imap" | "pop3" | "smtp", host: string, port: number) => ({
    protocol,
    host,
    port,
    security: "tls" as const,
    username: null,
    ntlm: false,
    oauth: null,
  });
  const discovery = {
    domain: "example.test",
    millis: 12,
    sources: [],
    suggestions: [
      { source: "autoconfig" as const, asked: "https://autoconfig.example.test/x", incoming: [hint("pop3", "pop.a", 995)], outgoing: [] },
      { source: "srv" as const, asked: "_imaps._tcp", incoming: [hint("imap", "imap.b", 993)], outgoing: [hint("smtp", "smtp.b", 465)] },
    ],
  };

  it("takes each side from the best source that has it, for the chosen server type", () => {
    const { draft, origin } = applyDiscovery({ ...emptyDraft(), email: "bob@example.test" }, discovery);
    expect(draft.incoming).toMatchObject({ host: "imap.b", port: 993 });
    expect(draft.outgoing).toMatchObject({ host: "smtp.b", port: 465, security: "tls" });
    expect(origin.incoming).toBe("the domain's SRV records (_imaps._tcp)");

    const pop = applyDiscovery({ ...emptyDraft(), serverType: "pop3" }, discovery);
    expect(pop.draft.incoming.host).toBe("pop.a");
    expect(pop.origin.incoming).toContain("autoconfig file");
  });

  it("says when nothing was discovered", () => {
    const { origin } = applyDiscovery(emptyDraft(), { ...discovery, suggestions: [] });
    expect(origin).toEqual({ incoming: null, outgoing: null });
  });
});

describe("offered sign-in methods", () => {
  it("maps what a server announced to the wizard's choices", () => {
    expect(offeredMethods(null)).toBeNull();
    expect(offeredMethods(["PLAIN", "LOGIN"])).toEqual({ plain: true, ntlm: false, oauth2: false });
    expect(offeredMethods(["NTLM", "USER"])).toEqual({ plain: true, ntlm: true, oauth2: false });
    expect(offeredMethods(["ntlm"])).toEqual({ plain: false, ntlm: true, oauth2: false });
    // imap.gmail.com's and outlook.office365.com's announcements.
    expect(offeredMethods(["PLAIN", "XOAUTH2", "OAUTHBEARER"])?.oauth2).toBe(true);
    expect(offeredMethods(["LOGIN", "XOAUTH2"])?.oauth2).toBe(true);
  });

  it("starts with OAuth 2.0 at the issuer an ISPDB entry names", async () => {
    const { oauthFromHint } = await import("./draft");
    // As office365.com's and googlemail.com's ISPDB entries read (tests/fixtures/ispdb).
    const ms = { issuer: "login.microsoftonline.com", scopes: "https://outlook.office365.com/IMAP.AccessAsUser.All offline_access", authorizationUrl: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize", tokenUrl: "https://login.microsoftonline.com/common/oauth2/v2.0/token" };
    const hint = { protocol: "imap" as const, host: "outlook.office365.com", port: 993, security: "tls" as const, username: "bob@contoso.test", ntlm: false, oauth: ms };
    const { draft } = applyDiscovery({ ...emptyDraft(), email: "bob@contoso.test", password: "typed" }, {
      domain: "contoso.test", millis: 1, sources: [],
      suggestions: [{ source: "ispdb", asked: "contoso.test", incoming: [hint], outgoing: [] }],
    });
    expect(draft.oauth?.issuer).toBe("microsoft");
    expect([draft.incoming.auth, draft.outgoing.auth, draft.password]).toEqual(["oauth2", "oauth2", ""]);
    expect(oauthFromHint({ ...ms, issuer: "accounts.google.com" }, ["imap.gmail.com"]).scopes).toBe("");
    const custom = oauthFromHint({ ...ms, issuer: "login.example.test", tokenUrl: "https://login.example.test/t" }, []);
    expect([custom.issuer, custom.tokenUrl]).toEqual(["custom", "https://login.example.test/t"]);
  });

  it("guesses the OAuth issuer from the servers and names it", async () => {
    const { emptyOAuth, issuerName } = await import("./draft");
    expect(emptyOAuth(["imap.gmail.com", "smtp.gmail.com"]).issuer).toBe("google");
    expect(emptyOAuth(["outlook.office365.com"]).issuer).toBe("microsoft");
    const custom = { ...emptyOAuth(["mail.example.test"]), tokenUrl: "https://id.example.test:8443/token" };
    expect(custom.issuer).toBe("custom");
    expect(issuerName({ serverType: "imap", oauth: custom })).toBe("id.example.test");
    expect(issuerName({ serverType: "gmail", oauth: null })).toBe("Google");
  });
});

describe("a Microsoft 365 draft", () => {
  it("skips the server steps both ways and counts the days left on its secret", async () => {
    const { stepAfter, daysUntil, stepsOf } = await import("./draft");
    expect(stepsOf("graph")).toEqual([0, 1, 4, 5]);
    expect(stepAfter("graph", 1, 1)).toBe(4);
    expect(stepAfter("graph", 4, -1)).toBe(1);
    expect(stepAfter("imap", 1, 1)).toBe(2);
    expect(daysUntil("2026-12-20", new Date("2026-12-02T23:30:00Z"))).toBe(18);
    expect(daysUntil("20/12/2026")).toBeNull();
  });
});

describe("a Gmail draft", () => {
  it("is saved and signed in before it can be tested; once signed in it is tested as usual", async () => {
    const { stepAfter, stepsOf } = await import("./draft");
    expect(stepsOf("gmail", false)).toEqual([0, 1, 5]);
    expect(stepAfter("gmail", 1, 1, false)).toBe(5);
    expect(stepAfter("gmail", 5, -1, false)).toBe(1);
    expect(stepsOf("gmail", true)).toEqual([0, 1, 4, 5]);
    expect(stepAfter("gmail", 1, 1, true)).toBe(4);
  });

  it("names every server type from one table", () => {
    expect(Object.keys(serverTypeLabel).sort()).toEqual(["gmail", "graph", "imap", "pop3"]);
    expect(protocolLabel("pop3", "incoming")).toBe("POP3");
    expect(protocolLabel("pop3", "outgoing")).toBe("SMTP");
    expect(protocolLabel("imap", "incoming")).toBe("IMAP");
  });
});
