//! The server under load: `make bench` (or `cargo bench -p wasmcron --bench server`).
//! Needs `make plugins` first.
//!
//! The server runs in this process on its own 2-worker tokio runtime, on a real SQLite
//! file in a temporary directory with the example plugins; the load client runs on a
//! second runtime and speaks HTTP/1.1 over loopback (64 concurrent clients, each with
//! its own keep-alive connection). Both share the machine's cores, as a client on the
//! same host would.
//!
//! - `api`: `GET /api/v1/jobs` with 200 jobs, and `GET /api/v1/jobs/<id>`, 10 s each:
//!   requests/s and latency percentiles.
//! - `throughput`: run-now of `AwesomeJob` from 64 clients for 20 s; then waits until
//!   every execution is final. Completed executions/s = succeeded executions / time
//!   from the first request to the last execution's final state. Also the per-run
//!   overhead from the executions: request instant (`scheduled_time`) to the guest's
//!   start (`started_time`) and to the final state (`finished_time`).
//!
//! Select one with `cargo bench -p wasmcron --bench server -- api` (default: all).
//! With `WASMCRON_BENCH_SSE=1`, a client follows `GET /api/v1/events` during the
//! throughput part (what a dashboard costs) and reports the state events it received.
//! With `WASMCRON_BENCH_SCRAPE=1`, a client reads `GET /metrics` every second during
//! every part (what a Prometheus server costs) and reports how many scrapes it made.

use reqwest::Client;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wasmcron::ApiConfig;
use wasmcron::AuthConfig;
use wasmcron::EngineOptions;
use wasmcron::OptionLimits;
use wasmcron::RetentionConfig;
use wasmcron::SchedulerConfig;
use wasmcron::ServerConfig;

const CLIENTS: usize = 64;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs `request` from `CLIENTS` concurrent clients for `duration`; returns the
/// number of successful requests and every request's latency.
async fn load<F, Fut>(client: &Client, duration: Duration, request: F) -> (u64, Vec<Duration>, u64)
where
    F: Fn(Client) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = bool> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (stop, errors, request, client) = (
            stop.clone(),
            errors.clone(),
            request.clone(),
            client.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                if request(client.clone()).await {
                    latencies.push(started.elapsed());
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    all.sort();
    (all.len() as u64, all, errors.load(Ordering::Relaxed))
}

fn report(name: &str, count: u64, elapsed: Duration, latencies: &[Duration], errors: u64) {
    println!(
        "{name:<36} {:>9.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   ({count} ok, {errors} errors, {:.1} s)",
        count as f64 / elapsed.as_secs_f64(),
        ms(percentile(latencies, 0.5)),
        ms(percentile(latencies, 0.99)),
        elapsed.as_secs_f64()
    );
}

async fn bench_api(client: &Client, base: &str) -> anyhow::Result<()> {
    let mut ids = Vec::new();
    for i in 0..200 {
        let body = json!({"job_class_string": "simple_scheduler.jobs.sample_job.AwesomeJob", "name": format!("job {i}"), "pub_args": ["a", i], "trigger": "cron", "trigger_params": {"hour": "3", "minute": (i % 60).to_string()}});
        let resp: Value = client
            .post(format!("{base}/api/v1/jobs"))
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        ids.push(resp["job_id"].as_str().unwrap_or_default().to_owned());
    }
    let duration = Duration::from_secs(10);
    let url = format!("{base}/api/v1/jobs");
    let (count, latencies, errors) = load(client, duration, move |c: Client| {
        let url = url.clone();
        async move {
            match c.get(&url).send().await {
                Ok(r) if r.status().is_success() => {
                    r.bytes().await.map(|b| b.len() > 1000).unwrap_or(false)
                }
                _ => false,
            }
        }
    })
    .await;
    report(
        "GET /api/v1/jobs (200 jobs)",
        count,
        duration,
        &latencies,
        errors,
    );
    let ids = Arc::new(ids);
    let base = base.to_owned();
    let next = Arc::new(AtomicU64::new(0));
    let (count, latencies, errors) = load(client, duration, move |c: Client| {
        let (ids, base, next) = (ids.clone(), base.clone(), next.clone());
        async move {
            let i = next.fetch_add(1, Ordering::Relaxed) as usize % ids.len();
            match c.get(format!("{base}/api/v1/jobs/{}", ids[i])).send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                _ => false,
            }
        }
    })
    .await;
    report("GET /api/v1/jobs/<id>", count, duration, &latencies, errors);
    Ok(())
}

