//! Access control (docs/security.md), black-box: a real server with real tokens made by
//! `wasmcron token create` on its data directory. Every route for every role (from one
//! table, checked against the served OpenAPI document), revocation, the audit `user`,
//! the console's session and CSRF, the limit on failed attempts, the refusal to serve
//! an open API on a non-loopback address, HTTPS, and the CLI's `--token`.

mod common;

use common::{Server, ServerOptions, binary, create_token, tmp};
use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// Every route and the least role that may call it ("public": no credentials needed).
/// The test fails if the server's OpenAPI document lists a route this table does not
/// (and the document lists exactly the router's routes: a unit test checks that), so a
/// new route cannot go untested.
const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/healthz", "public"),
    ("GET", "/readyz", "public"),
    ("GET", "/api/v1/version", "public"),
    ("GET", "/", "public"),
    ("GET", "/console/{file}", "public"),
    ("POST", "/api/v1/session", "public"),
    ("GET", "/api/v1/session", "viewer"),
    ("DELETE", "/api/v1/session", "viewer"),
    ("GET", "/metrics", "viewer"),
    ("GET", "/api/v1/openapi.json", "viewer"),
    ("GET", "/api/v1/jobs", "viewer"),
    ("POST", "/api/v1/jobs", "operator"),
    ("GET", "/api/v1/jobs/{job_id}", "viewer"),
    ("PUT", "/api/v1/jobs/{job_id}", "operator"),
    ("DELETE", "/api/v1/jobs/{job_id}", "operator"),
    ("PATCH", "/api/v1/jobs/{job_id}", "operator"),
    ("OPTIONS", "/api/v1/jobs/{job_id}", "operator"),
    ("POST", "/api/v1/jobs/{job_id}/pause", "operator"),
    ("POST", "/api/v1/jobs/{job_id}/resume", "operator"),
    ("GET", "/api/v1/jobs/{job_id}/next-runs", "viewer"),
    ("POST", "/api/v1/next-runs", "viewer"),
    ("GET", "/api/v1/jobs/{job_id}/state", "viewer"),
    ("DELETE", "/api/v1/jobs/{job_id}/state", "operator"),
    ("GET", "/api/v1/executions", "viewer"),
    ("POST", "/api/v1/executions", "operator"),
    ("GET", "/api/v1/executions/{id}", "viewer"),
    ("POST", "/api/v1/executions/{id}", "operator"),
    ("DELETE", "/api/v1/executions/{id}", "operator"),
    ("GET", "/api/v1/executions/{id}/events", "viewer"),
    ("GET", "/api/v1/events", "viewer"),
    ("GET", "/api/v1/logs", "viewer"),
    ("GET", "/api/v1/hosts", "viewer"),
    ("GET", "/api/v1/plugins", "viewer"),
    ("GET", "/api/v1/plugins/{name}", "viewer"),
    ("POST", "/api/v1/plugins/{name}", "admin"),
    ("DELETE", "/api/v1/plugins/{name}", "admin"),
    ("GET", "/api/v1/plugins/{name}/wasm", "viewer"),
    ("GET", "/api/v1/job-classes", "viewer"),
    ("GET", "/api/v1/secrets", "admin"),
    ("GET", "/api/v1/secrets/{name}", "admin"),
    ("PUT", "/api/v1/secrets/{name}", "admin"),
    ("DELETE", "/api/v1/secrets/{name}", "admin"),
    ("GET", "/api/v1/tokens", "admin"),
    ("POST", "/api/v1/tokens", "admin"),
    ("DELETE", "/api/v1/tokens/{name}", "admin"),
];

const ROLES: [&str; 3] = ["viewer", "operator", "admin"];

/// The rank of a role in [`ROLES`].
fn rank(role: &str) -> usize {
    ROLES.iter().position(|r| *r == role).unwrap()
}

