//! `/api/v1` over real HTTP: every row of the contract (`docs/api.md`) against a
//! real server process with a real SQLite file and the real example plugins.

mod common;

use common::Server;
use common::{time, tmp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const SAMPLE: &str = "simple_scheduler.jobs.sample_job.AwesomeJob";

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

/// The seed's "Run it NOW" sequence, verbatim: create with 201, list, run.
#[tokio::test]
async fn the_seed_quick_start_works_verbatim() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let (status, body) = server
        .post(
            "/api/v1/jobs",
            "{\"job_class_string\": \"simple_scheduler.jobs.sample_job.AwesomeJob\", \
              \"name\": \"My first job\", \"pub_args\": [\"arg1\", 2], \
              \"trigger\": \"cron\", \"trigger_params\": {\"minute\": \"*/1\"}}",
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(keys(&body), ["job_id"]);
    let job_id = body["job_id"].as_str().unwrap();
    assert_eq!(job_id.len(), 32);
    assert!(
        job_id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );

    let (status, list) = server.get("/api/v1/jobs").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&list), ["jobs"]);
    let job = &list["jobs"][0];
    assert_eq!(job["job_id"], job_id);
    assert_eq!(job["name"], "My first job");
    assert_eq!(job["pub_args"], json!(["arg1", 2]));
    assert!(
        job["next_run_time"]
            .as_str()
            .unwrap()
            .ends_with(":00+00:00"),
        "{job}"
    );

    let (status, run) = server
        .post(&format!("/api/v1/executions/{job_id}"), "")
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(keys(&run), ["execution_id"]);
    let e = server
        .wait_finished(
            run["execution_id"].as_str().unwrap(),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(e["state"], "succeeded", "{e}");
    assert_eq!(e["result"], "[\n    \"arg1\",\n    2\n]");
}

/// Job JSON keys come in the contract's order, for cron and interval jobs, and the
/// cron defaulting rule fills in the less significant fields.
#[tokio::test]
async fn job_json_key_order_and_cron_defaulting() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let cron = server
        .add_job(json!({"job_class_string": SAMPLE, "name": "c", "trigger": "cron", "trigger_params": {"hour": "3"}}))
        .await;
    let (_, job) = server.get(&format!("/api/v1/jobs/{cron}")).await;
    // The original's keys in order; extensions (here only `state`) follow them.
    assert_eq!(keys(&job)[13..], ["state"]);
    assert_eq!(
        keys(&job)[..13],
        [
            "job_id",
            "name",
            "next_run_time",
            "job_class_string",
            "pub_args",
            "trigger",
            "trigger_params",
            "month",
            "day",
            "week",
            "day_of_week",
            "hour",
            "minute"
        ]
    );
    assert_eq!(
        keys(&job["trigger_params"]),
        ["month", "day_of_week", "day", "hour", "minute"]
    );
    assert_eq!(
        job["trigger_params"],
        json!({"month": "*", "day_of_week": "*", "day": "*", "hour": "3", "minute": "0"})
    );
    assert_eq!(
        (
            job["week"].as_str(),
            job["minute"].as_str(),
            job["pub_args"].clone()
        ),
        (Some("*"), Some("0"), json!([]))
    );
    assert!(
        job["next_run_time"]
            .as_str()
            .unwrap()
            .contains("T03:00:00+00:00"),
        "{job}"
    );

    // The original's flat form; month + day_of_week: hour and minute default to 0.
    let flat = server
        .add_job(json!({"job_class_string": SAMPLE, "name": "f", "month": "2", "day_of_week": "mon-fri"}))
        .await;
    let (_, job) = server.get(&format!("/api/v1/jobs/{flat}")).await;
    assert_eq!(job["trigger"], "cron");
    assert_eq!(
        job["trigger_params"],
        json!({"month": "2", "day_of_week": "mon-fri", "day": "*", "hour": "0", "minute": "0"})
    );

    let interval = server
        .add_job(json!({"job_class_string": SAMPLE, "name": "i", "pub_args": {"k": 1}, "trigger": "interval", "trigger_params": {"interval": 60}}))
        .await;
    let (_, job) = server.get(&format!("/api/v1/jobs/{interval}")).await;
    assert_eq!(
        keys(&job),
        [
            "job_id",
            "name",
            "next_run_time",
            "job_class_string",
            "pub_args",
            "trigger",
            "trigger_params",
            "state"
        ]
    );
    assert_eq!(job["trigger_params"], json!({"interval": 60}));
    assert_eq!(job["pub_args"], json!({"k": 1}));

    // Listed by next run time ascending, not in creation order (c, f, i): the interval
    // job, due within a minute, comes first (whatever the time of day the test runs at,
    // the order is checked against the times themselves).
    let (_, list) = server.get("/api/v1/jobs/").await;
    let jobs = list["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 3);
    let times: Vec<_> = jobs.iter().map(|j| time(&j["next_run_time"])).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{list}");
}

