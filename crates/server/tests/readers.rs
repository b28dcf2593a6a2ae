//! Accounts, roles, CSRF, blinded reader studies and agreement over real HTTP, on SQLite and
//! PostgreSQL.

mod common;
#[path = "../../store/tests/harness/mod.rs"]
#[allow(dead_code)]
mod harness;

use common::{fixtures, TestApp};
use harness::TestDb;
use histoscore_app::passwords::hash_password;
use histoscore_store::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;

on_both_backends!(
    every_route_answers_bad_requests_in_the_envelope,
    route_inventory_every_route_is_public_or_guarded,
    login_logout_rate_limit_and_csrf,
    user_management_keeps_an_admin,
    forwarded_headers_count_only_from_trusted_proxies,
    blinded_study_end_to_end,
    audit_log_has_no_update_or_delete_path,
    blinded_reader_learns_nothing_from_any_route,
    blinded_reader_cannot_change_the_official_score,
);

const PASSWORD: &str = "correct horse battery";

/// A logged-in client: the session cookie and the CSRF token.
struct As {
    cookie: String,
    csrf: String,
}

async fn add_user(app: &TestApp, name: &str, role: Role) {
    let hash = hash_password(PASSWORD).unwrap();
    app.store.create_user(name, role, &hash).await.unwrap();
}

async fn login(app: &TestApp, name: &str) -> As {
    login_with(app, name, PASSWORD, "127.0.0.1").await
}

