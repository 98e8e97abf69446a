//! Mailproof's fuzz targets: each takes any bytes and must neither panic nor hang nor blow up in time or memory.
//! One file, two users: the libFuzzer harness (`fuzz_targets/*.rs`, run by tests/bench/fuzz.sh on nightly) and the
//! replay on stable Rust in the normal test suite (tests/rust/fuzz_replay.rs), which runs every saved input —
//! the fixtures, `regressions/` (each crash a campaign found, kept) and ../shared/corpora — through them.

use std::time::Duration;

/// A target: any bytes in, nothing out; it may not panic.
pub type Target = fn(&[u8]);

/// Every target, by the name its corpus and regressions folder carry.
pub const TARGETS: &[(&str, Target)] = &[
    ("message", message),
    ("bounce", bounce),
    ("autoconfig", autoconfig),
    ("replies", replies),
    ("agent_wire", agent_wire),
];

/// A received message's analysis: headers, parts, links, the Received trace, Authentication-Results.
pub fn message(data: &[u8]) {
    let analysis = mailproof_mail::message::analyse(data);
    std::hint::black_box(format!("{analysis:?}"));
}

/// The bounce reader: the DSN formats and every mail system's own, and each failed recipient's reason.
pub fn bounce(data: &[u8]) {
    if let Some(b) = mailproof_mail::bounce::parse(data) {
        std::hint::black_box(format!("{b:?}"));
    }
}

/// Thunderbird's autoconfig XML, as a domain or the ISPDB serves it.
pub fn autoconfig(data: &[u8]) {
    if let Ok(xml) = std::str::from_utf8(data) {
        let _ = std::hint::black_box(mailproof_mail::discover::parse_config_xml(xml, "bob@example.test"));
    }
}

/// What servers answer: IMAP responses, SMTP reply texts (queue ids, status codes, reasons, OAuth error
/// challenges), and a whole POP3 session fed these bytes as the server's side.
pub fn replies(data: &[u8]) {
    let _ = std::hint::black_box(async_imap::imap_proto::parser::parse_response(data));
    let text = String::from_utf8_lossy(data);
    std::hint::black_box(mailproof_mail::submit::queue_id(&text));
    std::hint::black_box(mailproof_mail::bounce::enhanced_status(&text));
    std::hint::black_box(mailproof_mail::bounce::classify(None, &text));
    std::hint::black_box(mailproof_mail::sasl::oauth_error_text(data));
    pop3_session(data);
}

/// A POP3 session whose server says `data` and hangs up: greeting, UIDL, TOP, RETR.
fn pop3_session(data: &[u8]) {
    use tokio::io::AsyncWriteExt;
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime =
            tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime");
    }
    let data = data.to_vec();
    RUNTIME.with(|rt| {
        rt.block_on(async move {
            let (client, mut server) = tokio::io::duplex(1 << 16);
            let feed = tokio::spawn(async move {
                let _ = server.write_all(&data).await;
            });
            // The time limit only matters if the reader waited past the end of the bytes: it must not.
            if let Ok(mut pop) = mailproof_mail::pop3::Pop3::greet(client, Duration::from_secs(5)).await {
                let _ = pop.uidl().await;
                let _ = pop.top(1, 0).await;
                let _ = pop.retr_capped(1, 1 << 16).await;
            }
            let _ = feed.await;
        })
    });
}

/// What the agent reads from the workstation: a search request, with its mailbox access and timing.
pub fn agent_wire(data: &[u8]) {
    let _ = std::hint::black_box(serde_json::from_slice::<mailproof_core::agent::FindMail>(data));
}
