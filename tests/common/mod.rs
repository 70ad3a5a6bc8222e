//! Helpers for the black-box tests: a real `wasmcron` server process on a random
//! loopback port, with a real SQLite file (or, with `WASMCRON_TEST_BACKEND=postgres`, a
//! fresh PostgreSQL database: `database.rs`) and the real compiled example plugins.
#![allow(dead_code)]

pub mod database;

use reqwest::{Client, Method, StatusCode};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A fresh temporary directory, removed when dropped, with the PostgreSQL databases of
/// the servers started in it (their data directories' databases outlive a server, so
/// that a test can restart one on the same data).
pub struct TestDir(tempfile::TempDir);

impl TestDir {
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        database::drop_databases_under(self.0.path());
    }
}

/// A small xorshift generator, for tests that do things at random moments (they print
/// their seed).
pub struct Rng(pub u64);

impl Rng {
    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A fresh temporary directory (see [`TestDir`]).
pub fn tmp() -> TestDir {
    TestDir(tempfile::tempdir().unwrap())
}

/// An RFC 3339 time from the API as UTC.
pub fn time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")))
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// Where `make plugins` puts the example plugins.
pub fn plugins_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins");
    assert!(
        dir.join("wasmcron.testing.wasm").exists(),
        "the example plugins are missing from {}: run `make plugins` (or `make test`)",
        dir.display()
    );
    dir
}

/// The path of one built example plugin.
pub fn plugin(name: &str) -> PathBuf {
    plugins_dir().join(format!("{name}.wasm"))
}

/// Where a plugin would be, whether or not it was built.
pub fn plugin_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../target/plugins/{name}.wasm"))
}

/// A plugin built only for the tests to be refused (`target/test-plugins`).
pub fn test_plugin(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../target/test-plugins/{name}.wasm"))
}

/// The `wasmcron` binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_wasmcron")
}

/// A running server process. Killed when dropped.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub data_dir: PathBuf,
    /// The `--database-url` it was given (`None`: SQLite in its data directory).
    pub database_url: Option<String>,
    pub client: Client,
    stderr_log: PathBuf,
}

/// How to start a server.
pub struct ServerOptions {
    pub data_dir: PathBuf,
    pub plugin_dir: Option<PathBuf>,
    pub args: Vec<String>,
}

impl ServerOptions {
    /// A server on a fresh data directory with the example plugins installed.
    pub fn new(data_dir: &Path) -> Self {
        ServerOptions {
            data_dir: data_dir.to_owned(),
            plugin_dir: Some(plugins_dir()),
            args: Vec::new(),
        }
    }

    /// No `--plugin-dir`: plugins come only from uploads (and the data directory).
    pub fn without_plugin_dir(mut self) -> Self {
        self.plugin_dir = None;
        self
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_owned());
        self
    }

    pub fn start(self) -> Server {
        Server::start_with(self)
    }
}

impl Server {
    /// Starts a server with the example plugins on a fresh data directory.
    pub fn start(data_dir: &Path) -> Server {
        ServerOptions::new(data_dir).start()
    }

