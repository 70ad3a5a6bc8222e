//! `HttpCheck`, the class of the JavaScript and Python examples that GETs a URL, through
//! the REST API against a tiny HTTP server of the test's own: a job granted the server's
//! origin (`allowed_hosts`) gets its answer; a job granted nothing fails, and the server
//! never sees a connection from it. Used by `javascript.rs` and `python.rs`.

use crate::common::{self, ServerOptions};
use crate::{assert_documented, failed, logs, plugin_file, run, succeeded};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wasmcron::{Plugin, Runtime};

/// What the test server answers every request with.
pub const BODY: &str = "wasmcron health: all good\n";

/// As `assert_classes_documented` (every class has notes and documented arguments, and
/// succeeds with its example arguments), except that `HttpCheck`'s example, run without
/// a grant (the runtime's default), must fail with `denied_message` and a log line of
/// the host's saying it denied the request.
pub async fn assert_classes_documented(
    runtime: &Runtime,
    plugin: &Arc<Plugin>,
    denied_message: &str,
) {
    for class in &plugin.classes {
        assert_documented(class);
        let report = run(runtime, plugin, &class.name, &class.example_arguments).await;
        if class.name == "HttpCheck" {
            assert_eq!(failed(&report), denied_message);
            let logs = logs(&report);
            assert!(
                logs.iter().any(|l| l.starts_with("warn ")
                    && l.contains("denied GET http://127.0.0.1:8080/health")),
                "{logs:?}"
            );
        } else {
            succeeded(&report);
        }
    }
}

/// An HTTP/1.1 server on a random loopback port that answers every request `200 OK`
/// with [`BODY`], and counts the connections it accepts.
pub struct Site {
    /// `http://127.0.0.1:<port>`
    pub origin: String,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Site {
    pub async fn start() -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    // The request head, up to its blank line; a GET has no body.
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
                         connection: close\r\n\r\n{BODY}",
                        BODY.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Site {
            origin,
            connections,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Uploads `plugin_name` to a fresh server, and runs its `HttpCheck` as two jobs against
/// a [`Site`]: one without `allowed_hosts`, which must fail before connecting (its
/// execution is returned, for the language's own checks of the message), then one
/// granted the site's origin, which must succeed.
pub async fn denied_then_granted(plugin_name: &str) -> Value {
    let site = Site::start().await;
    let url = format!("{}/health", site.origin);
    let dir = common::tmp();
    let server = ServerOptions::new(&dir.path().join("data"))
        .without_plugin_dir()
        .start();
    let wasm = std::fs::read(plugin_file(plugin_name)).unwrap();
    let (status, uploaded) = server
        .send_bytes(
            Method::POST,
            &format!("/api/v1/plugins/{plugin_name}"),
            wasm,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    let job = |name: &str, allowed_hosts: Option<Vec<&str>>| {
        let mut job = json!({
            "job_class_string": format!("{plugin_name}.HttpCheck"),
            "name": name,
            "pub_args": {"url": url, "expect_body_contains": "all good"},
            "hour": "0",
        });
        if let Some(hosts) = allowed_hosts {
            job["allowed_hosts"] = json!(hosts);
        }
        job
    };
    let run_now = async |job_id: &str| {
        let (status, run) = server
            .post(&format!("/api/v1/executions/{job_id}"), "")
            .await;
        assert_eq!(status, StatusCode::OK, "{run}");
        server
            .wait_finished(
                run["execution_id"].as_str().unwrap(),
                Duration::from_secs(60),
            )
            .await
    };

    let refused = server.add_job(job("health check, no hosts", None)).await;
    let denied = run_now(&refused).await;
    assert_eq!(denied["state"], "failed", "{denied}");
    assert_eq!(denied["description"], "job_error", "{denied}");
    assert_eq!(
        site.connections(),
        0,
        "a denied request reached the site: {denied}"
    );
    // The host records the request it refused, and logs why.
    let requests = denied["http_requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{denied}");
    assert_eq!(requests[0]["url"], url.as_str(), "{denied}");
    assert!(requests[0]["denied"].is_string(), "{denied}");
    let denial_logged = denied["logs"].as_array().unwrap().iter().any(|l| {
        let message = l["message"].as_str().unwrap();
        message.contains("denied") && message.contains(&url)
    });
    assert!(denial_logged, "{denied}");

    let granted = server
        .add_job(job("health check", Some(vec![site.origin.as_str()])))
        .await;
    let execution = run_now(&granted).await;
    assert_eq!(execution["state"], "succeeded", "{execution}");
    let result: Value = serde_json::from_str(execution["result"].as_str().unwrap()).unwrap();
    assert_eq!(result["url"], url.as_str(), "{result}");
    assert_eq!(result["status"], 200, "{result}");
    assert_eq!(result["bytes"], BODY.len(), "{result}");
    assert!(result["latency_ms"].is_u64(), "{result}");
    assert_eq!(site.connections(), 1, "{execution}");
    let requests = execution["http_requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{execution}");
    assert_eq!(requests[0]["status"], 200, "{execution}");
    denied
}
