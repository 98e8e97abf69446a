//! The agent's identity: its own TLS certificate and key, and the pairing code — kept in its OS keyring when the
//! agent runs in a user's session, or in an encrypted systemd credential when it runs as a service
//! (`mailproof agent install`), which systemd decrypts for the service alone at start.

use mailproof_mail::tls::sha256_hex;

use super::AgentError;
use crate::secrets::{Keyring, Secret, SecretKey};

/// What the agent keeps: its certificate and key, and the pairing code.
pub struct AgentIdentity {
    pub(super) certificate: Vec<u8>,
    pub(super) key: Vec<u8>,
    pub(super) code: Secret,
    /// Made just now: its pairing code has not been shown to anyone yet.
    pub new: bool,
    /// Read from a service credential: fixed until the service restarts (there is no keyring to look in).
    pub(super) fixed: bool,
}

/// An identity as a service credential holds it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Credential {
    certificate: String,
    key: String,
    code: String,
}

fn keys() -> [SecretKey; 3] {
    [SecretKey::new("agent/certificate"), SecretKey::new("agent/key"), SecretKey::new("agent/pairing-code")]
}

impl AgentIdentity {
    /// The identity kept in the keyring, or a new one (certificate, key and pairing code) saved there.
    pub fn load_or_create(keyring: &Keyring) -> Result<AgentIdentity, AgentError> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let [cert_key, key_key, code_key] = keys();
        if let (Some(cert), Some(key), Some(code)) =
            (keyring.retrieve(&cert_key)?, keyring.retrieve(&key_key)?, keyring.retrieve(&code_key)?)
        {
            if let (Ok(certificate), Ok(key)) = (b64.decode(cert.expose()), b64.decode(key.expose())) {
                return Ok(AgentIdentity { certificate, key, code, new: false, fixed: false });
            }
        }
        let identity = AgentIdentity::generate()?;
        keyring.persist(&cert_key, &Secret::new(b64.encode(&identity.certificate)))?;
        keyring.persist(&key_key, &Secret::new(b64.encode(&identity.key)))?;
        keyring.persist(&code_key, &identity.code)?;
        Ok(identity)
    }

    /// A new identity: a certificate and key of its own and a pairing code, not kept anywhere yet.
    pub fn generate() -> Result<AgentIdentity, AgentError> {
        let made = rcgen::generate_simple_self_signed(vec!["mailproof-agent".to_owned()])
            .map_err(|e| AgentError::Certificate(e.to_string()))?;
        Ok(AgentIdentity {
            certificate: made.cert.der().to_vec(),
            key: made.key_pair.serialize_der(),
            code: Secret::new(crate::ids::new_code()),
            new: true,
            fixed: false,
        })
    }

    /// The same identity with a new pairing code.
    pub fn with_new_code(self) -> AgentIdentity {
        AgentIdentity { code: Secret::new(crate::ids::new_code()), new: true, ..self }
    }

    /// The identity as a service credential holds it (to be encrypted: it carries the key and the code).
    pub fn to_credential(&self) -> Secret {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let c = Credential {
            certificate: b64.encode(&self.certificate),
            key: b64.encode(&self.key),
            code: self.code.expose().to_owned(),
        };
        Secret::new(serde_json::to_string(&c).expect("serializes"))
    }

    /// An identity read back from a service credential.
    pub fn from_credential(text: &str) -> Result<AgentIdentity, AgentError> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let bad = || AgentError::Certificate("the service credential is not an agent identity".into());
        let c: Credential = serde_json::from_str(text).map_err(|_| bad())?;
        Ok(AgentIdentity {
            certificate: b64.decode(c.certificate).map_err(|_| bad())?,
            key: b64.decode(c.key).map_err(|_| bad())?,
            code: Secret::new(c.code),
            new: false,
            fixed: true,
        })
    }

    /// The certificate's SHA-256, which the workstation pins.
    pub fn fingerprint(&self) -> String {
        sha256_hex(&self.certificate)
    }

    /// The code the workstation pairs with: shown once, when it is made (or rotated), to whoever made it.
    pub fn pairing_code(&self) -> &str {
        self.code.expose()
    }

    /// The pairing code as the keyring holds it now: `mailproof agent rotate-code` changes it under a running
    /// agent, which then takes only the new one. The code in memory stands in when the keyring cannot be read.
    pub fn current_code(&self, keyring: &Keyring) -> Secret {
        if self.fixed {
            return self.code.clone();
        }
        let [_, _, code_key] = keys();
        keyring.retrieve(&code_key).ok().flatten().unwrap_or_else(|| self.code.clone())
    }
}

/// Makes a new pairing code for this machine's agent (creating the agent's identity if there is none) and
/// returns it: the old code stops working at once, so every workstation paired with it must pair again.
pub fn rotate_code(keyring: &Keyring) -> Result<Secret, AgentError> {
    AgentIdentity::load_or_create(keyring)?;
    let code = Secret::new(crate::ids::new_code());
    let [_, _, code_key] = keys();
    keyring.persist(&code_key, &code)?;
    Ok(code)
}