    fn start_with(options: ServerOptions) -> Server {
        let stderr_log = options.data_dir.with_extension("stderr.log");
        std::fs::create_dir_all(&options.data_dir).unwrap();
        let stderr = std::fs::File::create(&stderr_log).unwrap();
        let mut cmd = Command::new(binary());
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&options.data_dir)
            .args(&options.args)
            .env("RUST_LOG", "wasmcron=debug")
            .stdout(Stdio::piped())
            .stderr(stderr);
        if let Some(dir) = &options.plugin_dir {
            cmd.arg("--plugin-dir").arg(dir);
        }
        // A test that names its own database keeps it.
        let database_url = if options.args.iter().any(|a| a.starts_with("--database-url")) {
            None
        } else {
            database::url_for_server(&options.data_dir)
        };
        if let Some(url) = &database_url {
            cmd.arg("--database-url").arg(url);
        }
        let mut child = cmd.spawn().expect("starting wasmcron");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("wasmcron listening on ") {
                        break url.trim().to_owned();
                    }
                }
                _ => {
                    let status = child.wait().ok();
                    panic!(
                        "wasmcron exited before serving ({status:?}); stderr:\n{}",
                        std::fs::read_to_string(&stderr_log).unwrap_or_default()
                    );
                }
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child: Some(child),
            base,
            data_dir: options.data_dir,
            database_url,
            client: Client::new(),
            stderr_log,
        }
    }

    /// The server's log so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Sends a request; returns the status and the JSON body (`Null` if empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &str) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Creates a job and returns its id (asserting 201).
    pub async fn add_job(&self, body: Value) -> String {
        let (status, json) = self.post("/api/v1/jobs", &body.to_string()).await;
        assert_eq!(status, StatusCode::CREATED, "creating {body}: {json}");
        json["job_id"].as_str().unwrap().to_owned()
    }

    /// A job of the `wasmcron.testing` plugin's `class` that fires only when run now
    /// (a daily interval), with `options`' keys added to its body (`{}` for none).
    pub async fn add_testing_job(&self, class: &str, pub_args: Value, options: Value) -> String {
        let mut body = serde_json::json!({
            "job_class_string": format!("wasmcron.testing.{class}"),
            "name": class,
            "pub_args": pub_args,
            "trigger": "interval",
            "trigger_params": {"interval": 86_400},
        });
        for (key, value) in options.as_object().expect("options is an object") {
            body[key] = value.clone();
        }
        self.add_job(body).await
    }

    /// Runs a job now; returns the execution's id (asserting 200).
    pub async fn run_now(&self, job_id: &str) -> String {
        let (status, body) = self.post(&format!("/api/v1/executions/{job_id}"), "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["execution_id"].as_str().unwrap().to_owned()
    }

    /// Polls an execution until it reaches a final state (or panics after `limit`).
    pub async fn wait_finished(&self, execution_id: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let (status, e) = self
                .get(&format!("/api/v1/executions/{execution_id}"))
                .await;
            assert_eq!(status, StatusCode::OK, "{e}");
            let state = e["state"].as_str().unwrap().to_owned();
            if !["scheduled", "running", "stopping"].contains(&state.as_str()) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "execution still {state} after {limit:?}: {e}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Executions of one job in a wide time range.
    pub async fn executions_of(&self, job_id: &str) -> Vec<Value> {
        let (status, json) = self
            .get("/api/v1/executions?time_range_start=2000-01-01&time_range_end=2100-01-01")
            .await;
        assert_eq!(status, StatusCode::OK);
        json["executions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["job_id"] == job_id)
            .cloned()
            .collect()
    }

    /// Sends raw bytes as a request body; returns the status and the JSON body.
    pub async fn send_bytes(
        &self,
        method: Method,
        path: &str,
        bytes: Vec<u8>,
    ) -> (StatusCode, Value) {
        let resp = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/wasm")
            .body(bytes)
            .send()
            .await
            .expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Sends a GET; returns the status and the body's bytes (a download).
    pub async fn get_bytes(&self, path: &str) -> (StatusCode, Vec<u8>) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request");
        let status = resp.status();
        (status, resp.bytes().await.unwrap().to_vec())
    }

    /// The server process's resident memory, in bytes.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kb * 1024
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait up to `limit` for a clean exit; returns its exit status.
    pub fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("server did not stop within {limit:?} after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

/// `wasmcron token create --name <name> --role <role>` on a data directory (as an
/// administrator makes tokens before a server starts); returns the token it prints.
pub fn create_token(data_dir: &Path, name: &str, role: &str) -> String {
    let out = Command::new(binary())
        .args([
            "token",
            "create",
            "--name",
            name,
            "--role",
            role,
            "--data-dir",
        ])
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "token create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("wcr_") && token.len() == 68, "{token}");
    token
}
