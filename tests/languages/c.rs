//! The C example (`example-jobs/c_job`, plugin `wasmcron.examples.c`): a component built
//! with clang from wit-bindgen's C bindings.

use super::*;

const PLUGIN: &str = "wasmcron.examples.c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_classes_compute_and_log() {
    let Some((runtime, plugin)) = example(PLUGIN).await else {
        return;
    };
    assert_eq!(class_names(&plugin), ["Checksum", "WordCount"]);
    assert_classes_documented(&runtime, &plugin).await;

    let report = run(&runtime, &plugin, "Checksum", r#"{"text": "hello world"}"#).await;
    assert_eq!(
        succeeded(&report),
        json!({"bytes": 11, "crc32": "0d4a1185", "adler32": "1a0b045d"})
    );
    assert_eq!(logs(&report), ["info checksummed 11 bytes"]);

    // JSON escapes are decoded to UTF-8 before checksumming: "héllo ✓" is 10 bytes.
    let report = run(
        &runtime,
        &plugin,
        "Checksum",
        r#"{"text": "h\u00e9llo \u2713"}"#,
    )
    .await;
    assert_eq!(
        succeeded(&report),
        json!({"bytes": 10, "crc32": "83164aec", "adler32": "1cd5054d"})
    );

    let report = run(
        &runtime,
        &plugin,
        "WordCount",
        r#"{"text": "The cat and the hat. THE END, the cat!", "top": 2}"#,
    )
    .await;
    assert_eq!(
        succeeded(&report),
        json!({"words": 9, "distinct": 5, "top": [
            {"word": "the", "count": 4},
            {"word": "cat", "count": 2},
        ]})
    );
    assert_eq!(logs(&report), ["info counted 9 words, 5 distinct"]);

    // `top` defaults to 3; ties are listed alphabetically.
    let report = run(&runtime, &plugin, "WordCount", r#"{"text": "b a c b"}"#).await;
    assert_eq!(
        succeeded(&report),
        json!({"words": 4, "distinct": 3, "top": [
            {"word": "b", "count": 2},
            {"word": "a", "count": 1},
            {"word": "c", "count": 1},
        ]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_bad_arguments_fail_the_run() {
    let Some((runtime, plugin)) = example(PLUGIN).await else {
        return;
    };
    // Each class gives its arguments schema...
    assert_every_class_has_a_schema(&plugin);
    // ... which refuses what it can express before the plugin is called,
    for (class, args, violation) in [
        (
            "Checksum",
            "{}",
            "pub_args.text: missing: this class requires it",
        ),
        (
            "Checksum",
            r#"{"text": 5}"#,
            "pub_args.text: expected a string, got a number",
        ),
        (
            "Checksum",
            r#"["text"]"#,
            "pub_args: expected an object, got an array",
        ),
        (
            "Checksum",
            r#"{"text": "a", "txt": "b"}"#,
            "pub_args: unknown field(s) 'txt': the class takes no such argument",
        ),
        (
            "WordCount",
            r#"{"text": "a", "top": 0}"#,
            "pub_args.top: the value is less than the minimum of 1",
        ),
        (
            "WordCount",
            r#"{"text": "a", "top": 2.5}"#,
            "pub_args.top: expected an integer, got a number",
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
    // ... and the plugin's own checks the rest: JSON Schema counts 2.0 as an integer,
    // the C parser does not.
    let report = run(
        &runtime,
        &plugin,
        "WordCount",
        r#"{"text": "a", "top": 2.0}"#,
    )
    .await;
    assert_eq!(
        failed(&report),
        r#"argument "top" must be an integer from 1 to 100"#
    );
    assert!(report.logs.is_empty(), "{:?}", report.logs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_runs_through_the_api() {
    if example(PLUGIN).await.is_none() {
        return;
    }
    let execution = run_through_the_api(
        PLUGIN,
        "Checksum",
        json!({"text": "hello world"}),
        &[
            (json!({}), "pub_args.text: missing: this class requires it"),
            (
                json!({"text": ["hello"]}),
                "pub_args.text: expected a string, got an array",
            ),
        ],
    )
    .await;
    let result: Value = serde_json::from_str(execution["result"].as_str().unwrap()).unwrap();
    assert_eq!(
        result,
        json!({"bytes": 11, "crc32": "0d4a1185", "adler32": "1a0b045d"})
    );
}