/// Every client mistake is a 400 with one clear `{"error"}` sentence.
#[tokio::test]
async fn bad_job_bodies_get_clear_400s() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let cases: Vec<(&str, &str)> = vec![
        (
            r#"{"job_class_string": "simple_scheduler.jobs.sample_job.AwesomeJob", "minute": "1"}"#,
            "missing required field 'name'",
        ),
        (
            r#"{"name": "x", "minute": "1"}"#,
            "missing required field 'job_class_string'",
        ),
        (
            r#"{"name": "", "job_class_string": "simple_scheduler.jobs.sample_job.AwesomeJob", "minute": "1"}"#,
            "'name' must not be empty",
        ),
        (
            r#"{"name": "x", "job_class_string": "simple_scheduler.jobs.sample_job.AwesomeJob"}"#,
            "Require at least one of following parameters: ['month', 'day', 'hour', 'minute', 'day_of_week']",
        ),
        (
            r#"{"name": "x", "job_class_string": "simple_scheduler.jobs.sample_job.AwesomeJob", "trigger": "cron", "trigger_params": {"minute": "61"}}"#,
            "invalid minute expression '61': 61 is outside 0..59",
        ),
        (
            r#"{"name": "x", "job_class_string": "simple_scheduler.jobs.sample_job.AwesomeJob", "day_of_week": "funday"}"#,
            "invalid day_of_week expression 'funday': 'funday' is not a number from 0 to 6 or one of mon, tue, wed, thu, fri, sat, sun",
        ),
        (
            r#"{"name": "x", "job_class_string": "simple_scheduler.jobs.sample_job.AwesomeJob", "hour": ""}"#,
            "the hour field is empty: give an expression such as '*'",
        ),
        (
            r#"{"name": "x", "job_class_string": "simple_scheduler.jobs.sample_job.AwesomeJob", "trigger": "interval", "trigger_params": {"interval": 0}}"#,
            "invalid interval 0: it must be a whole number of seconds, at least 1 (and at most ten years)",
        ),
        (
            r#"{"name": "x", "job_class_string": "simple_scheduler.jobs.sample_job.AwesomeJob", "trigger": "interval", "trigger_params": {"interval": "soon"}}"#,
            "invalid interval \"soon\": it must be a whole number of seconds, at least 1 (and at most ten years)",
        ),
        (
            r#"{"name": "x", "job_class_string": "simple_scheduler.jobs.sample_job.AwesomeJob", "trigger": "weekly", "trigger_params": {}}"#,
            "'trigger' must be \"cron\", \"interval\" or \"date\", got \"weekly\"",
        ),
        (
            r#"{"name": "x", "job_class_string": "simple_scheduler.jobs.sample_job.AwesomeJob", "minite": "5", "minute": "1"}"#,
            "unknown key 'minite'",
        ),
        (
            r#"{"name": "x", "job_class_string": "simple_scheduler.jobs.sample_job.AwesomeJob", "minute": "1", "pub_args": "abc"}"#,
            "'pub_args' must be a JSON array or object, got a string",
        ),
        (
            r#"{"name": "x", "job_class_string": "nope.Job", "minute": "1"}"#,
            "unknown job class 'nope.Job': no plugin named 'nope' is installed; installed classes: simple_scheduler.jobs.sample_job.AwesomeJob, ",
        ),
        (
            r#"{"name": "x", "job_class_string": "simple_scheduler.jobs.sample_job.Nope", "minute": "1"}"#,
            "unknown job class 'simple_scheduler.jobs.sample_job.Nope': plugin 'simple_scheduler.jobs.sample_job' has no class 'Nope'",
        ),
        (
            r#"{"name": "x", "job_class_string": "simple_scheduler.jobs.sample_job.AwesomeJob", "month": "2", "day": "30"}"#,
            "the cron schedule never fires",
        ),
        (r#"{"name": "x", "#, "the request body is not valid JSON"),
        (r#"["a list"]"#, "the request body must be a JSON object"),
    ];
    for (body, expected) in cases {
        for (method, path) in [(Method::POST, "/api/v1/jobs".to_owned())] {
            let (status, json) = server.call(method, &path, Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {json}");
            assert_eq!(keys(&json), ["error"]);
            let message = json["error"].as_str().unwrap();
            assert!(
                message.starts_with(expected),
                "{body}\n  got:      {message}\n  expected: {expected}"
            );
        }
    }
    // Nothing was created by any of them.
    let (_, list) = server.get("/api/v1/jobs").await;
    assert_eq!(list["jobs"], json!([]));
}

/// Every id route answers an unknown id with the original's 400 and wording.
#[tokio::test]
async fn unknown_ids_on_every_id_route() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let id = "0123456789abcdef0123456789abcdef";
    let body = json!({"job_class_string": SAMPLE, "name": "x", "minute": "1"}).to_string();
    let job_routes = [
        (Method::GET, format!("/api/v1/jobs/{id}"), None),
        (
            Method::PUT,
            format!("/api/v1/jobs/{id}"),
            Some(body.as_str()),
        ),
        (Method::DELETE, format!("/api/v1/jobs/{id}"), None),
        (Method::PATCH, format!("/api/v1/jobs/{id}"), None),
        (Method::OPTIONS, format!("/api/v1/jobs/{id}"), None),
        (Method::POST, format!("/api/v1/jobs/{id}/pause"), None),
        (Method::POST, format!("/api/v1/jobs/{id}/resume"), None),
        (Method::POST, format!("/api/v1/executions/{id}"), None),
    ];
    for (method, path, body) in job_routes {
        let (status, json) = server.call(method.clone(), &path, body).await;
        assert_eq!(
            (status, json.clone()),
            (
                StatusCode::BAD_REQUEST,
                json!({"error": format!("Job not found: {id}")})
            ),
            "{method} {path}"
        );
    }
    let (status, json) = server
        .post("/api/v1/executions", &json!({"job_id": id}).to_string())
        .await;
    assert_eq!(
        (status, json),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": format!("Job not found: {id}")})
        )
    );
    for method in [Method::GET, Method::DELETE] {
        let (status, json) = server
            .call(method, &format!("/api/v1/executions/{id}"), None)
            .await;
        assert_eq!(
            (status, json),
            (
                StatusCode::BAD_REQUEST,
                json!({"error": format!("Execution not found: {id}")})
            )
        );
    }
    let (status, json) = server.post("/api/v1/executions", "{}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json["error"].as_str().unwrap().contains("'job_id'"));
}

/// Unknown paths are 404 and unsupported methods 405, both with a JSON error.
#[tokio::test]
async fn unknown_paths_and_methods_answer_json() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let (status, json) = server.get("/api/v1/nothing").await;
    assert_eq!(
        (status, keys(&json)),
        (StatusCode::NOT_FOUND, vec!["error"])
    );
    // `/` is the web console's page (tests/console.rs); other root paths are unknown.
    let (status, json) = server.get("/nothing").await;
    assert_eq!(
        (status, keys(&json)),
        (StatusCode::NOT_FOUND, vec!["error"])
    );
    let (status, json) = server.call(Method::DELETE, "/api/v1/jobs", None).await;
    assert_eq!(
        (status, keys(&json)),
        (StatusCode::METHOD_NOT_ALLOWED, vec!["error"])
    );
    let (status, json) = server.call(Method::PUT, "/api/v1/logs", None).await;
    assert_eq!(
        (status, keys(&json)),
        (StatusCode::METHOD_NOT_ALLOWED, vec!["error"])
    );
    let (status, _) = server.get("/api/v1/logs/").await;
    assert_eq!(status, StatusCode::OK);
}