async fn bench_throughput(client: &Client, base: &str) -> anyhow::Result<()> {
    let body = json!({"job_class_string": "simple_scheduler.jobs.sample_job.AwesomeJob", "name": "throughput", "pub_args": ["hello", "world"], "trigger": "cron", "trigger_params": {"hour": "3"}});
    let resp: Value = client
        .post(format!("{base}/api/v1/jobs"))
        .json(&body)
        .send()
        .await?
        .json()
        .await?;
    let job = resp["job_id"].as_str().unwrap_or_default().to_owned();
    let subscriber = std::env::var_os("WASMCRON_BENCH_SSE")
        .map(|_| tokio::spawn(follow_all_events(client.clone(), base.to_owned())));
    let duration = Duration::from_secs(20);
    let url = format!("{base}/api/v1/executions/{job}");
    let started = Instant::now();
    let (count, latencies, errors) = load(client, duration, move |c: Client| {
        let url = url.clone();
        async move { matches!(c.post(&url).send().await, Ok(r) if r.status().is_success()) }
    })
    .await;
    report(
        "POST run-now (request only)",
        count,
        duration,
        &latencies,
        errors,
    );
    // Wait until every execution is final, then read them all back.
    let executions = loop {
        let page: Value = client
            .get(format!("{base}/api/v1/executions?job_id={job}&limit=10000"))
            .send()
            .await?
            .json()
            .await?;
        let mut all: Vec<Value> = page["executions"].as_array().cloned().unwrap_or_default();
        let mut cursor = page["next_cursor"].as_str().map(str::to_owned);
        while let Some(c) = cursor {
            let page: Value = client
                .get(format!(
                    "{base}/api/v1/executions?job_id={job}&limit=10000&cursor={c}"
                ))
                .send()
                .await?
                .json()
                .await?;
            all.extend(page["executions"].as_array().cloned().unwrap_or_default());
            cursor = page["next_cursor"].as_str().map(str::to_owned);
        }
        let unfinished = all
            .iter()
            .filter(|e| ["scheduled", "running"].contains(&e["state"].as_str().unwrap_or("")))
            .count();
        if unfinished == 0 {
            break all;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let time =
        |e: &Value, k: &str| chrono::DateTime::parse_from_rfc3339(e[k].as_str().unwrap_or("")).ok();
    let succeeded = executions
        .iter()
        .filter(|e| e["state"] == "succeeded")
        .count();
    let last_final = executions
        .iter()
        .filter_map(|e| time(e, "finished_time"))
        .max();
    let first = executions
        .iter()
        .filter_map(|e| time(e, "scheduled_time"))
        .min();
    let span = match (first, last_final) {
        (Some(a), Some(b)) => (b - a).to_std().unwrap_or(started.elapsed()),
        _ => started.elapsed(),
    };
    println!(
        "{:<36} {:>9.0} executions/s   ({succeeded} succeeded of {} persisted, in {:.1} s)",
        "run throughput (completed)",
        succeeded as f64 / span.as_secs_f64(),
        executions.len(),
        span.as_secs_f64()
    );
    let mut to_start: Vec<Duration> = Vec::new();
    let mut to_final: Vec<Duration> = Vec::new();
    for e in &executions {
        if let (Some(s), Some(st), Some(f)) = (
            time(e, "scheduled_time"),
            time(e, "started_time"),
            time(e, "finished_time"),
        ) {
            to_start.push((st - s).to_std().unwrap_or_default());
            to_final.push((f - s).to_std().unwrap_or_default());
        }
    }
    if let Some(subscriber) = subscriber {
        subscriber.abort();
        let _ = subscriber.await;
    }
    to_start.sort();
    to_final.sort();
    println!(
        "{:<36} to guest start p50 {:.2} ms p99 {:.2} ms; to final state p50 {:.2} ms p99 {:.2} ms",
        "per-run overhead (run-now, loaded)",
        ms(percentile(&to_start, 0.5)),
        ms(percentile(&to_start, 0.99)),
        ms(percentile(&to_final, 0.5)),
        ms(percentile(&to_final, 0.99))
    );
    Ok(())
}

/// Reads `GET /api/v1/events` until it ends or the task is aborted; prints what it got.
async fn follow_all_events(client: Client, base: String) {
    struct Report {
        events: u64,
        ended: &'static str,
    }
    impl Drop for Report {
        fn drop(&mut self) {
            println!(
                "{:<36} {} state events received; stream {}",
                "SSE subscriber (GET /api/v1/events)", self.events, self.ended
            );
        }
    }
    let mut report = Report {
        events: 0,
        ended: "open to the end",
    };
    let Ok(mut response) = client.get(format!("{base}/api/v1/events")).send().await else {
        report.ended = "refused";
        return;
    };
    const MARK: &str = "event: state";
    // The end of the previous chunk: a mark may be split between two.
    let mut carry = String::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                carry.push_str(&String::from_utf8_lossy(&chunk));
                report.events += carry.matches(MARK).count() as u64;
                let mut counted = carry.len().saturating_sub(MARK.len() - 1);
                while !carry.is_char_boundary(counted) {
                    counted -= 1;
                }
                carry.drain(..counted);
            }
            // The server dropped it: it fell behind.
            _ => {
                report.ended = "ended early (the subscriber fell behind)";
                return;
            }
        }
    }
}

