//! The scheduler: when jobs fire, and what a fire does.
//!
//! A timer loop sleeps until the earliest next fire in its [`queue::TimerQueue`] (or
//! until a change wakes it: no fixed polling tick), claims each due fire in the store
//! with a compare-and-set, applies the misfire and concurrency policies, writes the
//! execution row, and hands the run to the [`Runtime`]. Each execution row is written
//! before its guest starts and always reaches a final state.

pub mod cron;
mod queue;
pub mod trigger;

use crate::jsonfmt::pretty_sorted;
use crate::plugins::PluginRegistry;
use crate::runtime::{RunContext, RunLimits, RunOutcome, RunReport, RunRequest, Runtime};
use crate::store::{ExecutionRow, FinishedRun, JobRow, Store, StoreError};
use crate::time::{format_micros, from_micros, now_micros};
use queue::TimerQueue;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use trigger::Trigger;

/// Server-wide scheduling policy.
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
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            max_instances: 3,
            misfire_grace: Duration::from_secs(3600),
            coalesce: true,
            max_concurrent_runs: 128,
            run_limits: RunLimits::default(),
        }
    }
}

/// Why an execution was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// A fire of the job's trigger.
    Scheduled,
    /// A user's run-now.
    RunNow,
}

impl RunKind {
    fn as_str(self) -> &'static str {
        match self {
            RunKind::Scheduled => "scheduled",
            RunKind::RunNow => "run_now",
        }
    }
}

