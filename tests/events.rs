//! The live event streams (`docs/api.md#live-events`) over real HTTP: a followed run's
//! log lines and progress arrive before its final state and the stream ends; a finished
//! execution's stream is its state and the end; an unknown one is a JSON 404;
//! `/api/v1/events` opens with a comment and shows a job's state changes; a shutdown
//! ends open streams.

mod common;

use common::{Server, ServerOptions, tmp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// A generous bound on any one wait, so that a broken stream fails the test instead of
/// hanging it (no test here measures time).
const HANG_GUARD: Duration = Duration::from_secs(120);

/// One event of a stream: its name and its JSON data.
#[derive(Debug, Clone)]
struct Event {
    name: String,
    data: Value,
}

/// A Server-Sent Events stream read as it comes.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    async fn open(server: &Server, path: &str) -> EventStream {
        let response = server
            .client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert_eq!(content_type, "text/event-stream", "{path}");
        EventStream {
            response,
            buffer: String::new(),
        }
    }

    /// The next event, comments (keep-alives) skipped; `None` once the server ended
    /// the stream.
    async fn next(&mut self) -> Option<Event> {
        tokio::time::timeout(HANG_GUARD, self.next_unguarded())
            .await
            .expect("the stream sent nothing and did not end")
    }

    async fn next_unguarded(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block = self.buffer[..end].to_owned();
                self.buffer.drain(..end + 2);
                let mut name = None;
                let mut data = None;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        name = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        assert!(data.is_none(), "one data line per event: {block}");
                        data = Some(serde_json::from_str(v).expect("data is JSON"));
                    } else {
                        assert!(line.starts_with(':'), "unexpected line {line:?}");
                    }
                }
                match (name, data) {
                    (Some(name), Some(data)) => return Some(Event { name, data }),
                    (None, None) => continue,
                    other => panic!("an event without a name or data: {other:?}"),
                }
            }
            let chunk = self.response.chunk().await.expect("reading the stream")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// Every event until the end of the stream.
    async fn rest(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }
}

async fn add_job(server: &Server, class: &str, pub_args: Value) -> String {
    add_job_with(server, class, pub_args, json!({})).await
}

/// A job of `class` that fires only when run, with `options` (e.g. `env`, `secrets`).
async fn add_job_with(server: &Server, class: &str, pub_args: Value, options: Value) -> String {
    server.add_testing_job(class, pub_args, options).await
}

async fn run_now(server: &Server, job_id: &str) -> String {
    server.run_now(job_id).await
}

