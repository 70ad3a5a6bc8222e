//! The plugin runtime, black-box: real compiled plugins run through the library's
//! `Runtime` (in this test process, so "the host survives" is checked directly) and
//! through the `wasmcron run` CLI.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use wasmcron::{
    EngineOptions, ExecutionState, FailureKind, LoadError, Plugin, RunContext, RunLimits,
    RunOutcome, RunReport, RunRequest, Runtime,
};

async fn load(name: &str) -> (Runtime, Arc<Plugin>) {
    let runtime = Runtime::new(&EngineOptions {
        max_concurrent_runs: 8,
        ..EngineOptions::default()
    })
    .unwrap();
    let bytes = std::fs::read(common::plugin(name)).unwrap();
    let plugin = runtime.load_plugin(bytes.into(), None).await.unwrap();
    (runtime, Arc::new(plugin))
}

async fn run(
    runtime: &Runtime,
    plugin: &Arc<Plugin>,
    class: &str,
    args: &str,
    limits: RunLimits,
) -> RunReport {
    runtime
        .run(RunRequest {
            plugin: plugin.clone(),
            class: class.into(),
            args: args.into(),
            context: RunContext {
                job_name: "test job".into(),
                attempt: 1,
                ..RunContext::default()
            },
            limits,
            cancel: CancellationToken::new(),
            grants: wasmcron::Grants::default(),
        })
        .await
}

/// After a misbehaving run, the same runtime still runs a well-behaved job.
async fn assert_host_still_runs(runtime: &Runtime, plugin: &Arc<Plugin>) {
    let report = run(
        runtime,
        plugin,
        "Echo",
        r#"{"still":"alive"}"#,
        RunLimits::default(),
    )
    .await;
    assert_eq!(
        report.outcome,
        RunOutcome::Succeeded {
            result: r#"{"still":"alive"}"#.into()
        }
    );
}

fn failure_message(report: &RunReport) -> &str {
    match &report.outcome {
        RunOutcome::Failed { message, .. } => message,
        other => panic!("expected a failed run, got {other:?}"),
    }
}

/// The kind of a failed run, after checking that its state and code follow from it.
fn failure_kind(report: &RunReport) -> FailureKind {
    let RunOutcome::Failed { kind, .. } = &report.outcome else {
        panic!("expected a failed run, got {:?}", report.outcome)
    };
    assert_eq!(report.outcome.state(), ExecutionState::Failed);
    assert_eq!(report.outcome.code(), Some(kind.code()));
    *kind
}

/// A job that never returns is stopped by its timeout, within twice the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_is_stopped_by_the_timeout() {
    let (runtime, plugin) = load("wasmcron.testing").await;
    let limit = Duration::from_secs(1);
    let started = Instant::now();
    let report = run(
        &runtime,
        &plugin,
        "Spin",
        "{}",
        RunLimits {
            timeout: limit,
            ..RunLimits::default()
        },
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(report.outcome, RunOutcome::TimedOut { limit });
    assert_eq!(report.outcome.state(), ExecutionState::Timeout);
    assert_eq!(report.outcome.code(), Some("timeout"));
    assert_eq!(
        report.outcome.result_text(),
        "the run passed its time limit of 1 s and was stopped"
    );
    assert!(elapsed < 2 * limit, "stopped after {elapsed:?}");
    assert_host_still_runs(&runtime, &plugin).await;
}

/// A job that allocates without end fails at the memory limit, with a message that
/// names the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hog_is_stopped_at_the_memory_limit() {
    let (runtime, plugin) = load("wasmcron.testing").await;
    let limit = 32 << 20;
    let report = run(
        &runtime,
        &plugin,
        "Hog",
        "{}",
        RunLimits {
            memory_bytes: limit,
            ..RunLimits::default()
        },
    )
    .await;
    let message = failure_message(&report);
    assert!(
        message.starts_with("the job exceeded its memory limit of 33554432 bytes"),
        "{message}"
    );
    assert_eq!(failure_kind(&report), FailureKind::OutOfMemory);
    assert_eq!(report.outcome.code(), Some("out_of_memory"));
    assert!(report.peak_memory_bytes <= limit as u64);
    assert!(report.peak_memory_bytes > (limit / 2) as u64);
    assert_host_still_runs(&runtime, &plugin).await;
}

