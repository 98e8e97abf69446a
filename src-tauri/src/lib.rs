//! The desktop shell: builder wiring only. Commands live in `commands/`, the work in `mailproof-core`.

pub mod commands;
mod dialogs;
pub mod error;
pub mod state;

use tauri::Manager;

pub fn run() {
    let started = std::time::Instant::now();
    let specta = commands::specta_builder::<tauri::Wry>();
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .invoke_handler(specta.invoke_handler())
        .setup(move |app| {
            let mut state = state::AppState::open(mailproof_core::paths::data_dir(), time::OffsetDateTime::now_utc());
            state.started = started;
            if let Some(notice) = state.startup_notice() {
                eprintln!("mailproof: {notice}");
            }
            app.manage(state);
            Ok(())
        })
        .run(tauri::generate_context!())
        .expect("the Tauri runtime failed to start");
}
