//! A job's effective settings (its options over the server's defaults), and the
//! concurrency policy that admits a scheduled run or skips it.

use super::lineage::{Admission, Mark};
use super::{Scheduler, lock};
use crate::job::{ConcurrencyPolicy, JobOptions, Retries};
use crate::runtime::RunLimits;
use crate::store::StoreResult;
use std::time::Duration;

/// One job's effective settings: its options over the server's defaults.
#[derive(Debug, Clone)]
pub(super) struct JobPolicy {
    pub max_instances: usize,
    pub concurrency: ConcurrencyPolicy,
    pub misfire_grace: Duration,
    pub coalesce: bool,
    pub jitter_seconds: u64,
    pub limits: RunLimits,
    pub retries: Option<Retries>,
}

/// Why a scheduled run was not admitted: a stable code for the execution's
/// `description`, and the sentence for its result.
pub(super) struct Refused {
    pub code: &'static str,
    pub reason: String,
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

impl Scheduler {
    pub(super) fn policy(&self, options: &JobOptions) -> JobPolicy {
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

    /// Claims an instance slot of the job for a scheduled run, by its concurrency
    /// policy; refused when the fire must be skipped. The runs counted are this host's
    /// and, on a database that several hosts share, the other hosts' runs of earlier
    /// occurrences ([`Scheduler::other_hosts_runs`]).
    pub(super) async fn take_instance(
        &self,
        job_id: &str,
        execution_id: &str,
        scheduled_time: i64,
        policy: &JobPolicy,
    ) -> Result<(), Refused> {
        let elsewhere = self.other_hosts_runs(job_id, scheduled_time).await;
        let to_replace = {
            let mut running = lock(&self.inner.running);
            let ids = running.entry(job_id.to_owned()).or_default();
            let in_flight = ids.len() + elsewhere.len();
            match policy.concurrency {
                ConcurrencyPolicy::Allow if in_flight >= policy.max_instances => {
                    return Err(Refused {
                        code: "max_instances",
                        reason: format!(
                            "skipped: the job already has {in_flight} run(s) in flight (max_instances {})",
                            policy.max_instances
                        ),
                    });
                }
                ConcurrencyPolicy::Forbid if in_flight > 0 => {
                    return Err(Refused {
                        code: "forbid",
                        reason:
                            "skipped: a run of the job is still in flight (concurrency_policy forbid)"
                                .into(),
                    });
                }
                ConcurrencyPolicy::Replace => {
                    let mut replaced = std::mem::take(ids);
                    replaced.extend(elsewhere);
                    replaced
                }
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
                replaced_execution_id = old,
                "replacing the running execution (concurrency_policy replace)"
            );
            // A run on another host is cancelled through it, as a user's cancel is.
            if let Err(e) = self.cancel(&old).await {
                tracing::warn!(
                    job_id,
                    replaced_execution_id = old,
                    "could not cancel the replaced run: {e}"
                );
            }
        }
        Ok(())
    }

    /// The other hosts' unfinished scheduled runs of the job's occurrences before
    /// `scheduled_time`, on a database that several hosts share; asked of the database
    /// only when another host may have some (see `lineage`). If it cannot answer, this
    /// host's own count decides, as on one host.
    async fn other_hosts_runs(&self, job_id: &str, scheduled_time: i64) -> Vec<String> {
        if !self.inner.store.is_shared() {
            return Vec::new();
        }
        let Admission::Ask(mark) = lock(&self.inner.lineages).admission(job_id) else {
            return Vec::new();
        };
        match self
            .read_other_hosts_runs(job_id, scheduled_time, mark)
            .await
        {
            Ok(runs) => runs,
            Err(e) => {
                tracing::warn!(
                    job_id,
                    "could not read the other hosts' runs of the job, counting this host's alone: {e}"
                );
                Vec::new()
            }
        }
    }

    /// Right after a claim, while its fires wait for their time: if another host may
    /// run the job, reads the other hosts' runs of the job's earlier occurrences in the
    /// background, so that an empty answer spares the fires that read at their instant.
    /// It holds until then: the claim follows every earlier occurrence's claim (each
    /// committed with its rows), so no earlier run of another host can appear after it,
    /// and unfinished runs only finish.
    pub(super) fn look_for_other_hosts_runs(&self, job_id: &str, before: i64) {
        let Admission::Ask(mark) = lock(&self.inner.lineages).admission(job_id) else {
            return;
        };
        let this = self.clone();
        let job_id = job_id.to_owned();
        // Runs in flight, or no answer: the fires read again at their instant.
        tokio::spawn(async move {
            let _ = this.read_other_hosts_runs(&job_id, before, mark).await;
        });
    }

    /// Reads the other hosts' unfinished runs of the job's occurrences before `before`;
    /// none found, the job's lineage (as `mark` saw it) is alone from now on.
    async fn read_other_hosts_runs(
        &self,
        job_id: &str,
        before: i64,
        mark: Mark,
    ) -> StoreResult<Vec<String>> {
        let runs = self
            .inner
            .store
            .other_hosts_runs_in_flight(job_id, &self.inner.host.id, before)
            .await?;
        if runs.is_empty() {
            lock(&self.inner.lineages).found_alone(job_id, mark);
        }
        Ok(runs)
    }

    pub(super) fn release_instance(&self, job_id: &str, execution_id: &str) {
        let mut running = lock(&self.inner.running);
        if let Some(ids) = running.get_mut(job_id) {
            ids.retain(|id| id != execution_id);
            if ids.is_empty() {
                running.remove(job_id);
            }
        }
    }
}
