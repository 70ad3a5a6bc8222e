//! Arguments schemas, against a real server: a class's schema (derived by the SDK from
//! its `Args` type, world 0.3.0) is served with the class, a job whose `pub_args` do
//! not match it is refused with 400 naming the field, and one that matches is taken
//! and runs; plugins without a schema (world 0.2.0, WASI commands) take any arguments,
//! as before; a job saved before its plugin gained a schema keeps running and fails
//! with the same message; a schema is bounded and must be usable.

mod common;

use common::{Server, ServerOptions, tmp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const SUMMARIZE: &str = "wasmcron.examples.stats.Summarize";

fn job(class: &str, pub_args: Value) -> Value {
    json!({
        "name": "schema test",
        "job_class_string": class,
        "pub_args": pub_args,
        "trigger": "interval",
        "trigger_params": {"interval": 86_400},
    })
}

/// The stats example as built against world 0.2.0 (before classes had schemas).
fn stats_world_0_2_0() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/stats-world-0.2.0.wasm"),
    )
    .unwrap()
}

async fn run_and_wait(server: &Server, job_id: &str) -> Value {
    let execution = server.run_now(job_id).await;
    server
        .wait_finished(&execution, Duration::from_secs(60))
        .await
}

/// The text_command example with another manifest appended (the last one counts).
fn command_with_manifest(dir: &Path, manifest: &Value) -> Vec<u8> {
    let manifest_path = dir.join("manifest.json");
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let out = dir.join("command.wasm");
    wasmcron::commands::attach_manifest(
        &common::plugin("wasmcron.examples.text_command"),
        &manifest_path,
        &out,
    )
    .unwrap();
    std::fs::read(out).unwrap()
}

#[tokio::test]
async fn wrong_pub_args_are_refused_naming_the_field_and_right_ones_are_taken() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let refusals = [
        (
            json!({"values": "1,2,3"}),
            "pub_args.values: expected an array of numbers, got a string",
        ),
        (
            json!({"values": [1, "two"]}),
            "pub_args.values[1]: expected a number, got a string",
        ),
        (
            json!({"percentiles": [50]}),
            "pub_args.values: missing: this class requires it",
        ),
        (
            json!({"values": [1], "count": 3}),
            "pub_args: unknown field(s) 'count': the class takes no such argument",
        ),
        (
            json!({"values": []}),
            "pub_args.values: the value has less than 1 item",
        ),
        (json!([1, 2]), "pub_args: expected an object, got an array"),
    ];
    for (pub_args, expected) in &refusals {
        let (status, body) = server
            .post(
                "/api/v1/jobs",
                &job(SUMMARIZE, pub_args.clone()).to_string(),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{pub_args}: {body}");
        assert_eq!(
            body,
            json!({"error": format!("{expected} (the arguments schema of {SUMMARIZE})")}),
            "{pub_args}"
        );
    }
    let (_, jobs) = server.get("/api/v1/jobs").await;
    assert_eq!(jobs["jobs"], json!([]), "no refused job was saved");

    // The same job with the right arguments is taken, and runs.
    let job_id = server
        .add_job(job(
            SUMMARIZE,
            json!({"values": [3, 1, 2], "percentiles": [50]}),
        ))
        .await;
    let execution = run_and_wait(&server, &job_id).await;
    assert_eq!(execution["state"], "succeeded", "{execution}");

    // A replacement (PUT) is checked alike, and a refused one changes nothing.
    let (status, body) = server
        .call(
            Method::PUT,
            &format!("/api/v1/jobs/{job_id}"),
            Some(&job(SUMMARIZE, json!({"values": {"a": 1}})).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["error"],
        format!(
            "pub_args.values: expected an array of numbers, got an object (the arguments \
             schema of {SUMMARIZE})"
        )
    );
    let (_, saved) = server.get(&format!("/api/v1/jobs/{job_id}")).await;
    assert_eq!(
        saved["pub_args"],
        json!({"values": [3, 1, 2], "percentiles": [50]})
    );
    let (status, body) = server
        .call(
            Method::PUT,
            &format!("/api/v1/jobs/{job_id}"),
            Some(&job(SUMMARIZE, json!({"values": [7]})).to_string()),
        )
        .await;
    assert!(status.is_success(), "{body}");
}

#[tokio::test]
async fn job_classes_and_plugins_serve_each_class_schema() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let (_, classes) = server.get("/api/v1/job-classes").await;
    let class = |name: &str| {
        classes["job_classes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["job_class_string"] == name)
            .unwrap_or_else(|| panic!("{name} in {classes}"))
            .clone()
    };
    let summarize = class(SUMMARIZE);
    let schema = &summarize["arguments_schema"];
    assert_eq!(schema["type"], "object", "{summarize}");
    assert_eq!(schema["properties"]["values"]["type"], "array");
    assert_eq!(schema["properties"]["values"]["items"]["type"], "number");
    // Descriptions are the Args type's doc comments.
    assert_eq!(
        schema["properties"]["values"]["description"],
        "The numbers to summarise (at least one)."
    );
    assert_eq!(schema["required"], json!(["values"]));
    // The argument docs are derived from the same schema.
    assert_eq!(
        summarize["arguments"][0],
        json!({"name": "values", "type": "array of numbers", "description": "The numbers to summarise (at least one)."})
    );
    // Untyped arguments (serde_json::Value) and a WASI command's plain manifest: none.
    assert_eq!(
        class("simple_scheduler.jobs.sample_job.AwesomeJob")["arguments_schema"],
        Value::Null
    );
    assert_eq!(
        class("wasmcron.examples.text_command.TextStats")["arguments_schema"],
        Value::Null
    );

    let (_, plugin) = server.get("/api/v1/plugins/wasmcron.examples.stats").await;
    assert_eq!(plugin["world_version"], "0.3.0");
    assert_eq!(plugin["classes"][0]["name"], "Summarize");
    assert_eq!(&plugin["classes"][0]["arguments_schema"], schema);
    let (_, plugins) = server.get("/api/v1/plugins").await;
    let sample = plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "simple_scheduler.jobs.sample_job")
        .unwrap();
    assert_eq!(sample["classes"][0]["arguments_schema"], Value::Null);
}

