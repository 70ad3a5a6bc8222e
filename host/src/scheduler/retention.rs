//! Retention: executions and audit entries older than a configured age, or beyond a
//! count per job, are deleted by a background task, in small batches so that the
//! scheduler and the API never wait long on the database.

use crate::store::{Store, StoreError};
use crate::time::now_micros;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What history to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Delete executions and audit entries older than this; `None` keeps them.
    pub max_age: Option<Duration>,
    /// Keep at most this many finished executions per job; `None`: no bound.
    pub max_per_job: Option<u64>,
    /// How often the task runs.
    pub every: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            max_age: Some(Duration::from_secs(30 * 86_400)),
            max_per_job: Some(10_000),
            every: Duration::from_secs(3600),
        }
    }
}

/// Rows deleted per statement.
const BATCH: i64 = 500;
/// Pause between batches: other writers get the database in between.
const PAUSE: Duration = Duration::from_millis(20);

/// Runs retention every `config.every` until `stop` is cancelled.
pub async fn run(store: Store, config: RetentionConfig, stop: CancellationToken) {
    if config.max_age.is_none() && config.max_per_job.is_none() {
        return;
    }
    loop {
        match sweep(&store, &config, &stop).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "retention: old history deleted"),
            Err(e) => tracing::error!("retention failed (will try again): {e}"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(config.every) => {}
        }
    }
}

/// One pass. Returns how many rows it deleted.
///
/// # Errors
/// If the store fails.
pub async fn sweep(
    store: &Store,
    config: &RetentionConfig,
    stop: &CancellationToken,
) -> Result<u64, StoreError> {
    let mut deleted = 0;
    if let Some(age) = config.max_age {
        let cutoff = now_micros() - i64::try_from(age.as_micros()).unwrap_or(i64::MAX / 2);
        deleted += drain(stop, || store.delete_executions_before(cutoff, BATCH)).await?;
        deleted += drain(stop, || store.delete_audit_before(cutoff, BATCH)).await?;
    }
    if let Some(keep) = config.max_per_job {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        for job_id in store.jobs_with_more_executions_than(keep).await? {
            deleted += drain(stop, || {
                store.delete_executions_beyond(&job_id, keep, BATCH)
            })
            .await?;
        }
    }
    Ok(deleted)
}

/// Repeats a batched delete until it deletes nothing (or the host stops).
async fn drain<F, Fut>(stop: &CancellationToken, mut batch: F) -> Result<u64, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    loop {
        let n = batch().await?;
        total += n;
        if n < BATCH as u64 || stop.is_cancelled() {
            return Ok(total);
        }
        tokio::time::sleep(PAUSE).await;
    }
}
