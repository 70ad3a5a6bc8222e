//! Clients that give up mid-request, black-box: requests that change state, sent on
//! connections closed right after the request is written (as an HTTP client with a
//! short timeout, or a load tool stopped abruptly, does). Whatever the server had begun
//! must be finished: every execution reaches a final state within seconds, every
//! change has its audit entry, and nothing that did not happen leaves a trace.

mod common;

use common::{Server, plugin, tmp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Sends one request on a fresh connection and closes it without reading the answer.
async fn send_and_leave(base: &str, method: &str, path: &str, body: &[u8]) {
    let addr = base.trim_start_matches("http://");
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(body).await.unwrap();
    drop(socket);
}

async fn all(server: &Server, path: &str, key: &str) -> Vec<Value> {
    let (status, json) = server.get(path).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    json[key].as_array().unwrap().clone()
}

async fn executions(server: &Server) -> Vec<Value> {
    all(
        server,
        "/api/v1/executions?time_range_start=2000-01-01&time_range_end=2100-01-01",
        "executions",
    )
    .await
}

async fn audit(server: &Server) -> Vec<Value> {
    all(
        server,
        "/api/v1/logs?time_range_start=2000-01-01&time_range_end=2100-01-01",
        "logs",
    )
    .await
}

/// A server with one job (`Echo`, due next New Year) to run now; its id.
async fn server_with_a_job(dir: &common::TestDir) -> (Server, String) {
    let server = Server::start(&dir.path().join("data"));
    let job_id = server
        .add_job(json!({
            "name": "target", "job_class_string": "wasmcron.testing.Echo", "pub_args": {},
            "month": "1", "day": "1", "hour": "0", "minute": "0",
        }))
        .await;
    (server, job_id)
}

/// Waits until no execution is unfinished, or fails naming them.
async fn all_finished(server: &Server, limit: Duration) -> Vec<Value> {
    let deadline = Instant::now() + limit;
    loop {
        let list = executions(server).await;
        let unfinished: Vec<&Value> = list
            .iter()
            .filter(|e| {
                ["scheduled", "running", "stopping"].contains(&e["state"].as_str().unwrap())
            })
            .collect();
        if unfinished.is_empty() {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "{} executions still unfinished after {limit:?}, e.g. {}",
            unfinished.len(),
            unfinished[0]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_whose_client_left_are_finished_or_leave_no_trace() {
    let dir = tmp();
    let (server, job_id) = server_with_a_job(&dir).await;
    let stats = std::fs::read(plugin("wasmcron.examples.stats")).unwrap();

    let mut sends = Vec::new();
    for i in 0..300 {
        let base = server.base.clone();
        let job_id = job_id.clone();
        let stats = stats.clone();
        sends.push(tokio::spawn(async move {
            match i % 6 {
                0 => {
                    let body = json!({
                        "name": format!("left-{i}"), "job_class_string": "wasmcron.testing.Echo",
                        "pub_args": {}, "month": "1", "day": "1", "hour": "0", "minute": "0",
                    });
                    send_and_leave(&base, "POST", "/api/v1/jobs", body.to_string().as_bytes()).await
                }
                1 => {
                    send_and_leave(&base, "POST", &format!("/api/v1/plugins/left-{i}"), &stats)
                        .await
                }
                2 => {
                    let path = if i % 12 == 2 { "pause" } else { "resume" };
                    send_and_leave(&base, "POST", &format!("/api/v1/jobs/{job_id}/{path}"), b"")
                        .await
                }
                _ => {
                    send_and_leave(&base, "POST", &format!("/api/v1/executions/{job_id}"), b"")
                        .await
                }
            }
        }));
    }
    for send in sends {
        send.await.unwrap();
    }

    all_finished(&server, Duration::from_secs(20)).await;
    // Uploads still compiling when the last request was sent finish a little later:
    // what the server shows must converge to a state where every change that happened
    // has its audit entry, and every audit entry a change.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let outcome = compare_changes_with_audit(&server, &job_id).await;
        match outcome {
            Ok(runs) => {
                assert!(runs > 0, "no run-now got through at all");
                break;
            }
            Err(difference) if Instant::now() > deadline => panic!("{difference}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// The names starting with `left-` under `key` of each item.
fn left_names<'a>(items: impl Iterator<Item = &'a Value>, key: &str) -> HashSet<String> {
    items
        .filter_map(|item| item[key].as_str())
        .filter(|name| name.starts_with("left-"))
        .map(str::to_owned)
        .collect()
}

/// Whether the executions, jobs and plugins that exist match the audit trail one for
/// one; the number of runs, or what differs.
async fn compare_changes_with_audit(server: &Server, job_id: &str) -> Result<usize, String> {
    // Changes first, then the audit: an entry is written after its change.
    let list = executions(server).await;
    let (_, jobs) = server.get("/api/v1/jobs").await;
    let plugins = all(server, "/api/v1/plugins", "plugins").await;
    let log = audit(server).await;
    let audited = |event: &'static str| log.iter().filter(move |a| a["event"] == event);
    let runs: HashSet<String> = list
        .iter()
        .filter(|e| e["job_id"] == job_id)
        .map(|e| e["execution_id"].as_str().unwrap().to_owned())
        .collect();
    let audited_runs: HashSet<String> = audited("custom_run")
        .map(|a| a["description"].as_str().unwrap().to_owned())
        .collect();
    let made = left_names(jobs["jobs"].as_array().unwrap().iter(), "name");
    let installed = left_names(plugins.iter(), "name");
    for (what, done, logged) in [
        ("run-now executions", &runs, audited_runs),
        ("jobs", &made, left_names(audited("added"), "job_name")),
        (
            "plugins",
            &installed,
            left_names(audited("plugin_uploaded"), "job_name"),
        ),
    ] {
        if *done != logged {
            return Err(format!(
                "{what} and their audit entries differ: only done {:?}, only audited {:?}",
                done.difference(&logged).collect::<Vec<_>>(),
                logged.difference(done).collect::<Vec<_>>()
            ));
        }
    }
    Ok(runs.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_stopped_abruptly_leaves_nothing_unfinished() {
    let dir = tmp();
    let (server, job_id) = server_with_a_job(&dir).await;
    // 64 clients in a loop, as `wrk -c 64` does, all dropped at once mid-flight.
    let mut clients = Vec::new();
    for _ in 0..64 {
        let client = reqwest::Client::new();
        let url = format!("{}/api/v1/executions/{job_id}", server.base);
        clients.push(tokio::spawn(async move {
            loop {
                let _ = client.post(&url).send().await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for client in &clients {
        client.abort();
    }
    let list = all_finished(&server, Duration::from_secs(20)).await;
    assert!(list.len() > 64, "the load made only {} runs", list.len());
}
