//! The IPC commands through Tauri's mock runtime: real command wiring, real (in-memory) store.

use mailproof_core::secrets::Keyring;
use mailproof_core::Store;
use mailproof_desktop::commands::specta_builder;
use mailproof_desktop::state::AppState;
use serde_json::{json, Value};
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::WebviewWindow;

fn app_with(state: AppState) -> (tauri::App<MockRuntime>, WebviewWindow<MockRuntime>) {
    let app = mock_builder()
        .invoke_handler(specta_builder::<MockRuntime>().invoke_handler())
        .manage(state)
        .build(mock_context(noop_assets()))
        .expect("mock app builds");
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default()).build().expect("window");
    (app, window)
}

fn app() -> (tauri::App<MockRuntime>, WebviewWindow<MockRuntime>) {
    app_with(AppState::for_tests(Store::open_in_memory().unwrap(), Keyring::with_service("mailproof-tests")))
}

fn invoke(window: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    let request = InvokeRequest {
        cmd: cmd.into(),
        callback: tauri::ipc::CallbackFn(0),
        error: tauri::ipc::CallbackFn(1),
        url: "tauri://localhost".parse().unwrap(),
        body: tauri::ipc::InvokeBody::Json(args),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    };
    get_ipc_response(window, request).map(|body| body.deserialize::<Value>().unwrap())
}

#[test]
fn settings_start_at_the_defaults_and_a_theme_round_trips() {
    let (_app, w) = app();
    assert_eq!(invoke(&w, "get_settings", json!({})).unwrap(), json!({ "theme": "system", "trustedCaFile": null }));
    assert_eq!(
        invoke(&w, "set_theme", json!({ "theme": "dark" })).unwrap(),
        json!({ "theme": "dark", "trustedCaFile": null })
    );
    assert_eq!(invoke(&w, "get_settings", json!({})).unwrap(), json!({ "theme": "dark", "trustedCaFile": null }));
}

#[test]
fn a_bad_argument_is_refused_with_a_message() {
    let (_app, w) = app();
    let err = invoke(&w, "set_theme", json!({ "theme": "sepia" })).unwrap_err();
    assert!(err.as_str().unwrap_or_default().contains("sepia"), "{err}");
}

#[test]
fn actors_and_zones_list_the_built_in_ones() {
    let (_app, w) = app();
    let actors = invoke(&w, "list_actors", json!({})).unwrap();
    assert_eq!(actors[0]["name"], "This workstation");
    assert_eq!(actors[0]["zoneName"], "Default");
    assert_eq!(actors[0]["kind"], "workstation");
    let zones = invoke(&w, "list_zones", json!({})).unwrap();
    assert_eq!(zones, json!([{ "id": "default", "name": "Default", "builtIn": true, "actorCount": 1 }]));
}

#[test]
fn an_unusable_database_reaches_the_ui_as_a_storage_error_with_its_reason() {
    // A data "folder" that is a file: the store cannot be opened, yet the app starts and explains.
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, "x").unwrap();
    let (_app, w) = app_with(AppState::open(Some(blocker), time::OffsetDateTime::now_utc()));
    let err = invoke(&w, "get_settings", json!({})).unwrap_err();
    assert_eq!(err["code"], "storage");
    assert!(err["message"].as_str().unwrap().contains("cannot create the data folder"), "{err}");
    let status = invoke(&w, "app_status", json!({})).unwrap();
    assert!(status["startupNotice"].as_str().unwrap().contains("could not open its database"), "{status}");
}

#[test]
fn a_recovered_database_is_announced_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mailproof.db"), "definitely not SQLite".repeat(100)).unwrap();
    let (_app, w) = app_with(AppState::open(Some(dir.path().to_owned()), time::OffsetDateTime::now_utc()));
    let status = invoke(&w, "app_status", json!({})).unwrap();
    let notice = status["startupNotice"].as_str().unwrap();
    assert!(notice.contains("was damaged") && notice.contains("mailproof.db.corrupt-"), "{notice}");
    assert_eq!(invoke(&w, "get_settings", json!({})).unwrap(), json!({ "theme": "system", "trustedCaFile": null }));
}

