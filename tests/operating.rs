//! Operating the server (docs/operating.md), against a real server process with a real
//! SQLite file and the real example plugins: `/metrics` after runs, `/readyz` when the
//! database goes away, the version, and JSON log lines.

mod common;

use common::{Server, ServerOptions, tmp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// One sample of Prometheus' text format: `name{label="value",...} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of a text exposition (comments skipped). Panics on a line that is not
/// one: the format itself is under test.
fn parse_exposition(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| parse_sample(line).unwrap_or_else(|| panic!("not a sample: {line:?}")))
        .collect()
}

fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = inner.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    (_, c) => value.push(c),
                }
            };
            labels.insert(key.to_owned(), value);
            inner = after[end + 1..]
                .strip_prefix(',')
                .unwrap_or(&after[end + 1..]);
        }
    }
    let value = match rest.trim() {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// The sum of the samples named `name` whose labels include `labels`.
fn total(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

/// Scrapes `/metrics`: its samples and its text.
async fn scrape(server: &Server) -> (Vec<Sample>, String) {
    let response = server
        .client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    (parse_exposition(&text), text)
}

/// A job of the testing plugin that only runs when asked.
fn testing_job(class: &str, args: Value) -> Value {
    json!({
        "job_class_string": format!("wasmcron.testing.{class}"), "name": class,
        "pub_args": args, "month": "1", "day": "1", "hour": "0", "minute": "0",
    })
}

/// Runs a job now and waits for its final execution.
async fn run_to_the_end(server: &Server, job_id: &str) -> Value {
    let (status, run) = server
        .post(&format!("/api/v1/executions/{job_id}"), "")
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let id = run["execution_id"].as_str().unwrap();
    server.wait_finished(id, Duration::from_secs(30)).await
}

/// After a succeeded, a failed and a timed-out run, each is counted under its state
/// (the failure under its kind), the lateness and duration histograms counted the three
/// runs, HTTP requests are counted by route template (never by raw path), the gauges
/// show the server's state; the version answers in the API and on the command line;
/// the text log has no colour codes when stderr is a file; and `/readyz` turns 503 once
/// the database file is gone from under the running server, while `/healthz` still
/// answers.
#[tokio::test]
async fn metrics_after_runs_version_and_readiness_when_the_database_goes() {
    let dir = tmp();
    let data = dir.path().join("data");
    let server = ServerOptions::new(&data)
        .arg("--timeout-seconds")
        .arg("1")
        .start();

    let (before, text) = scrape(&server).await;
    assert_eq!(
        total(
            &before,
            "wasmcron_fire_lateness_seconds_count",
            &[("run_kind", "run_now")]
        ),
        0.0,
        "{text}"
    );

    let echo = server.add_job(testing_job("Echo", json!({"n": 1}))).await;
    let fail = server
        .add_job(testing_job("Fail", json!({"message": "no"})))
        .await;
    let spin = server.add_job(testing_job("Spin", json!({}))).await;
    let succeeded = run_to_the_end(&server, &echo).await;
    assert_eq!(succeeded["state"], "succeeded", "{succeeded}");
    let failed = run_to_the_end(&server, &fail).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let timed_out = run_to_the_end(&server, &spin).await;
    assert_eq!(timed_out["state"], "timeout", "{timed_out}");
    let (status, _) = server.get("/no/such/path").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (after, text) = scrape(&server).await;
    let executions = |state: &str, failure_kind: &str| {
        total(
            &after,
            "wasmcron_executions_total",
            &[("state", state), ("failure_kind", failure_kind)],
        )
    };
    assert_eq!(executions("succeeded", ""), 1.0, "{text}");
    assert_eq!(executions("failed", "job_error"), 1.0, "{text}");
    assert_eq!(executions("timeout", ""), 1.0, "{text}");
    assert_eq!(
        total(&after, "wasmcron_executions_total", &[]),
        3.0,
        "nothing else ended: {text}"
    );
    assert_eq!(
        total(
            &after,
            "wasmcron_fire_lateness_seconds_count",
            &[("run_kind", "run_now")]
        ),
        3.0,
        "{text}"
    );
    let late_le_inf = total(
        &after,
        "wasmcron_fire_lateness_seconds_bucket",
        &[("run_kind", "run_now"), ("le", "+Inf")],
    );
    assert_eq!(late_le_inf, 3.0, "{text}");
    assert_eq!(
        total(&after, "wasmcron_run_duration_seconds_count", &[]),
        3.0,
        "{text}"
    );

    // Requests by route template: the execution polled above under its route's
    // template, no id anywhere, an unknown path as `unmatched`.
    let polled = total(
        &after,
        "wasmcron_http_requests_total",
        &[
            ("route", "/api/v1/executions/{id}"),
            ("method", "GET"),
            ("status", "200"),
        ],
    );
    assert!(polled >= 3.0, "{text}");
    let execution_id = succeeded["execution_id"].as_str().unwrap();
    assert!(!text.contains(execution_id), "a raw path leaked: {text}");
    assert!(!text.contains(&echo), "a job id leaked: {text}");
    assert_eq!(
        total(
            &after,
            "wasmcron_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0,
        "{text}"
    );

    // The gauges read from the server's state, and the store's group commit.
    assert_eq!(
        total(&after, "wasmcron_jobs", &[("state", "active")]),
        3.0,
        "{text}"
    );
    assert_eq!(
        total(&after, "wasmcron_jobs", &[("state", "paused")]),
        0.0,
        "{text}"
    );
    let (_, plugins) = server.get("/api/v1/plugins").await;
    let installed = plugins["plugins"].as_array().unwrap().len() as f64;
    assert_eq!(
        total(&after, "wasmcron_plugins_installed", &[]),
        installed,
        "{text}"
    );
    assert!(
        total(&after, "wasmcron_plugin_compile_seconds_count", &[]) >= 1.0,
        "a fresh data directory compiles the plugins: {text}"
    );
    assert_eq!(total(&after, "wasmcron_runs_in_progress", &[]), 0.0);
    assert_eq!(total(&after, "wasmcron_runs_waiting_for_slot", &[]), 0.0);
    assert_eq!(total(&after, "wasmcron_retries_pending", &[]), 0.0);
    assert!(total(&after, "wasmcron_store_batch_writes_count", &[]) >= 1.0);
    assert!(total(&after, "wasmcron_store_batch_commit_seconds_count", &[]) >= 1.0);
    assert!(
        !text.contains("job_id"),
        "per-job series are opt-in: {text}"
    );

    // The version, in the API and on the command line, with the same commit.
    let (status, version) = server.get("/api/v1/version").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        version["wit_worlds"],
        json!([
            "wasmcron:job@0.3.0",
            "wasmcron:job@0.2.0",
            "wasmcron:job@0.1.0"
        ])
    );
    let commit = version["git_commit"].as_str().unwrap();
    assert!(!commit.is_empty());
    assert_eq!(
        total(
            &after,
            "wasmcron_build_info",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("git_commit", commit)
            ]
        ),
        1.0,
        "{text}"
    );
    let cli = std::process::Command::new(common::binary())
        .arg("--version")
        .output()
        .unwrap();
    assert!(cli.status.success());
    assert_eq!(
        String::from_utf8(cli.stdout).unwrap(),
        format!("wasmcron {} (commit {commit})\n", env!("CARGO_PKG_VERSION"))
    );

    // stderr is a file here: no colour codes in the text log.
    let log = server.stderr();
    assert!(log.contains("run finished"), "{log}");
    assert!(!log.contains('\u{1b}'), "ANSI codes in a file:\n{log}");

    // The database goes from under the running server: on SQLite the file is deleted (a
    // lost volume: its open connections still answer, but a new one cannot open it); on
    // PostgreSQL the database is dropped (its connections are closed). Not ready.
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    common::database::destroy(&data);
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.starts_with("not ready: the database does not answer"),
        "{body}"
    );
    assert_eq!(body["checks"]["database"]["ok"], false, "{body}");
    assert_eq!(body["checks"]["scheduler"]["ok"], true, "{body}");
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK, "alive, only not ready");
}

