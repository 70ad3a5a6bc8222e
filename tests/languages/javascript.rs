//! The JavaScript example (`example-jobs/js_job`, plugin `wasmcron.examples.javascript`):
//! a component built by componentize-js, which bundles the StarlingMonkey engine (~12 MB,
//! so loads take seconds: each test loads it once).

use super::*;

use crate::http_check;

const PLUGIN: &str = "wasmcron.examples.javascript";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_classes_compute_log_and_fail() {
    let _turn = ONE_BIG_PLUGIN_AT_A_TIME.lock().await;
    let Some((runtime, plugin)) = example(PLUGIN).await else {
        return;
    };
    assert_eq!(class_names(&plugin), ["GroupBy", "Template", "HttpCheck"]);
    let arguments: Vec<Vec<&str>> = plugin
        .classes
        .iter()
        .map(|c| c.arguments.iter().map(|a| a.name.as_str()).collect())
        .collect();
    assert_eq!(
        arguments,
        [
            vec!["records", "key", "sum"],
            vec!["template", "values"],
            vec!["url", "expect_status", "expect_body_contains"]
        ]
    );
    // HttpCheck's example, run without a grant, is denied before it connects.
    http_check::assert_classes_documented(
        &runtime,
        &plugin,
        "GET http://127.0.0.1:8080/health failed: NetworkError when attempting to fetch resource",
    )
    .await;

    let report = run(
        &runtime,
        &plugin,
        "GroupBy",
        r#"{"key": "city", "sum": "amount", "records": [
            {"city": "Lyon", "amount": 12.5}, {"city": "Oslo", "amount": 3},
            {"city": "Lyon", "amount": 7.75}, {"city": "Oslo"}]}"#,
    )
    .await;
    assert_eq!(
        succeeded(&report),
        json!({"groups": [
            {"city": "Lyon", "count": 2, "sum": 20.25},
            {"city": "Oslo", "count": 2, "sum": 3},
        ]})
    );
    assert_eq!(
        logs(&report),
        [r#"info grouped 4 records into 2 groups by "city""#]
    );

    // Without `sum`, only counts; 200 and "200" are different groups.
    let report = run(
        &runtime,
        &plugin,
        "GroupBy",
        r#"{"key": "status", "records": [{"status": 200}, {"status": "200"}, {"status": 200},
            {"status": null}]}"#,
    )
    .await;
    assert_eq!(
        succeeded(&report),
        json!({"groups": [
            {"status": 200, "count": 2},
            {"status": "200", "count": 1},
            {"status": null, "count": 1},
        ]})
    );

    let report = run(
        &runtime,
        &plugin,
        "Template",
        r#"{"template": "Hello {{name}}, you have {{ count }} new messages.",
            "values": {"name": "Ada", "count": 3}}"#,
    )
    .await;
    assert_eq!(
        succeeded(&report),
        json!({"text": "Hello Ada, you have 3 new messages.", "length": 35})
    );
    assert_eq!(logs(&report), ["info filled 2 placeholders"]);

    for (class, args, message) in [
        (
            "GroupBy",
            r#"{"key": "city", "records": [{"city": "Lyon"}, {"town": "Oslo"}]}"#,
            r#"records[1] has no field "city""#,
        ),
        (
            "GroupBy",
            r#"{"key": "city", "records": {"city": "Lyon"}}"#,
            "the job's arguments do not match the arguments schema of class 'GroupBy': \
             pub_args.records: expected an array of objects, got an object",
        ),
        (
            "GroupBy",
            r#"{"key": "city", "sum": "n", "records": [{"city": "Lyon", "n": "4"}]}"#,
            "records[0].n is not a number",
        ),
        (
            "Template",
            r#"{"template": "{{a}} {{b}} {{a}}", "values": {"b": 1}}"#,
            "no value for a",
        ),
        ("Template", "[]", "args must be a JSON object"),
        (
            "HttpCheck",
            r#"{"url": "ftp://example.com/x"}"#,
            r#"url must be an http or https URL with a host: "ftp://example.com/x""#,
        ),
        (
            "HttpCheck",
            r#"{"url": "http://127.0.0.1:9/", "expect_status": "200"}"#,
            "expect_status must be an integer from 100 to 599",
        ),
        (
            "Template",
            "{",
            "args are not valid JSON: JSON.parse: end of data while reading object contents at line 1 column 2 of the JSON data",
        ),
    ] {
        let report = run(&runtime, &plugin, class, args).await;
        assert_eq!(failed(&report), message, "{class} {args}");
        assert!(logs(&report).is_empty(), "{class} {args}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_runs_through_the_api() {
    let _turn = ONE_BIG_PLUGIN_AT_A_TIME.lock().await;
    if !built(PLUGIN) {
        return;
    }
    let execution = run_through_the_api(
        PLUGIN,
        "GroupBy",
        json!({"key": "team", "sum": "points", "records": [
            {"team": "red", "points": 3}, {"team": "blue", "points": 1},
            {"team": "red", "points": 2}]}),
        &[(
            json!({"key": "city", "records": {"city": "Lyon"}}),
            "pub_args.records: expected an array of objects, got an object",
        )],
    )
    .await;
    let result: Value = serde_json::from_str(execution["result"].as_str().unwrap()).unwrap();
    assert_eq!(
        result,
        json!({"groups": [
            {"team": "red", "count": 2, "sum": 5},
            {"team": "blue", "count": 1, "sum": 1},
        ]})
    );
}

/// `HttpCheck` through the API: `fetch` reaches a granted origin, and a job granted
/// nothing fails without connecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_http_check_reaches_only_allowed_hosts() {
    let _turn = ONE_BIG_PLUGIN_AT_A_TIME.lock().await;
    if !built(PLUGIN) {
        return;
    }
    let denied = http_check::denied_then_granted(PLUGIN).await;
    // StarlingMonkey's fetch drops wasi:http's error code: its error says only that the
    // request failed; the execution's log says it was denied (`denied_then_granted` checks).
    let message = denied["result"].as_str().unwrap();
    assert!(
        message.starts_with("GET http://127.0.0.1:")
            && message.ends_with("/health failed: NetworkError when attempting to fetch resource"),
        "{denied}"
    );
}
