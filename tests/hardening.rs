//! The host's bounds against a hostile plugin or request, each attack made through the
//! public API of a real server process: log lines that would copy a guest's memory
//! into the host's, results and error messages of any size, a `describe()` listing
//! more than the host takes, path parameters that are not UTF-8, job names and dates
//! outside what a job can have, a plugin that would take the whole instance pool,
//! plugins that are costly to compile, and runs beyond the server's memory budget.
//! Every refusal is a JSON error naming its limit, and other jobs keep running.

mod common;

use common::{Server, ServerOptions, test_plugin, tmp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

/// A job of the testing plugin that fires only when run now.
async fn add_job(server: &Server, class: &str, pub_args: Value, extra: Value) -> String {
    server.add_testing_job(class, pub_args, extra).await
}

async fn run_now(server: &Server, job_id: &str) -> String {
    server.run_now(job_id).await
}

/// Runs a job now and waits for its execution's end.
async fn run_to_end(server: &Server, job_id: &str, limit: Duration) -> Value {
    let id = run_now(server, job_id).await;
    server.wait_finished(&id, limit).await
}

/// A well-behaved job still runs: what a hostile one did left the server whole.
async fn assert_echo_succeeds(server: &Server) {
    let echo = add_job(server, "Echo", json!({"still": "fine"}), json!({})).await;
    let run = run_to_end(server, &echo, Duration::from_secs(30)).await;
    assert_eq!(run["state"], "succeeded", "{run}");
}

/// The raw answer to a GET: status, body size and the body as JSON.
async fn get_raw(server: &Server, path: &str) -> (StatusCode, usize, Value) {
    let resp = server
        .client
        .get(format!("{}{path}", server.base))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, text.len(), json)
}

