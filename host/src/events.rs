//! The live event bus: what the API's event streams show as it happens. The scheduler
//! publishes each change of an execution's state (after its write committed); a run
//! publishes its log lines and progress reports through the [`RunListener`] the
//! scheduler gives it. Subscribers are the API's Server-Sent Events streams.
//!
//! Two kinds of subscription:
//! - [`EventBus::states`]: every execution's state changes (`GET /api/v1/events`);
//! - [`EventBus::follow`]: one execution's state changes, log lines and progress, in the
//!   order they happened, on a channel of its own: a followed quiet run is never crowded
//!   out by a chatty one, and only followed runs copy their output at all.
//!
//! Publishing never waits and never fails: every channel is a bounded
//! [`tokio::sync::broadcast`] ring, a subscriber that falls a whole ring behind is
//! dropped (its [`Subscription::next`] ends), and with nobody subscribed a publish is an
//! atomic load or a lock and a count. Events are small and typed; the API renders them.

use crate::job::ExecutionState;
use crate::runtime::{LiveSink, LogLine, Progress, RunListener};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// How many state changes of all executions a subscriber may fall behind.
pub const STATE_BUFFER: usize = 4096;
/// How many events of one followed execution a follower may fall behind (the default
/// run keeps 1000 log lines: a follower that reads nothing during a run still gets them).
pub const FOLLOW_BUFFER: usize = 1024;

/// An execution's state changed (its row shows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// The execution.
    pub execution_id: Arc<str>,
    /// Its job, when the publisher knows it without a read.
    pub job_id: Option<Arc<str>>,
    /// The state it changed to.
    pub state: ExecutionState,
}

/// What happens to one followed execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionEvent {
    /// Its state changed to this one.
    State(ExecutionState),
    /// Its run logged this line.
    Log(LogLine),
    /// Its run reported this progress.
    Progress(Progress),
    /// Its row was removed before it ran (a prepared fire whose job changed): nothing
    /// more will happen to it.
    Removed,
}

/// The bus. Cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

struct Inner {
    states: broadcast::Sender<StateChange>,
    /// A channel per followed execution, while it has followers.
    followed: Mutex<HashMap<Arc<str>, broadcast::Sender<ExecutionEvent>>>,
    /// How many follows are open: the lock-free "does anyone follow anything".
    follows: AtomicUsize,
    /// Cancelled when the server shuts down: every subscription ends.
    closing: CancellationToken,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(STATE_BUFFER)
    }
}

impl EventBus {
    /// A bus whose state subscribers may fall `state_buffer` changes behind.
    pub fn new(state_buffer: usize) -> Self {
        EventBus {
            inner: Arc::new(Inner {
                states: broadcast::channel(state_buffer).0,
                followed: Mutex::default(),
                follows: AtomicUsize::new(0),
                closing: CancellationToken::new(),
            }),
        }
    }

    fn followed(&self) -> MutexGuard<'_, HashMap<Arc<str>, broadcast::Sender<ExecutionEvent>>> {
        // Each critical section is a map operation or a send, which cannot panic
        // half-way: a poisoned lock still guards consistent data.
        self.inner
            .followed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `event` to the followers of `execution_id`, if it has any.
    fn to_followers(&self, execution_id: &str, event: impl FnOnce() -> ExecutionEvent) {
        if self.inner.follows.load(Ordering::Acquire) == 0 {
            return;
        }
        if let Some(channel) = self.followed().get(execution_id) {
            // An error only means its last follower just left.
            let _ = channel.send(event());
        }
    }

    /// Publishes that `execution_id` (of `job_id`, if known) is now in `state`. Call it
    /// once the change is committed: a subscriber reads the execution then.
    pub fn publish_state(&self, execution_id: &str, job_id: Option<&str>, state: ExecutionState) {
        if self.inner.states.receiver_count() > 0 {
            let _ = self.inner.states.send(StateChange {
                execution_id: execution_id.into(),
                job_id: job_id.map(Into::into),
                state,
            });
        }
        self.to_followers(execution_id, || ExecutionEvent::State(state));
    }

    /// Publishes that an execution's row was removed before it ran.
    pub fn publish_removed(&self, execution_id: &str) {
        self.to_followers(execution_id, || ExecutionEvent::Removed);
    }

    /// The listener of one run's log lines and progress, for its [`crate::RunContext`].
    pub fn run_listener(&self, execution_id: &str) -> LiveSink {
        LiveSink(Arc::new(RunOutput {
            bus: self.clone(),
            execution_id: execution_id.into(),
        }))
    }

    /// Every execution's state changes from now on.
    pub fn states(&self) -> Subscription<StateChange> {
        Subscription {
            receiver: self.inner.states.subscribe(),
            closing: self.inner.closing.clone(),
            ended: false,
            _follow: None,
        }
    }

    /// One execution's events from now on.
    pub fn follow(&self, execution_id: &str) -> Subscription<ExecutionEvent> {
        let receiver = {
            let mut followed = self.followed();
            let channel = followed
                .entry(execution_id.into())
                .or_insert_with(|| broadcast::channel(FOLLOW_BUFFER).0);
            self.inner.follows.fetch_add(1, Ordering::AcqRel);
            channel.subscribe()
        };
        Subscription {
            receiver,
            closing: self.inner.closing.clone(),
            ended: false,
            _follow: Some(FollowGuard {
                bus: self.clone(),
                execution_id: execution_id.into(),
            }),
        }
    }

    /// Ends every subscription (the server is shutting down: its HTTP connections
    /// must be allowed to close).
    pub fn close(&self) {
        self.inner.closing.cancel();
    }
}

