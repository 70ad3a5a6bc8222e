//! The scheduler: when jobs fire, and what a fire does.
//!
//! A timer loop sleeps until shortly before the earliest next fire in its
//! [`queue::TimerQueue`] (or until a change wakes it: no fixed polling tick). It
//! *prepares* each fire [`PREPARE_AHEAD`] early: claims it in the store with a
//! compare-and-set, applies the misfire policy and writes its execution row, so that at
//! the nominal instant only the run itself is left ([`runs`]): the database's commits
//! are off the fire's critical path. The concurrency policy is applied at the nominal
//! instant, and a fire whose job is paused, deleted or rescheduled while it waits is
//! abandoned (its row removed: that occurrence no longer exists). Each execution row
//! always reaches a final state; a fire that does not run is recorded too, as a
//! `skipped` or `missed` execution with the reason.

pub mod cron;
mod queue;
pub mod retention;
mod runs;
pub mod trigger;

use crate::jobs::schedule_of;
use crate::options::{ConcurrencyPolicy, JobOptions, Retries};
use crate::plugins::PluginRegistry;
use crate::runtime::{RunLimits, Runtime};
use crate::store::{Store, StoreError};
use crate::time::{from_micros, now_micros};
use queue::TimerQueue;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use trigger::{Schedule, Trigger};

pub use runs::{CancelOutcome, RunKind};

/// How long before its nominal time a fire is prepared (claimed, its row written).
/// Long enough to commit a burst of a few thousand simultaneous fires; short enough that
/// a `scheduled` row rarely shows ahead of its time.
pub const PREPARE_AHEAD: Duration = Duration::from_millis(300);

/// Server-wide scheduling policy: the defaults of every job's settings.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Concurrent scheduled runs of one job; a fire beyond it is skipped.
    pub max_instances: usize,
    /// A missed fire later than this is not run.
    pub misfire_grace: Duration,
    /// Run several missed fires of one job once.
    pub coalesce: bool,
    /// Runs at once across all jobs (the rest wait, in the database, for a slot).
    pub max_concurrent_runs: usize,
    /// Default limits of a run.
    pub run_limits: RunLimits,
    /// What to keep of the history.
    pub retention: retention::RetentionConfig,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            max_instances: 3,
            misfire_grace: Duration::from_secs(3600),
            coalesce: true,
            max_concurrent_runs: 128,
            run_limits: RunLimits::default(),
            retention: retention::RetentionConfig::default(),
        }
    }
}

/// One job's effective settings: its options over the server's defaults.
#[derive(Debug, Clone)]
struct JobPolicy {
    max_instances: usize,
    concurrency: ConcurrencyPolicy,
    misfire_grace: Duration,
    coalesce: bool,
    jitter_seconds: u64,
    limits: RunLimits,
    retries: Option<Retries>,
}

/// The scheduler. Cheap to clone.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    runtime: Runtime,
    plugins: PluginRegistry,
    config: SchedulerConfig,
    queue: Mutex<TimerQueue>,
    wake: Notify,
    /// Scheduled runs in flight per job (execution ids), for the concurrency policy.
    running: Mutex<HashMap<String, Vec<String>>>,
    /// Cancel handles of this node's unfinished executions.
    cancels: Mutex<HashMap<String, CancellationToken>>,
    /// Fires prepared ahead and not started yet, per job: cancelled (abandoned) when
    /// the job is paused, deleted or rescheduled before they are due.
    prepared: Mutex<HashMap<String, Vec<CancellationToken>>>,
    slots: Arc<Semaphore>,
    tasks: TaskTracker,
    /// Cancelled when the scheduler stops firing.
    stop_firing: CancellationToken,
    /// Set once shutdown cuts runs short: they end as interrupted, not `stopped`.
    interrupting: AtomicBool,
    hostname: String,
    pid: i64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a few map operations that cannot panic
    // half-way; a poisoned lock still guards consistent data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The reason recorded for runs a previous process left unfinished.
