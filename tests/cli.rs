//! The `job` and `exec` commands, and what `plugin push` draws on a terminal: the real
//! `wasmcron` binary as a client of a real server (docs/cli.md).

mod common;

use common::{Server, tmp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

/// What one command did: its exit code, stdout and stderr.
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn wasmcron(server: &str) -> Command {
    let mut cmd = Command::new(common::binary());
    cmd.env("WASMCRON_SERVER", server).env_remove("RUST_LOG");
    cmd
}

/// Runs `wasmcron <args>` against `server`, with `stdin` as its input.
fn cli_with_input(server: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = wasmcron(server)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn cli(server: &Server, args: &[&str]) -> Output {
    cli_with_input(&server.base, args, "")
}

/// Asserts a command succeeded; returns its output.
fn ok(server: &Server, args: &[&str]) -> Output {
    let out = cli(server, args);
    assert_eq!(out.code, Some(0), "wasmcron {args:?}: {out:?}");
    out
}

async fn job(server: &Server, job_id: &str) -> Value {
    let (status, job) = server.get(&format!("/api/v1/jobs/{job_id}")).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    job
}

/// The table line that holds `needle`.
fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

/// A job added from options is listed (as a table and as the API's JSON), shown,
/// edited (only what is given changes), paused and resumed, run and followed to its
/// end (exit 0, its log line and result printed), and removed.
#[tokio::test]
async fn a_job_through_its_life() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));

    let out = ok(
        &server,
        &[
            "job",
            "add",
            "--name",
            "greeter",
            "--class",
            "wasmcron.testing.Echo",
            "--args",
            r#"["hello", 2]"#,
            "--minute",
            "0",
            "--hour",
            "3",
        ],
    );
    let job_id = out.stdout.trim().to_owned();
    assert_eq!(job_id.len(), 32, "{out:?}");

    let out = ok(&server, &["job", "list"]);
    let header = out.stdout.lines().next().unwrap();
    assert!(
        header.starts_with("JOB_ID") && header.contains("SCHEDULE") && header.contains("STATE"),
        "{out:?}"
    );
    let row = line_with(&out.stdout, &job_id);
    assert!(
        row.contains("greeter") && row.contains("cron 0 3 * * *") && row.contains("active"),
        "{row}"
    );
    // The columns line up: each header word starts where its cells start.
    let column = header.find("SCHEDULE").unwrap();
    assert_eq!(row.find("cron 0 3 * * *"), Some(column), "{out:?}");

    let listed = ok(&server, &["job", "list", "--json"]).json();
    assert_eq!(listed["jobs"][0]["job_id"], job_id.as_str());
    assert_eq!(listed["jobs"][0]["pub_args"], json!(["hello", 2]));

    let out = ok(&server, &["job", "show", &job_id]);
    assert!(
        out.stdout.contains("class:     wasmcron.testing.Echo"),
        "{out:?}"
    );
    assert!(out.stdout.contains("schedule:  cron 0 3 * * *"), "{out:?}");
    assert!(out.stdout.contains("next runs:"), "{out:?}");
    assert_eq!(
        ok(&server, &["job", "show", &job_id, "--json"]).json(),
        job(&server, &job_id).await
    );

    // An edit changes what it is given and keeps the rest.
    ok(
        &server,
        &[
            "job",
            "edit",
            &job_id,
            "--name",
            "morning greeter",
            "--hour",
            "4",
            "--timezone",
            "Europe/Berlin",
            "--options",
            r#"{"max_instances": 1}"#,
        ],
    );
    let edited = job(&server, &job_id).await;
    assert_eq!(edited["name"], "morning greeter");
    assert_eq!(edited["pub_args"], json!(["hello", 2]));
    assert_eq!(edited["trigger_params"]["minute"], "0");
    assert_eq!(edited["trigger_params"]["hour"], "4");
    assert_eq!(edited["timezone"], "Europe/Berlin");
    assert_eq!(edited["max_instances"], 1);
    let out = ok(&server, &["job", "list"]);
    assert!(
        line_with(&out.stdout, &job_id).contains("cron 0 4 * * * Europe/Berlin"),
        "{out:?}"
    );
    // A key set to null in --options goes back to its default.
    ok(
        &server,
        &[
            "job",
            "edit",
            &job_id,
            "--options",
            r#"{"max_instances": null}"#,
        ],
    );
    assert!(job(&server, &job_id).await.get("max_instances").is_none());

    let out = ok(&server, &["job", "pause", &job_id]);
    assert_eq!(out.stdout.trim(), format!("job {job_id} paused"));
    assert_eq!(job(&server, &job_id).await["state"], "paused");
    assert!(line_with(&ok(&server, &["job", "list"]).stdout, &job_id).contains("paused"));
    let answer = ok(&server, &["job", "resume", &job_id, "--json"]).json();
    assert_eq!(answer, json!({"job_id": job_id}));
    assert_eq!(job(&server, &job_id).await["state"], "active");

    // A followed run prints its log line and its result, and exits 0.
    let out = ok(&server, &["job", "run", &job_id, "--follow"]);
    assert!(
        out.stdout
            .contains(r#"[info] echo attempt 1 of job 'morning greeter': ["hello",2]"#),
        "{out:?}"
    );
    assert!(
        out.stdout.ends_with("[\n    \"hello\",\n    2\n]\n"),
        "{out:?}"
    );
    assert!(out.stderr.contains("succeeded"), "{out:?}");

    // Without --follow, `job run` prints the execution id, and `exec show --follow`
    // follows it.
    let execution_id = ok(&server, &["job", "run", &job_id])
        .stdout
        .trim()
        .to_owned();
    assert_eq!(execution_id.len(), 32);
    let followed = ok(
        &server,
        &["exec", "show", &execution_id, "--follow", "--json"],
    )
    .json();
    assert_eq!(followed["execution_id"], execution_id.as_str());
    assert_eq!(followed["state"], "succeeded");

    let out = ok(&server, &["exec", "list", "--job", &job_id]);
    let row = line_with(&out.stdout, &execution_id);
    assert!(
        row.contains("morning greeter") && row.contains("succeeded"),
        "{row}"
    );
    let listed = ok(&server, &["exec", "list", "--job", &job_id, "--json"]).json();
    let listed: Vec<&Value> = listed["executions"].as_array().unwrap().iter().collect();
    assert!(listed.len() >= 2, "{listed:?}");
    assert!(
        listed
            .iter()
            .any(|e| e["execution_id"] == execution_id.as_str())
    );
    let out = ok(&server, &["exec", "list", "--job", &job_id, "--limit", "1"]);
    assert_eq!(out.stdout.lines().count(), 2, "{out:?}");
    assert!(out.stderr.contains("more: pass --cursor "), "{out:?}");

    let out = ok(&server, &["exec", "show", &execution_id]);
    assert!(out.stdout.contains("state:         succeeded"), "{out:?}");
    assert!(out.stdout.contains("run:           run_now"), "{out:?}");
    assert!(
        out.stdout.contains("result:\n  [\n      \"hello\","),
        "{out:?}"
    );
    let out = ok(&server, &["exec", "logs", &execution_id]);
    assert_eq!(
        out.stdout,
        "[info] echo attempt 1 of job 'morning greeter': [\"hello\",2]\n"
    );

    let out = ok(&server, &["job", "rm", &job_id]);
    assert_eq!(out.stdout.trim(), format!("job {job_id} deleted"));
    let out = cli(&server, &["job", "show", &job_id]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stderr, format!("wasmcron: Job not found: {job_id}\n"));
}

