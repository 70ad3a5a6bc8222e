//! A job's effective settings (its options over the server's defaults), and the
//! concurrency policy that admits a scheduled run or skips it.

use super::{Scheduler, lock};
use crate::job::{ConcurrencyPolicy, JobOptions, Retries};
use crate::runtime::RunLimits;
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
    /// policy; refused when the fire must be skipped.
    pub(super) async fn take_instance(
        &self,
        job_id: &str,
        execution_id: &str,
        policy: &JobPolicy,
    ) -> Result<(), Refused> {
        let to_replace = {
            let mut running = lock(&self.inner.running);
            let ids = running.entry(job_id.to_owned()).or_default();
            match policy.concurrency {
                ConcurrencyPolicy::Allow if ids.len() >= policy.max_instances => {
                    return Err(Refused {
                        code: "max_instances",
                        reason: format!(
                            "skipped: the job already has {} run(s) in flight (max_instances {})",
                            ids.len(),
                            policy.max_instances
                        ),
                    });
                }
                ConcurrencyPolicy::Forbid if !ids.is_empty() => {
                    return Err(Refused {
                        code: "forbid",
                        reason:
                            "skipped: a run of the job is still in flight (concurrency_policy forbid)"
                                .into(),
                    });
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
                replaced_execution_id = old,
                "replacing the running execution (concurrency_policy replace)"
            );
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
