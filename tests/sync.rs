//! Several hosts on one PostgreSQL database: what is done through one host reaches the
//! others (jobs within one second, plugins, cancels), and a host that loses the database
//! refuses writes with 503, serves what it can, and recovers by itself without firing
//! an occurrence twice. Always on PostgreSQL (tests/postgres/ensure.sh starts one):
//! SQLite has one host per file.

mod common;

use common::{Server, ServerOptions, TestDir, tmp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a job change made through one host may take to reach another: the bound
/// the issue sets.
const PROPAGATION: Duration = Duration::from_secs(1);
/// How long a plugin change may take to reach another host, which compiles the new
/// version first (seconds on a busy machine).
const PLUGIN_PROPAGATION: Duration = Duration::from_secs(30);

/// The PostgreSQL database the hosts of a test share (dropped with `dir`).
fn shared_database(dir: &TestDir) -> String {
    common::database::postgres_database(&dir.path().join("shared"))
}

/// A host named `name` (its own data directory) on the database at `url`.
fn host(dir: &TestDir, name: &str, url: &str, plugins: bool) -> Server {
    host_with(dir, name, url, plugins, &[])
}

/// [`host`] with more arguments.
fn host_with(dir: &TestDir, name: &str, url: &str, plugins: bool, args: &[&str]) -> Server {
    // Two hosts on one machine need a name each (a name is a host's identity).
    let mut options = ServerOptions::new(&dir.path().join(name))
        .arg(&format!("--database-url={url}"))
        .arg(&format!("--host-name={name}"));
    for arg in args {
        options = options.arg(arg);
    }
    if plugins {
        options.start()
    } else {
        options.without_plugin_dir().start()
    }
}

/// Polls `check` until it returns `Some`, for at most `limit`; panics with `what`
/// otherwise. Returns what it returned and how long it took.
async fn within<T>(
    limit: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> (T, Duration) {
    let started = Instant::now();
    loop {
        if let Some(found) = check().await {
            return (found, started.elapsed());
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The job as `server` answers it (`None`: not found).
async fn job_on(server: &Server, job_id: &str) -> Option<Value> {
    let (status, body) = server.get(&format!("/api/v1/jobs/{job_id}")).await;
    (status == StatusCode::OK).then_some(body)
}

/// The job as it shows in `server`'s whole (cached) list.
async fn listed_on(server: &Server, job_id: &str) -> Option<Value> {
    let (status, body) = server.get("/api/v1/jobs").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_id"] == job_id)
        .cloned()
}

/// A job created, edited, paused, resumed and deleted through one host shows on the
/// other (its GET, its cached list and its timer) within a second of the answer.
#[tokio::test]
async fn job_changes_reach_every_host_within_a_second() {
    let dir = tmp();
    let url = shared_database(&dir);
    let a = host(&dir, "a", &url, true);
    let mut b = host(&dir, "b", &url, true);

    // Created through A: on B at once, with the same next run time.
    let job = a
        .add_job(json!({"job_class_string": "wasmcron.testing.Echo", "name": "nightly", "pub_args": [1], "hour": "3", "minute": "0"}))
        .await;
    let (seen, took) = within(PROPAGATION, "the new job on B", async || {
        job_on(&b, &job).await
    })
    .await;
    let on_a = job_on(&a, &job).await.unwrap();
    assert_eq!(seen["next_run_time"], on_a["next_run_time"], "{seen}");
    assert!(listed_on(&b, &job).await.is_some(), "B's list lacks it");
    eprintln!("created: on B after {took:?}");

    // Edited through A (a new name and schedule): B shows both, in its GET and its list.
    let (status, body) = a
        .call(
            Method::PUT,
            &format!("/api/v1/jobs/{job}"),
            Some(&json!({"job_class_string": "wasmcron.testing.Echo", "name": "early", "pub_args": [2], "hour": "1", "minute": "30"}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let on_a = job_on(&a, &job).await.unwrap();
    let (_, took) = within(PROPAGATION, "the edit on B", async || {
        let listed = listed_on(&b, &job).await?;
        (listed["name"] == "early"
            && listed["next_run_time"] == on_a["next_run_time"]
            && listed["pub_args"] == json!([2]))
        .then_some(())
    })
    .await;
    assert_eq!(job_on(&b, &job).await.unwrap()["name"], "early");
    eprintln!("edited: on B after {took:?}");

    // Paused, then resumed, through A.
    let (status, _) = a
        .call(Method::PATCH, &format!("/api/v1/jobs/{job}"), None)
        .await;
    assert!(status.is_success());
    let (_, took) = within(PROPAGATION, "the pause on B", async || {
        let listed = listed_on(&b, &job).await?;
        (listed["state"] == "paused").then_some(())
    })
    .await;
    eprintln!("paused: on B after {took:?}");
    let (status, _) = a
        .call(Method::OPTIONS, &format!("/api/v1/jobs/{job}"), None)
        .await;
    assert!(status.is_success());
    let on_a = job_on(&a, &job).await.unwrap();
    assert_eq!(on_a["state"], "active", "{on_a}");
    let (_, took) = within(PROPAGATION, "the resume on B", async || {
        let listed = listed_on(&b, &job).await?;
        (listed["state"] == "active" && listed["next_run_time"] == on_a["next_run_time"])
            .then_some(())
    })
    .await;
    eprintln!("resumed: on B after {took:?}");

    // Deleted through B (the other way round): gone from A's GET and list.
    let (status, _) = b
        .call(Method::DELETE, &format!("/api/v1/jobs/{job}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, took) = within(PROPAGATION, "the deletion on A", async || {
        (job_on(&a, &job).await.is_none() && listed_on(&a, &job).await.is_none()).then_some(())
    })
    .await;
    eprintln!("deleted: gone from A after {took:?}");

    // B's timer: an every-second job created through A, seen by B, then A dies: B
    // fires it.
    let ticking = a
        .add_job(json!({"job_class_string": "wasmcron.testing.Echo", "name": "tick", "trigger": "interval", "trigger_params": {"interval": 1}}))
        .await;
    within(PROPAGATION, "the every-second job on B", async || {
        job_on(&b, &ticking).await
    })
    .await;
    drop(a);
    let b_pid = u64::from(b.pid());
    within(
        Duration::from_secs(10),
        "a run of the job by B",
        async || {
            b.executions_of(&ticking)
                .await
                .into_iter()
                .find(|e| e["pid"] == b_pid && e["state"] == "succeeded")
        },
    )
    .await;
    b.terminate(Duration::from_secs(30));
}

/// A change whose notification never came (written straight into the table here) is
/// caught up with by the periodic resync: a deletion too.
#[tokio::test]
async fn the_resync_catches_up_with_changes_no_notification_announced() {
    use sqlx::Connection;
    let dir = tmp();
    let url = shared_database(&dir);
    let a = host(&dir, "a", &url, true);
    let body = |name: &str| json!({"job_class_string": "wasmcron.testing.Echo", "name": name, "hour": "3"});
    let renamed = a.add_job(body("before")).await;
    let deleted = a.add_job(body("doomed")).await;
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(
        "UPDATE jobs SET name = 'after', updated_time = updated_time + 1 WHERE job_id = $1",
    )
    .bind(&renamed)
    .execute(&mut db)
    .await
    .unwrap();
    sqlx::query("DELETE FROM jobs WHERE job_id = $1")
        .bind(&deleted)
        .execute(&mut db)
        .await
        .unwrap();
    // The resync runs every 30 s.
    let (_, took) = within(Duration::from_secs(40), "the resync", async || {
        let listed = listed_on(&a, &renamed).await?;
        (listed["name"] == "after" && job_on(&a, &deleted).await.is_none()).then_some(())
    })
    .await;
    eprintln!("caught up after {took:?}");
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The same component with a custom section appended: a different version (another
/// sha256) of the same plugin.
fn another_version(mut wasm: Vec<u8>, note: &str) -> Vec<u8> {
    let name = b"wasmcron-test-version";
    let payload_len = 1 + name.len() + note.len();
    assert!(payload_len < 128);
    wasm.extend_from_slice(&[0, payload_len as u8, name.len() as u8]);
    wasm.extend_from_slice(name);
    wasm.extend_from_slice(note.as_bytes());
    wasm
}

/// Runs a job now through `server` and waits for its end.
async fn run_on(server: &Server, job_id: &str) -> Value {
    let execution = server.run_now(job_id).await;
    server
        .wait_finished(&execution, Duration::from_secs(30))
        .await
}

/// A plugin uploaded through one host runs a job on another (which installs it from the
/// database); its replacement and its deletion reach the other host too.
#[tokio::test]
async fn plugins_reach_every_host() {
    let dir = tmp();
    let url = shared_database(&dir);
    let a = host(&dir, "a", &url, false);
    let b = host(&dir, "b", &url, false);
    let v1 = std::fs::read(common::plugin("wasmcron.testing")).unwrap();
    let v2 = another_version(v1.clone(), "v2");

    let (status, body) = a
        .send_bytes(Method::POST, "/api/v1/plugins/team.jobs", v1.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // B takes the job (its class resolves there), and runs it with A's upload.
    let job = b
        .add_job(json!({"job_class_string": "team.jobs.Echo", "name": "echo", "pub_args": [1], "hour": "0"}))
        .await;
    let e = run_on(&b, &job).await;
    assert_eq!(
        (e["state"].as_str(), e["plugin_sha256"].as_str(), &e["pid"]),
        (Some("succeeded"), Some(sha(&v1).as_str()), &json!(b.pid())),
        "{e}"
    );
    assert!(
        b.data_dir
            .join("plugins")
            .join(format!("{}.wasm", sha(&v1)))
            .exists(),
        "B keeps no copy of the plugin"
    );

    // Replaced through A: B's runs use the new version.
    let (status, body) = a
        .send_bytes(Method::POST, "/api/v1/plugins/team.jobs", v2.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (e, took) = within(
        PLUGIN_PROPAGATION,
        "B running the replacement",
        async || {
            let e = run_on(&b, &job).await;
            (e["plugin_sha256"] == sha(&v2)).then_some(e)
        },
    )
    .await;
    assert_eq!(e["state"], "succeeded", "{e}");
    eprintln!("replacement: run by B after {took:?}");
    let (status, downloaded) = b.get_bytes("/api/v1/plugins/team.jobs/wasm").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sha(&downloaded),
        sha(&v2),
        "B's download is not the new version"
    );

    // Deleted through A: B no longer has it.
    let (status, body) = a
        .call(Method::DELETE, "/api/v1/plugins/team.jobs?force=true", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (e, took) = within(PLUGIN_PROPAGATION, "B without the plugin", async || {
        let e = run_on(&b, &job).await;
        (e["state"] == "scheduled error").then_some(e)
    })
    .await;
    assert!(
        e["result"]
            .as_str()
            .unwrap()
            .contains("no plugin named 'team.jobs'"),
        "{e}"
    );
    eprintln!("deletion: on B after {took:?}");
}

/// A cancel sent through another host stops the run on the host that runs it (which
/// records it `stopped`), with the answer of a local cancel; a run whose host died ends
/// once a live host adopts the dead host's work (within the lease).
#[tokio::test]
async fn a_cancel_through_another_host_reaches_the_run() {
    let dir = tmp();
    let url = shared_database(&dir);
    let lease = ["--host-lease-seconds=3"];
    let mut a = host_with(&dir, "a", &url, true, &lease);
    let b = host_with(&dir, "b", &url, true, &lease);
    let job = a
        .add_testing_job("Sleep", json!({"seconds": 60}), json!({}))
        .await;

    let running = async |server: &Server, execution: &str| {
        within(Duration::from_secs(10), "the run started", async || {
            let (_, e) = server.get(&format!("/api/v1/executions/{execution}")).await;
            (e["state"] == "running").then_some(())
        })
        .await;
    };
    let execution = a.run_now(&job).await;
    running(&a, &execution).await;
    let asked = Instant::now();
    let (status, body) = b
        .call(
            Method::DELETE,
            &format!("/api/v1/executions/{execution}"),
            None,
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"execution_id": execution}))
    );
    let e = a.wait_finished(&execution, Duration::from_secs(10)).await;
    assert_eq!(
        (e["state"].as_str(), e["pid"].as_u64()),
        (Some("stopped"), Some(u64::from(a.pid()))),
        "{e}"
    );
    assert!(
        a.stderr().contains("cancelled through another host"),
        "A did not stop the run itself"
    );
    eprintln!("stopped {:?} after the cancel through B", asked.elapsed());

    // The run's host dies. The cancel through B is accepted (A may be alive for all B
    // knows until its lease runs out); once B adopts A's work, the run that A's death
    // cut short is settled: failed, as its host stopped during the run.
    let orphan = a.run_now(&job).await;
    running(&a, &orphan).await;
    a.kill_hard();
    let (status, _) = b
        .call(
            Method::DELETE,
            &format!("/api/v1/executions/{orphan}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let e = b.wait_finished(&orphan, Duration::from_secs(10)).await;
    assert_eq!(e["state"], "failed", "{e}");
    assert!(
        e["result"]
            .to_string()
            .contains("host a stopped during the run"),
        "{e}"
    );
}

/// A TCP proxy between a host and PostgreSQL, which a test can cut (every connection
/// through it closed, new ones closed at once) and restore.
struct Proxy {
    port: u16,
    open: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    /// Starts the proxy on a thread and runtime of its own: the test's own thread blocks
    /// while a server starts (reading its first line), and the server's first
    /// connections go through here.
    fn start(target: String) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (open, _) = tokio::sync::watch::channel(true);
        let state = open.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        return;
                    };
                    let mut opened = state.subscribe();
                    if !*opened.borrow_and_update() {
                        drop(client);
                        continue;
                    }
                    let target = target.clone();
                    tokio::spawn(async move {
                        let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = opened.wait_for(|open| !*open) => {}
                        }
                    });
                }
            });
        });
        Proxy { port, open }
    }

    fn cut(&self) {
        self.open.send_replace(false);
    }

    fn restore(&self) {
        self.open.send_replace(true);
    }
}

/// `url` with its host and port replaced by `127.0.0.1:<port>`; the server it named.
fn through(url: &str, port: u16) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let (user, server) = match authority.rsplit_once('@') {
        Some((user, server)) => (format!("{user}@"), server),
        None => (String::new(), authority),
    };
    let server = if server.contains(':') {
        server.to_owned()
    } else {
        format!("{server}:5432")
    };
    (format!("{scheme}://{user}127.0.0.1:{port}/{path}"), server)
}

/// The scheduled times of a job's scheduled runs, with how many runs each has.
fn runs_per_occurrence(executions: &[Value]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for e in executions.iter().filter(|e| e["run_kind"] == "scheduled") {
        *counts
            .entry(e["scheduled_time"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    counts
}

/// A host whose database goes away answers writes with 503 and a JSON error, serves the
/// jobs from memory, stops firing, and when the database is back fires again by itself,
/// without running any occurrence twice.
#[tokio::test]
async fn a_database_outage_refuses_writes_and_recovers_without_duplicates() {
    let dir = tmp();
    let url = shared_database(&dir);
    let (_, server) = through(&url, 0);
    let proxy = Proxy::start(server);
    let (proxied, _) = through(&url, proxy.port);
    let host = host(&dir, "a", &proxied, true);
    let job = host
        .add_job(json!({"job_class_string": "wasmcron.testing.Echo", "name": "tick", "trigger": "interval", "trigger_params": {"interval": 1}}))
        .await;
    within(
        Duration::from_secs(10),
        "two runs before the outage",
        async || {
            let runs = host.executions_of(&job).await;
            (runs.iter().filter(|e| e["state"] == "succeeded").count() >= 2).then_some(())
        },
    )
    .await;

    proxy.cut();
    let body = json!({"job_class_string": "wasmcron.testing.Echo", "name": "later", "hour": "0"})
        .to_string();
    let (status, answer) = host.post("/api/v1/jobs", &body).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("database unavailable: "),
        "{answer}"
    );
    // Other writes too, at once now that the host knows.
    let (status, answer) = host
        .call(Method::PATCH, &format!("/api/v1/jobs/{job}"), None)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    let (status, answer) = host.post(&format!("/api/v1/executions/{job}"), "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    // Reads from memory still work.
    assert!(job_on(&host, &job).await.is_some());
    assert!(listed_on(&host, &job).await.is_some());
    tokio::time::sleep(Duration::from_secs(3)).await;

    proxy.restore();
    let restored = Instant::now();
    let (status, answer) = within(
        Duration::from_secs(15),
        "a write accepted again",
        async || {
            let (status, answer) = host.post("/api/v1/jobs", &body).await;
            (status != StatusCode::SERVICE_UNAVAILABLE).then_some((status, answer))
        },
    )
    .await
    .0;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    // Firing resumes by itself: runs scheduled after the restore succeed.
    let after = chrono::Utc::now();
    within(
        Duration::from_secs(15),
        "runs after the outage",
        async || {
            let runs = host.executions_of(&job).await;
            (runs
                .iter()
                .filter(|e| e["state"] == "succeeded" && common::time(&e["scheduled_time"]) > after)
                .count()
                >= 2)
                .then_some(())
        },
    )
    .await;
    eprintln!("firing again {:?} after the restore", restored.elapsed());
    let counts = runs_per_occurrence(&host.executions_of(&job).await);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "occurrences run more than once: {twice:?}"
    );
    let (status, ready) = host.get("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
}

#[test]
fn a_url_through_the_proxy_keeps_user_database_and_parameters() {
    assert_eq!(
        through("postgres://postgres@127.0.0.1:5432/db_1?sslmode=disable", 7),
        (
            "postgres://postgres@127.0.0.1:7/db_1?sslmode=disable".to_owned(),
            "127.0.0.1:5432".to_owned()
        )
    );
    assert_eq!(
        through("postgres://u:p@db/x", 9),
        (
            "postgres://u:p@127.0.0.1:9/x".to_owned(),
            "db:5432".to_owned()
        )
    );
}
