import type { EmailRule, RuleOutcome, RuleTarget } from "../../lib/ipc";

export const targets: { id: RuleTarget; label: string }[] = [
  { id: "subject", label: "Subject" },
  { id: "body", label: "Body" },
  { id: "either", label: "Subject or body" },
];

export const outcomes: { id: RuleOutcome; label: string; meaning: string }[] = [
  { id: "blocked", label: "Blocked", meaning: "the defences stopped the message: Prevented" },
  { id: "error", label: "Error", meaning: "a setup problem: Errored, never counted as blocked" },
];

export const emptyRule = (): EmailRule => ({ name: "", pattern: "", target: "either", outcome: "blocked" });

/** What is wrong with a rule before it is sent, by field. The pattern's syntax is checked by the core. */
export function ruleIssues(rule: EmailRule, existing: EmailRule[]): Record<string, string> {
  const issues: Record<string, string> = {};
  const name = rule.name.trim();
  if (!name) issues.name = "Give the rule a name.";
  else if (existing.some((r) => r.name.toLowerCase() === name.toLowerCase()))
    issues.name = `A rule named "${name}" already exists.`;
  if (!rule.pattern.trim()) issues.pattern = "Type a regular expression, e.g. mailbox (is )?full.";
  else if (rule.pattern.length > 1000) issues.pattern = "At most 1,000 characters.";
  return issues;
}