/// `--log-format json` writes one JSON object a line, and every line written in a run
/// carries its job and execution ids; `--metrics-per-job` adds the per-job series.
#[tokio::test]
async fn json_logs_carry_the_run_ids_and_per_job_metrics_are_opt_in() {
    let dir = tmp();
    let server = ServerOptions::new(&dir.path().join("data"))
        .arg("--log-format")
        .arg("json")
        .arg("--metrics-per-job")
        .start();
    let job_id = server.add_job(testing_job("Echo", json!({"n": 2}))).await;
    let execution = run_to_the_end(&server, &job_id).await;
    assert_eq!(execution["state"], "succeeded", "{execution}");
    let execution_id = execution["execution_id"].as_str().unwrap();

    let log = server.stderr();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(
            line["timestamp"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    let of_the_run: Vec<&Value> = lines
        .iter()
        .filter(|l| l["span"]["execution_id"] == execution_id)
        .collect();
    assert!(
        of_the_run
            .iter()
            .any(|l| l["message"] == "run finished" && l["span"]["job_id"] == job_id.as_str()),
        "{log}"
    );

    let (samples, text) = scrape(&server).await;
    assert_eq!(
        total(
            &samples,
            "wasmcron_job_executions_total",
            &[("job_id", &job_id), ("state", "succeeded")]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        total(
            &samples,
            "wasmcron_job_run_duration_seconds_count",
            &[("job_id", &job_id)]
        ),
        1.0,
        "{text}"
    );
}
