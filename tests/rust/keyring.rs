//! The keyring wrapper against a real Secret Service (gnome-keyring in a private D-Bus session, started by
//! tests/tools/test-all.sh). Entries use a test-only service name and are deleted afterwards.

use std::process::Command;

use mailproof_core::secrets::{Keyring, Secret, SecretKey};

const SERVICE: &str = "dev.mailproof.desktop.tests";

fn real_keyring() -> Option<Keyring> {
    mailproof_tests::real_keyring(SERVICE)
}

/// What `secret-tool` (libsecret, not our code) finds in the Secret Service for our entry.
fn secret_tool_lookup(key: &SecretKey) -> Option<String> {
    let out = Command::new("secret-tool")
        .args(["lookup", "service", SERVICE, "username", key.as_str()])
        .output()
        .expect("secret-tool (libsecret-tools) is installed");
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_secret_round_trips_through_the_real_secret_service() {
    let Some(keyring) = real_keyring() else { return };
    let key = SecretKey::new(format!("profile/{}/password", uuid::Uuid::new_v4()));
    assert_eq!(keyring.retrieve(&key).unwrap(), None, "a missing entry is None, not an error");

    keyring.persist(&key, &Secret::new("first password")).unwrap();
    assert_eq!(keyring.retrieve(&key).unwrap(), Some(Secret::new("first password")));
    assert_eq!(secret_tool_lookup(&key).as_deref(), Some("first password"), "stored in the real Secret Service");

    keyring.persist(&key, &Secret::new("second password")).unwrap();
    assert_eq!(keyring.retrieve(&key).unwrap(), Some(Secret::new("second password")), "persist replaces");

    keyring.delete(&key).unwrap();
    assert_eq!(keyring.retrieve(&key).unwrap(), None);
    assert_eq!(secret_tool_lookup(&key), None);
    keyring.delete(&key).expect("deleting twice is fine");
}
