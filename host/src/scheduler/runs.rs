//! The life of an execution: written as `scheduled`, run at its time when a slot is
//! free, recorded in its final state, retried by the job's policy, cancelled on request,
//! interrupted at shutdown; or, for a fire prepared ahead whose job changed before it
//! was due, abandoned.

use super::{INTERRUPTED_REASON, JobPolicy, Scheduler, lock};
use crate::options::JobOptions;
use crate::runtime::{RunContext, RunOutcome, RunReport, RunRequest};
use crate::store::{ExecutionRow, FinishedRun, JobRow, StoreError};
use crate::time::{format_micros, now_micros};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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

/// How to start one execution.
#[derive(Debug, Clone)]
pub(super) struct Start {
    pub execution_id: String,
    /// The occurrence's nominal time (a retry: when it is due).
    pub scheduled_time: i64,
    pub kind: RunKind,
    pub attempt: u32,
    /// The first attempt's execution, for a retry.
    pub retry_of: Option<String>,
    /// Do not run before this time (µs): the nominal time of a fire prepared ahead
    /// plus its jitter, a retry's backoff; 0 (or any past time) runs at once.
    pub run_at: i64,
    /// For a fire prepared ahead: cancelled when its job changes before it is due.
    /// Such a fire applies the job's concurrency policy when it starts.
    pub abandon: Option<CancellationToken>,
}

/// How an execution ended, for what follows it (release, retry).
struct Ended {
    state: String,
    /// The job as the run saw it.
    job: JobRow,
    policy: JobPolicy,
}

/// How long a run goes before its execution shows `running`.
const MARK_RUNNING_AFTER: Duration = Duration::from_millis(50);

/// A new execution id: 32 lowercase hex characters. Time-ordered (UUID v7: a millisecond
/// timestamp, then random bits), so that the rows a busy host writes and then updates sit
/// together at the end of the primary-key index instead of on random pages of it.
pub(super) fn new_execution_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// A random delay of 0 to `seconds` seconds, millisecond-grained.
pub(super) fn jitter(seconds: u64) -> Duration {
    if seconds == 0 {
        return Duration::ZERO;
    }
    // A v4 UUID is 122 random bits from the OS generator: enough randomness for
    // spreading fires, without another dependency.
    let random = uuid::Uuid::new_v4().as_u128();
    Duration::from_millis((random % u128::from(seconds * 1000 + 1)) as u64)
}

fn failed_run(state: &str, message: String) -> FinishedRun {
    FinishedRun {
        state: state.into(),
        result: Some(message),
        finished_time: now_micros(),
        ..FinishedRun::default()
    }
}

impl Scheduler {
    /// Writes an execution for a user's run-now and starts it in the background.
    /// Returns the execution id at once.
    ///
    /// # Errors
    /// If the execution row cannot be written (then nothing runs).
    pub async fn run_now(&self, job: &JobRow) -> Result<String, StoreError> {
        let execution_id = new_execution_id();
        self.start_execution(
            job,
            Start {
                execution_id: execution_id.clone(),
                scheduled_time: now_micros(),
                kind: RunKind::RunNow,
                attempt: 1,
                retry_of: None,
                run_at: 0,
                abandon: None,
            },
        )
        .await?;
        Ok(execution_id)
    }

    /// Records a fire that does not run (`skipped` or `missed`), with its reason.
    pub(super) async fn record_not_run(
        &self,
        job: &JobRow,
        scheduled_time: i64,
        state: &str,
        code: &str,
        reason: String,
    ) -> Result<(), StoreError> {
        tracing::warn!(job_id = %job.job_id, scheduled_time = %format_micros(scheduled_time), state, code, "{reason}");
        let now = now_micros();
        let row = ExecutionRow {
            state: state.into(),
            description: Some(code.into()),
            result: Some(reason),
            finished_time: Some(now),
            ..self.execution_row(
                job,
                &new_execution_id(),
                scheduled_time,
                RunKind::Scheduled,
                1,
                None,
            )
        };
        self.inner.store.insert_execution(&row).await
    }

    fn execution_row(
        &self,
        job: &JobRow,
        execution_id: &str,
        scheduled_time: i64,
        kind: RunKind,
        attempt: u32,
        retry_of: Option<String>,
    ) -> ExecutionRow {
        ExecutionRow {
            execution_id: execution_id.to_owned(),
            job_id: job.job_id.clone(),
            state: "scheduled".into(),
            hostname: self.inner.hostname.clone(),
            pid: None,
            description: None,
            result: None,
            scheduled_time,
            updated_time: now_micros(),
            run_kind: kind.as_str().into(),
            attempt: i64::from(attempt),
            retry_of,
            started_time: None,
            finished_time: None,
            plugin_sha256: None,
            logs: None,
            stdout: None,
            stderr: None,
            peak_memory_bytes: None,
            fuel_consumed: None,
        }
    }

