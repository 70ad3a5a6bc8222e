//! Jobs that do real work, black-box: a real server, real plugins, and HTTP servers of
//! the test's own on loopback, one of which must never be reached. Outbound HTTP is
//! allowed only to the job's `allowed_hosts` and never to an internal address the list
//! does not name; limits cut slow, huge and chatty runs; secrets reach only the jobs
//! granted them and never an API response, the database file or the server's log;
//! state survives runs and restarts; plugins built against world 0.1.0 still run; an
//! upgrade that adds HTTP needs consent.

mod common;

use common::{Server, ServerOptions, plugin, tmp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An HTTP/1.1 server on loopback that counts the connections it accepts and keeps
/// the requests it read. Routes: `/ok` (200, "hello wasmcron"), `/slow` (answers after
/// 5 s), `/big` (a 2 MB body), `/redirect-to/<port>` (302 to that port's `/ok`), `/status/<n>`,
/// anything else: 200 echoing nothing.
struct Peer {
    port: u16,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Peer {
    async fn start() -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (count, seen) = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let seen = seen.clone();
                tokio::spawn(async move {
                    let request = read_request(&mut socket).await;
                    seen.lock().unwrap().push(request.clone());
                    let target = request.split_whitespace().nth(1).unwrap_or("/");
                    let path = target.split('?').next().unwrap_or("/").to_owned();
                    let (status, headers, body): (u16, String, Vec<u8>) = if path == "/ok" {
                        (200, String::new(), b"hello wasmcron".to_vec())
                    } else if path == "/slow" {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        (200, String::new(), b"late".to_vec())
                    } else if path == "/big" {
                        (200, String::new(), vec![b'x'; 2_000_000])
                    } else if let Some(to) = path.strip_prefix("/redirect-to/") {
                        (
                            302,
                            format!("Location: http://127.0.0.1:{to}/ok\r\n"),
                            Vec::new(),
                        )
                    } else if let Some(n) = path.strip_prefix("/status/") {
                        (n.parse().unwrap_or(500), String::new(), b"status".to_vec())
                    } else {
                        (200, String::new(), Vec::new())
                    };
                    let head = format!(
                        "HTTP/1.1 {status} X\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(&body).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Peer {
            port,
            connections,
            requests,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Reads a request's head and its `Content-Length` body, as text.
async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.read(&mut buf).await {
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&data).to_string()
}

/// Creates a job, runs it now and waits for its final execution.
async fn run_job(server: &Server, body: Value) -> (String, Value) {
    let job_id = server.add_job(body).await;
    let execution = run_again(server, &job_id).await;
    (job_id, execution)
}

async fn run_again(server: &Server, job_id: &str) -> Value {
    let (status, json) = server
        .post(&format!("/api/v1/executions/{job_id}"), "")
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let id = json["execution_id"].as_str().unwrap().to_owned();
    server.wait_finished(&id, Duration::from_secs(60)).await
}

fn job(class: &str, args: Value, extra: Value) -> Value {
    let mut body = json!({
        "name": class,
        "job_class_string": format!("wasmcron.testing.{class}"),
        "pub_args": args,
        "month": "1", "day": "1", "hour": "0", "minute": "0",
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn fetch(url: &str, extra: Value) -> Value {
    job("HttpFetch", json!({ "url": url }), extra)
}

#[tokio::test]
async fn a_job_reaches_its_allowed_hosts_and_nothing_else() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let allowed = Peer::start().await;
    let forbidden = Peer::start().await;

    // Allowed: the job gets the response, and the execution records the request
    // without its query string.
    let (_, e) = run_job(
        &server,
        fetch(
            &allowed.url("/ok?token=abc"),
            json!({ "allowed_hosts": [allowed.origin()] }),
        ),
    )
    .await;
    assert_eq!(e["state"], "succeeded", "{e}");
    let result: Value = serde_json::from_str(e["result"].as_str().unwrap()).unwrap();
    assert_eq!(result["responses"][0]["status"], 200, "{e}");
    assert_eq!(result["responses"][0]["body"], "hello wasmcron", "{e}");
    let record = &e["http_requests"][0];
    assert_eq!(record["method"], "GET");
    assert_eq!(
        record["url"],
        allowed.url("/ok"),
        "no query string: {record}"
    );
    assert_eq!(record["status"], 200);
    assert_eq!(record["bytes"], 14);
    assert!(record["ms"].is_u64());
    assert_eq!(allowed.connections(), 1);

    // Refused before any connection: a host not on the list, a job with no list, a
    // name that resolves to loopback, any address under a wildcard unless named, the
    // cloud metadata address, and a redirect from an allowed host to a forbidden one.
    let cases = [
        (
            forbidden.url("/ok"),
            json!({ "allowed_hosts": [allowed.origin()] }),
            "is not in the job's allowed_hosts",
        ),
        (forbidden.url("/ok"), json!({}), "has no allowed_hosts"),
        (
            format!("http://localhost:{}/ok", forbidden.port),
            json!({ "allowed_hosts": [format!("http://localhost:{}", forbidden.port)] }),
            "internal address",
        ),
        (
            forbidden.url("/ok"),
            json!({ "allowed_hosts": ["http://*:*"] }),
            "internal address",
        ),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            json!({ "allowed_hosts": ["http://*"] }),
            "internal address",
        ),
        (
            allowed.url(&format!("/redirect-to/{}", forbidden.port)),
            json!({ "allowed_hosts": [allowed.origin()] }),
            "is not in the job's allowed_hosts",
        ),
    ];
    for (url, grants, reason) in cases {
        let (_, e) = run_job(&server, fetch(&url, grants.clone())).await;
        assert_eq!(e["state"], "failed", "{url} {grants}: {e}");
        let denied = e["http_requests"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|r| r["denied"].as_str())
            .unwrap_or_else(|| panic!("no denial recorded for {url}: {e}"));
        assert!(denied.contains(reason), "{url}: {denied}");
        let result = e["result"].as_str().unwrap();
        assert!(
            result.contains("denied")
                || result.contains("Denied")
                || result.contains("prohibited")
                || result.contains("Prohibited"),
            "the guest's error says so: {result}"
        );
        let logs = e["logs"].to_string();
        assert!(logs.contains("[wasmcron] denied"), "{logs}");
    }
    assert_eq!(
        forbidden.connections(),
        0,
        "the forbidden server was reached"
    );
    // The redirect's first hop reached the allowed server.
    assert_eq!(allowed.connections(), 2);
}

#[tokio::test]
async fn http_limits_cut_slow_huge_and_chatty_runs() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let peer = Peer::start().await;
    let grant = |limits: Value| json!({ "allowed_hosts": [peer.origin()], "http_limits": limits });

    let (_, e) = run_job(
        &server,
        fetch(&peer.url("/slow"), grant(json!({ "timeout_seconds": 1 }))),
    )
    .await;
    assert_eq!(e["state"], "failed", "{e}");
    let error = e["http_requests"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("within 1 s"), "{e}");

    let (_, e) = run_job(
        &server,
        fetch(
            &peer.url("/big"),
            grant(json!({ "max_response_bytes": 1000 })),
        ),
    )
    .await;
    assert_eq!(e["state"], "failed", "{e}");
    let error = e["http_requests"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("cut at 1000 bytes"), "{e}");

    let (_, e) = run_job(
        &server,
        job(
            "HttpFetch",
            json!({ "url": peer.url("/ok"), "repeat": 5 }),
            grant(json!({ "max_requests": 3 })),
        ),
    )
    .await;
    assert_eq!(e["state"], "failed", "{e}");
    assert!(
        e["result"]
            .as_str()
            .unwrap()
            .contains("request 4 of 5 failed"),
        "{e}"
    );
    let records = e["http_requests"].as_array().unwrap();
    assert_eq!(records.len(), 4, "{e}");
    assert!(
        records[3]["denied"]
            .as_str()
            .unwrap()
            .contains("max_requests")
    );

    // A limit over the server's maximum is refused when the job is saved.
    let (status, body) = server
        .post(
            "/api/v1/jobs",
            &fetch(
                &peer.url("/ok"),
                grant(json!({ "timeout_seconds": 100000 })),
            )
            .to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("timeout_seconds"),
        "{body}"
    );

    // The host is unaffected: the next request goes through.
    let (_, e) = run_job(&server, fetch(&peer.url("/ok"), grant(json!({})))).await;
    assert_eq!(e["state"], "succeeded", "{e}");
}

#[tokio::test]
async fn bad_grants_are_refused_naming_the_key() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    for (extra, needle) in [
        (
            json!({ "allowed_hosts": ["api.example.com"] }),
            "allowed_hosts",
        ),
        (json!({ "allowed_hosts": "https://x.com" }), "allowed_hosts"),
        (json!({ "env": { "1BAD": "x" } }), "env name"),
        (json!({ "env": { "A": 1 } }), "env value"),
        (json!({ "secrets": ["NOPE"] }), "secret"),
        (
            json!({ "http_limits": { "max_requests": 0 } }),
            "max_requests",
        ),
        (json!({ "http_limits": { "bogus": 1 } }), "http_limits"),
    ] {
        let (status, body) = server
            .post(
                "/api/v1/jobs",
                &job("Counter", json!({}), extra.clone()).to_string(),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{extra}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(needle),
            "{extra}: {body}"
        );
    }
}

/// Every response body the test saw, to search for a secret's value.
#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl Seen {
    async fn call(
        &self,
        server: &Server,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let (status, json) = server.call(method, path, body).await;
        self.0.lock().unwrap().push(json.to_string());
        (status, json)
    }

    /// `PUT /api/v1/secrets/<name>` with `value`.
    async fn put_secret(&self, server: &Server, name: &str, value: &str) -> (StatusCode, Value) {
        let body = json!({ "value": value }).to_string();
        self.call(
            server,
            Method::PUT,
            &format!("/api/v1/secrets/{name}"),
            Some(&body),
        )
        .await
    }

    /// Runs a job now and reads its final execution through the recorder.
    async fn run(&self, server: &Server, job_id: &str) -> Value {
        let e = run_again(server, job_id).await;
        let path = format!("/api/v1/executions/{}", e["execution_id"].as_str().unwrap());
        self.call(server, Method::GET, &path, None).await.1
    }

    fn contains(&self, needle: &str) -> bool {
        self.0.lock().unwrap().iter().any(|b| b.contains(needle))
    }
}

#[tokio::test]
async fn secrets_reach_only_granted_jobs_and_are_never_shown() {
    const VALUE: &str = "s3cr3t-VALUE-4242";
    let dir = tmp();
    let data = dir.path().join("data");
    let key = dir.path().join("key");
    std::fs::write(&key, [42u8; 32]).unwrap();
    let start = || {
        ServerOptions::new(&data)
            .arg("--secret-key-file")
            .arg(key.to_str().unwrap())
            .start()
    };
    let seen = Seen::default();

    // Without a key, the server stores no secrets.
    let keyless = Server::start(&dir.path().join("keyless"));
    let (status, body) = seen.put_secret(&keyless, "TOKEN", VALUE).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("--secret-key-file")
    );
    drop(keyless);

    let mut server = start();
    let (status, body) = seen.put_secret(&server, "TOKEN", VALUE).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "TOKEN");
    let (status, _) = seen.put_secret(&server, "TOKEN", VALUE).await;
    assert_eq!(status, StatusCode::OK, "a replacement");

    let echo = |name: &str, extra: Value| {
        let mut body = job("Env", json!({ "names": ["TOKEN", "PLAIN"] }), extra);
        body["name"] = json!(name);
        body
    };
    let granted = server
        .add_job(echo(
            "granted",
            json!({ "secrets": ["TOKEN"], "env": { "PLAIN": "visible" } }),
        ))
        .await;
    let not_granted = server.add_job(echo("not granted", json!({}))).await;
    for (job_id, token) in [(&granted, json!("***")), (&not_granted, Value::Null)] {
        let e = seen.run(&server, job_id).await;
        assert_eq!(e["state"], "succeeded", "{e}");
        let result: Value = serde_json::from_str(e["result"].as_str().unwrap()).unwrap();
        assert_eq!(result["TOKEN"], token, "{e}");
        if *job_id == granted {
            assert_eq!(result["PLAIN"], "visible");
            for field in ["stdout", "stderr"] {
                assert!(
                    e[field].as_str().unwrap().contains("TOKEN=***"),
                    "{field}: {e}"
                );
            }
            assert!(e["logs"].to_string().contains("TOKEN=***"), "{e}");
        } else {
            assert_eq!(result["PLAIN"], Value::Null, "env is per job");
        }
    }

    // The listing names the jobs that read it, never the value.
    let (_, list) = seen
        .call(&server, Method::GET, "/api/v1/secrets", None)
        .await;
    assert_eq!(list["secrets"][0]["name"], "TOKEN");
    assert_eq!(list["secrets"][0]["used_by"][0]["job_id"], granted.as_str());
    let (status, body) = seen
        .call(&server, Method::DELETE, "/api/v1/secrets/TOKEN", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "in use: {body}");
    for path in [
        format!("/api/v1/jobs/{granted}"),
        "/api/v1/jobs".to_owned(),
        "/api/v1/logs?time_range_start=2000-01-01&time_range_end=2100-01-01".to_owned(),
        "/api/v1/executions?time_range_start=2000-01-01&time_range_end=2100-01-01".to_owned(),
        "/api/v1/secrets/TOKEN".to_owned(),
    ] {
        seen.call(&server, Method::GET, &path, None).await;
    }

    // A restart keeps it; the database holds no plain value.
    server.terminate(Duration::from_secs(30));
    let server = start();
    let e = seen.run(&server, &granted).await;
    let result: Value = serde_json::from_str(e["result"].as_str().unwrap()).unwrap();
    assert_eq!(result["TOKEN"], "***", "{e}");

    assert!(
        !seen.contains(VALUE),
        "a response carried the secret's value"
    );
    assert!(
        !server.stderr().contains(VALUE),
        "the server's log carries the value"
    );
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()),
                "{} holds the plain value",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn state_persists_across_runs_and_restarts_and_is_bounded() {
    let dir = tmp();
    let data = dir.path().join("data");
    let start = || {
        ServerOptions::new(&data)
            .arg("--max-state-bytes")
            .arg("100")
            .start()
    };
    let mut server = start();
    let counter = server.add_job(job("Counter", json!({}), json!({}))).await;
    for expected in 1..=3 {
        let e = run_again(&server, &counter).await;
        assert_eq!(e["state"], "succeeded", "{e}");
        let result: Value = serde_json::from_str(e["result"].as_str().unwrap()).unwrap();
        assert_eq!(result["count"], expected, "{e}");
    }
    let (_, state) = server.get(&format!("/api/v1/jobs/{counter}/state")).await;
    assert_eq!(state["entries"], json!({ "count": "3" }), "{state}");

    server.terminate(Duration::from_secs(30));
    let mut server = start();
    let e = run_again(&server, &counter).await;
    let result: Value = serde_json::from_str(e["result"].as_str().unwrap()).unwrap();
    assert_eq!(result["count"], 4, "the state survived the restart: {e}");

    // A failed run's changes are discarded; a refused set says why and changes nothing.
    let ops = |fail: bool, value: &str| {
        job(
            "State",
            json!({ "ops": [{ "op": "set", "key": "k", "value": value }, { "op": "keys" }], "fail": fail }),
            json!({}),
        )
    };
    let (failing, e) = run_job(&server, ops(true, "v")).await;
    assert_eq!(e["state"], "failed");
    let (_, state) = server.get(&format!("/api/v1/jobs/{failing}/state")).await;
    assert_eq!(state["entries"], json!({}), "{state}");
    let (big, e) = run_job(&server, ops(false, &"x".repeat(200))).await;
    assert_eq!(e["state"], "succeeded", "{e}");
    let result: Value = serde_json::from_str(e["result"].as_str().unwrap()).unwrap();
    assert!(
        result["results"][0]["error"]
            .as_str()
            .unwrap()
            .contains("limit of 100 bytes"),
        "{e}"
    );
    let (_, state) = server.get(&format!("/api/v1/jobs/{big}/state")).await;
    assert_eq!(state["entries"], json!({}));

    // Cleared by the API: the next run starts over.
    let (status, body) = server
        .call(
            Method::DELETE,
            &format!("/api/v1/jobs/{counter}/state"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["cleared"], true);
    let e = run_again(&server, &counter).await;
    let result: Value = serde_json::from_str(e["result"].as_str().unwrap()).unwrap();
    assert_eq!(result["count"], 1, "{e}");

    // Deleted with the job.
    let (status, _) = server
        .call(Method::DELETE, &format!("/api/v1/jobs/{counter}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.get(&format!("/api/v1/jobs/{counter}/state")).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the API's not-found: {body}"
    );
    assert!(body["error"].as_str().unwrap().contains("Job not found"));
    server.terminate(Duration::from_secs(30));
    let db = common::database::connect(&data).await;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_state WHERE job_id = $1")
        .bind(&counter)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(rows, 0, "the deleted job's state is gone");
}

#[tokio::test]
async fn a_plugin_built_against_world_0_1_0_still_runs() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let wasm = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/sample_job-world-0.1.0.wasm"),
    )
    .unwrap();
    let (status, body) = server
        .send_bytes(Method::POST, "/api/v1/plugins/old.sample", wasm)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["world_version"], "0.1.0");
    let (_, e) = run_job(
        &server,
        json!({
            "name": "old", "job_class_string": "old.sample.AwesomeJob",
            "pub_args": ["a", "b"], "month": "1", "day": "1", "hour": "0", "minute": "0",
        }),
    )
    .await;
    assert_eq!(e["state"], "succeeded", "{e}");
}