#[test]
fn a_profile_draft_is_validated_field_by_field_and_nothing_is_listed_yet() {
    let (_app, w) = app();
    assert_eq!(invoke(&w, "list_profiles", json!({})).unwrap(), json!([]));
    let draft = json!({
        "email": "bob", "serverType": "imap", "actorIds": ["this-workstation"], "username": "bob@example.test",
        "password": "pw",
        "incoming": { "host": "127.0.0.1", "port": 143, "security": "tls", "auth": "plain", "pinnedSha256": null },
        "outgoing": { "host": "127.0.0.1", "port": 25, "security": "none", "requiresAuth": true, "auth": "plain", "pinnedSha256": null }
    });
    let findings = invoke(&w, "validate_profile", json!({ "draft": draft, "editing": false })).unwrap();
    let fields: Vec<&str> =
        findings["errors"].as_array().unwrap().iter().map(|i| i["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["email", "incoming.security"]);
    assert_eq!(findings["warnings"][0]["field"], "outgoing.security");

    let err = invoke(&w, "save_profile", json!({ "id": null, "draft": draft })).unwrap_err();
    assert_eq!(err["code"], "invalid");
    assert!(err["message"].as_str().unwrap().contains("Port 143 starts in clear text"), "{err}");
}

#[test]
fn email_rules_are_added_in_order_refused_when_bad_and_deleted() {
    let (_app, w) = app();
    assert_eq!(invoke(&w, "list_email_rules", json!({})).unwrap(), json!([]));
    let rule = |name: &str, pattern: &str| json!({ "rule": { "name": name, "pattern": pattern, "target": "either", "outcome": "error" } });
    let bad = invoke(&w, "add_email_rule", rule("Broken", "mailbox (full")).unwrap_err();
    assert_eq!(bad["code"], "invalid");
    assert!(bad["message"].as_str().unwrap().starts_with("The pattern is not a valid regular expression"), "{bad}");
    invoke(&w, "add_email_rule", rule("Mailbox full", "mailbox (is )?full")).unwrap();
    let both = invoke(&w, "add_email_rule", rule("Quota", "quota exceeded")).unwrap();
    assert_eq!(both[0]["name"], "Mailbox full");
    assert_eq!(both[1]["name"], "Quota");
    let dup = invoke(&w, "add_email_rule", rule("quota", "x")).unwrap_err();
    assert!(dup["message"].as_str().unwrap().contains("already exists"), "{dup}");
    let left = invoke(&w, "delete_email_rule", json!({ "name": "Mailbox full" })).unwrap();
    assert_eq!(left.as_array().unwrap().len(), 1);
}

#[test]
fn the_demo_workspace_is_refused_while_a_job_runs_and_outside_it_there_is_no_demo_job() {
    let (app, w) = app();
    assert_eq!(invoke(&w, "app_status", json!({})).unwrap()["workspace"], "real");
    let err = invoke(&w, "demo_job", json!({})).unwrap_err();
    assert_eq!(err["message"], "The demo job runs in the demo workspace only.");
    {
        use tauri::Manager;
        let state = app.state::<AppState>();
        state.running_jobs().insert("k".into(), mailproof_core::Cancel::default());
    }
    let same = invoke(&w, "leave_demo", json!({})).unwrap();
    assert_eq!(same, Value::Null, "opening the workspace open already is no switch, so not refused");
    use tauri::Manager;
    let refused = app
        .state::<AppState>()
        .switch_to(mailproof_core::paths::Workspace::Demo, time::OffsetDateTime::now_utc())
        .unwrap_err();
    assert_eq!(refused.message, "Cannot switch workspaces while a job is running: let it finish or cancel it first.");
    assert_eq!(invoke(&w, "app_status", json!({})).unwrap()["workspace"], "real");
}
