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
use crate::job::JobSnapshot;
use crate::service::{Execution, Service, ServiceError};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{Stream, StreamExt};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
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
                // shown shows nothing new; one that the row passed for its final state
                // waits for the final state's own event, which comes after every log
                // line and progress report of the run.
                ExecutionEvent::State(changed_to) => {
                    let (execution, job) = match self.service.get_execution(&self.id).await {
                        Ok(found) => found,
                        Err(ServiceError::NotFound(_)) => return None,
                        Err(e) => {
                            tracing::warn!(execution_id = %self.id, "an event stream could not read its execution: {e}");
                            return None;
                        }
                    };
                    let ended = is_final(&execution.state);
                    if execution.state == self.shown_state || (ended && !changed_to.is_final()) {
                        continue;
                    }
                    self.done = ended;
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
        ready: VecDeque::new(),
        service,
    };
    // Firefox opens an EventSource (its `open` event) only when the first bytes of the
    // body arrive, not with the headers: a stream with nothing to say yet would look
    // unconnected to it until the first keep-alive. So it starts with a comment.
    let connected = futures::stream::once(async { Ok(Event::default().comment(CONNECTED)) });
    sse(
        connected.chain(futures::stream::unfold(watching, |mut w| async move {
            w.next().await.map(|event| (Ok::<_, Infallible>(event), w))
        })),
    )
}

/// The comment `GET /events` starts with.
const CONNECTED: &str = "connected";

/// The most changes [`Watching`] reads the executions of at once.
const MAX_BATCH: usize = 256;
/// How long [`Watching`] gathers the changes that follow a change before it reads them.
const GATHER: Duration = Duration::from_millis(20);

/// The stream of every execution's state changes. After a change it gathers those that
/// follow for [`GATHER`], then reads their executions in one statement, each execution
/// once at its newest state: a run that ends within it shows only its final state, and a
/// busy host's stream costs a read per batch and a render per run rather than one of
/// each per change.
struct Watching {
    service: Arc<Service>,
    job_id: Option<String>,
    changes: Subscription<StateChange>,
    /// Executions read and not sent yet (each is rendered as it is sent).
    ready: VecDeque<(Execution, Option<JobSnapshot>)>,
}

impl Watching {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some((execution, job)) = self.ready.pop_front() {
                // A batch is sent an event at a time, and the task yields when its turn
                // is over: a long batch never holds a worker the runs need.
                tokio::task::consume_budget().await;
                return Some(state_event(&render::execution(&execution, job.as_ref())));
            }
            let first = self.changes.next().await?;
            tokio::time::sleep(GATHER).await;
            // Each execution once, at its newest state, in the order they first changed.
            let mut batch: Vec<StateChange> = Vec::new();
            let mut position: HashMap<Arc<str>, usize> = HashMap::new();
            let mut change = Some(first);
            while let Some(c) = change {
                let wanted = match (&self.job_id, &c.job_id) {
                    (Some(wanted), Some(job_id)) => job_id.as_ref() == wanted.as_str(),
                    _ => true,
                };
                if wanted {
                    match position.get(&c.execution_id) {
                        Some(&at) => batch[at].state = c.state,
                        None => {
                            position.insert(c.execution_id.clone(), batch.len());
                            batch.push(c);
                        }
                    }
                }
                change = if batch.len() < MAX_BATCH {
                    self.changes.try_next()
                } else {
                    None
                };
            }
            if batch.is_empty() {
                continue;
            }
            let ids: Vec<&str> = batch.iter().map(|c| c.execution_id.as_ref()).collect();
            let found = match self.service.executions_by_id(&ids).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!("the event stream could not read the executions: {e}");
                    return None;
                }
            };
            let mut found: HashMap<String, _> = found
                .into_iter()
                .map(|(e, job)| (e.execution_id.clone(), (e, job)))
                .collect();
            for change in &batch {
                // Gone since (retention, an abandoned fire): nothing to show.
                let Some((execution, job)) = found.remove(change.execution_id.as_ref()) else {
                    continue;
                };
                // Moved on since: its later change shows it.
                if execution.state != change.state.as_str() {
                    continue;
                }
                if self.job_id.as_ref().is_some_and(|j| *j != execution.job_id) {
                    continue;
                }
                self.ready.push_back((execution, job));
            }
        }
    }
}
