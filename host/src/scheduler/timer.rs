//! The timer: a loop that sleeps until the earliest prepared fire is due and starts
//! it, and the calls that move a job in its queue. With several hosts, each fire is
//! claimed first by its preferred host and later by the others as backups
//! (`hosts.rs`).

use super::hosts::BACKUP_STEP;
use super::{PREPARE_AHEAD, Scheduler, lock};
use crate::store::{JobChange, StoreError};
use crate::time::now_micros;
use std::time::Duration;

/// How long a host waits before looking again at a fire whose claim it lost to a row
/// another host held: about one group commit of that host under load.
const LOST_CLAIM_RETRY: Duration = Duration::from_millis(50);

impl Scheduler {
    /// Tells the timer that `job_id` next fires at `next` (or never, with `None`).
    pub fn reschedule(&self, job_id: &str, next: Option<i64>) {
        let wake = {
            let mut queue = lock(&self.inner.queue);
            match next {
                Some(at) => queue.schedule(job_id, at),
                None => {
                    queue.remove(job_id);
                    false
                }
            }
        };
        if wake {
            self.inner.wake.notify_one();
        }
    }

    /// Tells the timer that a user paused, resumed, deleted or rescheduled `job_id`:
    /// fires prepared for its old schedule are abandoned, and it next fires at `next`.
    pub fn job_changed(&self, job_id: &str, next: Option<i64>) {
        lock(&self.inner.lineages).forget(job_id);
        if let Some(fires) = lock(&self.inner.prepared).remove(job_id) {
            for abandon in fires {
                abandon.cancel();
            }
        }
        self.reschedule(job_id, next);
    }

    /// Applies a change another host made to a job (see `crate::follow`), as this
    /// host's own change of the same kind would have been applied.
    pub fn follow(&self, change: &JobChange) {
        if change.abandons_prepared_fires() {
            self.job_changed(&change.job_id, change.next_run_time());
        } else {
            self.reschedule(&change.job_id, change.next_run_time());
        }
    }

    pub(super) async fn timer_loop(&self) {
        // Marks the timer alive while this loop runs, however it ends (a panic too).
        struct Alive<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Alive<'_> {
            fn drop(&mut self) {
                self.0.store(false, std::sync::atomic::Ordering::SeqCst);
            }
        }
        self.inner
            .timer_alive
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let _alive = Alive(&self.inner.timer_alive);
        let ahead = i64::try_from(PREPARE_AHEAD.as_micros()).unwrap_or(0);
        loop {
            if !self.inner.store.available() {
                // No fire is claimed while the database cannot be reached: the due jobs
                // stay queued, and fire (by their misfire rules) once it answers.
                tokio::select! {
                    () = self.inner.stop_firing.cancelled() => return,
                    () = self.inner.store.wait_available() => continue,
                }
            }
            let now = now_micros();
            let (due, earliest) = {
                let mut queue = lock(&self.inner.queue);
                let due = queue.take_due(now + ahead);
                (due, queue.earliest())
            };
            for (job_id, at) in due {
                let this = self.clone();
                let rank = self.rank(&job_id);
                self.inner.tasks.spawn(async move {
                    if rank > 0 && !this.back_up(&job_id, at, rank).await {
                        return;
                    }
                    if let Err(e) = this.fire(&job_id, at).await {
                        tracing::error!(job_id, "firing the job failed: {e}");
                        // Try again shortly: the store holds the truth, so a retry
                        // claims the same occurrence at most once.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        this.reload(&job_id).await;
                    }
                });
            }
            let sleep = earliest.map_or(Duration::from_secs(3600), |at| {
                Duration::from_micros(u64::try_from(at - ahead - now_micros()).unwrap_or(0))
            });
            tokio::select! {
                () = self.inner.stop_firing.cancelled() => return,
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// A fire this host is a backup for (`rank` hosts come before it): waits
    /// [`BACKUP_STEP`] per host before, then says whether the fire is still unclaimed
    /// (so this host claims it); otherwise follows the job to its next fire.
    async fn back_up(&self, job_id: &str, at: i64, rank: usize) -> bool {
        let ahead = i64::try_from(PREPARE_AHEAD.as_micros()).unwrap_or(0);
        let step = i64::try_from(BACKUP_STEP.as_micros()).unwrap_or(0);
        // Never past the fire's own time: the last backups claim together then.
        let claim_at =
            (at - ahead + step * i64::try_from(rank).unwrap_or(i64::MAX / step)).min(at - step);
        let wait = u64::try_from(claim_at - now_micros()).unwrap_or(0);
        tokio::select! {
            () = self.inner.stop_firing.cancelled() => return false,
            () = tokio::time::sleep(Duration::from_micros(wait)) => {}
        }
        match self.inner.store.sync_next_run_time(job_id).await {
            Ok(Some(next)) if next == at => true,
            Ok(next) => {
                self.reschedule(job_id, next);
                false
            }
            Err(StoreError::NotFound) => {
                self.reschedule(job_id, None);
                false
            }
            Err(e) => {
                tracing::warn!(
                    job_id,
                    "reading the job's next fire failed, claiming it: {e}"
                );
                true
            }
        }
    }

    /// Re-reads a job's next run time into the timer: from the table on a shared
    /// database (another host's claim moves it there only), else from the mirror.
    pub(super) async fn reload(&self, job_id: &str) {
        if !self.inner.store.is_shared() {
            return self.requeue(job_id).await;
        }
        match self.inner.store.sync_next_run_time(job_id).await {
            Ok(next) => self.reschedule(job_id, next),
            Err(StoreError::NotFound) => self.reschedule(job_id, None),
            Err(e) => tracing::error!(job_id, "reloading the job failed: {e}"),
        }
    }

    /// Queues a job at its next run time as the mirror holds it.
    pub(super) async fn requeue(&self, job_id: &str) {
        match self.inner.store.job(job_id).await {
            Ok(job) => self.reschedule(job_id, job.next_run_time),
            Err(StoreError::NotFound) => self.reschedule(job_id, None),
            Err(e) => tracing::error!(job_id, "reloading the job failed: {e}"),
        }
    }

    /// Queues a job again after its claim of the fire at `due` was lost; the claim has
    /// re-read the job into the mirror already. Usually the job has moved on (another
    /// host's claim, an edit) and is queued there. If the table still says `due`, the
    /// row was held by another host whose claim has not committed yet (a shared
    /// database's claim skips such rows): look again after [`LOST_CLAIM_RETRY`], by
    /// when it has committed (the occurrence is theirs) or rolled back (it is still
    /// owed, and claimed then).
    pub(super) async fn requeue_lost(&self, job_id: &str, due: i64) {
        match self.inner.store.job(job_id).await {
            Ok(job) if job.next_run_time == Some(due) => {
                let this = self.clone();
                let job_id = job_id.to_owned();
                self.inner.tasks.spawn(async move {
                    tokio::select! {
                        () = this.inner.stop_firing.cancelled() => {}
                        () = tokio::time::sleep(LOST_CLAIM_RETRY) => this.reload(&job_id).await,
                    }
                });
            }
            Ok(job) => self.reschedule(job_id, job.next_run_time),
            Err(StoreError::NotFound) => self.reschedule(job_id, None),
            Err(e) => tracing::error!(job_id, "reloading the job failed: {e}"),
        }
    }
}
