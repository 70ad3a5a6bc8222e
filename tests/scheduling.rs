//! The scheduler over real time, against a real server process: interval fires,
//! pause and resume, max_instances, crash recovery, misfires after downtime and
//! graceful shutdown. Lateness is measured by the benchmarks, not asserted here.

mod common;

use chrono::{DateTime, Utc};
use common::{Server, ServerOptions};
use common::{time, tmp};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

fn scheduled_times(executions: &[Value]) -> Vec<DateTime<Utc>> {
    let mut times: Vec<DateTime<Utc>> = executions
        .iter()
        .filter(|e| e["run_kind"] == "scheduled")
        .map(|e| time(&e["scheduled_time"]))
        .collect();
    times.sort();
    times
}

/// A 1-second interval job fires once a second, its scheduled times exactly one
/// second apart with none missing; paused it stops; resumed it fires again.
#[tokio::test]
async fn interval_fires_every_second_and_pause_stops_it() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let id = server
        .add_job(json!({"job_class_string": "wasmcron.testing.Echo", "name": "tick", "trigger": "interval", "trigger_params": {"interval": 1}}))
        .await;
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let (status, _) = server
        .call(Method::PATCH, &format!("/api/v1/jobs/{id}"), None)
        .await;
    assert!(status.is_success());
    let at_pause = scheduled_times(&server.executions_of(&id).await);
    assert!(
        at_pause.len() >= 9,
        "only {} fires in 10.5 s",
        at_pause.len()
    );
    for pair in at_pause.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            chrono::Duration::seconds(1),
            "fires {pair:?}"
        );
    }
    for e in server.executions_of(&id).await {
        let e = server
            .wait_finished(e["execution_id"].as_str().unwrap(), Duration::from_secs(10))
            .await;
        assert_eq!(e["state"], "succeeded", "{e}");
    }

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let while_paused = scheduled_times(&server.executions_of(&id).await);
    assert_eq!(while_paused.len(), at_pause.len(), "a paused job fired");

    server
        .call(Method::OPTIONS, &format!("/api/v1/jobs/{id}"), None)
        .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let resumed = scheduled_times(&server.executions_of(&id).await);
    assert!(
        resumed.len() >= at_pause.len() + 2,
        "resumed job did not fire: {} -> {}",
        at_pause.len(),
        resumed.len()
    );
    // Runs missed while paused are not replayed: the first fire after resuming is
    // after the resume, not in the paused window.
    let first_after = resumed[at_pause.len()];
    assert!(first_after - *at_pause.last().unwrap() >= chrono::Duration::seconds(3));
}

/// Waits for a fire of the job prepared ahead: a `scheduled` row whose time has not come.
async fn prepared_fire(server: &Server, job_id: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ahead = server
            .executions_of(job_id)
            .await
            .into_iter()
            .find(|e| e["state"] == "scheduled" && time(&e["scheduled_time"]) > Utc::now());
        if let Some(e) = ahead {
            return e;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no fire was prepared ahead"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A fire prepared ahead runs the job as it is at the fire's time: arguments edited
/// after it was prepared are the ones the run gets.
#[tokio::test]
async fn a_prepared_fire_runs_the_job_as_edited_meanwhile() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let job = |args: Value| json!({"job_class_string": "wasmcron.testing.Echo", "name": "tick", "pub_args": args, "trigger": "interval", "trigger_params": {"interval": 1}});
    let id = server.add_job(job(json!({"v": 0}))).await;
    // The edit must be answered before the fire's time; on a busy machine an attempt
    // may miss that moment, and then the next fire is tried.
    let mut edited = None;
    for attempt in 1..=5 {
        let prepared = prepared_fire(&server, &id).await;
        let (status, body) = server
            .call(
                Method::PUT,
                &format!("/api/v1/jobs/{id}"),
                Some(&job(json!({ "v": attempt })).to_string()),
            )
            .await;
        assert!(status.is_success(), "{body}");
        if Utc::now() < time(&prepared["scheduled_time"]) {
            edited = Some((prepared, attempt));
            break;
        }
    }
    let (prepared, attempt) = edited.expect("no edit landed before a prepared fire's time");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let prepared_id = prepared["execution_id"].as_str().unwrap();
    let (status, e) = server
        .get(&format!("/api/v1/executions/{prepared_id}"))
        .await;
    assert!(status.is_success(), "{e}");
    assert_eq!(e["state"], "succeeded", "{e}");
    let result: Value = serde_json::from_str(e["result"].as_str().unwrap()).unwrap();
    assert_eq!(result, json!({ "v": attempt }), "{e}");
}

/// A fire is prepared (claimed, its row written as `scheduled`) shortly before its
/// time. Pausing the job in that moment abandons it: the row goes, nothing runs, and
/// after resuming the job fires on its schedule again, once per occurrence.
#[tokio::test]
async fn pausing_abandons_a_prepared_fire() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let id = server
        .add_job(json!({"job_class_string": "wasmcron.testing.Echo", "name": "tick", "trigger": "interval", "trigger_params": {"interval": 1}}))
        .await;
    let prepared = prepared_fire(&server, &id).await;
    let (status, _) = server
        .call(Method::PATCH, &format!("/api/v1/jobs/{id}"), None)
        .await;
    assert!(status.is_success());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let prepared_id = prepared["execution_id"].as_str().unwrap();
    let (status, e) = server
        .get(&format!("/api/v1/executions/{prepared_id}"))
        .await;
    // (The v1 contract answers an unknown execution id with 400, as ndscheduler does.)
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "still there: {e}");
    assert!(e["error"].as_str().unwrap().contains("not found"), "{e}");
    for e in server.executions_of(&id).await {
        assert_eq!(e["state"], "succeeded", "{e}");
        assert!(time(&e["scheduled_time"]) < time(&prepared["scheduled_time"]));
    }

    server
        .call(Method::OPTIONS, &format!("/api/v1/jobs/{id}"), None)
        .await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let times = scheduled_times(&server.executions_of(&id).await);
    let after: Vec<_> = times
        .iter()
        .filter(|t| **t > time(&prepared["scheduled_time"]))
        .collect();
    assert!(after.len() >= 2, "the resumed job did not fire: {times:?}");
    let mut unique = times.clone();
    unique.dedup();
    assert_eq!(unique, times, "an occurrence fired twice");
}

