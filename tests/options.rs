//! The job options beyond ndscheduler's (time zone, date trigger, start/end dates,
//! jitter, concurrency policies, misfire settings, limits, retries) and run control
//! (cancel, history filters and pagination, next runs, retention), black-box.

mod common;

use chrono::{DateTime, Utc};
use common::{Server, ServerOptions};
use common::{time, tmp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};

fn testing(class: &str, args: Value, extra: Value) -> Value {
    let mut job = json!({"job_class_string": format!("wasmcron.testing.{class}"), "name": class, "pub_args": args, "hour": "0", "minute": "0"});
    for (k, v) in extra.as_object().unwrap() {
        job[k] = v.clone();
    }
    job
}

async fn run_now(server: &Server, job: &str) -> String {
    let (status, run) = server.post(&format!("/api/v1/executions/{job}"), "").await;
    assert_eq!(status, StatusCode::OK, "{run}");
    run["execution_id"].as_str().unwrap().to_owned()
}

/// Every option is validated with a 400 naming it, and shown by GET once set.
#[tokio::test]
async fn options_are_validated_and_shown() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let cases = [
        (
            json!({"timezone": "Mars/Olympus"}),
            "unknown timezone 'Mars/Olympus'",
        ),
        (json!({"timezone": 5}), "invalid timezone 5"),
        (
            json!({"start_date": "tomorrow"}),
            "invalid start_date 'tomorrow'",
        ),
        (
            json!({"end_date": "2020-01-01", "start_date": "2021-01-01"}),
            "end_date is before start_date",
        ),
        (
            json!({"jitter_seconds": 100000}),
            "invalid jitter_seconds 100000",
        ),
        (json!({"max_instances": 0}), "invalid max_instances 0"),
        (
            json!({"concurrency_policy": "queue"}),
            "invalid concurrency_policy \"queue\"",
        ),
        (
            json!({"misfire_grace_seconds": -5}),
            "invalid misfire_grace_seconds -5",
        ),
        (json!({"coalesce": 1}), "invalid coalesce 1"),
        (json!({"timeout_seconds": 0}), "invalid timeout_seconds 0"),
        (
            json!({"timeout_seconds": 999999}),
            "invalid timeout_seconds 999999: it must be a whole number from 1 to 86400",
        ),
        (
            json!({"memory_limit_mb": 100000}),
            "invalid memory_limit_mb 100000",
        ),
        (
            json!({"fuel": 100}),
            "a fuel budget needs the server started with --fuel-metering",
        ),
        (
            json!({"retries": {"max": 2, "delay": 1}}),
            "invalid retries",
        ),
        (
            json!({"retries": {"max": 500}}),
            "invalid retries: max 500 is over 100",
        ),
        (json!({"retries": 3}), "invalid retries 3"),
    ];
    for (extra, expected) in cases {
        let (status, body) = server
            .post(
                "/api/v1/jobs",
                &testing("Echo", json!([]), extra.clone()).to_string(),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{extra}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(
            message.starts_with(expected),
            "{extra}:\n  got:      {message}\n  expected: {expected}"
        );
    }
    let date_errors = [
        (
            json!({"trigger": "date", "trigger_params": {}}),
            "a date trigger needs trigger_params.run_date",
        ),
        (
            json!({"trigger": "date", "trigger_params": {"run_date": "someday"}}),
            "invalid run_date 'someday'",
        ),
        (
            json!({"trigger": "date", "trigger_params": {"run_date": "2030-01-01", "at": 1}}),
            "unknown key 'at' in trigger_params",
        ),
        (
            json!({"trigger": "date", "trigger_params": {"run_date": "2030-01-01"}, "end_date": "2031-01-01"}),
            "start_date and end_date apply to cron and interval triggers",
        ),
    ];
    for (body, expected) in date_errors {
        let mut job = json!({"job_class_string": "wasmcron.testing.Echo", "name": "d"});
        for (k, v) in body.as_object().unwrap() {
            job[k] = v.clone();
        }
        let (status, resp) = server.post("/api/v1/jobs", &job.to_string()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{job}: {resp}");
        assert!(
            resp["error"].as_str().unwrap().starts_with(expected),
            "{resp}"
        );
    }

    let all = json!({
        "timezone": "Europe/Berlin", "start_date": "2030-01-01T00:00:00", "end_date": "2031-01-01",
        "jitter_seconds": 5, "max_instances": 2, "concurrency_policy": "forbid",
        "misfire_grace_seconds": 60, "coalesce": false, "timeout_seconds": 30,
        "memory_limit_mb": 64, "retries": {"max": 2, "backoff_seconds": 1.5, "backoff_factor": 2.0}
    });
    let id = server.add_job(testing("Echo", json!([]), all)).await;
    let (_, job) = server.get(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(job["timezone"], "Europe/Berlin");
    assert_eq!(
        job["start_date"], "2029-12-31T23:00:00+00:00",
        "a naive start date is read in the job's zone"
    );
    assert_eq!(job["end_date"], "2030-12-31T23:00:00+00:00");
    assert_eq!(
        (
            job["jitter_seconds"].as_u64(),
            job["max_instances"].as_u64()
        ),
        (Some(5), Some(2))
    );
    assert_eq!(job["concurrency_policy"], "forbid");
    assert_eq!(
        (
            job["misfire_grace_seconds"].as_u64(),
            job["coalesce"].as_bool()
        ),
        (Some(60), Some(false))
    );
    assert_eq!(
        (
            job["timeout_seconds"].as_u64(),
            job["memory_limit_mb"].as_u64()
        ),
        (Some(30), Some(64))
    );
    assert_eq!(
        job["retries"],
        json!({"max": 2, "backoff_seconds": 1.5, "backoff_factor": 2.0})
    );
    assert_eq!(job["state"], "active");
    // Midnight Berlin on the start date: the first fire.
    assert_eq!(job["next_run_time"], "2029-12-31T23:00:00+00:00");
    // A GET result sent back as a PUT keeps every option.
    let (status, _) = server
        .call(
            Method::PUT,
            &format!("/api/v1/jobs/{id}"),
            Some(&job.to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, again) = server.get(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(again, job);
}

/// Next runs across a daylight-saving change, in UTC and in the job's zone.
#[tokio::test]
async fn next_runs_follow_the_time_zone() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let id = server
        .add_job(json!({"job_class_string": "wasmcron.testing.Echo", "name": "berlin", "hour": "2", "minute": "30", "timezone": "Europe/Berlin", "start_date": "2027-03-27"}))
        .await;
    let (status, runs) = server
        .get(&format!("/api/v1/jobs/{id}/next-runs?count=3"))
        .await;
    assert_eq!(status, StatusCode::OK, "{runs}");
    assert_eq!(runs["timezone"], "Europe/Berlin");
    assert_eq!(
        runs["next_runs"],
        json!([
            {"utc": "2027-03-27T01:30:00+00:00", "local": "2027-03-27T02:30:00+01:00"},
            {"utc": "2027-03-28T01:00:00+00:00", "local": "2027-03-28T03:00:00+02:00"},
            {"utc": "2027-03-29T00:30:00+00:00", "local": "2027-03-29T02:30:00+02:00"}
        ])
    );
    let hourly = server
        .add_job(json!({"job_class_string": "wasmcron.testing.Echo", "name": "ny", "minute": "30", "timezone": "America/New_York", "start_date": "2027-11-07T00:00:00"}))
        .await;
    let (_, runs) = server
        .get(&format!("/api/v1/jobs/{hourly}/next-runs?count=4"))
        .await;
    let locals: Vec<&str> = runs["next_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["local"].as_str().unwrap())
        .collect();
    assert_eq!(
        locals,
        [
            "2027-11-07T00:30:00-04:00",
            "2027-11-07T01:30:00-04:00",
            "2027-11-07T01:30:00-05:00",
            "2027-11-07T02:30:00-05:00"
        ]
    );
    let (status, _) = server
        .get(&format!("/api/v1/jobs/{id}/next-runs?count=0"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = server
        .get("/api/v1/jobs/0123456789abcdef0123456789abcdef/next-runs")
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("Job not found: 0123456789abcdef0123456789abcdef")
        )
    );
}

/// A date trigger fires once; the job stays listed, finished, with no next run.
#[tokio::test]
async fn a_date_job_fires_once_and_stays_listed() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let at = Utc::now() + chrono::Duration::seconds(2);
    let id = server
        .add_job(json!({"job_class_string": "wasmcron.testing.Echo", "name": "once", "pub_args": [1], "trigger": "date", "trigger_params": {"run_date": at.to_rfc3339()}}))
        .await;
    let (_, job) = server.get(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(job["trigger"], "date");
    assert_eq!(
        time(&job["next_run_time"]),
        time(&job["trigger_params"]["run_date"])
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let executions = server.executions_of(&id).await;
    assert_eq!(executions.len(), 1);
    let e = server
        .wait_finished(
            executions[0]["execution_id"].as_str().unwrap(),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(e["state"], "succeeded");
    let (_, job) = server.get(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(
        (job["next_run_time"].as_str(), job["state"].as_str()),
        (Some(""), Some("finished"))
    );
    let (_, list) = server.get("/api/v1/jobs").await;
    assert!(
        list["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["job_id"] == id.as_str())
    );
}

/// An end date stops an interval job; jitter delays the start but keeps the nominal
/// scheduled time.
#[tokio::test]
async fn end_date_and_jitter() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let end = Utc::now() + chrono::Duration::milliseconds(3500);
    let id = server
        .add_job(json!({"job_class_string": "wasmcron.testing.Echo", "name": "bounded", "trigger": "interval", "trigger_params": {"interval": 1}, "end_date": end.to_rfc3339(), "jitter_seconds": 1}))
        .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let executions = server.executions_of(&id).await;
    assert!(
        (2..=3).contains(&executions.len()),
        "{} fires before the end date",
        executions.len()
    );
    let mut scheduled: Vec<DateTime<Utc>> = Vec::new();
    for e in &executions {
        let e = server
            .wait_finished(e["execution_id"].as_str().unwrap(), Duration::from_secs(10))
            .await;
        let (nominal, started) = (time(&e["scheduled_time"]), time(&e["started_time"]));
        assert!(nominal <= end);
        let delay = started - nominal;
        assert!(
            delay >= chrono::Duration::zero() && delay < chrono::Duration::milliseconds(1500),
            "jitter delay {delay}"
        );
        scheduled.push(nominal);
    }
    scheduled.sort();
    for pair in scheduled.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            chrono::Duration::seconds(1),
            "nominal times stay on the interval"
        );
    }
    let (_, job) = server.get(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(job["state"], "finished");
}

/// A Sleep cancelled through the API reaches `stopped` within 1 s; a Spin with
/// `timeout_seconds: 1` reaches `timeout` within 2 s; a Hog hits its job's memory
/// limit.
#[tokio::test]
async fn cancel_timeout_and_memory_per_job() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let sleep = server
        .add_job(testing("Sleep", json!({"seconds": 60}), json!({})))
        .await;
    let id = run_now(&server, &sleep).await;
    for _ in 0..100 {
        let (_, e) = server.get(&format!("/api/v1/executions/{id}")).await;
        if e["state"] == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let asked = Instant::now();
    let (status, _) = server
        .call(Method::DELETE, &format!("/api/v1/executions/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let e = server.wait_finished(&id, Duration::from_secs(1)).await;
    assert_eq!(e["state"], "stopped");
    assert!(asked.elapsed() < Duration::from_secs(1));

    let spin = server
        .add_job(testing("Spin", json!({}), json!({"timeout_seconds": 1})))
        .await;
    let started = Instant::now();
    let id = run_now(&server, &spin).await;
    let e = server.wait_finished(&id, Duration::from_secs(2)).await;
    assert_eq!(e["state"], "timeout", "{e}");
    assert!(started.elapsed() < Duration::from_secs(2));

    let hog = server
        .add_job(testing("Hog", json!({}), json!({"memory_limit_mb": 16})))
        .await;
    let e = server
        .wait_finished(&run_now(&server, &hog).await, Duration::from_secs(10))
        .await;
    assert_eq!(e["state"], "failed");
    assert!(
        e["result"]
            .as_str()
            .unwrap()
            .starts_with("the job exceeded its memory limit of 16777216 bytes"),
        "{e}"
    );
    assert!(e["peak_memory_bytes"].as_u64().unwrap() <= 16 << 20);
}

/// A failed execution's `description` is the stable code of its failure: the job's own
/// error, a trap (its result keeps the guest's backtrace), or out of memory. A success
/// carries none.
#[tokio::test]
async fn failed_runs_record_the_kind_of_failure() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let finished = |class: &'static str, args: Value, extra: Value| {
        let server = &server;
        async move {
            let job = server.add_job(testing(class, args, extra)).await;
            server
                .wait_finished(&run_now(server, &job).await, Duration::from_secs(10))
                .await
        }
    };
    let e = finished("Fail", json!({"message": "disk full"}), json!({})).await;
    assert_eq!(
        (&e["state"], &e["description"], &e["result"]),
        (&json!("failed"), &json!("job_error"), &json!("disk full")),
        "{e}"
    );

    let e = finished("Panic", json!({}), json!({})).await;
    assert_eq!(
        (&e["state"], &e["description"]),
        (&json!("failed"), &json!("trap")),
        "{e}"
    );
    let result = e["result"].as_str().unwrap();
    assert!(
        result.starts_with("the job panicked: the testing job panicked"),
        "{result}"
    );
    assert!(result.contains("guest backtrace:"), "{result}");
    assert!(result.contains("the testing job panicked"), "{result}");

    let e = finished("Hog", json!({}), json!({"memory_limit_mb": 16})).await;
    assert_eq!(
        (&e["state"], &e["description"]),
        (&json!("failed"), &json!("out_of_memory")),
        "{e}"
    );

    // Nothing to say why: as in ndscheduler, the description says where it ran.
    let e = finished("Echo", json!([1]), json!({})).await;
    assert_eq!(e["state"], "succeeded", "{e}");
    assert_eq!(
        e["description"],
        format!(
            "hostname: {} | pid: {}",
            e["hostname"].as_str().unwrap(),
            e["pid"]
        ),
        "{e}"
    );
}

/// `forbid` records skipped fires while a run is going; `replace` cancels the running
/// run and starts the new one.
#[tokio::test]
async fn forbid_and_replace_policies() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let interval = |policy: &str| json!({"job_class_string": "wasmcron.testing.Sleep", "name": policy, "pub_args": {"seconds": 30}, "trigger": "interval", "trigger_params": {"interval": 1}, "concurrency_policy": policy});
    let mut one_at_a_time = interval("allow");
    one_at_a_time["max_instances"] = json!(1);
    let limited = server.add_job(one_at_a_time).await;
    let forbid = server.add_job(interval("forbid")).await;
    let replace = server.add_job(interval("replace")).await;
    tokio::time::sleep(Duration::from_millis(3600)).await;
    for id in [&forbid, &replace] {
        server
            .call(Method::PATCH, &format!("/api/v1/jobs/{id}"), None)
            .await;
    }
    let states = |executions: &[Value]| {
        executions
            .iter()
            .map(|e| e["state"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };

    let f = server.executions_of(&forbid).await;
    let running = f
        .iter()
        .filter(|e| e["state"] == "running" || e["state"] == "scheduled")
        .count();
    let skipped: Vec<&Value> = f.iter().filter(|e| e["state"] == "skipped").collect();
    assert_eq!(running, 1, "{:?}", states(&f));
    assert!(skipped.len() >= 2, "{:?}", states(&f));
    assert!(skipped.iter().all(|e| e["description"] == "forbid"));

    // `allow` with the job's own max_instances 1 (the server's default is 3).
    server
        .call(Method::PATCH, &format!("/api/v1/jobs/{limited}"), None)
        .await;
    let l = server.executions_of(&limited).await;
    let live = l
        .iter()
        .filter(|e| e["state"] == "running" || e["state"] == "scheduled")
        .count();
    assert_eq!(live, 1, "{:?}", states(&l));
    let skipped: Vec<&Value> = l.iter().filter(|e| e["state"] == "skipped").collect();
    assert!(skipped.len() >= 2, "{:?}", states(&l));
    assert!(skipped.iter().all(|e| e["description"] == "max_instances"
        && e["result"].as_str().unwrap().contains("(max_instances 1)")));

    let r = server.executions_of(&replace).await;
    let stopped = r
        .iter()
        .filter(|e| e["state"] == "stopped" || e["state"] == "stopping")
        .count();
    let live = r
        .iter()
        .filter(|e| e["state"] == "running" || e["state"] == "scheduled")
        .count();
    assert!(
        stopped >= 2,
        "replaced runs are cancelled: {:?}",
        states(&r)
    );
    assert_eq!(live, 1, "{:?}", states(&r));
    for e in f.iter().chain(&r).chain(&l) {
        if e["state"] == "running" {
            server
                .call(
                    Method::DELETE,
                    &format!("/api/v1/executions/{}", e["execution_id"].as_str().unwrap()),
                    None,
                )
                .await;
        }
    }
}

/// A failing job with `retries: {"max": 2}` makes exactly three executions, the
/// retries spaced by the backoff.
#[tokio::test]
async fn retries_make_one_execution_per_attempt() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let job = server
        .add_job(testing(
            "Fail",
            json!({"message": "flaky"}),
            json!({"retries": {"max": 2, "backoff_seconds": 1, "backoff_factor": 2}}),
        ))
        .await;
    let first = run_now(&server, &job).await;
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let mut executions = Vec::new();
    for e in server.executions_of(&job).await {
        executions.push(
            server
                .wait_finished(e["execution_id"].as_str().unwrap(), Duration::from_secs(10))
                .await,
        );
    }
    executions.sort_by_key(|e| e["attempt"].as_u64());
    assert_eq!(executions.len(), 3, "{executions:?}");
    let attempts: Vec<u64> = executions
        .iter()
        .map(|e| e["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert_eq!(executions[0]["retry_of"], Value::Null);
    for e in &executions {
        assert_eq!(e["state"], "failed");
        assert_eq!(e["result"], "flaky");
    }
    for e in &executions[1..] {
        assert_eq!(e["retry_of"], first.as_str());
    }
    let gap = |a: &Value, b: &Value| {
        (time(&b["started_time"]) - time(&a["finished_time"])).num_milliseconds()
    };
    let (g1, g2) = (
        gap(&executions[0], &executions[1]),
        gap(&executions[1], &executions[2]),
    );
    assert!((1000..1500).contains(&g1), "first backoff {g1} ms");
    assert!((2000..2500).contains(&g2), "second backoff {g2} ms");
}

/// With fuel metering on, a fuel budget stops a spinning job and reports the fuel.
#[tokio::test]
async fn fuel_budget() {
    let dir = tmp();
    let server = ServerOptions::new(&dir.path().join("data"))
        .arg("--fuel-metering")
        .start();
    let spin = server
        .add_job(testing("Spin", json!({}), json!({"fuel": 50_000_000})))
        .await;
    let e = server
        .wait_finished(&run_now(&server, &spin).await, Duration::from_secs(10))
        .await;
    assert_eq!(e["state"], "failed");
    assert!(
        e["result"]
            .as_str()
            .unwrap()
            .starts_with("the job used up its fuel budget"),
        "{e}"
    );
    assert_eq!(e["fuel_consumed"], 50_000_000);
    let echo = server
        .add_job(testing("Echo", json!([1]), json!({"fuel": 50_000_000})))
        .await;
    let e = server
        .wait_finished(&run_now(&server, &echo).await, Duration::from_secs(10))
        .await;
    assert_eq!(e["state"], "succeeded");
    let used = e["fuel_consumed"].as_u64().unwrap();
    assert!(used > 0 && used < 50_000_000);
}

/// Missed fires past the job's own grace time are recorded as `missed`; with
/// `coalesce: false` the others each run.
#[tokio::test]
async fn per_job_misfire_grace_without_coalescing() {
    let dir = tmp();
    let data = dir.path().join("data");
    let mut server = Server::start(&data);
    let id = server
        .add_job(json!({"job_class_string": "wasmcron.testing.Echo", "name": "tick", "trigger": "interval", "trigger_params": {"interval": 1}, "coalesce": false, "misfire_grace_seconds": 2}))
        .await;
    server.kill_hard();
    let killed = Utc::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let restarted = Utc::now();
    let server = Server::start(&data);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let in_downtime: Vec<Value> = server
        .executions_of(&id)
        .await
        .into_iter()
        .filter(|e| time(&e["scheduled_time"]) > killed && time(&e["scheduled_time"]) < restarted)
        .collect();
    let missed: Vec<&Value> = in_downtime
        .iter()
        .filter(|e| e["state"] == "missed")
        .collect();
    let ran = in_downtime.len() - missed.len();
    assert!(
        in_downtime.len() >= 4,
        "every occurrence is recorded: {in_downtime:?}"
    );
    assert!(
        missed.len() >= 2 && ran >= 1,
        "missed {} ran {ran}",
        missed.len()
    );
    assert!(missed.iter().all(|e| e["description"] == "misfire"));
    assert!(
        missed[0]["result"]
            .as_str()
            .unwrap()
            .contains("over the job's misfire grace time of 2 s")
    );
}

/// Pagination walks a 25,000-execution history, each execution exactly once; the
/// filters narrow it.
#[tokio::test]
async fn pagination_returns_every_execution_once() {
    let dir = tmp();
    let data = dir.path().join("data");
    let mut server = Server::start(&data);
    let job = server.add_job(testing("Echo", json!([]), json!({}))).await;
    server.terminate(Duration::from_secs(10));
    // A long history, written straight into the server's database.
    let pool = common::database::connect(&data).await;
    let mut tx = pool.begin().await.unwrap();
    let base = Utc::now().timestamp_micros() - 3_600_000_000;
    for i in 0..25_000i64 {
        let state = if i % 5 == 0 { "failed" } else { "succeeded" };
        // Many equal update times, so that the cursor's tie-break is exercised.
        sqlx::query("INSERT INTO executions (execution_id, job_id, state, hostname, scheduled_time, updated_time, run_kind, attempt) VALUES ($1, $2, $3, 'h', $4, $5, 'scheduled', 1)")
            .bind(format!("{:032x}", i))
            .bind(&job)
            .bind(state)
            .bind(base + i * 1000)
            .bind(base + (i / 7) * 1000)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    pool.close().await;
    // No per-job bound: the default retention (10,000 per job) would trim the history.
    let server = ServerOptions::new(&data)
        .arg("--retention-per-job")
        .arg("0")
        .start();

    let mut seen = HashSet::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/executions?job_id={job}&limit=3000");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = server.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        for e in page["executions"].as_array().unwrap() {
            assert!(
                seen.insert(e["execution_id"].as_str().unwrap().to_owned()),
                "returned twice: {}",
                e["execution_id"]
            );
        }
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25_000);
    assert_eq!(pages, 9);

    let (_, failed) = server
        .get(&format!(
            "/api/v1/executions?job_id={job}&state=failed&limit=10000"
        ))
        .await;
    assert_eq!(failed["executions"].as_array().unwrap().len(), 5000);
    assert!(
        failed.get("next_cursor").is_none()
            || failed["executions"].as_array().unwrap().len() == 10000
    );
    let (_, default_page) = server
        .get(&format!("/api/v1/executions?job_id={job}"))
        .await;
    assert_eq!(
        default_page["executions"].as_array().unwrap().len(),
        1000,
        "default limit"
    );
    for bad in [
        "limit=0",
        "limit=10001",
        "cursor=nonsense",
        "state=exploded",
    ] {
        let (status, body) = server.get(&format!("/api/v1/executions?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}

/// Retention deletes executions older than the configured age and beyond the count
/// per job, leaving the newest.
#[tokio::test]
async fn retention_deletes_old_history() {
    let dir = tmp();
    let data = dir.path().join("data");
    let mut server = Server::start(&data);
    let job = server.add_job(testing("Echo", json!([]), json!({}))).await;
    server.terminate(Duration::from_secs(10));
    let pool = common::database::connect(&data).await;
    let now = Utc::now().timestamp_micros();
    let day = 86_400_000_000i64;
    for i in 0..30i64 {
        // 10 rows 40 days old, 20 recent ones.
        let t = if i < 10 {
            now - 40 * day + i
        } else {
            now - i * 1000
        };
        sqlx::query("INSERT INTO executions (execution_id, job_id, state, hostname, scheduled_time, updated_time, run_kind, attempt) VALUES ($1, $2, 'succeeded', 'h', $3, $3, 'scheduled', 1)")
            .bind(format!("{:032x}", i))
            .bind(&job)
            .bind(t)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    let server = ServerOptions::new(&data)
        .arg("--retention-days")
        .arg("30")
        .arg("--retention-per-job")
        .arg("15")
        .start();
    let mut left = Vec::new();
    for _ in 0..50 {
        left = server.executions_of(&job).await;
        if left.len() == 15 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left.len(), 15);
    let ids: HashSet<String> = left
        .iter()
        .map(|e| e["execution_id"].as_str().unwrap().to_owned())
        .collect();
    // The newest 15 (rows 10..25 by time) stay.
    for i in 10..25 {
        assert!(ids.contains(&format!("{:032x}", i)), "row {i} was deleted");
    }
}

/// The `second` extension of cron fields: every 2 s, on even seconds; it shows in
/// `trigger_params` only when given.
#[tokio::test]
async fn cron_seconds() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let id = server
        .add_job(json!({"job_class_string": "wasmcron.testing.Echo", "name": "every 2 s", "trigger": "cron", "trigger_params": {"second": "*/2"}}))
        .await;
    let (_, job) = server.get(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(
        job["trigger_params"],
        json!({"month": "*", "day_of_week": "*", "day": "*", "hour": "*", "minute": "*", "second": "*/2"})
    );
    tokio::time::sleep(Duration::from_millis(4500)).await;
    server
        .call(Method::PATCH, &format!("/api/v1/jobs/{id}"), None)
        .await;
    let mut times: Vec<DateTime<Utc>> = server
        .executions_of(&id)
        .await
        .iter()
        .map(|e| time(&e["scheduled_time"]))
        .collect();
    times.sort();
    assert!(times.len() >= 2, "{times:?}");
    for t in &times {
        assert_eq!(chrono::Timelike::second(t) % 2, 0, "{t}");
        assert_eq!(chrono::Timelike::nanosecond(t), 0);
    }
    for pair in times.windows(2) {
        assert_eq!(pair[1] - pair[0], chrono::Duration::seconds(2));
    }
    let (status, body) = server
        .post(
            "/api/v1/jobs",
            &json!({"job_class_string": "wasmcron.testing.Echo", "name": "x", "second": "61"})
                .to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "invalid second expression '61': 61 is outside 0..59"
    );
}
