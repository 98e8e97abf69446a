//! The committed TypeScript bindings must match the Rust commands and types.
//! Regenerate with `UPDATE_BINDINGS=1 cargo test -p mailproof-desktop --test bindings`.

use mailproof_desktop::commands::{render_bindings, BINDINGS_PATH};

#[test]
fn committed_bindings_match_the_rust_types() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(BINDINGS_PATH);
    let fresh = render_bindings();
    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is out of date with the Rust commands. Run `UPDATE_BINDINGS=1 cargo test -p mailproof-desktop --test bindings` and commit the result.",
        path.display()
    );
}
