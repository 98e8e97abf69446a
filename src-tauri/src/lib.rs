//! The desktop shell: builder wiring only. Commands live in `commands/`, the work in `mailproof-core`.

pub mod commands;
mod dialogs;
pub mod error;
pub mod state;

use tauri::Manager;

/// On Linux, WebKitGTK's accelerated compositing only pays off with a GPU; on the VMs and remote desktops many
/// analysts work in, it runs OpenGL in software and costs the CPU a big job needs. Mailproof's UI is forms and
/// tables, so it renders without it unless the user chose otherwise (measured under Xvfb while a 1,000-action
/// job streams its progress: 13 frames a second and 24 frames over 100 ms with it, 77 and none without; see
/// tests/bench/ui-progress.sh). Set WEBKIT_DISABLE_COMPOSITING_MODE=0 to have it back.
fn prefer_plain_rendering() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none() {
        // Called first thing in main, before any other thread exists.
        std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
    }
}

pub fn run() {
    let started = std::time::Instant::now();
    prefer_plain_rendering();
    let specta = commands::specta_builder::<tauri::Wry>();
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .invoke_handler(specta.invoke_handler())
        .setup(move |app| {
            let mut state = state::AppState::open(mailproof_core::paths::data_dir(), time::OffsetDateTime::now_utc());
            state.started = started;
            if let Some(notice) = state.startup_notice() {
                eprintln!("mailproof: {notice}");
            }
            app.manage(state);
            tauri::async_runtime::spawn(commands::actions::adopt_interrupted_jobs(app.handle().clone()));
            Ok(())
        })
        .run(tauri::generate_context!())
        .expect("the Tauri runtime failed to start");
}
