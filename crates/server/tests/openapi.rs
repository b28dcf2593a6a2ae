//! The OpenAPI document is the contract the web UI is built against (its TypeScript types are
//! generated from `docs/openapi.json`): any change to it shows in review as a change to that
//! file. After an intended change, write the new document with
//! `UPDATE_OPENAPI=1 cargo test -p histoscore-server --test openapi`.

use std::path::PathBuf;

#[test]
fn the_committed_openapi_document_is_the_served_one() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let served = serde_json::to_string_pretty(&histoscore_server::openapi()).unwrap() + "\n";
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &served).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == served,
        "docs/openapi.json differs from the API the server serves; if the change is intended, \
         run `UPDATE_OPENAPI=1 cargo test -p histoscore-server --test openapi` and commit the file"
    );
}

#[test]
fn every_documented_route_is_described_and_only_the_login_routes_are_open() {
    use histoscore_server::auth::{access, Access};
    let doc = histoscore_server::openapi();
    assert!(
        doc.paths.paths.len() > 35,
        "{} paths",
        doc.paths.paths.len()
    );
    let mut open = Vec::new();
    for (path, item) in &doc.paths.paths {
        for (method, op) in [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ] {
            let Some(op) = op else { continue };
            assert!(
                op.description.as_deref().is_some_and(|d| !d.is_empty())
                    || op.summary.as_deref().is_some_and(|d| !d.is_empty()),
                "{method} {path} has no description"
            );
            match access(&method.parse().unwrap(), path) {
                Access::Public | Access::LoggedIn => open.push(format!("{method} {path}")),
                Access::Role(_) => {}
            }
        }
    }
    open.sort();
    let mut ids: Vec<_> = doc
        .paths
        .paths
        .values()
        .flat_map(|i| [&i.get, &i.post, &i.put, &i.patch, &i.delete])
        .flatten()
        .map(|op| op.operation_id.clone().unwrap_or_default())
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "operation ids are unique");
    assert_eq!(
        open,
        [
            "DELETE /api/account/tokens/{id}",
            "GET /api/account/tokens",
            "GET /api/session",
            "GET /health",
            "GET /healthz",
            "GET /readyz",
            "POST /api/account/password",
            "POST /api/account/tokens",
            "POST /api/login",
            "POST /api/logout",
        ]
    );
}
