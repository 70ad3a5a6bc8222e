//! The Zig example (`example-jobs/zig_job`, plugin `wasmcron.examples.zig`): a component
//! built with Zig over wit-bindgen's C bindings.

use super::*;

const PLUGIN: &str = "wasmcron.examples.zig";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zig_classes_compute_and_log() {
    let Some((runtime, plugin)) = example(PLUGIN).await else {
        return;
    };
    assert_eq!(class_names(&plugin), ["Primes", "Collatz"]);
    assert_classes_documented(&runtime, &plugin).await;

    let report = run(&runtime, &plugin, "Primes", r#"{"n": 100, "largest": 3}"#).await;
    assert_eq!(
        succeeded(&report),
        json!({"below": 100, "count": 25, "largest": [97, 89, 83]})
    );
    assert_eq!(logs(&report), ["info 25 primes below 100"]);
    let progress = report.progress.as_ref().unwrap();
    assert_eq!(
        (progress.percent, progress.message.as_str()),
        (100, "counted")
    );

    // `largest` defaults to 5; the bound is exclusive.
    let report = run(&runtime, &plugin, "Primes", r#"{"n": 10000000}"#).await;
    assert_eq!(
        succeeded(&report),
        json!({"below": 10000000, "count": 664579,
               "largest": [9999991, 9999973, 9999971, 9999943, 9999937]})
    );
    let report = run(&runtime, &plugin, "Primes", r#"{"n": 2}"#).await;
    assert_eq!(
        succeeded(&report),
        json!({"below": 2, "count": 0, "largest": []})
    );

    let report = run(&runtime, &plugin, "Collatz", r#"{"n": 27}"#).await;
    assert_eq!(
        succeeded(&report),
        json!({"n": 27, "steps": 111, "peak": 9232})
    );
    assert_eq!(logs(&report), ["info 27 reaches 1 after 111 steps"]);
    let report = run(&runtime, &plugin, "Collatz", r#"{"n": 1}"#).await;
    assert_eq!(succeeded(&report), json!({"n": 1, "steps": 0, "peak": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zig_bad_arguments_fail_the_run() {
    let Some((runtime, plugin)) = example(PLUGIN).await else {
        return;
    };
    for (class, args, message) in [
        (
            "Primes",
            "{}",
            r#"missing argument "n" (an integer from 2 to 10000000)"#,
        ),
        (
            "Primes",
            r#"{"n": 1}"#,
            r#"argument "n" must be an integer from 2 to 10000000"#,
        ),
        (
            "Primes",
            r#"{"n": 10, "largest": "all"}"#,
            r#"argument "largest" must be an integer from 0 to 100"#,
        ),
        (
            "Collatz",
            r#"{"n": 2.5}"#,
            r#"argument "n" must be an integer from 1 to 1000000000000"#,
        ),
        ("Collatz", "27", "the arguments must be a JSON object"),
        (
            "Collatz",
            r#"{"n": "#,
            "the arguments must be a JSON object",
        ),
    ] {
        let report = run(&runtime, &plugin, class, args).await;
        assert_eq!(failed(&report), message, "{class} {args}");
        assert!(report.logs.is_empty(), "{:?}", report.logs);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zig_runs_through_the_api() {
    if example(PLUGIN).await.is_none() {
        return;
    }
    let execution = run_through_the_api(PLUGIN, "Collatz", json!({"n": 27})).await;
    let result: Value = serde_json::from_str(execution["result"].as_str().unwrap()).unwrap();
    assert_eq!(result, json!({"n": 27, "steps": 111, "peak": 9232}));
}