/// Pause (PATCH and POST .../pause) empties next_run_time and sorts the job last;
/// resume (OPTIONS and POST .../resume) computes it again; a CORS preflight never
/// resumes.
#[tokio::test]
async fn pause_resume_and_cors_preflight() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let a = server
        .add_job(json!({"job_class_string": SAMPLE, "name": "a", "minute": "*/5"}))
        .await;
    let b = server.add_job(json!({"job_class_string": SAMPLE, "name": "b", "trigger": "interval", "trigger_params": {"interval": 86400}})).await;
    let job = |id: String| {
        let s = &server;
        async move { s.get(&format!("/api/v1/jobs/{id}")).await.1 }
    };
    for _ in 0..2 {
        // idempotent
        let (status, json) = server
            .call(Method::PATCH, &format!("/api/v1/jobs/{a}"), None)
            .await;
        assert_eq!((status, json), (StatusCode::OK, json!({"job_id": a})));
    }
    assert_eq!(job(a.clone()).await["next_run_time"], "");
    let (_, list) = server.get("/api/v1/jobs").await;
    assert_eq!(list["jobs"][1]["job_id"], a, "paused jobs sort last");

    // A browser preflight: answered, and the job stays paused.
    let resp = server
        .client
        .request(Method::OPTIONS, format!("{}/api/v1/jobs/{a}", server.base))
        .header("Origin", "http://example.test")
        .header("Access-Control-Request-Method", "PUT")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    assert_eq!(job(a.clone()).await["next_run_time"], "");

    let (status, json) = server
        .call(Method::OPTIONS, &format!("/api/v1/jobs/{a}"), None)
        .await;
    assert_eq!((status, json), (StatusCode::OK, json!({"job_id": a})));
    let next = job(a.clone()).await["next_run_time"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!next.is_empty());

    let (status, _) = server.post(&format!("/api/v1/jobs/{b}/pause"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job(b.clone()).await["next_run_time"], "");
    let (status, _) = server.post(&format!("/api/v1/jobs/{b}/resume"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(job(b.clone()).await["next_run_time"], "");

    let (_, logs) = server.get("/api/v1/logs").await;
    let events: Vec<&str> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "resumed", "paused", "resumed", "paused", "paused", "added", "added"
        ]
    );
}