    /// Writes the execution row and starts the run in the background.
    pub(super) async fn start_execution(
        &self,
        job: &JobRow,
        start: Start,
    ) -> Result<(), StoreError> {
        let row = self.execution_row(
            job,
            &start.execution_id,
            start.scheduled_time,
            start.kind,
            start.attempt,
            start.retry_of.clone(),
        );
        self.inner.store.insert_execution(&row).await?;
        self.spawn_run(job.clone(), start);
        Ok(())
    }

    /// Runs a written execution in the background: wait for its time and a slot, run,
    /// record, retry if due.
    fn spawn_run(&self, job: JobRow, start: Start) {
        let cancel = CancellationToken::new();
        lock(&self.inner.cancels).insert(start.execution_id.clone(), cancel.clone());
        let this = self.clone();
        self.inner.tasks.spawn(async move {
            let ended = this.execute(job, &start, cancel).await;
            lock(&this.inner.cancels).remove(&start.execution_id);
            if let Some(ended) = ended {
                this.retry_if_due(&ended, &start).await;
            }
        });
    }

    /// Starts the next attempt of a failed or timed-out run, if the job retries.
    async fn retry_if_due(&self, ended: &Ended, start: &Start) {
        let Ended { state, job, policy } = ended;
        let Some(retries) = &policy.retries else {
            return;
        };
        let retryable = state == "failed" || state == "timeout";
        if !retryable || start.attempt > retries.max || self.inner.stop_firing.is_cancelled() {
            return;
        }
        let attempt = start.attempt + 1;
        let delay = retries.delay_before(attempt);
        let due = now_micros() + i64::try_from(delay.as_micros()).unwrap_or(i64::MAX / 2);
        let next = Start {
            execution_id: new_execution_id(),
            scheduled_time: due,
            kind: start.kind,
            attempt,
            retry_of: Some(
                start
                    .retry_of
                    .clone()
                    .unwrap_or_else(|| start.execution_id.clone()),
            ),
            run_at: due,
            abandon: None,
        };
        tracing::info!(job_id = %job.job_id, attempt, delay_s = delay.as_secs_f64(), "retrying the failed run");
        let row = self.execution_row(
            job,
            &next.execution_id,
            due,
            next.kind,
            attempt,
            next.retry_of.clone(),
        );
        match self.inner.store.insert_execution(&row).await {
            Ok(()) => self.spawn_run(job.clone(), next),
            Err(e) => {
                tracing::error!(job_id = %job.job_id, "could not write the retry's execution: {e}")
            }
        }
    }

