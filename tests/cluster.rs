//! Several hosts on one PostgreSQL database, black-box: real server processes with their
//! own data directories and `--host-name`s, sharing the database of
//! `common::database::postgres_database` (whatever `WASMCRON_TEST_BACKEND` says: a
//! shared database is what this suite is about). They list each other, spread the
//! fires, run every occurrence exactly once, take over what a killed host left, and a
//! host stopped with SIGTERM hands its unstarted work to the others.
//!
//! The executions are read from the database directly: the chaos test writes more of
//! them than one API listing holds.

mod common;

use chrono::Utc;
use common::{Rng, Server, ServerOptions, TestDir, tmp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

const SECOND: i64 = 1_000_000;

/// The shared database of a test's hosts.
fn cluster_database(dir: &TestDir) -> String {
    common::database::postgres_database(&dir.path().join("cluster"))
}

/// Starts host `name` on the shared database, with `--host-lease-seconds lease` and
/// `extra` flags; its data directory is its own.
fn start_host(dir: &Path, database: &str, name: &str, lease: u64, extra: &[&str]) -> Server {
    let mut options = ServerOptions::new(&dir.join(name))
        .arg("--database-url")
        .arg(database)
        .arg("--host-name")
        .arg(name)
        .arg("--host-lease-seconds")
        .arg(&lease.to_string());
    for a in extra {
        options = options.arg(a);
    }
    options.start()
}

/// One execution as stored.
#[derive(Debug, Clone)]
struct Run {
    execution_id: String,
    job_id: String,
    state: String,
    result: Option<String>,
    host_id: Option<String>,
    hostname: String,
    scheduled_time: i64,
    started_time: Option<i64>,
    finished_time: Option<i64>,
    run_kind: String,
    attempt: i64,
}

async fn connect(database: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(database)
        .await
        .unwrap_or_else(|e| panic!("connecting to {database}: {e}"))
}

/// Every execution in the database.
async fn runs(db: &sqlx::AnyPool) -> Vec<Run> {
    sqlx::query(
        "SELECT execution_id, job_id, state, result, host_id, hostname, scheduled_time, \
         started_time, finished_time, run_kind, attempt FROM executions",
    )
    .fetch_all(db)
    .await
    .unwrap()
    .into_iter()
    .map(|r| Run {
        execution_id: r.get(0),
        job_id: r.get(1),
        state: r.get(2),
        result: r.get(3),
        host_id: r.get(4),
        hostname: r.get(5),
        scheduled_time: r.get(6),
        started_time: r.get(7),
        finished_time: r.get(8),
        run_kind: r.get(9),
        attempt: r.get(10),
    })
    .collect()
}

fn unfinished(run: &Run) -> bool {
    ["scheduled", "running", "stopping"].contains(&run.state.as_str())
}

/// Waits until every execution scheduled at or before `until` (µs) is finished; returns
/// them all.
async fn settled(db: &sqlx::AnyPool, until: i64, limit: Duration) -> Vec<Run> {
    let deadline = Instant::now() + limit;
    loop {
        let all = runs(db).await;
        let left: Vec<&Run> = all
            .iter()
            .filter(|r| r.scheduled_time <= until && unfinished(r))
            .collect();
        if left.is_empty() {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "{} executions still unfinished after {limit:?}, e.g. {:?}",
            left.len(),
            left[0]
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `n` Echo jobs firing every second (no coalescing: each occurrence has its own
/// execution), added through `server`; their ids.
async fn every_second_jobs(server: &Server, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            server
                .add_job(json!({
                    "job_class_string": "wasmcron.testing.Echo", "name": format!("tick {i}"),
                    "second": "*", "coalesce": false, "max_instances": 100,
                }))
                .await,
        );
    }
    ids
}

/// The whole seconds from `from` to `to` (µs), both included.
fn seconds(from: i64, to: i64) -> std::ops::RangeInclusive<i64> {
    from.div_euclid(SECOND) + 1..=to.div_euclid(SECOND)
}

/// Per job, the scheduled executions with their nominal second, checked: every second
/// of `window` has exactly one. Returns the number of occurrences checked.
fn exactly_once(runs: &[Run], jobs: &[String], window: std::ops::RangeInclusive<i64>) -> usize {
    let mut lost = Vec::new();
    let mut duplicated = Vec::new();
    let mut checked = 0;
    for job in jobs {
        let mut by_second: BTreeMap<i64, usize> = BTreeMap::new();
        for r in runs
            .iter()
            .filter(|r| r.job_id == *job && r.run_kind == "scheduled" && r.attempt == 1)
        {
            assert_eq!(r.scheduled_time % SECOND, 0, "{r:?}");
            *by_second.entry(r.scheduled_time / SECOND).or_default() += 1;
        }
        for s in window.clone() {
            checked += 1;
            match by_second.get(&s) {
                None => lost.push((job.clone(), s)),
                Some(1) => {}
                Some(n) => duplicated.push((job.clone(), s, *n)),
            }
        }
    }
    assert!(
        lost.is_empty() && duplicated.is_empty(),
        "{} lost, e.g. {:?}; {} duplicated, e.g. {:?}",
        lost.len(),
        lost.first(),
        duplicated.len(),
        duplicated.first()
    );
    checked
}

/// The hosts a server lists, by name.
async fn hosts(server: &Server) -> HashMap<String, Value> {
    let (status, body) = server.get("/api/v1/hosts").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["name"].as_str().unwrap().to_owned(), h.clone()))
        .collect()
}

/// `GET /api/v1/hosts` on each of two hosts lists both, alive, each with its address
/// and pid, and says which one answered; an execution names its host.
#[tokio::test]
async fn hosts_list_each_other() {
    let dir = tmp();
    let database = cluster_database(&dir);
    let a = start_host(dir.path(), &database, "alpha", 10, &[]);
    let b = start_host(dir.path(), &database, "beta", 10, &[]);
    for (server, me) in [(&a, "alpha"), (&b, "beta")] {
        let listed = hosts(server).await;
        for (name, other) in [("alpha", &a), ("beta", &b)] {
            let h = listed
                .get(name)
                .unwrap_or_else(|| panic!("{me} does not list {name}: {listed:?}"));
            assert_eq!(h["alive"], true, "{h}");
            assert_eq!(h["stopped"], false, "{h}");
            assert_eq!(h["pid"], other.pid(), "{h}");
            assert_eq!(
                format!("http://{}", h["address"].as_str().unwrap()),
                other.base,
                "{h}"
            );
            assert!(
                h["host_id"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{name}@")),
                "{h}"
            );
            assert_eq!(h["this_host"], name == me, "{h}");
        }
    }
    // A run-now runs on the host asked, which its execution names.
    let job = b.add_testing_job("Echo", json!({}), json!({})).await;
    let execution = b.run_now(&job).await;
    let e = b.wait_finished(&execution, Duration::from_secs(10)).await;
    assert_eq!(e["state"], "succeeded", "{e}");
    let beta = &hosts(&b).await["beta"];
    assert_eq!(e["host_id"], beta["host_id"], "{e}");
    assert_eq!(
        e["description"],
        format!(
            "hostname: {} | pid: {}",
            e["hostname"].as_str().unwrap(),
            b.pid()
        ),
        "{e}"
    );
}

/// Jobs firing every second on two hosts for about ten seconds: every occurrence runs
/// exactly once, both hosts run some, and each execution names its host.
#[tokio::test]
async fn fires_spread_over_two_hosts_exactly_once() {
    const JOBS: usize = 20;
    let dir = tmp();
    let database = cluster_database(&dir);
    let a = start_host(dir.path(), &database, "alpha", 10, &[]);
    let jobs = every_second_jobs(&a, JOBS).await;
    // Started after the jobs exist: it reads them at its start.
    let b = start_host(dir.path(), &database, "beta", 10, &[]);
    let from = Utc::now().timestamp_micros() + SECOND;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let to = Utc::now().timestamp_micros() - SECOND;
    let db = connect(&database).await;
    let all = settled(&db, to, Duration::from_secs(20)).await;
    let checked = exactly_once(&all, &jobs, seconds(from, to));
    let listed = hosts(&a).await;
    let id_of = |name: &str| listed[name]["host_id"].as_str().unwrap().to_owned();
    let (alpha, beta) = (id_of("alpha"), id_of("beta"));
    let in_window: Vec<&Run> = all
        .iter()
        .filter(|r| r.scheduled_time > from && r.scheduled_time <= to)
        .collect();
    let on = |host: &str| {
        in_window
            .iter()
            .filter(|r| r.host_id.as_deref() == Some(host))
            .count()
    };
    println!(
        "{checked} occurrences: {} on alpha, {} on beta",
        on(&alpha),
        on(&beta)
    );
    assert!(on(&alpha) > 0 && on(&beta) > 0, "one host ran everything");
    assert_eq!(on(&alpha) + on(&beta), in_window.len(), "{in_window:?}");
    assert!(in_window.iter().all(|r| r.state == "succeeded"));
    // Each also names the machine, as ndscheduler's rows do.
    assert!(in_window.iter().all(|r| !r.hostname.is_empty()));
    drop((a, b));
}

/// A job's `max_instances` and concurrency policy hold across hosts. Alpha runs 30
/// slow jobs alone (10 with `forbid`, 10 with `max_instances` 2, 10 with `replace`),
/// then beta joins and takes about half of them over while alpha's runs of them are
/// still going: beta counts them. Afterwards, for each job: with `forbid` no two runs
/// overlapped; with `max_instances` 2 never more than two at once; with `replace` every
/// run that a later one started beside was cancelled (`stopped`).
#[tokio::test]
async fn max_instances_and_concurrency_policies_hold_across_hosts() {
    const PER_POLICY: usize = 10;
    let dir = tmp();
    let database = cluster_database(&dir);
    let a = start_host(dir.path(), &database, "alpha", 10, &[]);
    let policies: [(&str, Value); 3] = [
        (
            "forbid",
            json!({"second": "*", "concurrency_policy": "forbid",
                   "pub_args": {"seconds": 2.5}}),
        ),
        (
            "max_instances",
            json!({"second": "*", "max_instances": 2, "pub_args": {"seconds": 2.5}}),
        ),
        (
            "replace",
            json!({"second": "*/2", "concurrency_policy": "replace",
                   "pub_args": {"seconds": 3.5}}),
        ),
    ];
    let mut jobs: Vec<(String, &str)> = Vec::new();
    for (policy, settings) in &policies {
        for i in 0..PER_POLICY {
            let mut body = json!({
                "job_class_string": "wasmcron.testing.Sleep",
                "name": format!("{policy} {i}"), "coalesce": false,
            });
            body.as_object_mut()
                .unwrap()
                .extend(settings.as_object().unwrap().clone());
            jobs.push((a.add_job(body).await, policy));
        }
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let b = start_host(dir.path(), &database, "beta", 10, &[]);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let db = connect(&database).await;
    let all = runs(&db).await;
    drop((a, b));
    // The runs that started, each with its end (or none yet).
    let ran = |job: &str| -> Vec<&Run> {
        let mut ran: Vec<&Run> = all
            .iter()
            .filter(|r| r.job_id == job && r.run_kind == "scheduled")
            .filter(|r| r.started_time.is_some())
            .collect();
        ran.sort_by_key(|r| r.started_time);
        ran
    };
    let overlaps = |earlier: &Run, later: &Run| {
        earlier
            .finished_time
            .is_none_or(|end| end > later.started_time.unwrap())
    };
    let mut on_both_hosts: HashMap<&str, usize> = HashMap::new();
    for (job, policy) in &jobs {
        let ran = ran(job);
        let hosts: std::collections::HashSet<_> = ran.iter().map(|r| &r.host_id).collect();
        if hosts.len() > 1 {
            *on_both_hosts.entry(policy).or_default() += 1;
        }
        for (i, later) in ran.iter().enumerate() {
            let beside: Vec<&&Run> = ran[..i].iter().filter(|e| overlaps(e, later)).collect();
            match *policy {
                "forbid" => assert!(beside.is_empty(), "{later:?} ran beside {beside:?}"),
                "max_instances" => {
                    assert!(beside.len() < 2, "{later:?} ran beside {beside:?}");
                }
                _ => {
                    for earlier in beside {
                        assert_eq!(earlier.state, "stopped", "{later:?} ran beside {earlier:?}");
                    }
                }
            }
        }
    }
    println!("jobs run on both hosts, by policy: {on_both_hosts:?}");
    // Beta took jobs over from alpha under every policy, so the checks above saw runs
    // of one job on two hosts.
    for (policy, _) in &policies {
        assert!(
            on_both_hosts.get(policy).is_some_and(|&n| n > 0),
            "no {policy} job ran on both hosts: {on_both_hosts:?}"
        );
    }
    // And the policies did skip fires (the jobs run longer than their period).
    for policy in ["forbid", "max_instances"] {
        let skipped = all
            .iter()
            .filter(|r| {
                r.state == "skipped" && r.result.as_deref().is_some_and(|t| t.contains(policy))
            })
            .count();
        assert!(skipped > 0, "no fire skipped by {policy}");
    }
}

/// Two hosts, alpha (one run slot; `alpha_flags` more) and beta, on a fresh shared
/// database, with 10 jobs firing every second; alpha holds a retry waiting for its
/// backoff (its job's first attempt failed 4 s before it is due) and a two-minute
/// run-now in its only slot, behind which the fires it claims wait.
struct HeldWork {
    dir: TestDir,
    database: String,
    alpha: Server,
    beta: Server,
    jobs: Vec<String>,
    /// The first second whose occurrences are checked (µs).
    from: i64,
    failing: String,
    long_run: String,
}

async fn held_work(lease: u64, alpha_flags: &[&str]) -> HeldWork {
    let dir = tmp();
    let database = cluster_database(&dir);
    let mut flags = vec!["--max-concurrent-runs", "1"];
    flags.extend_from_slice(alpha_flags);
    let alpha = start_host(dir.path(), &database, "alpha", lease, &flags);
    let jobs = every_second_jobs(&alpha, 10).await;
    let beta = start_host(dir.path(), &database, "beta", lease, &[]);
    let from = Utc::now().timestamp_micros() + SECOND;
    let failing = alpha
        .add_testing_job(
            "Fail",
            json!({}),
            json!({"retries": {"max": 1, "backoff_seconds": 4}}),
        )
        .await;
    let first = alpha.run_now(&failing).await;
    let first = alpha.wait_finished(&first, Duration::from_secs(10)).await;
    assert_eq!(first["state"], "failed", "{first}");
    let sleeper = alpha
        .add_testing_job("Sleep", json!({"seconds": 120}), json!({}))
        .await;
    let long_run = alpha.run_now(&sleeper).await;
    HeldWork {
        dir,
        database,
        alpha,
        beta,
        jobs,
        from,
        failing,
        long_run,
    }
}

/// A host killed (SIGKILL) while it has a run in progress, unstarted fires (its only
/// slot is held, so its claimed fires wait) and a retry waiting for its backoff: within
/// the lease and a few seconds the other host marks the run `failed` (`host <name>
/// stopped during the run`) and runs the fires and the retry, each once.
#[tokio::test]
async fn a_killed_hosts_work_is_taken_over() {
    const LEASE: u64 = 3;
    let HeldWork {
        dir: _dir,
        database,
        alpha: mut a,
        beta: b,
        jobs,
        from,
        failing,
        long_run,
    } = held_work(LEASE, &[]).await;
    let db = connect(&database).await;
    // Until the long run shows `running` and fires alpha claimed wait behind it (due
    // more than half a second ago, not started): those, and any it prepared since.
    let deadline = Instant::now() + Duration::from_secs(10);
    let alpha_id = hosts(&a).await["alpha"]["host_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let held: Vec<String> = loop {
        let all = runs(&db).await;
        let running = all
            .iter()
            .any(|r| r.execution_id == long_run && r.state == "running");
        let held: Vec<&Run> = all
            .iter()
            .filter(|r| {
                r.host_id.as_deref() == Some(alpha_id.as_str())
                    && r.state == "scheduled"
                    && r.started_time.is_none()
                    && r.run_kind == "scheduled"
            })
            .collect();
        let behind = Utc::now().timestamp_micros() - SECOND / 2;
        if running && held.iter().filter(|r| r.scheduled_time < behind).count() >= 3 {
            break held.iter().map(|r| r.execution_id.clone()).collect();
        }
        assert!(Instant::now() < deadline, "alpha never held waiting fires");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    a.kill_hard();
    let killed = Utc::now().timestamp_micros();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let to = Utc::now().timestamp_micros() - SECOND;
    let limit = Duration::from_secs(LEASE + 10);
    let all = settled(&db, to + 10 * SECOND, limit).await;
    exactly_once(&all, &jobs, seconds(from, to));
    let get = |id: &str| all.iter().find(|r| r.execution_id == id).unwrap();
    let long = get(&long_run);
    assert_eq!(long.state, "failed", "{long:?}");
    assert_eq!(
        long.result.as_deref(),
        Some("host alpha stopped during the run"),
        "{long:?}"
    );
    let retry = all
        .iter()
        .find(|r| r.job_id == failing && r.attempt == 2)
        .expect("the retry");
    assert_eq!(retry.state, "failed", "the retry did not run: {retry:?}");
    assert!(retry.started_time.is_some(), "{retry:?}");
    let beta_id = hosts(&b).await["beta"]["host_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // What alpha had claimed ran on beta, late, but within the lease and a few seconds.
    for id in &held {
        let r = get(id);
        assert_eq!(r.host_id.as_deref(), Some(beta_id.as_str()), "{r:?}");
        assert_eq!(r.state, "succeeded", "{r:?}");
        let started = r.started_time.unwrap();
        assert!(
            started > killed
                && started - killed < i64::try_from(LEASE).unwrap() * SECOND + 3 * SECOND,
            "run {} s after the kill: {r:?}",
            (started - killed) as f64 / 1e6
        );
    }
    // Alpha is listed dead, adopted by beta.
    let alpha = &hosts(&b).await["alpha"];
    assert_eq!(alpha["alive"], false, "{alpha}");
    assert_eq!(alpha["adopted_by"], beta_id.as_str(), "{alpha}");
    assert_eq!(alpha["runs_in_progress"], 0, "{alpha}");
}

/// A host stopped with SIGTERM while it holds a retry waiting for its backoff and
/// fires waiting for its only slot hands them back: the other host runs the retry on
/// time and the fires at once, well within the lease; every occurrence runs once.
#[tokio::test]
async fn a_terminated_host_hands_its_unstarted_work_back() {
    const LEASE: u64 = 30;
    let HeldWork {
        dir: _dir,
        database,
        alpha: mut a,
        beta: b,
        jobs,
        from,
        failing,
        long_run,
    } = held_work(LEASE, &["--shutdown-grace-seconds", "2"]).await;
    // Let a's claimed fires pile up behind the long run for a moment.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let status = a.terminate(Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    let stopped = Utc::now().timestamp_micros();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let to = Utc::now().timestamp_micros() - SECOND;
    let db = connect(&database).await;
    let all = settled(&db, to + 10 * SECOND, Duration::from_secs(20)).await;
    exactly_once(&all, &jobs, seconds(from, to));
    let beta_id = hosts(&b).await["beta"]["host_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let retry = all
        .iter()
        .find(|r| r.job_id == failing && r.attempt == 2)
        .expect("the retry");
    assert_eq!(
        retry.host_id.as_deref(),
        Some(beta_id.as_str()),
        "{retry:?}"
    );
    let late = retry.started_time.expect("the retry ran") - retry.scheduled_time;
    assert!(late < 2 * SECOND, "the retry ran {late} µs late: {retry:?}");
    // The fires alpha held ran on beta within about a second of the SIGTERM: long
    // before alpha's lease would have passed.
    let handed: Vec<&Run> = all
        .iter()
        .filter(|r| {
            r.run_kind == "scheduled"
                && r.scheduled_time < stopped
                && r.host_id.as_deref() == Some(beta_id.as_str())
                && r.started_time.is_some_and(|s| s > stopped - 3 * SECOND)
                && r.started_time.unwrap() - r.scheduled_time > SECOND
        })
        .collect();
    assert!(!handed.is_empty(), "alpha handed nothing back");
    for r in &handed {
        assert_eq!(r.state, "succeeded", "{r:?}");
        assert!(
            r.started_time.unwrap() - stopped < 3 * SECOND,
            "ran {} s after the SIGTERM: {r:?}",
            (r.started_time.unwrap() - stopped) as f64 / 1e6
        );
    }
    // The long run was interrupted at the end of alpha's grace period.
    let long = all.iter().find(|r| r.execution_id == long_run).unwrap();
    assert_eq!(long.state, "failed", "{long:?}");
    let alpha = &hosts(&b).await["alpha"];
    assert_eq!(alpha["stopped"], true, "{alpha}");
    assert_eq!(alpha["alive"], false, "{alpha}");
    assert_eq!(alpha["runs_in_progress"], 0, "{alpha}");
}

/// Acceptance: three hosts on one database, 200 jobs firing every second and 10
/// interval jobs, a random host killed with SIGKILL every few seconds and restarted.
/// Afterwards, for every job and every nominal occurrence in the window, exactly one
/// execution: none lost, none duplicated; each ran within the lease and a second of its
/// time, or of its host's death for one a killed host had claimed and not run (run by
/// another host, or by itself restarted); the only failures are runs a kill cut short;
/// nothing is left unfinished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_three_hosts_killed_at_random() {
    const LEASE: u64 = 3;
    const JOBS: usize = 200;
    const INTERVAL_JOBS: usize = 10;
    const ROUNDS: usize = 10;
    let seed = u64::try_from(Utc::now().timestamp_micros()).unwrap() | 1;
    println!("seed {seed}");
    let mut rng = Rng(seed);
    let dir = tmp();
    let database = cluster_database(&dir);
    let names = ["h0", "h1", "h2"];
    let mut servers: Vec<Option<Server>> = vec![Some(start_host(
        dir.path(),
        &database,
        names[0],
        LEASE,
        &[],
    ))];
    let first = servers[0].as_ref().unwrap();
    let jobs = every_second_jobs(first, JOBS).await;
    let mut intervals = Vec::new();
    for i in 0..INTERVAL_JOBS {
        intervals.push(
            first
                .add_job(json!({
                    "job_class_string": "wasmcron.testing.Echo", "name": format!("every 2 s {i}"),
                    "trigger": "interval", "trigger_params": {"interval": 2},
                    "coalesce": false, "max_instances": 100,
                }))
                .await,
        );
    }
    for name in &names[1..] {
        servers.push(Some(start_host(dir.path(), &database, name, LEASE, &[])));
    }
    let from = Utc::now().timestamp_micros() + SECOND;
    let started = Instant::now();
    // When each kill happened (µs).
    let mut kills: Vec<i64> = Vec::new();
    for _ in 0..ROUNDS {
        tokio::time::sleep(Duration::from_millis(2000 + rng.below(3000))).await;
        let victim = usize::try_from(rng.below(3)).unwrap();
        if let Some(mut server) = servers[victim].take() {
            server.kill_hard();
            kills.push(Utc::now().timestamp_micros());
        }
        // Down for a moment, sometimes longer than the lease.
        tokio::time::sleep(Duration::from_millis(rng.below(4000))).await;
        servers[victim] = Some(start_host(dir.path(), &database, names[victim], LEASE, &[]));
    }
    let to = Utc::now().timestamp_micros() - 2 * SECOND;
    let took = started.elapsed();
    let db = connect(&database).await;
    let all = settled(&db, to, Duration::from_secs(30)).await;
    let checked = exactly_once(&all, &jobs, seconds(from, to));

    // Interval jobs: consecutive occurrences two seconds apart, none missing, none
    // twice, over the window.
    for job in &intervals {
        let mut times: Vec<i64> = all
            .iter()
            .filter(|r| r.job_id == *job && r.attempt == 1)
            .map(|r| r.scheduled_time)
            .filter(|t| *t > from && *t <= to)
            .collect();
        times.sort_unstable();
        assert!(times.len() >= 2, "{job}: {times:?}");
        for pair in times.windows(2) {
            assert_eq!(pair[1] - pair[0], 2 * SECOND, "{job}: {times:?}");
        }
        assert!(times[0] - from <= 2 * SECOND && to - times[times.len() - 1] <= 2 * SECOND);
    }

    let lease = i64::try_from(LEASE).unwrap() * SECOND;
    let mut late = Vec::new();
    let mut worst = 0;
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_host: BTreeMap<String, usize> = BTreeMap::new();
    for r in all
        .iter()
        .filter(|r| r.scheduled_time > from && r.scheduled_time <= to)
    {
        *states.entry(r.state.clone()).or_default() += 1;
        *by_host
            .entry(r.host_id.clone().unwrap_or_default())
            .or_default() += 1;
        match r.state.as_str() {
            "succeeded" => {}
            // A run a kill cut short: it had started.
            "failed" => {
                let result = r.result.as_deref().unwrap_or_default();
                assert!(
                    result.starts_with("host h") && result.ends_with(" stopped during the run"),
                    "{r:?}"
                );
                assert!(r.started_time.is_some(), "{r:?}");
            }
            _ => panic!("unexpected state: {r:?}"),
        }
        // Late counts from the fire's time, or from its host's death when that came
        // after it (a fire the killed host had not run yet).
        if let Some(started) = r.started_time {
            let died = kills
                .iter()
                .copied()
                .filter(|k| *k <= started)
                .max()
                .unwrap_or(i64::MIN);
            let late_by = started - r.scheduled_time.max(died);
            worst = worst.max(late_by);
            if late_by > lease + SECOND {
                late.push(r);
            }
        }
    }
    println!(
        "{} kills in {took:?}; {checked} every-second occurrences and {} interval \
         ones; states {states:?}; by host {by_host:?}; the latest run {:.2} s after its \
         time or its host's death",
        kills.len(),
        INTERVAL_JOBS,
        worst as f64 / 1e6
    );
    assert!(
        late.is_empty(),
        "{} runs later than the lease and a second, e.g. {:?}",
        late.len(),
        late.first()
    );
    // Nothing is left unfinished once the jobs stop firing (paused through one host:
    // the others see it when their claims fail).
    let any = servers[0].as_ref().unwrap();
    for job in jobs.iter().chain(&intervals) {
        let (status, body) = any
            .call(reqwest::Method::PATCH, &format!("/api/v1/jobs/{job}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    settled(&db, i64::MAX, Duration::from_secs(30)).await;
}
