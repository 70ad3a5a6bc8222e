//! Several hosts on one PostgreSQL, beside SQLite, in the same run:
//! `cargo bench -p wasmcron --bench cluster` (needs `make plugins` and a PostgreSQL:
//! `WASMCRON_BENCH_DATABASE_URL`, else the one on 127.0.0.1:5432 as user `postgres`;
//! the bench creates and drops databases of its own).
//!
//! Every server is the release `wasmcron serve` as its own process (retention off), so
//! two hosts are two processes sharing the machine's cores with the database, as they
//! would on one machine. The setups, each on a fresh database: SQLite with one host,
//! PostgreSQL with one host, PostgreSQL with two hosts.
//!
//! - `throughput`: run-now of `AwesomeJob` from 64 clients (spread over the hosts) for
//!   20 s; completed runs/s = succeeded executions / time from the first request to the
//!   last final state, read back from the database once every execution is final (so
//!   every run counted is persisted).
//! - `lateness`: 100,000 cron jobs (job `i` fires every minute at second `i % 60`) plus
//!   1,000 one-second interval jobs written straight into the database; the hosts run
//!   for the window (`-- SECONDS`, default 60). Lateness = `started_time` −
//!   `scheduled_time`; duplicates = occurrences with more than one execution; missed =
//!   occurrences without a run.
//! - `api`: `GET /api/v1/jobs` with 200 jobs on one host, 10 s per backend.
//! - `startup`: one host on PostgreSQL with 1,000,000 jobs (`-- --jobs N` to change):
//!   time from the process's spawn to serving, and its memory.
//!
//! Select parts with `cargo bench -p wasmcron --bench cluster -- lateness api`
//! (default: all), and setups with `sqlite`, `pg1`, `pg2` (default: all three).
//! `WASMCRON_BENCH_HOST_LOGS=<dir>` keeps each host's log (warnings and errors) there.

mod common;

use common::{postgres_admin_url, postgres_url_of, rss_bytes};
use reqwest::Client;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SECOND: i64 = 1_000_000;
const CLIENTS: usize = 64;
const CRON_JOBS: usize = 100_000;
const INTERVAL_JOBS: usize = 1_000;
const CLASS: &str = "simple_scheduler.jobs.sample_job.AwesomeJob";

/// Where a setup keeps its jobs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// One way of running: a backend and how many hosts share it.
#[derive(Clone, Copy)]
struct Setup {
    backend: Backend,
    hosts: usize,
}

impl Setup {
    const ALL: [Setup; 3] = [
        Setup {
            backend: Backend::Sqlite,
            hosts: 1,
        },
        Setup {
            backend: Backend::Postgres,
            hosts: 1,
        },
        Setup {
            backend: Backend::Postgres,
            hosts: 2,
        },
    ];

    /// The name that selects this setup on the command line.
    fn key(self) -> &'static str {
        match (self.backend, self.hosts) {
            (Backend::Sqlite, _) => "sqlite",
            (Backend::Postgres, 1) => "pg1",
            _ => "pg2",
        }
    }

    fn label(self) -> String {
        let backend = match self.backend {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        };
        let hosts = if self.hosts == 1 { "host" } else { "hosts" };
        format!("{backend}, {} {hosts}", self.hosts)
    }
}

/// A database for one setup: an SQLite file in `dir`, or a fresh PostgreSQL database
/// (dropped with the value).
struct BenchDatabase {
    url: String,
    postgres_name: Option<String>,
}

