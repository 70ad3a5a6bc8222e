//! Group commit for the hot writes: every fire and run writes a few small rows
//! (claim, execution insert, running, final state, audit). One writer task takes the
//! writes queued at the moment and commits them in one transaction, so that the cost
//! of a commit is shared by everything that arrived meanwhile; under low load a batch
//! is a single write and nothing waits.
//!
//! A caller's future completes only after its write is committed, so the semantics
//! are those of a plain `execute`: what returned is durable and visible.
//!
//! The statements of a batch are in `portable.rs`, compiled once per backend (see the
//! "Backends" notes in `mod.rs`); the multi-row updates (claims, final states), which
//! the backends spell differently, live in each backend's module. Within a batch, a
//! statement that fails fails only its own writes; the rest commit.

use super::health::{Health, is_unavailable};
use super::{AuditRow, ExecutionRow, FinishedRun, Pool};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most writes one transaction carries.
pub(super) const MAX_BATCH: usize = 512;

/// One hot write.
#[derive(Debug)]
pub(super) enum Write {
    /// A claim, and the executions it writes: inserted in the same transaction if the
    /// claim wins, so that no claimed occurrence is ever left without its rows.
    ClaimFire {
        job_id: String,
        due: i64,
        next: Option<i64>,
        executions: Vec<ExecutionRow>,
    },
    /// A new execution, with the audit entry that records who started it (a run-now):
    /// both are written, or neither.
    InsertExecution {
        execution: Box<ExecutionRow>,
        audit: Option<Box<AuditRow>>,
    },
    MarkRunning {
        execution_id: String,
        pid: i64,
        plugin_sha256: Option<String>,
        now: i64,
    },
    SetUnfinishedState {
        execution_id: String,
        state: String,
        now: i64,
    },
    FinishExecution {
        execution_id: String,
        run: Box<FinishedRun>,
    },
    InsertAudit(Box<AuditRow>),
}

pub(super) type Reply = oneshot::Sender<Result<u64, sqlx::Error>>;

/// The handle writers submit through. Cheap to clone.
#[derive(Clone, Debug)]
pub(super) struct Batcher {
    queue: mpsc::Sender<(Write, Reply)>,
    health: Arc<Health>,
}

impl Batcher {
    /// Starts the writer task on `writer` (a one-connection pool); a commit that fails
    /// for want of the database marks it unavailable in `health`.
    pub(super) fn start(writer: Pool, health: Arc<Health>) -> Self {
        // Bounded: when the database falls behind, writers wait here instead of
        // piling up memory.
        let (queue, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(writer, rx, health.clone()));
        Batcher { queue, health }
    }

    /// Submits a write and waits until it is committed. Returns the rows it affected.
    /// While the database is unavailable, fails at once (as a connection error).
    pub(super) async fn submit(&self, write: Write) -> Result<u64, sqlx::Error> {
        if !self.health.available() {
            return Err(unreachable_error(self.health.reason()));
        }
        let (reply, done) = oneshot::channel();
        self.queue
            .send((write, reply))
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        done.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

/// A connection error saying why the database cannot be reached: what a write gets
/// when it was not tried, or when its whole batch failed for want of the database (so
/// that its caller can tell that apart from a refused statement).
fn unreachable_error(message: String) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        message,
    ))
}

/// One statement's failure, for each of the callers it answered (an `sqlx::Error` is not
/// `Clone`): the same message prefixed with `context`, still telling "the database is
/// unreachable" apart from a refused statement ([`is_unavailable`]).
pub(super) fn shared_failure(e: &sqlx::Error, context: &str) -> impl Fn() -> sqlx::Error {
    let unreachable = is_unavailable(e);
    let message = format!("{context}: {e}");
    move || {
        if unreachable {
            unreachable_error(message.clone())
        } else {
            sqlx::Error::Protocol(message.clone())
        }
    }
}

async fn run(writer: Pool, mut rx: mpsc::Receiver<(Write, Reply)>, health: Arc<Health>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let started = std::time::Instant::now();
        let outcome = on_pool!(&writer, pool => dialect::commit(pool, &mut batch).await);
        crate::metrics::get().batch_committed(batch.len(), started.elapsed());
        match outcome {
            Ok(results) => {
                for ((_, reply), result) in batch.drain(..).zip(results) {
                    if let Err(e) = &result {
                        health.observe(e);
                    }
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                // The transaction failed as a whole: every write in it failed.
                health.observe(&e);
                let failure = shared_failure(&e, "batch commit failed");
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(failure()));
                }
            }
        }
    }
}