/// With max_instances 1, a fire while the previous run is still going is skipped:
/// the job's runs never overlap.
#[tokio::test]
async fn max_instances_skips_overlapping_fires() {
    let dir = tmp();
    let server = ServerOptions::new(&dir.path().join("data"))
        .arg("--max-instances")
        .arg("1")
        .start();
    let id = server
        .add_job(json!({"job_class_string": "wasmcron.testing.Sleep", "name": "slow", "pub_args": {"seconds": 2.2}, "trigger": "interval", "trigger_params": {"interval": 1}}))
        .await;
    tokio::time::sleep(Duration::from_millis(5500)).await;
    server
        .call(Method::PATCH, &format!("/api/v1/jobs/{id}"), None)
        .await;
    let mut runs = Vec::new();
    let mut skipped = Vec::new();
    for e in server.executions_of(&id).await {
        let e = server
            .wait_finished(e["execution_id"].as_str().unwrap(), Duration::from_secs(10))
            .await;
        if e["state"] == "skipped" {
            skipped.push(e);
        } else {
            runs.push(e);
        }
    }
    assert!(
        (1..=3).contains(&runs.len()),
        "{} runs of a 2.2 s job in 5.5 s with max_instances 1",
        runs.len()
    );
    assert!(!skipped.is_empty(), "no skipped fire was recorded");
    for s in &skipped {
        assert_eq!(s["description"], "max_instances");
        assert!(
            s["result"].as_str().unwrap().contains("(max_instances 1)"),
            "{s}"
        );
    }
    let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = runs
        .iter()
        .map(|e| (time(&e["started_time"]), time(&e["finished_time"])))
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "runs overlap: {pair:?}");
    }
}

/// SIGKILL during runs, then a restart: nothing is left `running`; the cut-short runs
/// are failed with the reason.
#[tokio::test]
async fn a_killed_host_leaves_nothing_running() {
    let dir = tmp();
    let data = dir.path().join("data");
    let mut server = Server::start(&data);
    let id = server
        .add_job(json!({"job_class_string": "wasmcron.testing.Sleep", "name": "long", "pub_args": {"seconds": 60}, "hour": "0", "minute": "0"}))
        .await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (_, run) = server.post(&format!("/api/v1/executions/{id}"), "").await;
        ids.push(run["execution_id"].as_str().unwrap().to_owned());
    }
    for _ in 0..100 {
        let states: Vec<Value> = server
            .executions_of(&id)
            .await
            .iter()
            .map(|e| e["state"].clone())
            .collect();
        if states.iter().all(|s| s == "running") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill_hard();

    let server = Server::start(&data);
    for execution_id in ids {
        let (_, e) = server
            .get(&format!("/api/v1/executions/{execution_id}"))
            .await;
        assert_eq!(e["state"], "failed", "{e}");
        assert_eq!(e["result"], "host stopped during the run");
    }
}