    /// Runs one execution to its final state, recording it; `None` when it was
    /// abandoned instead (its row removed).
    async fn execute(
        &self,
        mut job: JobRow,
        start: &Start,
        cancel: CancellationToken,
    ) -> Option<Ended> {
        let execution_id = start.execution_id.as_str();
        let mut policy = self.policy(&JobOptions::from_stored(&job.options));
        let finish = |run: FinishedRun, job: JobRow, policy: JobPolicy| async move {
            if let Err(e) = self.inner.store.finish_execution(execution_id, &run).await {
                tracing::error!(execution_id, "recording the run's outcome failed: {e}");
            }
            Some(Ended {
                state: run.state,
                job,
                policy,
            })
        };
        let wait = start.run_at - now_micros();
        if wait > 0 {
            let abandon = start.abandon.clone().unwrap_or_default();
            tokio::select! {
                () = tokio::time::sleep(Duration::from_micros(wait.unsigned_abs())) => {}
                () = cancel.cancelled() => {
                    if let Some(abandon) = &start.abandon {
                        self.forget_prepared(&job.job_id, abandon);
                    }
                    return finish(self.cancelled_run(None), job, policy).await;
                }
                () = abandon.cancelled() => return self.abandon(&job, start).await,
            }
        }
        let mut instance_taken = false;
        if let Some(abandon) = &start.abandon {
            // A fire prepared ahead runs the job as it is now, if it still exists and
            // kept its schedule, and only now applies the concurrency policy.
            if !self.forget_prepared(&job.job_id, abandon) {
                return self.abandon(&job, start).await;
            }
            // The prepared copy serves unless a user changed the job since: a burst of
            // fires then copies no job at its instant.
            match self
                .inner
                .store
                .job_if_changed(&job.job_id, job.updated_time)
            {
                Ok(None) => {}
                Ok(Some(current)) => {
                    job = current;
                    policy = self.policy(&JobOptions::from_stored(&job.options));
                }
                Err(StoreError::NotFound) => return self.abandon(&job, start).await,
                Err(e) => tracing::warn!(
                    execution_id,
                    "re-reading the job failed, running it as prepared: {e}"
                ),
            }
            if let Err((code, reason)) =
                self.take_instance(&job.job_id, execution_id, &policy).await
            {
                tracing::warn!(job_id = %job.job_id, execution_id, code, "{reason}");
                let run = FinishedRun {
                    description: Some(code.into()),
                    ..failed_run("skipped", reason)
                };
                return finish(run, job, policy).await;
            }
            instance_taken = true;
        }
        let release = |job: &JobRow| {
            if instance_taken {
                self.release_instance(&job.job_id, execution_id);
            }
        };
        let slot = tokio::select! {
            slot = self.inner.slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                // The semaphore is never closed; if it were, the run could not start.
                Err(_) => {
                    release(&job);
                    return finish(failed_run("scheduled error", "the host is shutting down".into()), job, policy).await;
                }
            },
            () = cancel.cancelled() => {
                release(&job);
                return finish(self.cancelled_run(None), job, policy).await;
            }
        };
        let (plugin, class) = match self.inner.plugins.resolve(&job.job_class_string) {
            Ok(found) => found,
            Err(e) => {
                release(&job);
                return finish(failed_run("scheduled error", e.0), job, policy).await;
            }
        };
        let started = now_micros();
        let sha256 = plugin.sha256.clone();
        let run = self.inner.runtime.run(RunRequest {
            plugin,
            class,
            args: job.pub_args.clone(),
            context: RunContext {
                job_id: job.job_id.clone(),
                job_name: job.name.clone(),
                execution_id: execution_id.to_owned(),
                scheduled_time: format_micros(start.scheduled_time),
                attempt: start.attempt,
            },
            limits: policy.limits.clone(),
            cancel,
        });
        tokio::pin!(run);
        // Most runs take microseconds: recording `running` only once a run has lasted
        // a little saves a write per run, and every run records its start, host and
        // plugin in its final write anyway.
        let report = tokio::select! {
            report = &mut run => report,
            () = tokio::time::sleep(MARK_RUNNING_AFTER) => {
                if let Err(e) = self
                    .inner
                    .store
                    .mark_running(execution_id, self.inner.pid, Some(&sha256), started)
                    .await
                {
                    tracing::error!(execution_id, "marking the execution running failed: {e}");
                }
                run.await
            }
        };
        // The run is over: free its slot and instance before the (batched) write.
        drop(slot);
        release(&job);
        let mut run = self.finished_run(&report, started);
        run.plugin_sha256 = Some(sha256);
        run.pid = Some(self.inner.pid);
        tracing::info!(
            execution_id,
            job_id = %job.job_id,
            state = %run.state,
            attempt = start.attempt,
            duration_ms = report.duration.as_secs_f64() * 1000.0,
            "run finished"
        );
        finish(run, job, policy).await
    }

    /// Drops a fire prepared ahead whose job was paused, deleted or rescheduled before
    /// it was due: its row goes (the occurrence no longer exists), nothing runs.
    async fn abandon(&self, job: &JobRow, start: &Start) -> Option<Ended> {
        tracing::debug!(job_id = %job.job_id, execution_id = %start.execution_id, "the job changed before its prepared fire: abandoned");
        if let Err(e) = self
            .inner
            .store
            .delete_unstarted_execution(&start.execution_id)
            .await
        {
            tracing::error!(execution_id = %start.execution_id, "removing an abandoned fire failed: {e}");
        }
        None
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
        let recorded = |base: FinishedRun| FinishedRun {
            started_time: Some(started),
            logs: serde_json::to_string(&report.logs).ok(),
            stdout: Some(report.stdout.clone()),
            stderr: Some(report.stderr.clone()),
            peak_memory_bytes: i64::try_from(report.peak_memory_bytes).ok(),
            fuel_consumed: report.fuel_consumed.and_then(|f| i64::try_from(f).ok()),
            ..base
        };
        let outcome = &report.outcome;
        match outcome {
            // A cancel is `stopped`, or `failed` when it interrupted a run at shutdown.
            RunOutcome::Cancelled => recorded(self.cancelled_run(Some(started))),
            // A failed run's code tells the kinds of failure apart (as `skipped` and
            // `missed` carry their reasons); every other state has one cause.
            RunOutcome::Failed { kind, .. } => recorded(FinishedRun {
                description: Some(kind.code().into()),
                ..failed_run(outcome.state().as_str(), outcome.result_text())
            }),
            _ => recorded(failed_run(outcome.state().as_str(), outcome.result_text())),
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
}
