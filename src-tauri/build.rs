fn main() {
    // Declaring the app's commands makes Tauri generate an allow-<command> permission for each, and
    // refuse any command a capability (capabilities/*.json) does not grant.
    let manifest = tauri_build::AppManifest::new().commands(&[
        "app_status",
        "get_settings",
        "set_theme",
        "list_actors",
        "list_zones",
        "check_keyring",
        "ui_ready",
        "list_profiles",
        "get_profile",
        "validate_profile",
        "save_profile",
        "delete_profile",
        "test_connection",
        "discover_settings",
        "create_zone",
        "delete_zone",
        "create_actor",
        "delete_actor",
        "set_trusted_ca",
        "get_email_settings",
        "validate_email_sender",
        "save_email_sender",
        "save_email_timing",
        "verify_profile",
        "cancel_verification",
        "verification_uuid",
        "test_email_sender",
        "list_actions",
        "run_job",
        "cancel_job",
        "list_jobs",
        "get_job",
    ]);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest)).expect("tauri build script failed");
}