/// A panic is a failed run, a trap, carrying the panic message and the guest's
/// backtrace; the host lives on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_is_a_failed_run_with_its_message() {
    let (runtime, plugin) = load("wasmcron.testing").await;
    let report = run(&runtime, &plugin, "Panic", "{}", RunLimits::default()).await;
    let message = failure_message(&report);
    assert!(
        message.starts_with("the job panicked: the testing job panicked"),
        "{message}"
    );
    assert!(message.contains("the testing job panicked"), "{message}");
    assert!(message.contains("guest backtrace:"), "{message}");
    assert_eq!(failure_kind(&report), FailureKind::Trap);
    assert_eq!(report.outcome.code(), Some("trap"));
    assert!(report.outcome.result_text().contains("guest backtrace:"));
    assert_host_still_runs(&runtime, &plugin).await;
}

/// A job's error is a failed run, the job's own error, with exactly its message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_is_a_failed_run_with_its_message() {
    let (runtime, plugin) = load("wasmcron.testing").await;
    let report = run(
        &runtime,
        &plugin,
        "Fail",
        r#"{"message":"disk full"}"#,
        RunLimits::default(),
    )
    .await;
    assert_eq!(
        report.outcome,
        RunOutcome::Failed {
            kind: FailureKind::JobError,
            message: "disk full".into()
        }
    );
    assert_eq!(report.outcome.code(), Some("job_error"));
    assert_eq!(report.outcome.result_text(), "disk full");
    let report = run(
        &runtime,
        &plugin,
        "Sleep",
        r#"{"seconds":"soon"}"#,
        RunLimits::default(),
    )
    .await;
    assert!(failure_message(&report).starts_with("invalid arguments for Sleep:"));
    assert_eq!(failure_kind(&report), FailureKind::JobError);
    assert_host_still_runs(&runtime, &plugin).await;
}

/// A job that uses up its fuel budget traps; a success has no code and records its
/// result pretty-printed with sorted keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_fuel_is_a_trap_and_a_success_has_no_code() {
    let runtime = Runtime::new(&EngineOptions {
        max_concurrent_runs: 2,
        fuel_metering: true,
        ..EngineOptions::default()
    })
    .unwrap();
    let bytes = std::fs::read(common::plugin("wasmcron.testing")).unwrap();
    let plugin = Arc::new(runtime.load_plugin(bytes.into(), None).await.unwrap());
    let limits = RunLimits {
        fuel: Some(10_000_000),
        ..RunLimits::default()
    };
    let report = run(&runtime, &plugin, "Spin", "{}", limits.clone()).await;
    assert!(
        failure_message(&report).starts_with("the job used up its fuel budget"),
        "{:?}",
        report.outcome
    );
    assert_eq!(failure_kind(&report), FailureKind::Trap);
    assert_eq!(report.fuel_consumed, Some(10_000_000));

    let report = run(&runtime, &plugin, "Echo", r#"{"b":[1],"a":true}"#, limits).await;
    assert_eq!(report.outcome.state(), ExecutionState::Succeeded);
    assert_eq!(report.outcome.code(), None);
    assert_eq!(
        report.outcome.result_text(),
        "{\n    \"a\": true,\n    \"b\": [\n        1\n    ]\n}"
    );
}

