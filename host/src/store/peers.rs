//! The other hosts sharing the database (PostgreSQL): their notifications (`LISTEN`)
//! and the cancel requests sent to them (whether a host is alive is its heartbeat's
//! business: `hosts.rs`). On SQLite there are no other hosts: nothing is sent.
//!
//! Each host's connections carry `application_name = wasmcron <hostname> <pid>`, so
//! that an operator sees in `pg_stat_activity` which host holds which connection.

use super::{CANCEL_CHANNEL, Pool, Store, StoreError, StoreResult};
use std::time::Duration;

/// How long opening the listening connection may take.
const LISTEN_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The `application_name` of a host's connections.
pub(super) fn host_label(hostname: &str, pid: i64) -> String {
    // PostgreSQL keeps 63 bytes of it: a long host name is cut, the pid kept.
    let pid = format!(" {pid}");
    let mut name = format!("wasmcron {hostname}");
    let room = 63 - pid.len();
    if name.len() > room {
        let mut cut = room;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
    }
    name + &pid
}

/// This process's [`host_label`].
pub(super) fn own_label() -> String {
    host_label(
        &gethostname::gethostname().to_string_lossy(),
        i64::from(std::process::id()),
    )
}

/// A notification from a host (this one's own included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The channel: [`super::JOBS_CHANNEL`], [`super::PLUGINS_CHANNEL`] or
    /// [`CANCEL_CHANNEL`].
    pub channel: String,
    /// What changed: a job id, a plugin name, an execution id.
    pub payload: String,
}

/// A connection listening for notifications. Read by a task of its own, so that
/// waiting for the next one can be given up at any point without losing a message
/// half-read.
pub struct Listener {
    received: tokio::sync::mpsc::UnboundedReceiver<StoreResult<Notification>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A lost listening connection.
fn lost() -> StoreError {
    StoreError::Unavailable("the connection listening for other hosts' changes was lost".into())
}

impl Listener {
    fn start(mut listener: sqlx::postgres::PgListener) -> Self {
        let (send, received) = tokio::sync::mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            loop {
                let next = match listener.try_recv().await {
                    Ok(Some(n)) => Ok(Notification {
                        channel: n.channel().to_owned(),
                        payload: n.payload().to_owned(),
                    }),
                    Ok(None) => Err(lost()),
                    Err(e) => Err(e.into()),
                };
                let failed = next.is_err();
                if send.send(next).is_err() || failed {
                    return;
                }
            }
        });
        Listener { received, reader }
    }

    /// The next notification.
    ///
    /// # Errors
    /// When the connection is lost ([`StoreError::is_unavailable`]): notifications sent
    /// meanwhile are lost with it, so the caller listens again and re-reads what it
    /// follows.
    pub async fn recv(&mut self) -> StoreResult<Notification> {
        self.received.recv().await.unwrap_or_else(|| Err(lost()))
    }

    /// The next notification if one has arrived, without waiting.
    pub fn try_next(&mut self) -> Option<StoreResult<Notification>> {
        self.received.try_recv().ok()
    }
}

impl Store {
    /// Opens a connection of its own listening on `channels`; `None` on SQLite (no
    /// other host writes its file).
    ///
    /// # Errors
    /// If the database cannot be reached (it is then marked unavailable).
    pub async fn listen(&self, channels: &[&str]) -> StoreResult<Option<Listener>> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(None);
        };
        let listening = async {
            // A pool of one, so that the listener reconnects on its own terms and never
            // holds one of the connections the writes need.
            let own = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(LISTEN_CONNECT_TIMEOUT)
                .connect_with((*pool.connect_options()).clone())
                .await?;
            let mut listener = sqlx::postgres::PgListener::connect_with(&own).await?;
            // A lost connection is reported, not silently replaced: what was sent
            // meanwhile must be caught up with.
            listener.eager_reconnect(false);
            listener.listen_all(channels.iter().copied()).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listening.await {
            Ok(listener) => Ok(Some(Listener::start(listener))),
            Err(e) => {
                let e = StoreError::from(e);
                self.observe(&e);
                Err(e)
            }
        }
    }

    /// Asks the host that runs `execution_id` to cancel it (a notification on
    /// [`CANCEL_CHANNEL`]); nothing on SQLite.
    pub async fn request_cancel(&self, execution_id: &str) -> StoreResult<()> {
        self.guarded(async {
            on_pool!(&self.writer, writer => {
                let mut tx = writer.begin().await?;
                dialect::notify(&mut tx, CANCEL_CHANNEL, execution_id).await?;
                tx.commit().await?;
                Ok::<_, StoreError>(())
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_label_fits_postgresql_and_keeps_the_pid() {
        assert_eq!(host_label("web-1", 42), "wasmcron web-1 42");
        let long = host_label(&"é".repeat(100), 123_456);
        assert!(long.len() <= 63, "{long}");
        assert!(long.ends_with(" 123456"), "{long}");
    }
}
