//! The scheduler over real time, against a real server process: interval fires,
//! pause and resume, max_instances, crash recovery, misfires after downtime and
//! graceful shutdown. Lateness is measured by the benchmarks, not asserted here.

mod common;

use chrono::{DateTime, Utc};
use common::{Rng, time, tmp};
use common::{Server, ServerOptions};
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
        assert!(host_stopped(&e), "{e}");
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
        let db = common::database::connect(&data).await;
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

/// Every execution whose `scheduled_time` is in a wide range, page by page.
async fn all_executions(server: &Server) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path =
            "/api/v1/executions?time_range_start=2000-01-01&time_range_end=2100-01-01&limit=10000"
                .to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = server.get(&path).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{page}");
        all.extend(page["executions"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
}

/// Runs a job now; returns the execution id.
async fn run_now(server: &Server, job_id: &str) -> String {
    let (status, body) = server
        .post(&format!("/api/v1/executions/{job_id}"), "")
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    body["execution_id"].as_str().unwrap().to_owned()
}

/// Polls until no execution of `job_ids` is unfinished; returns them all.
async fn all_finished(server: &Server, job_ids: &[&str], limit: Duration) -> Vec<Value> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let all: Vec<Value> = all_executions(server)
            .await
            .into_iter()
            .filter(|e| job_ids.contains(&e["job_id"].as_str().unwrap()))
            .collect();
        let unfinished: Vec<&Value> = all
            .iter()
            .filter(|e| {
                ["scheduled", "running", "stopping"].contains(&e["state"].as_str().unwrap())
            })
            .collect();
        if unfinished.is_empty() {
            return all;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} executions still unfinished after {limit:?}: {:?}",
            unfinished.len(),
            unfinished.first()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Executions a killed host left unstarted are owed their runs. One slot, held by a
/// long run, keeps every other execution waiting (unstarted) until the kill. After the
/// restart: each prepared fire runs late with its own execution within its misfire
/// grace time and is recorded `missed` beyond it, once; with coalescing, a fire that
/// passed during the downtime runs instead and the prepared ones leave nothing; the
/// run-now runs; the retry waiting for its backoff runs. Only the run that had started
/// fails as `host stopped during the run`.
#[tokio::test]
async fn executions_a_crash_left_unstarted_run_after_the_restart() {
    let dir = tmp();
    let data = dir.path().join("data");
    let mut server = ServerOptions::new(&data)
        .arg("--max-concurrent-runs")
        .arg("1")
        .start();
    // A first attempt that fails at once, leaving a retry due 2 s later.
    let failing = server
        .add_job(json!({"job_class_string": "wasmcron.testing.Fail", "name": "failing", "pub_args": {}, "hour": "0", "retries": {"max": 1, "backoff_seconds": 2}}))
        .await;
    let first = run_now(&server, &failing).await;
    let first = server.wait_finished(&first, Duration::from_secs(10)).await;
    assert_eq!(first["state"], "failed", "{first}");
    // The long run that holds the only slot.
    let sleeper = server
        .add_job(json!({"job_class_string": "wasmcron.testing.Sleep", "name": "sleeper", "pub_args": {"seconds": 60}, "hour": "0"}))
        .await;
    let long_run = run_now(&server, &sleeper).await;
    for _ in 0..100 {
        let (_, e) = server.get(&format!("/api/v1/executions/{long_run}")).await;
        if e["state"] == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let echo = server
        .add_job(json!({"job_class_string": "wasmcron.testing.Echo", "name": "asked", "hour": "0"}))
        .await;
    let asked = run_now(&server, &echo).await;
    let every_second = |name: &str, options: Value| {
        let mut body = json!({"job_class_string": "wasmcron.testing.Echo", "name": name, "second": "*", "max_instances": 50});
        for (k, v) in options.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let late = server
        .add_job(every_second("late", json!({"coalesce": false})))
        .await;
    let strict = server
        .add_job(every_second(
            "strict",
            json!({"coalesce": false, "misfire_grace_seconds": 1}),
        ))
        .await;
    let coalescing = server
        .add_job(every_second("coalescing", json!({"coalesce": true})))
        .await;
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let left: Vec<Value> = server
        .executions_of(&late)
        .await
        .into_iter()
        .chain(server.executions_of(&strict).await)
        .chain(server.executions_of(&coalescing).await)
        .collect();
    let retry = server
        .executions_of(&failing)
        .await
        .into_iter()
        .find(|e| e["attempt"] == 2)
        .expect("the retry's row");
    server.kill_hard();
    let killed_at = Utc::now();
    for e in left.iter().chain([&retry]) {
        assert_eq!(e["state"], "scheduled", "{e}");
        assert!(e["started_time"].is_null(), "{e}");
    }
    let of = |job: &str| -> Vec<&Value> { left.iter().filter(|e| e["job_id"] == job).collect() };
    assert!(
        of(&late).len() >= 2 && of(&strict).len() >= 2 && of(&coalescing).len() >= 2,
        "{left:?}"
    );
    // Down for 2 s: the strict job's prepared fires are then over its grace time.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let server = Server::start(&data);
    let jobs = [
        failing.as_str(),
        sleeper.as_str(),
        echo.as_str(),
        late.as_str(),
        strict.as_str(),
        coalescing.as_str(),
    ];
    // Let a few fires follow the restart, then stop them and wait for every run.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for job in [&late, &strict, &coalescing] {
        let (status, _) = server
            .call(Method::PATCH, &format!("/api/v1/jobs/{job}"), None)
            .await;
        assert!(status.is_success());
    }
    let all = all_finished(&server, &jobs, Duration::from_secs(20)).await;
    let get = |id: &str| all.iter().find(|e| e["execution_id"] == id);

    let long_run = get(&long_run).unwrap();
    assert_eq!(long_run["state"], "failed", "{long_run}");
    assert!(host_stopped(long_run), "{long_run}");
    let asked = get(&asked).unwrap();
    assert_eq!(
        asked["state"], "succeeded",
        "the run-now did not run: {asked}"
    );
    let retried = get(retry["execution_id"].as_str().unwrap()).unwrap();
    assert_eq!(retried["state"], "failed", "{retried}");
    assert_eq!(
        retried["description"], "job_error",
        "the retry did not run: {retried}"
    );
    assert!(!retried["started_time"].is_null(), "{retried}");
    assert_eq!(
        all.iter().filter(|e| e["job_id"] == failing).count(),
        2,
        "the retry was retried past its max"
    );

    for job in [&late, &strict, &coalescing] {
        let mine: Vec<&Value> = all.iter().filter(|e| e["job_id"] == *job).collect();
        let times = scheduled_times(&mine.iter().map(|e| (*e).clone()).collect::<Vec<_>>());
        for pair in times.windows(2) {
            assert!(
                pair[1] > pair[0],
                "an occurrence has two executions: {pair:?}"
            );
        }
        for e in &mine {
            assert!(!host_stopped(e), "{e}");
        }
        if *job != coalescing {
            // Every occurrence from the first on has its execution.
            for pair in times.windows(2) {
                assert_eq!(
                    pair[1] - pair[0],
                    chrono::Duration::seconds(1),
                    "a lost occurrence: {pair:?}"
                );
            }
        }
    }
    for e in of(&late) {
        let now = get(e["execution_id"].as_str().unwrap()).unwrap();
        assert_eq!(
            now["state"], "succeeded",
            "a prepared fire did not run late: {now}"
        );
        assert!(time(&now["started_time"]) > killed_at, "{now}");
    }
    for e in of(&strict) {
        let now = get(e["execution_id"].as_str().unwrap()).unwrap();
        assert_eq!(now["state"], "missed", "{now}");
        assert_eq!(now["description"], "misfire", "{now}");
        assert!(now["started_time"].is_null(), "{now}");
    }
    // Coalesced: the prepared fires left nothing, and one run covers the downtime.
    for e in of(&coalescing) {
        assert!(get(e["execution_id"].as_str().unwrap()).is_none(), "{e}");
    }
    let times: Vec<DateTime<Utc>> = all
        .iter()
        .filter(|e| e["job_id"] == coalescing)
        .map(|e| time(&e["scheduled_time"]))
        .collect();
    let first = *times
        .iter()
        .min()
        .expect("the coalescing job ran after the restart");
    assert!(
        first > killed_at,
        "an occurrence from before the kill ran: {first}"
    );
    let mut times = times;
    times.sort();
    for pair in times.windows(2) {
        assert_eq!(pair[1] - pair[0], chrono::Duration::seconds(1), "{times:?}");
    }
}

/// A small xorshift generator: the random moments of the crash test, reproducible from
/// the seed it prints.
/// Whether an execution failed because its host stopped during the run: `host <name>
/// stopped during the run`, the host's name being the machine's hostname here.
fn host_stopped(e: &Value) -> bool {
    e["result"].as_str().is_some_and(|r| {
        r.starts_with("host ") && r.ends_with(" stopped during the run") && r.len() > 27
    })
}

/// The counts of the server's log line about what a start recovered.
fn recovered_counts(log: &str) -> (u64, u64) {
    // Without the colour codes around the fields.
    let mut plain = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    let Some(line) = plain
        .lines()
        .find(|l| l.contains("unstarted executions of a dead host recovered"))
    else {
        return (0, 0);
    };
    let field = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("run"), field("missed"))
}

/// Acceptance for crash recovery: 50 jobs fire every second while the host is killed
/// (SIGKILL) 10 times at random moments, every other one inside the 300 ms before a
/// second, when every job's next fire is prepared (claimed, its row written), and
/// restarted each time on the same data directory. Afterwards every occurrence of every
/// job in the window has exactly one execution: run (late, after a restart), or
/// `missed` by its misfire grace time; none lost, none duplicated; and no fire that had
/// not started is `failed` as `host stopped during the run`.
#[tokio::test]
async fn repeated_kills_lose_and_duplicate_no_occurrence() {
    const JOBS: usize = 50;
    const KILLS: usize = 10;
    let seed = u64::try_from(Utc::now().timestamp_micros()).unwrap() | 1;
    println!("seed {seed}");
    let mut rng = Rng(seed);
    let dir = tmp();
    let data = dir.path().join("data");
    let mut server = Server::start(&data);
    let mut jobs = Vec::new();
    for i in 0..JOBS {
        // Every fifth job may be 1 s late at most: after a restart, some of its
        // occurrences are `missed`.
        let grace = if i % 5 == 0 { 1 } else { 3600 };
        let id = server
            .add_job(json!({"job_class_string": "wasmcron.testing.Echo", "name": format!("tick {i}"), "second": "*", "coalesce": false, "misfire_grace_seconds": grace, "max_instances": 100}))
            .await;
        jobs.push((id, grace));
    }
    // The window starts at the first second every job was created before.
    let window_start = Utc::now() + chrono::Duration::seconds(1);
    let (mut recovered_run, mut recovered_missed) = (0, 0);
    let started = std::time::Instant::now();
    for kill in 0..KILLS {
        let mut wait = Duration::from_millis(600 + rng.below(1000));
        if kill % 2 == 0 {
            // Into the last 300 ms before a whole second: the next fires are prepared.
            let at = Utc::now() + chrono::Duration::from_std(wait).unwrap();
            let to_second = 1_000_000 - i64::from(at.timestamp_subsec_micros());
            let before = 30_000 + i64::try_from(rng.below(250_000)).unwrap();
            wait += Duration::from_micros(
                u64::try_from((to_second - before).rem_euclid(1_000_000)).unwrap(),
            );
        }
        tokio::time::sleep(wait).await;
        server.kill_hard();
        tokio::time::sleep(Duration::from_millis(rng.below(1500))).await;
        server = Server::start(&data);
        let (run, missed) = recovered_counts(&server.stderr());
        recovered_run += run;
        recovered_missed += missed;
    }
    let kills_took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(4)).await;
    // Ends well before the pause below, so that every occurrence in it was claimed.
    let window_end = Utc::now() - chrono::Duration::seconds(2);
    for (id, _) in &jobs {
        let (status, _) = server
            .call(Method::PATCH, &format!("/api/v1/jobs/{id}"), None)
            .await;
        assert!(status.is_success());
    }
    let ids: Vec<&str> = jobs.iter().map(|(id, _)| id.as_str()).collect();
    let all = all_finished(&server, &ids, Duration::from_secs(30)).await;

    let second = |t: DateTime<Utc>| t.timestamp();
    let (first, last) = (second(window_start) + 1, second(window_end));
    let mut occurrences = 0;
    let mut duplicated = Vec::new();
    let mut lost = Vec::new();
    let mut states = std::collections::BTreeMap::<String, usize>::new();
    for (id, grace) in &jobs {
        let mut by_second = std::collections::BTreeMap::<i64, Vec<&Value>>::new();
        for e in all.iter().filter(|e| e["job_id"] == *id) {
            assert_eq!(e["run_kind"], "scheduled", "{e}");
            let at = time(&e["scheduled_time"]);
            assert_eq!(at.timestamp_subsec_micros(), 0, "{e}");
            by_second.entry(at.timestamp()).or_default().push(e);
        }
        for (at, es) in &by_second {
            if es.len() > 1 {
                duplicated.push((id.clone(), *at, es.len()));
            }
        }
        for at in first..=last {
            occurrences += 1;
            let Some(es) = by_second.get(&at) else {
                lost.push((id.clone(), at));
                continue;
            };
            let e = es[0];
            let state = e["state"].as_str().unwrap();
            *states.entry(state.to_owned()).or_default() += 1;
            match state {
                "succeeded" => {}
                "missed" => {
                    assert_eq!(*grace, 1, "missed within an hour's grace: {e}");
                    assert_eq!(e["description"], "misfire", "{e}");
                }
                // A run the kill cut short; it had started.
                "failed" => {
                    assert!(host_stopped(e), "{e}");
                    assert!(
                        !e["started_time"].is_null(),
                        "a fire that never started was failed: {e}"
                    );
                }
                _ => panic!("unexpected state: {e}"),
            }
        }
    }
    println!(
        "{KILLS} kills in {kills_took:?}; {occurrences} occurrences of {JOBS} jobs over {} s: \
         {states:?}; after the restarts {recovered_run} prepared fires ran late and \
         {recovered_missed} were recorded missed; {} duplicated, {} lost",
        last - first + 1,
        duplicated.len(),
        lost.len()
    );
    assert!(
        duplicated.is_empty(),
        "occurrences with several executions: {duplicated:?}"
    );
    assert!(
        lost.is_empty(),
        "occurrences without an execution: {lost:?}"
    );
    assert!(
        recovered_run + recovered_missed > 0,
        "no kill found a prepared fire: the test did not test recovery"
    );
}
