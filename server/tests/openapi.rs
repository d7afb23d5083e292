//! `server/openapi.json` is the generated document, committed for city backend teams
//! to read and diff: it must be exactly what the server serves.
//!
//! After changing a route's attribute or a wire type, regenerate it with
//! `TAIPEI_WRITE_OPENAPI=1 cargo test -p taipei-server --test openapi`.

use std::path::Path;

#[test]
fn the_committed_document_is_the_generated_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let generated = taipei_server::openapi::document();
    if std::env::var_os("TAIPEI_WRITE_OPENAPI").is_some() {
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "server/openapi.json is stale: run `TAIPEI_WRITE_OPENAPI=1 cargo test -p taipei-server --test openapi` and commit it"
    );
}

#[test]
fn the_generated_document_is_openapi_3_1_with_every_operation_described() {
    let doc: serde_json::Value = serde_json::from_str(taipei_server::openapi::document()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["operationId"].is_string(), "{method} {path}: no operationId");
            assert!(op["summary"].is_string(), "{method} {path}: no summary");
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.keys().any(|s| s.starts_with('2')), "{method} {path}: no success reply");
        }
    }
    // Every reference points at something the document holds.
    let text = doc.to_string();
    for (at, _) in text.match_indices("\"$ref\":\"#/components/") {
        let rest = &text[at + "\"$ref\":\"#/components/".len()..];
        let target = &rest[..rest.find('"').unwrap()];
        let (kind, name) = target.split_once('/').unwrap();
        assert!(doc["components"][kind].get(name).is_some(), "dangling reference {target}");
    }
}
