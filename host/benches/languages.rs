//! What each guest language costs the host: `cargo bench -p wasmcron --bench languages`
//! (part of `make bench`). Needs `make toolchains plugins` first; a language whose example
//! was not built is listed as skipped.
//!
//! For each example plugin, in one process and one run (so the ratios hold on a noisy
//! machine), with the server's engine settings:
//! - compile: the whole `load_plugin` without a cache (validate, compile, pre-link,
//!   describe), median of 3: what an upload costs once;
//! - load: `load_plugin` from the cached artifact, median of 20: what every later server
//!   start costs;
//! - run: fresh store + instantiate + call of a trivial class + drop, median and p99 of
//!   many runs after a warm-up: what every fire costs.
//!
//! The Rust example (`AwesomeJob`) is measured the same way as the baseline.

mod common;

use common::{bench_request, median, micros, percentile, timed_loads};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmcron::{EngineOptions, RunOutcome, Runtime};

/// One example: where `make plugins` puts it, a trivial class and arguments, and how many
/// runs to time (fewer for the interpreters, which take milliseconds per run).
struct Example {
    language: &'static str,
    file: &'static str,
    class: &'static str,
    args: &'static str,
    runs: usize,
}

const EXAMPLES: &[Example] = &[
    Example {
        language: "Rust",
        file: "plugins/simple_scheduler.jobs.sample_job.wasm",
        class: "AwesomeJob",
        args: r#"["hello","world"]"#,
        runs: 5_000,
    },
    Example {
        language: "C",
        file: "language-plugins/wasmcron.examples.c.wasm",
        class: "Checksum",
        args: r#"{"text":"hello world"}"#,
        runs: 5_000,
    },
    Example {
        language: "C (WASI command)",
        file: "plugins/wasmcron.examples.c_fib.wasm",
        class: "Fibonacci",
        args: r#"{"n":50}"#,
        runs: 5_000,
    },
    Example {
        language: "Zig",
        file: "language-plugins/wasmcron.examples.zig.wasm",
        class: "Collatz",
        args: r#"{"n":27}"#,
        runs: 5_000,
    },
    Example {
        language: "Go",
        file: "language-plugins/wasmcron.examples.go.wasm",
        class: "WordFrequency",
        args: r#"{"text":"a","k":1}"#,
        runs: 1_000,
    },
    Example {
        language: "Python",
        file: "language-plugins/wasmcron.examples.python.wasm",
        class: "Statistics",
        args: r#"{"values":[1,2,3]}"#,
        runs: 300,
    },
    Example {
        language: "JavaScript",
        file: "language-plugins/wasmcron.examples.javascript.wasm",
        class: "Template",
        args: r#"{"template":"hi {{n}}","values":{"n":1}}"#,
        runs: 300,
    },
];

const COMPILES: usize = 3;
const LOADS: usize = 20;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> anyhow::Result<()> {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("wasmcron per-language benchmark: {cores} cores");
    println!(
        "{:<18} {:>10} {:>12} {:>10} {:>12} {:>12} {:>9}",
        "language", "size KiB", "compile ms", "load ms", "run µs p50", "run µs p99", "vs Rust"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let runtime = Runtime::new(&EngineOptions::default())?;
        let mut rust_run = None;
        for example in EXAMPLES {
            let path = target.join(example.file);
            let Ok(bytes) = std::fs::read(&path) else {
                println!(
                    "{:<18} skipped: {} not built",
                    example.language,
                    path.display()
                );
                continue;
            };
            let wasm: Arc<[u8]> = bytes.into();
            let compiles = timed_loads(&runtime, &wasm, None, COMPILES).await?;
            let cache = tempfile::tempdir()?;
            let compiled = runtime
                .load_plugin(wasm.clone(), Some(cache.path()))
                .await?;
            runtime.cache_artifact(&compiled, cache.path()).await;
            let loads = timed_loads(&runtime, &wasm, Some(cache.path()), LOADS).await?;
            let plugin = Arc::new(
                runtime
                    .load_plugin(wasm.clone(), Some(cache.path()))
                    .await?,
            );
            let request = bench_request(plugin, example.class, example.args);
            let warmup = example.runs / 10;
            let mut runs = Vec::with_capacity(example.runs);
            for i in 0..warmup + example.runs {
                let started = Instant::now();
                let report = runtime.run(request.clone()).await;
                let elapsed = started.elapsed();
                anyhow::ensure!(
                    matches!(report.outcome, RunOutcome::Succeeded { .. }),
                    "{} {}: {:?}",
                    example.language,
                    example.class,
                    report.outcome
                );
                if i >= warmup {
                    runs.push(elapsed);
                }
            }
            runs.sort();
            let run = percentile(&runs, 0.5);
            let baseline = *rust_run.get_or_insert(run);
            println!(
                "{:<18} {:>10.0} {:>12.1} {:>10.2} {:>12.1} {:>12.1} {:>8.1}x",
                example.language,
                wasm.len() as f64 / 1024.0,
                ms(median(compiles)),
                ms(median(loads)),
                micros(run),
                micros(percentile(&runs, 0.99)),
                run.as_secs_f64() / baseline.as_secs_f64()
            );
        }
        Ok(())
    })
}
