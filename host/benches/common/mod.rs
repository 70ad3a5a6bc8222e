//! What the benches share: percentiles of timed samples and their report line, timed
//! plugin loads, the bench run request, a process's resident memory, where PostgreSQL is.
#![allow(dead_code)]

use std::time::Duration;

/// The `p` quantile (0 to 1) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Prints the median and p99 of the samples under `name`; returns the median.
pub fn report(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let median = percentile(&samples, 0.5);
    println!(
        "{name:<44} n={:<6} median {:>9.1} µs   p99 {:>9.1} µs",
        samples.len(),
        micros(median),
        micros(percentile(&samples, 0.99))
    );
    median
}

/// The median of the samples.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    percentile(&samples, 0.5)
}

/// `n` timed `load_plugin` calls of the same bytes: compiling each time without a cache
/// directory, loading the cached artifact with one.
pub async fn timed_loads(
    runtime: &wasmcron::Runtime,
    wasm: &std::sync::Arc<[u8]>,
    cache: Option<&std::path::Path>,
    n: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = std::time::Instant::now();
        runtime.load_plugin(wasm.clone(), cache).await?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}

/// A run of `class` with `args` under default limits, as the benches time it.
pub fn bench_request(
    plugin: std::sync::Arc<wasmcron::Plugin>,
    class: &str,
    args: &str,
) -> wasmcron::RunRequest {
    wasmcron::RunRequest {
        plugin,
        class: class.into(),
        args: args.into(),
        context: wasmcron::RunContext {
            job_name: "bench".into(),
            attempt: 1,
            ..Default::default()
        },
        limits: wasmcron::RunLimits::default(),
        cancel: tokio_util::sync::CancellationToken::new(),
        grants: wasmcron::Grants::default(),
    }
}

/// A process's resident memory (`VmRSS`) in bytes; 0 if it cannot be read.
pub fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

/// Where a bench reaches PostgreSQL to create and drop its databases.
pub fn postgres_admin_url() -> String {
    std::env::var("WASMCRON_BENCH_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `postgres_admin_url()` with its database replaced by `name`.
pub fn postgres_url_of(name: &str) -> String {
    let admin = postgres_admin_url();
    let (base, params) = admin.split_once('?').unwrap_or((&admin, ""));
    let server_end = base
        .find("://")
        .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
        .unwrap_or(base.len());
    let params = if params.is_empty() {
        String::new()
    } else {
        format!("?{params}")
    };
    format!("{}/{name}{params}", &base[..server_end])
}
