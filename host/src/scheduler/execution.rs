//! The life of an execution, in four steps: it waits for its time ([`Scheduler::wait`]),
//! is admitted by its job's concurrency policy and a free slot ([`Scheduler::admit`]),
//! runs in the sandbox ([`Scheduler::run`]) and is recorded in its final state
//! ([`Scheduler::record`]); then it is retried by the job's policy. It can be cancelled
//! on request, is interrupted at shutdown, and a fire prepared ahead whose job changed
//! before it was due is abandoned instead.

use super::policy::{JobPolicy, Refused};
use super::{Scheduler, lock};
use crate::job::{ExecutionState, Job, RunKind};
use crate::runtime::{
    Grants, Plugin, PoolReservation, RunContext, RunOutcome, RunReport, RunRequest,
};
use crate::store::{AuditRow, ExecutionRow, FinishedRun, JobStateWrite, StoreError};
use crate::time::{format_micros, now_micros};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// The reason recorded for runs cut short by a shutdown.
const INTERRUPTED_REASON: &str =
    "interrupted: the host shut down before the run finished (its grace period passed)";

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
    /// For a fire prepared ahead: its class, resolved when it was prepared.
    pub resolved: Option<Arc<ResolvedAhead>>,
}

/// A job's class resolved to its plugin ahead of the fire's instant, while the fire
/// is prepared: at the instant of a burst, the lookup is then a comparison. It serves
/// only if the job still names that class and no plugin changed since.
pub(super) struct ResolvedAhead {
    job_class_string: Box<str>,
    plugin: Arc<Plugin>,
    class: String,
    /// [`crate::plugins::PluginRegistry::changes`] before it was resolved.
    registry_changes: u64,
}

impl std::fmt::Debug for ResolvedAhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedAhead")
            .field("job_class_string", &self.job_class_string)
            .field("registry_changes", &self.registry_changes)
            .finish_non_exhaustive()
    }
}

/// How an execution ended, for what follows it (a retry).
pub(super) struct Ended {
    pub state: ExecutionState,
    /// The job as the run saw it.
    pub job: Arc<Job>,
    pub policy: JobPolicy,
}

/// What waiting for the execution's time came to.
enum Waited {
    /// Its time came: run the job.
    Due(Arc<Job>),
    /// Its time came, and a user changed the job meanwhile: run the job as it is now.
    Changed(Arc<Job>),
    /// Cancelled while it waited.
    Cancelled(Arc<Job>),
    /// Its job changed or went: the occurrence no longer exists.
    Abandoned(Arc<Job>),
    /// The host is shutting down and hands it back to the others.
    HandedBack(Arc<Job>),
}

/// What lets an admitted execution run: a slot, the job's instance (for a scheduled
/// run), and its plugin.
struct Admitted {
    _slot: OwnedSemaphorePermit,
    _pool: PoolReservation,
    instance_taken: bool,
    plugin: Arc<Plugin>,
    class: String,
    grants: Grants,
}

/// While the database is unavailable, a run's outcome waits up to [`RECORD_WAIT`] at a
/// time, [`RECORD_WAITS`] times, for it to answer.
const RECORD_WAIT: Duration = Duration::from_secs(5);
const RECORD_WAITS: u32 = 24;

/// Why a due execution was not admitted.
enum NotAdmitted {
    /// Refused, with its final state (skipped by the concurrency policy, its plugin
    /// gone, cancelled while it waited …).
    Refused(Box<FinishedRun>),
    /// A shutdown began while it waited for the pool or a slot, and other hosts fire:
    /// it is to be handed back to them.
    HandedBack,
}

/// How long a run goes before its execution shows `running`.
const MARK_RUNNING_AFTER: Duration = Duration::from_millis(50);

/// A new execution id: 32 lowercase hex characters. Time-ordered (UUID v7: a millisecond
/// timestamp, then random bits), so that the rows a busy host writes and then updates sit
/// together at the end of the primary-key index instead of on random pages of it.
pub(super) fn new_execution_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// A final state with its message and no run details.
pub(super) fn ended_run(state: ExecutionState, message: String) -> FinishedRun {
    FinishedRun {
        state: state.as_str().into(),
        result: Some(message),
        finished_time: now_micros(),
        ..FinishedRun::default()
    }
}