#[tokio::test]
async fn plugins_without_a_schema_take_any_arguments_as_before() {
    let dir = tmp();
    let server = ServerOptions::new(&dir.path().join("data"))
        .without_plugin_dir()
        .start();
    let (status, plugin) = server
        .send_bytes(
            Method::POST,
            "/api/v1/plugins/old.stats",
            stats_world_0_2_0(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plugin}");
    assert_eq!(plugin["world_version"], "0.2.0");
    assert_eq!(plugin["classes"][0]["arguments_schema"], Value::Null);
    let (_, classes) = server.get("/api/v1/job-classes").await;
    assert_eq!(
        classes["job_classes"][0]["arguments_schema"],
        Value::Null,
        "{classes}"
    );

    // Wrong arguments are taken when the job is saved; the run fails with the plugin's
    // own message, as before schemas.
    let job_id = server
        .add_job(job("old.stats.Summarize", json!({"values": "1,2,3"})))
        .await;
    let execution = run_and_wait(&server, &job_id).await;
    assert_eq!(execution["state"], "failed", "{execution}");
    let message = execution["result"].as_str().unwrap();
    assert!(
        message.starts_with("invalid arguments for Summarize: invalid type: string"),
        "{message}"
    );
    let job_id = server
        .add_job(job("old.stats.Summarize", json!({"values": [1, 2]})))
        .await;
    let execution = run_and_wait(&server, &job_id).await;
    assert_eq!(execution["state"], "succeeded", "{execution}");

    // A WASI command without a schema in its manifest: the same.
    let (status, body) = server
        .send_bytes(
            Method::POST,
            "/api/v1/plugins/text",
            std::fs::read(common::plugin("wasmcron.examples.text_command")).unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    server
        .add_job(job("text.TextStats", json!({"words": 1})))
        .await;
}

#[tokio::test]
async fn a_wasi_command_gives_its_schema_in_its_manifest() {
    let dir = tmp();
    let server = ServerOptions::new(&dir.path().join("data"))
        .without_plugin_dir()
        .start();
    let manifest = json!({"classes": [{
        "name": "TextStats",
        "notes": "Measures a text.",
        "example_arguments": {"text": "a b"},
        "arguments_schema": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
            "additionalProperties": false
        }
    }]});
    let wasm = command_with_manifest(dir.path(), &manifest);
    let (status, body) = server
        .send_bytes(Method::POST, "/api/v1/plugins/text", wasm)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["classes"][0]["arguments_schema"],
        manifest["classes"][0]["arguments_schema"]
    );
    let (status, body) = server
        .post(
            "/api/v1/jobs",
            &job("text.TextStats", json!({"text": 5})).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["error"],
        "pub_args.text: expected a string, got a number (the arguments schema of text.TextStats)"
    );
    let job_id = server
        .add_job(job("text.TextStats", json!({"text": "one two"})))
        .await;
    let execution = run_and_wait(&server, &job_id).await;
    assert_eq!(execution["state"], "succeeded", "{execution}");
}

