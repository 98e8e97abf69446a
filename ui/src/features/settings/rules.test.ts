import { describe, expect, it } from "vitest";
import { emptyRule, ruleIssues } from "./rules";

describe("email rules", () => {
  it("needs a unique name and a pattern", () => {
    expect(Object.keys(ruleIssues(emptyRule(), [])).sort()).toEqual(["name", "pattern"]);
    const full = { ...emptyRule(), name: "Mailbox full", pattern: "mailbox (is )?full", outcome: "error" as const };
    expect(ruleIssues(full, [])).toEqual({});
    expect(ruleIssues({ ...full, name: " mailbox FULL " }, [full]).name).toContain("already exists");
  });
});