/// Reads `/metrics` once a second, as a Prometheus server would, and prints each
/// tenth scrape's size and time; panics on a failed scrape.
async fn scrape_every_second(client: Client, base: String) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for n in 1u64.. {
        tick.tick().await;
        let started = Instant::now();
        let body = match client.get(format!("{base}/metrics")).send().await {
            Ok(r) if r.status().is_success() => r.text().await.unwrap_or_default(),
            Ok(r) => panic!("GET /metrics answered {}", r.status()),
            Err(e) => panic!("GET /metrics failed: {e}"),
        };
        if n % 10 == 0 {
            println!(
                "  (scrape {n}: {} bytes in {:.1} ms)",
                body.len(),
                ms(started.elapsed())
            );
        }
    }
}

fn main() -> anyhow::Result<()> {
    let which = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "all".into());
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins");
    anyhow::ensure!(
        plugins
            .join("simple_scheduler.jobs.sample_job.wasm")
            .exists(),
        "run `make plugins` first"
    );
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "wasmcron server benchmark: {cores} cores, {CLIENTS} clients, server and client in one process"
    );

    let data = tempfile::tempdir()?;
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = server_rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let config = ServerConfig {
        data_dir: data.path().join("data"),
        database: None,
        plugin_dir: Some(plugins),
        scheduler: SchedulerConfig {
            retention: RetentionConfig {
                max_age: None,
                max_per_job: None,
                ..RetentionConfig::default()
            },
            ..SchedulerConfig::default()
        },
        shutdown_grace: Duration::from_secs(30),
        api: ApiConfig::default(),
        engine: EngineOptions {
            max_concurrent_runs: 128,
            // Every run reserves its memory from a budget, as in the server.
            memory_budget_bytes: Some(16 << 30),
            ..EngineOptions::default()
        },
        option_limits: OptionLimits::default(),
        // As a default install: loopback, no token, so the API is open.
        auth: AuthConfig::default(),
        insecure_no_auth: false,
        tls: None,
    };
    let server = server_rt.spawn(wasmcron::serve(listener, config, async move {
        let _ = stop_rx.await;
    }));

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    client_rt.block_on(async {
        let client = Client::builder().pool_max_idle_per_host(CLIENTS).build()?;
        for _ in 0..100 {
            if client
                .get(format!("{base}/api/v1/jobs"))
                .send()
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let scraper = std::env::var_os("WASMCRON_BENCH_SCRAPE")
            .map(|_| tokio::spawn(scrape_every_second(client.clone(), base.clone())));
        if which == "all" || which == "api" {
            bench_api(&client, &base).await?;
        }
        if which == "all" || which == "throughput" {
            bench_throughput(&client, &base).await?;
        }
        if let Some(scraper) = scraper {
            scraper.abort();
            if let Err(e) = scraper.await
                && e.is_panic()
            {
                anyhow::bail!("the metrics scraper failed: {e}");
            }
        }
        anyhow::Ok(())
    })?;
    let _ = stop_tx.send(());
    server_rt.block_on(server)??;
    Ok(())
}