/// The choice for jobs saved before their plugin was replaced: the replacement is
/// accepted (an upgrade is not held hostage by old jobs), the jobs stay, and a job
/// whose arguments no longer match fails each run with the message a save would give.
#[tokio::test]
async fn a_replacement_keeps_jobs_that_no_longer_match_and_their_runs_fail_saying_why() {
    let dir = tmp();
    let server = ServerOptions::new(&dir.path().join("data"))
        .without_plugin_dir()
        .start();
    let (status, body) = server
        .send_bytes(Method::POST, "/api/v1/plugins/swap", stats_world_0_2_0())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let stale = server
        .add_job(job("swap.Summarize", json!({"values": "1,2,3"})))
        .await;
    let fine = server
        .add_job(job("swap.Summarize", json!({"values": [1, 2, 3]})))
        .await;

    let (status, body) = server
        .send_bytes(
            Method::POST,
            "/api/v1/plugins/swap",
            std::fs::read(common::plugin("wasmcron.examples.stats")).unwrap(),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the replacement is accepted: {body}"
    );
    assert_eq!(body["world_version"], "0.3.0");

    let (status, _) = server.get(&format!("/api/v1/jobs/{stale}")).await;
    assert_eq!(status, StatusCode::OK, "the job is kept");
    let execution = run_and_wait(&server, &stale).await;
    assert_eq!(execution["state"], "failed", "{execution}");
    assert_eq!(execution["description"], "job_error");
    assert_eq!(
        execution["result"],
        "the job's arguments do not match the arguments schema of class 'Summarize': \
         pub_args.values: expected an array of numbers, got a string"
    );
    let execution = run_and_wait(&server, &fine).await;
    assert_eq!(execution["state"], "succeeded", "{execution}");
}

#[tokio::test]
async fn a_schema_is_bounded_and_must_be_usable() {
    let dir = tmp();
    let server = ServerOptions::new(&dir.path().join("data"))
        .without_plugin_dir()
        .arg("--max-class-doc-bytes")
        .arg("1024")
        .start();
    let with_schema = |schema: Value| json!({"classes": [{"name": "TextStats", "example_arguments": {"text": "a"}, "arguments_schema": schema}]});
    let cases = [
        (
            with_schema(json!({"description": "x".repeat(2000)})),
            "the plugin's describe() returned more than this server accepts: class 'TextStats': \
             its arguments schema is 2018 bytes, over the limit of 1024 bytes (--max-class-doc-bytes)",
        ),
        (
            with_schema(json!({"type": "nonsense"})),
            "the plugin's describe() returned unusable classes: the arguments schema of class \
             'TextStats' is not usable: it is not a valid JSON Schema",
        ),
        (
            with_schema(json!({"$ref": "https://example.com/schema.json"})),
            "the plugin's describe() returned unusable classes: the arguments schema of class \
             'TextStats' is not usable: it is not a valid JSON Schema",
        ),
        (
            with_schema(json!({"type": "object", "required": ["words"]})),
            "the plugin's describe() returned unusable classes: the example arguments of class \
             'TextStats' do not match its arguments schema: pub_args.words: missing: this \
             class requires it",
        ),
    ];
    for (i, (manifest, expected)) in cases.iter().enumerate() {
        let case_dir = dir.path().join(format!("case{i}"));
        std::fs::create_dir_all(&case_dir).unwrap();
        let wasm = command_with_manifest(&case_dir, manifest);
        let (status, body) = server
            .send_bytes(Method::POST, "/api/v1/plugins/text", wasm)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{manifest}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.starts_with(expected), "{error}\nexpected: {expected}");
    }
    let (_, plugins) = server.get("/api/v1/plugins").await;
    assert_eq!(plugins["plugins"], json!([]), "nothing was installed");
}