/// What cancelling an execution did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It is stopping (`stopping` now, `stopped` when the guest is interrupted).
    Stopping,
    /// It had already finished, in this state.
    AlreadyFinished(String),
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
    /// Scheduled runs in flight per job (for `max_instances`).
    running: Mutex<HashMap<String, usize>>,
    /// Cancel handles of this node's unfinished executions.
    cancels: Mutex<HashMap<String, CancellationToken>>,
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
                slots,
                tasks: TaskTracker::new(),
                stop_firing: CancellationToken::new(),
                interrupting: AtomicBool::new(false),
                hostname: gethostname::gethostname().to_string_lossy().into_owned(),
                pid: i64::from(std::process::id()),
            }),
        }
    }

    /// Settles what a previous process left unfinished, loads every scheduled job
    /// and starts the timer loop. Jobs whose fire passed during downtime fire at once
    /// (subject to the misfire policy).
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

    async fn timer_loop(&self) {
        loop {
            let now = now_micros();
            let (due, earliest) = {
                let mut queue = lock(&self.inner.queue);
                let due = queue.take_due(now);
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
                Duration::from_micros(u64::try_from(at - now_micros()).unwrap_or(0))
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

    /// Handles the fire of `job_id` due at `due`: claim it, apply the misfire and
    /// `max_instances` policies, start the runs.
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
        let trigger = match Trigger::from_stored(&job.trigger_kind, &job.trigger_params) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(
                    job_id,
                    "job has an unusable trigger, not scheduling it: {e}"
                );
                self.inner.store.claim_fire(job_id, due, None).await?;
                return Ok(());
            }
        };
        let now = now_micros();
        let (run_times, next) = occurrences_until(&trigger, due, now);
        if !self.inner.store.claim_fire(job_id, due, next).await? {
            self.reload(job_id).await;
            return Ok(());
        }
        self.reschedule(job_id, next);
        let run_times = if self.inner.config.coalesce && run_times.len() > 1 {
            tracing::info!(
                job_id,
                missed = run_times.len() - 1,
                "coalescing missed fires into one run"
            );
            vec![run_times[run_times.len() - 1]]
        } else {
            run_times
        };
        let grace = i64::try_from(self.inner.config.misfire_grace.as_micros()).unwrap_or(i64::MAX);
        for at in run_times {
            if now - at > grace {
                tracing::warn!(
                    job_id,
                    scheduled_time = %format_micros(at),
                    "missed fire not run: later than the misfire grace time"
                );
                continue;
            }
            if !self.try_take_instance(job_id) {
                tracing::warn!(
                    job_id,
                    scheduled_time = %format_micros(at),
                    max_instances = self.inner.config.max_instances,
                    "fire skipped: the job already has max_instances runs in flight"
                );
                continue;
            }
            if let Err(e) = self.start_execution(&job, at, RunKind::Scheduled).await {
                self.release_instance(job_id);
                return Err(e);
            }
        }
        Ok(())
    }

    fn try_take_instance(&self, job_id: &str) -> bool {
        let mut running = lock(&self.inner.running);
        let n = running.entry(job_id.to_owned()).or_default();
        if *n >= self.inner.config.max_instances {
            return false;
        }
        *n += 1;
        true
    }

    fn release_instance(&self, job_id: &str) {
        let mut running = lock(&self.inner.running);
        if let Some(n) = running.get_mut(job_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.remove(job_id);
            }
        }
    }

    /// Writes an execution for `job` and starts its run in the background. Returns
    /// the execution id at once.
    ///
    /// # Errors
    /// If the execution row cannot be written (then nothing runs).
    pub async fn start_execution(
        &self,
        job: &JobRow,
        scheduled_time: i64,
        kind: RunKind,
    ) -> Result<String, StoreError> {
        let execution_id = uuid::Uuid::new_v4().simple().to_string();
        let row = ExecutionRow {
            execution_id: execution_id.clone(),
            job_id: job.job_id.clone(),
            state: "scheduled".into(),
            hostname: self.inner.hostname.clone(),
            pid: None,
            description: None,
            result: None,
            scheduled_time,
            updated_time: now_micros(),
            run_kind: kind.as_str().into(),
            attempt: 1,
            started_time: None,
            finished_time: None,
            plugin_sha256: None,
            logs: None,
            stdout: None,
            stderr: None,
            peak_memory_bytes: None,
            fuel_consumed: None,
        };
        self.inner.store.insert_execution(&row).await?;
        let cancel = CancellationToken::new();
        lock(&self.inner.cancels).insert(execution_id.clone(), cancel.clone());
        let this = self.clone();
        let job = job.clone();
        let id = execution_id.clone();
        self.inner.tasks.spawn(async move {
            this.execute(&job, &id, scheduled_time, cancel).await;
            lock(&this.inner.cancels).remove(&id);
            if kind == RunKind::Scheduled {
                this.release_instance(&job.job_id);
            }
        });
        Ok(execution_id)
    }

    /// Runs one execution to its final state. Every path records one.
    async fn execute(
        &self,
        job: &JobRow,
        execution_id: &str,
        scheduled_time: i64,
        cancel: CancellationToken,
    ) {
        let finish = |run: FinishedRun| async move {
            if let Err(e) = self.inner.store.finish_execution(execution_id, &run).await {
                tracing::error!(execution_id, "recording the run's outcome failed: {e}");
            }
        };
        let _slot = tokio::select! {
            slot = self.inner.slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                // The semaphore is never closed; if it were, the run could not start.
                Err(_) => return finish(failed_run("scheduled error", "the host is shutting down".into())).await,
            },
            () = cancel.cancelled() => return finish(self.cancelled_run(None)).await,
        };
        let (plugin, class) = match self.inner.plugins.resolve(&job.job_class_string) {
            Ok(found) => found,
            Err(e) => return finish(failed_run("scheduled error", e.0)).await,
        };
        let started = now_micros();
        match self
            .inner
            .store
            .mark_running(execution_id, self.inner.pid, Some(&plugin.sha256), started)
            .await
        {
            Ok(true) => {}
            Ok(false) => return finish(self.cancelled_run(None)).await,
            Err(e) => {
                tracing::error!(execution_id, "marking the execution running failed: {e}");
                return finish(failed_run(
                    "failed",
                    format!("the host could not record the run's start: {e}"),
                ))
                .await;
            }
        }
        let sha256 = plugin.sha256.clone();
        let report = self
            .inner
            .runtime
            .run(RunRequest {
                plugin,
                class,
                args: job.pub_args.clone(),
                context: RunContext {
                    job_id: job.job_id.clone(),
                    job_name: job.name.clone(),
                    execution_id: execution_id.to_owned(),
                    scheduled_time: format_micros(scheduled_time),
                    attempt: 1,
                },
                limits: self.inner.config.run_limits.clone(),
                cancel,
            })
            .await;
        let mut run = self.finished_run(&report, started);
        run.plugin_sha256 = Some(sha256);
        tracing::info!(
            execution_id,
            job_id = %job.job_id,
            state = %run.state,
            duration_ms = report.duration.as_secs_f64() * 1000.0,
            "run finished"
        );
        finish(run).await;
    }

    fn cancelled_run(&self, started: Option<i64>) -> FinishedRun {
        let mut run = if self.inner.interrupting.load(Ordering::SeqCst) {
            failed_run("failed", INTERRUPTED_REASON.into())
        } else {
            failed_run("stopped", "the run was cancelled".into())
        };
        run.started_time = started;
        run
    }

    fn finished_run(&self, report: &RunReport, started: i64) -> FinishedRun {
        let (state, result) = match &report.outcome {
            RunOutcome::Succeeded { result } => ("succeeded", pretty_sorted(result)),
            RunOutcome::Failed { message } => ("failed", message.clone()),
            RunOutcome::TimedOut { limit } => (
                "timeout",
                format!(
                    "the run passed its time limit of {} s and was stopped",
                    limit.as_secs_f64()
                ),
            ),
            RunOutcome::Cancelled => {
                let c = self.cancelled_run(Some(started));
                return FinishedRun {
                    logs: serde_json::to_string(&report.logs).ok(),
                    stdout: Some(report.stdout.clone()),
                    stderr: Some(report.stderr.clone()),
                    peak_memory_bytes: Some(report.peak_memory_bytes as i64),
                    ..c
                };
            }
            RunOutcome::CouldNotStart { message } => ("scheduled error", message.clone()),
        };
        FinishedRun {
            state: state.into(),
            result: Some(result),
            description: None,
            started_time: Some(started),
            finished_time: now_micros(),
            logs: serde_json::to_string(&report.logs).ok(),
            stdout: Some(report.stdout.clone()),
            stderr: Some(report.stderr.clone()),
            peak_memory_bytes: Some(report.peak_memory_bytes as i64),
            fuel_consumed: report.fuel_consumed.map(|f| f as i64),
            plugin_sha256: None,
        }
    }

    /// Cancels an unfinished execution: `stopping` now, `stopped` once the guest is
    /// interrupted (within one epoch tick).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown id.
    pub async fn cancel(&self, execution_id: &str) -> Result<CancelOutcome, StoreError> {
        let (execution, _) = self.inner.store.get_execution(execution_id).await?;
        if !crate::store::UNFINISHED_STATES.contains(&execution.state.as_str()) {
            return Ok(CancelOutcome::AlreadyFinished(execution.state));
        }
        let token = lock(&self.inner.cancels).get(execution_id).cloned();
        let now = now_micros();
        if !self
            .inner
            .store
            .set_unfinished_state(execution_id, "stopping", now)
            .await?
        {
            let (execution, _) = self.inner.store.get_execution(execution_id).await?;
            return Ok(CancelOutcome::AlreadyFinished(execution.state));
        }
        match token {
            Some(token) => token.cancel(),
            None => {
                // Not running in this process (its process died): nothing to
                // interrupt, so it is stopped now.
                let mut run = failed_run("stopped", "the run was cancelled".into());
                run.finished_time = now;
                self.inner
                    .store
                    .finish_execution(execution_id, &run)
                    .await?;
            }
        }
        Ok(CancelOutcome::Stopping)
    }

    /// Stops firing, lets runs in flight finish within `grace`, then interrupts the
    /// rest (recorded as failed, interrupted) and waits for their records.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.stop_firing.cancel();
        self.inner.tasks.close();
        if tokio::time::timeout(grace, self.inner.tasks.wait())
            .await
            .is_err()
        {
            let left: Vec<CancellationToken> =
                lock(&self.inner.cancels).values().cloned().collect();
            tracing::warn!(
                runs = left.len(),
                "grace period over: interrupting the remaining runs"
            );
            self.inner.interrupting.store(true, Ordering::SeqCst);
            for token in left {
                token.cancel();
            }
            self.inner.tasks.wait().await;
        }
    }

    /// This node's host name, as executions record it.
    pub fn hostname(&self) -> &str {
        &self.inner.hostname
    }
}

