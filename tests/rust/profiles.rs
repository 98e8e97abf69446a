//! Profiles on real parts: saved with the password in a real Secret Service and nowhere else, tested against
//! the real lab with the stored password, edited, deleted with their keyring entry.

use mailproof_core::profiles::{
    delete_profile, profile_password, save_profile, test_connection, Credentials, ProfileDraft, ProfileError,
    ServerType, Side, STEP_TIMEOUT,
};
use mailproof_core::secrets::{Secret, SecretKey};
use mailproof_core::Store;
use mailproof_tests::{real_keyring, Lab};

const SERVICE: &str = "dev.mailproof.desktop.tests.profiles";

fn bob(lab: &Lab, password: &str) -> ProfileDraft {
    ProfileDraft {
        password: Some(Secret::new(password)),
        ..lab.profile_draft("bob", ServerType::Imap, lab.port("LAB_IMAPS_PORT"))
    }
}

#[tokio::test]
async fn a_profile_keeps_its_password_in_the_keyring_only_and_tests_green_on_the_lab() {
    let Some(lab) = Lab::running() else { return };
    let Some(keyring) = real_keyring(SERVICE) else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mailproof.db");
    let (store, _) = Store::open(&db, time::OffsetDateTime::now_utc()).unwrap();
    let password = lab.password("bob");

    let saved = save_profile(&store, &keyring, None, bob(&lab, &password), time::OffsetDateTime::now_utc()).unwrap();
    assert_eq!(saved.actors.len(), 1);
    let stored = profile_password(&store, &keyring, &saved.id).unwrap();
    assert_eq!(stored.expose(), password);

    // The stored password opens both servers.
    let mut draft = bob(&lab, "");
    draft.password = None;
    let mut events = Vec::new();
    let report = test_connection(&draft, &Credentials::password(stored.clone()), Some(lab.ca()), STEP_TIMEOUT, |e| {
        events.push(e)
    })
    .await;
    assert!(report.ok, "{report:#?}");
    assert!(events.iter().any(|e| e.side == Side::Incoming) && events.iter().any(|e| e.side == Side::Outgoing));
    assert_eq!(events.len(), report.incoming.steps.len() + report.outgoing.steps.len());

    // Editing without a password keeps the stored one; a second profile for the same address is refused.
    let edited = save_profile(&store, &keyring, Some(&saved.id), draft.clone(), time::OffsetDateTime::now_utc());
    assert!(edited.is_ok(), "{edited:?}");
    assert_eq!(profile_password(&store, &keyring, &saved.id).unwrap().expose(), password);
    let dup = save_profile(&store, &keyring, None, bob(&lab, "x"), time::OffsetDateTime::now_utc()).unwrap_err();
    assert!(matches!(dup, ProfileError::Duplicate { .. }), "{dup}");

    // The password is nowhere in the database files (main file and WAL), nor in what the profile serialises to.
    drop(store);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(password.len()).any(|w| w == password.as_bytes()), "password found in a database file");
    }
    let (store, _) = Store::open(&db, time::OffsetDateTime::now_utc()).unwrap();
    let json = serde_json::to_string(&store.list_profiles().unwrap()).unwrap();
    assert!(!json.contains(&password));

    // Deleting removes the keyring entry too.
    let key = SecretKey::new(format!("profile/{}/password", saved.id));
    delete_profile(&store, &keyring, &saved.id).unwrap();
    assert!(store.list_profiles().unwrap().is_empty());
    assert_eq!(keyring.retrieve(&key).unwrap(), None);
}