impl Scheduler {
    /// Writes an execution for a user's run-now, with its audit entry (`audit` makes it
    /// from the execution id), and starts it in the background. Returns the execution
    /// id at once.
    ///
    /// # Errors
    /// If the execution row cannot be written (then nothing runs and nothing is
    /// audited).
    pub async fn run_now(
        &self,
        job: &Arc<Job>,
        audit: impl FnOnce(&str) -> AuditRow,
    ) -> Result<String, StoreError> {
        let execution_id = new_execution_id();
        let audit = audit(&execution_id);
        self.start_execution(
            job.clone(),
            Start {
                execution_id: execution_id.clone(),
                scheduled_time: now_micros(),
                kind: RunKind::RunNow,
                attempt: 1,
                retry_of: None,
                run_at: 0,
                abandon: None,
                resolved: None,
            },
            Some(&audit),
        )
        .await?;
        Ok(execution_id)
    }

    /// The row of a fire that does not run (`missed`, `scheduled error`), final at
    /// once, with a stable code in its description and its reason as its result.
    pub(super) fn not_run_row(
        &self,
        job: &Job,
        scheduled_time: i64,
        state: ExecutionState,
        code: &str,
        reason: String,
    ) -> ExecutionRow {
        ExecutionRow {
            state: state.as_str().into(),
            description: Some(code.into()),
            result: Some(reason),
            finished_time: Some(now_micros()),
            ..self.execution_row(
                job,
                &new_execution_id(),
                scheduled_time,
                RunKind::Scheduled,
                1,
                None,
            )
        }
    }

    /// The `scheduled` row of an execution about to start.
    pub(super) fn start_row(&self, job: &Job, start: &Start) -> ExecutionRow {
        self.execution_row(
            job,
            &start.execution_id,
            start.scheduled_time,
            start.kind,
            start.attempt,
            start.retry_of.clone(),
        )
    }

    fn execution_row(
        &self,
        job: &Job,
        execution_id: &str,
        scheduled_time: i64,
        kind: RunKind,
        attempt: u32,
        retry_of: Option<String>,
    ) -> ExecutionRow {
        ExecutionRow {
            execution_id: execution_id.to_owned(),
            job_id: job.id.clone(),
            state: ExecutionState::Scheduled.as_str().into(),
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
            http_requests: None,
            host_id: Some(self.inner.host.id.clone()),
            result_chars: None,
        }
    }

    /// Writes the execution row (and the audit entry of who started it, if any) and
    /// starts the run in the background.
    pub(super) async fn start_execution(
        &self,
        job: Arc<Job>,
        start: Start,
        audit: Option<&AuditRow>,
    ) -> Result<(), StoreError> {
        let row = self.start_row(&job, &start);
        self.inner
            .store
            .insert_execution_audited(&row, audit)
            .await?;
        self.publish(&row.execution_id, &job.id, ExecutionState::Scheduled);
        self.spawn_execution(job, start);
        Ok(())
    }

    /// Takes a written execution through its life in the background, then retries it
    /// if its job's policy says so.
    pub(super) fn spawn_execution(&self, job: Arc<Job>, start: Start) {
        let cancel = CancellationToken::new();
        lock(&self.inner.cancels).insert(start.execution_id.clone(), cancel.clone());
        let this = self.clone();
        let span = super::run_span(&job.id, &start.execution_id);
        self.inner.tasks.spawn(async move {
            let ended = this
                .execute(job, &start, cancel)
                .instrument(span.clone())
                .await;
            lock(&this.inner.cancels).remove(&start.execution_id);
            if let Some(ended) = ended {
                this.retry_if_due(&ended, &start).instrument(span).await;
            }
        });
    }

