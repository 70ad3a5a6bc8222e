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
    // Each class gives its arguments schema...
    assert_every_class_has_a_schema(&plugin);
    // ... which refuses what it can express before the plugin is called,
    for (class, args, violation) in [
        (
            "Primes",
            "{}",
            "pub_args.n: missing: this class requires it",
        ),
        (
            "Primes",
            r#"{"n": 1}"#,
            "pub_args.n: the value is less than the minimum of 2",
        ),
        (
            "Primes",
            r#"{"n": 10, "largest": "all"}"#,
            "pub_args.largest: expected an integer, got a string",
        ),
        (
            "Collatz",
            r#"{"n": 2.5}"#,
            "pub_args.n: expected an integer, got a number",
        ),
        (
            "Collatz",
            "27",
            "pub_args: expected an object, got a number",
        ),
    ] {
        let report = run(&runtime, &plugin, class, args).await;
        assert_eq!(
            failed(&report),
            refused_by_schema(class, violation),
            "{class} {args}"
        );
        assert!(report.logs.is_empty(), "{:?}", report.logs);
    }
    // ... and the plugin's own checks the rest: JSON Schema counts 27.0 as an integer,
    // Zig's JSON parser reads a float.
    let report = run(&runtime, &plugin, "Collatz", r#"{"n": 27.0}"#).await;
    assert_eq!(
        failed(&report),
        r#"argument "n" must be an integer from 1 to 1000000000000"#
    );
    assert!(report.logs.is_empty(), "{:?}", report.logs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zig_runs_through_the_api() {
    if example(PLUGIN).await.is_none() {
        return;
    }
    let execution = run_through_the_api(
        PLUGIN,
        "Collatz",
        json!({"n": 27}),
        &[
            (
                json!({"n": 0}),
                "pub_args.n: the value is less than the minimum of 1",
            ),
            (
                json!({"n": 27, "steps": 3}),
                "pub_args: unknown field(s) 'steps': the class takes no such argument",
            ),
        ],
    )
    .await;
    let result: Value = serde_json::from_str(execution["result"].as_str().unwrap()).unwrap();
    assert_eq!(result, json!({"n": 27, "steps": 111, "peak": 9232}));
}
