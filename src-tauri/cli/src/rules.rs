//! `mailproof rules list|add|delete`: the email rules that classify bounces.

use std::process::ExitCode;

use mailproof_core::rules::{self, EmailRule, RuleOutcome, RuleTarget};

use crate::profile::{open_store, CliResult};

/// `mailproof rules list [--json]`.
pub fn list(json: bool) -> CliResult {
    let store = open_store()?;
    let all = rules::list(&store).map_err(|e| e.to_string())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?);
    } else if all.is_empty() {
        eprintln!("No email rules: bounces are read by Mailproof alone. `mailproof rules add` adds one.");
    } else {
        for r in &all {
            println!("{:<30} {:<8} {:<8} {}", r.name, format!("{:?}", r.target), format!("{:?}", r.outcome), r.pattern);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `mailproof rules add --name N --pattern RE --on subject|body|either --outcome blocked|error`.
pub fn add(name: &str, pattern: &str, on: &str, outcome: &str) -> CliResult {
    let target = match on {
        "subject" => RuleTarget::Subject,
        "body" => RuleTarget::Body,
        "either" => RuleTarget::Either,
        other => return Err(format!("--on {other}: use subject, body or either")),
    };
    let outcome = match outcome {
        "blocked" => RuleOutcome::Blocked,
        "error" => RuleOutcome::Error,
        other => return Err(format!("--outcome {other}: use blocked or error")),
    };
    let store = open_store()?;
    let rule = EmailRule { name: name.to_owned(), pattern: pattern.to_owned(), target, outcome };
    rules::add(&store, rule, time::OffsetDateTime::now_utc()).map_err(|e| e.to_string())?;
    println!("Added the rule \"{}\"; it applies to bounces from the next job on.", name.trim());
    Ok(ExitCode::SUCCESS)
}

/// `mailproof rules delete NAME`.
pub fn delete(name: &str) -> CliResult {
    let store = open_store()?;
    rules::delete(&store, name, time::OffsetDateTime::now_utc()).map_err(|e| e.to_string())?;
    println!("Deleted the rule \"{name}\".");
    Ok(ExitCode::SUCCESS)
}