fn failed_run(state: &str, message: String) -> FinishedRun {
    FinishedRun {
        state: state.into(),
        result: Some(message),
        finished_time: now_micros(),
        ..FinishedRun::default()
    }
}

/// How many missed occurrences of one job a fire looks at, at most. Beyond it only
/// the newest matter (coalesced or past the grace time anyway).
const MAX_MISSED_OCCURRENCES: usize = 1000;

/// The occurrences of `trigger` from `due` up to `now` (at least `due` itself), and the
/// next fire after them.
fn occurrences_until(trigger: &Trigger, due: i64, now: i64) -> (Vec<i64>, Option<i64>) {
    let mut times = vec![due];
    let mut next = trigger
        .next_after(from_micros(due))
        .map(|t| t.timestamp_micros());
    while let Some(n) = next {
        if n > now {
            break;
        }
        if times.len() >= MAX_MISSED_OCCURRENCES {
            // Jump ahead: the last occurrence at or before now, then the next one.
            let last_before_now = last_occurrence_at_or_before(trigger, n, now);
            times.push(last_before_now);
            next = trigger
                .next_after(from_micros(last_before_now))
                .map(|t| t.timestamp_micros());
            break;
        }
        times.push(n);
        next = trigger
            .next_after(from_micros(n))
            .map(|t| t.timestamp_micros());
    }
    (times, next)
}

fn last_occurrence_at_or_before(trigger: &Trigger, from: i64, now: i64) -> i64 {
    match trigger {
        Trigger::Interval { seconds } => {
            let period = i64::try_from(*seconds).unwrap_or(i64::MAX / 2_000_000) * 1_000_000;
            from + (now - from) / period * period
        }
        Trigger::Cron(_) => {
            let mut last = from;
            while let Some(n) = trigger
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
        let t = Trigger::Interval { seconds: 10 };
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
