//! Builds an action's MIME message: a Message-ID we choose, an `X-Mailproof-Action` header and a unique token
//! in the subject, so the copy that arrives (or the bounce that comes back) is matched to the action.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment as LettreAttachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use mailproof_mail::message::{analyse, PartDigest};

use super::{ActionDef, BuildContext, FromHeader};

pub const ACTION_HEADER: &str = "X-Mailproof-Action";

/// A message ready to send, with what it will be compared against.
#[derive(Debug, Clone)]
pub struct Composed {
    /// Without angle brackets.
    pub message_id: String,
    pub token: String,
    pub subject: String,
    /// MAIL FROM.
    pub envelope_from: String,
    pub from_header: String,
    pub to: String,
    pub raw: Vec<u8>,
    /// Every content part as built (read back with the same parser the received copy goes through).
    pub parts: Vec<PartDigest>,
    /// Body text that carries the payload.
    pub body_payload: Vec<String>,
}

/// The subject every test message carries: the token first, then the action.
pub fn subject(token: &str, action: &ActionDef) -> String {
    format!("[MP-{token}] {} ({})", action.name, action.id)
}

pub fn compose(action: &ActionDef, ctx: &BuildContext, token: &str) -> Result<Composed, String> {
    compose_content((action.build)(ctx), action, ctx, token)
}

/// Composes `content` (built for `action`; some payloads are random, e.g. encrypted archives' salts).
pub fn compose_content(
    content: super::Content,
    action: &ActionDef,
    ctx: &BuildContext,
    token: &str,
) -> Result<Composed, String> {
    let domain = ctx.source.rsplit_once('@').map(|(_, d)| d).unwrap_or("mailproof.invalid");
    let message_id = format!("mp-{token}.{}@{domain}", crate::ids::new_hex());
    let parse = |a: &str| -> Result<lettre::Address, String> {
        a.parse().map_err(|e| format!("{a} is not a valid address: {e}"))
    };
    let (envelope_from, from_mailbox) = match &content.from {
        FromHeader::Source => (ctx.source.to_owned(), Mailbox::new(None, parse(ctx.source)?)),
        FromHeader::Header { name, address } => (ctx.source.to_owned(), Mailbox::new(name.clone(), parse(address)?)),
        FromHeader::Envelope { address } => (address.clone(), Mailbox::new(None, parse(address)?)),
    };
    let subject = subject(token, action);
    let mut builder = Message::builder()
        .from(from_mailbox.clone())
        .to(Mailbox::new(None, parse(ctx.destination)?))
        .subject(subject.clone())
        .message_id(Some(format!("<{message_id}>")))
        .date_now()
        .envelope(
            lettre::address::Envelope::new(Some(parse(&envelope_from)?), vec![parse(ctx.destination)?])
                .map_err(|e| e.to_string())?,
        )
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(ACTION_HEADER),
            format!("{} token={token}", action.id),
        ));
    if let Some(reply_to) = &content.reply_to {
        builder = builder.reply_to(Mailbox::new(None, parse(reply_to)?));
    }
    let body: MultiPart = match &content.html {
        Some(html) => MultiPart::alternative_plain_html(content.text.clone(), html.clone()),
        None => MultiPart::mixed().singlepart(SinglePart::plain(content.text.clone())),
    };
    let message = if content.attachments.is_empty() && content.html.is_none() {
        builder.singlepart(SinglePart::plain(content.text.clone()))
    } else {
        let mut mixed = if content.html.is_some() { MultiPart::mixed().multipart(body) } else { body };
        for a in &content.attachments {
            let ct = ContentType::parse(&a.content_type).map_err(|e| format!("bad type {}: {e}", a.content_type))?;
            mixed = mixed.singlepart(LettreAttachment::new(a.filename.clone()).body(a.bytes.clone(), ct));
        }
        builder.multipart(mixed)
    }
    .map_err(|e| format!("cannot build the message: {e}"))?;
    let raw = message.formatted();
    let parts = analyse(&raw).parts;
    Ok(Composed {
        message_id,
        token: token.to_owned(),
        subject,
        envelope_from,
        from_header: from_mailbox.to_string(),
        to: ctx.destination.to_owned(),
        raw,
        parts,
        body_payload: content.body_payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::{find, CATALOGUE};

    #[test]
    fn every_action_composes_into_a_message_that_reads_back() {
        let ctx = BuildContext {
            source: "alice@example.test",
            destination: "bob@example.test",
            spoofed_from: Some("ceo@example.test"),
        };
        for a in CATALOGUE {
            let token = crate::ids::new_token();
            let sent = (a.build)(&ctx);
            let c = compose_content(sent.clone(), a, &ctx, &token).unwrap_or_else(|e| panic!("{}: {e}", a.id));
            let back = analyse(&c.raw);
            assert_eq!(back.message_id.as_deref(), Some(c.message_id.as_str()), "{}", a.id);
            assert!(back.subject.as_deref().unwrap_or("").contains(&token), "{}", a.id);
            assert_eq!(back.header(ACTION_HEADER), Some(format!("{} token={token}", a.id).as_str()));
            let attachments: Vec<_> = c.parts.iter().filter(|p| p.filename.is_some()).collect();
            assert_eq!(attachments.len(), sent.attachments.len(), "{}: {:?}", a.id, c.parts);
            for (p, s) in attachments.iter().zip(&sent.attachments) {
                assert_eq!(p.sha256, mailproof_mail::message::sha256_hex(&s.bytes), "{} {}", a.id, s.filename);
            }
        }
    }

    #[test]
    fn spoofing_actions_shape_the_sender() {
        let ctx = BuildContext {
            source: "alice@example.test",
            destination: "bob@example.test",
            spoofed_from: Some("ceo@example.test"),
        };
        let c = compose(find("A500-001").unwrap(), &ctx, "t").unwrap();
        assert_eq!((c.envelope_from.as_str(), c.from_header.as_str()), ("alice@example.test", "ceo@example.test"));
        let c = compose(find("A500-004").unwrap(), &ctx, "t").unwrap();
        assert_eq!(c.envelope_from, "ceo@example.test");
        let c = compose(find("A500-003").unwrap(), &ctx, "t").unwrap();
        assert!(c.from_header.contains("@exarnple.test"), "{}", c.from_header);
    }
}