/// `wasmcron token <args…>` on a data directory: (exit code, stdout, stderr).
fn token_command(data_dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(binary())
        .arg("token")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One token of each role, made before the server starts.
struct Tokens {
    viewer: String,
    operator: String,
    admin: String,
}

impl Tokens {
    fn create(data_dir: &Path) -> Tokens {
        Tokens {
            viewer: create_token(data_dir, "watcher", "viewer"),
            operator: create_token(data_dir, "deployer", "operator"),
            admin: create_token(data_dir, "root", "admin"),
        }
    }

    fn of(&self, role: &str) -> &str {
        match role {
            "viewer" => &self.viewer,
            "operator" => &self.operator,
            "admin" => &self.admin,
            _ => unreachable!(),
        }
    }
}

/// The name of each role's token in [`Tokens`].
fn token_name(role: &str) -> &'static str {
    match role {
        "viewer" => "watcher",
        "operator" => "deployer",
        _ => "root",
    }
}

/// An answer: status, headers, JSON body (`Null` when empty or not JSON).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

/// A request with optional bearer token, extra headers and JSON body. An event stream's
/// body is not read (it never ends).
async fn send(
    server: &Server,
    method: Method,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Answer {
    let mut req = server
        .client
        .request(method, format!("{}{path}", server.base));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let headers = resp.headers().clone();
    let streaming = headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let body = if streaming {
        Value::Null
    } else {
        let text = resp.text().await.unwrap();
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// A concrete path for a template: every `{parameter}` names nothing that exists, so
/// that an allowed request is refused by its handler (400) or answered, and changes
/// nothing.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|s| if s.starts_with('{') { "auth_probe" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_role_on_every_route_is_allowed_or_refused_as_the_table_says() {
    let dir = tmp();
    let data = dir.path().join("data");
    let tokens = Tokens::create(&data);
    let server = ServerOptions::new(&data).start();

    // The table covers the served document's routes, no more, no less.
    let doc = send(
        &server,
        Method::GET,
        "/api/v1/openapi.json",
        Some(&tokens.viewer),
        &[],
        None,
    )
    .await;
    assert_eq!(doc.status, StatusCode::OK);
    let mut documented = BTreeSet::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(role) = op.get("x-required-role") {
                let role = role.as_str().unwrap_or_default().to_owned();
                documented.insert((method.to_uppercase(), path.clone(), role));
            }
        }
    }
    let tabled: BTreeSet<(String, String, String)> = ROUTES
        .iter()
        .map(|(m, p, r)| ((*m).to_owned(), (*p).to_owned(), (*r).to_owned()))
        .collect();
    let only_documented: Vec<_> = documented.difference(&tabled).collect();
    let only_tabled: Vec<_> = tabled.difference(&documented).collect();
    assert!(
        only_documented.is_empty() && only_tabled.is_empty(),
        "the routes and roles of openapi.json differ from this test's ROUTES.\n\
         In the document only: {only_documented:?}\nIn ROUTES only: {only_tabled:?}"
    );

    for (method, template, needed) in ROUTES {
        let path = concrete(template);
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let body = matches!(method, Method::POST | Method::PUT).then(|| json!({}));
        let what = format!("{method} {template}");

        let anonymous = send(&server, method.clone(), &path, None, &[], body.clone()).await;
        if *needed == "public" {
            assert!(
                !matches!(
                    anonymous.status,
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                ),
                "{what} is public, but answered {} {}",
                anonymous.status,
                anonymous.body
            );
            continue;
        }
        assert_eq!(
            anonymous.status,
            StatusCode::UNAUTHORIZED,
            "{what} without credentials: {}",
            anonymous.body
        );
        assert!(
            anonymous.body["error"]
                .as_str()
                .is_some_and(|e| e.contains("Authorization: Bearer")),
            "{what}: {}",
            anonymous.body
        );
        assert!(anonymous.headers.contains_key("www-authenticate"), "{what}");

        for role in ROLES {
            let answer = send(
                &server,
                method.clone(),
                &path,
                Some(tokens.of(role)),
                &[],
                body.clone(),
            )
            .await;
            if rank(role) < rank(needed) {
                assert_eq!(
                    answer.status,
                    StatusCode::FORBIDDEN,
                    "{what} as {role}: {}",
                    answer.body
                );
                let article = if role == "viewer" { "a" } else { "an" };
                assert_eq!(
                    answer.body["error"],
                    format!(
                        "this needs the {needed} role; token {} is {article} {role}",
                        token_name(role)
                    ),
                    "{what} as {role}"
                );
            } else {
                assert!(
                    !matches!(
                        answer.status,
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                    ),
                    "{what} as {role} must pass access control, answered {} {}",
                    answer.status,
                    answer.body
                );
            }
        }
    }
    // A wrong token is a 401 too, naming why.
    let answer = send(
        &server,
        Method::GET,
        "/api/v1/jobs",
        Some("wcr_0000"),
        &[],
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.body["error"],
        "the token is not valid: it is unknown or was revoked"
    );
}