/// A followed run that fails exits 1 and prints the state, the failure kind and the
/// job's message; `--json` prints the final execution.
#[tokio::test]
async fn a_failing_run_exits_non_zero_with_its_message() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let job_id = server
        .add_job(json!({
            "name": "doomed", "job_class_string": "wasmcron.testing.Fail",
            "pub_args": {"message": "the disk is full"}, "trigger": "interval",
            "trigger_params": {"interval": 3600}
        }))
        .await;
    let out = cli(&server, &["job", "run", &job_id, "--follow"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("ended failed (job_error)") && out.stderr.contains("the disk is full"),
        "{out:?}"
    );
    let out = cli(&server, &["job", "run", &job_id, "--follow", "--json"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    let execution = out.json();
    assert_eq!(execution["state"], "failed");
    assert_eq!(execution["result"], "the disk is full");
}

/// A long run is cancelled with `exec cancel`; following it ends with exit 1 and the
/// state `stopped`. Cancelling it again is refused with the server's message.
#[tokio::test]
async fn a_long_run_is_cancelled() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let job_id = server
        .add_job(json!({
            "name": "sleeper", "job_class_string": "wasmcron.testing.Sleep",
            "pub_args": {"seconds": 600}, "trigger": "interval",
            "trigger_params": {"interval": 36000}
        }))
        .await;
    let execution_id = ok(&server, &["job", "run", &job_id])
        .stdout
        .trim()
        .to_owned();
    let out = ok(&server, &["exec", "cancel", &execution_id]);
    assert_eq!(
        out.stdout.trim(),
        format!("execution {execution_id}: cancel asked for")
    );
    let out = cli(&server, &["exec", "show", &execution_id, "--follow"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("ended stopped"), "{out:?}");
    let out = cli(&server, &["exec", "cancel", &execution_id]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.starts_with(&format!(
            "wasmcron: Execution {execution_id} is not running (its state is 'stopped')"
        )),
        "{out:?}"
    );
}

/// `--follow` prints a run's log lines as they happen. With one run slot taken by a
/// first sleeper, a second one waits `scheduled` while it is followed; when the first is
/// cancelled, the second starts, and its first log line arrives while it still runs.
/// The follower ends with exit 1 when that run is cancelled too, without printing the
/// line again.
#[tokio::test]
async fn a_followed_run_shows_its_log_lines_live() {
    let dir = tmp();
    let server = common::ServerOptions::new(&dir.path().join("data"))
        .arg("--max-concurrent-runs")
        .arg("1")
        .start();
    // The time limit only bounds a failing test: a line not shown live would be shown
    // when the run ends, then found to be final.
    let sleeper = json!({
        "name": "sleeper", "job_class_string": "wasmcron.testing.Sleep",
        "pub_args": {"seconds": 600}, "trigger": "interval",
        "trigger_params": {"interval": 36000}, "timeout_seconds": 60
    });
    let first_job = server.add_job(sleeper.clone()).await;
    let second_job = server.add_job(sleeper).await;
    let first = ok(&server, &["job", "run", &first_job])
        .stdout
        .trim()
        .to_owned();
    loop {
        let (_, e) = server.get(&format!("/api/v1/executions/{first}")).await;
        if e["state"] == "running" {
            break;
        }
        assert_eq!(e["state"], "scheduled", "{e}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let mut follower = wasmcron(&server.base)
        .args(["job", "run", &second_job, "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(follower.stderr.take().unwrap()).lines();
    // Printed at the first state event: the follower is subscribed.
    let named = stderr.next().expect("a line").unwrap();
    let second = named.strip_prefix("execution ").unwrap().to_owned();
    let (_, e) = server.get(&format!("/api/v1/executions/{second}")).await;
    assert_eq!(e["state"], "scheduled", "waiting for the slot: {e}");

    ok(&server, &["exec", "cancel", &first]);
    let mut stdout = BufReader::new(follower.stdout.take().unwrap()).lines();
    let line = stdout.next().expect("a line").unwrap();
    assert_eq!(line, "[info] sleeping 600 s");
    // Not final: the line came live (the row may still say `scheduled` for the first
    // 50 ms of a run).
    let (_, e) = server.get(&format!("/api/v1/executions/{second}")).await;
    let state = e["state"].as_str().unwrap();
    assert!(["scheduled", "running"].contains(&state), "{e}");

    ok(&server, &["exec", "cancel", &second]);
    let rest: Vec<String> = stdout.map(Result::unwrap).collect();
    let status = follower.wait().unwrap();
    let errors: Vec<String> = stderr.map(Result::unwrap).collect();
    assert_eq!(status.code(), Some(1), "{rest:?} {errors:?}");
    assert!(rest.is_empty(), "the line is not printed again: {rest:?}");
    assert!(
        errors
            .iter()
            .any(|l| l.contains(&format!("execution {second} ended stopped"))),
        "{errors:?}"
    );
}

/// Jobs from JSON: `--file -` reads the API's body from stdin, and options given with
/// it are laid over it; `job edit --file` replaces the definition.
#[tokio::test]
async fn jobs_from_json_files() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let body = json!({
        "name": "from stdin", "job_class_string": "wasmcron.testing.Echo",
        "pub_args": [1], "trigger": "cron", "trigger_params": {"minute": "0", "hour": "4"}
    });
    let out = cli_with_input(
        &server.base,
        &["job", "add", "--file", "-", "--args", "[2]"],
        &body.to_string(),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let job_id = out.stdout.trim().to_owned();
    let added = job(&server, &job_id).await;
    assert_eq!(added["name"], "from stdin");
    assert_eq!(added["pub_args"], json!([2]));
    assert_eq!(added["hour"], "4");

    let file = dir.path().join("job.json");
    std::fs::write(
        &file,
        json!({
            "name": "from a file", "job_class_string": "wasmcron.testing.Echo",
            "trigger": "interval", "trigger_params": {"interval": 90}
        })
        .to_string(),
    )
    .unwrap();
    ok(
        &server,
        &["job", "edit", &job_id, "--file", file.to_str().unwrap()],
    );
    let edited = job(&server, &job_id).await;
    assert_eq!(edited["name"], "from a file");
    assert_eq!(
        edited["pub_args"],
        json!([]),
        "the file replaced the definition"
    );
    let out = ok(&server, &["job", "list"]);
    assert!(
        line_with(&out.stdout, &job_id).contains("every 90 seconds"),
        "{out:?}"
    );
}

/// Refusals print the server's sentence and exit 1 (2 when following: no outcome); a
/// server that cannot be reached and a bad command line exit 2.
#[tokio::test]
async fn errors_are_sentences_with_exit_codes() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));

    let out = cli(
        &server,
        &[
            "job", "add", "--name", "x", "--class", "nope.Job", "--minute", "1",
        ],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.starts_with(
            "wasmcron: unknown job class 'nope.Job': no plugin named 'nope' is installed"
        ),
        "{out:?}"
    );
    assert!(out.stdout.is_empty(), "{out:?}");

    let out = cli(
        &server,
        &[
            "job",
            "add",
            "--name",
            "x",
            "--class",
            "wasmcron.testing.Echo",
            "--minute",
            "61",
        ],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(
        out.stderr,
        "wasmcron: invalid minute expression '61': 61 is outside 0..59\n"
    );

    let unknown = "0123456789abcdef0123456789abcdef";
    let out = cli(&server, &["job", "run", unknown, "--follow"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stderr, format!("wasmcron: Job not found: {unknown}\n"));
    let out = cli(&server, &["exec", "show", unknown, "--follow"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(
        out.stderr,
        format!("wasmcron: Execution not found: {unknown}\n")
    );
    let out = cli(&server, &["exec", "logs", unknown]);
    assert_eq!(out.code, Some(1), "{out:?}");
    let out = cli(&server, &["exec", "list", "--state", "done"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.starts_with("wasmcron: invalid state 'done'"),
        "{out:?}"
    );

    // Local mistakes: no request is sent.
    let out = cli(&server, &["job", "add", "--name", "x", "--args", "[1,"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("--args is not JSON"), "{out:?}");
    let out = cli(
        &server,
        &["job", "add", "--minute", "5", "--interval-seconds", "10"],
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("cannot be used with"), "{out:?}");
    let out = cli(&server, &["job", "edit", unknown]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("nothing to change"), "{out:?}");

    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = cli_with_input(
        "http://unused.invalid",
        &["job", "list", "--server", &address],
        "",
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.starts_with(&format!(
            "wasmcron: cannot reach the wasmcron server at {address}"
        )),
        "{out:?}"
    );
}

/// A follower whose event stream breaks before the run ends polls the execution
/// instead, and prints the log lines the stream did not bring, once. The server is a
/// stand-in that serves one `running` state and one log line, then hangs up.
#[tokio::test]
async fn a_broken_event_stream_falls_back_to_polling() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let id = "0123456789abcdef0123456789abcdef";
    let running = json!({"execution_id": id, "state": "running", "logs": []});
    let finished = json!({
        "execution_id": id, "state": "succeeded", "result": "\"done\"", "duration_ms": 5.0,
        "logs": [{"level": "info", "message": "one"}, {"level": "warn", "message": "two"}]
    });
    let events = format!(
        "event: state\ndata: {running}\n\n: keep-alive\n\nevent: log\ndata: {}\n\n",
        json!({"level": "info", "message": "one"})
    );
    let stand_in = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut requests = Vec::new();
        while requests.len() < 2 {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 4096];
            let n = socket.read(&mut buf).await.unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            let line = request.lines().next().unwrap().to_owned();
            let (content_type, body) = if line.contains("/events") {
                ("text/event-stream", events.clone())
            } else {
                ("application/json", finished.to_string())
            };
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
            requests.push(line);
        }
        requests
    });
    let out = tokio::task::spawn_blocking(move || {
        cli_with_input(&base, &["exec", "show", id, "--follow"], "")
    })
    .await
    .unwrap();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "[info] one\n[warn] two\n\"done\"\n");
    let requests = stand_in.await.unwrap();
    assert_eq!(
        requests,
        [
            format!("GET /api/v1/executions/{id}/events HTTP/1.1"),
            format!("GET /api/v1/executions/{id} HTTP/1.1"),
        ]
    );
}

/// `plugin push` on a terminal: a pseudo-terminal made by util-linux's `script`, which
/// writes everything the command draws on it to its own stdout. The bar of bytes sent
/// appears, then the spinner while the server compiles; the line is cleared before the
/// server's answer is printed, and none of the plain lines shown off a terminal appear.
#[test]
fn plugin_push_draws_its_progress_on_a_terminal() {
    let has_script = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !has_script {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs util-linux's `script` for the terminal test"
        );
        eprintln!("skipped: no `script` (util-linux) to make a pseudo-terminal");
        return;
    }
    let dir = tmp();
    let server = common::ServerOptions::new(&dir.path().join("data"))
        .without_plugin_dir()
        .start();
    let wasm = common::plugin("wasmcron.examples.stats");
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let push = format!(
        "{} plugin push {} --name stats --server {}",
        quote(common::binary()),
        quote(&wasm.to_string_lossy()),
        quote(&server.base)
    );
    let out = Command::new("script")
        .args(["--quiet", "--return", "--command", &push, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}: {transcript:?}", out.status);

    let bar = transcript
        .find("uploading wasmcron.examples.stats.wasm: ")
        .unwrap_or_else(|| panic!("no upload bar: {transcript:?}"));
    let spinner = transcript
        .find(": compiling on the server…")
        .unwrap_or_else(|| panic!("no spinner while the server compiles: {transcript:?}"));
    assert!(bar < spinner, "{transcript:?}");
    assert!(
        !transcript.contains("wasmcron: uploading") && !transcript.contains("wasmcron: sent"),
        "the plain lines are for when stderr is not a terminal: {transcript:?}"
    );

    // The last drawing is cleared ("\r", erase the line); what follows is the answer
    // alone, as JSON (the terminal turned its "\n" into "\r\n").
    const CLEAR_LINE: &str = "\r\u{1b}[2K";
    let last_clear = transcript
        .rfind(CLEAR_LINE)
        .unwrap_or_else(|| panic!("the progress line is never cleared: {transcript:?}"));
    assert!(last_clear > spinner, "{transcript:?}");
    let answer = transcript[last_clear + CLEAR_LINE.len()..].replace("\r\n", "\n");
    let answer: Value = serde_json::from_str(&answer)
        .unwrap_or_else(|e| panic!("after the progress, not the answer alone ({e}): {answer:?}"));
    assert_eq!(answer["name"], "stats", "{answer}");
}
