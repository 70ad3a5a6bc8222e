//! The commands that talk to a running server, `wasmcron plugin|job|exec …`: thin
//! clients of the REST API (docs/cli.md).
//!
//! Each command is one or two API calls. What they share lives here: the base URL and
//! the HTTP calls ([`Api`]), and how an answer becomes an exit code. A refusal by the
//! server (any error status) prints the server's `{"error"}` sentence and exits 1; a
//! server that cannot be reached, or a mistake on the command line, is an error that
//! `main` prints and exits 2 for. The tables and the words for schedules and times are
//! in [`table`] and [`words`].

mod executions;
mod follow;
mod job_body;
mod jobs;
mod plugins;
mod table;
mod tokens;
mod upload;
mod words;

pub use executions::{ExecArgs, run as exec};
pub use jobs::{JobArgs, run as job};
pub use plugins::{PluginCommand, run as plugin};
pub use tokens::{TokenCommand, run as token};

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// `--server`, shared by the `job` and `exec` commands (and spelled alike by `plugin`).
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArg {
    /// The server's base URL.
    #[arg(
        long = "server",
        env = "WASMCRON_SERVER",
        default_value = "http://127.0.0.1:8888",
        global = true,
        display_order = 101
    )]
    pub url: String,
    /// The API token to send (`Authorization: Bearer`), when the server asks for one.
    #[arg(
        long = "token",
        env = "WASMCRON_TOKEN",
        global = true,
        hide_env_values = true,
        display_order = 102
    )]
    pub token: Option<String>,
}

/// The server said no: an error status, with the sentence of its `{"error"}` body.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe_refusal(*.status, .message))]
pub(crate) struct Refused {
    pub status: StatusCode,
    pub message: String,
}

fn describe_refusal(status: StatusCode, message: &str) -> String {
    if status.is_server_error() {
        format!("the server failed ({status}): {message}")
    } else {
        message.to_owned()
    }
}

/// A client of one server's `/api/v1`.
pub(crate) struct Api {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl Api {
    /// A client of `server`, sending `token` as a bearer token when given.
    pub fn new(server: &str, token: Option<&str>) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            // A server that is down should say so at once; a long run or upload is
            // not bounded here (the server bounds its requests itself).
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Api {
            base: server.trim_end_matches('/').to_owned(),
            http,
            token: token.filter(|t| !t.is_empty()).map(str::to_owned),
        })
    }

    /// The request for `path` (which starts with `/`), not sent yet.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends a request and returns its response whatever its status.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<reqwest::Response> {
        request.send().await.with_context(|| {
            format!(
                "cannot reach the wasmcron server at {} (set it with --server or WASMCRON_SERVER)",
                self.base
            )
        })
    }

    /// Sends a request and returns its JSON answer; an error status is [`Refused`].
    pub async fn call(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = self.send(request).await?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("the server's answer ({status}) broke off"))?;
        let json = serde_json::from_str::<Value>(&text);
        if status.is_success() {
            return json.with_context(|| format!("the server's answer is not JSON: {text}"));
        }
        let message = match json {
            Ok(Value::Object(body)) => match body.get("error") {
                Some(Value::String(error)) => error.clone(),
                _ => Value::Object(body).to_string(),
            },
            _ if text.is_empty() => status.to_string(),
            _ => text,
        };
        Err(Refused { status, message }.into())
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str) -> anyhow::Result<Value> {
        self.call(self.request(Method::POST, path)).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.call(self.request(Method::DELETE, path)).await
    }

    /// Sends `body` as JSON.
    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<Value> {
        let request = self
            .request(method, path)
            .header("content-type", "application/json")
            .body(body.to_string());
        self.call(request).await
    }
}

/// A path segment percent-encoded, so that an id or name typed with `/`, `?` or `#`
/// in it reaches the server as one segment (and is refused there as unknown).
pub(crate) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The exit code of a command's result: a refusal is printed and becomes
/// `refused_code`; other errors go on to `main` (exit 2).
pub(crate) fn exit_code(result: anyhow::Result<i32>, refused_code: i32) -> anyhow::Result<i32> {
    match result {
        Err(e) => match e.downcast_ref::<Refused>() {
            Some(refused) => {
                eprintln!("wasmcron: {refused}");
                Ok(refused_code)
            }
            None => Err(e),
        },
        ok => ok,
    }
}

/// Prints a JSON value as the API gave it, indented.
pub(crate) fn print_json(value: &Value) {
    crate::cli::outln!("{value:#}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_keep_ids_and_escape_the_rest() {
        assert_eq!(segment("5d1a4c2b"), "5d1a4c2b");
        assert_eq!(segment("team.jobs-1_x"), "team.jobs-1_x");
        assert_eq!(segment("a/b?c d"), "a%2Fb%3Fc%20d");
        assert_eq!(segment("é"), "%C3%A9");
    }

    #[test]
    fn a_server_fault_says_it_is_one() {
        let refused = Refused {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "server side error".into(),
        };
        assert_eq!(
            refused.to_string(),
            "the server failed (500 Internal Server Error): server side error"
        );
        let refused = Refused {
            status: StatusCode::BAD_REQUEST,
            message: "Job not found: x".into(),
        };
        assert_eq!(refused.to_string(), "Job not found: x");
    }
}