/// PUT replaces the definition (a paused job stays paused) and audits the change as
/// plain `field: old => new` lines; DELETE keeps the executions, without their job.
#[tokio::test]
async fn modify_delete_and_audit_descriptions() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let id = server
        .add_job(
            json!({"job_class_string": SAMPLE, "name": "old", "pub_args": [1], "minute": "*/5"}),
        )
        .await;
    server
        .call(Method::PATCH, &format!("/api/v1/jobs/{id}"), None)
        .await;
    let (status, json) = server
        .call(Method::PUT, &format!("/api/v1/jobs/{id}"), Some(&json!({"job_class_string": SAMPLE, "name": "new", "pub_args": [1, 2], "trigger": "cron", "trigger_params": {"minute": "*/5"}}).to_string()))
        .await;
    assert_eq!((status, json), (StatusCode::OK, json!({"job_id": id})));
    let (_, job) = server.get(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(
        (job["name"].as_str(), job["next_run_time"].as_str()),
        (Some("new"), Some(""))
    );
    assert_eq!(job["pub_args"], json!([1, 2]));

    // A GET result sent back as a PUT is accepted (read-only keys included).
    let mut round_trip = job.clone();
    round_trip["name"] = json!("newer");
    let (status, _) = server
        .call(
            Method::PUT,
            &format!("/api/v1/jobs/{id}"),
            Some(&round_trip.to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_, run) = server.post(&format!("/api/v1/executions/{id}"), "").await;
    let execution_id = run["execution_id"].as_str().unwrap().to_owned();
    let e = server
        .wait_finished(&execution_id, Duration::from_secs(10))
        .await;
    assert_eq!(e["job"]["name"], "newer");
    assert_eq!(e["job"]["task_name"], SAMPLE);

    let (status, json) = server
        .call(Method::DELETE, &format!("/api/v1/jobs/{id}"), None)
        .await;
    assert_eq!((status, json), (StatusCode::OK, json!({"job_id": id})));
    let (status, e) = server
        .get(&format!("/api/v1/executions/{execution_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(e.get("job").is_none(), "{e}");
    assert_eq!(e["state"], "succeeded");

    let (_, logs) = server.get("/api/v1/logs").await;
    let logs = logs["logs"].as_array().unwrap();
    assert_eq!(
        keys(&logs[0]),
        [
            "job_id",
            "job_name",
            "event",
            "user",
            "created_time",
            "description"
        ]
    );
    let by_event = |event: &str| {
        logs.iter()
            .filter(|l| l["event"] == event)
            .cloned()
            .collect::<Vec<_>>()
    };
    let modified = by_event("modified");
    assert_eq!(modified.len(), 2);
    assert_eq!(
        modified[1]["description"],
        "name: old => new\npub_args: [1] => [1,2]"
    );
    assert_eq!(modified[0]["description"], "name: new => newer");
    assert_eq!(
        by_event("custom_run")[0]["description"],
        execution_id.as_str()
    );
    let deleted = &by_event("deleted")[0];
    let as_was: Value = serde_json::from_str(deleted["description"].as_str().unwrap()).unwrap();
    assert_eq!(as_was["name"], "newer");
    assert_eq!(deleted["job_name"], "newer");
    assert_eq!(deleted["user"], "");
    assert_eq!(by_event("added")[0]["description"], Value::Null);
}

/// Executions: key order, both run-now forms, time-range defaults, offsets converted
/// to UTC, bad ranges refused, start after end empty.
#[tokio::test]
async fn executions_and_time_ranges() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let id = server.add_job(json!({"job_class_string": SAMPLE, "name": "x", "pub_args": {"b": 1, "a": [2]}, "minute": "0", "hour": "0"})).await;
    let (status, run) = server
        .post("/api/v1/executions", &json!({"job_id": id}).to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let e = server
        .wait_finished(
            run["execution_id"].as_str().unwrap(),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(
        &keys(&e)[..10],
        [
            "execution_id",
            "state",
            "hostname",
            "pid",
            "task_id",
            "description",
            "result",
            "scheduled_time",
            "updated_time",
            "job"
        ]
    );
    assert_eq!(
        e["result"], "{\n    \"a\": [\n        2\n    ],\n    \"b\": 1\n}",
        "sorted keys, 4-space indent"
    );
    assert_eq!(e["task_id"], Value::Null);
    assert!(e["pid"].as_i64().unwrap() > 0);
    assert_eq!(
        keys(&e["job"]),
        [
            "job_id",
            "name",
            "task_name",
            "job_class_string",
            "pub_args",
            "trigger",
            "trigger_params",
            "month",
            "day",
            "week",
            "day_of_week",
            "hour",
            "minute"
        ]
    );

    // Defaults: the last ten minutes.
    let (_, list) = server.get("/api/v1/executions").await;
    assert_eq!(list["executions"].as_array().unwrap().len(), 1);

    let scheduled =
        chrono::DateTime::parse_from_rfc3339(e["scheduled_time"].as_str().unwrap()).unwrap();
    let in_plus_two = (scheduled + chrono::Duration::seconds(1))
        .with_timezone(&chrono::FixedOffset::east_opt(7200).unwrap());
    // An end bound one second after the run, written in +02:00: converted, so included.
    let end = in_plus_two.to_rfc3339();
    let query = |start: &str, end: &str| {
        format!(
            "/api/v1/executions?time_range_start={}&time_range_end={}",
            urlencode(start),
            urlencode(end)
        )
    };
    let start_utc = (scheduled - chrono::Duration::seconds(1)).to_rfc3339();
    let (status, list) = server.get(&query(&start_utc, &end)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list["executions"].as_array().unwrap().len(),
        1,
        "offset not converted: {end}"
    );
    // The same wall-clock time read as UTC would end two hours too late; as +02:00 it
    // ends before the run when shifted back two seconds.
    let before = (in_plus_two - chrono::Duration::seconds(2)).to_rfc3339();
    let (_, list) = server.get(&query(&start_utc, &before)).await;
    assert_eq!(list["executions"].as_array().unwrap().len(), 0);
    // A bare date and a naive date-time are accepted.
    let (status, _) = server
        .get(&query("2000-01-01", "2100-01-01T00:00:00"))
        .await;
    assert_eq!(status, StatusCode::OK);
    // Start after end: empty.
    let (status, list) = server.get(&query("2100-01-01", "2000-01-01")).await;
    assert_eq!(
        (status, list["executions"].clone()),
        (StatusCode::OK, json!([]))
    );
    for bad in ["yesterday", "2015-13-45", "12:00"] {
        let (status, json) = server
            .get(&format!("/api/v1/executions?time_range_start={bad}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            json["error"]
                .as_str()
                .unwrap()
                .starts_with("invalid time_range_start")
        );
        let (status, _) = server
            .get(&format!("/api/v1/logs?time_range_end={bad}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

/// Failed, timed-out and cancelled runs end in their own states, with messages.
#[tokio::test]
async fn failure_timeout_and_cancel_states() {
    let dir = tmp();
    let server = common::ServerOptions::new(&dir.path().join("data"))
        .arg("--timeout-seconds")
        .arg("1")
        .start();
    let job = |class: &str, args: Value| json!({"job_class_string": format!("wasmcron.testing.{class}"), "name": class, "pub_args": args, "hour": "0"});
    let fail = server
        .add_job(job("Fail", json!({"message": "upstream said no"})))
        .await;
    let spin = server.add_job(job("Spin", json!({}))).await;
    let sleep = server.add_job(job("Sleep", json!({"seconds": 0.8}))).await;

    let run = |id: String| {
        let s = &server;
        async move {
            s.post(&format!("/api/v1/executions/{id}"), "").await.1["execution_id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let e = server
        .wait_finished(&run(fail).await, Duration::from_secs(10))
        .await;
    assert_eq!(
        (e["state"].as_str(), e["result"].as_str()),
        (Some("failed"), Some("upstream said no"))
    );
    let e = server
        .wait_finished(&run(spin.clone()).await, Duration::from_secs(10))
        .await;
    assert_eq!(e["state"], "timeout", "{e}");

    // Cancel: a Sleep long enough to be caught running (the server's limit is 1 s).
    let id = run(sleep).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, json) = server
        .call(Method::DELETE, &format!("/api/v1/executions/{id}"), None)
        .await;
    assert_eq!(
        (status, json),
        (StatusCode::OK, json!({"execution_id": id}))
    );
    let e = server.wait_finished(&id, Duration::from_secs(10)).await;
    assert_eq!(e["state"], "stopped", "{e}");
    let (status, json) = server
        .call(Method::DELETE, &format!("/api/v1/executions/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        json["error"].as_str().unwrap().contains("is not running"),
        "{json}"
    );
}

/// Liveness and readiness, for load balancers and orchestrators: `/healthz` answers while
/// the process serves; `/readyz` is 200 with each check's outcome when the database
/// answers, the timer runs and every installed plugin loaded, and 503 with an `error`
/// naming what is not ready otherwise (here: an installed plugin whose file is gone).
#[tokio::test]
async fn health_and_readiness() {
    let dir = common::tmp();
    let data = dir.path().join("data");
    let mut server = Server::start(&data);
    let (status, body) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "status": "ok" }));
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    for check in ["database", "scheduler", "plugins"] {
        assert_eq!(body["checks"][check]["ok"], true, "{body}");
    }

    // An installed plugin that cannot load at the next start (its bytes are gone from
    // the data directory and from the database): not ready, and why.
    let (_, stats) = server.get("/api/v1/plugins/wasmcron.examples.stats").await;
    let sha = stats["sha256"].as_str().unwrap().to_owned();
    server.terminate(Duration::from_secs(30));
    std::fs::remove_file(data.join("plugins").join(format!("{sha}.wasm"))).unwrap();
    let db = common::database::connect(&data).await;
    sqlx::query("DELETE FROM plugin_bytes WHERE sha256 = $1")
        .bind(&sha)
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    let server = common::ServerOptions::new(&data)
        .without_plugin_dir()
        .start();
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.starts_with("not ready: ") && error.contains("wasmcron.examples.stats"),
        "{body}"
    );
    assert_eq!(body["checks"]["plugins"]["ok"], false);
    assert_eq!(body["checks"]["database"]["ok"], true);
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK, "alive, only not ready");
}

/// The job list stays ndscheduler's whole answer, and pages with `limit` and `cursor`
/// (as executions do): every job once, in job-id order, `next_cursor` while pages are
/// full; bad values are 400s that say what to send.
#[tokio::test]
async fn the_job_list_pages_on_request() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(
            server
                .add_job(json!({
                    "name": format!("job {i}"), "job_class_string": "wasmcron.testing.Echo",
                    "pub_args": {}, "month": "1", "day": "1", "hour": "0", "minute": "0",
                }))
                .await,
        );
    }
    ids.sort();
    let (_, whole) = server.get("/api/v1/jobs").await;
    assert_eq!(whole["jobs"].as_array().unwrap().len(), 25);
    assert!(whole.get("next_cursor").is_none());

    let mut seen = Vec::new();
    let mut path = "/api/v1/jobs?limit=10".to_owned();
    let mut pages = 0;
    loop {
        let (status, page) = server.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        seen.extend(
            page["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["job_id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/jobs?limit=10&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids, "every job once, in id order");

    for (query, needle) in [
        ("limit=0", "invalid limit"),
        ("cursor=zzz", "invalid cursor"),
    ] {
        let (status, body) = server.get(&format!("/api/v1/jobs?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(body["error"].as_str().unwrap().contains(needle), "{body}");
    }
}