/// One string of 8 MiB passed to `log` (and `progress`) 250 times: the host keeps 250
/// lines of 8 KiB and copies no more than that. Before, each kept line kept a copy of
/// the whole message, and this one run took the server from ~130 MiB to ~2.3 GiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_copy_no_more_of_a_message_than_they_keep() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    // The baseline is taken once a run has warmed the engine and the pool up.
    assert_echo_succeeds(&server).await;
    let baseline = server.rss_bytes();

    let flood = add_job(
        &server,
        "LogFlood",
        json!({"bytes": 8 << 20, "times": 250}),
        json!({}),
    )
    .await;
    let id = run_now(&server, &flood).await;
    let mut peak = server.rss_bytes();
    let deadline = Instant::now() + Duration::from_secs(120);
    let run = loop {
        peak = peak.max(server.rss_bytes());
        let (status, run) = server.get(&format!("/api/v1/executions/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{run}");
        if !["scheduled", "running"].contains(&run["state"].as_str().unwrap()) {
            break run;
        }
        assert!(Instant::now() < deadline, "still running: {run}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    peak = peak.max(server.rss_bytes());
    let growth = peak.saturating_sub(baseline);
    println!(
        "RSS: baseline {} MiB, peak during the run {} MiB (+{} MiB)",
        baseline / MIB,
        peak / MIB,
        growth / MIB
    );
    assert_eq!(run["state"], "succeeded", "{run}");
    assert!(
        growth < 200 * MIB,
        "the server grew by {} MiB for one run logging 2 GiB (baseline {} MiB)",
        growth / MIB,
        baseline / MIB
    );

    let logs = run["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 250, "one line per call");
    let marker = format!(
        "[wasmcron: output truncated, {} more bytes dropped]",
        (8 << 20) - (8 << 10)
    );
    for line in logs {
        assert_eq!(line["level"], "info");
        let message = line["message"].as_str().unwrap();
        assert_eq!(message.len(), (8 << 10) + marker.len(), "cut to 8 KiB");
        assert!(message.starts_with("xxxxxxxx"));
        assert!(message.ends_with(&marker), "{}", &message[8 << 10..]);
    }

    // A line is cut at a character boundary: 8 KiB of three-byte characters keep 2730
    // (of 33,334).
    let euros = add_job(
        &server,
        "LogFlood",
        json!({"bytes": 100_000, "times": 3, "unit": "€"}),
        json!({}),
    )
    .await;
    let run = run_to_end(&server, &euros, Duration::from_secs(30)).await;
    assert_eq!(run["state"], "succeeded", "{run}");
    let message = run["logs"][0]["message"].as_str().unwrap();
    assert!(message.starts_with(&"€".repeat(2730)), "{message}");
    assert!(
        message.ends_with("[wasmcron: output truncated, 91812 more bytes dropped]"),
        "{}",
        &message[8190..]
    );
    assert_echo_succeeds(&server).await;
}

/// A result over `--max-result-bytes` fails the run, naming the limit and the flag;
/// an error message over it is cut; a 200 MiB result fails in the host's words
/// (before, wasmtime's: "too much data is being copied between the host and the
/// guest"). The list of executions shows each result cut, the execution's own GET the
/// whole stored one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_and_error_messages_are_bounded() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let big = |bytes: u64, fail: bool| json!({"bytes": bytes, "fail": fail});

    // Over the default limit of 1 MiB.
    let job = add_job(&server, "BigResult", big(2 * MIB, false), json!({})).await;
    let run = run_to_end(&server, &job, Duration::from_secs(60)).await;
    assert_eq!(run["state"], "failed", "{run}");
    assert_eq!(run["description"], "result_too_large");
    let message = run["result"].as_str().unwrap();
    assert!(
        message.starts_with(
            "the job's result was 2097154 bytes, over the limit of 1048576 bytes \
             (--max-result-bytes): it was not kept; it began: \"rrrr"
        ),
        "{message}"
    );
    assert!(message.len() < 2048, "{} bytes", message.len());

    // 200 MiB, in a job given the memory to build it.
    let job = add_job(
        &server,
        "BigResult",
        big(200 * MIB, false),
        json!({"memory_limit_mb": 1024}),
    )
    .await;
    let run = run_to_end(&server, &job, Duration::from_secs(120)).await;
    assert_eq!(run["state"], "failed", "{run}");
    assert_eq!(run["description"], "result_too_large");
    let message = run["result"].as_str().unwrap();
    assert!(
        message.starts_with("the job's result was 209715202 bytes, over the limit of 1048576 bytes (--max-result-bytes)"),
        "{}",
        &message[..message.len().min(300)]
    );
    assert!(!message.contains("too much data"), "wasmtime's words");

    // An error message over the limit: its start, then what was dropped.
    let job = add_job(&server, "BigResult", big(2 * MIB, true), json!({})).await;
    let run = run_to_end(&server, &job, Duration::from_secs(60)).await;
    assert_eq!(run["state"], "failed", "{run}");
    assert_eq!(run["description"], "job_error");
    let message = run["result"].as_str().unwrap();
    assert!(message.starts_with("rrrr"), "{message}");
    assert!(
        message.ends_with(
            "[wasmcron: the job's error message was 2097152 bytes, over the limit of \
             1048576 bytes (--max-result-bytes); the rest was dropped]"
        ),
        "{message}"
    );

    // Within the limit: kept whole, shown whole by its own GET, cut in the list.
    let job = add_job(&server, "BigResult", big(900_000, false), json!({})).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let run = run_to_end(&server, &job, Duration::from_secs(60)).await;
        assert_eq!(run["state"], "succeeded", "{run}");
        assert_eq!(run["result"].as_str().unwrap().len(), 900_002);
        ids.push(run["execution_id"].as_str().unwrap().to_owned());
    }
    let (status, size, one) = get_raw(&server, &format!("/api/v1/executions/{}", ids[0])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["result"].as_str().unwrap().len(), 900_002);
    println!("GET of one execution with a 900,002-byte result: {size} bytes");
    let (status, size, list) = get_raw(&server, &format!("/api/v1/executions?job_id={job}")).await;
    assert_eq!(status, StatusCode::OK);
    println!("GET of the list of its 3 executions: {size} bytes");
    assert!(size < 32 << 10, "the list is {size} bytes");
    let listed = list["executions"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    for e in listed {
        let id = e["execution_id"].as_str().unwrap();
        let result = e["result"].as_str().unwrap();
        assert!(
            result.starts_with(&format!("\"{}", "r".repeat(4095))),
            "{result}"
        );
        assert!(
            result.ends_with(&format!(
                "\n[wasmcron: result cut to its first 4096 of 900002 characters in this list; \
                 GET /api/v1/executions/{id} shows it whole]"
            )),
            "{}",
            &result[4096..]
        );
    }
    // A small result is listed whole.
    let echo = add_job(&server, "Echo", json!(["small"]), json!({})).await;
    run_to_end(&server, &echo, Duration::from_secs(30)).await;
    let (_, _, list) = get_raw(&server, &format!("/api/v1/executions?job_id={echo}")).await;
    assert_eq!(list["executions"][0]["result"], "[\n    \"small\"\n]");
}

/// The limit is the server's flag, and it is applied as the result is read from the
/// guest (the failure quotes the head the host read instead of the whole result), to
/// error messages too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_result_limit_is_a_flag() {
    let dir = tmp();
    let server = ServerOptions::new(&dir.path().join("data"))
        .arg("--max-result-bytes")
        .arg("1000")
        .start();
    let job = add_job(&server, "BigResult", json!({"bytes": 998}), json!({})).await;
    let run = run_to_end(&server, &job, Duration::from_secs(30)).await;
    assert_eq!(run["state"], "succeeded", "{run}");
    let job = add_job(&server, "BigResult", json!({"bytes": 999}), json!({})).await;
    let run = run_to_end(&server, &job, Duration::from_secs(30)).await;
    assert_eq!(run["state"], "failed", "{run}");
    let message = run["result"].as_str().unwrap();
    assert!(
        message.starts_with(
            "the job's result was 1001 bytes, over the limit of 1000 bytes \
             (--max-result-bytes): it was not kept; it began: \"rrrr"
        ),
        "{message}"
    );
    // The failure itself keeps within the limit: the host read only the head it quotes.
    assert!(message.len() <= 1000, "{} bytes", message.len());
    assert!(message.len() > 900, "{} bytes", message.len());
    let job = add_job(
        &server,
        "BigResult",
        json!({"bytes": 5000, "fail": true}),
        json!({}),
    )
    .await;
    let run = run_to_end(&server, &job, Duration::from_secs(30)).await;
    assert_eq!(run["state"], "failed", "{run}");
    assert_eq!(run["description"], "job_error");
    let message = run["result"].as_str().unwrap();
    assert!(message.len() <= 1000, "{} bytes: {message}", message.len());
    assert!(message.starts_with("rrrr"), "{message}");
    assert!(
        message.ends_with(
            "\n[wasmcron: the job's error message was 5000 bytes, over the limit of 1000 bytes \
             (--max-result-bytes); the rest was dropped]"
        ),
        "{message}"
    );
}

/// Uploads the hostile `describe()` plugin to a fresh server started with `args`.
async fn upload_huge_describe(dir: &std::path::Path, args: &[&str]) -> (StatusCode, Value) {
    let mut options = ServerOptions::new(dir).without_plugin_dir();
    for a in args {
        options = options.arg(a);
    }
    let server = options.start();
    let wasm = std::fs::read(test_plugin("wasmcron.testing.huge_describe"))
        .expect("target/test-plugins/wasmcron.testing.huge_describe.wasm: run `make plugins`");
    server
        .send_bytes(Method::POST, "/api/v1/plugins/huge", wasm)
        .await
}

/// A `describe()` listing 1,001 classes, one with 70 KiB of notes, 101 arguments
/// documented in 90 KiB and 110 KiB of example arguments, is refused with a 400 that
/// names the first limit it passes; each limit raised in turn brings the next one
/// up, and with all of them raised it is installed. Before, a 96 MiB document was
/// taken, and every class listing then answered ~100 MB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_output_over_a_limit_is_refused_naming_it() {
    let dir = tmp();
    // With the defaults, on a server with the example plugins.
    let server = Server::start(&dir.path().join("defaults"));
    let wasm = std::fs::read(test_plugin("wasmcron.testing.huge_describe"))
        .expect("target/test-plugins/wasmcron.testing.huge_describe.wasm: run `make plugins`");
    let (status, body) = server
        .send_bytes(Method::POST, "/api/v1/plugins/huge", wasm)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body,
        json!({"error": "the plugin's describe() returned more than this server accepts: \
            1001 classes, over the limit of 1000 classes per plugin (--max-plugin-classes)"})
    );
    let (status, _) = server.get("/api/v1/plugins/huge").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not installed");
    let (status, size, _) = get_raw(&server, "/api/v1/job-classes").await;
    assert_eq!(status, StatusCode::OK);
    assert!(size < 64 << 10, "/job-classes is {size} bytes");
    assert_echo_succeeds(&server).await;
    drop(server);

    let refused = |body: &Value| body["error"].as_str().unwrap().to_owned();
    let prefix = "the plugin's describe() returned more than this server accepts: class 'Huge'";
    let cases: [(&[&str], String); 4] = [
        (
            &["--max-plugin-classes", "1001"],
            format!(
                "{prefix}: its notes are 71680 bytes, over the limit of 65536 bytes (--max-class-doc-bytes)"
            ),
        ),
        (
            &[
                "--max-plugin-classes",
                "1001",
                "--max-class-doc-bytes",
                "1048576",
            ],
            format!("{prefix} has 101 arguments, over the limit of 100 (--max-class-arguments)"),
        ),
        (
            &[
                "--max-plugin-classes",
                "1001",
                "--max-class-arguments",
                "101",
                "--max-class-doc-bytes",
                "81920",
            ],
            format!(
                "{prefix}: its argument docs (names, types and descriptions) are 92002 bytes, \
                 over the limit of 81920 bytes (--max-class-doc-bytes)"
            ),
        ),
        (
            &[
                "--max-plugin-classes",
                "1001",
                "--max-class-arguments",
                "101",
                "--max-class-doc-bytes",
                "102400",
            ],
            format!(
                "{prefix}: its example arguments are 112644 bytes, over the limit of 102400 bytes \
                 (--max-class-doc-bytes)"
            ),
        ),
    ];
    for (i, (args, expected)) in cases.iter().enumerate() {
        let (status, body) = upload_huge_describe(&dir.path().join(format!("case{i}")), args).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{args:?}: {body}");
        assert_eq!(refused(&body), *expected, "{args:?}");
    }

    // Within every limit, the same plugin is taken.
    let (status, body) = upload_huge_describe(
        &dir.path().join("raised"),
        &[
            "--max-plugin-classes",
            "1001",
            "--max-class-arguments",
            "101",
            "--max-class-doc-bytes",
            "1048576",
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["classes"].as_array().unwrap().len(), 1001);
}

