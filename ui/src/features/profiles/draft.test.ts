import { describe, expect, it } from "vitest";
import { domainOf, emptyDraft, guessFromAddress, hostPort, issuesOfStep, standardPort } from "./draft";

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
