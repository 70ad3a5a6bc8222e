//! Fire lateness at scale: `cargo bench -p wasmcron --bench lateness` (`-- SECONDS`
//! for a shorter run than the default 300). Needs `make plugins` first.
//!
//! Method: 100,000 cron jobs, job `i` firing every minute at second `i % 60` (the
//! `second` field spreads them over the minute), plus 1,000 interval jobs firing every
//! second, all running `AwesomeJob`, are written straight into a fresh SQLite file; the
//! release `wasmcron serve` then runs on it as its own process (retention off) for the
//! duration. Afterwards the executions are read back from the file. Lateness of a fire
//! = its `started_time` (the guest is about to be instantiated) − its `scheduled_time`
//! (the nominal fire time). Missed = occurrences due within the window that have no
//! execution, or whose execution is `missed`/`skipped`.

mod common;

use common::rss_bytes;
use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const CRON_JOBS: usize = 100_000;
const INTERVAL_JOBS: usize = 1_000;
const SECOND: i64 = 1_000_000;

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// An execution read back: job id, scheduled time, started time, state.
type Execution = (String, i64, Option<i64>, String);

/// Prints p50, p99 and max of `started - scheduled` over the executions of the jobs
/// (by index) that `jobs` keeps.
fn print_lateness(label: &str, executions: &[Execution], jobs: impl Fn(usize) -> bool) {
    let mut lateness: Vec<i64> = executions
        .iter()
        .filter(|(job, _, _, _)| usize::from_str_radix(job, 16).is_ok_and(&jobs))
        .filter_map(|(_, scheduled, started, _)| started.map(|started| started - scheduled))
        .collect();
    lateness.sort_unstable();
    let ms = |us: i64| us as f64 / 1000.0;
    println!(
        "{:<36} p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
        label,
        ms(percentile(&lateness, 0.5)),
        ms(percentile(&lateness, 0.99)),
        ms(lateness.last().copied().unwrap_or(0))
    );
}

fn main() -> anyhow::Result<()> {
    let seconds: i64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(300);
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins");
    anyhow::ensure!(
        plugins
            .join("simple_scheduler.jobs.sample_job.wasm")
            .exists(),
        "run `make plugins` first"
    );
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "wasmcron lateness benchmark: {cores} cores, {CRON_JOBS} cron jobs (one fire a minute each) + {INTERVAL_JOBS} 1-second interval jobs, {seconds} s"
    );
    let data = tempfile::tempdir()?;
    let data_dir = data.path().join("data");
    let db = data_dir.join("wasmcron.db");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // The window starts once the server has had time to start.
    let start = (chrono::Utc::now().timestamp_micros() / SECOND + 20) * SECOND;
    let end = start + seconds * SECOND;
    rt.block_on(async {
        std::fs::create_dir_all(&data_dir)?;
        let store = wasmcron::Store::open_sqlite(&db).await?;
        let runtime = wasmcron::Runtime::new(&wasmcron::EngineOptions::default())?;
        let registry = wasmcron::PluginRegistry::new(runtime, store.clone(), data_dir.clone());
        registry.install_dir(&plugins).await?;
        store.close().await;
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await?;
        let mut tx = pool.begin().await?;
        let total = CRON_JOBS + INTERVAL_JOBS;
        for batch_start in (0..total).step_by(500) {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO jobs (job_id, name, job_class_string, pub_args, trigger_kind, trigger_params, options, paused, next_run_time, created_time, updated_time) ",
            );
            qb.push_values(batch_start..(batch_start + 500).min(total), |mut b, i| {
                let (kind, params, first) = if i < CRON_JOBS {
                    let s = (i % 60) as i64;
                    // The first minute boundary + s at or after the window's start.
                    let minute = start / (60 * SECOND) * 60 * SECOND;
                    let mut first = minute + s * SECOND;
                    if first < start {
                        first += 60 * SECOND;
                    }
                    ("cron", format!(r#"{{"month":"*","day_of_week":"*","day":"*","hour":"*","minute":"*","second":"{s}"}}"#), first)
                } else {
                    ("interval", r#"{"interval":1}"#.to_owned(), start + ((i - CRON_JOBS) as i64 * 1000) % SECOND)
                };
                b.push_bind(format!("{i:032x}"))
                    .push_bind(format!("job {i}"))
                    .push_bind("simple_scheduler.jobs.sample_job.AwesomeJob")
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
        anyhow::Ok(())
    })?;

    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmcron"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--retention-days",
            "0",
            "--retention-per-job",
            "0",
            "--data-dir",
        ])
        .arg(&data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let wait_until = end + 5 * SECOND;
    let now = chrono::Utc::now().timestamp_micros();
    std::thread::sleep(Duration::from_micros(
        u64::try_from(wait_until - now).unwrap_or(0),
    ));
    let rss = rss_bytes(child.id());
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();

    let rows: Vec<Execution> = rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await?;
        let rows = sqlx::query_as(
            "SELECT job_id, scheduled_time, started_time, state FROM executions WHERE scheduled_time >= $1 AND scheduled_time < $2",
        )
        .bind(start)
        .bind(end)
        .fetch_all(&pool)
        .await?;
        pool.close().await;
        anyhow::Ok(rows)
    })?;
    let ran: HashSet<(usize, i64)> = rows
        .iter()
        .filter(|(_, _, started, state)| {
            started.is_some() && state != "missed" && state != "skipped"
        })
        .filter_map(|(job, s, _, _)| usize::from_str_radix(job, 16).ok().map(|j| (j, *s)))
        .collect();
    let mut expected = 0u64;
    let mut missed = 0u64;
    for i in 0..CRON_JOBS + INTERVAL_JOBS {
        let (mut t, step) = if i < CRON_JOBS {
            let s = (i % 60) as i64;
            let minute = start / (60 * SECOND) * 60 * SECOND;
            let mut first = minute + s * SECOND;
            if first < start {
                first += 60 * SECOND;
            }
            (first, 60 * SECOND)
        } else {
            (start + ((i - CRON_JOBS) as i64 * 1000) % SECOND, SECOND)
        };
        while t < end {
            expected += 1;
            if !ran.contains(&(i, t)) {
                missed += 1;
            }
            t += step;
        }
    }
    println!(
        "{:<36} {} expected, {} executions in the window, {} missed",
        "fires",
        expected,
        rows.len(),
        missed
    );
    print_lateness("lateness (started - scheduled)", &rows, |_| true);
    println!(
        "{:<36} {:.0} MiB",
        "server RSS at the end",
        rss as f64 / f64::from(1 << 20)
    );
    // The cron fires come in bursts (1,667 due at each whole second); the interval
    // fires are spread 1 ms apart.
    print_lateness("  cron fires (bursts)", &rows, |job| job < CRON_JOBS);
    print_lateness("  interval fires (spread)", &rows, |job| job >= CRON_JOBS);
    println!(
        "{:<36} {:.0} fires/s",
        "fire rate",
        expected as f64 / seconds as f64
    );
    Ok(())
}