#[tokio::test]
async fn with_no_token_on_loopback_the_api_is_open_and_says_so() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let answer = send(&server, Method::GET, "/api/v1/session", None, &[], None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.body,
        json!({"name": "", "role": "admin", "auth": false, "csrf_token": ""})
    );
    let answer = send(&server, Method::GET, "/api/v1/secrets", None, &[], None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // The first token made over the API turns auth on.
    let answer = send(
        &server,
        Method::POST,
        "/api/v1/tokens",
        None,
        &[],
        Some(json!({"name": "first", "role": "admin"})),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let token = answer.body["token"].as_str().unwrap().to_owned();
    let answer = send(&server, Method::GET, "/api/v1/jobs", None, &[], None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let answer = send(
        &server,
        Method::GET,
        "/api/v1/jobs",
        Some(&token),
        &[],
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn tokens_are_managed_over_the_api_and_a_revoked_one_fails_at_once() {
    let dir = tmp();
    let data = dir.path().join("data");
    let tokens = Tokens::create(&data);
    let server = ServerOptions::new(&data).start();
    let admin = Some(tokens.admin.as_str());

    let created = send(
        &server,
        Method::POST,
        "/api/v1/tokens",
        admin,
        &[],
        Some(json!({"name": "ci", "role": "operator"})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["name"], "ci");
    assert_eq!(created.body["role"], "operator");
    let ci = created.body["token"].as_str().unwrap().to_owned();
    // A name is unique; a role is one of three.
    let again = send(
        &server,
        Method::POST,
        "/api/v1/tokens",
        admin,
        &[],
        Some(json!({"name": "ci", "role": "viewer"})),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let bad = send(
        &server,
        Method::POST,
        "/api/v1/tokens",
        admin,
        &[],
        Some(json!({"name": "x", "role": "root"})),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body["error"]
            .as_str()
            .unwrap()
            .contains("viewer, operator or admin")
    );

    let ok = send(&server, Method::GET, "/api/v1/jobs", Some(&ci), &[], None).await;
    assert_eq!(ok.status, StatusCode::OK);

    // Listed with its last use, never with a secret.
    let list = send(&server, Method::GET, "/api/v1/tokens", admin, &[], None).await;
    assert_eq!(list.status, StatusCode::OK);
    let names: Vec<&str> = list.body["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ci", "deployer", "root", "watcher"]);
    let text = list.body.to_string();
    assert!(!text.contains(&ci[4..]) && !text.contains(&tokens.admin[4..]));
    assert!(list.body["tokens"][0].get("token").is_none());
    assert!(
        list.body["tokens"][0]["last_used_time"].is_string(),
        "{}",
        list.body
    );
    assert!(
        list.body["tokens"][3]["last_used_time"].is_null(),
        "{}",
        list.body
    );

    let revoked = send(
        &server,
        Method::DELETE,
        "/api/v1/tokens/ci",
        admin,
        &[],
        None,
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    let after = send(&server, Method::GET, "/api/v1/jobs", Some(&ci), &[], None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    let gone = send(
        &server,
        Method::DELETE,
        "/api/v1/tokens/ci",
        admin,
        &[],
        None,
    )
    .await;
    assert_eq!(gone.status, StatusCode::BAD_REQUEST);
    assert_eq!(gone.body["error"], "Token not found: ci");

    // Revoked on the command line while the server runs: refused at its next request.
    let ok = send(
        &server,
        Method::GET,
        "/api/v1/jobs",
        Some(&tokens.viewer),
        &[],
        None,
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let (code, _, stderr) = token_command(&data, &["revoke", "watcher"]);
    assert_eq!(code, 0, "{stderr}");
    let after = send(
        &server,
        Method::GET,
        "/api/v1/jobs",
        Some(&tokens.viewer),
        &[],
        None,
    )
    .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);

    // The command line lists them too, never the secret.
    let (code, stdout, stderr) = token_command(&data, &["list"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("NAME"), "{stdout}");
    assert!(stdout.contains("deployer") && stdout.contains("operator"));
    assert!(
        !stdout.contains("watcher") && !stdout.contains("wcr_"),
        "{stdout}"
    );
    let (code, _, stderr) = token_command(&data, &["revoke", "watcher"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("Token not found: watcher"), "{stderr}");
    let (code, _, stderr) = token_command(&data, &["create", "--name", "root", "--role", "admin"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("exists already"), "{stderr}");

    // Each creation and revocation is in the audit log, by whom.
    let logs = send(&server, Method::GET, "/api/v1/logs", admin, &[], None).await;
    let events: Vec<(String, String, String)> = logs.body["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["event"].as_str().unwrap().to_owned(),
                l["job_name"].as_str().unwrap().to_owned(),
                l["user"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("token_created", "ci", "root"),
        ("token_revoked", "ci", "root"),
        ("token_created", "root", "(command line)"),
        ("token_revoked", "watcher", "(command line)"),
    ] {
        let expected = (
            expected.0.to_owned(),
            expected.1.to_owned(),
            expected.2.to_owned(),
        );
        assert!(events.contains(&expected), "{expected:?} in {events:?}");
    }
}

#[tokio::test]
async fn the_audit_user_is_the_tokens_name() {
    let dir = tmp();
    let data = dir.path().join("data");
    let tokens = Tokens::create(&data);
    let server = ServerOptions::new(&data).start();
    let added = send(
        &server,
        Method::POST,
        "/api/v1/jobs",
        Some(&tokens.operator),
        &[],
        Some(json!({
            "job_class_string": "wasmcron.testing.Echo", "name": "audited",
            "trigger": "interval", "trigger_params": {"interval": 86400}
        })),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    let job = added.body["job_id"].as_str().unwrap().to_owned();
    let paused = send(
        &server,
        Method::POST,
        &format!("/api/v1/jobs/{job}/pause"),
        Some(&tokens.admin),
        &[],
        None,
    )
    .await;
    assert_eq!(paused.status, StatusCode::OK);
    let logs = send(
        &server,
        Method::GET,
        "/api/v1/logs",
        Some(&tokens.viewer),
        &[],
        None,
    )
    .await;
    let by_event = |event: &str| {
        logs.body["logs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["event"] == event && l["job_id"] == job.as_str())
            .unwrap_or_else(|| panic!("no {event} entry in {}", logs.body))["user"]
            .clone()
    };
    assert_eq!(by_event("added"), "deployer");
    assert_eq!(by_event("paused"), "root");
}

/// The value of a `Set-Cookie` header that sets `name`.
fn set_cookie<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no Set-Cookie for {name} in {headers:?}"))
}

/// Logs in with `token`; returns the cookie header value and the CSRF token.
async fn log_in(server: &Server, token: &str) -> (String, String) {
    let answer = send(
        server,
        Method::POST,
        "/api/v1/session",
        None,
        &[],
        Some(json!({ "token": token })),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let cookie = set_cookie(&answer.headers, "wasmcron_session");
    let pair = cookie.split(';').next().unwrap().to_owned();
    (pair, answer.body["csrf_token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_console_session_logs_in_and_out_with_a_strict_http_only_cookie() {
    let dir = tmp();
    let data = dir.path().join("data");
    let tokens = Tokens::create(&data);
    let server = ServerOptions::new(&data).start();

    let bad = send(
        &server,
        Method::POST,
        "/api/v1/session",
        None,
        &[],
        Some(json!({"token": "wcr_nope"})),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(bad.headers.get(SET_COOKIE).is_none());

    let answer = send(
        &server,
        Method::POST,
        "/api/v1/session",
        None,
        &[],
        Some(json!({"token": tokens.operator})),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let csrf = answer.body["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(csrf.len(), 64);
    assert_eq!(
        answer.body,
        json!({"name": "deployer", "role": "operator", "auth": true, "csrf_token": csrf})
    );
    let cookie = set_cookie(&answer.headers, "wasmcron_session");
    let attributes: BTreeSet<&str> = cookie.split(';').skip(1).map(str::trim).collect();
    assert_eq!(
        attributes,
        BTreeSet::from(["HttpOnly", "SameSite=Strict", "Path=/"]),
        "{cookie}"
    );
    let id = cookie.split(';').next().unwrap().to_owned();
    assert!(
        !id.contains(&tokens.operator),
        "the cookie is not the token"
    );

    // The cookie authenticates; GET /session gives the same CSRF token back.
    let me = send(
        &server,
        Method::GET,
        "/api/v1/session",
        None,
        &[("cookie", &id)],
        None,
    )
    .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body, answer.body);
    // A bearer request has no session, so no CSRF token.
    let me = send(
        &server,
        Method::GET,
        "/api/v1/session",
        Some(&tokens.viewer),
        &[],
        None,
    )
    .await;
    assert_eq!(
        me.body,
        json!({"name": "watcher", "role": "viewer", "auth": true, "csrf_token": ""})
    );

    // Logging out ends the session and clears the cookie.
    let out = send(
        &server,
        Method::DELETE,
        "/api/v1/session",
        None,
        &[("cookie", &id), ("x-csrf-token", &csrf)],
        None,
    )
    .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    assert_eq!(out.body, json!({"ended": true}));
    let cleared = set_cookie(&out.headers, "wasmcron_session");
    assert!(cleared.starts_with("wasmcron_session=;") && cleared.contains("Max-Age=0"));
    let me = send(
        &server,
        Method::GET,
        "/api/v1/session",
        None,
        &[("cookie", &id)],
        None,
    )
    .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert!(me.body["error"].as_str().unwrap().contains("log in again"));
    let none = send(&server, Method::GET, "/api/v1/session", None, &[], None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);

    // Revoking a token ends its sessions.
    let (id, _) = log_in(&server, &tokens.viewer).await;
    let ok = send(
        &server,
        Method::GET,
        "/api/v1/jobs",
        None,
        &[("cookie", &id)],
        None,
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let revoked = send(
        &server,
        Method::DELETE,
        "/api/v1/tokens/watcher",
        Some(&tokens.admin),
        &[],
        None,
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK);
    let after = send(
        &server,
        Method::GET,
        "/api/v1/jobs",
        None,
        &[("cookie", &id)],
        None,
    )
    .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_session_cookie_needs_the_csrf_header_to_change_state_and_a_bearer_token_does_not() {
    let dir = tmp();
    let data = dir.path().join("data");
    let tokens = Tokens::create(&data);
    let server = ServerOptions::new(&data).start();
    let (cookie, csrf) = log_in(&server, &tokens.operator).await;
    let job = json!({
        "job_class_string": "wasmcron.testing.Echo", "name": "csrf",
        "trigger": "interval", "trigger_params": {"interval": 86400}
    });

    let read = send(
        &server,
        Method::GET,
        "/api/v1/jobs",
        None,
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(read.status, StatusCode::OK, "reads need no CSRF token");
    for headers in [
        vec![("cookie", cookie.as_str())],
        vec![("cookie", cookie.as_str()), ("x-csrf-token", "0123")],
    ] {
        let refused = send(
            &server,
            Method::POST,
            "/api/v1/jobs",
            None,
            &headers,
            Some(job.clone()),
        )
        .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert!(
            refused.body["error"]
                .as_str()
                .unwrap()
                .starts_with("missing or wrong X-CSRF-Token"),
            "{}",
            refused.body
        );
    }
    let added = send(
        &server,
        Method::POST,
        "/api/v1/jobs",
        None,
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        Some(job.clone()),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    let by_bearer = send(
        &server,
        Method::POST,
        "/api/v1/jobs",
        Some(&tokens.operator),
        &[],
        Some(job),
    )
    .await;
    assert_eq!(by_bearer.status, StatusCode::CREATED, "{}", by_bearer.body);
    // The session's role still applies.
    let (viewer_cookie, viewer_csrf) = log_in(&server, &tokens.viewer).await;
    let refused = send(
        &server,
        Method::DELETE,
        &format!("/api/v1/jobs/{}", added.body["job_id"].as_str().unwrap()),
        None,
        &[("cookie", &viewer_cookie), ("x-csrf-token", &viewer_csrf)],
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.body["error"],
        "this needs the operator role; token watcher is a viewer"
    );
}

#[tokio::test]
async fn failed_attempts_are_limited_per_client_address() {
    let dir = tmp();
    let data = dir.path().join("data");
    let tokens = Tokens::create(&data);
    let server = ServerOptions::new(&data)
        .arg("--auth-failures-per-minute")
        .arg("3")
        .start();
    for attempt in 1..=3 {
        let answer = send(
            &server,
            Method::GET,
            "/api/v1/jobs",
            Some("wcr_guess"),
            &[],
            None,
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    // Logging in with a wrong token counts the same; past the limit, nothing is checked.
    let answer = send(
        &server,
        Method::POST,
        "/api/v1/session",
        None,
        &[],
        Some(json!({"token": "wcr_guess"})),
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.body
    );
    for token in ["wcr_guess", tokens.admin.as_str()] {
        let answer = send(&server, Method::GET, "/api/v1/jobs", Some(token), &[], None).await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = answer.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
        assert!(
            answer.body["error"]
                .as_str()
                .unwrap()
                .starts_with("too many failed authentication attempts"),
            "{}",
            answer.body
        );
    }
    // Routes that need nothing still answer.
    let health = send(&server, Method::GET, "/healthz", None, &[], None).await;
    assert_eq!(health.status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_need_a_viewer_unless_public() {
    let dir = tmp();
    let data = dir.path().join("data");
    let tokens = Tokens::create(&data);
    let server = ServerOptions::new(&data).arg("--public-metrics").start();
    let metrics = send(&server, Method::GET, "/metrics", None, &[], None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let jobs = send(&server, Method::GET, "/api/v1/jobs", None, &[], None).await;
    assert_eq!(jobs.status, StatusCode::UNAUTHORIZED);
    let jobs = send(
        &server,
        Method::GET,
        "/api/v1/jobs",
        Some(&tokens.viewer),
        &[],
        None,
    )
    .await;
    assert_eq!(jobs.status, StatusCode::OK);
}

/// Starts `wasmcron serve` with `args` and waits for it to serve or exit: the listening
/// line's URL, or the exit status and stderr.
fn serve_or_exit(
    data_dir: &Path,
    args: &[&str],
) -> Result<(std::process::Child, String), (std::process::ExitStatus, String)> {
    let stderr_path = data_dir.with_extension("stderr.log");
    let mut child = Command::new(binary())
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(url) = line.strip_prefix("wasmcron listening on ") {
                    let url = url.trim().to_owned();
                    std::thread::spawn(move || for _ in lines {});
                    return Ok((child, url));
                }
            }
            _ => {
                let status = child.wait().unwrap();
                return Err((status, std::fs::read_to_string(&stderr_path).unwrap()));
            }
        }
    }
}

/// Stops a server started by [`serve_or_exit`].
fn stop(mut child: std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn a_non_loopback_address_needs_a_token_or_insecure_no_auth() {
    let dir = tmp();
    let data = dir.path().join("data");
    let (status, stderr) = serve_or_exit(&data, &["--listen", "0.0.0.0:0"])
        .map(|(child, _)| {
            stop(child);
            panic!("served on 0.0.0.0 without a token")
        })
        .unwrap_err();
    assert!(!status.success());
    assert!(
        stderr.contains("refusing to serve on 0.0.0.0:") && stderr.contains("--insecure-no-auth"),
        "{stderr}"
    );

    // Told so, it serves an open API.
    let (child, url) = serve_or_exit(&data, &["--listen", "0.0.0.0:0", "--insecure-no-auth"])
        .unwrap_or_else(|(status, stderr)| panic!("{status}: {stderr}"));
    let port = url.rsplit(':').next().unwrap().to_owned();
    let open = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/jobs"))
        .await
        .unwrap();
    assert_eq!(open.status(), StatusCode::OK);
    stop(child);

    // With a token, it serves, and asks for it.
    let token = create_token(&data, "root", "admin");
    let (child, url) = serve_or_exit(&data, &["--listen", "0.0.0.0:0"])
        .unwrap_or_else(|(status, stderr)| panic!("{status}: {stderr}"));
    let base = format!("http://127.0.0.1:{}", url.rsplit(':').next().unwrap());
    let client = reqwest::Client::new();
    let refused = client
        .get(format!("{base}/api/v1/jobs"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let ok = client
        .get(format!("{base}/api/v1/jobs"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    stop(child);
}

#[tokio::test]
async fn the_cli_sends_its_token() {
    let dir = tmp();
    let data = dir.path().join("data");
    let tokens = Tokens::create(&data);
    let server = ServerOptions::new(&data).start();
    let job_list = |token: Option<(&str, &str)>| {
        let mut cmd = Command::new(binary());
        cmd.args(["job", "list", "--server", &server.base])
            .env_remove("WASMCRON_TOKEN");
        match token {
            Some(("flag", t)) => {
                cmd.args(["--token", t]);
            }
            Some((_, t)) => {
                cmd.env("WASMCRON_TOKEN", t);
            }
            None => {}
        }
        cmd.output().unwrap()
    };
    let out = job_list(None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("this needs credentials"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for how in ["flag", "env"] {
        let out = job_list(Some((how, &tokens.viewer)));
        assert!(
            out.status.success(),
            "{how}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A viewer cannot upload a plugin; an admin can.
    let push = |token: &str| {
        Command::new(binary())
            .args(["plugin", "push", "--server", &server.base, "--token", token])
            .arg(common::plugin("wasmcron.testing"))
            .args(["--name", "pushed"])
            .output()
            .unwrap()
    };
    let out = push(&tokens.viewer);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("this needs the admin role"));
    let out = push(&tokens.admin);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A TLS client that trusts only `cert`, speaking HTTP/1.1 by hand: (status line,
/// headers and body as text).
async fn https_request(
    addr: &str,
    cert: &rcgen::CertifiedKey<rcgen::KeyPair>,
    request: &str,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(30), tls.read_to_string(&mut answer))
        .await
        .expect("an answer in time")
        .ok();
    answer
}

#[tokio::test]
async fn https_serves_with_the_given_certificate_and_secure_cookies() {
    let dir = tmp();
    let data = dir.path().join("data");
    let tokens = Tokens::create(&data);
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_file = dir.path().join("cert.pem");
    let key_file = dir.path().join("key.pem");
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let server = ServerOptions::new(&data)
        .arg("--tls-cert")
        .arg(cert_file.to_str().unwrap())
        .arg("--tls-key")
        .arg(key_file.to_str().unwrap())
        .start();
    let addr = server
        .base
        .strip_prefix("https://")
        .unwrap_or_else(|| panic!("not https: {}", server.base))
        .to_owned();

    let answer = https_request(
        &addr,
        &cert,
        &format!(
            "GET /api/v1/jobs HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
             Connection: close\r\n\r\n",
            tokens.viewer
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"jobs\""), "{answer}");

    let body = json!({"token": tokens.viewer}).to_string();
    let answer = https_request(
        &addr,
        &cert,
        &format!(
            "POST /api/v1/session HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let cookie = answer
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: wasmcron_session=")
        })
        .unwrap_or_else(|| panic!("no session cookie: {answer}"));
    assert!(cookie.trim_end().ends_with("; Secure"), "{cookie}");

    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("http://{addr}/healthz"))
        .timeout(Duration::from_secs(15))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
}