async fn execution(server: &Server, execution_id: &str) -> Value {
    let (status, body) = server
        .get(&format!("/api/v1/executions/{execution_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Polls until the execution is in `state`.
async fn wait_for_state(server: &Server, execution_id: &str, state: &str) {
    tokio::time::timeout(HANG_GUARD, async {
        while execution(server, execution_id).await["state"] != state {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{execution_id} never became {state}"));
}

/// With one run slot taken by a sleeping run, a run-now waits `scheduled` for it: the
/// streams are open before the run starts, and the run starts when the sleeper is
/// cancelled. The run logs a secret's value: the stream shows it masked, as the stored
/// logs do.
#[tokio::test]
async fn a_followed_run_streams_its_logs_and_progress_before_its_final_state_and_ends() {
    const SECRET: &str = "s3cr3t-VALUE-4242";
    let dir = tmp();
    let key = dir.path().join("key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    let server = ServerOptions::new(&dir.path().join("data"))
        .arg("--max-concurrent-runs")
        .arg("1")
        .arg("--secret-key-file")
        .arg(key.to_str().unwrap())
        .start();
    let (status, body) = server
        .call(
            reqwest::Method::PUT,
            "/api/v1/secrets/ONE",
            Some(&json!({ "value": SECRET }).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sleeper_job = add_job(&server, "Sleep", json!({"seconds": 3600})).await;
    let sleeper = run_now(&server, &sleeper_job).await;
    wait_for_state(&server, &sleeper, "running").await;

    let job = add_job_with(
        &server,
        "Env",
        json!({"names": ["ONE", "TWO"]}),
        json!({"secrets": ["ONE"], "env": {"TWO": "two"}}),
    )
    .await;
    let mut all = EventStream::open(&server, &format!("/api/v1/events?job_id={job}")).await;
    let mut everything = EventStream::open(&server, "/api/v1/events").await;
    let waiting = run_now(&server, &job).await;
    let mut follow =
        EventStream::open(&server, &format!("/api/v1/executions/{waiting}/events")).await;
    let first = follow.next().await.expect("the current state first");
    assert_eq!(first.name, "state");
    assert_eq!(first.data["execution_id"], waiting.as_str());
    assert_eq!(first.data["state"], "scheduled", "it waits for the slot");
    // `/api/v1/events?job_id=` shows it waiting, and nothing of the sleeper.
    let waits = all.next().await.expect("an event");
    assert_eq!(waits.name, "state");
    assert_eq!(waits.data["execution_id"], waiting.as_str(), "{waits:?}");
    assert_eq!(waits.data["state"], "scheduled", "{waits:?}");

    let (status, body) = server
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/executions/{sleeper}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let events = follow.rest().await;
    let (last, before) = events.split_last().expect("events after the first");
    assert_eq!(
        last.name, "state",
        "the stream ends with the state: {events:?}"
    );
    assert_eq!(last.data["state"], "succeeded", "{last:?}");
    let logs: Vec<&Value> = before
        .iter()
        .filter(|e| e.name == "log")
        .map(|e| &e.data)
        .collect();
    assert_eq!(
        logs,
        [
            &json!({"level": "info", "message": "ONE=***"}),
            &json!({"level": "info", "message": "TWO=two"})
        ],
        "{events:?}"
    );
    let progress: Vec<&Value> = before
        .iter()
        .filter(|e| e.name == "progress")
        .map(|e| &e.data)
        .collect();
    assert_eq!(
        progress,
        [
            &json!({"percent": 50, "message": "ONE=***"}),
            &json!({"percent": 100, "message": "TWO=two"})
        ]
    );
    assert!(
        !format!("{events:?}").contains(SECRET),
        "the stream showed the secret"
    );
    for e in before.iter().filter(|e| e.name == "state") {
        assert_eq!(
            e.data["state"], "running",
            "only running comes between: {e:?}"
        );
    }
    // The final state is the execution as its GET shows it, with the stored logs.
    assert_eq!(last.data, execution(&server, &waiting).await);
    assert_eq!(last.data["logs"], json!(logs));

    // Then its end, as the execution's GET shows it (after `running`, if it showed).
    let ended = loop {
        let event = all.next().await.expect("the stream goes on");
        assert_eq!(event.name, "state");
        assert_eq!(event.data["execution_id"], waiting.as_str(), "{event:?}");
        if event.data["state"] != "running" {
            break event;
        }
    };
    assert_eq!(ended.data, last.data);
    // Without a filter, the sleeper's cancel shows too.
    let mut sleeper_states = Vec::new();
    let mut waiting_done = false;
    while !(waiting_done && sleeper_states.last().is_some_and(|s| s == "stopped")) {
        let event = everything.next().await.expect("the stream goes on");
        let state = event.data["state"].as_str().unwrap().to_owned();
        if event.data["execution_id"] == sleeper.as_str() {
            sleeper_states.push(state);
        } else if event.data["execution_id"] == waiting.as_str() && state == "succeeded" {
            waiting_done = true;
        }
    }
    assert!(
        sleeper_states
            .iter()
            .all(|s| s == "stopping" || s == "stopped"),
        "{sleeper_states:?}"
    );
}

/// A burst of runs: `/api/v1/events` shows each run's final state once, after any
/// unfinished one, as the execution's GET shows it.
#[tokio::test]
async fn every_run_of_a_burst_shows_its_final_state_once() {
    const RUNS: usize = 40;
    let dir = tmp();
    let server = Server::start(dir.path());
    let job = add_job(&server, "Echo", json!({"n": 1})).await;
    let mut all = EventStream::open(&server, "/api/v1/events").await;
    let runs = futures::future::join_all((0..RUNS).map(|_| run_now(&server, &job))).await;
    let mut finals = std::collections::HashMap::new();
    while finals.len() < RUNS {
        let event = all.next().await.expect("the stream goes on");
        assert_eq!(event.name, "state");
        let id = event.data["execution_id"].as_str().unwrap().to_owned();
        assert!(runs.contains(&id), "{event:?}");
        assert!(
            !finals.contains_key(&id),
            "a state after the final one: {event:?}"
        );
        if !["scheduled", "running"].contains(&event.data["state"].as_str().unwrap()) {
            finals.insert(id, event.data);
        }
    }
    for (id, shown) in finals {
        assert_eq!(shown["state"], "succeeded", "{shown}");
        assert_eq!(shown, execution(&server, &id).await);
    }
}

#[tokio::test]
async fn a_finished_executions_stream_is_its_state_then_the_end() {
    let dir = tmp();
    let server = Server::start(dir.path());
    let job = add_job(&server, "Echo", json!({"hello": "world"})).await;
    let id = run_now(&server, &job).await;
    let finished = server.wait_finished(&id, HANG_GUARD).await;
    assert_eq!(finished["state"], "succeeded");
    let events = EventStream::open(&server, &format!("/api/v1/executions/{id}/events"))
        .await
        .rest()
        .await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].name, "state");
    assert_eq!(events[0].data, finished);
}

#[tokio::test]
async fn an_unknown_execution_has_no_stream_but_a_json_404() {
    let dir = tmp();
    let server = Server::start(dir.path());
    let id = "0123456789abcdef0123456789abcdef";
    let response = server
        .client
        .get(format!("{}/api/v1/executions/{id}/events", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"error": format!("Execution not found: {id}")}));
}

/// `/api/v1/events` says something as soon as it is open, before any change: Firefox
/// fires an EventSource's `open` only on the body's first bytes (the console shows
/// "live" then).
#[tokio::test]
async fn the_stream_of_every_change_opens_with_a_comment() {
    let dir = tmp();
    let server = Server::start(dir.path());
    let mut all = EventStream::open(&server, "/api/v1/events").await;
    let first = tokio::time::timeout(HANG_GUARD, all.response.chunk())
        .await
        .expect("the stream sent nothing")
        .expect("reading the stream")
        .expect("the stream ended");
    assert_eq!(std::str::from_utf8(&first).unwrap(), ": connected\n\n");
}

/// A stream that never ends by itself must not hold a shutdown: the server closes it.
#[tokio::test]
async fn a_shutdown_ends_the_open_streams() {
    let dir = tmp();
    let mut server = Server::start(dir.path());
    let mut all = EventStream::open(&server, "/api/v1/events").await;
    let status = server.terminate(HANG_GUARD);
    assert!(status.success(), "{status:?}");
    assert!(all.next().await.is_none(), "the stream ended");
}