    /// Runs one execution to its final state, recording it; `None` when it was
    /// abandoned instead (its row removed).
    async fn execute(
        &self,
        job: Arc<Job>,
        start: &Start,
        cancel: CancellationToken,
    ) -> Option<Ended> {
        // The policy is worked out before the wait: at the instant, when a burst of
        // fires is due together, only what must happen then happens.
        let mut policy = self.policy(job.options());
        let job = match self.wait(job, start, &cancel).await {
            Waited::Due(job) => job,
            Waited::Changed(job) => {
                policy = self.policy(job.options());
                job
            }
            Waited::Cancelled(job) => {
                return self
                    .record(start, self.cancelled_run(None), job, policy)
                    .await;
            }
            Waited::Abandoned(job) => return self.abandon(&job.id, start).await,
            Waited::HandedBack(job) => {
                if self.hand_back(start).await {
                    return None;
                }
                job
            }
        };
        let admitted = loop {
            match self.admit(&job, &policy, start, &cancel).await {
                Ok(admitted) => break admitted,
                Err(NotAdmitted::HandedBack) => {
                    if self.hand_back(start).await {
                        return None;
                    }
                    // Not handed back: admitted here after all (the branch that
                    // interrupted the wait is off now that the shutdown began).
                }
                Err(NotAdmitted::Refused(run)) => {
                    return self.record(start, *run, job, policy).await;
                }
            }
        };
        // A shutdown that began while it waited for a slot: another host runs it.
        if self.inner.handing_back.is_cancelled() && self.hand_back(start).await {
            let instance_taken = admitted.instance_taken;
            drop(admitted);
            if instance_taken {
                self.release_instance(&job.id, &start.execution_id);
            }
            return None;
        }
        let run = self.run(&job, &policy, start, cancel, admitted).await;
        self.record(start, run, job, policy).await
    }

    /// Waits for the execution's time. A fire prepared ahead then runs the job as it is
    /// now, if it still exists and kept its schedule.
    async fn wait(&self, job: Arc<Job>, start: &Start, cancel: &CancellationToken) -> Waited {
        let wait = start.run_at - now_micros();
        if wait > 0 {
            let abandon = start.abandon.clone().unwrap_or_default();
            let may_hand_back = self.may_hand_back();
            tokio::select! {
                () = tokio::time::sleep(Duration::from_micros(wait.unsigned_abs())) => {}
                () = cancel.cancelled() => {
                    if let Some(abandon) = &start.abandon {
                        self.forget_prepared(&job.id, abandon);
                    }
                    return Waited::Cancelled(job);
                }
                () = abandon.cancelled() => return Waited::Abandoned(job),
                () = self.inner.handing_back.cancelled(), if may_hand_back => {
                    if let Some(abandon) = &start.abandon {
                        self.forget_prepared(&job.id, abandon);
                    }
                    return Waited::HandedBack(job);
                }
            }
        }
        if self.inner.handing_back.is_cancelled() {
            if let Some(abandon) = &start.abandon {
                self.forget_prepared(&job.id, abandon);
            }
            return Waited::HandedBack(job);
        }
        let Some(abandon) = &start.abandon else {
            return Waited::Due(job);
        };
        if !self.forget_prepared(&job.id, abandon) {
            return Waited::Abandoned(job);
        }
        // The prepared copy serves unless a user changed the job since: a burst of
        // fires then copies no job at its instant.
        match self.inner.store.changed_job(&job.id, job.updated_time) {
            Ok(None) => Waited::Due(job),
            Ok(Some(current)) => Waited::Changed(current),
            Err(StoreError::NotFound) => Waited::Abandoned(job),
            Err(e) => {
                tracing::warn!(
                    execution_id = %start.execution_id,
                    "re-reading the job failed, running it as prepared: {e}"
                );
                Waited::Due(job)
            }
        }
    }

