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
    // Each class gives its arguments schema...
    assert_every_class_has_a_schema(&plugin);
    // ... which refuses what it can express before the plugin is called,
    let cases = [
        (
            "WordFrequency",
            r#"{"k": 2}"#,
            "pub_args.text: missing: this class requires it",
        ),
        (
            "WordFrequency",
            r#"{"text": "a b", "k": 0}"#,
            "pub_args.k: the value is less than the minimum of 1",
        ),
        (
            "WordFrequency",
            r#"{"text": "a", "top": 1}"#,
            "pub_args: unknown field(s) 'top': the class takes no such argument",
        ),
        (
            "WordFrequency",
            r#"{"text": 5}"#,
            "pub_args.text: expected a string, got a number",
        ),
        (
            "SumDurations",
            r#"{"durations": []}"#,
            "pub_args.durations: the value has less than 1 item",
        ),
        (
            "SumDurations",
            r#"{"durations": "1h"}"#,
            "pub_args.durations: expected an array of strings, got a string",
        ),
    ];
    for (class, args, violation) in cases {
        let report = run(&runtime, &plugin, class, args).await;
        assert_eq!(
            failed(&report),
            refused_by_schema(class, violation),
            "{class} {args}"
        );
        assert!(logs(&report).is_empty(), "{:?}", report.logs);
    }

    // ... and the plugin's own checks the rest: what a duration string means, and
    // numbers JSON Schema counts as integers but encoding/json does not take as an int.
    for (class, args, message) in [
        (
            "SumDurations",
            r#"{"durations": ["1h", "soon"]}"#,
            r#"durations[1]: time: invalid duration "soon""#,
        ),
        (
            "WordFrequency",
            r#"{"text": "a", "k": 2.0}"#,
            "bad arguments: cannot unmarshal number 2.0 into Go struct field wordFrequencyArgs.k of type int",
        ),
    ] {
        let report = run(&runtime, &plugin, class, args).await;
        assert_eq!(failed(&report), message, "{class} {args}");
        assert!(logs(&report).is_empty(), "{:?}", report.logs);
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
        &[
            (
                json!({"text": "to be", "k": "2"}),
                "pub_args.k: expected an integer, got a string",
            ),
            (
                json!({"txt": "to be"}),
                "pub_args: unknown field(s) 'txt': the class takes no such argument; \
                 pub_args.text: missing: this class requires it",
            ),
        ],
    )
    .await;
    let result: Value = serde_json::from_str(execution["result"].as_str().unwrap()).unwrap();
    assert_eq!(
        result,
        json!({"words": 6, "distinct": 4, "top": [
            {"word": "be", "count": 2}, {"word": "to", "count": 2}]})
    );
}
