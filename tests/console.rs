//! The web console (`docs/console.md`): its files over real HTTP (types, cache headers,
//! the Content-Security-Policy, the API's 404 untouched), and its flows in a real
//! headless Chromium and a real headless Firefox, driven by Playwright
//! (tests/console/flows.py, the same steps in both) against a real server with the
//! example plugins.
//!
//! The browser tests need Debian's `chromium` and `firefox-esr` and Playwright in the
//! shared venv (`make toolchains`; CI installs them through .ci/run). Without them they
//! fail saying how to install them: they never skip.

mod common;

use common::{Server, ServerOptions, tmp};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The version pinned in tests/console/requirements.txt.
const PLAYWRIGHT: &str = "1.62.0";

/// A browser the flows run in: Debian's build, never one Playwright downloads.
#[derive(Clone, Copy)]
struct Browser {
    /// flows.py's `--browser`.
    name: &'static str,
    executable: &'static str,
    package: &'static str,
}

const CHROMIUM: Browser = Browser {
    name: "chromium",
    executable: "/usr/bin/chromium",
    package: "chromium",
};

/// Driven over WebDriver BiDi (Playwright's "moz-firefox" channel): a stock Firefox.
const FIREFOX: Browser = Browser {
    name: "firefox",
    executable: "/usr/bin/firefox-esr",
    package: "firefox-esr",
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::test]
async fn console_files_are_served_with_their_types_and_cache_headers() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let client = &server.client;
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/style.css", "text/css; charset=utf-8"),
        ("/console/icon.svg", "image/svg+xml"),
    ] {
        let r = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()[CONTENT_TYPE], content_type, "{path}");
        assert_eq!(r.headers()[CACHE_CONTROL], "no-cache", "{path}");
        let csp = r.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{path}: {csp}"
        );
        // The browser asks again with the ETag and gets no body until the binary changes.
        let etag = r.headers()[ETAG].clone();
        let again = client
            .get(format!("{}{path}", server.base))
            .header(IF_NONE_MATCH, etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
    }
    // The API's own answers are unchanged: an unknown path under it is the JSON 404.
    for path in ["/api/v1/nope", "/api/nope", "/nope", "/console/a/b.js"] {
        let (status, body) = server.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body, serde_json::json!({"error": "no such path"}), "{path}");
    }
    let (status, body) = server.get("/console/%FF%FE").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "the file in the path is not valid UTF-8 once percent-decoded: send it \
         percent-encoded from UTF-8"
    );
    let (status, body) = server.get("/console/nope.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        serde_json::json!({"error": "no such file in the console: nope.js"})
    );
}

#[tokio::test]
async fn the_schedule_preview_answers_fire_times_without_creating_a_job() {
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    let body = serde_json::json!({
        "name": "preview", "job_class_string": "wasmcron.testing.Echo",
        "trigger": "cron", "trigger_params": {"minute": "0", "hour": "3"},
        "timezone": "Europe/Berlin",
    });
    let (status, preview) = server
        .post("/api/v1/next-runs?count=3", &body.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["timezone"], "Europe/Berlin");
    let runs = preview["next_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    for run in runs {
        assert!(
            run["local"].as_str().unwrap().contains("T03:00:00"),
            "{run}"
        );
    }
    assert!(preview.get("job_id").is_none());
    let (_, jobs) = server.get("/api/v1/jobs").await;
    assert_eq!(
        jobs["jobs"],
        serde_json::json!([]),
        "a preview creates nothing"
    );
    // A mistake is the create's 400, naming the field.
    let mut bad = body.clone();
    bad["trigger_params"]["hour"] = "25".into();
    let (status, error) = server.post("/api/v1/next-runs", &bad.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid hour expression '25'"),
        "{error}"
    );
}

/// The venv's Python with the pinned Playwright, or a failure saying how to install it.
fn playwright_python() -> PathBuf {
    let python = root().join("target/toolchains/venv/bin/python");
    let version = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('playwright'))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    assert_eq!(
        version.as_deref(),
        Some(PLAYWRIGHT),
        "the browser tests need Playwright {PLAYWRIGHT} in {}: run `make toolchains` \
         (it installs tests/console/requirements.txt)",
        python.display()
    );
    python
}

#[tokio::test]
async fn the_console_flows_work_in_chromium() {
    console_flows(CHROMIUM).await;
}

#[tokio::test]
async fn the_console_flows_work_in_firefox() {
    console_flows(FIREFOX).await;
}

/// Runs every flow of tests/console/flows.py in `browser` against two fresh servers: one
/// open on loopback, one with a token of each role.
async fn console_flows(browser: Browser) {
    assert!(
        Path::new(browser.executable).exists(),
        "the browser tests need Debian's {} at {}: install it with \
         `apt-get install -y {}` (.ci/run does)",
        browser.package,
        browser.executable,
        browser.package
    );
    let python = playwright_python();
    let dir = tmp();
    let server = Server::start(&dir.path().join("data"));
    // Screenshots go to a scratch folder unless WASMCRON_SCREENSHOTS names one (relative
    // to the repository), e.g. docs/screenshots to refresh the committed ones, which are
    // Chromium's (Firefox's are taken all the same: taking them is part of the run).
    let screenshots = match std::env::var_os("WASMCRON_SCREENSHOTS") {
        Some(d) if browser.name == CHROMIUM.name => root().join(d),
        _ => dir.path().join("screenshots"),
    };
    // A second server with access control on: a token of each role, made as an
    // administrator would, before it starts.
    let guarded_data = dir.path().join("guarded");
    let tokens: Vec<String> = ["viewer", "operator", "admin"]
        .iter()
        .map(|role| common::create_token(&guarded_data, role, role))
        .collect();
    let guarded = ServerOptions::new(&guarded_data).start();
    let base = server.base.clone();
    let guarded_base = guarded.base.clone();
    let plugins = common::plugins_dir();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(root().join("tests/console/flows.py"))
            .arg("--base")
            .arg(&base)
            .arg("--plugins-dir")
            .arg(&plugins)
            .arg("--screenshots")
            .arg(&screenshots)
            .arg("--browser")
            .arg(browser.name)
            .arg("--executable")
            .arg(browser.executable)
            .arg("--auth-base")
            .arg(&guarded_base)
            .arg("--viewer-token")
            .arg(&tokens[0])
            .arg("--operator-token")
            .arg(&tokens[1])
            .arg("--admin-token")
            .arg(&tokens[2])
            .output()
            .expect("running tests/console/flows.py")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the console flows failed in {} ({}):\n{stdout}\n{stderr}\nserver log (end):\n{}\n\
         the server with tokens, log (end):\n{}",
        browser.name,
        out.status,
        tail(&server.stderr(), 6000),
        tail(&guarded.stderr(), 3000)
    );
    // The figure docs/console.md reports.
    eprintln!("{stdout}");
}

fn tail(s: &str, n: usize) -> &str {
    let start = s.len().saturating_sub(n);
    let start = (start..s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    &s[start..]
}