    /// Admits a due execution: a scheduled fire by its job's concurrency policy (only
    /// now, at its nominal time), then any run when its plugin resolves, what it takes
    /// fits in the instance pool and the memory budget, and a slot is free. `Err` is the final
    /// state of one that was not admitted, or says to hand it back (a shutdown).
    async fn admit(
        &self,
        job: &Job,
        policy: &JobPolicy,
        start: &Start,
        cancel: &CancellationToken,
    ) -> Result<Admitted, NotAdmitted> {
        let refuse = |run: FinishedRun| Err(NotAdmitted::Refused(Box::new(run)));
        let execution_id = start.execution_id.as_str();
        let instance_taken = start.abandon.is_some();
        if instance_taken
            && let Err(Refused { code, reason }) = self
                .take_instance(&job.id, execution_id, start.scheduled_time, policy)
                .await
        {
            tracing::warn!(job_id = %job.id, execution_id, code, "{reason}");
            return refuse(FinishedRun {
                description: Some(code.into()),
                ..ended_run(ExecutionState::Skipped, reason)
            });
        }
        let release = || {
            if instance_taken {
                self.release_instance(&job.id, execution_id);
            }
        };
        // Waiting for the pool and the memory budget counts as waiting for a slot.
        let waiting = crate::metrics::get().waiting_for_slot();
        let ahead = start.resolved.as_deref().filter(|ahead| {
            *ahead.job_class_string == *job.job_class_string
                && ahead.registry_changes == self.inner.plugins.changes()
        });
        let resolved = match ahead {
            Some(ahead) => Ok((ahead.plugin.clone(), ahead.class.clone())),
            None => self.resolve_plugin(&job.job_class_string).await,
        };
        let (plugin, class) = match resolved {
            Ok(resolved) => resolved,
            Err(e) => {
                release();
                return refuse(ended_run(ExecutionState::ScheduledError, e.0));
            }
        };
        // What the run takes from the instance pool and the memory budget (and its
        // plugin's share of the pool): it waits here, `scheduled`, until that fits, and
        // before a slot, so that one plugin's waiting runs hold no slots. Each is tried
        // without waiting first: at the instant of a burst nearly every run fits, and a
        // wait's futures (registered with the cancellation tokens) cost more than the
        // admission itself.
        let not_admitted = |why| {
            release();
            Err(why)
        };
        let memory_bytes = policy.limits.memory_bytes;
        let pool = match self.inner.runtime.try_reserve(&plugin, memory_bytes) {
            Some(reserved) => reserved,
            None => {
                let reserve = self.inner.runtime.reserve(&plugin, memory_bytes);
                match self.wait_to_admit(reserve, cancel).await {
                    Ok(reserved) => reserved,
                    Err(why) => return not_admitted(why),
                }
            }
        };
        let slot = match self.inner.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                let acquire = async {
                    // The semaphore is never closed; if it were, the run could not start.
                    self.inner
                        .slots
                        .clone()
                        .acquire_owned()
                        .await
                        .map_err(|_| "the host is shutting down".to_owned())
                };
                match self.wait_to_admit(acquire, cancel).await {
                    Ok(slot) => slot,
                    Err(why) => return not_admitted(why),
                }
            }
        };
        drop(waiting);
        match self.grants(job, &plugin).await {
            Ok(grants) => Ok(Admitted {
                _slot: slot,
                _pool: pool,
                instance_taken,
                plugin,
                class,
                grants,
            }),
            Err(reason) => {
                release();
                refuse(ended_run(ExecutionState::ScheduledError, reason))
            }
        }
    }

    /// Whether a shutdown may hand this host's unstarted work back: only to other hosts
    /// on a shared database. On SQLite the waits leave that branch off, so the thousands
    /// of fires waiting for one instant do not all register with (and, when due,
    /// unregister from) the one shared token.
    fn may_hand_back(&self) -> bool {
        self.inner.store.is_shared()
    }

    /// Waits for what admits a run (its place in the pool, a slot) unless it is
    /// cancelled or a shutdown hands it back first.
    async fn wait_to_admit<T>(
        &self,
        admission: impl Future<Output = Result<T, String>>,
        cancel: &CancellationToken,
    ) -> Result<T, NotAdmitted> {
        let handing_back = &self.inner.handing_back;
        tokio::select! {
            admitted = admission => admitted.map_err(|reason| {
                NotAdmitted::Refused(Box::new(ended_run(ExecutionState::ScheduledError, reason)))
            }),
            () = cancel.cancelled() => Err(NotAdmitted::Refused(Box::new(self.cancelled_run(None)))),
            // A shutdown handing work back: it runs elsewhere (or, if that fails, here).
            () = handing_back.cancelled(), if self.may_hand_back() && !handing_back.is_cancelled() => Err(NotAdmitted::HandedBack),
        }
    }

    /// Runs an admitted execution in the sandbox; frees its slot and instance as soon
    /// as the guest is done, before the (batched) write of its outcome.
    async fn run(
        &self,
        job: &Job,
        policy: &JobPolicy,
        start: &Start,
        cancel: CancellationToken,
        admitted: Admitted,
    ) -> FinishedRun {
        let execution_id = start.execution_id.as_str();
        let Admitted {
            _slot: slot,
            _pool: pool,
            instance_taken,
            plugin,
            class,
            grants,
        } = admitted;
        let started = now_micros();
        crate::metrics::get().run_started(start.kind.as_str(), started - start.scheduled_time);
        let sha256 = plugin.sha256.clone();
        let run = self.inner.runtime.run(RunRequest {
            plugin,
            class,
            args: job.args.to_string(),
            context: RunContext {
                job_id: job.id.clone(),
                job_name: job.name.clone(),
                execution_id: execution_id.to_owned(),
                scheduled_time: format_micros(start.scheduled_time),
                attempt: start.attempt,
                live: Some(self.inner.events.run_listener(execution_id)),
            },
            limits: policy.limits.clone(),
            cancel,
            grants,
        });
        tokio::pin!(run);
        // Most runs take microseconds: recording `running` only once a run has lasted
        // a little saves a write per run, and every run records its start, host and
        // plugin in its final write anyway.
        let report = tokio::select! {
            report = &mut run => report,
            () = tokio::time::sleep(MARK_RUNNING_AFTER) => {
                match self
                    .inner
                    .store
                    .mark_running(execution_id, self.inner.pid, Some(&sha256), started)
                    .await
                {
                    Ok(true) => self.publish(execution_id, &job.id, ExecutionState::Running),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(execution_id, "marking the execution running failed: {e}");
                    }
                }
                run.await
            }
        };
        if instance_taken {
            self.release_instance(&job.id, execution_id);
        }
        drop((slot, pool));
        crate::metrics::get().run_finished(&job.id, report.duration);
        let mut run = self.finished_run(&report, started, policy.limits.result_bytes);
        run.plugin_sha256 = Some(sha256);
        run.pid = Some(self.inner.pid);
        run.job_state = report.state_changes.as_ref().map(|entries| JobStateWrite {
            job_id: job.id.clone(),
            bytes: entries
                .iter()
                .map(|(k, v)| (k.len() + v.len()) as i64)
                .sum(),
            entries: serde_json::to_string(entries).unwrap_or_else(|_| "{}".into()),
        });
        tracing::info!(
            execution_id,
            job_id = %job.id,
            state = %run.state,
            attempt = start.attempt,
            duration_ms = report.duration.as_secs_f64() * 1000.0,
            "run finished"
        );
        run
    }

    /// Records the execution's final state.
    async fn record(
        &self,
        start: &Start,
        run: FinishedRun,
        job: Arc<Job>,
        policy: JobPolicy,
    ) -> Option<Ended> {
        let execution_id = start.execution_id.as_str();
        let state = ExecutionState::parse(&run.state).unwrap_or(ExecutionState::Failed);
        crate::metrics::get().execution_ended(&job.id, &run.state, run.description.as_deref());
        let mut waits = 0;
        while let Err(e) = self.inner.store.finish_execution(execution_id, &run).await {
            // The database is down: the outcome is written when it is back (within a
            // bound, so that a shutdown does not wait on it forever).
            if !e.is_unavailable() || waits == RECORD_WAITS {
                tracing::error!(execution_id, "recording the run's outcome failed: {e}");
                break;
            }
            if waits == 0 {
                tracing::warn!(
                    execution_id,
                    "recording the run's outcome failed ({e}): trying again when the database answers"
                );
            }
            waits += 1;
            let _ = tokio::time::timeout(RECORD_WAIT, self.inner.store.wait_available()).await;
        }
        self.publish(execution_id, &job.id, state);
        Some(Ended { state, job, policy })
    }

    /// Hands an unstarted execution back to the other hosts at a shutdown (its row
    /// loses its owner: one of them adopts and runs it). False if that failed or the
    /// row changed meanwhile (a cancel): then it runs here after all.
    async fn hand_back(&self, start: &Start) -> bool {
        match self
            .inner
            .store
            .hand_back(&start.execution_id, &self.inner.host.id)
            .await
        {
            Ok(handed) => {
                if handed {
                    tracing::debug!(execution_id = %start.execution_id, "handed back to the other hosts");
                }
                handed
            }
            Err(e) => {
                tracing::warn!(execution_id = %start.execution_id, "handing the execution back failed, running it here: {e}");
                false
            }
        }
    }

    /// Starts the next attempt of a failed or timed-out run, if the job retries.
    pub(super) async fn retry_if_due(&self, ended: &Ended, start: &Start) {
        let Ended { state, job, policy } = ended;
        let Some(retries) = &policy.retries else {
            return;
        };
        let retryable = matches!(state, ExecutionState::Failed | ExecutionState::Timeout);
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
            resolved: None,
        };
        tracing::info!(job_id = %job.id, attempt, delay_s = delay.as_secs_f64(), "retrying the failed run");
        if let Err(e) = self.start_execution(job.clone(), next, None).await {
            tracing::error!(job_id = %job.id, "could not write the retry's execution: {e}");
        }
    }

    /// Drops a fire prepared ahead whose job was paused, deleted or rescheduled before
    /// it was due: its row goes (the occurrence no longer exists), nothing runs.
    async fn abandon(&self, job_id: &str, start: &Start) -> Option<Ended> {
        tracing::debug!(job_id, execution_id = %start.execution_id, "the job changed before its prepared fire: abandoned");
        if let Err(e) = self
            .inner
            .store
            .delete_unstarted_execution(&start.execution_id)
            .await
        {
            tracing::error!(execution_id = %start.execution_id, "removing an abandoned fire failed: {e}");
        }
        self.inner.events.publish_removed(&start.execution_id);
        None
    }

    fn cancelled_run(&self, started: Option<i64>) -> FinishedRun {
        let mut run = if self.inner.interrupting.load(Ordering::SeqCst) {
            ended_run(ExecutionState::Failed, INTERRUPTED_REASON.into())
        } else {
            ended_run(ExecutionState::Stopped, "the run was cancelled".into())
        };
        run.started_time = started;
        run
    }

    /// What a finished run records; its result text within `max_result_bytes`.
    fn finished_run(
        &self,
        report: &RunReport,
        started: i64,
        max_result_bytes: usize,
    ) -> FinishedRun {
        let recorded = |base: FinishedRun| FinishedRun {
            started_time: Some(started),
            logs: serde_json::to_string(&report.logs).ok(),
            stdout: Some(report.stdout.clone()),
            stderr: Some(report.stderr.clone()),
            peak_memory_bytes: i64::try_from(report.peak_memory_bytes).ok(),
            fuel_consumed: report.fuel_consumed.and_then(|f| i64::try_from(f).ok()),
            http_requests: (!report.http_requests.is_empty())
                .then(|| serde_json::to_string(&report.http_requests).ok())
                .flatten(),
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
                ..ended_run(
                    outcome.state(),
                    outcome.result_text_within(max_result_bytes),
                )
            }),
            _ => recorded(ended_run(
                outcome.state(),
                outcome.result_text_within(max_result_bytes),
            )),
        }
    }

    /// Cancels an unfinished execution: `stopping` now, `stopped` once the guest is
    /// interrupted (within one epoch tick).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown id.
    pub async fn cancel(&self, execution_id: &str) -> Result<CancelOutcome, StoreError> {
        let execution = self.inner.store.get_execution(execution_id).await?;
        let is_final = ExecutionState::parse(&execution.state).is_none_or(ExecutionState::is_final);
        if is_final {
            return Ok(CancelOutcome::AlreadyFinished(execution.state));
        }
        let token = lock(&self.inner.cancels).get(execution_id).cloned();
        let now = now_micros();
        if !self
            .inner
            .store
            .set_unfinished_state(execution_id, ExecutionState::Stopping.as_str(), now)
            .await?
        {
            let execution = self.inner.store.get_execution(execution_id).await?;
            return Ok(CancelOutcome::AlreadyFinished(execution.state));
        }
        self.publish(execution_id, &execution.job_id, ExecutionState::Stopping);
        match token {
            Some(token) => token.cancel(),
            None if self.owner_may_be_alive(&execution).await => {
                // Another host runs it: that host cancels it and records `stopped`.
                self.inner.store.request_cancel(execution_id).await?;
            }
            None => {
                // Not running in any live process (its process died): nothing to
                // interrupt, so it is stopped now.
                let mut run = ended_run(ExecutionState::Stopped, "the run was cancelled".into());
                run.finished_time = now;
                self.inner
                    .store
                    .finish_execution(execution_id, &run)
                    .await?;
                self.publish(execution_id, &execution.job_id, ExecutionState::Stopped);
            }
        }
        Ok(CancelOutcome::Stopping)
    }

    /// Cancels this host's run of `execution_id`, if it has one: what a cancel request
    /// made through another host asks (that host marked it `stopping`).
    pub fn cancel_here(&self, execution_id: &str) {
        if let Some(token) = lock(&self.inner.cancels).get(execution_id) {
            tracing::info!(execution_id, "cancelled through another host");
            token.cancel();
        }
    }

    /// Whether the host that owns `execution` (one not running here) may be alive, so
    /// that a cancel must go to it rather than settle the row here: its heartbeat is
    /// within the lease and it has not stopped. A row handed back and not adopted yet
    /// goes to whichever other host fires (it will adopt it). On SQLite no other host
    /// shares the database.
    async fn owner_may_be_alive(&self, execution: &ExecutionRow) -> bool {
        if !self.inner.store.is_shared() {
            return false;
        }
        let me = self.host_id();
        let since = now_micros() - super::hosts::micros(self.host_lease());
        let alive = match execution.host_id.as_deref() {
            // This host owns it and no longer runs it.
            Some(owner) if owner == me => return false,
            Some(owner) => self.inner.store.host_alive(owner, since).await,
            None => self
                .inner
                .store
                .firing_hosts(since)
                .await
                .map(|hosts| hosts.iter().any(|host| host != me)),
        };
        alive.unwrap_or_else(|e| {
            // Unknown: the safe side is to ask, not to stop a run that may go on.
            tracing::warn!(execution_id = %execution.execution_id, "could not tell whether the execution's host runs: {e}");
            true
        })
    }

    /// The job's class resolved now, for a fire prepared ahead to use at its instant;
    /// `None` if it does not resolve (the fire then finds out why when it is due).
    pub(super) fn resolve_ahead(&self, job: &Job) -> Option<Arc<ResolvedAhead>> {
        let registry_changes = self.inner.plugins.changes();
        let (plugin, class) = self.inner.plugins.resolve(&job.job_class_string).ok()?;
        Some(Arc::new(ResolvedAhead {
            job_class_string: job.job_class_string.clone().into(),
            plugin,
            class,
            registry_changes,
        }))
    }

    /// Resolves a job's class to its plugin. A plugin this host lacks (installed or
    /// replaced through another host a moment ago) is fetched from the database first.
    pub async fn resolve_plugin(
        &self,
        job_class_string: &str,
    ) -> Result<(Arc<Plugin>, String), crate::plugins::UnknownClass> {
        match self.inner.plugins.resolve(job_class_string) {
            Err(unknown) if self.inner.store.is_shared() => {
                let Some((plugin_name, _)) = job_class_string.rsplit_once('.') else {
                    return Err(unknown);
                };
                // Resolved again whether or not this sync loaded it: a sync that a
                // notification started may have loaded it while this one waited.
                match self.inner.plugins.sync(plugin_name).await {
                    Ok(_) => self.inner.plugins.resolve(job_class_string),
                    Err(e) => {
                        tracing::warn!(
                            plugin = plugin_name,
                            "reading the plugin from the database failed: {e}"
                        );
                        Err(unknown)
                    }
                }
            }
            resolved => resolved,
        }
    }
}