impl BenchDatabase {
    async fn create(backend: Backend, dir: &Path, n: usize) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => Ok(BenchDatabase {
                url: format!("sqlite://{}", dir.join("wasmcron.db").display()),
                postgres_name: None,
            }),
            Backend::Postgres => {
                let name = format!("wasmcron_bench_{}_{n}", std::process::id());
                let admin = sqlx::PgPool::connect(&postgres_admin_url()).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&admin)
                    .await?;
                admin.close().await;
                Ok(BenchDatabase {
                    url: postgres_url_of(&name),
                    postgres_name: Some(name),
                })
            }
        }
    }

    /// Creates the tables (the store's own migrations) and returns a pool on them.
    async fn migrate(&self) -> anyhow::Result<sqlx::AnyPool> {
        let database: wasmcron::Database = self.url.parse()?;
        let store = wasmcron::Store::open(&database).await?;
        store.close().await;
        sqlx::any::install_default_drivers();
        Ok(sqlx::AnyPool::connect(&self.url).await?)
    }

    async fn drop_database(self) {
        if let Some(name) = self.postgres_name
            && let Ok(admin) = sqlx::PgPool::connect(&postgres_admin_url()).await
        {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(&admin)
            .await;
            admin.close().await;
        }
    }
}

/// A `wasmcron serve` process. Stopped (SIGTERM, then waited for) when dropped.
struct Host {
    child: Child,
    base: String,
}

impl Host {
    /// Starts a host on `database_url` with the example plugins; returns it once it
    /// serves, with the time that took.
    fn start(
        database_url: &str,
        data_dir: &Path,
        name: &str,
        plugins: &Path,
    ) -> anyhow::Result<(Host, Duration)> {
        std::fs::create_dir_all(data_dir)?;
        let spawned = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasmcron"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--retention-days", "0", "--retention-per-job", "0"])
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--database-url")
            .arg(database_url)
            .arg("--plugin-dir")
            .arg(plugins)
            .args(["--host-name", name])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(host_log(name)?)
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("wasmcron listening on ") {
                        break url.trim().to_owned();
                    }
                }
                _ => anyhow::bail!("host {name} exited before serving"),
            }
        };
        let ready = spawned.elapsed();
        std::thread::spawn(move || for _ in lines {});
        Ok((Host { child, base }, ready))
    }
}

/// Where a host's log goes: a file in `WASMCRON_BENCH_HOST_LOGS` if set, else nowhere.
fn host_log(name: &str) -> anyhow::Result<Stdio> {
    Ok(match std::env::var_os("WASMCRON_BENCH_HOST_LOGS") {
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            let file = std::fs::File::create(Path::new(&dir).join(format!("{name}.log")))?;
            Stdio::from(file)
        }
        None => Stdio::null(),
    })
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// Starts `setup.hosts` hosts on `database`.
fn start_hosts(
    setup: Setup,
    database: &BenchDatabase,
    dir: &Path,
    plugins: &Path,
) -> anyhow::Result<Vec<Host>> {
    (0..setup.hosts)
        .map(|i| {
            let name = format!("bench-{i}");
            Host::start(&database.url, &dir.join(&name), &name, plugins).map(|(host, _)| host)
        })
        .collect()
}

fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs `request` from `CLIENTS` concurrent clients for `duration`, client `i` on
/// `bases[i % bases.len()]`; returns the successful requests and the errors.
async fn load<F, Fut>(
    client: &Client,
    bases: &[String],
    duration: Duration,
    request: F,
) -> (u64, u64)
where
    F: Fn(Client, String) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = bool> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let (client, base, request) = (
            client.clone(),
            bases[i % bases.len()].clone(),
            request.clone(),
        );
        let (stop, ok, errors) = (stop.clone(), ok.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if request(client.clone(), base.clone()).await {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    (ok.load(Ordering::Relaxed), errors.load(Ordering::Relaxed))
}

/// Creates a job through `base`; returns its id.
async fn create_job(client: &Client, base: &str, body: &Value) -> anyhow::Result<String> {
    let resp: Value = client
        .post(format!("{base}/api/v1/jobs"))
        .json(body)
        .send()
        .await?
        .json()
        .await?;
    resp["job_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("creating a job: {resp}"))
}

/// Waits until every host serves job `id` (a job created through one host reaches the
/// others by notification).
async fn wait_known(client: &Client, bases: &[String], id: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    for base in bases {
        loop {
            let resp = client
                .get(format!("{base}/api/v1/jobs/{id}"))
                .send()
                .await?;
            if resp.status().is_success() {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "job {id} never reached {base}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

async fn bench_throughput(
    setup: Setup,
    db: &BenchDatabase,
    dir: &Path,
    plugins: &Path,
) -> anyhow::Result<()> {
    let pool = db.migrate().await?;
    let hosts = start_hosts(setup, db, dir, plugins)?;
    let bases: Vec<String> = hosts.iter().map(|h| h.base.clone()).collect();
    let client = Client::builder().pool_max_idle_per_host(CLIENTS).build()?;
    let body = json!({"job_class_string": CLASS, "name": "throughput", "pub_args": ["hello", "world"],
        "trigger": "cron", "trigger_params": {"hour": "3"}});
    let job = create_job(&client, &bases[0], &body).await?;
    wait_known(&client, &bases, &job).await?;
    let path = format!("/api/v1/executions/{job}");
    let (requests, errors) = load(&client, &bases, Duration::from_secs(20), move |c, base| {
        let url = format!("{base}{path}");
        async move { matches!(c.post(&url).send().await, Ok(r) if r.status().is_success()) }
    })
    .await;
    // Every execution final, read back from the database.
    loop {
        let unfinished: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM executions WHERE state IN ('scheduled', 'running', 'stopping')",
        )
        .fetch_one(&pool)
        .await?;
        if unfinished == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (succeeded, persisted, first, last): (i64, i64, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT COALESCE(SUM(CASE WHEN state = 'succeeded' THEN 1 ELSE 0 END), 0), COUNT(*), \
         MIN(scheduled_time), MAX(finished_time) FROM executions",
    )
    .fetch_one(&pool)
    .await?;
    let span = (last.unwrap_or(0) - first.unwrap_or(0)).max(1) as f64 / 1e6;
    println!(
        "{:<26} run throughput {:>7.0} runs/s  ({succeeded} succeeded of {persisted} persisted, {requests} requests, {errors} errors, in {span:.1} s)",
        setup.label(),
        succeeded as f64 / span,
    );
    drop(hosts);
    pool.close().await;
    Ok(())
}

/// Whether job `i` of `count` is a cron job (the lateness mix: 100,000 cron jobs, then
/// one-second intervals; any larger count, cron jobs only).
fn is_cron(i: usize, count: usize) -> bool {
    i < CRON_JOBS || count > CRON_JOBS + INTERVAL_JOBS
}

/// The first fire of job `i` at or after `start`, and its period: a cron job fires at
/// second `i % 60` of every minute, an interval job every second at its own
/// millisecond.
fn first_fire(i: usize, cron: bool, start: i64) -> (i64, i64) {
    if cron {
        let minute = start / (60 * SECOND) * 60 * SECOND;
        let mut first = minute + (i % 60) as i64 * SECOND;
        if first < start {
            first += 60 * SECOND;
        }
        (first, 60 * SECOND)
    } else {
        (start + ((i - CRON_JOBS) as i64 * 1000) % SECOND, SECOND)
    }
}

/// Writes `count` jobs straight into the database at `url`: the lateness jobs (cron by
/// second of the minute, then one-second intervals), ids `{i:032x}`. Each backend's own
/// query builder: the `Any` driver's placeholders are SQLite's only.
async fn insert_jobs(url: &str, count: usize, start: i64) -> anyhow::Result<()> {
    macro_rules! insert {
        ($db:ty, $pool:expr) => {{
            let pool = $pool;
            let mut tx = pool.begin().await?;
            for batch_start in (0..count).step_by(1000) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO jobs (job_id, name, job_class_string, pub_args, trigger_kind, trigger_params, options, paused, next_run_time, created_time, updated_time) ",
                );
                qb.push_values(batch_start..(batch_start + 1000).min(count), |mut b, i| {
                    let cron = is_cron(i, count);
                    let (first, _) = first_fire(i, cron, start);
                    let (kind, params) = if cron {
                        let s = i % 60;
                        ("cron", format!(r#"{{"month":"*","day_of_week":"*","day":"*","hour":"*","minute":"*","second":"{s}"}}"#))
                    } else {
                        ("interval", r#"{"interval":1}"#.to_owned())
                    };
                    b.push_bind(format!("{i:032x}"))
                        .push_bind(format!("job {i}"))
                        .push_bind(CLASS)
                        .push_bind("[\"a\"]")
                        .push_bind(kind)
                        .push_bind(params)
                        .push_bind("{}")
                        .push_bind(false)
                        .push_bind(first)
                        .push_bind(start)
                        .push_bind(start);
                });
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            pool.close().await;
        }};
    }
    if url.starts_with("sqlite:") {
        insert!(sqlx::Sqlite, sqlx::SqlitePool::connect(url).await?);
    } else {
        insert!(sqlx::Postgres, sqlx::PgPool::connect(url).await?);
    }
    Ok(())
}

async fn bench_lateness(
    setup: Setup,
    db: &BenchDatabase,
    dir: &Path,
    plugins: &Path,
    seconds: i64,
) -> anyhow::Result<()> {
    let pool = db.migrate().await?;
    // The window starts once the hosts have had time to start.
    let start = (chrono::Utc::now().timestamp_micros() / SECOND + 30) * SECOND;
    let end = start + seconds * SECOND;
    insert_jobs(&db.url, CRON_JOBS + INTERVAL_JOBS, start).await?;
    let hosts = start_hosts(setup, db, dir, plugins)?;
    let now = chrono::Utc::now().timestamp_micros();
    tokio::time::sleep(Duration::from_micros(
        u64::try_from(end + 5 * SECOND - now).unwrap_or(0),
    ))
    .await;
    let rss: u64 = hosts.iter().map(|h| rss_bytes(h.child.id())).sum();
    drop(hosts);
    let rows: Vec<(String, i64, Option<i64>, String)> = sqlx::query_as(
        "SELECT job_id, scheduled_time, started_time, state FROM executions \
         WHERE scheduled_time >= $1 AND scheduled_time < $2",
    )
    .bind(start)
    .bind(end)
    .fetch_all(&pool)
    .await?;
    pool.close().await;
    let mut runs: HashMap<(usize, i64), usize> = HashMap::new();
    let mut lateness = Vec::new();
    for (job, scheduled, started, state) in &rows {
        let (Ok(i), Some(started)) = (usize::from_str_radix(job, 16), started) else {
            continue;
        };
        if state == "missed" || state == "skipped" {
            continue;
        }
        *runs.entry((i, *scheduled)).or_default() += 1;
        lateness.push(started - scheduled);
    }
    let (mut expected, mut missed) = (0u64, 0u64);
    let count = CRON_JOBS + INTERVAL_JOBS;
    for i in 0..count {
        let (mut t, step) = first_fire(i, is_cron(i, count), start);
        while t < end {
            expected += 1;
            if !runs.contains_key(&(i, t)) {
                missed += 1;
            }
            t += step;
        }
    }
    let duplicates: usize = runs.values().map(|n| n - 1).sum();
    lateness.sort_unstable();
    let ms = |us: i64| us as f64 / 1000.0;
    println!(
        "{:<26} lateness p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({expected} fires expected, {missed} missed, {duplicates} duplicates, {:.0} fires/s, hosts' RSS {:.0} MiB)",
        setup.label(),
        ms(percentile(&lateness, 0.5)),
        ms(percentile(&lateness, 0.99)),
        ms(lateness.last().copied().unwrap_or(0)),
        expected as f64 / seconds as f64,
        rss as f64 / f64::from(1 << 20),
    );
    Ok(())
}

async fn bench_api(
    setup: Setup,
    db: &BenchDatabase,
    dir: &Path,
    plugins: &Path,
) -> anyhow::Result<()> {
    let pool = db.migrate().await?;
    let hosts = start_hosts(setup, db, dir, plugins)?;
    let client = Client::builder().pool_max_idle_per_host(CLIENTS).build()?;
    for i in 0..200 {
        let body = json!({"job_class_string": CLASS, "name": format!("job {i}"), "pub_args": ["a"],
            "trigger": "cron", "trigger_params": {"hour": "3"}});
        create_job(&client, &hosts[0].base, &body).await?;
    }
    let duration = Duration::from_secs(10);
    let (requests, errors) = load(
        &client,
        &[hosts[0].base.clone()],
        duration,
        |c, base| async move {
            match c.get(format!("{base}/api/v1/jobs")).send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                _ => false,
            }
        },
    )
    .await;
    println!(
        "{:<26} GET /api/v1/jobs (200 jobs) {:>7.0} requests/s  ({errors} errors)",
        setup.label(),
        requests as f64 / duration.as_secs_f64()
    );
    drop(hosts);
    pool.close().await;
    Ok(())
}

async fn bench_startup(
    db: &BenchDatabase,
    dir: &Path,
    plugins: &Path,
    jobs: usize,
) -> anyhow::Result<()> {
    let pool = db.migrate().await?;
    let start = (chrono::Utc::now().timestamp_micros() / SECOND + 3600) * SECOND;
    let inserting = Instant::now();
    insert_jobs(&db.url, jobs, start).await?;
    let inserted = inserting.elapsed();
    pool.close().await;
    let (host, ready) = Host::start(&db.url, &dir.join("startup"), "startup", plugins)?;
    let rss = rss_bytes(host.child.id());
    println!(
        "{:<26} start-up with {jobs} jobs: serving after {:.2} s, RSS {:.0} MiB  (writing the jobs took {:.1} s)",
        "PostgreSQL, 1 host",
        ready.as_secs_f64(),
        rss as f64 / f64::from(1 << 20),
        inserted.as_secs_f64()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: i64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(60);
    let startup_jobs: usize = args
        .windows(2)
        .find(|w| w[0] == "--jobs")
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(1_000_000);
    let parts: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| ["throughput", "lateness", "api", "startup"].contains(a))
        .collect();
    let wants = |part: &str| parts.is_empty() || parts.contains(&part);
    let keys: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| Setup::ALL.iter().any(|s| s.key() == *a))
        .collect();
    let setups: Vec<Setup> = Setup::ALL
        .into_iter()
        .filter(|s| keys.is_empty() || keys.contains(&s.key()))
        .collect();
    let plugins: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins");
    anyhow::ensure!(
        plugins
            .join("simple_scheduler.jobs.sample_job.wasm")
            .exists(),
        "run `make plugins` first"
    );
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("wasmcron cluster benchmark: {cores} cores; every host its own process");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut n = 0;
        let mut fresh = |backend: Backend| {
            n += 1;
            let dir = tempfile::tempdir();
            let n = n;
            async move {
                let dir = dir?;
                let db = BenchDatabase::create(backend, dir.path(), n).await?;
                anyhow::Ok((dir, db))
            }
        };
        if wants("throughput") {
            for &setup in &setups {
                let (dir, db) = fresh(setup.backend).await?;
                let result = bench_throughput(setup, &db, dir.path(), &plugins).await;
                db.drop_database().await;
                result?;
            }
        }
        if wants("lateness") {
            for &setup in &setups {
                let (dir, db) = fresh(setup.backend).await?;
                let result = bench_lateness(setup, &db, dir.path(), &plugins, seconds).await;
                db.drop_database().await;
                result?;
            }
        }
        if wants("api") {
            for setup in setups.iter().filter(|s| s.hosts == 1) {
                let (dir, db) = fresh(setup.backend).await?;
                let result = bench_api(*setup, &db, dir.path(), &plugins).await;
                db.drop_database().await;
                result?;
            }
        }
        if wants("startup") {
            let (dir, db) = fresh(Backend::Postgres).await?;
            let result = bench_startup(&db, dir.path(), &plugins, startup_jobs).await;
            db.drop_database().await;
            result?;
        }
        anyhow::Ok(())
    })
}
