//! Following the changes other hosts make to a shared database (PostgreSQL): every
//! host listens on the job, plugin and cancel channels (the writes notify in their own
//! transactions, so a notification arrives once its change is committed) and applies
//! what it hears:
//! - a job: re-read into the store's mirror, and into the timer (fires prepared for a
//!   schedule that changed are abandoned, as a change made on this host abandons them);
//! - a plugin: installed (compiled into this host's artifact cache), replaced or
//!   removed;
//! - a cancel: the run this host has of that execution is cancelled.
//!
//! Notifications are not durable: one sent while this host was not listening is lost.
//! So the whole jobs table and plugin list are re-read right after each (re)connection
//! and every [`RESYNC_EVERY`], which also catches a deletion whose notification was
//! missed. While the database is unreachable the follower retries with a growing pause,
//! and resyncs when it is back.
//!
//! On SQLite nothing runs: no other host shares the file.

use crate::plugins::PluginRegistry;
use crate::scheduler::Scheduler;
use crate::store::{CANCEL_CHANNEL, JOBS_CHANNEL, Listener, Notification, PLUGINS_CHANNEL, Store};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the whole table is re-read, to catch what notifications missed: every
/// [`RESYNC_EVERY`], or less often when re-reading takes long (a million jobs), so that
/// it takes at most one part in [`RESYNC_SHARE`] of the time.
const RESYNC_EVERY: Duration = Duration::from_secs(30);
const RESYNC_SHARE: u32 = 20;
/// The first pause before listening again after the connection was lost, doubled up to
/// [`RECONNECT_MAX`] while the database stays unreachable.
const RECONNECT_FIRST: Duration = Duration::from_millis(250);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// The most notifications applied together.
const MAX_BATCH: usize = 2000;

/// What a host follows: its store, timer and plugins.
#[derive(Clone)]
pub struct Follower {
    store: Store,
    scheduler: Scheduler,
    plugins: PluginRegistry,
}

impl Follower {
    /// A follower of the changes to `store` made through other hosts.
    pub fn new(store: Store, scheduler: Scheduler, plugins: PluginRegistry) -> Self {
        Follower {
            store,
            scheduler,
            plugins,
        }
    }

    /// Starts following in the background, until `stop` is cancelled; nothing on a
    /// database no other host can share.
    pub fn spawn(self, stop: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
        self.store
            .is_shared()
            .then(|| tokio::spawn(async move { self.run(stop).await }))
    }

    async fn run(&self, stop: CancellationToken) {
        let mut pause = RECONNECT_FIRST;
        let mut connected_once = false;
        loop {
            let listening = tokio::select! {
                () = stop.cancelled() => return,
                listening = self.store.listen(&[JOBS_CHANNEL, PLUGINS_CHANNEL, CANCEL_CHANNEL]) => listening,
            };
            let heard = match listening {
                Ok(None) => return,
                Ok(Some(mut listener)) => {
                    if connected_once {
                        tracing::info!("listening for other hosts' changes again: catching up");
                    }
                    connected_once = true;
                    // Whatever was sent before this connection listened is caught up
                    // with now.
                    match self.resync().await {
                        Ok(_) => {
                            pause = RECONNECT_FIRST;
                            self.listen(&mut listener, &stop).await
                        }
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            if stop.is_cancelled() {
                return;
            }
            if let Err(e) = heard {
                tracing::warn!(
                    "not following other hosts' changes for now ({e}): trying again in {pause:?}"
                );
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(RECONNECT_MAX);
        }
    }

    /// Applies notifications, and resyncs periodically, until the connection is lost
    /// (`Err`) or `stop`.
    async fn listen(
        &self,
        listener: &mut Listener,
        stop: &CancellationToken,
    ) -> Result<(), crate::store::StoreError> {
        let mut next_resync = tokio::time::Instant::now() + RESYNC_EVERY;
        loop {
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                received = listener.recv() => {
                    let mut batch = vec![received?];
                    // Those that arrived meanwhile go together: many job changes (a
                    // bulk import through another host) are read in a few statements.
                    while batch.len() < MAX_BATCH
                        && let Some(received) = listener.try_next()
                    {
                        batch.push(received?);
                    }
                    self.apply(batch).await;
                }
                () = tokio::time::sleep_until(next_resync) => {
                    let took = self.resync().await?;
                    next_resync = tokio::time::Instant::now() + resync_pause(took);
                }
            }
        }
    }

    /// Applies notifications, in the order they came within each channel.
    async fn apply(&self, notifications: Vec<Notification>) {
        let mut jobs = Vec::new();
        for Notification { channel, payload } in notifications {
            match channel.as_str() {
                JOBS_CHANNEL => jobs.push(payload),
                PLUGINS_CHANNEL => {
                    // Compiling can take seconds: job changes must not wait behind it.
                    let plugins = self.plugins.clone();
                    tokio::spawn(async move {
                        if let Err(e) = plugins.sync(&payload).await {
                            tracing::warn!(
                                plugin = payload,
                                "following a plugin change failed: {e}"
                            );
                        }
                    });
                }
                CANCEL_CHANNEL => self.scheduler.cancel_here(&payload),
                _ => {}
            }
        }
        if jobs.is_empty() {
            return;
        }
        // A job changed twice is read once.
        jobs.sort_unstable();
        jobs.dedup();
        match self.store.refresh_jobs(&jobs).await {
            Ok(changes) => {
                for change in &changes {
                    self.scheduler.follow(change);
                }
            }
            // The next resync (at the latest) brings them.
            Err(e) => tracing::warn!(
                jobs = jobs.len(),
                "re-reading jobs changed through another host failed: {e}"
            ),
        }
    }

    /// Re-reads every job and plugin, applying what differs; returns how long reading
    /// the jobs took.
    async fn resync(&self) -> Result<Duration, crate::store::StoreError> {
        let started = std::time::Instant::now();
        let changes = self.store.resync_jobs().await?;
        let took = started.elapsed();
        tracing::debug!(
            changed = changes.len(),
            ms = took.as_secs_f64() * 1000.0,
            "jobs resynced"
        );
        if !changes.is_empty() {
            tracing::info!(
                jobs = changes.len(),
                "jobs changed through other hosts, caught up by a resync"
            );
        }
        for change in &changes {
            self.scheduler.follow(change);
        }
        let plugins = self.plugins.clone();
        tokio::spawn(async move {
            if let Err(e) = plugins.sync_all().await {
                tracing::warn!("re-reading the plugins failed: {e}");
            }
        });
        Ok(took)
    }
}

/// The pause before the next resync, after one that took `took`.
fn resync_pause(took: Duration) -> Duration {
    RESYNC_EVERY.max(took * RESYNC_SHARE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_resync_comes_less_often() {
        assert_eq!(resync_pause(Duration::from_millis(100)), RESYNC_EVERY);
        assert_eq!(
            resync_pause(Duration::from_secs(3)),
            Duration::from_secs(60)
        );
    }
}
