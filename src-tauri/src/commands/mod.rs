//! IPC commands, one file per feature. Each is a few lines: unpack, call `mailproof-core`, map the error.

pub mod actions;
pub mod app;
pub mod demo;
pub mod directory;
pub mod profiles;
pub mod rules;
pub mod settings;
pub mod tracking;
pub mod verification;

use tauri::Runtime;

/// Every command the UI may call; also the source of the generated TypeScript bindings.
pub fn specta_builder<R: Runtime>() -> tauri_specta::Builder<R> {
    tauri_specta::Builder::<R>::new().commands(tauri_specta::collect_commands![
        app::app_status,
        settings::get_settings,
        settings::set_theme,
        directory::list_actors,
        directory::list_zones,
        directory::create_zone,
        directory::delete_zone,
        directory::create_actor,
        directory::delete_actor,
        directory::pair_actor_agent,
        directory::check_actor_agent,
        app::check_keyring,
        app::ui_ready,
        profiles::list_profiles,
        profiles::get_profile,
        profiles::validate_profile,
        profiles::save_profile,
        profiles::delete_profile,
        profiles::set_alerts_mailbox,
        profiles::test_connection,
        profiles::authorize_profile,
        profiles::cancel_authorization,
        profiles::discover_settings,
        settings::set_trusted_ca,
        verification::get_email_settings,
        verification::validate_email_sender,
        verification::save_email_sender,
        verification::save_email_timing,
        verification::verify_profile,
        verification::cancel_verification,
        verification::verification_uuid,
        verification::test_email_sender,
        actions::list_actions,
        actions::get_action_timing,
        actions::save_action_timing,
        actions::run_job::<tauri::Wry>,
        actions::cancel_job,
        actions::list_jobs,
        actions::get_job,
        actions::job_runs,
        actions::job_rerun,
        actions::export_job::<tauri::Wry>,
        actions::save_job_evidence::<tauri::Wry>,
        rules::list_email_rules,
        rules::add_email_rule,
        rules::delete_email_rule,
        tracking::track_query,
        tracking::track_history,
        tracking::track_export::<tauri::Wry>,
        demo::demo_status,
        demo::open_demo,
        demo::demo_job,
        demo::leave_demo,
        demo::stop_demo_gateway,
    ])
}

/// Where the generated bindings live, relative to this crate.
pub const BINDINGS_PATH: &str = "../ui/src/lib/ipc/bindings.ts";

/// The TypeScript bindings for the commands and their types, as they are generated from the Rust code.
pub fn render_bindings() -> String {
    let dir = std::env::temp_dir().join(format!("mailproof-bindings-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bindings.ts");
    specta_builder::<tauri::Wry>()
        .export(
            specta_typescript::Typescript::default()
                .header("// Generated from the Rust commands by `UPDATE_BINDINGS=1 cargo test -p mailproof-desktop --test bindings`. Do not edit.\n// @ts-nocheck"),
            &file,
        )
        .expect("bindings export");
    let text = std::fs::read_to_string(&file).expect("read bindings");
    let _ = std::fs::remove_dir_all(&dir);
    text
}