pub const HOST_STOPPED_REASON: &str = "host stopped during the run";
/// The reason recorded for runs cut short by a shutdown.
pub const INTERRUPTED_REASON: &str =
    "interrupted: the host shut down before the run finished (its grace period passed)";

impl Scheduler {
    /// A scheduler over these parts; nothing fires until [`Scheduler::start`].
    pub fn new(
        store: Store,
        runtime: Runtime,
        plugins: PluginRegistry,
        config: SchedulerConfig,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(config.max_concurrent_runs));
        Scheduler {
            inner: Arc::new(Inner {
                store,
                runtime,
                plugins,
                config,
                queue: Mutex::default(),
                wake: Notify::new(),
                running: Mutex::default(),
                cancels: Mutex::default(),
                prepared: Mutex::default(),
                slots,
                tasks: TaskTracker::new(),
                stop_firing: CancellationToken::new(),
                interrupting: AtomicBool::new(false),
                hostname: gethostname::gethostname().to_string_lossy().into_owned(),
                pid: i64::from(std::process::id()),
            }),
        }
    }

    /// Settles what a previous process left unfinished, loads every scheduled job,
    /// and starts the timer loop and the retention task. Jobs whose fire passed during
    /// downtime fire at once (subject to their misfire policy).
    ///
    /// # Errors
    /// If the store cannot be read.
    pub async fn start(&self) -> Result<(), StoreError> {
        let settled = self
            .inner
            .store
            .settle_unfinished(HOST_STOPPED_REASON, now_micros())
            .await?;
        if settled > 0 {
            tracing::warn!(
                settled,
                "executions left unfinished by a previous process marked failed"
            );
        }
        let jobs = self.inner.store.scheduled_jobs().await?;
        {
            let mut queue = lock(&self.inner.queue);
            for (job_id, next) in &jobs {
                queue.schedule(job_id, *next);
            }
        }
        tracing::info!(jobs = jobs.len(), "scheduler started");
        let this = self.clone();
        self.inner
            .tasks
            .spawn(async move { this.timer_loop().await });
        let store = self.inner.store.clone();
        let config = self.inner.config.retention.clone();
        let stop = self.inner.stop_firing.clone();
        self.inner
            .tasks
            .spawn(async move { retention::run(store, config, stop).await });
        Ok(())
    }

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
        if let Some(fires) = lock(&self.inner.prepared).remove(job_id) {
            for abandon in fires {
                abandon.cancel();
            }
        }
        self.reschedule(job_id, next);
    }

    async fn timer_loop(&self) {
        let ahead = i64::try_from(PREPARE_AHEAD.as_micros()).unwrap_or(0);
        loop {
            let now = now_micros();
            let (due, earliest) = {
                let mut queue = lock(&self.inner.queue);
                let due = queue.take_due(now + ahead);
                (due, queue.earliest())
            };
            for (job_id, at) in due {
                let this = self.clone();
                self.inner.tasks.spawn(async move {
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

    /// Re-reads a job's next run time from the store into the timer.
    async fn reload(&self, job_id: &str) {
        match self.inner.store.get_job(job_id).await {
            Ok(job) => self.reschedule(job_id, job.next_run_time),
            Err(StoreError::NotFound) => self.reschedule(job_id, None),
            Err(e) => tracing::error!(job_id, "reloading the job failed: {e}"),
        }
    }

    fn policy(&self, options: &JobOptions) -> JobPolicy {
        let defaults = &self.inner.config;
        let mut limits = defaults.run_limits.clone();
        if let Some(t) = options.timeout_seconds {
            limits.timeout = Duration::from_secs(t);
        }
        if let Some(mb) = options.memory_limit_mb {
            limits.memory_bytes = usize::try_from(mb).unwrap_or(usize::MAX >> 20) << 20;
        }
        limits.fuel = options.fuel.or(limits.fuel);
        JobPolicy {
            max_instances: options
                .max_instances
                .map_or(defaults.max_instances, |n| n as usize),
            concurrency: options
                .concurrency_policy
                .unwrap_or(ConcurrencyPolicy::Allow),
            misfire_grace: options
                .misfire_grace_seconds
                .map_or(defaults.misfire_grace, Duration::from_secs),
            coalesce: options.coalesce.unwrap_or(defaults.coalesce),
            jitter_seconds: options.jitter_seconds.unwrap_or(0),
            limits,
            retries: options.retries.clone(),
        }
    }

    /// Prepares the fire of `job_id` due at `due` (now, or up to [`PREPARE_AHEAD`]
    /// from now): claim it, apply the misfire policy, write the executions and start
    /// their runs, which wait for their nominal time.
    async fn fire(&self, job_id: &str, due: i64) -> Result<(), StoreError> {
        let job = match self.inner.store.get_job(job_id).await {
            Ok(job) => job,
            Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e),
        };
        if job.next_run_time != Some(due) {
            // Edited, paused or fired elsewhere since it was queued.
            self.reschedule(job_id, job.next_run_time);
            return Ok(());
        }
        let schedule = match schedule_of(&job) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(
                    job_id,
                    "job has an unusable trigger, not scheduling it: {e}"
                );
                self.inner.store.claim_fire(job_id, due, None).await?;
                return Ok(());
            }
        };
        let policy = self.policy(&JobOptions::from_stored(&job.options));
        let now = now_micros();
        let (run_times, next) = occurrences_until(&schedule, due, now);
        if !self.inner.store.claim_fire(job_id, due, next).await? {
            self.reload(job_id).await;
            return Ok(());
        }
        self.reschedule(job_id, next);
        let run_times = if policy.coalesce && run_times.len() > 1 {
            tracing::info!(
                job_id,
                missed = run_times.len() - 1,
                "coalescing missed fires into one run"
            );
            vec![run_times[run_times.len() - 1]]
        } else {
            run_times
        };
        let grace = i64::try_from(policy.misfire_grace.as_micros()).unwrap_or(i64::MAX);
        for at in run_times {
            let late = now - at;
            if late > grace {
                let reason = format!(
                    "missed: the fire was {:.1} s late, over the job's misfire grace time of {} s",
                    late as f64 / 1e6,
                    policy.misfire_grace.as_secs()
                );
                self.record_not_run(&job, at, "missed", "misfire", reason)
                    .await?;
                continue;
            }
            let jitter =
                i64::try_from(runs::jitter(policy.jitter_seconds).as_micros()).unwrap_or(0);
            let abandon = CancellationToken::new();
            lock(&self.inner.prepared)
                .entry(job.job_id.clone())
                .or_default()
                .push(abandon.clone());
            let start = runs::Start {
                execution_id: runs::new_execution_id(),
                scheduled_time: at,
                kind: RunKind::Scheduled,
                attempt: 1,
                retry_of: None,
                run_at: at + jitter,
                abandon: Some(abandon.clone()),
            };
            if let Err(e) = self.start_execution(&job, start).await {
                self.forget_prepared(&job.job_id, &abandon);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Takes a prepared fire off the list of those a job change abandons; false if it
    /// was abandoned already.
    fn forget_prepared(&self, job_id: &str, abandon: &CancellationToken) -> bool {
        let mut prepared = lock(&self.inner.prepared);
        if let Some(fires) = prepared.get_mut(job_id) {
            fires.retain(|f| f != abandon && !f.is_cancelled());
            if fires.is_empty() {
                prepared.remove(job_id);
            }
        }
        !abandon.is_cancelled()
    }

    /// Claims an instance slot of the job for a scheduled run, by its concurrency
    /// policy; `Err((reason code, message))` when the fire must be skipped.
    async fn take_instance(
        &self,
        job_id: &str,
        execution_id: &str,
        policy: &JobPolicy,
    ) -> Result<(), (&'static str, String)> {
        let to_replace = {
            let mut running = lock(&self.inner.running);
            let ids = running.entry(job_id.to_owned()).or_default();
            match policy.concurrency {
                ConcurrencyPolicy::Allow if ids.len() >= policy.max_instances => {
                    return Err((
                        "max_instances",
                        format!(
                            "skipped: the job already has {} run(s) in flight (max_instances {})",
                            ids.len(),
                            policy.max_instances
                        ),
                    ));
                }
                ConcurrencyPolicy::Forbid if !ids.is_empty() => {
                    return Err((
                        "forbid",
                        "skipped: a run of the job is still in flight (concurrency_policy forbid)"
                            .into(),
                    ));
                }
                ConcurrencyPolicy::Replace => std::mem::take(ids),
                _ => Vec::new(),
            }
        };
        lock(&self.inner.running)
            .entry(job_id.to_owned())
            .or_default()
            .push(execution_id.to_owned());
        for old in to_replace {
            tracing::info!(
                job_id,
                execution_id = old,
                "replacing the running execution (concurrency_policy replace)"
            );
            if let Err(e) = self.cancel(&old).await {
                tracing::warn!(
                    job_id,
                    execution_id = old,
                    "could not cancel the replaced run: {e}"
                );
            }
        }
        Ok(())
    }

    fn release_instance(&self, job_id: &str, execution_id: &str) {
        let mut running = lock(&self.inner.running);
        if let Some(ids) = running.get_mut(job_id) {
            ids.retain(|id| id != execution_id);
            if ids.is_empty() {
                running.remove(job_id);
            }
        }
    }

    /// This node's host name, as executions record it.
    pub fn hostname(&self) -> &str {
        &self.inner.hostname
    }
}

/// How many missed occurrences of one job a fire looks at, at most. Beyond it only
/// the newest matter (coalesced or past the grace time anyway).
const MAX_MISSED_OCCURRENCES: usize = 1000;

/// The occurrences of `schedule` from `due` up to `now` (at least `due` itself), and
/// the next fire after them.
fn occurrences_until(schedule: &Schedule, due: i64, now: i64) -> (Vec<i64>, Option<i64>) {
    let next_of = |t: i64| {
        schedule
            .next_after(from_micros(t))
            .map(|t| t.timestamp_micros())
    };
    let mut times = vec![due];
    let mut next = next_of(due);
    while let Some(n) = next {
        if n > now {
            break;
        }
        if times.len() >= MAX_MISSED_OCCURRENCES {
            // Jump ahead: the last occurrence at or before now, then the next one.
            let last = last_occurrence_at_or_before(schedule, n, now);
            times.push(last);
            next = next_of(last);
            break;
        }
        times.push(n);
        next = next_of(n);
    }
    (times, next)
}

fn last_occurrence_at_or_before(schedule: &Schedule, from: i64, now: i64) -> i64 {
    match schedule.trigger {
        Trigger::Interval { seconds } if schedule.start_date.is_none() => {
            let period = i64::try_from(seconds).unwrap_or(i64::MAX / 2_000_000) * 1_000_000;
            from + (now - from) / period * period
        }
        _ => {
            let mut last = from;
            while let Some(n) = schedule
                .next_after(from_micros(last))
                .map(|t| t.timestamp_micros())
            {
                if n > now {
                    break;
                }
                last = n;
            }
            last
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_missed_occurrences_and_the_next_fire() {
        let t = Schedule::utc(Trigger::Interval { seconds: 10 });
        let s = 1_000_000;
        let (times, next) = occurrences_until(&t, 100 * s, 125 * s);
        assert_eq!(times, vec![100 * s, 110 * s, 120 * s]);
        assert_eq!(next, Some(130 * s));
        let (times, next) = occurrences_until(&t, 100 * s, 100 * s);
        assert_eq!(times, vec![100 * s]);
        assert_eq!(next, Some(110 * s));
        // a long downtime is bounded, and still ends on the newest occurrence
        let (times, next) = occurrences_until(&t, 0, 1_000_000 * s + 5 * s);
        assert_eq!(times.len(), MAX_MISSED_OCCURRENCES + 1);
        assert_eq!(times.last(), Some(&(1_000_000 * s)));
        assert_eq!(next, Some(1_000_010 * s));
    }
}