/// Every route with a path parameter, with a parameter whose percent-encoding is not
/// UTF-8: a 400 with a JSON body saying so (before: axum's `text/plain`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_parameter_that_is_not_utf8_gets_a_json_400_on_every_route() {
    let dir = tmp();
    let server = ServerOptions::new(&dir.path().join("data"))
        .without_plugin_dir()
        .start();
    let routes: [(Method, &str, &str); 23] = [
        (Method::GET, "/api/v1/jobs/{}", "job_id"),
        (Method::PUT, "/api/v1/jobs/{}", "job_id"),
        (Method::DELETE, "/api/v1/jobs/{}", "job_id"),
        (Method::PATCH, "/api/v1/jobs/{}", "job_id"),
        (Method::OPTIONS, "/api/v1/jobs/{}", "job_id"),
        (Method::POST, "/api/v1/jobs/{}/pause", "job_id"),
        (Method::POST, "/api/v1/jobs/{}/resume", "job_id"),
        (Method::GET, "/api/v1/jobs/{}/next-runs", "job_id"),
        (Method::GET, "/api/v1/jobs/{}/state", "job_id"),
        (Method::DELETE, "/api/v1/jobs/{}/state", "job_id"),
        (Method::GET, "/api/v1/executions/{}", "id"),
        (Method::POST, "/api/v1/executions/{}", "id"),
        (Method::DELETE, "/api/v1/executions/{}", "id"),
        (Method::GET, "/api/v1/plugins/{}", "name"),
        (Method::POST, "/api/v1/plugins/{}", "name"),
        (Method::DELETE, "/api/v1/plugins/{}", "name"),
        (Method::GET, "/api/v1/plugins/{}/wasm", "name"),
        (Method::GET, "/api/v1/secrets/{}", "name"),
        (Method::PUT, "/api/v1/secrets/{}", "name"),
        (Method::DELETE, "/api/v1/secrets/{}", "name"),
        (Method::DELETE, "/api/v1/tokens/{}", "name"),
        (Method::GET, "/api/v1/plugins/{}?force=%FF", "name"),
        (Method::DELETE, "/api/v1/plugins/{}?force=true", "name"),
    ];
    for bad in ["%FF%FE", "%C0%AF"] {
        for (method, route, key) in &routes {
            let path = route.replace("{}", bad);
            let resp = server
                .client
                .request(method.clone(), format!("{}{path}", server.base))
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let content_type = resp
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            let text = resp.text().await.unwrap();
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {text}");
            assert_eq!(
                content_type.as_deref(),
                Some("application/json"),
                "{method} {path}"
            );
            let body: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
            assert_eq!(
                body,
                json!({"error": format!(
                    "the {key} in the path is not valid UTF-8 once percent-decoded: send it \
                     percent-encoded from UTF-8"
                )}),
                "{method} {path}"
            );
        }
    }
    // A query value that is not UTF-8 is read lossily, and refused in JSON too.
    let (status, body) = server
        .call(Method::DELETE, "/api/v1/plugins/sample?force=%FF", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "force must be true or false, got '\u{FFFD}'"})
    );
    // And the errors that were JSON stay so.
    let (status, body) = server.call(Method::GET, "/api/v1/nope", None).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"error": "no such path"}))
    );
    let (status, body) = server.post("/api/v1/jobs", "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("the request body is not valid JSON")
    );
}

