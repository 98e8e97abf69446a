//! Helpers for the cross-cutting tests: finding the running lab and deciding whether a missing real
//! component fails the test (CI) or skips it (a developer's quick `cargo test`).

pub mod fake;
pub mod faults;
pub mod google;
pub mod microsoft;
pub mod world;

use std::collections::HashMap;
use std::path::PathBuf;

/// Set by the README's test command (tests/tools/test-all.sh): every real component must be present.
pub const REQUIRE_ENV: &str = "MAILPROOF_REQUIRE_REAL";

/// Path of the lab's env file, written by tests/lab/start.sh.
pub const LAB_ENV: &str = "MAILPROOF_LAB_ENV";

/// True when a missing component must fail the test rather than skip it.
pub fn real_components_required() -> bool {
    std::env::var_os(REQUIRE_ENV).is_some_and(|v| v == "1")
}

/// Skips (returns `None`) or fails, depending on `MAILPROOF_REQUIRE_REAL`, when `what` is missing.
pub fn missing<T>(what: &str) -> Option<T> {
    assert!(!real_components_required(), "{what} is required ({REQUIRE_ENV}=1) but missing");
    eprintln!("SKIPPED: {what} is missing; run the README's test command to use the real one");
    None
}

/// The Sisimai project's real bounces with its reading (`../shared/corpora/bounces-sisimai`, BSD 2-Clause), read
/// in place — never copied here; `None` (a skip, or a failure under `MAILPROOF_REQUIRE_REAL=1`) where it is absent,
/// as in a user's own clone.
pub fn sisimai_corpus() -> Option<PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora/bounces-sisimai");
    if dir.join("expected.json").is_file() {
        Some(dir)
    } else {
        missing("the bounce corpus (../shared/corpora/bounces-sisimai)")
    }
}

/// The running lab, read from `$MAILPROOF_LAB_ENV`.
pub struct Lab {
    vars: HashMap<String, String>,
}

impl Lab {
    /// The running lab, or `None` (a skip, or a failure under `MAILPROOF_REQUIRE_REAL=1`) when there is none.
    pub fn running() -> Option<Lab> {
        let Some(path) = std::env::var_os(LAB_ENV) else { return missing("the mail lab (MAILPROOF_LAB_ENV)") };
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path:?}: {e}"));
        let vars = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
            .collect();
        Some(Lab { vars })
    }

    pub fn var(&self, key: &str) -> &str {
        self.vars.get(key).unwrap_or_else(|| panic!("lab.env has no {key}"))
    }

    /// A variable the lab may not have (e.g. the NTLM side's, present only with `start.sh --ntlm`).
    pub fn try_var(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    pub fn port(&self, key: &str) -> u16 {
        self.var(key).parse().unwrap_or_else(|_| panic!("{key} is not a port"))
    }

    pub fn host(&self) -> String {
        self.var("LAB_HOST").to_owned()
    }

    pub fn ca(&self) -> PathBuf {
        PathBuf::from(self.var("LAB_CA"))
    }

    /// The lab password of `user` (alice, bob …); a sub-address (`bob+tag`) is its user's mailbox.
    pub fn password(&self, user: &str) -> String {
        let user = user.split('+').next().unwrap_or(user);
        self.var(&format!("LAB_PASSWORD_{}", user.to_uppercase())).to_owned()
    }

    /// The usual lab profile for `user`: incoming over implicit TLS on `incoming_port` (IMAPS or POP3S),
    /// submission with STARTTLS and Plain sign-in, read by this workstation, with the lab password.
    pub fn profile_draft(
        &self,
        user: &str,
        server_type: mailproof_core::profiles::ServerType,
        incoming_port: u16,
    ) -> mailproof_core::profiles::ProfileDraft {
        // The lab is the demo gateway: its profiles are the demo's.
        mailproof_core::demo::gateway_draft(
            &self.host(),
            user,
            mailproof_core::secrets::Secret::new(self.password(user)),
            server_type,
            incoming_port,
            self.port("LAB_SUBMISSION_PORT"),
        )
    }
}

impl Lab {
    /// Makes `user` Mailproof's sender in `store` (submission with STARTTLS and Plain sign-in), its lab password
    /// in `keyring`: what verification mails come from.
    pub fn use_as_sender(&self, user: &str, store: &mailproof_core::Store, keyring: &mailproof_core::secrets::Keyring) {
        use mailproof_core::verification::{save_sender, sender_password_key};
        let sender = mailproof_core::demo::gateway_sender(&self.host(), user, self.port("LAB_SUBMISSION_PORT"));
        save_sender(store, &sender, time::OffsetDateTime::now_utc()).unwrap();
        keyring.persist(&sender_password_key(), &mailproof_core::secrets::Secret::new(self.password(user))).unwrap();
    }
}

/// A keyring under `service` that has just proven it works, or `None` (a skip, or a failure under
/// `MAILPROOF_REQUIRE_REAL=1`) when no Secret Service is reachable.
pub fn real_keyring(service: &str) -> Option<mailproof_core::secrets::Keyring> {
    use mailproof_core::secrets::{Keyring, Secret, SecretsError};
    let keyring = Keyring::with_service(service);
    let check = || keyring.check(&Secret::new(uuid::Uuid::new_v4().to_string()));
    // A keyring daemon swamped by tests starting at once can miss D-Bus's reply deadline: ask once more.
    let result = match check() {
        Err(SecretsError::Unavailable { detail }) if detail.contains("Did not receive a reply") => check(),
        other => other,
    };
    match result {
        Ok(()) => Some(keyring),
        Err(SecretsError::Unavailable { detail } | SecretsError::Refused { detail }) => {
            missing(&format!("a Secret Service keyring ({detail})"))
        }
        Err(e) => panic!("keyring check failed: {e}"),
    }
}

/// Submits `message` on a submission session of its own — the session type every send of Mailproof goes
/// through — to its envelope's recipients: the server's acceptance, or its refusal (or what broke) in words.
pub async fn submit(
    config: &mailproof_mail::smtp::SmtpConfig,
    message: &lettre::Message,
) -> Result<mailproof_mail::submit::Accepted, mailproof_mail::submit::Refusal> {
    let envelope = message.envelope();
    let from = envelope.from().map(|a| a.to_string()).unwrap_or_default();
    let to: Vec<String> = envelope.to().iter().map(|a| a.to_string()).collect();
    mailproof_mail::submit::send_one(config, &from, &to, &message.formatted()).await.result
}
