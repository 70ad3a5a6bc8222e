//! The Go example, `wasmcron.examples.go` (example-jobs/go_job): a component built with the
//! standard Go toolchain (`GOOS=wasip1`, `-buildmode=c-shared`) and `wit-bindgen go`.

use super::*;

const PLUGIN: &str = "wasmcron.examples.go";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_classes_compute_their_results_and_log() {
    let Some((runtime, plugin)) = example(PLUGIN).await else {
        return;
    };
    assert_eq!(class_names(&plugin), ["WordFrequency", "SumDurations"]);
    let words = &plugin.classes[0];
    assert!(words.notes.contains("most frequent"), "{}", words.notes);
    let arguments: Vec<(&str, &str)> = words
        .arguments
        .iter()
        .map(|a| (a.name.as_str(), a.type_.as_str()))
        .collect();
    assert_eq!(arguments, [("text", "string"), ("k", "integer")]);
    assert!(words.arguments.iter().all(|a| !a.description.is_empty()));
    assert_eq!(
        plugin.classes[1].arguments[0].type_, "array of strings",
        "{:?}",
        plugin.classes[1]
    );

    // Every class accepts its own example arguments.
    assert_classes_documented(&runtime, &plugin).await;
    let report = run(
        &runtime,
        &plugin,
        "WordFrequency",
        &plugin.classes[0].example_arguments,
    )
    .await;
    assert_eq!(
        succeeded(&report),
        json!({"words": 8, "distinct": 5, "top": [
            {"word": "the", "count": 3}, {"word": "and", "count": 2}]})
    );

    // Case-folded, split at anything but letters and digits, ties in word order.
    let report = run(
        &runtime,
        &plugin,
        "WordFrequency",
        r#"{"text": "The cat and the hat. THE END, and a cat!", "k": 3}"#,
    )
    .await;
    assert_eq!(
        succeeded(&report),
        json!({"words": 10, "distinct": 6, "top": [
            {"word": "the", "count": 3}, {"word": "and", "count": 2}, {"word": "cat", "count": 2}]})
    );
    assert_eq!(
        logs(&report),
        [
            "info counting the words of 40 bytes of text",
            "info 10 words, 6 distinct"
        ]
    );

    // Unicode letters fold too; `k` defaults to 10.
    let report = run(
        &runtime,
        &plugin,
        "WordFrequency",
        r#"{"text": "Éclair éCLAIR 42 42 42"}"#,
    )
    .await;
    assert_eq!(
        succeeded(&report),
        json!({"words": 5, "distinct": 2, "top": [
            {"word": "42", "count": 3}, {"word": "éclair", "count": 2}]})
    );

    let report = run(
        &runtime,
        &plugin,
        "SumDurations",
        r#"{"durations": ["1h30m", "45s", "250ms", "-15s"]}"#,
    )
    .await;
    assert_eq!(
        succeeded(&report),
        json!({"count": 4, "total": "1h30m30.25s", "seconds": 5430.25})
    );
    assert_eq!(logs(&report), ["info added 4 durations: 1h30m30.25s"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_bad_input_fails_the_run_with_a_message() {
    let Some((runtime, plugin)) = example(PLUGIN).await else {
        return;
    };
    let cases = [
        (
            "WordFrequency",
            r#"{"k": 2}"#,
            r#"bad arguments: "text" (a string) is required"#,
        ),
        (
            "WordFrequency",
            r#"{"text": "a b", "k": 0}"#,
            r#"bad arguments: "k" must be at least 1, got 0"#,
        ),
        (
            "WordFrequency",
            r#"{"text": "a", "top": 1}"#,
            r#"bad arguments: unknown field "top""#,
        ),
        (
            "SumDurations",
            r#"{"durations": []}"#,
            r#"bad arguments: "durations" (a non-empty array of strings) is required"#,
        ),
        (
            "SumDurations",
            r#"{"durations": ["1h", "soon"]}"#,
            r#"durations[1]: time: invalid duration "soon""#,
        ),
    ];
    for (class, args, message) in cases {
        let report = run(&runtime, &plugin, class, args).await;
        assert_eq!(failed(&report), message, "{class} {args}");
        assert!(logs(&report).is_empty(), "{:?}", report.logs);
    }

    // Type errors and broken JSON come from encoding/json, after the same prefix.
    for args in [r#"{"text": 5}"#, "not json", r#"{"durations": "1h"}"#] {
        let class = if args.contains("durations") {
            "SumDurations"
        } else {
            "WordFrequency"
        };
        let report = run(&runtime, &plugin, class, args).await;
        let message = failed(&report);
        assert!(message.starts_with("bad arguments: "), "{args}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_job_runs_through_the_api() {
    if !built(PLUGIN) {
        return;
    }
    let execution = run_through_the_api(
        PLUGIN,
        "WordFrequency",
        json!({"text": "to be or not to be", "k": 2}),
    )
    .await;
    let result: Value = serde_json::from_str(execution["result"].as_str().unwrap()).unwrap();
    assert_eq!(
        result,
        json!({"words": 6, "distinct": 4, "top": [
            {"word": "be", "count": 2}, {"word": "to", "count": 2}]})
    );
}
