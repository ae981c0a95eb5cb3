//! The checked-in `openapi.json` is the document the server generates and serves, and every
//! operation it lists is a route the server answers.

mod common;

use common::*;

fn generated() -> String {
    rollguard_server::openapi().to_pretty_json().unwrap() + "\n"
}

fn checked_in_path() -> std::path::PathBuf {
    manifest_dir().join("../../openapi.json")
}

#[test]
fn the_checked_in_document_is_current() {
    let path = checked_in_path();
    if std::env::var_os("ROLLGUARD_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, generated()).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated(),
        "openapi.json is out of date; regenerate it with `ROLLGUARD_UPDATE_OPENAPI=1 cargo test -p rollguard-server --test openapi`"
    );
}

#[test]
fn every_documented_operation_is_routed_and_served_at_openapi_json() {
    let s = start(test_config(), accounts_config());
    let served = s.get("/openapi.json", &[]);
    assert_eq!(served.status, 200);
    let doc: serde_json::Value = serde_json::from_str(&generated()).unwrap();
    assert_eq!(served.body, doc);
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 10);
    for (path, ops) in paths {
        let concrete = path
            .replace("{authority}", "E1")
            .replace("{id}", "1")
            .replace("{name}", "x")
            .replace("{index}", "0");
        for method in ops.as_object().unwrap().keys() {
            let r = match method.as_str() {
                "get" => s.get(&concrete, &[]),
                "post" | "patch" => {
                    s.send(&method.to_uppercase(), &concrete, &[], Some(serde_json::json!({})))
                }
                "delete" => s.send("DELETE", &concrete, &[], None),
                other => panic!("untested method {other}"),
            };
            assert_ne!(r.body["type"], "https://rollguard.invalid/problems/no-route", "{method} {path}");
            assert_ne!(r.status, 405, "{method} {path}");
        }
    }
    // And an undocumented path is not routed.
    assert_eq!(
        s.get("/api/v1/admin/secret", &[]).body["type"],
        "https://rollguard.invalid/problems/no-route"
    );
}

/// The crate's directory, read when the test runs (cargo sets it) rather than when it was
/// compiled, so a build shared between checkouts never points at another one.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}

#[test]
fn every_operation_id_is_unique() {
    // A generated client names its methods by operationId; two alike make one unreachable
    // (and send a stateful tester's links to the wrong operation).
    let doc: serde_json::Value = serde_json::from_str(&generated()).unwrap();
    let mut ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let all = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all, "duplicate operationIds among {ids:?}");
}
