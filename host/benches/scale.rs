//! Scale: 1,000,000 jobs in the store. `cargo bench -p wasmcron --bench scale`
//! (`-- N` for another count). Needs `make plugins` first.
//!
//! Method: N daily cron jobs (each at its own minute of 03:00-03:59, so none fires
//! during the run) are written straight into a fresh SQLite file in multi-row
//! transactions; then the release `wasmcron` binary is started on it as its own
//! process, with the example plugins. Measured: the time from spawning the process to
//! its first successful HTTP answer (start-up: migrations, loading every job, building
//! the timer queue, loading the plugins), its resident memory (VmRSS) once serving,
//! and the latency of creating one more job (`POST /api/v1/jobs`, median and p99 of
//! 1,000 sequential creates).

mod common;

use common::rss_bytes;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins");
    anyhow::ensure!(
        plugins
            .join("simple_scheduler.jobs.sample_job.wasm")
            .exists(),
        "run `make plugins` first"
    );
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("wasmcron scale benchmark: {cores} cores, {count} jobs");
    let data = tempfile::tempdir()?;
    let data_dir = data.path().join("data");
    let binary = env!("CARGO_BIN_EXE_wasmcron");

    // A store with the schema and the example plugins installed (compiled once, as
    // any earlier start would have left them), made by the server's own code.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        std::fs::create_dir_all(&data_dir)?;
        let store = wasmcron::Store::open_sqlite(&data_dir.join("wasmcron.db")).await?;
        let runtime = wasmcron::Runtime::new(&wasmcron::EngineOptions::default())?;
        let registry = wasmcron::PluginRegistry::new(runtime, store.clone(), data_dir.clone());
        registry.install_dir(&plugins).await?;
        store.close().await;
        anyhow::Ok(())
    })?;
    let started = Instant::now();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", data_dir.join("wasmcron.db").display())).await?;
        let now = chrono::Utc::now().timestamp_micros();
        let tomorrow_3am = (now / 86_400_000_000 + 1) * 86_400_000_000 + 3 * 3_600_000_000;
        for chunk_start in (0..count).step_by(10_000) {
            let mut tx = pool.begin().await?;
            let chunk_end = (chunk_start + 10_000).min(count);
            for batch_start in (chunk_start..chunk_end).step_by(500) {
                let batch_end = (batch_start + 500).min(chunk_end);
                let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                    "INSERT INTO jobs (job_id, name, job_class_string, pub_args, trigger_kind, trigger_params, options, paused, next_run_time, created_time, updated_time) ",
                );
                qb.push_values(batch_start..batch_end, |mut b, i| {
                    let minute = (i % 60) as i64;
                    b.push_bind(format!("{i:032x}"))
                        .push_bind(format!("job {i}"))
                        .push_bind("simple_scheduler.jobs.sample_job.AwesomeJob")
                        .push_bind(format!("[\"arg\",{i}]"))
                        .push_bind("cron")
                        .push_bind(format!(r#"{{"month":"*","day_of_week":"*","day":"*","hour":"3","minute":"{minute}"}}"#))
                        .push_bind("{}")
                        .push_bind(false)
                        .push_bind(tomorrow_3am + minute * 60_000_000)
                        .push_bind(now)
                        .push_bind(now);
                });
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        pool.close().await;
        anyhow::Ok(())
    })?;
    println!(
        "{:<44} {:>9.1} s",
        format!("writing {count} jobs into SQLite"),
        started.elapsed().as_secs_f64()
    );

    let spawned = Instant::now();
    let mut child = Command::new(binary)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .arg("--plugin-dir")
        .arg(&plugins)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let base = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(url) = line.strip_prefix("wasmcron listening on ") {
                    break url.trim().to_owned();
                }
            }
            _ => anyhow::bail!("the server exited before serving"),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let outcome = rt.block_on(async {
        let client = reqwest::Client::new();
        loop {
            if client.get(format!("{base}/api/v1/jobs/{:032x}", 0)).send().await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let startup = spawned.elapsed();
        let rss = rss_bytes(child.id());
        let mut creates = Vec::new();
        for i in 0..1000 {
            let body = serde_json::json!({"job_class_string": "simple_scheduler.jobs.sample_job.AwesomeJob", "name": format!("new {i}"), "hour": "4"});
            let t = Instant::now();
            let resp = client.post(format!("{base}/api/v1/jobs")).json(&body).send().await?;
            anyhow::ensure!(resp.status().as_u16() == 201, "create answered {}", resp.status());
            creates.push(t.elapsed());
        }
        creates.sort();
        anyhow::Ok((startup, rss, creates, rss_bytes(child.id())))
    });
    let _ = child.kill();
    let _ = child.wait();
    let (startup, rss, creates, rss_after) = outcome?;
    println!(
        "{:<44} {:>9.2} s",
        "start-up to first answer",
        startup.as_secs_f64()
    );
    println!(
        "{:<44} {:>9.0} MiB (after 1,000 creates: {:.0} MiB)",
        "resident memory once serving",
        rss as f64 / 1048576.0,
        rss_after as f64 / 1048576.0
    );
    println!(
        "{:<44} median {:>6.2} ms   p99 {:>6.2} ms",
        "create a job (POST /api/v1/jobs)",
        creates[creates.len() / 2].as_secs_f64() * 1e3,
        creates[creates.len() * 99 / 100].as_secs_f64() * 1e3
    );
    Ok(())
}
