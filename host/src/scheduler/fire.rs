//! A fire, prepared ahead of its time: claim the occurrence in the store (once across
//! every scheduler), apply the misfire grace time and coalescing, and write an
//! execution for each occurrence that will run.

use super::execution::{Start, new_execution_id};
use super::policy::{JobPolicy, jitter};
use super::{Scheduler, lock};
use crate::job::{ExecutionState, Job, RunKind, Schedule, Trigger};
use crate::store::{StoreError, StoreResult};
use crate::time::{format_micros, from_micros, now_micros};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// How many missed occurrences of one job a fire looks at, at most. Beyond it only
/// the newest matter (coalesced or past the grace time anyway).
const MAX_MISSED_OCCURRENCES: usize = 1000;

impl Scheduler {
    /// Prepares the fire of `job_id` due at `due` (now, or up to
    /// [`super::PREPARE_AHEAD`] from now), if the job still fires then.
    pub(super) async fn fire(&self, job_id: &str, due: i64) -> StoreResult<()> {
        let snapshot = match self.inner.store.job(job_id).await {
            Ok(snapshot) => snapshot,
            Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e),
        };
        if snapshot.next_run_time != Some(due) {
            // Edited, paused or fired elsewhere since it was queued.
            self.reschedule(job_id, snapshot.next_run_time);
            return Ok(());
        }
        self.prepare(&snapshot.job, due).await
    }

    /// Claims the occurrence at `due` and those missed since, writing their executions
    /// in the same transaction, then starts those that run: they wait for their
    /// nominal times.
    async fn prepare(&self, job: &Arc<Job>, due: i64) -> StoreResult<()> {
        let now = now_micros();
        let (run_times, next) = occurrences_until(&job.schedule, due, now);
        // Every row is worked out before the claim, which writes them with it: a crash
        // never leaves a claimed occurrence without its execution.
        let mut rows = Vec::new();
        let mut starts = Vec::new();
        let mut not_run = Vec::new();
        let mut coalesced = 0;
        if let Some(defect) = &job.defect {
            // A damaged stored job must not run with settings nobody gave it.
            for at in run_times {
                let reason = defect.to_string();
                let row = self.not_run_row(
                    job,
                    at,
                    ExecutionState::ScheduledError,
                    "damaged_job",
                    reason.clone(),
                );
                not_run.push((
                    row.execution_id.clone(),
                    at,
                    ExecutionState::ScheduledError,
                    "damaged_job",
                    reason,
                ));
                rows.push(row);
            }
        } else {
            let policy = self.policy(job.options());
            let run_times = if policy.coalesce && run_times.len() > 1 {
                coalesced = run_times.len() - 1;
                vec![run_times[run_times.len() - 1]]
            } else {
                run_times
            };
            let mut resolved = None;
            for at in run_times {
                let late = now - at;
                if late > grace_micros(&policy) {
                    let reason = misfire_reason(late, &policy);
                    let row = self.not_run_row(
                        job,
                        at,
                        ExecutionState::Missed,
                        "misfire",
                        reason.clone(),
                    );
                    not_run.push((
                        row.execution_id.clone(),
                        at,
                        ExecutionState::Missed,
                        "misfire",
                        reason,
                    ));
                    rows.push(row);
                    continue;
                }
                let jitter = i64::try_from(jitter(policy.jitter_seconds).as_micros()).unwrap_or(0);
                let start = Start {
                    execution_id: new_execution_id(),
                    scheduled_time: at,
                    kind: RunKind::Scheduled,
                    attempt: 1,
                    retry_of: None,
                    run_at: at + jitter,
                    abandon: Some(CancellationToken::new()),
                    resolved: resolved
                        .get_or_insert_with(|| self.resolve_ahead(job))
                        .clone(),
                };
                rows.push(self.start_row(job, &start));
                starts.push(start);
            }
        }
        if !self
            .inner
            .store
            .claim_fire(&job.id, due, next, rows)
            .await?
        {
            // The lost claim re-read the job into the mirror (`Store::claim_fire`).
            self.requeue_lost(&job.id, due).await;
            return Ok(());
        }
        if self.inner.store.is_shared() {
            lock(&self.inner.lineages).claimed(&job.id, due, next);
            if !starts.is_empty() {
                self.look_for_other_hosts_runs(&job.id, due);
            }
        }
        self.reschedule(&job.id, next);
        crate::metrics::get().fired(
            job.schedule.trigger.kind(),
            starts.len() + not_run.len() + coalesced,
        );
        if coalesced > 0 {
            tracing::info!(job_id = %job.id, missed = coalesced, "coalescing missed fires into one run");
        }
        for (execution_id, at, state, code, reason) in not_run {
            crate::metrics::get().execution_ended(&job.id, state.as_str(), Some(code));
            tracing::warn!(job_id = %job.id, execution_id, scheduled_time = %format_micros(at), state = %state, code, "{reason}");
            self.publish(&execution_id, &job.id, state);
        }
        for start in starts {
            self.publish(&start.execution_id, &job.id, ExecutionState::Scheduled);
            self.spawn_prepared(job.clone(), start);
        }
        Ok(())
    }

    /// Starts a prepared fire whose row is written: a job change before it is due
    /// abandons it.
    pub(super) fn spawn_prepared(&self, job: Arc<Job>, start: Start) {
        if let Some(abandon) = &start.abandon {
            lock(&self.inner.prepared)
                .entry(job.id.clone())
                .or_default()
                .push(abandon.clone());
        }
        self.spawn_execution(job, start);
    }

    /// Takes a prepared fire off the list of those a job change abandons; false if it
    /// was abandoned already.
    pub(super) fn forget_prepared(&self, job_id: &str, abandon: &CancellationToken) -> bool {
        let mut prepared = lock(&self.inner.prepared);
        if let Some(fires) = prepared.get_mut(job_id) {
            fires.retain(|f| f != abandon && !f.is_cancelled());
            if fires.is_empty() {
                prepared.remove(job_id);
            }
        }
        !abandon.is_cancelled()
    }
}

/// The job's misfire grace time, in microseconds.
pub(super) fn grace_micros(policy: &JobPolicy) -> i64 {
    i64::try_from(policy.misfire_grace.as_micros()).unwrap_or(i64::MAX)
}

/// Why a fire `late` microseconds late was recorded as missed.
pub(super) fn misfire_reason(late: i64, policy: &JobPolicy) -> String {
    format!(
        "missed: the fire was {:.1} s late, over the job's misfire grace time of {} s",
        late as f64 / 1e6,
        policy.misfire_grace.as_secs()
    )
}

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
