//! Whether the database answers, as the store last saw it.
//!
//! A statement that fails because the database cannot be reached (the server is down,
//! the network cut, the pool could not open a connection in time) marks the database
//! *unavailable*. From then on the writes fail at once with
//! [`StoreError::Unavailable`](super::StoreError::Unavailable) instead of each waiting
//! for the pool's acquire timeout, the scheduler stops claiming fires (it waits on
//! [`Health::wait_available`]), and a probe tries the database every
//! [`PROBE_EVERY`] until it answers again: then everything resumes by itself. Reads that
//! do not need the database (the jobs, from their in-memory mirror) are served
//! throughout.

use super::Pool;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// How often a probe tries an unavailable database.
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How long one probe waits for an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether a database error means the database could not be reached, rather than that
/// it refused the statement: the connection-level errors, and PostgreSQL's connection
/// exceptions (class `08`), shutdowns (`57P01`–`57P03`), too many connections (`53300`)
/// and a database that does not exist (`3D000`, e.g. dropped under the host).
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300" | "3D000")
        }),
        _ => false,
    }
}

/// The database's availability. Shared by every clone of the store.
#[derive(Debug)]
pub(super) struct Health {
    pool: Pool,
    up: watch::Sender<bool>,
    /// Why it is unavailable (the last error seen).
    reason: Mutex<String>,
    /// Whether a probe task runs.
    probing: AtomicBool,
}

impl Health {
    pub(super) fn new(pool: Pool) -> Self {
        Health {
            pool,
            up: watch::Sender::new(true),
            reason: Mutex::default(),
            probing: AtomicBool::new(false),
        }
    }

    /// Whether the database answered the last time it was used.
    pub(super) fn available(&self) -> bool {
        *self.up.borrow()
    }

    /// Why the database is unavailable, when it is.
    pub(super) fn reason(&self) -> String {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until the database is available (at once if it is).
    pub(super) async fn wait_available(&self) {
        let mut up = self.up.subscribe();
        // The sender lives as long as `self`: the wait cannot fail.
        let _ = up.wait_for(|up| *up).await;
    }

    /// Takes note of a failed statement: if it failed for want of the database, marks
    /// the database unavailable and starts probing it.
    pub(super) fn observe(self: &std::sync::Arc<Self>, e: &sqlx::Error) {
        if !is_unavailable(e) || matches!(e, sqlx::Error::PoolClosed) {
            return;
        }
        *self.reason.lock().unwrap_or_else(|e| e.into_inner()) = e.to_string();
        if self.up.send_replace(false) {
            tracing::error!(
                "the database is unavailable: {e}; writes are refused and no fire is claimed until it answers again"
            );
        }
        if !self.probing.swap(true, Ordering::SeqCst) {
            let this = self.clone();
            tokio::spawn(async move { this.probe().await });
        }
    }

    /// Tries the database until it answers, then marks it available.
    async fn probe(&self) {
        loop {
            tokio::time::sleep(PROBE_EVERY).await;
            let answer = tokio::time::timeout(PROBE_TIMEOUT, async {
                on_pool!(&self.pool, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))
            })
            .await;
            match answer {
                Ok(Ok(())) => break,
                Ok(Err(sqlx::Error::PoolClosed)) => {
                    // The store is closing: nobody waits any more.
                    self.probing.store(false, Ordering::SeqCst);
                    return;
                }
                Ok(Err(e)) => {
                    *self.reason.lock().unwrap_or_else(|e| e.into_inner()) = e.to_string();
                }
                Err(_) => {}
            }
        }
        self.probing.store(false, Ordering::SeqCst);
        self.up.send_replace(true);
        tracing::info!("the database answers again: writes and fires resume");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_unavailability_and_refusals_are_not() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(is_unavailable(&io));
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::Protocol("bad".into())));
    }
}
