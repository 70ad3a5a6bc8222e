//! The runtime's costs, measured: `make bench` (or `cargo bench -p wasmcron --bench
//! runtime`). Needs `make plugins` first.
//!
//! - per run: fresh store + instantiate + call of `AwesomeJob` + drop, each run timed
//!   on its own, median and p99 over 10,000 runs (after 500 warm-up runs);
//! - beside it, in the same process and run: `fork`+`exec` of `/bin/true`, the cost a
//!   process-per-job scheduler pays, so the ratio holds on a noisy machine;
//! - loading a plugin: compiling it (no cache) vs loading its cached artifact, each the
//!   whole `load_plugin` (validate, compile/load, pre-link, describe), median of 20;
//! - start-up with 20 installed plugins: the server's `load_installed` over a store
//!   holding 20 different plugins, first compiling (empty cache), then from the cached
//!   artifacts as every later start does;
//! - one outbound HTTP request from a guest: `wasmcron.testing`'s `HttpFetch` of a
//!   loopback server (granted), against its `Echo` (no request, no grants) in the same
//!   process, alternating; the difference is what the request costs (allow-list,
//!   connect, exchange, record).

mod common;

use common::{bench_request, report, timed_loads};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use wasmcron::PluginRegistry;
use wasmcron::Store;
use wasmcron::{EngineOptions, RunOutcome, Runtime};

const RUNS: usize = 10_000;
const WARMUP: usize = 500;
const PROCESS_RUNS: usize = 1_000;
const LOADS: usize = 20;

/// The same component with a custom section appended: a valid, distinct plugin.
fn distinct_version(wasm: &[u8], i: usize) -> Vec<u8> {
    let name = format!("bench-copy-{i:04}");
    let mut out = wasm.to_vec();
    out.extend_from_slice(&[0, (1 + name.len()) as u8, name.len() as u8]);
    out.extend_from_slice(name.as_bytes());
    out
}

fn main() -> anyhow::Result<()> {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins");
    let wasm_path = plugins.join("simple_scheduler.jobs.sample_job.wasm");
    let wasm: Arc<[u8]> = std::fs::read(&wasm_path)
        .map_err(|e| anyhow::anyhow!("{}: {e} (run `make plugins`)", wasm_path.display()))?
        .into();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "wasmcron runtime benchmark: {cores} cores, plugin {} ({} bytes)",
        wasm_path.display(),
        wasm.len()
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let runtime = Runtime::new(&EngineOptions::default())?;

        // Loading: compile vs cached artifact.
        let cache = tempfile::tempdir()?;
        let compiles = timed_loads(&runtime, &wasm, None, LOADS).await?;
        let compiled = runtime
            .load_plugin(wasm.clone(), Some(cache.path()))
            .await?;
        runtime.cache_artifact(&compiled, cache.path()).await;
        let cached = timed_loads(&runtime, &wasm, Some(cache.path()), LOADS).await?;
        let compile = report("load plugin, compiling (no cache)", compiles);
        let load = report("load plugin, from cached artifact", cached);
        println!(
            "{:<44} {:.0}x faster",
            "cached load vs compile",
            compile.as_secs_f64() / load.as_secs_f64()
        );

        // Start-up with 20 installed plugins.
        let data = tempfile::tempdir()?;
        let store = Store::open_sqlite(&data.path().join("wasmcron.db")).await?;
        let registry = PluginRegistry::new(runtime.clone(), store.clone(), data.path().to_owned());
        let started = Instant::now();
        for i in 0..20 {
            registry
                .install(
                    &format!("plugin{i}"),
                    distinct_version(&wasm, i).into(),
                    false,
                )
                .await?;
        }
        let first = started.elapsed();
        println!(
            "{:<44} {:>9.1} ms (compiling each)",
            "install 20 plugins",
            first.as_secs_f64() * 1e3
        );
        let mut starts = Vec::new();
        for _ in 0..5 {
            let fresh = PluginRegistry::new(runtime.clone(), store.clone(), data.path().to_owned());
            let started = Instant::now();
            let loaded = fresh.load_installed().await?;
            starts.push(started.elapsed());
            anyhow::ensure!(loaded == 20, "loaded {loaded} of 20 plugins");
        }
        let start = report("start-up: load 20 installed plugins (cached)", starts);
        println!(
            "{:<44} {:.0}x faster than compiling them",
            "cached start-up vs first install",
            first.as_secs_f64() / start.as_secs_f64()
        );

        // Per run.
        let plugin = Arc::new(
            runtime
                .load_plugin(wasm.clone(), Some(cache.path()))
                .await?,
        );
        let request = bench_request(plugin, "AwesomeJob", r#"["hello","world"]"#);
        let mut samples = Vec::with_capacity(RUNS);
        for i in 0..WARMUP + RUNS {
            let started = Instant::now();
            let report = runtime.run(request.clone()).await;
            let elapsed = started.elapsed();
            if !matches!(report.outcome, RunOutcome::Succeeded { .. }) {
                anyhow::bail!("run failed: {:?}", report.outcome);
            }
            if i >= WARMUP {
                samples.push(elapsed);
            }
        }
        let per_run = report("run AwesomeJob (store+instantiate+call+drop)", samples);

        let mut processes = Vec::with_capacity(PROCESS_RUNS);
        for _ in 0..PROCESS_RUNS {
            let started = Instant::now();
            let status = std::process::Command::new("/bin/true").status()?;
            processes.push(started.elapsed());
            anyhow::ensure!(status.success());
        }
        let process = report("fork+exec+wait of /bin/true", processes);
        println!(
            "{:<44} {:.3} (a Wasm run costs {:.1}% of a process spawn)",
            "ratio wasm run / process spawn",
            per_run.as_secs_f64() / process.as_secs_f64(),
            100.0 * per_run.as_secs_f64() / process.as_secs_f64()
        );

        http_request_cost(&runtime, &plugins).await
    })
}

/// Runs of one HTTP GET to a loopback server from a guest, against runs of the same
/// plugin that make none.
async fn http_request_cost(runtime: &Runtime, plugins: &Path) -> anyhow::Result<()> {
    const HTTP_RUNS: usize = 2_000;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    let wasm = std::fs::read(plugins.join("wasmcron.testing.wasm"))?;
    let plugin = Arc::new(runtime.load_plugin(wasm.into(), None).await?);
    let mut fetch = bench_request(
        plugin.clone(),
        "HttpFetch",
        &format!(r#"{{"url": "http://127.0.0.1:{port}/"}}"#),
    );
    fetch.grants.http = Some(wasmcron::HttpGrant {
        allow: wasmcron::AllowList::parse(&[format!("http://127.0.0.1:{port}")])
            .map_err(anyhow::Error::msg)?,
        limits: wasmcron::HttpLimitCaps::default().default,
    });
    let echo = bench_request(plugin, "Echo", "{}");
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for i in 0..HTTP_RUNS + 100 {
        for (request, samples) in [(&fetch, &mut with), (&echo, &mut without)] {
            let started = Instant::now();
            let report = runtime.run(request.clone()).await;
            let elapsed = started.elapsed();
            if !matches!(report.outcome, RunOutcome::Succeeded { .. }) {
                anyhow::bail!("run failed: {:?}", report.outcome);
            }
            if i >= 100 {
                samples.push(elapsed);
            }
        }
    }
    let with = report("run HttpFetch: one GET to loopback", with);
    let without = report("run Echo of the same plugin, no request", without);
    println!(
        "{:<44} {:>9.1} µs (median difference)",
        "one local HTTP request from a guest",
        (with.as_secs_f64() - without.as_secs_f64()) * 1e6
    );
    Ok(())
}