/// A subscriber's end of the bus.
pub struct Subscription<T> {
    receiver: broadcast::Receiver<T>,
    closing: CancellationToken,
    ended: bool,
    // Dropped after `receiver` (fields drop in order): the follow's channel goes when
    // its last receiver has.
    _follow: Option<FollowGuard>,
}

impl<T: Clone> Subscription<T> {
    /// The next event; `None` once the subscription ended: the subscriber fell a whole
    /// buffer behind (it is dropped rather than waited for), or the bus closed.
    pub async fn next(&mut self) -> Option<T> {
        if self.ended {
            return None;
        }
        let next = tokio::select! {
            biased;
            () = self.closing.cancelled() => None,
            received = self.receiver.recv() => received.ok(),
        };
        self.ended = next.is_none();
        next
    }

    /// The next event if one is waiting, without waiting; `None` when none is (or the
    /// subscription ended: then [`Subscription::next`] says so).
    pub fn try_next(&mut self) -> Option<T> {
        if self.ended || self.closing.is_cancelled() {
            return None;
        }
        match self.receiver.try_recv() {
            Ok(event) => Some(event),
            Err(broadcast::error::TryRecvError::Empty) => None,
            Err(_) => {
                self.ended = true;
                None
            }
        }
    }
}

/// Removes a followed execution's channel when its last follower leaves.
struct FollowGuard {
    bus: EventBus,
    execution_id: Arc<str>,
}

impl Drop for FollowGuard {
    fn drop(&mut self) {
        let mut followed = self.bus.followed();
        self.bus.inner.follows.fetch_sub(1, Ordering::AcqRel);
        if followed
            .get(&self.execution_id)
            .is_some_and(|channel| channel.receiver_count() == 0)
        {
            followed.remove(&self.execution_id);
        }
    }
}

/// One run's log lines and progress, to its execution's followers.
struct RunOutput {
    bus: EventBus,
    execution_id: Arc<str>,
}

impl RunListener for RunOutput {
    fn listening(&self) -> bool {
        self.bus.inner.follows.load(Ordering::Acquire) > 0
            && self.bus.followed().contains_key(&self.execution_id)
    }

    fn log(&self, line: LogLine) {
        self.bus
            .to_followers(&self.execution_id, || ExecutionEvent::Log(line));
    }

    fn progress(&self, progress: Progress) {
        self.bus
            .to_followers(&self.execution_id, || ExecutionEvent::Progress(progress));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: usize) -> LogLine {
        LogLine {
            level: "info",
            message: format!("line {n}"),
        }
    }

    #[tokio::test]
    async fn a_follower_gets_its_executions_events_in_order_and_no_others() {
        let bus = EventBus::default();
        let mut follow = bus.follow("a");
        let output = bus.run_listener("a").0;
        assert!(output.listening());
        assert!(!bus.run_listener("b").0.listening());
        bus.publish_state("b", Some("job"), ExecutionState::Running);
        bus.publish_state("a", Some("job"), ExecutionState::Running);
        output.log(line(1));
        output.progress(Progress {
            percent: 40,
            message: "p".into(),
        });
        bus.publish_state("a", None, ExecutionState::Succeeded);
        assert_eq!(
            follow.next().await,
            Some(ExecutionEvent::State(ExecutionState::Running))
        );
        assert_eq!(follow.next().await, Some(ExecutionEvent::Log(line(1))));
        assert!(matches!(
            follow.next().await,
            Some(ExecutionEvent::Progress(Progress { percent: 40, .. }))
        ));
        assert_eq!(
            follow.next().await,
            Some(ExecutionEvent::State(ExecutionState::Succeeded))
        );
        drop(follow);
        assert!(!output.listening(), "the last follower left");
        assert!(bus.followed().is_empty());
    }

    /// Publishing is a plain function call that returns whatever the subscribers do: a
    /// subscriber that reads nothing while more than its buffer is published is
    /// dropped (its stream ends), the others go on.
    #[tokio::test]
    async fn a_lagging_subscriber_is_dropped_and_publishing_never_blocks() {
        let bus = EventBus::new(8);
        let mut lagging = bus.states();
        let mut lagging_follow = bus.follow("a");
        let output = bus.run_listener("a").0;
        for n in 0..FOLLOW_BUFFER * 3 {
            bus.publish_state("a", Some("job"), ExecutionState::Running);
            output.log(line(n));
        }
        assert_eq!(
            lagging.try_next(),
            None,
            "the lagging subscriber is dropped"
        );
        assert_eq!(lagging.next().await, None, "for good");
        assert_eq!(lagging.try_next(), None);
        assert_eq!(lagging_follow.next().await, None);
        // A subscriber that keeps up gets every event.
        let mut reader = bus.states();
        for _ in 0..100 {
            bus.publish_state("b", None, ExecutionState::Scheduled);
            assert_eq!(
                reader.next().await.map(|c| c.state),
                Some(ExecutionState::Scheduled)
            );
        }
    }

    #[tokio::test]
    async fn closing_the_bus_ends_every_subscription() {
        let bus = EventBus::default();
        let mut states = bus.states();
        let mut follow = bus.follow("a");
        bus.close();
        assert_eq!(states.next().await, None);
        assert_eq!(follow.next().await, None);
    }

    #[test]
    fn with_nobody_subscribed_nothing_is_sent() {
        let bus = EventBus::default();
        bus.publish_state("a", None, ExecutionState::Running);
        assert!(!bus.run_listener("a").0.listening());
        let states = bus.states();
        drop(bus.follow("a"));
        bus.publish_state("a", None, ExecutionState::Failed);
        assert_eq!(states.receiver.len(), 1, "the state subscriber got it");
        assert!(
            bus.followed().is_empty(),
            "no channel was kept for a follower that left"
        );
    }
}
