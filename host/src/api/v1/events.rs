//! The live event streams (Server-Sent Events, `docs/api.md#live-events`):
//! `GET /executions/{id}/events` follows one execution to its final state, and
//! `GET /events` shows every execution's state changes. A `state` event is the
//! execution as `GET /executions/{id}` renders it, read when the event is sent: the
//! bus carries only which execution changed, and the store is the truth.
//!
//! These routes stay outside the API's request time limit (a stream lasts as long as
//! its run, or for ever), and each stream ends on its own when its subscription does:
//! its subscriber fell behind, or the server shuts down.

use super::super::extract::{Path, Query};
use super::super::{ApiError, AppState};
use super::query::Params;
use super::render;
use crate::events::{ExecutionEvent, StateChange, Subscription};
use crate::job::ExecutionState;
use crate::service::{Service, ServiceError};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::Stream;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// How often a stream with nothing to say sends a comment, so that proxies keep it.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The event stream routes (no time limit: mount them outside it).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/executions/{id}/events", get(execution_events))
        .route("/events", get(all_events))
}

/// An SSE answer, never cached by the way.
fn sse(stream: impl Stream<Item = Result<Event, Infallible>> + Send + 'static) -> Response {
    (
        [(header::CACHE_CONTROL, "no-cache")],
        Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")),
    )
        .into_response()
}

/// A `state` event: the execution as its GET renders it.
fn state_event(execution: &serde_json::Value) -> Event {
    Event::default().event("state").data(execution.to_string())
}

fn is_final(state: &str) -> bool {
    ExecutionState::parse(state).is_none_or(ExecutionState::is_final)
}

/// `GET /executions/{id}/events`: the execution now, then its changes, log lines and
/// progress, up to and including its final state.
async fn execution_events(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    // Subscribed before the first read: a change between the two is seen twice at
    // worst (and shown once), never missed.
    let events = service.events().follow(&id);
    let (execution, job) = match service.get_execution(&id).await {
        Ok(found) => found,
        Err(ServiceError::NotFound(message)) => {
            return Err(ApiError::new(StatusCode::NOT_FOUND, message));
        }
        Err(e) => return Err(e.into()),
    };
    let following = Following {
        done: is_final(&execution.state),
        first: Some(state_event(&render::execution(&execution, job.as_ref()))),
        shown_state: execution.state,
        service,
        id,
        events,
    };
    Ok(sse(futures::stream::unfold(
        following,
        |mut f| async move { f.next().await.map(|event| (Ok::<_, Infallible>(event), f)) },
    )))
}

/// One execution's stream.
struct Following {
    service: Arc<Service>,
    id: String,
    events: Subscription<ExecutionEvent>,
    /// The event sent at the connection, until it is.
    first: Option<Event>,
    /// The state the last `state` event showed.
    shown_state: String,
    /// The final state was sent: the stream ends.
    done: bool,
}

impl Following {
    async fn next(&mut self) -> Option<Event> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        while !self.done {
            match self.events.next().await? {
                ExecutionEvent::Log(line) => {
                    return Some(Event::default().event("log").data(
                        json!({ "level": line.level, "message": line.message }).to_string(),
                    ));
                }
                ExecutionEvent::Progress(p) => {
                    return Some(
                        Event::default().event("progress").data(
                            json!({ "percent": p.percent, "message": p.message }).to_string(),
                        ),
                    );
                }
                ExecutionEvent::Removed => return None,
                // The row shows the newest state: an event whose state was already
                // shown (or passed) shows nothing new.
                ExecutionEvent::State(_) => {
                    let (execution, job) = match self.service.get_execution(&self.id).await {
                        Ok(found) => found,
                        Err(ServiceError::NotFound(_)) => return None,
                        Err(e) => {
                            tracing::warn!(execution_id = %self.id, "an event stream could not read its execution: {e}");
                            return None;
                        }
                    };
                    if execution.state == self.shown_state {
                        continue;
                    }
                    self.done = is_final(&execution.state);
                    let event = state_event(&render::execution(&execution, job.as_ref()));
                    self.shown_state = execution.state;
                    return Some(event);
                }
            }
        }
        None
    }
}

/// `GET /events[?job_id=]`: every execution's state changes (of one job with
/// `job_id`), from now on; it does not end by itself.
async fn all_events(State(service): State<Arc<Service>>, Query(params): Query<Params>) -> Response {
    let watching = Watching {
        job_id: params.get("job_id").cloned(),
        changes: service.events().states(),
        service,
    };
    sse(futures::stream::unfold(watching, |mut w| async move {
        w.next().await.map(|event| (Ok::<_, Infallible>(event), w))
    }))
}

/// The stream of every execution's state changes.
struct Watching {
    service: Arc<Service>,
    job_id: Option<String>,
    changes: Subscription<StateChange>,
}

impl Watching {
    async fn next(&mut self) -> Option<Event> {
        loop {
            let change = self.changes.next().await?;
            if let (Some(wanted), Some(job_id)) = (&self.job_id, &change.job_id)
                && job_id.as_ref() != wanted.as_str()
            {
                continue;
            }
            let (execution, job) = match self.service.get_execution(&change.execution_id).await {
                Ok(found) => found,
                // Removed since (retention, an abandoned fire): nothing to show.
                Err(ServiceError::NotFound(_)) => continue,
                Err(e) => {
                    tracing::warn!(execution_id = %change.execution_id, "the event stream could not read an execution: {e}");
                    return None;
                }
            };
            // Moved on since: its later event shows it.
            if execution.state != change.state.as_str() {
                continue;
            }
            if self.job_id.as_ref().is_some_and(|j| *j != execution.job_id) {
                continue;
            }
            return Some(state_event(&render::execution(&execution, job.as_ref())));
        }
    }
}
