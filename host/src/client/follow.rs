//! `job run --follow` and `exec show --follow`: one execution, live, to its end.
//!
//! The run is followed over the server's Server-Sent Events
//! (`GET /api/v1/executions/<id>/events`: `state` events carrying the execution JSON,
//! the last one final; `log` and `progress` events between). If the stream cannot be
//! had or breaks before a final state, the execution is polled instead until it is
//! final, so a follow always ends with the run's outcome. Log lines the stream did not
//! deliver (sent before it connected, or lost with it) are printed from the final
//! execution, which stores them all.

use super::executions::{get, log_line};
use super::jobs::text;
use super::{Api, print_json, segment};
use crate::cli::outln;
use crate::job::ExecutionState;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::Value;
use std::io::IsTerminal;
use std::time::Duration;

/// The exit code when the outcome is unknown: the server refused or could not be
/// reached (1 is a run that ended other than `succeeded`).
pub(super) const NO_OUTCOME: i32 = 2;

/// Silence on the stream (no event, no keep-alive) for this long means it is dead:
/// poll instead. The server sends keep-alives far more often.
const STREAM_IDLE_LIMIT: Duration = Duration::from_secs(60);

/// The first and the longest wait between two polls.
const POLL_FIRST: Duration = Duration::from_millis(100);
const POLL_MAX: Duration = Duration::from_secs(1);

/// Follows an execution until it is final; prints as it goes, then its outcome.
/// Returns the exit code: 0 succeeded, 1 any other final state.
pub(super) async fn follow(api: &Api, execution_id: &str, json: bool) -> anyhow::Result<i32> {
    let mut view = View::new(execution_id, json);
    let streamed = stream(api, execution_id, &mut view).await;
    let execution = match streamed {
        Some(execution) => execution,
        None => poll(api, execution_id, &mut view).await?,
    };
    Ok(view.finish(&execution))
}

/// Reads the event stream until a final state; `None` when there is no stream or it
/// ended without one (the polling that follows reports why, if the server refuses).
async fn stream(api: &Api, execution_id: &str, view: &mut View) -> Option<Value> {
    let request = api
        .request(
            Method::GET,
            &format!("/api/v1/executions/{}/events", segment(execution_id)),
        )
        .header("accept", "text/event-stream");
    let response = api.send(request).await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let events = sse_stream::SseStream::new(http::Response::from(response).into_body());
    let mut events = std::pin::pin!(events);
    loop {
        let event = tokio::time::timeout(STREAM_IDLE_LIMIT, events.next())
            .await
            .ok()??
            .ok()?;
        let Some(data) = event.data else {
            continue;
        };
        // A data line that is not JSON means the stream cannot be trusted: poll.
        let data: Value = serde_json::from_str(&data).ok()?;
        match event.event.as_deref() {
            // The state is shown either way; the final one ends the stream.
            Some("state") if view.state(&data) => return Some(data),
            Some("log") => view.log(&data),
            Some("progress") => view.progress(&data),
            _ => {}
        }
    }
}

/// Reads the execution until it is final.
async fn poll(api: &Api, execution_id: &str, view: &mut View) -> anyhow::Result<Value> {
    let mut wait = POLL_FIRST;
    loop {
        let execution = get(api, execution_id).await?;
        if view.state(&execution) {
            return Ok(execution);
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(POLL_MAX);
    }
}

/// What the user sees while following: a progress bar (on a terminal) with the state
/// and the job's progress, the log lines above it, and the outcome at the end.
struct View {
    execution_id: String,
    json: bool,
    bar: ProgressBar,
    /// The log lines printed so far, so that the final execution's lines after them
    /// are printed too.
    logs_printed: usize,
    state: String,
    /// Whether the job reported progress, so that the spinner became a bar.
    showed_progress: bool,
}

impl View {
    fn new(execution_id: &str, json: bool) -> View {
        let bar = if !json && std::io::stdout().is_terminal() {
            // A spinner until the job reports progress, which turns it into a bar.
            let bar = ProgressBar::new(100);
            if let Ok(style) = ProgressStyle::with_template("{spinner} {wide_msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        } else {
            ProgressBar::hidden()
        };
        View {
            execution_id: execution_id.to_owned(),
            json,
            bar,
            logs_printed: 0,
            state: String::new(),
            showed_progress: false,
        }
    }

    /// Shows the execution's state; returns whether it is final.
    fn state(&mut self, execution: &Value) -> bool {
        let state = execution["state"].as_str().unwrap_or("");
        if self.state.is_empty() && !self.json {
            // Named once the server has shown it exists.
            let id = &self.execution_id;
            self.bar.suspend(|| eprintln!("execution {id}"));
        }
        if state != self.state {
            self.state = state.to_owned();
            self.bar.set_message(self.state.clone());
        }
        ExecutionState::parse(state).is_some_and(ExecutionState::is_final)
    }

    /// A run that logs or reports progress runs, whatever the last state event said
    /// (a short run is never shown `running`).
    fn running(&mut self) {
        if self.state == ExecutionState::Scheduled.as_str() {
            self.state = ExecutionState::Running.as_str().to_owned();
            self.bar.set_message(self.state.clone());
        }
    }

    fn log(&mut self, line: &Value) {
        self.running();
        self.logs_printed += 1;
        if !self.json {
            self.bar.suspend(|| outln!("{}", log_line(line)));
        }
    }

    fn progress(&mut self, progress: &Value) {
        self.running();
        if !self.showed_progress {
            self.showed_progress = true;
            let style = ProgressStyle::with_template("{spinner} [{bar:30}] {pos:>3}% {wide_msg}");
            if let Ok(style) = style {
                self.bar.set_style(style.progress_chars("=> "));
            }
        }
        if let Some(percent) = progress["percent"].as_u64() {
            self.bar.set_position(percent.min(100));
        }
        let message = progress["message"].as_str().unwrap_or("");
        self.bar.set_message(format!("{}: {message}", self.state));
    }

    /// Prints the outcome; returns the exit code.
    fn finish(self, execution: &Value) -> i32 {
        self.bar.finish_and_clear();
        let state = execution["state"].as_str().unwrap_or("");
        let succeeded = state == ExecutionState::Succeeded.as_str();
        if self.json {
            print_json(execution);
        } else {
            let missed = execution["logs"].as_array().into_iter().flatten();
            for line in missed.skip(self.logs_printed) {
                outln!("{}", log_line(line));
            }
            let result = execution["result"].as_str().unwrap_or("");
            let took = execution["duration_ms"]
                .as_f64()
                .map(|ms| format!(" in {}", super::words::duration_ms(ms)))
                .unwrap_or_default();
            if succeeded {
                eprintln!("execution {} succeeded{took}", self.execution_id);
                outln!("{result}");
            } else {
                // A code says why; where it ran (ndscheduler's default) does not.
                let why = match execution["description"]
                    .as_str()
                    .filter(|d| !d.starts_with("hostname: "))
                {
                    Some(code) => format!(" ({code})"),
                    None => String::new(),
                };
                eprintln!(
                    "wasmcron: execution {} ended {}{why}{took}: {}",
                    self.execution_id,
                    text(&execution["state"]),
                    result
                );
            }
        }
        if succeeded { 0 } else { 1 }
    }
}