/// Megabytes of output are cut at the bound, with a marker saying how much was
/// dropped, and the job itself still succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chatty_output_is_truncated_with_a_marker() {
    let (runtime, plugin) = load("wasmcron.testing").await;
    let bound = 64 * 1024;
    let report = run(
        &runtime,
        &plugin,
        "Chatty",
        r#"{"megabytes":4}"#,
        RunLimits {
            output_bytes: bound,
            ..RunLimits::default()
        },
    )
    .await;
    assert!(
        matches!(report.outcome, RunOutcome::Succeeded { .. }),
        "{:?}",
        report.outcome
    );
    let dropped = (4 << 20) - bound;
    for stream in [&report.stdout, &report.stderr] {
        assert!(stream.len() < bound + 100, "kept {} bytes", stream.len());
        assert!(
            stream.ends_with(&format!(
                "[wasmcron: output truncated, {dropped} more bytes dropped]"
            )),
            "{}",
            &stream[stream.len() - 100..]
        );
    }
    assert_host_still_runs(&runtime, &plugin).await;
}

/// An unknown class does not start, and the message lists the plugin's classes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_class_could_not_start() {
    let (runtime, plugin) = load("wasmcron.testing").await;
    let report = run(&runtime, &plugin, "NoSuchJob", "{}", RunLimits::default()).await;
    match &report.outcome {
        RunOutcome::CouldNotStart { message } => {
            assert!(
                message.starts_with("the plugin has no job class 'NoSuchJob' (it has: Echo, Sleep"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(report.outcome.state(), ExecutionState::ScheduledError);
    assert_eq!(report.outcome.code(), Some("not_started"));
    assert_host_still_runs(&runtime, &plugin).await;
}

/// A cancelled run stops within a tick or two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_stops() {
    let (runtime, plugin) = load("wasmcron.testing").await;
    let cancel = CancellationToken::new();
    let request = RunRequest {
        plugin: plugin.clone(),
        class: "Spin".into(),
        args: "{}".into(),
        context: RunContext::default(),
        limits: RunLimits::default(),
        cancel: cancel.clone(),
        grants: wasmcron::Grants::default(),
    };
    let r = runtime.clone();
    let handle = tokio::spawn(async move { r.run(request).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    cancel.cancel();
    let report = tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.outcome, RunOutcome::Cancelled);
    assert_eq!(report.outcome.state(), ExecutionState::Stopped);
    assert_eq!(report.outcome.code(), Some("cancelled"));
    assert_host_still_runs(&runtime, &plugin).await;
}

/// Files that are not a job plugin are refused with a message saying what they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_are_refused_with_clear_errors() {
    let runtime = Runtime::new(&EngineOptions {
        max_concurrent_runs: 2,
        ..EngineOptions::default()
    })
    .unwrap();
    let load = |bytes: &[u8]| runtime.load_plugin(bytes.to_vec().into(), None);

    let err = load(b"#!/bin/sh\necho not wasm\n").await.unwrap_err();
    assert!(matches!(err, LoadError::NotWasm), "{err}");
    assert!(err.to_string().contains("not WebAssembly"));

    // The smallest valid core module: a module, not a component.
    let err = load(b"\0asm\x01\0\0\0").await.unwrap_err();
    assert!(matches!(err, LoadError::CoreModule), "{err}");

    // The smallest valid component: it exports nothing, so it is not a job.
    let err = load(b"\0asm\x0d\0\x01\0").await.unwrap_err();
    assert!(matches!(err, LoadError::NotAJob(_)), "{err}");
    assert!(
        err.to_string()
            .contains("does not implement the wasmcron:job world"),
        "{err}"
    );

    // Truncated bytes of a real plugin.
    let real = std::fs::read(common::plugin("simple_scheduler.jobs.sample_job")).unwrap();
    let err = load(&real[..real.len() / 2]).await.unwrap_err();
    assert!(matches!(err, LoadError::Invalid(_)), "{err}");
}

/// The sandbox grants nothing: no host files, no environment, no sockets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_cannot_reach_files_environment_or_network() {
    let (runtime, plugin) = load("wasmcron.testing").await;
    let path = std::env::temp_dir().join("wasmcron-sandbox-secret.txt");
    std::fs::write(&path, "secret").unwrap();
    for p in [path.to_str().unwrap(), "/etc/hostname", "."] {
        let report = run(
            &runtime,
            &plugin,
            "ReadFile",
            &serde_json::json!({ "path": p }).to_string(),
            RunLimits::default(),
        )
        .await;
        let message = failure_message(&report);
        assert!(!message.contains("secret"), "{message}");
    }

    // SAFETY (of the test): setting a variable in this process, which the guest must not see.
    unsafe { std::env::set_var("WASMCRON_SANDBOX_SECRET", "leaked") };
    let report = run(
        &runtime,
        &plugin,
        "Env",
        r#"{"name":"WASMCRON_SANDBOX_SECRET"}"#,
        RunLimits::default(),
    )
    .await;
    assert_eq!(
        failure_message(&report),
        "WASMCRON_SANDBOX_SECRET: environment variable not found (the job sees 0 variables)"
    );

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let report = run(
        &runtime,
        &plugin,
        "Connect",
        &serde_json::json!({ "address": address }).to_string(),
        RunLimits::default(),
    )
    .await;
    failure_message(&report);
    assert!(
        listener.accept().is_err(),
        "the guest's connection reached the listener"
    );
}

/// The plugin author's inner loop: `wasmcron run` prints the result and the logged line.
#[test]
fn cli_run_prints_result_and_logs() {
    let out = Command::new(common::binary())
        .args(["run"])
        .arg(common::plugin("simple_scheduler.jobs.sample_job"))
        .args(["--class", "AwesomeJob", "--args", r#"["hello","world"]"#])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("state: succeeded"), "{stdout}");
    assert!(
        stdout.contains("result:\n[\n    \"hello\",\n    \"world\"\n]"),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"[info] AwesomeJob ran with arguments ["hello","world"]"#),
        "{stdout}"
    );

    let out = Command::new(common::binary())
        .arg("run")
        .arg(common::plugin("wasmcron.testing"))
        .args(["--class", "Fail", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["state"], "failed");
    assert_eq!(report["code"], "job_error");
    assert_eq!(report["result"], "this job fails on purpose");
}

/// `wasmcron describe` lists classes with notes and arguments.
#[test]
fn cli_describe_lists_classes() {
    let out = Command::new(common::binary())
        .arg("describe")
        .arg(common::plugin("wasmcron.examples.stats"))
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success());
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["world_version"], "0.3.0");
    let classes: Vec<&str> = d["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(classes, ["Summarize", "WordCount"]);
    assert_eq!(d["classes"][0]["arguments"][0]["name"], "values");
    let out = Command::new(common::binary())
        .arg("describe")
        .arg("/etc/hostname")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not WebAssembly"));
}

/// The useful example computes real statistics and fails clearly on bad input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stats_example_computes_and_validates() {
    let (runtime, plugin) = load("wasmcron.examples.stats").await;
    let report = run(
        &runtime,
        &plugin,
        "Summarize",
        r#"{"values":[3,1,4,1,5,9,2,6],"percentiles":[50,90]}"#,
        RunLimits::default(),
    )
    .await;
    let RunOutcome::Succeeded { result } = report.outcome else {
        panic!("{:?}", report.outcome)
    };
    let v: serde_json::Value = serde_json::from_str(&result).unwrap();
    assert_eq!(v["count"], 8);
    assert_eq!(v["sum"], 31.0);
    assert_eq!(v["median"], 3.5);
    assert_eq!(v["percentiles"]["p90"], 9.0);
    let report = run(
        &runtime,
        &plugin,
        "Summarize",
        r#"{"values":[]}"#,
        RunLimits::default(),
    )
    .await;
    // The class's arguments schema refuses them before the plugin is called.
    assert_eq!(
        failure_message(&report),
        "the job's arguments do not match the arguments schema of class 'Summarize': \
         pub_args.values: the value has less than 1 item"
    );
    let report = run(
        &runtime,
        &plugin,
        "WordCount",
        r#"{"text":"the cat saw the other cat","top":2}"#,
        RunLimits::default(),
    )
    .await;
    let RunOutcome::Succeeded { result } = report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(
        result,
        r#"{"words":6,"distinct":4,"top":[["cat",2],["the",2]]}"#
    );
    assert_eq!(report.progress.unwrap().percent, 50);
}

/// A plain WASI command plugin: classes from its manifest section, the request on
/// stdin, the result from stdout, a non-zero exit as a failure with stderr's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasi_command_plugin_runs_through_stdin_and_stdout() {
    let (runtime, plugin) = load("wasmcron.examples.text_command").await;
    assert_eq!(plugin.world_version, "wasi-command");
    assert_eq!(plugin.classes[0].name, "TextStats");
    let report = run(
        &runtime,
        &plugin,
        "TextStats",
        r#"{"text":"a b\nccc dd e"}"#,
        RunLimits::default(),
    )
    .await;
    assert_eq!(
        report.outcome,
        RunOutcome::Succeeded {
            result: r#"{"chars":12,"lines":2,"longest_line":"ccc dd e","words":5}"#.into()
        }
    );
    assert_eq!(report.stderr, "measured 2 lines\n");
    let report = run(
        &runtime,
        &plugin,
        "TextStats",
        r#"{"words":1}"#,
        RunLimits::default(),
    )
    .await;
    assert_eq!(
        failure_message(&report),
        "the command exited with status 1: invalid arguments for TextStats: unknown field `words`, expected `text`"
    );
    assert_eq!(failure_kind(&report), FailureKind::JobError);
    let report = run(&runtime, &plugin, "Nope", "{}", RunLimits::default()).await;
    assert!(matches!(report.outcome, RunOutcome::CouldNotStart { .. }));
    let testing = std::fs::read(common::plugin("wasmcron.testing")).unwrap();
    let testing = Arc::new(runtime.load_plugin(testing.into(), None).await.unwrap());
    assert_host_still_runs(&runtime, &testing).await;
}

/// The C example, a plain WASI command with its manifest attached by `wasmcron
/// manifest`: its classes, results, and failures with stderr's message. It is built when
/// clang can target wasm32-wasi (`.ci/run` installs it, so CI always runs this test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_c_example_runs() {
    if !common::plugin_path("wasmcron.examples.c_fib").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must build the C example (make c-examples)"
        );
        eprintln!("skipped: the C example was not built (no clang for wasm32-wasi here)");
        return;
    }
    let (runtime, plugin) = load("wasmcron.examples.c_fib").await;
    let names: Vec<&str> = plugin.classes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Fibonacci", "CountPrimes"]);
    let report = run(
        &runtime,
        &plugin,
        "Fibonacci",
        r#"{"n": 90}"#,
        RunLimits::default(),
    )
    .await;
    let RunOutcome::Succeeded { result } = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    let v: serde_json::Value = serde_json::from_str(result).unwrap();
    assert_eq!(v["value"], 2880067194370816120u64);
    assert_eq!(v["last_terms"].as_array().unwrap().len(), 5);
    assert_eq!(report.stderr, "computed 91 terms\n");
    let report = run(
        &runtime,
        &plugin,
        "CountPrimes",
        r#"{"n": 1000000}"#,
        RunLimits::default(),
    )
    .await;
    assert_eq!(
        report.outcome,
        RunOutcome::Succeeded {
            result: r#"{"below": 1000000, "primes": 78498}"#.into()
        }
    );
    let report = run(
        &runtime,
        &plugin,
        "Fibonacci",
        r#"{"n": 94}"#,
        RunLimits::default(),
    )
    .await;
    assert_eq!(
        failure_message(&report),
        "the command exited with status 1: n must be from 0 to 93 (a larger term overflows 64 bits), got 94"
    );
    let report = run(
        &runtime,
        &plugin,
        "CountPrimes",
        r#"{"m": 3}"#,
        RunLimits::default(),
    )
    .await;
    assert!(failure_message(&report).contains("invalid arguments"));
}
