//! Email rules: the analyst's regular expressions on bounce reports that classify them — as Blocked (the
//! defences stopped the message; Prevented) or as Error (a setup problem; Errored, never counted as blocked) —
//! where Mailproof's own reading would not. The first rule that matches wins.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::store::{Store, StoreError};

const RULES_KEY: &str = "email.rules";
/// Compiled patterns may not grow beyond this (a pathological pattern is refused, not run).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum RuleTarget {
    Subject,
    Body,
    Either,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum RuleOutcome {
    /// The bounce means the defences blocked the message.
    Blocked,
    /// The bounce means something is set up wrong (mailbox full, unknown user …).
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct EmailRule {
    pub name: String,
    /// A regular expression (Rust `regex` syntax); case-insensitive.
    pub pattern: String,
    pub target: RuleTarget,
    pub outcome: RuleOutcome,
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("the rule needs a name")]
    NoName,
    #[error("a rule named \"{0}\" already exists")]
    Duplicate(String),
    #[error("there is no rule named \"{0}\"")]
    NotFound(String),
    #[error("the pattern is not a valid regular expression: {0}")]
    BadPattern(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn compile(pattern: &str) -> Result<regex::Regex, RuleError> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| RuleError::BadPattern(e.to_string()))
}

pub fn list(store: &Store) -> Result<Vec<EmailRule>, StoreError> {
    Ok(crate::settings::read(store, RULES_KEY)?.unwrap_or_default())
}

/// Adds a rule after the others, once its name and pattern are good.
pub fn add(store: &Store, rule: EmailRule, now: OffsetDateTime) -> Result<(), RuleError> {
    let rule = EmailRule { name: rule.name.trim().to_owned(), ..rule };
    if rule.name.is_empty() {
        return Err(RuleError::NoName);
    }
    compile(&rule.pattern)?;
    let mut rules = list(store)?;
    if rules.iter().any(|r| r.name.eq_ignore_ascii_case(&rule.name)) {
        return Err(RuleError::Duplicate(rule.name));
    }
    rules.push(rule);
    Ok(crate::settings::write(store, RULES_KEY, &rules, now)?)
}

pub fn delete(store: &Store, name: &str, now: OffsetDateTime) -> Result<(), RuleError> {
    let mut rules = list(store)?;
    let before = rules.len();
    rules.retain(|r| !r.name.eq_ignore_ascii_case(name.trim()));
    if rules.len() == before {
        return Err(RuleError::NotFound(name.to_owned()));
    }
    Ok(crate::settings::write(store, RULES_KEY, &rules, now)?)
}

/// Rules ready to apply.
pub struct Classifier {
    rules: Vec<(EmailRule, regex::Regex)>,
}

impl Classifier {
    /// Compiles the stored rules; a rule whose pattern no longer compiles is skipped.
    pub fn load(store: &Store) -> Result<Classifier, StoreError> {
        let rules = list(store)?.into_iter().filter_map(|r| compile(&r.pattern).ok().map(|re| (r, re))).collect();
        Ok(Classifier { rules })
    }

    /// The first rule matching a bounce's subject or body.
    pub fn classify(&self, subject: &str, body: &str) -> Option<&EmailRule> {
        self.rules
            .iter()
            .find(|(r, re)| match r.target {
                RuleTarget::Subject => re.is_match(subject),
                RuleTarget::Body => re.is_match(body),
                RuleTarget::Either => re.is_match(subject) || re.is_match(body),
            })
            .map(|(r, _)| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, pattern: &str, target: RuleTarget, outcome: RuleOutcome) -> EmailRule {
        EmailRule { name: name.into(), pattern: pattern.into(), target, outcome }
    }

    #[test]
    fn rules_are_validated_stored_and_applied_in_order() {
        let store = Store::open_in_memory().unwrap();
        let now = OffsetDateTime::now_utc();
        add(&store, rule("Mailbox full", r"mailbox (is )?full|quota", RuleTarget::Either, RuleOutcome::Error), now)
            .unwrap();
        add(&store, rule("Virus", r"virus|malware", RuleTarget::Body, RuleOutcome::Blocked), now).unwrap();
        assert!(matches!(
            add(&store, rule(" ", "x", RuleTarget::Body, RuleOutcome::Error), now),
            Err(RuleError::NoName)
        ));
        assert!(matches!(
            add(&store, rule("virus", "x", RuleTarget::Body, RuleOutcome::Error), now),
            Err(RuleError::Duplicate(_))
        ));
        let bad = add(&store, rule("Bad", "(unclosed", RuleTarget::Body, RuleOutcome::Error), now).unwrap_err();
        assert!(bad.to_string().contains("not a valid regular expression"), "{bad}");
        let huge = add(&store, rule("Huge", r"\w{1000}\w{1000}\w{1000}", RuleTarget::Body, RuleOutcome::Error), now);
        assert!(matches!(huge, Err(RuleError::BadPattern(_))));

        let c = Classifier::load(&store).unwrap();
        assert_eq!(c.classify("Undeliverable", "550 5.7.1 VIRUS found").map(|r| r.outcome), Some(RuleOutcome::Blocked));
        assert_eq!(c.classify("Mailbox FULL", "552 over quota").map(|r| r.name.as_str()), Some("Mailbox full"));
        assert_eq!(c.classify("virus in subject only", "nothing"), None, "Virus looks at the body only");
        delete(&store, "VIRUS", now).unwrap();
        assert!(matches!(delete(&store, "virus", now), Err(RuleError::NotFound(_))));
        assert_eq!(list(&store).unwrap().len(), 1);
    }
}
