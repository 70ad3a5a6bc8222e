//! The plugin `wasmcron.examples.http`: jobs that talk to the outside world over HTTP,
//! with the SDK's blocking client (`wasmcron_sdk::http`). Copy them as a starting point.
//!
//! A job reaches only what its options grant it, so each of these needs the URL's
//! origin in the job's `allowed_hosts` (e.g. `"allowed_hosts": ["https://hooks.slack.com"]`),
//! and `Webhook` with a token needs that secret in its `secrets`. Without the grant, a
//! request fails inside the job with a message that says it was denied, and never
//! connects.
//!
//! ```json
//! {"job_class_string": "wasmcron.examples.http.HttpCheck", "name": "api health",
//!  "pub_args": {"url": "https://api.example.com/health", "expect_body_contains": "ok"},
//!  "minute": "*/5", "allowed_hosts": ["https://api.example.com"]}
//! ```

use std::time::{Duration, Instant};
use wasmcron_sdk::serde::{Deserialize, Serialize};
use wasmcron_sdk::serde_json::{Map, Value, json};
use wasmcron_sdk::{Context, Job, JsonSchema, Result, fail, http, info};

/// Checks that a URL answers as expected: an uptime probe.
struct HttpCheck;

/// What to request, and what the answer must be.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "wasmcron_sdk::serde")]
#[serde(deny_unknown_fields)]
#[schemars(crate = "wasmcron_sdk::schemars")]
struct HttpCheckArgs {
    /// The http:// or https:// URL to check.
    url: String,
    /// The method to use (default GET).
    #[serde(default = "get")]
    method: String,
    /// The status the URL must answer with (default 200).
    #[serde(default = "ok")]
    expect_status: u16,
    /// Text the response body must contain (optional).
    expect_body_contains: Option<String>,
    /// How long the whole request may take (optional; the job's http_limits apply
    /// regardless).
    timeout_seconds: Option<f64>,
}

fn get() -> String {
    "GET".to_owned()
}

fn ok() -> u16 {
    200
}

#[derive(Serialize)]
#[serde(crate = "wasmcron_sdk::serde")]
struct CheckResult {
    url: String,
    status: u16,
    latency_ms: u64,
    bytes: usize,
}

impl Job for HttpCheck {
    const NAME: &'static str = "HttpCheck";
    const NOTES: &'static str = "Requests `url` (following redirects) and succeeds when it \
        answers with `expect_status` and, if given, a body containing \
        `expect_body_contains`; otherwise the run fails saying what came instead. Returns \
        the URL, the status, the latency in milliseconds and the body's size. Needs the \
        URL's origin in the job's `allowed_hosts`.";
    type Args = HttpCheckArgs;
    type Output = CheckResult;

    fn example_arguments() -> Value {
        json!({
            "url": "https://example.com/",
            "expect_status": 200,
            "expect_body_contains": "Example Domain",
            "timeout_seconds": 10
        })
    }

    fn run(_ctx: &Context, args: HttpCheckArgs) -> Result<CheckResult> {
        let mut request = http::Request::new(&args.method, &args.url);
        if let Some(seconds) = args.timeout_seconds {
            if !(seconds > 0.0 && seconds <= 3600.0) {
                fail!("timeout_seconds must be more than 0 and at most 3600, got {seconds}");
            }
            request = request.timeout(Duration::from_secs_f64(seconds));
        }
        let started = Instant::now();
        // An `HttpError` (denied, refused, timed out, ...) fails the run with its message,
        // which names the URL.
        let response = request.send()?;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        info!(
            "{} {} answered {} in {latency_ms} ms, {} bytes",
            args.method,
            args.url,
            response.status,
            response.body.len()
        );
        if response.status != args.expect_status {
            fail!(
                "expected status {}, got {} from {}",
                args.expect_status,
                response.status,
                args.url
            );
        }
        if let Some(needle) = &args.expect_body_contains
            && !response.text().contains(needle.as_str())
        {
            fail!("the body of {} does not contain {needle:?}", args.url);
        }
        Ok(CheckResult {
            url: args.url,
            status: response.status,
            latency_ms,
            bytes: response.body.len(),
        })
    }
}

/// Posts a message to a Slack-style incoming webhook.
struct Webhook;

/// Where to post, and what.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "wasmcron_sdk::serde")]
#[serde(deny_unknown_fields)]
#[schemars(crate = "wasmcron_sdk::schemars")]
struct WebhookArgs {
    /// The webhook's URL.
    url: String,
    /// The message; sent as {"text": text}. Required unless `payload` is given.
    text: Option<String>,
    /// The name of a secret granted to the job (its `secrets` option) holding a bearer
    /// token (optional).
    token_secret: Option<String>,
    /// A JSON object to send instead of {"text": text} (optional), e.g. Slack blocks.
    payload: Option<Map<String, Value>>,
}

#[derive(Serialize)]
#[serde(crate = "wasmcron_sdk::serde")]
struct Posted {
    status: u16,
}

/// How much of a failed answer's body the error message quotes.
const QUOTED_BYTES: usize = 512;

impl Job for Webhook {
    const NAME: &'static str = "Webhook";
    const NOTES: &'static str = "POSTs {\"text\": text} (or `payload`) as JSON to a \
        Slack-style incoming webhook, with `Authorization: Bearer <token>` when \
        `token_secret` names a secret. Fails when the webhook answers anything but 2xx, \
        quoting its answer. Needs the URL's origin in the job's `allowed_hosts`, and the \
        secret in its `secrets`.";
    type Args = WebhookArgs;
    type Output = Posted;

    fn example_arguments() -> Value {
        json!({
            "url": "https://hooks.slack.com/services/T000/B000/XXXX",
            "text": "The nightly backup is done.",
            "token_secret": "SLACK_TOKEN"
        })
    }

    fn run(ctx: &Context, args: WebhookArgs) -> Result<Posted> {
        let payload = match (args.payload, args.text) {
            (Some(payload), _) => Value::Object(payload),
            (None, Some(text)) => json!({ "text": text }),
            (None, None) => fail!("give the message as `text` (or a whole `payload`)"),
        };
        let mut request = http::Request::new("POST", &args.url).json(&payload);
        if let Some(name) = &args.token_secret {
            let Some(token) = ctx.secret(name) else {
                fail!(
                    "the secret {name} is not available: name it in the job's `secrets` \
                     option, and store it (PUT /api/v1/secrets/{name})"
                );
            };
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let response = request.send()?;
        if !response.is_success() {
            let quoted = &response.body[..response.body.len().min(QUOTED_BYTES)];
            fail!(
                "the webhook {} answered {}: {}",
                args.url,
                response.status,
                String::from_utf8_lossy(quoted)
            );
        }
        info!("posted to {}: {}", args.url, response.status);
        Ok(Posted {
            status: response.status,
        })
    }
}

wasmcron_sdk::export_jobs!(HttpCheck, Webhook);
