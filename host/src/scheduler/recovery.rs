//! What a host does with the executions it adopted from a dead host (a previous
//! process of its own, or another host of a shared database: `hosts.rs`).
//!
//! A run that had started (`running`, `stopping`, or with a `started_time`) cannot be
//! resumed: the adoption settled it as `failed`, `host <name> stopped during the run`;
//! it is retried here if its job retries. An execution that never started is still
//! owed its run:
//! - a prepared fire (a `scheduled` first attempt): its claim moved the job's next fire
//!   past it, so the missed-fire path does not see it again. It goes through the job's
//!   misfire rule here, once: it runs late within the misfire grace time and is
//!   recorded `missed` beyond it; with coalescing, only the newest of the job's missed
//!   occurrences runs (a missed fire the timer is about to claim, else the newest
//!   prepared one), and the others leave no execution. A fire whose job was deleted or
//!   paused meanwhile is abandoned (its row removed), as it would have been by the
//!   process.
//! - a run-now runs at once: the user asked for it;
//! - a retry runs at its due time (at once if that passed).
//!
//! The rows this changes (removed, `missed`, `scheduled error`) commit together before
//! anything runs; the runs keep their rows (and ids). The adoption made the rows this
//! host's before: a crash before that commit leaves them to the next adopter of this
//! host, and whatever is still unstarted after it is found again the same way. So each
//! occurrence keeps exactly one execution.

use super::execution::{Ended, Start, ended_run};
use super::fire::{grace_micros, misfire_reason};
use super::policy::jitter;
use super::{Scheduler, lock};
use crate::job::{ExecutionState, Job, RunKind};
use crate::store::{Adopted, ExecutionRow, FinishedRun, StoreError, StoreResult};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The reason recorded for a run-now or retry whose job is gone at the restart.
const JOB_GONE_REASON: &str =
    "the host stopped before the run started, and its job was deleted since: it did not run";

/// What a start does with the unstarted executions.
#[derive(Default)]
struct Plan {
    /// Rows to remove: abandoned or coalesced fires.
    removed: Vec<String>,
    /// Rows to finish without a run.
    ended: Vec<(String, FinishedRun)>,
    /// Rows to run, with their jobs.
    runs: Vec<(Arc<Job>, Start)>,
    /// Prepared fires: run late, missed, coalesced, abandoned.
    fires_run: usize,
    fires_missed: usize,
    fires_coalesced: usize,
    fires_abandoned: usize,
    /// Run-now runs and retries resumed.
    resumed: usize,
}

/// A `scheduled` first attempt: a fire prepared ahead, rather than a run-now or a retry.
fn is_prepared_fire(row: &ExecutionRow) -> bool {
    row.run_kind == RunKind::Scheduled.as_str() && row.attempt <= 1 && row.retry_of.is_none()
}

/// A final state that is not a run, with its code.
fn not_run(state: ExecutionState, code: &str, reason: String) -> FinishedRun {
    FinishedRun {
        description: Some(code.into()),
        ..ended_run(state, reason)
    }
}

/// The record of an execution whose stored job is damaged: it must not run with settings
/// nobody gave it.
fn damaged(defect: &impl std::fmt::Display) -> FinishedRun {
    not_run(
        ExecutionState::ScheduledError,
        "damaged_job",
        defect.to_string(),
    )
}

/// How to start an execution again from its row.
fn start_of(row: &ExecutionRow, run_at: i64, abandon: Option<CancellationToken>) -> Start {
    Start {
        execution_id: row.execution_id.clone(),
        scheduled_time: row.scheduled_time,
        kind: if row.run_kind == RunKind::RunNow.as_str() {
            RunKind::RunNow
        } else {
            RunKind::Scheduled
        },
        attempt: u32::try_from(row.attempt).unwrap_or(1).max(1),
        retry_of: row.retry_of.clone(),
        run_at,
        abandon,
        resolved: None,
    }
}

impl Scheduler {
    /// Settles what adopting a dead host brought: its failed runs are announced and
    /// retried by their jobs' policies; its unstarted executions run, or are recorded
    /// or removed ([`Scheduler::resume_unstarted`]).
    pub(super) async fn settle_adopted(&self, adopted: Adopted, now: i64) -> StoreResult<()> {
        if self.inner.store.is_shared() {
            let jobs = adopted
                .failed
                .iter()
                .map(|row| row.job_id.clone())
                .collect();
            self.refresh_jobs(jobs).await?;
        }
        for row in &adopted.failed {
            crate::metrics::get().execution_ended(&row.job_id, "failed", None);
            self.publish(&row.execution_id, &row.job_id, ExecutionState::Failed);
            self.retry_adopted(row).await;
        }
        self.resume_unstarted(adopted.unstarted, now).await
    }

