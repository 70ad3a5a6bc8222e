//! The API's contract, `GET /api/v1/openapi.json` (host/src/api/v1/openapi.json), against
//! a live server: a validator accepts the document and each example matches its schema
//! (tests/contract/check_examples.py), every route it documents answers (neither the
//! fallback's 404 nor a 405), and schemathesis fuzzes every operation (examples,
//! boundary values, random data, chains of calls) and finds no server error and no
//! answer that the document does not describe (status, content type, headers, body).
//!
//! That the document lists exactly the router's routes is a unit test beside it
//! (host/src/api/v1/openapi.rs), which also reads routes the live server cannot reveal.
//!
//! The validator and schemathesis come from `make toolchains` (the shared venv in
//! target/toolchains, pinned by tests/contract/requirements.txt). When they are missing
//! the tests that need them say so and pass, except under CI (`CI` set), where they fail.
//! `WASMCRON_CONTRACT_SEED` picks another fuzzing seed (the default one is fixed, so a
//! run is repeatable).

mod common;

use common::{Server, ServerOptions, tmp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The pinned releases (tests/contract/requirements.txt).
const SCHEMATHESIS: &str = "4.32.5";
const SPEC_VALIDATOR: &str = "0.9.0";
/// Test cases per operation and phase: about two minutes for the ~30 operations on two
/// cores with a debug server.
const MAX_EXAMPLES: &str = "150";
const DEFAULT_SEED: &str = "20261130";
/// The most a fuzzed plugin upload may send: random bytes are refused at once, and a
/// valid plugin this small compiles in well under a second.
const MAX_UPLOAD_BYTES: &str = "262144";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shared venv's bin directory when it has the pinned tools; if not, says so, and
/// fails under CI, which runs `make toolchains`.
fn venv_bin() -> Option<PathBuf> {
    let bin = root().join("target/toolchains/venv/bin");
    let versions = Command::new(bin.join("python"))
        .args([
            "-c",
            "import importlib.metadata as m; \
             print(m.version('schemathesis'), m.version('openapi-spec-validator'))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let wanted = format!("{SCHEMATHESIS} {SPEC_VALIDATOR}");
    if versions.as_deref() == Some(wanted.as_str()) {
        return Some(bin);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must install schemathesis {SCHEMATHESIS} and openapi-spec-validator \
         {SPEC_VALIDATOR} into {} (make toolchains); found {versions:?}",
        bin.display()
    );
    eprintln!(
        "skipped: schemathesis {SCHEMATHESIS} and openapi-spec-validator {SPEC_VALIDATOR} \
         are not installed in {} (make toolchains); found {versions:?}",
        bin.display()
    );
    None
}

/// A server with the example plugins and a secret key, so that every route can succeed.
fn start(dir: &Path) -> Server {
    let key = dir.join("secret.key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    ServerOptions::new(&dir.join("data"))
        .arg("--secret-key-file")
        .arg(key.to_str().unwrap())
        .arg("--max-upload-bytes")
        .arg(MAX_UPLOAD_BYTES)
        .start()
}

/// The document as the server serves it.
async fn served_document(server: &Server) -> Value {
    let resp = server
        .client
        .get(format!("{}/api/v1/openapi.json", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"],
        "application/json",
        "the document's content type"
    );
    resp.json().await.unwrap()
}

/// A validator accepts the document, and each of its examples matches its schema.
#[tokio::test]
async fn the_served_document_is_valid_openapi_3_1() {
    let dir = tmp();
    let server = start(dir.path());
    let document = served_document(&server).await;
    assert_eq!(document["openapi"], "3.1.0");
    let Some(bin) = venv_bin() else { return };
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, document.to_string()).unwrap();
    let out = Command::new(bin.join("openapi-spec-validator"))
        .arg(&file)
        .output()
        .expect("running openapi-spec-validator");
    assert!(
        out.status.success(),
        "openapi-spec-validator refuses the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The validator reads the document's structure, not its examples.
    let out = Command::new(bin.join("python"))
        .arg(root().join("tests/contract/check_examples.py"))
        .arg(&file)
        .output()
        .expect("running check_examples.py");
    assert!(
        out.status.success(),
        "examples of the document do not match their schemas:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A concrete path for a template: each `{parameter}` becomes a name that exists nowhere.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "contract_probe"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_documented_route_answers() {
    let dir = tmp();
    let server = start(dir.path());
    let document = served_document(&server).await;
    let mut unrouted = Vec::new();
    for (template, item) in document["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "options", "patch", "head"] {
            if item.get(method).is_none() {
                continue;
            }
            let path = concrete(template);
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // Requests that name nothing that exists, with no body: each is refused
            // (400) or answered, and changes nothing. Only a 404's body is read: an
            // event stream's never ends.
            let resp = server
                .client
                .request(method.clone(), format!("{}{path}", server.base))
                .send()
                .await
                .expect("request");
            let status = resp.status();
            let fallback = match status {
                StatusCode::METHOD_NOT_ALLOWED => true,
                StatusCode::NOT_FOUND => {
                    resp.json::<Value>().await.unwrap_or_default()["error"] == "no such path"
                }
                _ => false,
            };
            if fallback {
                unrouted.push(format!("{method} {template}: {status}"));
            }
        }
    }
    assert!(
        unrouted.is_empty(),
        "documented in openapi.json but not routed:\n{}",
        unrouted.join("\n")
    );
}

/// Jobs, runs, a secret and a job's state for the fuzzer to read back: every kind of
/// trigger, every option, and executions that succeeded, failed, trapped, logged, made
/// (denied) HTTP requests and wrote state.
async fn populate(server: &Server) {
    let (status, body) = server
        .call(
            Method::PUT,
            "/api/v1/secrets/CONTRACT_TOKEN",
            Some(r#"{"value": "not a real token"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let testing = |class: &str| format!("wasmcron.testing.{class}");
    let cron = server
        .add_job(json!({
            "name": "every option", "job_class_string": testing("Echo"),
            "pub_args": {"a": [1, 2]}, "trigger": "cron",
            "trigger_params": {"minute": "*/5", "second": "30"},
            "timezone": "Europe/Berlin", "start_date": "2030-01-01",
            "end_date": "2031-01-01T00:00:00Z", "jitter_seconds": 1, "max_instances": 2,
            "concurrency_policy": "forbid", "misfire_grace_seconds": 60, "coalesce": false,
            "timeout_seconds": 30, "memory_limit_mb": 64,
            "retries": {"max": 1, "backoff_seconds": 0.5, "backoff_factor": 2},
            "allowed_hosts": ["http://127.0.0.1:9"], "http_limits": {"max_requests": 3},
            "secrets": ["CONTRACT_TOKEN"], "env": {"GREETING": "hello"}
        }))
        .await;
    server
        .add_job(json!({
            "name": "interval", "job_class_string": testing("Echo"),
            "trigger": "interval", "trigger_params": {"interval": 3600}
        }))
        .await;
    server
        .add_job(json!({
            "name": "date", "job_class_string": testing("Echo"),
            "trigger": "date", "trigger_params": {"run_date": "2030-06-01T12:00:00+02:00"}
        }))
        .await;
    let (status, body) = server.post(&format!("/api/v1/jobs/{cron}/pause"), "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (class, args) in [
        ("Echo", json!(["hello"])),
        ("Fail", json!([])),
        ("Panic", json!([])),
        ("Chatty", json!([])),
        ("HttpFetch", json!({"url": "http://127.0.0.1:9/"})),
        ("Counter", json!([])),
    ] {
        let job = server
            .add_job(json!({
                "name": class, "job_class_string": testing(class), "pub_args": args,
                "trigger": "interval", "trigger_params": {"interval": 86400}
            }))
            .await;
        let (status, body) = server.post(&format!("/api/v1/executions/{job}"), "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let execution = body["execution_id"].as_str().unwrap();
        server
            .wait_finished(execution, Duration::from_secs(60))
            .await;
    }
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let Some(bin) = venv_bin() else { return };
    let dir = tmp();
    let server = start(dir.path());
    populate(&server).await;
    let seed = std::env::var("WASMCRON_CONTRACT_SEED").unwrap_or_else(|_| DEFAULT_SEED.into());
    // Event streams are left out: a stream of every execution never ends, so each case
    // would last until its time limit. Their routes are still checked (listed, routed).
    // And creating a token: the first one turns access control on, and every later case
    // would be a 401 (tests/auth.rs covers tokens and roles).
    let excluded: Vec<String> = event_streams(&served_document(&server).await)
        .into_iter()
        .chain(["POST /api/v1/tokens".to_owned()])
        .flat_map(|name| ["--exclude-name".to_owned(), name])
        .collect();
    let work = dir.path().join("schemathesis");
    std::fs::create_dir_all(&work).unwrap();
    let out = Command::new(bin.join("schemathesis"))
        // Its example database and reports go here, not into the repository.
        .current_dir(&work)
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", root().join("tests/contract/hooks.py"))
        .args(["run", &format!("{}/api/v1/openapi.json", server.base)])
        .args(["--url", &server.base])
        // Every check but `positive_data_acceptance`: a schema cannot say which job ids,
        // plugin names or job classes exist, so a valid-looking request for one that does
        // not is rightly refused. Among them: no 5xx, every status, content type, header
        // and body as documented, schema-invalid requests refused, a 405 with an `Allow`
        // header for an undocumented method, and a deleted resource gone.
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", &seed])
        .args(["--workers", "1"])
        .args(["--request-timeout", "30"])
        .args(&excluded)
        .output()
        .expect("running schemathesis");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis (seed {seed}) found answers the contract does not allow:\n{report}\n\
         server log (end):\n{}",
        tail(&server.stderr(), 40)
    );
    // Print the summary: how many operations and cases ran (`cargo test -- --nocapture`).
    println!("{}", tail(&report, 30));
}

/// The operations (`GET /path`, as schemathesis names them) that answer
/// `text/event-stream`.
fn event_streams(document: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let streams = operation["responses"]
                .as_object()
                .into_iter()
                .flat_map(|responses| responses.values())
                .map(|response| match response["$ref"].as_str() {
                    // `#/components/responses/<name>`
                    Some(reference) => document
                        .pointer(reference.trim_start_matches('#'))
                        .unwrap_or(response),
                    None => response,
                })
                .any(|response| response["content"].get("text/event-stream").is_some());
            if streams {
                names.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    names
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[test]
fn event_streams_are_found_inline_and_by_reference() {
    let sse = json!({"description": "events", "content": {"text/event-stream": {"schema": {"type": "string"}}}});
    let document = json!({
        "paths": {
            "/api/v1/events": {"get": {"responses": {"200": sse}}},
            "/api/v1/executions/{execution_id}/events": {
                "get": {"responses": {"200": {"$ref": "#/components/responses/Events"}}}
            },
            "/api/v1/jobs": {"get": {"responses": {"200": {"content": {"application/json": {}}}}}}
        },
        "components": {"responses": {"Events": sse}}
    });
    assert_eq!(
        event_streams(&document),
        [
            "GET /api/v1/events",
            "GET /api/v1/executions/{execution_id}/events"
        ]
    );
}
