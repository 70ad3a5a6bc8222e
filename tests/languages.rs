//! The example jobs written in other languages than Rust, each a real component built
//! against `wit/job.wit` by its own toolchain (`make plugins` builds them into
//! `target/language-plugins`; `make toolchains` installs the toolchains). Every language is checked the same two ways: its classes run through the
//! library's `Runtime` (result, failure path, captured logs), and one class runs through
//! the REST API (upload, create a job, run now, `succeeded` with the expected result).
//!
//! A language whose toolchain is absent here is skipped with a message, except under CI
//! (`CI` set), where `.ci/run` installs every toolchain and a missing example fails.

mod common;

use common::{Server, ServerOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use wasmcron::{
    EngineOptions, LogLine, Plugin, RunContext, RunLimits, RunOutcome, RunReport, RunRequest,
    Runtime,
};

#[path = "languages/c.rs"]
mod c;
#[path = "languages/go.rs"]
mod go;
#[path = "languages/http_check.rs"]
mod http_check;
#[path = "languages/javascript.rs"]
mod javascript;
#[path = "languages/python.rs"]
mod python;
#[path = "languages/zig.rs"]
mod zig;

/// The Python and JavaScript plugins (interpreters of 12–18 MB) each take tens of seconds
/// to compile in a debug host, on every core: their tests take turns, so that two such
/// compiles never share the machine's cores with each other.
pub static ONE_BIG_PLUGIN_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Where `make plugins` puts a language example: `target/language-plugins`, apart from
/// the plugins every test server installs at start (compiling the big ones there would
/// cost each server tens of seconds in a debug build).
pub fn plugin_file(plugin_name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../target/language-plugins/{plugin_name}.wasm"))
}

/// Whether the example was built; if not (its toolchain is not installed here), says so,
/// and fails under CI, which installs every toolchain.
pub fn built(plugin_name: &str) -> bool {
    let path = plugin_file(plugin_name);
    if !path.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must build {plugin_name} (make toolchains plugins)"
        );
        eprintln!(
            "skipped: {} was not built here (make toolchains)",
            path.display()
        );
        return false;
    }
    true
}

/// One built example plugin, loaded into a runtime of its own; `None` when it was not
/// built (see [`built`]).
pub async fn example(plugin_name: &str) -> Option<(Runtime, Arc<Plugin>)> {
    if !built(plugin_name) {
        return None;
    }
    let path = plugin_file(plugin_name);
    let runtime = Runtime::new(&EngineOptions {
        max_concurrent_runs: 4,
        ..EngineOptions::default()
    })
    .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let plugin = runtime.load_plugin(bytes.into(), None).await.unwrap();
    Some((runtime, Arc::new(plugin)))
}

/// The classes a plugin describes, by name.
pub fn class_names(plugin: &Plugin) -> Vec<&str> {
    plugin.classes.iter().map(|c| c.name.as_str()).collect()
}

/// A class has notes, and a type and a description for each argument.
pub fn assert_documented(class: &wasmcron::JobClass) {
    assert!(!class.notes.is_empty(), "{class:?}");
    assert!(
        class
            .arguments
            .iter()
            .all(|a| !a.type_.is_empty() && !a.description.is_empty()),
        "{class:?}"
    );
}

/// Every class of the plugin has notes and documented arguments, and succeeds with its
/// own example arguments.
pub async fn assert_classes_documented(runtime: &Runtime, plugin: &Arc<Plugin>) {
    for class in &plugin.classes {
        assert_documented(class);
        let report = run(runtime, plugin, &class.name, &class.example_arguments).await;
        succeeded(&report);
    }
}

/// Runs one class with default limits.
pub async fn run(runtime: &Runtime, plugin: &Arc<Plugin>, class: &str, args: &str) -> RunReport {
    runtime
        .run(RunRequest {
            plugin: plugin.clone(),
            class: class.into(),
            args: args.into(),
            context: RunContext {
                job_name: "language test".into(),
                attempt: 1,
                ..RunContext::default()
            },
            limits: RunLimits::default(),
            cancel: CancellationToken::new(),
            grants: wasmcron::Grants::default(),
        })
        .await
}

/// The result of a run that must have succeeded, parsed as JSON.
pub fn succeeded(report: &RunReport) -> Value {
    let RunOutcome::Succeeded { result } = &report.outcome else {
        panic!(
            "expected success, got {:?} (stderr: {})",
            report.outcome, report.stderr
        )
    };
    serde_json::from_str(result).unwrap_or_else(|e| panic!("result is not JSON ({e}): {result}"))
}

/// The message of a run that must have failed.
pub fn failed(report: &RunReport) -> &str {
    match &report.outcome {
        RunOutcome::Failed { message, .. } => message,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// The plugin is built against the current world (0.3.0), and each of its classes gives the
/// JSON Schema of its arguments.
pub fn assert_every_class_has_a_schema(plugin: &Plugin) {
    assert_eq!(plugin.world_version, "0.3.0");
    for class in &plugin.classes {
        assert!(class.arguments_schema.is_some(), "{class:?}");
    }
}

/// The message of a run whose arguments the class's schema refused before the plugin
/// was called (`violation` names the field, as the server's 400 at save does).
pub fn refused_by_schema(class: &str, violation: &str) -> String {
    format!("the job's arguments do not match the arguments schema of class '{class}': {violation}")
}

/// The captured log lines as `"<level> <message>"`.
pub fn logs(report: &RunReport) -> Vec<String> {
    report
        .logs
        .iter()
        .map(|LogLine { level, message }| format!("{level} {message}"))
        .collect()
}

/// Uploads the plugin to a fresh server; checks that a job of `class` with each of the
/// `refused` arguments is refused with 400 and that message (the class's arguments schema
/// naming the field: the job is never saved); then creates a job of `class` with `args`,
/// runs it now and returns the finished execution (asserted `succeeded`).
pub async fn run_through_the_api(
    plugin_name: &str,
    class: &str,
    args: Value,
    refused: &[(Value, &str)],
) -> Value {
    let dir = common::tmp();
    let server: Server = ServerOptions::new(&dir.path().join("data"))
        .without_plugin_dir()
        .start();
    let wasm = std::fs::read(plugin_file(plugin_name)).unwrap();
    let (status, uploaded) = server
        .send_bytes(Method::POST, "/api/v1/plugins/example", wasm)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    for (wrong, message) in refused {
        let body = json!({
            "job_class_string": format!("example.{class}"),
            "name": "wrong arguments",
            "pub_args": wrong,
            "hour": "0",
        });
        let (status, answer) = server.post("/api/v1/jobs", &body.to_string()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{wrong}: {answer}");
        assert_eq!(
            answer,
            json!({"error": format!("{message} (the arguments schema of example.{class})")}),
            "{wrong}"
        );
    }
    if !refused.is_empty() {
        let (_, jobs) = server.get("/api/v1/jobs").await;
        assert_eq!(jobs["jobs"], json!([]), "a refused job is not saved");
    }
    let job = server
        .add_job(json!({
            "job_class_string": format!("example.{class}"),
            "name": format!("{plugin_name} through the API"),
            "pub_args": args,
            "hour": "0",
        }))
        .await;
    let (status, run) = server.post(&format!("/api/v1/executions/{job}"), "").await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let execution = server
        .wait_finished(
            run["execution_id"].as_str().unwrap(),
            // Interpreters bundled in a component (Python, JavaScript) compile for seconds
            // in a debug host when uploaded; the run itself is quick.
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(execution["state"], "succeeded", "{execution}");
    execution
}