    /// Re-reads these jobs from the table (on a shared database, another host may have
    /// added, changed or deleted them since this host read them; the coalescing below
    /// reads their next fires, which other hosts' claims move in the table only), and
    /// queues them in the timer as they are now.
    async fn refresh_jobs(&self, jobs: BTreeSet<String>) -> StoreResult<()> {
        let ids: Vec<String> = jobs.into_iter().collect();
        self.inner.store.refresh_jobs(&ids).await?;
        for job_id in &ids {
            let next = match self.inner.store.job(job_id).await {
                Ok(snapshot) => snapshot.next_run_time,
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e),
            };
            self.reschedule(job_id, next);
        }
        Ok(())
    }

    /// A failed adopted run's next attempt, if its job retries.
    async fn retry_adopted(&self, row: &ExecutionRow) {
        let Ok(snapshot) = self.inner.store.job(&row.job_id).await else {
            return;
        };
        if snapshot.job.defect.is_some() {
            return;
        }
        let ended = Ended {
            state: ExecutionState::Failed,
            policy: self.policy(snapshot.job.options()),
            job: snapshot.job,
        };
        self.retry_if_due(&ended, &start_of(row, 0, None)).await;
    }

    /// Runs, records or removes adopted executions that never started (see the
    /// module's documentation).
    pub(super) async fn resume_unstarted(
        &self,
        unstarted: Vec<ExecutionRow>,
        now: i64,
    ) -> StoreResult<()> {
        if unstarted.is_empty() {
            return Ok(());
        }
        let store = &self.inner.store;
        if store.is_shared() {
            let jobs: BTreeSet<String> = unstarted.iter().map(|row| row.job_id.clone()).collect();
            self.refresh_jobs(jobs).await?;
        }
        let plan = self.plan(unstarted, now).await?;
        store.settle_unstarted(&plan.removed, &plan.ended).await?;
        for execution_id in &plan.removed {
            self.inner.events.publish_removed(execution_id);
        }
        for (execution_id, run) in &plan.ended {
            if let Some(state) = ExecutionState::parse(&run.state) {
                self.inner.events.publish_state(execution_id, None, state);
            }
        }
        tracing::info!(
            run = plan.fires_run,
            missed = plan.fires_missed,
            coalesced = plan.fires_coalesced,
            abandoned = plan.fires_abandoned,
            resumed = plan.resumed,
            "unstarted executions of a dead host recovered"
        );
        for (job, start) in plan.runs {
            // Claimed by another host: whatever this host knew of the job's claims
            // no longer tells whether other hosts run it.
            lock(&self.inner.lineages).forget(&job.id);
            self.spawn_prepared(job, start);
        }
        Ok(())
    }

    async fn plan(&self, rows: Vec<ExecutionRow>, now: i64) -> StoreResult<Plan> {
        let mut plan = Plan::default();
        let mut fires: BTreeMap<String, Vec<ExecutionRow>> = BTreeMap::new();
        for row in rows {
            if is_prepared_fire(&row) {
                fires.entry(row.job_id.clone()).or_default().push(row);
            } else {
                self.plan_resumed(row, &mut plan).await?;
            }
        }
        for (job_id, rows) in fires {
            self.plan_fires(&job_id, rows, now, &mut plan).await?;
        }
        Ok(plan)
    }

    /// The prepared fires of one job, oldest first, by its misfire and coalesce rules.
    async fn plan_fires(
        &self,
        job_id: &str,
        mut rows: Vec<ExecutionRow>,
        now: i64,
        plan: &mut Plan,
    ) -> StoreResult<()> {
        let snapshot = match self.inner.store.job(job_id).await {
            Ok(snapshot) if !snapshot.job.paused => snapshot,
            Ok(_) | Err(StoreError::NotFound) => {
                // Paused or deleted after the fire was prepared: as in the process,
                // that occurrence no longer exists.
                plan.fires_abandoned += rows.len();
                plan.removed
                    .extend(rows.into_iter().map(|row| row.execution_id));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let job = snapshot.job;
        if let Some(defect) = &job.defect {
            for row in rows {
                plan.ended.push((row.execution_id, damaged(defect)));
            }
            return Ok(());
        }
        let policy = self.policy(job.options());
        rows.sort_by_key(|row| row.scheduled_time);
        if policy.coalesce {
            // The newest missed occurrence runs: one the timer claims at once (the
            // job's next fire has passed too), or else the newest of these.
            let pending = snapshot.next_run_time.is_some_and(|next| next <= now);
            let keep = usize::from(!pending).min(rows.len());
            let coalesced: Vec<String> = rows
                .drain(..rows.len() - keep)
                .map(|row| row.execution_id)
                .collect();
            if !coalesced.is_empty() {
                tracing::info!(
                    job_id,
                    missed = coalesced.len(),
                    "coalescing prepared fires a previous process left unstarted"
                );
            }
            plan.fires_coalesced += coalesced.len();
            plan.removed.extend(coalesced);
        }
        for row in rows {
            let late = now - row.scheduled_time;
            if late > grace_micros(&policy) {
                plan.fires_missed += 1;
                plan.ended.push((
                    row.execution_id,
                    not_run(
                        ExecutionState::Missed,
                        "misfire",
                        misfire_reason(late, &policy),
                    ),
                ));
                continue;
            }
            let jitter = i64::try_from(jitter(policy.jitter_seconds).as_micros()).unwrap_or(0);
            plan.fires_run += 1;
            plan.runs.push((
                job.clone(),
                start_of(
                    &row,
                    row.scheduled_time + jitter,
                    Some(CancellationToken::new()),
                ),
            ));
        }
        Ok(())
    }

    /// A run-now (runs at once) or a retry (runs at its due time), with the job as it
    /// is now.
    async fn plan_resumed(&self, row: ExecutionRow, plan: &mut Plan) -> StoreResult<()> {
        let job = match self.inner.store.job(&row.job_id).await {
            Ok(snapshot) => snapshot.job,
            Err(StoreError::NotFound) => {
                plan.ended.push((
                    row.execution_id,
                    ended_run(ExecutionState::ScheduledError, JOB_GONE_REASON.into()),
                ));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if let Some(defect) = &job.defect {
            plan.ended.push((row.execution_id, damaged(defect)));
            return Ok(());
        }
        // A retry's scheduled time is when it is due; a run-now's is when it was asked.
        let run_at = if row.retry_of.is_some() {
            row.scheduled_time
        } else {
            0
        };
        plan.resumed += 1;
        plan.runs.push((job, start_of(&row, run_at, None)));
        Ok(())
    }
}
