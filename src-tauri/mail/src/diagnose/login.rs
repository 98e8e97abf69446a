//! Signing in: NTLMv2, an OAuth 2.0 token (OAUTHBEARER or XOAUTH2), or the password dialogue of each protocol (PLAIN where offered, else IMAP LOGIN, POP3
//! USER/PASS, SMTP AUTH LOGIN), exactly as the session clients sign in.

use std::time::Instant;

use super::explain::explain_login_failure;
use super::steps::{Learnt, Run, Stop};
use super::wire::{imap_quote, ntlm_login, oauth_login, read_reply};
use super::{Protocol, StepKind, StepStatus};
use crate::dialogue::{Dialogue, DialogueError};
use crate::stream::MailStream;
use crate::{Encryption, Login, SignIn};

impl Run<'_> {
    pub(super) async fn login(
        &mut self,
        d: &mut Dialogue<MailStream>,
        learnt: &Learnt,
        login: &Login,
    ) -> Result<(), Stop> {
        let tg = self.target;
        let t = Instant::now();
        let title = "Login";
        let secured = tg.encryption != Encryption::None;
        let mechs = &learnt.mechanisms;
        let user = &login.username;
        let pass = login.password.expose();
        // An OAuth 2.0 sign-in first needs an access token from the provider: its refusal is the provider's.
        let token = match (&tg.sign_in, &tg.tokens) {
            (SignIn::OAuth2, Some(source)) => match source.bearer().await {
                Ok(token) => Some(token),
                Err(e) => {
                    let (detail, hint) = (format!("No access token for {user}: {e}"), "Sign the profile in again.");
                    return Err(self.fail(StepKind::Login, title, detail, hint, t));
                }
            },
            (SignIn::OAuth2, None) if pass.is_empty() => {
                let offered = ["OAUTHBEARER", "XOAUTH2"].iter().find(|m| mechs.iter().any(|o| o == *m));
                let detail = match offered {
                    Some(m) => format!(
                        "The server offers {m}, but {user} has not consented yet: there is no token to sign in with."
                    ),
                    None => format!(
                        "{user} has not consented yet, and the server announces neither OAUTHBEARER nor XOAUTH2 here."
                    ),
                };
                let hint = "Save the profile, then sign it in (Sign in in the profiles table, or `mailproof profile authorize`): the issuer's page opens in your browser.";
                return Err(self.fail(StepKind::Login, title, detail, hint, t));
            }
            _ => None,
        };
        let outcome: Result<Result<String, String>, DialogueError> = async {
            match tg.sign_in {
                SignIn::Ntlm => return ntlm_login(tg.protocol, d, mechs, user, pass).await,
                SignIn::OAuth2 => {
                    let token = token.as_ref().map(crate::Password::expose).unwrap_or(pass);
                    return oauth_login(tg.protocol, d, mechs, (user, token), (&tg.host, tg.port)).await;
                }
                SignIn::Password => {}
            }
            match tg.protocol {
                Protocol::Imap => {
                    if learnt.capabilities.iter().any(|c| c.eq_ignore_ascii_case("LOGINDISABLED")) {
                        return Ok(Err(
                            "The server announces LOGINDISABLED: it refuses passwords on this connection.".to_owned()
                        ));
                    }
                    if mechs.iter().any(|m| m == "PLAIN") {
                        d.send_shown(
                            &format!("l AUTHENTICATE PLAIN {}", crate::sasl::plain(user, pass)),
                            "l AUTHENTICATE PLAIN <redacted>",
                        )
                        .await?;
                    } else {
                        d.send_shown(
                            &format!("l LOGIN {} {}", imap_quote(user), imap_quote(pass)),
                            &format!("l LOGIN {} <redacted>", imap_quote(user)),
                        )
                        .await?;
                    }
                    let lines = read_reply(Protocol::Imap, d, Some("l")).await?;
                    let last = lines.last().cloned().unwrap_or_default();
                    Ok(if last.starts_with("l OK") { Ok(last) } else { Err(last) })
                }
                Protocol::Pop3 => {
                    if mechs.iter().any(|m| m == "PLAIN") {
                        d.send_shown(
                            &format!("AUTH PLAIN {}", crate::sasl::plain(user, pass)),
                            "AUTH PLAIN <redacted>",
                        )
                        .await?;
                    } else {
                        d.send(&format!("USER {user}")).await?;
                        let reply = d.read_line().await?;
                        if !reply.starts_with("+OK") {
                            return Ok(Err(reply));
                        }
                        d.send_shown(&format!("PASS {pass}"), "PASS <redacted>").await?;
                    }
                    let reply = d.read_line().await?;
                    Ok(if reply.starts_with("+OK") { Ok(reply) } else { Err(reply) })
                }
                Protocol::Smtp => {
                    if mechs.iter().any(|m| m == "PLAIN") {
                        d.send_shown(
                            &format!("AUTH PLAIN {}", crate::sasl::plain(user, pass)),
                            "AUTH PLAIN <redacted>",
                        )
                        .await?;
                    } else if mechs.iter().any(|m| m == "LOGIN") {
                        d.send("AUTH LOGIN").await?;
                        for value in [user.as_str(), pass] {
                            let prompt = read_reply(Protocol::Smtp, d, None).await?.pop().unwrap_or_default();
                            if !prompt.starts_with("334") {
                                return Ok(Err(prompt));
                            }
                            d.send_shown(&crate::sasl::login_step(value), "<redacted>").await?;
                        }
                    } else {
                        return Ok(Err(String::new()));
                    }
                    let last = read_reply(Protocol::Smtp, d, None).await?.pop().unwrap_or_default();
                    Ok(if last.starts_with("235") { Ok(last) } else { Err(last) })
                }
            }
        }
        .await;
        match outcome {
            Ok(Ok(reply)) if secured => {
                self.pass(StepKind::Login, title, format!("Signed in as {user}: {reply}"), t);
                Ok(())
            }
            Ok(Ok(reply)) => {
                self.record(
                    StepKind::Login,
                    title,
                    StepStatus::Warning,
                    format!("Signed in as {user}: {reply}"),
                    Some(if tg.sign_in == SignIn::OAuth2 {
                        "The access token crossed the network in clear text: anyone on the path could use it until it expires. Choose SSL/TLS or STARTTLS.".into()
                    } else {
                        "The password crossed the network in clear text. Choose SSL/TLS or STARTTLS if the server offers it.".into()
                    }),
                    t,
                );
                Ok(())
            }
            Ok(Err(reply)) => {
                let (detail, hint) = explain_login_failure(tg, user, &reply, mechs, secured);
                Err(self.fail(StepKind::Login, title, detail, hint, t))
            }
            Err(e) => Err(self.fail(
                StepKind::Login,
                title,
                format!("The server stopped answering during login: {e}."),
                "Try again; if it persists, check the server's logs.",
                t,
            )),
        }
    }
}