#[tokio::test]
async fn an_upgrade_that_adds_http_needs_consent() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let (status, body) = server
        .send_bytes(
            Method::POST,
            "/api/v1/plugins/upgraded",
            std::fs::read(plugin("wasmcron.examples.stats")).unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        !body["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("http")),
        "{body}"
    );
    let http = std::fs::read(plugin("wasmcron.examples.http")).unwrap();
    let (status, body) = server
        .send_bytes(Method::POST, "/api/v1/plugins/upgraded", http.clone())
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"].as_str().unwrap().contains("http"), "{body}");
    let (_, plugin_now) = server.get("/api/v1/plugins/upgraded").await;
    assert!(
        !plugin_now["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("http")),
        "nothing changed"
    );
    let (status, body) = server
        .send_bytes(
            Method::POST,
            "/api/v1/plugins/upgraded?allow_new_capabilities=true",
            http,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("http")),
        "{body}"
    );
    let (_, logs) = server
        .get("/api/v1/logs?time_range_start=2000-01-01&time_range_end=2100-01-01")
        .await;
    assert!(
        logs.to_string().contains("new capabilities: http"),
        "{logs}"
    );
}

#[tokio::test]
async fn the_rust_http_examples_work_through_the_api() {
    let dir = tmp();
    let data = dir.path().join("data");
    let key = dir.path().join("key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    let server = ServerOptions::new(&data)
        .arg("--secret-key-file")
        .arg(key.to_str().unwrap())
        .start();
    let peer = Peer::start().await;
    let grant = json!({ "allowed_hosts": [peer.origin()] });
    let example = |class: &str, args: Value, extra: Value| {
        let mut body = job(class, args, extra);
        body["job_class_string"] = json!(format!("wasmcron.examples.http.{class}"));
        body
    };

    let (_, e) = run_job(
        &server,
        example(
            "HttpCheck",
            json!({ "url": peer.url("/ok"), "expect_body_contains": "wasmcron" }),
            grant.clone(),
        ),
    )
    .await;
    assert_eq!(e["state"], "succeeded", "{e}");
    let result: Value = serde_json::from_str(e["result"].as_str().unwrap()).unwrap();
    assert_eq!(result["status"], 200);
    let (_, e) = run_job(
        &server,
        example(
            "HttpCheck",
            json!({ "url": peer.url("/status/503") }),
            grant.clone(),
        ),
    )
    .await;
    assert_eq!(e["state"], "failed", "{e}");
    assert!(e["result"].as_str().unwrap().contains("503"), "{e}");

    let (status, _) = server
        .call(
            Method::PUT,
            "/api/v1/secrets/SLACK_TOKEN",
            Some(&json!({ "value": "xoxb-test-123" }).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut webhook_grant = grant.clone();
    webhook_grant["secrets"] = json!(["SLACK_TOKEN"]);
    let (_, e) = run_job(
        &server,
        example(
            "Webhook",
            json!({ "url": peer.url("/hook"), "text": "deploy done", "token_secret": "SLACK_TOKEN" }),
            webhook_grant,
        ),
    )
    .await;
    assert_eq!(e["state"], "succeeded", "{e}");
    let requests = peer.requests.lock().unwrap().clone();
    let hook = requests
        .iter()
        .find(|r| r.starts_with("POST /hook"))
        .expect("the webhook was posted");
    assert!(hook.contains("Bearer xoxb-test-123"), "{hook}");
    assert!(hook.contains("deploy done"), "{hook}");
}
