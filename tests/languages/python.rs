//! The Python example (`example-jobs/python_job`, plugin `wasmcron.examples.python`): a
//! component built by componentize-py, which bundles CPython (~18 MB, so loads take
//! seconds: each test loads it once).

use super::*;

use crate::http_check;

const PLUGIN: &str = "wasmcron.examples.python";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_classes_compute_log_and_fail() {
    let _turn = ONE_BIG_PLUGIN_AT_A_TIME.lock().await;
    let Some((runtime, plugin)) = example(PLUGIN).await else {
        return;
    };
    assert_eq!(
        class_names(&plugin),
        ["Statistics", "BusinessDays", "HttpCheck"]
    );
    let arguments: Vec<Vec<&str>> = plugin
        .classes
        .iter()
        .map(|c| c.arguments.iter().map(|a| a.name.as_str()).collect())
        .collect();
    assert_eq!(
        arguments,
        [
            vec!["values"],
            vec!["start", "end", "holidays"],
            vec!["url", "expect_status", "expect_body_contains"]
        ]
    );
    // HttpCheck's example, run without a grant, is denied before it connects.
    http_check::assert_classes_documented(
        &runtime,
        &plugin,
        "GET http://127.0.0.1:8080/health failed: HTTP-request-denied \
         (refused by the host: the execution's log says why)",
    )
    .await;

    let report = run(
        &runtime,
        &plugin,
        "Statistics",
        r#"{"values": [2, 4, 4, 4, 5, 5, 7, 9]}"#,
    )
    .await;
    assert_eq!(
        succeeded(&report),
        json!({"count": 8, "mean": 5.0, "median": 4.5, "stdev": 2.138089935299395,
               "min": 2.0, "max": 9.0})
    );
    assert_eq!(logs(&report), ["info statistics of 8 values"]);

    // One value has no sample standard deviation.
    let report = run(&runtime, &plugin, "Statistics", r#"{"values": [-1.5]}"#).await;
    assert_eq!(
        succeeded(&report),
        json!({"count": 1, "mean": -1.5, "median": -1.5, "stdev": null, "min": -1.5, "max": -1.5})
    );

    // Two weeks around new year: 2 weekend days and 2 holidays on Fridays.
    let report = run(
        &runtime,
        &plugin,
        "BusinessDays",
        r#"{"start": "2026-12-21", "end": "2027-01-01", "holidays": ["2026-12-25", "2027-01-01"]}"#,
    )
    .await;
    assert_eq!(
        succeeded(&report),
        json!({"start": "2026-12-21", "end": "2027-01-01",
               "business_days": 8, "weekend_days": 2, "holidays": 2})
    );
    assert_eq!(
        logs(&report),
        ["info 8 business days from 2026-12-21 to 2027-01-01"]
    );

    // A holiday on a Sunday counts as a weekend day; holidays default to none.
    let report = run(
        &runtime,
        &plugin,
        "BusinessDays",
        r#"{"start": "2026-03-01", "end": "2026-03-01", "holidays": ["2026-03-01"]}"#,
    )
    .await;
    assert_eq!(
        succeeded(&report),
        json!({"start": "2026-03-01", "end": "2026-03-01",
               "business_days": 0, "weekend_days": 1, "holidays": 0})
    );

    for (class, args, message) in [
        (
            "Statistics",
            r#"{"values": []}"#,
            "the job's arguments do not match the arguments schema of class 'Statistics': pub_args.values: the value has less than 1 item",
        ),
        (
            "Statistics",
            r#"{"values": [1, "2"]}"#,
            "the job's arguments do not match the arguments schema of class 'Statistics': pub_args.values[1]: expected a number, got a string",
        ),
        (
            "Statistics",
            r#"{"values": [true]}"#,
            "the job's arguments do not match the arguments schema of class 'Statistics': pub_args.values[0]: expected a number, got a boolean",
        ),
        (
            "Statistics",
            r#"{"values": [NaN]}"#,
            "the job's arguments do not match the arguments schema of class 'Statistics': pub_args is not JSON: expected value at line 1 column 13",
        ),
        (
            "Statistics",
            "[1, 2]",
            "the job's arguments do not match the arguments schema of class 'Statistics': pub_args: expected an object, got an array",
        ),
        (
            "Statistics",
            "values",
            "the job's arguments do not match the arguments schema of class 'Statistics': pub_args is not JSON: expected value at line 1 column 1",
        ),
        (
            "BusinessDays",
            r#"{"start": "2026-02-30", "end": "2026-03-01"}"#,
            "start is not a date YYYY-MM-DD: '2026-02-30'",
        ),
        (
            "BusinessDays",
            r#"{"start": "2026-03-02", "end": "2026-03-01"}"#,
            "end 2026-03-01 is before start 2026-03-02",
        ),
        (
            "HttpCheck",
            r#"{"url": "ftp://example.com/x"}"#,
            "url must be an http or https URL with a host: 'ftp://example.com/x'",
        ),
        (
            "HttpCheck",
            r#"{"url": "http://127.0.0.1:9/", "expect_status": true}"#,
            "expect_status must be an integer from 100 to 599",
        ),
    ] {
        let report = run(&runtime, &plugin, class, args).await;
        assert_eq!(failed(&report), message, "{class} {args}");
        assert!(logs(&report).is_empty(), "{class} {args}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_runs_through_the_api() {
    let _turn = ONE_BIG_PLUGIN_AT_A_TIME.lock().await;
    if !built(PLUGIN) {
        return;
    }
    let execution = run_through_the_api(
        PLUGIN,
        "Statistics",
        json!({"values": [1, 2, 3, 4]}),
        &[(
            json!({"values": [1, "2"]}),
            "pub_args.values[1]: expected a number, got a string",
        )],
    )
    .await;
    let result: Value = serde_json::from_str(execution["result"].as_str().unwrap()).unwrap();
    assert_eq!(
        result,
        json!({"count": 4, "mean": 2.5, "median": 2.5, "stdev": 1.2909944487358056,
               "min": 1.0, "max": 4.0})
    );
}

/// `HttpCheck` through the API: the request goes out through wasi:http's
/// outgoing-handler to a granted origin, and a job granted nothing fails with the
/// error code the host answered, without connecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_http_check_reaches_only_allowed_hosts() {
    let _turn = ONE_BIG_PLUGIN_AT_A_TIME.lock().await;
    if !built(PLUGIN) {
        return;
    }
    let denied = http_check::denied_then_granted(PLUGIN).await;
    let message = denied["result"].as_str().unwrap();
    assert!(
        message.starts_with("GET http://127.0.0.1:")
            && message.ends_with(
                "/health failed: HTTP-request-denied \
                 (refused by the host: the execution's log says why)"
            ),
        "{denied}"
    );
}