/// A cron fire missed while the host was down runs once after the start, with its
/// nominal time; the schedule goes on from there.
#[tokio::test]
async fn a_missed_cron_fire_runs_once_after_restart() {
    let dir = tmp();
    let data = dir.path().join("data");
    // Keep clear of a minute boundary while the job is created and the host killed.
    let second = Utc::now().timestamp() % 60;
    if second > 50 {
        tokio::time::sleep(Duration::from_secs(62 - second as u64)).await;
    }
    let mut server = Server::start(&data);
    let id = server
        .add_job(json!({"job_class_string": "wasmcron.testing.Echo", "name": "every minute", "trigger": "cron", "trigger_params": {"minute": "*"}}))
        .await;
    let (_, job) = server.get(&format!("/api/v1/jobs/{id}")).await;
    let due = time(&job["next_run_time"]);
    server.kill_hard();

    let wait = (due - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(2);
    tokio::time::sleep(wait).await;
    let server = Server::start(&data);
    let mut fired = Vec::new();
    for _ in 0..100 {
        fired = server.executions_of(&id).await;
        if !fired.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fired = if fired.is_empty() {
        fired
    } else {
        server.executions_of(&id).await
    };
    assert_eq!(scheduled_times(&fired), vec![due], "{fired:?}");
    let e = server
        .wait_finished(
            fired[0]["execution_id"].as_str().unwrap(),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(e["state"], "succeeded");
    let (_, job) = server.get(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(
        time(&job["next_run_time"]),
        due + chrono::Duration::minutes(1)
    );
}

/// Several fires missed during downtime coalesce into one run, the newest of them.
#[tokio::test]
async fn missed_fires_coalesce_into_one_run() {
    let dir = tmp();
    let data = dir.path().join("data");
    let mut server = Server::start(&data);
    let id = server
        .add_job(json!({"job_class_string": "wasmcron.testing.Echo", "name": "tick", "trigger": "interval", "trigger_params": {"interval": 1}}))
        .await;
    server
        .call(Method::PATCH, &format!("/api/v1/jobs/{id}"), None)
        .await;
    server
        .call(Method::OPTIONS, &format!("/api/v1/jobs/{id}"), None)
        .await;
    server.kill_hard();
    let killed_at = Utc::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let restarted_at = Utc::now();
    let server = Server::start(&data);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let times = scheduled_times(&server.executions_of(&id).await);
    let missed: Vec<_> = times
        .iter()
        .filter(|t| **t > killed_at && **t < restarted_at)
        .collect();
    assert_eq!(missed.len(), 1, "missed fires {missed:?} (all: {times:?})");
    assert!(
        restarted_at - *missed[0] < chrono::Duration::milliseconds(1100),
        "not the newest missed fire"
    );
}

/// SIGTERM: no more fires, runs that finish within the grace period succeed, the
/// rest are interrupted and recorded as such; the process exits cleanly.
#[tokio::test]
async fn graceful_shutdown_finishes_or_interrupts_runs() {
    let dir = tmp();
    let data = dir.path().join("data");
    let mut server = ServerOptions::new(&data)
        .arg("--shutdown-grace-seconds")
        .arg("1")
        .start();
    let job = |seconds: f64| json!({"job_class_string": "wasmcron.testing.Sleep", "name": format!("sleep {seconds}"), "pub_args": {"seconds": seconds}, "hour": "0", "minute": "0"});
    let short = server.add_job(job(0.5)).await;
    let long = server.add_job(job(60.0)).await;
    let (_, a) = server
        .post(&format!("/api/v1/executions/{short}"), "")
        .await;
    let (_, b) = server.post(&format!("/api/v1/executions/{long}"), "").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = server.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status:?}\n{}", server.stderr());

    let server = Server::start(&data);
    let (_, a) = server
        .get(&format!(
            "/api/v1/executions/{}",
            a["execution_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(a["state"], "succeeded", "{a}");
    let (_, b) = server
        .get(&format!(
            "/api/v1/executions/{}",
            b["execution_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(b["state"], "failed", "{b}");
    assert!(
        b["result"]
            .as_str()
            .unwrap()
            .starts_with("interrupted: the host shut down"),
        "{b}"
    );
}

/// A job whose stored options were damaged (a hand-edited database) must not run with
/// defaults it was never given (it would lose its time and memory limits): the job still
/// lists, with the reason, and each fire ends as `scheduled error` saying why.
#[tokio::test]
async fn a_damaged_stored_job_fails_its_fires_instead_of_running_with_defaults() {
    let dir = tmp();
    let data = dir.path().join("data");
    let mut server = Server::start(&data);
    let id = server
        .add_job(json!({"job_class_string": "wasmcron.testing.Echo", "name": "limited", "trigger": "interval", "trigger_params": {"interval": 1}, "timeout_seconds": 5, "memory_limit_mb": 16}))
        .await;
    server.terminate(Duration::from_secs(10));
    {
        let url = format!("sqlite://{}", data.join("wasmcron.db").display());
        let db = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("UPDATE jobs SET options = '{\"timeout_seconds\": \"five\"' WHERE job_id = $1")
            .bind(&id)
            .execute(&db)
            .await
            .unwrap();
        db.close().await;
    }
    let server = Server::start(&data);
    let (status, job) = server.get(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(
        job["error"]
            .as_str()
            .unwrap_or("")
            .contains("stored options are unreadable"),
        "{job}"
    );
    let mut fired = Vec::new();
    for _ in 0..100 {
        fired = server.executions_of(&id).await;
        if fired.iter().any(|e| e["state"] == "scheduled error") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after_restart: Vec<&Value> = fired
        .iter()
        .filter(|e| e["state"] == "scheduled error")
        .collect();
    assert!(!after_restart.is_empty(), "{fired:?}");
    for e in &after_restart {
        assert_eq!(e["description"], "damaged_job", "{e}");
        assert!(
            e["result"].as_str().unwrap().contains("timeout_seconds"),
            "{e}"
        );
    }
}