/// Logs in from a given local address.
async fn login_with(app: &TestApp, name: &str, password: &str, from: &str) -> As {
    let client = reqwest::Client::builder()
        .local_address(from.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let r = client
        .post(app.url("/api/login"))
        .json(&json!({"name": name, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "login of {name}");
    let set_cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["name"], name);
    As {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().to_string(),
    }
}

impl As {
    fn req(&self, app: &TestApp, method: Method, path: &str) -> reqwest::RequestBuilder {
        app.client
            .request(method, app.url(path))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
    }

    async fn json(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self.req(app, method, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, app: &TestApp, path: &str) -> Value {
        let (s, v) = self.json(app, Method::GET, path, None).await;
        assert_eq!(s, StatusCode::OK, "GET {path}: {v}");
        v
    }

    async fn upload(&self, app: &TestApp, name: &str) -> Value {
        let bytes = std::fs::read(fixtures().join("images").join(name)).unwrap();
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
        );
        let r = self
            .req(app, Method::POST, "/api/images")
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }

    async fn wait_scored(&self, app: &TestApp, id: i64) -> Value {
        for _ in 0..600 {
            let rec = self.get(app, &format!("/api/images/{id}")).await;
            if rec["status"] == "scored" {
                return rec;
            }
            assert_ne!(rec["status"], "failed", "{rec}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("image {id} was not scored");
    }
}

/// Every route of the API description, with its parameters filled in.
fn inventory() -> Vec<(Method, String, String)> {
    let doc = histoscore_server::openapi();
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let concrete = path
            .replace("{id}", "1")
            .replace("{image_id}", "1")
            .replace("{db_id}", "1")
            .replace("{name}", "nobody")
            .replace("{level}", "0")
            .replace("{tile}", "0_0.jpg");
        let ops = [
            (Method::GET, item.get.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::PUT, item.put.is_some()),
            (Method::PATCH, item.patch.is_some()),
            (Method::DELETE, item.delete.is_some()),
            (Method::HEAD, item.head.is_some()),
            (Method::OPTIONS, item.options.is_some()),
        ];
        for (m, present) in ops {
            if present {
                out.push((m, path.clone(), concrete.clone()));
            }
        }
    }
    out.push((Method::GET, "/metrics".into(), "/metrics".into()));
    out.push((
        Method::GET,
        "/api/openapi.json".into(),
        "/api/openapi.json".into(),
    ));
    out.push((Method::GET, "/docs".into(), "/docs/".into()));
    out
}

/// An answer of 4xx/5xx must be `{error, detail, field?}` JSON, whatever went wrong.
fn assert_envelope(what: &str, status: StatusCode, text: &str) -> Value {
    assert!(
        status.as_u16() >= 400,
        "{what}: expected an error, got {status}: {text}"
    );
    let v: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{what}: {status} answered something not JSON ({e}): {text:?}"));
    let code = v["error"].as_str().unwrap_or_default();
    assert!(
        !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "{what}: no error code: {v}"
    );
    assert!(
        v["detail"].as_str().is_some_and(|d| d.len() > 10),
        "{what}: no detail: {v}"
    );
    assert!(
        v["field"].is_null() || v["field"].is_string(),
        "{what}: {v}"
    );
    v
}

/// Every route of the inventory, sent a malformed body, a bad path parameter and a bad query,
/// answers in the one error envelope with the right status.
async fn every_route_answers_bad_requests_in_the_envelope(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::configured(db.store, dir.path(), Default::default(), 1, |s| {
        s.original_api = true
    })
    .await;
    add_user(&app, "ada", Role::Admin).await;
    let ada = login(&app, "ada").await;
    let doc = histoscore_server::openapi();
    let send = |req: reqwest::RequestBuilder| async move {
        let r = req.send().await.unwrap();
        let status = r.status();
        (status, r.text().await.unwrap())
    };
    let mut bodies = 0;
    let mut paths = 0;
    let mut queries = 0;
    for (method, template, concrete) in inventory() {
        if [
            "/api/events",
            "/metrics",
            "/api/openapi.json",
            "/docs",
            "/api/logout",
        ]
        .contains(&template.as_str())
        {
            continue;
        }
        // An answer to HEAD has no body to hold an envelope (tus asks offsets with it).
        if method == Method::HEAD {
            continue;
        }
        let item = &doc.paths.paths[&template];
        let op = match method {
            Method::GET => item.get.as_ref(),
            Method::POST => item.post.as_ref(),
            Method::PUT => item.put.as_ref(),
            Method::PATCH => item.patch.as_ref(),
            Method::OPTIONS => item.options.as_ref(),
            _ => item.delete.as_ref(),
        }
        .unwrap();
        let what = format!("{method} {template}");
        // A malformed body, declared as JSON.
        if let Some(body) = &op.request_body {
            let multipart = body.content.keys().any(|k| k.starts_with("multipart/"));
            // A tus request without its protocol version is refused before its body is read.
            let tus = body
                .content
                .keys()
                .any(|k| k == "application/offset+octet-stream");
            let (st, text) = send(
                ada.req(&app, method.clone(), &concrete)
                    .header("content-type", "application/json")
                    .header("if-match", "\"1\"")
                    .body("{\"scores\": "),
            )
            .await;
            let v = assert_envelope(&what, st, &text);
            let expected = if multipart {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            } else if tus {
                StatusCode::PRECONDITION_FAILED
            } else {
                StatusCode::BAD_REQUEST
            };
            // A route that first checks the caller's right to the thing may answer 404.
            if st != StatusCode::NOT_FOUND {
                assert_eq!(st, expected, "{what}: {v}");
            }
            bodies += 1;
        }
        // Every path parameter, one at a time, set to something no route takes.
        for p in op.parameters.iter().flatten() {
            use utoipa::openapi::path::ParameterIn;
            let name = &p.name;
            match p.parameter_in {
                ParameterIn::Path => {
                    let bad = template
                        .replace(&format!("{{{name}}}"), "not%20a%20number")
                        .replace("{id}", "1")
                        .replace("{image_id}", "1")
                        .replace("{db_id}", "1")
                        .replace("{name}", "nobody")
                        .replace("{level}", "0")
                        .replace("{tile}", "0_0.jpg");
                    let (st, text) =
                        send(ada.req(&app, method.clone(), &bad).json(&json!({}))).await;
                    let v = assert_envelope(&format!("{what} ({name})"), st, &text);
                    if st == StatusCode::BAD_REQUEST {
                        assert_eq!(v["error"], "invalid_path", "{what}: {v}");
                        assert_eq!(v["field"], name.as_str(), "{what}: {v}");
                        paths += 1;
                    } else {
                        // Text parameters (user names, model ids, tile names) are looked up.
                        assert_eq!(st, StatusCode::NOT_FOUND, "{what} ({name}): {v}");
                    }
                }
                ParameterIn::Query => {
                    let url = format!("{concrete}?{name}=not%20a%20value%ZZ");
                    let (st, text) = send(ada.req(&app, method.clone(), &url)).await;
                    if st.as_u16() >= 400 {
                        let v = assert_envelope(&format!("{what} (?{name})"), st, &text);
                        if st == StatusCode::BAD_REQUEST && v["error"] == "invalid_query" {
                            assert_eq!(v["field"], name.as_str(), "{what}: {v}");
                            queries += 1;
                        }
                    }
                }
                _ => {}
            }
        }
    }
    assert!(bodies >= 15, "{bodies} routes with a body were checked");
    assert!(paths >= 15, "{paths} integer path parameters were refused");
    assert!(queries >= 5, "{queries} query parameters were refused");
    // No such route, a method the route does not take, a body that is not JSON.
    let (st, text) = send(ada.req(&app, Method::GET, "/api/no-such-thing")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_envelope("unknown route", st, &text);
    let (st, text) = send(ada.req(&app, Method::PUT, "/api/images")).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    assert_envelope("wrong method", st, &text);
    let (st, text) = send(
        ada.req(&app, Method::POST, "/api/studies")
            .header("content-type", "text/plain")
            .body("name=x"),
    )
    .await;
    assert_eq!(st, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_envelope("text body", st, &text);
    let (st, text) = send(
        ada.req(&app, Method::POST, "/api/studies")
            .json(&json!({"name": 7})),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(assert_envelope("wrong type", st, &text)["field"], "name");
    let (st, text) = send(ada.req(&app, Method::GET, "/api/images?limit=many")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(assert_envelope("bad limit", st, &text)["field"], "limit");
}

async fn route_inventory_every_route_is_public_or_guarded(db: TestDb) {
    use histoscore_server::auth::{access, Access};
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    add_user(&app, "ada", Role::Admin).await;
    add_user(&app, "pat", Role::Pathologist).await;
    add_user(&app, "vic", Role::Viewer).await;
    let sessions = [
        (Role::Viewer, login(&app, "vic").await),
        (Role::Pathologist, login(&app, "pat").await),
    ];
    let routes = inventory();
    assert!(
        routes.len() > 30,
        "the inventory lists {} routes",
        routes.len()
    );
    let mut public = Vec::new();
    for (method, template, path) in &routes {
        let rule = access(method, template);
        // No session.
        let r = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        match rule {
            Access::Public => {
                assert!(
                    r.status() != StatusCode::UNAUTHORIZED && r.status() != StatusCode::FORBIDDEN,
                    "{method} {template} is public but answered {}",
                    r.status()
                );
                public.push(format!("{method} {template}"));
            }
            _ => assert_eq!(
                r.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {template} without a session"
            ),
        }
        // Each role that may not use it gets 403.
        if let Access::Role(needed) = rule {
            for (role, who) in &sessions {
                let r = who.req(&app, method.clone(), path).send().await.unwrap();
                if role.at_least(needed) {
                    assert!(
                        r.status() != StatusCode::UNAUTHORIZED
                            && r.status() != StatusCode::FORBIDDEN
                            || template.contains("/read")
                            || template.starts_with("/api/studies/{id}"),
                        "{method} {template} as {role}: {}",
                        r.status()
                    );
                } else {
                    assert_eq!(
                        r.status(),
                        StatusCode::FORBIDDEN,
                        "{method} {template} as {role} (needs {needed})"
                    );
                }
            }
        }
    }
    public.sort();
    assert_eq!(
        public,
        [
            "GET /api/openapi.json",
            "GET /api/session",
            "GET /docs",
            "GET /health",
            "GET /healthz",
            "GET /metrics",
            "GET /readyz",
            "POST /api/login",
        ]
    );
    // Static assets of the web UI need no session (the login page must load).
    let r = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.stop().await;
}

async fn login_logout_rate_limit_and_csrf(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    // Single-user mode: no login, the local user; a foreign page may still not change data.
    let s: Value = app.get_json("/api/session").await;
    assert_eq!(s["mode"], "single-user");
    assert_eq!(s["user"]["name"], "local");
    let r = app
        .client
        .post(app.url("/api/images/1/restore"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    add_user(&app, "ada", Role::Admin).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // the mode cache
    let s: Value = app.get_json("/api/session").await;
    assert_eq!(s["mode"], "accounts");
    assert_eq!(s["user"], Value::Null);
    assert_eq!(
        app.client
            .get(app.url("/api/images"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // Wrong password, then right.
    let r = app
        .client
        .post(app.url("/api/login"))
        .json(&json!({"name": "ada", "password": "wrong password!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let ada = login(&app, "ada").await;
    let me = ada.get(&app, "/api/session").await;
    assert_eq!(me["user"], json!({"name": "ada", "role": "admin"}));
    assert_eq!(me["csrf_token"], ada.csrf.as_str());

    // CSRF: the same session without the token, or with another, is refused and changes nothing.
    let before = ada.get(&app, "/api/users").await;
    for token in [None, Some("forged")] {
        let mut r = app
            .client
            .post(app.url("/api/users"))
            .header("cookie", &ada.cookie)
            .json(&json!({"name": "eve", "role": "admin", "password": PASSWORD}));
        if let Some(t) = token {
            r = r.header("x-csrf-token", t);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["reason"], "csrf");
    }
    assert_eq!(ada.get(&app, "/api/users").await, before);

    // Password change: the old one stops working, the session is renewed.
    let (st, v) = ada
        .json(
            &app,
            Method::POST,
            "/api/account/password",
            Some(json!({"current": PASSWORD, "new": "short"})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (st, _) = ada
        .json(
            &app,
            Method::POST,
            "/api/account/password",
            Some(json!({"current": "nope nope nope", "new": "a new password 1"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let r = ada
        .req(&app, Method::POST, "/api/account/password")
        .json(&json!({"current": PASSWORD, "new": "a new password 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        ada.req(&app, Method::GET, "/api/users")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED,
        "the old session ended"
    );
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let renewed: Value = r.json().await.unwrap();
    let ada = As {
        cookie: set_cookie.split(';').next().unwrap().to_string(),
        csrf: renewed["csrf_token"].as_str().unwrap().to_string(),
    };
    ada.get(&app, "/api/users").await;

    // Logout ends the session.
    let (st, _) = ada.json(&app, Method::POST, "/api/logout", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        ada.req(&app, Method::GET, "/api/users")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // Found by `histoscore soak`: logins sent at once from one address (a lab behind one
    // router) were told to wait although none had failed.
    let together = futures_util::future::join_all((0..2).map(|_| {
        app.client
            .post(app.url("/api/login"))
            .json(&json!({"name": "ada", "password": "a new password 1"}))
            .send()
    }))
    .await;
    for r in together {
        assert_eq!(r.unwrap().status(), StatusCode::OK);
    }
    // Failed logins: after 3 for a name from one address each further attempt waits (1 s,
    // then doubling), with the real remaining time in Retry-After; nobody is locked out.
    let attempt = |client: reqwest::Client, password: &'static str| {
        let url = app.url("/api/login");
        async move {
            client
                .post(url)
                .json(&json!({"name": "ada", "password": password}))
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..3 {
        let r = attempt(app.client.clone(), "guess guess guess").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = attempt(app.client.clone(), "a new password 1").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let secs: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(secs, 1, "the first wait is one second");
    // The account's owner on another computer is not locked out by the guesses.
    let elsewhere = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let r = attempt(elsewhere, "a new password 1").await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "another address logs in at once"
    );
    // After the wait, the right password works here too.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = attempt(app.client.clone(), "a new password 1").await;
    assert_eq!(r.status(), StatusCode::OK, "the wait is over");
    // Guesses sent all at once are counted together: only the first few are checked.
    let (ok, throttled) = {
        let all = futures_util::future::join_all(
            (0..30).map(|_| attempt(app.client.clone(), "guess guess guess")),
        )
        .await;
        let n = |st| all.iter().filter(|r| r.status() == st).count();
        (
            n(StatusCode::UNAUTHORIZED),
            n(StatusCode::TOO_MANY_REQUESTS),
        )
    };
    assert!(ok <= 4, "{ok} of 30 parallel guesses were checked");
    assert_eq!(ok + throttled, 30);
    // An administrator (or `histoscore user unlock`) lifts the wait.
    let mut waits = false;
    for _ in 0..4 {
        let r = attempt(app.client.clone(), "guess guess guess").await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            waits = true;
            break;
        }
    }
    assert!(waits, "three failures put a wait on the name");
    let r = attempt(app.client.clone(), "a new password 1").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let admin = login_with(&app, "ada", "a new password 1", "127.0.0.3").await;
    let (st, _) = admin
        .json(&app, Method::POST, "/api/users/ada/unlock", None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let r = attempt(app.client.clone(), "a new password 1").await;
    assert_eq!(r.status(), StatusCode::OK, "unlocked");
    app.stop().await;
}

async fn user_management_keeps_an_admin(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    add_user(&app, "ada", Role::Admin).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let ada = login(&app, "ada").await;
    let (st, v) = ada
        .json(
            &app,
            Method::POST,
            "/api/users",
            Some(json!({"name": "bob", "role": "pathologist", "password": PASSWORD})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["role"], "pathologist");
    assert!(v.get("password_hash").is_none());
    let (st, _) = ada
        .json(
            &app,
            Method::POST,
            "/api/users",
            Some(json!({"name": "bob", "role": "viewer", "password": PASSWORD})),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "names are unique");
    let (st, v) = ada
        .json(
            &app,
            Method::PATCH,
            "/api/users/ada",
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "the last admin stays: {v}");
    assert!(v["detail"].as_str().unwrap().contains("last administrator"));
    let bob = login(&app, "bob").await;
    bob.get(&app, "/api/images").await;
    let (st, v) = ada
        .json(
            &app,
            Method::PATCH,
            "/api/users/bob",
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        bob.req(&app, Method::GET, "/api/images")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED,
        "a disabled account's sessions end"
    );
    let users = ada.get(&app, "/api/users").await;
    assert_eq!(users.as_array().unwrap().len(), 2);
    app.stop().await;
}

fn scores(v: f64) -> Value {
    json!({"Pancreatic Architecture": v, "Glandular Atrophy": v, "Pseudotubular Complexes": v, "Fibrosis": v})
}

async fn blinded_study_end_to_end(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    add_user(&app, "ada", Role::Admin).await;
    add_user(&app, "r1", Role::Pathologist).await;
    add_user(&app, "r2", Role::Pathologist).await;
    add_user(&app, "vic", Role::Viewer).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let ada = login(&app, "ada").await;
    let r1 = login(&app, "r1").await;
    let r2 = login(&app, "r2").await;
    let vic = login(&app, "vic").await;

    let names = [
        "S-3602-10X_Image001_ch00.tif",
        "S-3602-10X_Image002_ch00.tif",
        "S-4500-10x_Image123_RAW_ch00.tif",
    ];
    let mut ids = Vec::new();
    for n in names {
        let rec = ada.upload(&app, n).await;
        assert_eq!(rec["updated_by"], "ada", "uploads are attributed");
        ids.push(rec["id"].as_i64().unwrap());
    }
    let mut ai = Vec::new();
    for id in &ids {
        let rec = ada.wait_scored(&app, *id).await;
        ai.push(rec["draft"]["rounded"].clone());
    }

    // Only admins create studies; readers must be able to score.
    let body = json!({"name": "Fibrosis inter-observer", "blinded": true, "require_reason": true,
                      "readers": ["r1", "r2"], "image_ids": ids});
    let (st, _) = r1
        .json(&app, Method::POST, "/api/studies", Some(body.clone()))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, v) = ada
        .json(
            &app,
            Method::POST,
            "/api/studies",
            Some(json!({"name": "x", "readers": ["vic"]})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (st, study) = ada
        .json(&app, Method::POST, "/api/studies", Some(body))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{study}");
    let sid = study["id"].as_i64().unwrap();
    assert_eq!(study["image_count"], 3);
    assert_eq!(study["readers"], json!(["r1", "r2"]));

    // Before their blind score a reader sees no AI draft anywhere.
    let list = r1.get(&app, &format!("/api/studies/{sid}/images")).await;
    for row in list.as_array().unwrap() {
        assert_eq!(row["ai"], Value::Null);
        assert_eq!(row["my_state"], "not_started");
        assert_eq!(row["final"], Value::Null);
    }
    let rec = r1.get(&app, &format!("/api/images/{}", ids[0])).await;
    assert_eq!(rec["draft"], Value::Null, "image page hides the draft");
    assert_eq!(rec["scores"], json!({}), "and the AI-filled score");
    let page = r1.get(&app, "/api/images?limit=10").await;
    assert!(page["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["draft"].is_null()));
    let csv = r1
        .req(&app, Method::GET, "/api/export.csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in csv.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[11], "", "export hides the AI draft: {line}");
    }

    // Reader 1 reads image 0 blind.
    let read = r1
        .get(&app, &format!("/api/studies/{sid}/images/{}/read", ids[0]))
        .await;
    assert_eq!(read["state"], "blind");
    assert_eq!(read["ai"], Value::Null);
    let url0 = format!("/api/studies/{sid}/images/{}/read", ids[0]);
    let (st, v) = r1
        .json(
            &app,
            Method::POST,
            &url0,
            Some(json!({"scores": {"Fibrosis": 1.0}})),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the blind score needs every metric: {v}"
    );
    let (st, v) = r1
        .json(&app, Method::POST, &url0, Some(json!({"scores": {"Fibrosis": 9.0, "Glandular Atrophy": 1.0, "Pancreatic Architecture": 1.0, "Pseudotubular Complexes": 1.0}})))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["field"], "Fibrosis");
    let (st, read) = r1
        .json(
            &app,
            Method::POST,
            &url0,
            Some(json!({"scores": scores(1.0)})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{read}");
    assert_eq!(read["state"], "revealed");
    assert_eq!(read["ai"], ai[0], "the AI draft is revealed on submit");
    assert_eq!(read["blind"], scores(1.0));
    assert!(read["blind_seconds"].as_f64().unwrap() >= 0.0);
    // A revision needs a reason in this study; the blind score stays.
    let (st, v) = r1
        .json(
            &app,
            Method::POST,
            &url0,
            Some(json!({"scores": {"Fibrosis": 2.0}})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["field"], "reason");
    let (st, read) = r1
        .json(
            &app,
            Method::POST,
            &url0,
            Some(json!({"scores": {"Fibrosis": 2.0}, "reason": "missed septal fibrosis"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{read}");
    assert_eq!(read["blind"]["Fibrosis"], 1.0);
    assert_eq!(read["revised"]["Fibrosis"], 2.0);
    assert!(read["revised_seconds"].is_number());
    // Now the image page shows r1 the draft of image 0 (not of image 1).
    let rec = r1.get(&app, &format!("/api/images/{}", ids[0])).await;
    assert_eq!(rec["draft"]["rounded"], ai[0]);
    let rec = r1.get(&app, &format!("/api/images/{}", ids[1])).await;
    assert_eq!(rec["draft"], Value::Null);

    // Reader 2 scores every image blind and never sees reader 1.
    for id in &ids {
        let url = format!("/api/studies/{sid}/images/{id}/read");
        r2.get(&app, &url).await;
        let (st, read) = r2
            .json(
                &app,
                Method::POST,
                &url,
                Some(json!({"scores": scores(1.5)})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{read}");
    }
    let list = r2.get(&app, &format!("/api/studies/{sid}/images")).await;
    for row in list.as_array().unwrap() {
        assert_eq!(row["my_state"], "revealed");
        assert!(
            row["reads"].get("r1").is_none(),
            "r2 must not see r1: {row}"
        );
    }
    let (st, _) = r2
        .json(
            &app,
            Method::GET,
            &format!("/api/studies/{sid}/agreement"),
            None,
        )
        .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "readers do not see the other readers through statistics"
    );
    // A viewer reads but cannot score; a non-reader cannot read.
    let (st, _) = vic
        .json(
            &app,
            Method::POST,
            &url0,
            Some(json!({"scores": scores(1.0)})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // Reader 1 finishes the other two.
    for id in &ids[1..] {
        let url = format!("/api/studies/{sid}/images/{id}/read");
        let (st, _) = r1
            .json(
                &app,
                Method::POST,
                &url,
                Some(json!({"scores": scores(2.0)})),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
    }

    // The admin adjudicates image 0 (a reason is required here).
    let final_url = format!("/api/studies/{sid}/images/{}/final", ids[0]);
    let (st, _) = ada
        .json(
            &app,
            Method::PUT,
            &final_url,
            Some(json!({"scores": {"Fibrosis": 1.75}})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, row) = ada
        .json(
            &app,
            Method::PUT,
            &final_url,
            Some(json!({"scores": {"Fibrosis": 1.75}, "reason": "consensus"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{row}");
    assert_eq!(row["final"]["Fibrosis"], 1.75);
    assert_eq!(row["reads"]["r1"]["blind"]["Fibrosis"], 1.0);
    let rec = ada.get(&app, &format!("/api/images/{}", ids[0])).await;
    assert_eq!(
        rec["scores"]["Fibrosis"], 1.75,
        "the final score is the image's score"
    );
    assert_eq!(rec["review_status"], "reviewed");

    // Progress and agreement (viewer sees everything).
    let study = vic.get(&app, &format!("/api/studies/{sid}")).await;
    assert_eq!(study["progress"]["r1"], json!({"blind": 3, "revised": 1}));
    assert_eq!(study["progress"]["r2"], json!({"blind": 3, "revised": 0}));
    let ag = vic
        .get(&app, &format!("/api/studies/{sid}/agreement"))
        .await;
    let fib = ag["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "Fibrosis")
        .unwrap();
    assert_eq!(fib["raters"], json!(["ai", "r1", "r2"]));
    let pairs = fib["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 3);
    let r1r2 = pairs
        .iter()
        .find(|p| p["a"] == "r1" && p["b"] == "r2")
        .unwrap();
    assert_eq!(r1r2["n"], 3);
    // r1 = 2, 2, 2 and r2 = 1.5, 1.5, 1.5: a constant difference.
    assert!((r1r2["mae"]["value"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    assert!((r1r2["bland_altman"]["mean_diff"]["value"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    assert!(
        r1r2["qwk"]["not_defined"].is_string(),
        "constant raters: {}",
        r1r2["qwk"]
    );
    let text = serde_json::to_string(&ag).unwrap();
    assert!(
        !text.contains("NaN") && !text.contains("null"),
        "no NaN or null statistics: {text}"
    );
    let shift = fib["shift"].as_array().unwrap();
    let s1 = shift.iter().find(|s| s["reader"] == "r1").unwrap();
    assert_eq!(s1["n"], 3);
    assert_eq!(s1["changed"], 1);

    // Exports: a column block per reader plus final; the audit trail of the study.
    let csv = vic
        .req(&app, Method::GET, &format!("/api/studies/{sid}/export.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut rdr = csv::Reader::from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    for col in [
        "ai.Fibrosis",
        "r1.blind.Fibrosis",
        "r1.Fibrosis",
        "r1.blind_seconds",
        "r2.Fibrosis",
        "final.Fibrosis",
    ] {
        assert!(header.contains(&col.to_string()), "{col} in {header:?}");
    }
    let first: Vec<String> = rdr
        .records()
        .next()
        .unwrap()
        .unwrap()
        .iter()
        .map(String::from)
        .collect();
    let col = |name: &str| first[header.iter().position(|h| h == name).unwrap()].clone();
    assert_eq!(col("r1.blind.Fibrosis"), "1");
    assert_eq!(col("r1.Fibrosis"), "2");
    assert_eq!(col("r2.Fibrosis"), "1.5");
    assert_eq!(col("final.Fibrosis"), "1.75");
    let agcsv = vic
        .req(
            &app,
            Method::GET,
            &format!("/api/studies/{sid}/agreement.csv"),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(agcsv.contains("Fibrosis,r1,r2,3,0.5"), "{agcsv}");
    let audit = ada
        .req(&app, Method::GET, &format!("/api/audit.csv?study_id={sid}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        ",r1,",
        "blind_score",
        "reader_revise",
        "missed septal fibrosis",
        "adjudicate",
        "consensus",
    ] {
        assert!(
            audit.contains(needle),
            "{needle} in the study's audit export:\n{audit}"
        );
    }
    let (st, _) = r1
        .json(
            &app,
            Method::GET,
            &format!("/api/audit.csv?study_id={sid}"),
            None,
        )
        .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "a reader cannot read the others' scores in the log"
    );
    let per_image = ada
        .get(&app, &format!("/api/images/{}/audit", ids[0]))
        .await;
    let entries = per_image["entries"].as_array().unwrap();
    assert!(entries
        .iter()
        .any(|e| e["action"] == "adjudicate" && e["actor"] == "ada" && e["study_id"] == sid));
    app.stop().await;
}

async fn audit_log_has_no_update_or_delete_path(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    // Over HTTP: the audit routes answer reads only.
    for (m, path) in [
        (Method::DELETE, "/api/images/1/audit"),
        (Method::PATCH, "/api/images/1/audit"),
        (Method::PUT, "/api/images/1/audit"),
        (Method::POST, "/api/images/1/audit"),
        (Method::DELETE, "/api/audit.csv"),
        (Method::POST, "/api/audit.csv"),
    ] {
        let r = app
            .client
            .request(m.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{m} {path}");
    }
    // In the database: blind scores and the log refuse change.
    let pool = app.store.pool();
    sqlx::query("INSERT INTO studies (name, description, blinded, require_reason, created_at, created_by, updated_at) VALUES ('s', '', 1, 0, 'x', 'x', 'x')")
        .execute(pool)
        .await
        .unwrap();
    let up = app
        .upload(
            &fixtures().join("images/S-3602-10X_Image001_ch00.tif"),
            "a.tif",
        )
        .await;
    let id = up.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    sqlx::query(&format!("INSERT INTO study_scores (study_id, image_id, reader, phase, metric, value, updated_at) VALUES (1, {id}, 'r', 'blind', 'Fibrosis', 1, 'x')"))
        .execute(pool)
        .await
        .unwrap();
    for sql in [
        "UPDATE study_scores SET value = 3 WHERE phase = 'blind'",
        "UPDATE audit_log SET reason = 'forged'",
        "DELETE FROM audit_log",
    ] {
        assert!(
            sqlx::query(sql).execute(pool).await.is_err(),
            "the database must refuse {sql:?}"
        );
    }
    app.stop().await;
}

/// Numbers a JSON answer gives per metric: `{metric: number}` maps and audit entries
/// (`field` = metric, `old_value`/`new_value`).
fn metric_values(v: &Value, metrics: &[&str], out: &mut Vec<(String, f64)>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(f)) = m.get("field") {
                if metrics.contains(&f.as_str()) {
                    for k in ["old_value", "new_value"] {
                        if let Some(x) = m.get(k).and_then(Value::as_str) {
                            if let Ok(x) = x.parse::<f64>() {
                                out.push((f.clone(), x));
                            }
                        }
                    }
                }
            }
            for (k, x) in m {
                if let (true, Some(n)) = (metrics.contains(&k.as_str()), x.as_f64()) {
                    out.push((k.clone(), n));
                }
                metric_values(x, metrics, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| metric_values(x, metrics, out)),
        _ => {}
    }
}

/// Every number in an answer (JSON numbers and numeric strings, or CSV cells).
fn all_numbers(text: &str, json: Option<&Value>) -> Vec<f64> {
    fn walk(v: &Value, out: &mut Vec<f64>) {
        match v {
            Value::Number(n) => out.extend(n.as_f64()),
            Value::String(s) => out.extend(s.parse::<f64>().ok()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    match json {
        Some(v) => walk(v, &mut out),
        None => {
            for line in text.lines() {
                out.extend(
                    line.split(',')
                        .filter_map(|c| c.trim_matches('"').parse::<f64>().ok()),
                );
            }
        }
    }
    out
}

/// Metric-keyed values of a CSV answer: cells under a header that names a metric.
fn csv_metric_values(text: &str, metrics: &[&str]) -> Vec<(String, f64)> {
    let mut rd = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let Ok(head) = rd.headers().cloned() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for rec in rd.records().flatten() {
        for (h, cell) in head.iter().zip(rec.iter()) {
            if let Some(m) = metrics.iter().find(|m| h.ends_with(*m)) {
                if let Ok(x) = cell.parse::<f64>() {
                    out.push((m.to_string(), x));
                }
            }
        }
    }
    out
}

/// Every route of the route table, as reader `who`, with its parameters filled in for one
/// image and study; what each answered (status, body). Routes that would change the reader's
/// own state (logging out, their password, submitting a read) are left out.
async fn every_answer(
    app: &TestApp,
    who: &As,
    image: i64,
    study: i64,
    model: &str,
) -> Vec<(String, StatusCode, String)> {
    let mut out = Vec::new();
    for (method, template, _) in inventory() {
        // The event stream never ends (it carries ids and versions, never scores).
        if template == "/api/logout"
            || template == "/api/events"
            || template == "/api/account/password"
            || (method == Method::POST && template.ends_with("/read"))
        {
            continue;
        }
        let id = if template.starts_with("/api/studies/") {
            study.to_string()
        } else if template.starts_with("/api/models/") {
            model.to_string()
        } else {
            image.to_string()
        };
        let path = template
            .replace("{id}", &id)
            .replace("{image_id}", &image.to_string())
            .replace("{db_id}", &image.to_string())
            .replace("{name}", "r2")
            .replace("{level}", "0")
            .replace("{tile}", "0_0.jpg");
        let mut req = who.req(app, method.clone(), &path);
        if method == Method::PATCH && template == "/api/images/{id}/scores" {
            // A stale version: the answer must not carry the record.
            req = req
                .header("if-match", "\"999\"")
                .json(&json!({"scores": {"Fibrosis": 0.5}}));
        } else if method != Method::GET {
            req = req.json(&json!({}));
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = String::from_utf8_lossy(&r.bytes().await.unwrap()).to_string();
        out.push((format!("{method} {path}"), status, text));
    }
    out
}

/// Fails if any answer carries a value of `draft_raw` (the hidden AI draft's raw outputs) or
/// one of the other reader's scores.
fn assert_nothing_leaks(
    answers: &[(String, StatusCode, String)],
    metrics: &[&str],
    hidden_raw: &[f64],
    other_reader: &BTreeMap<String, f64>,
) {
    for (route, status, text) in answers {
        let json: Option<Value> = serde_json::from_str(text).ok();
        let is_csv = text.starts_with('\u{feff}');
        if json.is_none() && !is_csv {
            continue; // pixels, HTML, metrics text
        }
        for n in all_numbers(text, json.as_ref()) {
            assert!(
                !hidden_raw.contains(&n),
                "{route} ({status}) shows the hidden AI draft ({n}): {text}"
            );
        }
        let mut values = Vec::new();
        match &json {
            Some(v) => metric_values(v, metrics, &mut values),
            None => values = csv_metric_values(text, metrics),
        }
        for (metric, v) in values {
            assert_ne!(
                other_reader.get(&metric),
                Some(&v),
                "{route} ({status}) shows the other reader's {metric}: {text}"
            );
        }
    }
}

/// Fails if any answer names one of a blinded reader's study images or its group.
fn assert_no_names(answers: &[(String, StatusCode, String)], names: &[&str]) {
    for (route, status, text) in answers {
        if route.ends_with("/api/openapi.json") {
            continue; // the API's documentation, with its examples
        }
        for n in names {
            assert!(
                !text.contains(n),
                "{route} ({status}) names {n} to a blinded reader: {text}"
            );
        }
    }
}

async fn blinded_reader_learns_nothing_from_any_route(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    // The original system's API too: its routes are walked with the others.
    let app = TestApp::configured(db.store, dir.path(), Default::default(), 1, |s| {
        s.original_api = true
    })
    .await;
    add_user(&app, "ada", Role::Admin).await;
    add_user(&app, "r1", Role::Pathologist).await;
    add_user(&app, "r2", Role::Pathologist).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let ada = login(&app, "ada").await;
    let r1 = login(&app, "r1").await;
    let r2 = login(&app, "r2").await;
    // Two images, each alone in its sample group.
    let names = [
        "S-3602-10X_Image001_ch00.tif",
        "S-4500-10x_Image123_RAW_ch00.tif",
    ];
    let mut ids = Vec::new();
    let mut raw = Vec::new();
    for n in names {
        let id = ada.upload(&app, n).await["id"].as_i64().unwrap();
        let rec = ada.wait_scored(&app, id).await;
        let values: Vec<f64> = rec["draft"]["raw_outputs"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(Value::as_f64)
            .collect();
        assert_eq!(values.len(), 4, "{rec}");
        ids.push(id);
        raw.push(values);
    }
    let model = ada.get(&app, "/api/config").await["model"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let metrics = [
        "Pancreatic Architecture",
        "Glandular Atrophy",
        "Pseudotubular Complexes",
        "Fibrosis",
    ];
    let (st, study) = ada
        .json(
            &app,
            Method::POST,
            "/api/studies",
            Some(json!({"name": "leaks", "blinded": true, "readers": ["r1", "r2"], "image_ids": ids})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{study}");
    let sid = study["id"].as_i64().unwrap();
    // Reader 2 scores both images at each metric's maximum (no draft here is that high).
    let r2_scores: BTreeMap<String, f64> = [
        ("Pancreatic Architecture", 4.0),
        ("Glandular Atrophy", 3.0),
        ("Pseudotubular Complexes", 3.0),
        ("Fibrosis", 4.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for id in &ids {
        let (st, v) = r2
            .json(
                &app,
                Method::POST,
                &format!("/api/studies/{sid}/images/{id}/read"),
                Some(json!({ "scores": r2_scores })),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }

    // Before reader 1's blind score: neither draft, nor reader 2, nor a file name or group,
    // on any route.
    let hidden: Vec<f64> = raw.concat();
    let secret_names = ["S-3602", "Image001", "S-4500", "Image123"];
    let before = every_answer(&app, &r1, ids[0], sid, &model).await;
    assert!(before.len() > 30);
    assert_nothing_leaks(&before, &metrics, &hidden, &r2_scores);
    assert_no_names(&before, &secret_names);
    // Write answers in particular: a stale If-Match gets no `current` record.
    let patch = before
        .iter()
        .find(|(r, _, _)| r.starts_with("PATCH") && r.ends_with("/scores"))
        .unwrap();
    assert_eq!(patch.1, StatusCode::FORBIDDEN, "{}", patch.2);
    assert!(!patch.2.contains("\"current\""), "{}", patch.2);
    // A search by a study image's name finds nothing for its blinded reader (it would link
    // the name to the code), and its group summary is empty.
    let page = r1
        .get(&app, &format!("/api/images?search={}", names[0]))
        .await;
    assert_eq!(page["total"], 0, "{page}");
    assert_eq!(page["groups"], json!([]), "{page}");
    // The reader sees study-local codes, in an order of their own, fixed by the study's seed.
    let study_now = r1.get(&app, &format!("/api/studies/{sid}")).await;
    let seed = study_now["order_seed"]
        .as_u64()
        .expect("the seed is recorded");
    for (who, name) in [(&r1, "r1"), (&r2, "r2")] {
        let rows = who.get(&app, &format!("/api/studies/{sid}/images")).await;
        let order: Vec<i64> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["image_id"].as_i64().unwrap())
            .collect();
        assert_eq!(
            order,
            histoscore_domain::reading::reading_order(seed, name, &ids),
            "{name}'s order"
        );
        for r in rows.as_array().unwrap() {
            let code = r["code"].as_str().unwrap();
            assert!(code.starts_with(&format!("{sid}-")), "{r}");
            assert_eq!(r["filename"], format!("case {code}"), "{r}");
            assert_eq!(r["group"], Value::Null, "{r}");
        }
    }
    // The administrator sees names beside the codes.
    let rows = ada.get(&app, &format!("/api/studies/{sid}/images")).await;
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["filename"] == names[0]));
    // Time on task is active viewing, reported by the reader's browser.
    let (st, opened) = r1
        .json(
            &app,
            Method::GET,
            &format!("/api/studies/{sid}/images/{}/read", ids[1]),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{opened}");
    assert!(
        opened["image"]["filename"]
            .as_str()
            .unwrap()
            .starts_with("case "),
        "{opened}"
    );
    for _ in 0..2 {
        let (st, read) = r1
            .json(
                &app,
                Method::POST,
                &format!("/api/studies/{sid}/images/{}/active", ids[1]),
                Some(json!({"ms": 1500})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{read}");
    }
    let read = r1
        .get(&app, &format!("/api/studies/{sid}/images/{}/read", ids[1]))
        .await;
    assert_eq!(read["state"], "blind");
    assert_eq!(
        read["blind_seconds"], 3.0,
        "active viewing, not time since opening: {read}"
    );
    let (st, _) = r1
        .json(
            &app,
            Method::POST,
            &format!("/api/studies/{sid}/images/{}/active", ids[1]),
            Some(json!({"ms": 3_600_000})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);

    // Reader 1 submits a blind score for image 0: its draft is revealed, nothing else.
    let (st, read) = r1
        .json(
            &app,
            Method::POST,
            &format!("/api/studies/{sid}/images/{}/read", ids[0]),
            Some(json!({"scores": scores(1.0)})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{read}");
    assert!(read["ai"].is_object());
    let after = every_answer(&app, &r1, ids[0], sid, &model).await;
    assert_nothing_leaks(&after, &metrics, &raw[1], &r2_scores);
    // Names stay coded until the read is adjudicated.
    assert_no_names(&after, &secret_names);
    let rec = r1.get(&app, &format!("/api/images/{}", ids[0])).await;
    assert!(rec["draft"].is_object(), "revealed: {rec}");
    assert_eq!(rec["locked_by_study"], sid, "still open until adjudicated");
    // The audit trail of image 0 shows reader 1's own scores, never reader 2's.
    let audit = r1.get(&app, &format!("/api/images/{}/audit", ids[0])).await;
    let entries = audit["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["actor"] == "r1"));
    assert!(entries.iter().all(|e| e["actor"] != "r2"), "{audit}");
    // Another pathologist who reads in no study sees every reader's entries.
    add_user(&app, "pat", Role::Pathologist).await;
    let pat = login(&app, "pat").await;
    let audit = pat
        .get(&app, &format!("/api/images/{}/audit", ids[0]))
        .await;
    assert!(audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["actor"] == "r2"));
    app.stop().await;
}

async fn blinded_reader_cannot_change_the_official_score(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    add_user(&app, "ada", Role::Admin).await;
    add_user(&app, "r1", Role::Pathologist).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let ada = login(&app, "ada").await;
    let r1 = login(&app, "r1").await;
    let id = ada.upload(&app, "S-3602-10X_Image002_ch00.tif").await["id"]
        .as_i64()
        .unwrap();
    ada.wait_scored(&app, id).await;
    let (st, study) = ada
        .json(
            &app,
            Method::POST,
            "/api/studies",
            Some(json!({"name": "locks", "blinded": true, "readers": ["r1"], "image_ids": [id]})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let sid = study["id"].as_i64().unwrap();
    let refused = |st: StatusCode, v: &Value| {
        assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
        assert_eq!(v["error"], "blinded_read");
        assert_eq!(v["study_id"], sid);
        assert!(v.get("current").is_none(), "{v}");
    };
    let try_all = |version: i64| {
        let app = &app;
        let r1 = &r1;
        async move {
            let url = format!("/api/images/{id}/scores");
            let r = r1
                .req(app, Method::PATCH, &url)
                .header("if-match", format!("\"{version}\""))
                .json(&json!({"scores": {"Fibrosis": 0.5}, "reviewed": true}))
                .send()
                .await
                .unwrap();
            let st = r.status();
            let patch = (st, r.json::<Value>().await.unwrap());
            let del = r1
                .json(app, Method::DELETE, &format!("/api/images/{id}"), None)
                .await;
            let restore = r1
                .json(
                    app,
                    Method::POST,
                    &format!("/api/images/{id}/restore"),
                    None,
                )
                .await;
            [patch, del, restore]
        }
    };
    let version = r1.get(&app, &format!("/api/images/{id}")).await["version"]
        .as_i64()
        .unwrap();
    // Before the blind score, with the right version and with a stale one.
    for v in [version, 999] {
        for (st, body) in try_all(v).await {
            refused(st, &body);
        }
    }
    let rec = r1.get(&app, &format!("/api/images/{id}")).await;
    assert_eq!(rec["locked_by_study"], sid);
    // After the blind score, until the adjudication.
    let (st, _) = r1
        .json(
            &app,
            Method::POST,
            &format!("/api/studies/{sid}/images/{id}/read"),
            Some(json!({"scores": scores(1.0)})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    for (st, body) in try_all(version).await {
        refused(st, &body);
    }
    let official = ada.get(&app, &format!("/api/images/{id}")).await;
    assert_eq!(official["version"], version, "nothing changed");
    assert_eq!(official["review_status"], "unreviewed");
    // The adjudication closes the read: the official score is anyone's to correct again.
    let (st, _) = ada
        .json(
            &app,
            Method::PUT,
            &format!("/api/studies/{sid}/images/{id}/final"),
            Some(json!({"scores": {"Fibrosis": 3.5}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let rec = r1.get(&app, &format!("/api/images/{id}")).await;
    assert!(rec.get("locked_by_study").is_none(), "{rec}");
    let (st, v) = r1
        .req(&app, Method::PATCH, &format!("/api/images/{id}/scores"))
        .header("if-match", format!("\"{}\"", rec["version"]))
        .json(&json!({"scores": {"Fibrosis": 3.0}, "reason": "after the study"}))
        .send()
        .await
        .map(|r| (r.status(), r))
        .unwrap();
    assert_eq!(st, StatusCode::OK, "{:?}", v.text().await);
    app.stop().await;
}

/// Behind a proxy: `X-Forwarded-For` (the address failed logins are counted by) and
/// `X-Forwarded-Proto` (secure cookies) are believed only from `--trusted-proxies`.
async fn forwarded_headers_count_only_from_trusted_proxies(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let store = db.store.clone();
    let proxied = TestApp::configured(db.store, dir.path(), Default::default(), 0, |s| {
        s.trusted_proxies = std::sync::Arc::new(vec!["127.0.0.1/32".parse().unwrap()]);
    })
    .await;
    add_user(&proxied, "ada", Role::Admin).await;
    let attempt = |app: &TestApp, from: &str, password: &str| {
        app.client
            .post(app.url("/api/login"))
            .header("x-forwarded-for", format!("198.51.100.9, {from}"))
            .header("x-forwarded-proto", "https")
            .json(&json!({"name": "ada", "password": password}))
            .send()
    };
    for _ in 0..3 {
        let r = attempt(&proxied, "203.0.113.5", "guess guess guess")
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = attempt(&proxied, "203.0.113.5", PASSWORD).await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the guesser waits"
    );
    let r = attempt(&proxied, "203.0.113.6", PASSWORD).await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "another client behind the proxy does not"
    );
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("; Secure"),
        "HTTPS said by the proxy: {cookie}"
    );
    proxied.stop().await;

    // Without trusted proxies the same headers are anyone's words: ignored.
    let dir = tempfile::tempdir().unwrap();
    let direct = TestApp::configured(store, dir.path(), Default::default(), 0, |_| {}).await;
    for _ in 0..3 {
        let r = attempt(&direct, "203.0.113.7", "guess guess guess")
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = attempt(&direct, "203.0.113.8", PASSWORD).await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a made-up X-Forwarded-For does not escape the wait"
    );
    add_user(&direct, "bob", Role::Viewer).await;
    let r = direct
        .client
        .post(direct.url("/api/login"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"name": "bob", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(!cookie.contains("Secure"), "not over HTTPS here: {cookie}");
    direct.stop().await;
}
