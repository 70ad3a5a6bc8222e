//! The safety net for executions that nothing will finish. It looks at this host's own
//! rows only (another host's are its business, a dead host's are adopted: `hosts.rs`).
//! Every unfinished execution of this host has a task taking it to its final state (its cancel handle is in
//! `cancels` from the spawn until its record is written). A row without one — its
//! writer was cut short between writing it and starting its task — would otherwise stay
//! `scheduled` until the next restart. A periodic sweep finds such rows and settles them
//! as `failed`, with the reason.
//!
//! A row counts as an orphan only when two sweeps in a row see it unfinished, untouched
//! for [`ORPHAN_AFTER`] and without a task: a row whose insert was merely slow to commit
//! has its task a moment later.

use super::execution::ended_run;
use super::{Scheduler, lock};
use crate::job::ExecutionState;
use crate::store::StoreError;
use crate::time::now_micros;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// How often the sweep looks.
const SWEEP_EVERY: Duration = Duration::from_secs(3);
/// How long an unfinished row must have been untouched to be looked at.
const ORPHAN_AFTER: Duration = Duration::from_secs(3);
/// The most rows one sweep looks at.
const SWEEP_LIMIT: i64 = 1000;

/// The reason recorded for a settled orphan.
const ORPHAN_REASON: &str = "nothing was running this execution (what started it was cut \
                             short before starting it): settled by the host";

impl Scheduler {
    /// Sweeps until the scheduler stops firing.
    pub(super) async fn sweep_orphans(&self) {
        let mut suspects = HashSet::new();
        loop {
            tokio::select! {
                () = self.inner.stop_firing.cancelled() => return,
                () = tokio::time::sleep(SWEEP_EVERY) => {}
            }
            match self.settle_orphans(&suspects).await {
                Ok(next) => suspects = next,
                Err(e) => tracing::warn!("looking for orphaned executions failed: {e}"),
            }
        }
    }

    /// Settles the rows that were already suspects and still are; returns this sweep's
    /// suspects.
    async fn settle_orphans(
        &self,
        suspects: &HashSet<String>,
    ) -> Result<HashSet<String>, StoreError> {
        let cutoff = now_micros() - ORPHAN_AFTER.as_micros() as i64;
        let rows = self
            .inner
            .store
            .unfinished_before(&self.inner.host.id, cutoff, SWEEP_LIMIT)
            .await?;
        // Execution id → job id.
        let without_task: HashMap<String, String> = {
            let cancels = lock(&self.inner.cancels);
            rows.into_iter()
                .filter(|(id, _)| !cancels.contains_key(id))
                .collect()
        };
        for (id, job_id) in without_task.iter().filter(|(id, _)| suspects.contains(*id)) {
            tracing::warn!(job_id = %job_id, execution_id = %id, "{ORPHAN_REASON}");
            self.inner
                .store
                .finish_execution(id, &ended_run(ExecutionState::Failed, ORPHAN_REASON.into()))
                .await?;
            self.inner
                .events
                .publish_state(id, None, ExecutionState::Failed);
        }
        Ok(without_task
            .into_keys()
            .filter(|id| !suspects.contains(id))
            .collect())
    }
}
