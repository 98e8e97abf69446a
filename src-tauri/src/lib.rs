//! The desktop shell: builder wiring only. Commands live in `commands/`, the work in `mailproof-core`.

pub mod commands;
pub mod error;
pub mod state;

use tauri::Manager;

pub fn run() {
    let specta = commands::specta_builder::<tauri::Wry>();
    tauri::Builder::default()
        .invoke_handler(specta.invoke_handler())
        .setup(|app| {
            let state = state::AppState::open(mailproof_core::paths::data_dir(), time::OffsetDateTime::now_utc());
            if let Some(notice) = state.startup_notice() {
                eprintln!("mailproof: {notice}");
            }
            app.manage(state);
            Ok(())
        })
        .run(tauri::generate_context!())
        .expect("the Tauri runtime failed to start");
}
