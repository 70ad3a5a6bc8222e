//! The plugin author's loop: how long `wasmcron run <plugin> --example` takes the first
//! time (compiling the component into the artifact cache) and every time after (loading
//! it from there). `cargo bench -p wasmcron --bench local_loop` (part of `make bench`);
//! needs `make toolchains plugins` first; a language whose example was not built is
//! listed as skipped.
//!
//! Each figure is the wall time of the whole `wasmcron` process (the release build under
//! `cargo bench`), median of 3 first runs (each with an empty cache) and of 5 later runs;
//! both in the same process, one after the other, so the ratio holds on a noisy machine.

mod common;

use common::median;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// An example plugin and one of its classes.
struct Example {
    language: &'static str,
    file: &'static str,
    class: &'static str,
}

const EXAMPLES: &[Example] = &[
    Example {
        language: "Rust",
        file: "plugins/simple_scheduler.jobs.sample_job.wasm",
        class: "AwesomeJob",
    },
    Example {
        language: "Python",
        file: "language-plugins/wasmcron.examples.python.wasm",
        class: "Statistics",
    },
    Example {
        language: "JavaScript",
        file: "language-plugins/wasmcron.examples.javascript.wasm",
        class: "Template",
    },
];

/// One `wasmcron run --example` with this cache directory; its wall time.
fn timed_run(plugin: &Path, class: &str, cache: &Path) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_wasmcron"))
        .arg("run")
        .arg(plugin)
        .args(["--class", class, "--example", "--cache-dir"])
        .arg(cache)
        .output()?;
    let took = start.elapsed();
    anyhow::ensure!(
        out.status.success(),
        "wasmcron run {} failed: {}",
        plugin.display(),
        String::from_utf8_lossy(&out.stdout)
    );
    Ok(took)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() -> anyhow::Result<()> {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    println!("| plugin | first run (compiles) | later runs (cached) | first / later |");
    println!("| --- | --- | --- | --- |");
    for example in EXAMPLES {
        let plugin = target.join(example.file);
        if !plugin.exists() {
            println!(
                "| {} | skipped: {} not built | | |",
                example.language,
                plugin.display()
            );
            continue;
        }
        let mut firsts = Vec::new();
        let mut laters = Vec::new();
        for round in 0..3 {
            let cache = tempfile::tempdir()?;
            firsts.push(timed_run(&plugin, example.class, cache.path())?);
            let later_runs = if round == 0 { 5 } else { 0 };
            for _ in 0..later_runs {
                laters.push(timed_run(&plugin, example.class, cache.path())?);
            }
        }
        let (first, later) = (median(firsts), median(laters));
        println!(
            "| {} ({} KiB) | {} | {} | {:.0}x |",
            example.language,
            std::fs::metadata(&plugin)?.len() / 1024,
            ms(first),
            ms(later),
            first.as_secs_f64() / later.as_secs_f64()
        );
    }
    Ok(())
}