/// A job's name has 1 to `--max-job-name-chars` characters and no control character;
/// a date job's `run_date` lies between 1970 and 9999.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_names_and_run_dates_are_validated() {
    let dir = tmp();
    let server = ServerOptions::new(&dir.path().join("data"))
        .arg("--max-job-name-chars")
        .arg("50")
        .start();
    let job = |name: Value, run_date: &str| {
        json!({
            "job_class_string": "wasmcron.testing.Echo", "name": name,
            "trigger": "date", "trigger_params": {"run_date": run_date},
        })
        .to_string()
    };
    let refused = async |body: String| {
        let (status, body) = server.post("/api/v1/jobs", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        body["error"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        refused(job(json!("é".repeat(51)), "2099-01-01")).await,
        "'name' is 51 characters long, over the limit of 50 (the server's --max-job-name-chars)"
    );
    assert_eq!(
        refused(job(json!("a\u{0}b"), "2099-01-01")).await,
        "'name' must not contain control characters: U+0000 at character 2"
    );
    assert_eq!(
        refused(job(json!("line\nbreak"), "2099-01-01")).await,
        "'name' must not contain control characters: U+000A at character 5"
    );
    for date in ["0000-01-01", "1969-12-31T23:59:59Z"] {
        assert_eq!(
            refused(job(json!("old"), date)).await,
            format!("invalid run_date '{date}': it must be between 1970-01-01 and 9999-12-31")
        );
    }
    let (status, body) = server
        .post("/api/v1/jobs", &job(json!("é".repeat(50)), "9999-12-31"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // A PUT is checked alike.
    let id = body["job_id"].as_str().unwrap();
    let (status, body) = server
        .call(
            Method::PUT,
            &format!("/api/v1/jobs/{id}"),
            Some(&job(json!("x".repeat(51)), "2099-01-01")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("--max-job-name-chars")
    );
    let (status, body) = server
        .post("/api/v1/jobs", &job(json!("new year"), "1970-01-01"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Every time the API shows is RFC 3339, whose years have four digits: a `start_date` or
/// `end_date` that falls outside the years 1 to 9999 once in UTC is refused, and a fire
/// after 9999 (in UTC or in the job's zone) is no fire. (Found while fuzzing the API's
/// contract: such jobs showed `"next_run_time": "+10000-01-01T00:00:00+00:00"`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_time_shown_falls_after_the_year_9999() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let cron = |extra: Value| {
        let mut body = json!({"job_class_string": "wasmcron.testing.Echo", "name": "far"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body.to_string()
    };
    for (key, extra) in [
        (
            "start_date '9999-12-31T23:00:00'",
            json!({"minute": "0", "timezone": "America/New_York", "start_date": "9999-12-31T23:00:00"}),
        ),
        (
            "end_date '9999-12-31T23:00:00-05:00'",
            json!({"minute": "0", "end_date": "9999-12-31T23:00:00-05:00"}),
        ),
        (
            "start_date '0001-01-01'",
            json!({"minute": "0", "timezone": "Asia/Tokyo", "start_date": "0001-01-01"}),
        ),
    ] {
        let (status, body) = server.post("/api/v1/jobs", &cron(extra)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            body["error"],
            format!("invalid {key}: in UTC it must be between 0001-01-01 and 9999-12-31")
        );
    }
    // New Year's Day of 10000 is no fire: the job is finished from the start.
    let new_year = server
        .add_job(
            serde_json::from_str(&cron(json!({
                "month": "1", "day": "1", "hour": "0", "minute": "0",
                "start_date": "9999-12-31T12:00:00Z"
            })))
            .unwrap(),
        )
        .await;
    let (status, job) = server.get(&format!("/api/v1/jobs/{new_year}")).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["next_run_time"], "");
    assert_eq!(job["state"], "finished");
    // Every ten years from the last day of 9999: one fire, then none.
    let decade = server
        .add_job(json!({
            "job_class_string": "wasmcron.testing.Echo", "name": "decade",
            "trigger": "interval", "trigger_params": {"interval": 315_360_000},
            "start_date": "9999-12-31T12:00:00Z"
        }))
        .await;
    let (status, runs) = server
        .get(&format!("/api/v1/jobs/{decade}/next-runs?count=3"))
        .await;
    assert_eq!(status, StatusCode::OK, "{runs}");
    assert_eq!(
        runs["next_runs"],
        json!([{"utc": "9999-12-31T12:00:00+00:00", "local": "9999-12-31T12:00:00+00:00"}])
    );
    // In a zone ahead of UTC, the last fire is the last one of 9999 on its clock.
    let hourly = server
        .add_job(
            serde_json::from_str(&cron(json!({
                "minute": "0", "timezone": "Pacific/Kiritimati",
                "start_date": "9999-12-31T22:30:00"
            })))
            .unwrap(),
        )
        .await;
    let (status, runs) = server
        .get(&format!("/api/v1/jobs/{hourly}/next-runs?count=3"))
        .await;
    assert_eq!(status, StatusCode::OK, "{runs}");
    assert_eq!(
        runs["next_runs"],
        json!([{"utc": "9999-12-31T09:00:00+00:00", "local": "9999-12-31T23:00:00+14:00"}])
    );
}

/// The files of the data directory's `plugins/` and `cache/`, with their modification
/// times (a rewritten artifact, i.e. a plugin compiled again, shows a new time); files
/// the host does not name (`*.txt`) left out.
fn plugin_files(data: &std::path::Path) -> Vec<(String, std::time::SystemTime)> {
    let mut files = Vec::new();
    for sub in ["plugins", "cache"] {
        let Ok(entries) = std::fs::read_dir(data.join(sub)) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".txt") {
                files.push((
                    format!("{sub}/{name}"),
                    entry.metadata().unwrap().modified().unwrap(),
                ));
            }
        }
    }
    files.sort();
    files
}

/// A refused upload leaves no file in the data directory: a plugin is compiled,
/// described and checked in memory, and only one that is installed gets its `.wasm` and
/// compiled artifact written (before, each refused upload left its artifact: three
/// refused 18 MB uploads, ~89 MiB for good). Files no installed plugin uses are swept at
/// start and when a plugin is replaced or deleted; an installed plugin's files stay,
/// and a restart loads it from them without compiling again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_uploads_leave_no_files_and_unused_ones_are_swept() {
    let dir = tmp();
    let data = dir.path().join("data");
    let mut server = ServerOptions::new(&data).without_plugin_dir().start();
    let read = |path: std::path::PathBuf| {
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run `make plugins`)", path.display()))
    };
    let sample = read(common::plugin("simple_scheduler.jobs.sample_job"));
    let (status, body) = server
        .send_bytes(Method::POST, "/api/v1/plugins/sample", sample.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let installed = plugin_files(&data);
    assert_eq!(
        installed.len(),
        3,
        "one .wasm, one artifact and its pool needs: {installed:?}"
    );

    // The sample with its host import renamed: a component importing what no host has.
    let foreign = {
        let (from, to) = (b"wasmcron:job/host@0.3.0", b"wasmcron:job/hosx@0.3.0");
        let mut wasm = sample.clone();
        let at = wasm
            .windows(from.len())
            .position(|w| w == from)
            .expect("the sample imports wasmcron:job/host@0.3.0");
        wasm[at..at + to.len()].copy_from_slice(to);
        wasm
    };
    let refused = [
        (
            "broken",
            read(test_plugin("wasmcron.testing.broken_describe")),
            StatusCode::BAD_REQUEST,
            "the plugin's describe() failed",
        ),
        (
            "huge",
            read(test_plugin("wasmcron.testing.huge_describe")),
            StatusCode::BAD_REQUEST,
            "the plugin's describe() returned more than this server accepts",
        ),
        (
            "foreign",
            foreign,
            StatusCode::BAD_REQUEST,
            "the plugin imports something this host does not provide",
        ),
        // A replacement that would add a capability: compiled and described, then refused.
        (
            "sample",
            read(common::plugin("wasmcron.examples.http")),
            StatusCode::CONFLICT,
            "imports capabilities the installed one does not",
        ),
    ];
    for (name, wasm, expected, message) in refused {
        let (status, body) = server
            .send_bytes(Method::POST, &format!("/api/v1/plugins/{name}"), wasm)
            .await;
        assert_eq!(status, expected, "{name}: {body}");
        assert!(
            body["error"].as_str().unwrap_or("").contains(message),
            "{name}: {body}"
        );
        assert_eq!(
            plugin_files(&data),
            installed,
            "the refused upload '{name}' left files behind"
        );
    }

    // Strays: an artifact, its needs and a `.wasm` no plugin uses, a half-written temporary file;
    // and a file of someone else's, which the sweep leaves alone.
    let cache = data.join("cache");
    std::fs::write(
        cache.join(format!("{}-0123456789abcdef.cwasm", "0".repeat(64))),
        b"stray",
    )
    .unwrap();
    std::fs::write(
        cache.join(format!("{}-0123456789abcdef.needs", "0".repeat(64))),
        b"1 1 1\n",
    )
    .unwrap();
    std::fs::write(cache.join("stray.cwasm"), b"stray").unwrap();
    std::fs::write(cache.join(".stray.cwasm.0123.tmp"), b"stray").unwrap();
    std::fs::write(
        data.join("plugins")
            .join(format!("{}.wasm", "1".repeat(64))),
        b"stray",
    )
    .unwrap();
    std::fs::write(cache.join("notes.txt"), b"not the host's").unwrap();
    assert_eq!(plugin_files(&data).len(), installed.len() + 5);
    server.kill_hard();

    let server = ServerOptions::new(&data).without_plugin_dir().start();
    assert_eq!(
        plugin_files(&data),
        installed,
        "strays stayed, or the installed plugin was compiled again"
    );
    assert!(
        cache.join("notes.txt").exists(),
        "a file the host does not name was removed"
    );
    assert!(
        !server.stderr().contains("recompiling"),
        "{}",
        server.stderr()
    );
    let job = server
        .add_job(json!({"job_class_string": "sample.AwesomeJob", "name": "a", "hour": "0"}))
        .await;
    let run = run_to_end(&server, &job, Duration::from_secs(30)).await;
    assert_eq!(run["state"], "succeeded", "{run}");

    // Replaced: the old version's files go, the new one's are written.
    let mut v2 = sample.clone();
    let note = b"\x15wasmcron-test-version2";
    v2.extend_from_slice(&[0, note.len() as u8]);
    v2.extend_from_slice(note);
    let (status, body) = server
        .send_bytes(Method::POST, "/api/v1/plugins/sample", v2)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sha = body["sha256"].as_str().unwrap().to_owned();
    let replaced: Vec<String> = plugin_files(&data).into_iter().map(|(n, _)| n).collect();
    assert_eq!(replaced.len(), 3, "{replaced:?}");
    assert!(replaced.iter().all(|n| n.contains(&sha)), "{replaced:?}");
    // Deleted: nothing of it is left.
    let (status, body) = server
        .call(Method::DELETE, "/api/v1/plugins/sample?force=true", None)
        .await;
    assert!(status.is_success(), "{body}");
    assert_eq!(plugin_files(&data), Vec::new());
}

/// A component of the job world whose one class, `Spin`, loops until the run's
/// timeout stops it, and which instantiates an empty core module `extra` more times:
/// each run takes `1 + extra` core instances of the pool.
fn spinning_component(extra: usize) -> Vec<u8> {
    let extra_instances = "(core instance (instantiate $empty))\n".repeat(extra);
    let wat = format!(
        r#"(component
  (core module $main
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $at i32)
      (local.set $at (i32.and
        (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get 2))))
      (global.set $bump (i32.add (local.get $at) (local.get 3)))
      (local.get $at))
    (data (i32.const 0) "\10\00\00\00\01\00\00\00")
    (data (i32.const 16) "\40\00\00\00\04\00\00\00\50\00\00\00\05\00\00\00\00\00\00\00\00\00\00\00\60\00\00\00\02\00\00\00")
    (data (i32.const 64) "Spin")
    (data (i32.const 80) "spins")
    (data (i32.const 96) "{{}}")
    (func (export "describe") (result i32) (i32.const 0))
    (func (export "run") (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
      (loop $forever (br $forever))
      (i32.const 0)))
  (core instance $m (instantiate $main))
  (core module $empty)
  {extra_instances}
  (type $argument' (record (field "name" string) (field "type" string) (field "description" string)))
  (export $argument "argument" (type $argument'))
  (type $job-class' (record (field "name" string) (field "notes" string)
    (field "arguments" (list $argument)) (field "example-arguments" string)))
  (export $job-class "job-class" (type $job-class'))
  (type $context' (record (field "job-id" string) (field "job-name" string)
    (field "execution-id" string) (field "scheduled-time" string) (field "attempt" u32)))
  (export $context "context" (type $context'))
  (func (export "describe") (result (list $job-class))
    (canon lift (core func $m "describe") (memory $m "memory") (realloc (func $m "realloc"))))
  (func (export "run") (param "ctx" $context) (param "class" string) (param "args" string)
    (result (result string (error string)))
    (canon lift (core func $m "run") (memory $m "memory") (realloc (func $m "realloc")))))"#
    );
    wat::parse_str(wat).unwrap()
}

/// A plugin taking 65 core instances a run is refused at upload; one taking 24, run 16
/// times at once, would need 384 of a pool of 128 (16 concurrent runs × 8): its runs
/// wait for its share of the pool instead, and every other job's runs keep
/// succeeding. Before, the hostile runs took every slot of the pool and the others
/// ended `scheduled error` ("maximum concurrent limit of 1024 for core instances").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_plugin_cannot_take_the_instance_pool() {
    let dir = tmp();
    let server = ServerOptions::new(&dir.path().join("data"))
        .arg("--max-concurrent-runs")
        .arg("16")
        .start();
    let (status, body) = server
        .send_bytes(Method::POST, "/api/v1/plugins/wide", spinning_component(64))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body,
        json!({"error": "the plugin is larger than this server accepts: one instantiation \
            takes 65 core instances, over the limit of 32 (--max-core-instances-per-component)"})
    );

    let (status, body) = server
        .send_bytes(
            Method::POST,
            "/api/v1/plugins/hostile",
            spinning_component(23),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let hostile = server
        .add_job(json!({
            "job_class_string": "hostile.Spin",
            "name": "hostile",
            "trigger": "interval",
            "trigger_params": {"interval": 86_400},
            "timeout_seconds": 1,
        }))
        .await;
    let mut spins = Vec::new();
    for _ in 0..16 {
        spins.push(run_now(&server, &hostile).await);
    }
    let echo = add_job(&server, "Echo", json!(["still"]), json!({})).await;
    for _ in 0..5 {
        let run = run_to_end(&server, &echo, Duration::from_secs(60)).await;
        assert_eq!(run["state"], "succeeded", "{run}");
    }
    for id in spins {
        let run = server.wait_finished(&id, Duration::from_secs(120)).await;
        assert_eq!(
            run["state"], "timeout",
            "each waited for room, then ran: {run}"
        );
    }
    assert_echo_succeeds(&server).await;
}

/// A core module with one function of `locals` locals.
fn module_with_locals(locals: usize) -> Vec<u8> {
    wat::parse_str(format!("(module (func (local {})))", "i32 ".repeat(locals))).unwrap()
}

/// A module with 20,000 locals in one function (before: 75–97 s of compiling), one of
/// 50,001 functions and one over `--max-code-bytes` are refused before anything is
/// compiled, with a JSON 400 naming the bound; nothing is installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_over_a_code_bound_are_refused_before_compiling() {
    let dir = tmp();
    let server = ServerOptions::new(&dir.path().join("data"))
        .arg("--max-code-bytes")
        .arg("1000000")
        .start();
    let prefix = "the plugin is larger than this server accepts:";
    let cases = [
        (
            module_with_locals(20_000),
            format!(
                "{prefix} a function declares 20000 locals or more, over the limit of 2000 \
                 (--max-locals-per-function)"
            ),
        ),
        (
            wat::parse_str(format!("(module {})", "(func)".repeat(50_001))).unwrap(),
            format!(
                "{prefix} a core module defines 50001 functions, over the limit of 50000 \
                 (--max-functions-per-module)"
            ),
        ),
        (
            // The code section: one body of 1,000,000 `nop`s, with its size, its
            // (empty) locals and its `end`.
            wat::parse_str(format!("(module (func {}))", "(nop)".repeat(1_000_000))).unwrap(),
            format!(
                "{prefix} its function bodies take 1000005 bytes or more, over the limit of \
                 1000000 (--max-code-bytes)"
            ),
        ),
    ];
    for (wasm, expected) in cases {
        let (status, body) = server
            .send_bytes(Method::POST, "/api/v1/plugins/bomb", wasm)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body, json!({ "error": expected }));
    }
    let (status, _) = server.get("/api/v1/plugins/bomb").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not installed");
    assert_echo_succeeds(&server).await;
}

/// A core module within every bound that takes Cranelift a long time: 80 functions,
/// each keeping 2,000 values alive at once (about a second of compiling each).
fn slow_to_compile_module() -> Vec<u8> {
    let locals = 2_000;
    let mut body = String::new();
    for i in 0..locals {
        body.push_str(&format!(
            "(local.set {i} (i64.load offset={} (i32.const 0)))",
            i * 8
        ));
    }
    for i in 0..locals {
        let other = (i * 7 + 1) % locals;
        body.push_str(&format!(
            "(local.set {i} (i64.mul (local.get {i}) (local.get {other})))"
        ));
    }
    for i in 0..locals {
        body.push_str(&format!(
            "(i64.store offset={} (i32.const 0) (local.get {i}))",
            i * 8
        ));
    }
    let function = format!("(func (local {}) {body})", "i64 ".repeat(locals));
    let module = format!(
        "(module (memory 1) {} (func (export \"_start\")))",
        function.repeat(80)
    );
    wat::parse_str(module).unwrap()
}

/// The compiler processes the server has running (`wasmcron compile-plugin`).
fn compiler_processes(server_pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`: the command name may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let running = fields.first().is_some_and(|state| *state != "Z");
        let child = fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(server_pid);
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if running && child && String::from_utf8_lossy(&cmdline).contains("compile-plugin") {
            found.push(pid);
        }
    }
    found
}

/// Waits (up to `limit`) until the server's running compiler processes number `n`.
async fn wait_for_compilers(server: &Server, n: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while compiler_processes(server.pid()).len() != n {
        assert!(
            Instant::now() < deadline,
            "the server has {} compiler processes, not {n}",
            compiler_processes(server.pid()).len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A plugin that takes long to compile does not hold up another upload: the small one
/// is installed while the big one is still compiling (before, uploads were serialised
/// and a small upload waited the whole compile). With `--max-compile-seconds 1`, the
/// big one's compile is stopped after a second of CPU time — its process killed — and
/// the upload refused with a JSON 400 naming the flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_compile_blocks_no_other_upload_and_is_stopped_at_its_deadline() {
    let dir = tmp();
    let slow = slow_to_compile_module();
    let server = ServerOptions::new(&dir.path().join("side-by-side"))
        .without_plugin_dir()
        .start();
    let baseline = server.rss_bytes();
    let big = {
        let (client, url, slow) = (server.client.clone(), server.base.clone(), slow.clone());
        tokio::spawn(async move {
            client
                .post(format!("{url}/api/v1/plugins/slow"))
                .header("content-type", "application/wasm")
                .body(slow)
                .send()
                .await
        })
    };
    wait_for_compilers(&server, 1, Duration::from_secs(60)).await;
    let small = std::fs::read(common::plugin("wasmcron.testing")).unwrap();
    let (status, body) = server
        .send_bytes(Method::POST, "/api/v1/plugins/small", small)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        !big.is_finished() && compiler_processes(server.pid()).len() == 1,
        "the small upload finished while the big one was still compiling"
    );
    // The compile's memory is the child's: the server holds the uploads' bytes.
    let growth = server.rss_bytes().saturating_sub(baseline);
    println!("server RSS while compiling: +{} MiB", growth / MIB);
    assert!(growth < 64 * MIB, "the server grew by {} MiB", growth / MIB);
    drop(server);

    let server = ServerOptions::new(&dir.path().join("deadline"))
        .without_plugin_dir()
        .arg("--max-compile-seconds")
        .arg("1")
        .start();
    let (status, body) = server
        .send_bytes(Method::POST, "/api/v1/plugins/slow", slow)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body,
        json!({"error": "the plugin is larger than this server accepts: compiling it took \
            more than the limit of 1 s of CPU time (--max-compile-seconds); the compile was \
            stopped"})
    );
    wait_for_compilers(&server, 0, Duration::from_secs(10)).await;
    let cache = std::fs::read_dir(server.data_dir.join("cache"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(cache, 0, "a refused upload leaves no artifact");
}

/// With a memory budget of 300 MiB, a job may not ask for 400 MiB (400 naming the
/// budget), and two runs of 200 MiB each run one after the other: the second waits,
/// `scheduled`, until the first has given its memory back, then succeeds. Before, 12
/// runs of 240 MiB took the server to 3.3 GiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_beyond_the_memory_budget_wait_for_it() {
    let dir = tmp();
    let server = ServerOptions::new(&dir.path().join("data"))
        .arg("--memory-budget-mb")
        .arg("300")
        .start();
    let body = json!({
        "job_class_string": "wasmcron.testing.Sleep",
        "name": "too big",
        "pub_args": {"seconds": 1},
        "trigger": "interval",
        "trigger_params": {"interval": 86_400},
        "memory_limit_mb": 400,
    });
    let (status, refused) = server.post("/api/v1/jobs", &body.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(
        refused,
        json!({"error": "invalid memory_limit_mb 400: it exceeds the server's memory budget \
            for all runs together, 300 MiB (--memory-budget-mb)"})
    );

    let sleeper = add_job(
        &server,
        "Sleep",
        json!({"seconds": 1}),
        json!({"memory_limit_mb": 200}),
    )
    .await;
    let first = run_now(&server, &sleeper).await;
    let second = run_now(&server, &sleeper).await;
    let first = server.wait_finished(&first, Duration::from_secs(60)).await;
    let second = server.wait_finished(&second, Duration::from_secs(60)).await;
    assert_eq!(first["state"], "succeeded", "{first}");
    assert_eq!(second["state"], "succeeded", "{second}");
    let (a, b) = (
        common::time(&first["started_time"]),
        common::time(&second["started_time"]),
    );
    let (earlier, later) = if a <= b { (a, b) } else { (b, a) };
    assert!(
        later - earlier >= chrono::Duration::seconds(1),
        "the later run started {} ms after the earlier one, which sleeps 1 s within the \
         budget it holds",
        (later - earlier).num_milliseconds()
    );
    assert_echo_succeeds(&server).await;
}
