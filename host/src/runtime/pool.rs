//! Admission by what a run takes: instance-pool slots and memory.
//!
//! wasmtime's pooling allocator has fixed totals of component instances, core
//! instances, memories and tables; an instantiation past one fails ("maximum
//! concurrent limit … reached"). A plugin whose one instantiation takes 64 core
//! instances, run 16 times at once, would take 1,024 and make every other job's runs
//! fail. So a run reserves what it takes (its plugin's [`PoolNeeds`], counted at load)
//! before it is instantiated, and waits while it does not fit: it never fails for lack
//! of a slot. Two more bounds are kept here:
//! - one plugin's runs at once are limited to what fits in its share of the pool
//!   (`--plugin-pool-share-percent`), so that one plugin cannot take the whole pool and
//!   other jobs always find room;
//! - the server-wide memory budget (`--memory-budget-mb`): a run reserves its memory
//!   limit for each memory it defines (each can grow to the limit).
//!
//! The waits are tokio semaphores: first come, first served (a large request is not
//! starved by small ones), cancel-safe, and taken always in the same order (the
//! plugin's share, component instances, core instances, memories, tables, memory), so
//! that two runs never wait on each other.

use super::inspect::PoolNeeds;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The totals runs are admitted against.
pub struct PoolGate {
    component_instances: Arc<Semaphore>,
    core_instances: Arc<Semaphore>,
    memories: Arc<Semaphore>,
    tables: Arc<Semaphore>,
    totals: PoolNeeds,
    /// The budget in MiB, if any.
    memory_mib: Option<(Arc<Semaphore>, u32)>,
    share_percent: u32,
}

/// What one run holds until it ends; dropping it gives everything back.
#[derive(Debug)]
pub struct PoolReservation {
    _permits: Vec<OwnedSemaphorePermit>,
}

/// A run of one plugin at once: what [`PoolGate::runs_per_plugin`] allows.
pub type PluginRuns = Arc<Semaphore>;

impl PoolGate {
    /// A gate over pools of these totals (`component_instances` of them), a memory
    /// budget in bytes, and the share of each pool one plugin may hold, in percent.
    pub fn new(
        component_instances: u32,
        totals: PoolNeeds,
        memory_budget_bytes: Option<u64>,
        share_percent: u32,
    ) -> Self {
        let semaphore = |n: u32| Arc::new(Semaphore::new(n as usize));
        let memory_mib = memory_budget_bytes.map(|bytes| {
            let mib = u32::try_from((bytes >> 20).max(1)).unwrap_or(u32::MAX >> 4);
            (semaphore(mib), mib)
        });
        PoolGate {
            component_instances: semaphore(component_instances),
            core_instances: semaphore(totals.core_instances),
            memories: semaphore(totals.memories),
            tables: semaphore(totals.tables),
            totals,
            memory_mib,
            share_percent: share_percent.clamp(1, 100),
        }
    }

    /// How many runs of a plugin taking `needs` may hold pool slots at once: as many as
    /// fit in its share of each pool, and at least one.
    pub fn runs_per_plugin(&self, needs: PoolNeeds) -> usize {
        let share = |total: u32| u64::from(total) * u64::from(self.share_percent) / 100;
        [
            (needs.core_instances, self.totals.core_instances),
            (needs.memories, self.totals.memories),
            (needs.tables, self.totals.tables),
        ]
        .into_iter()
        .filter(|(need, _)| *need > 0)
        .map(|(need, total)| share(total) / u64::from(need))
        .min()
        .map_or(usize::MAX >> 4, |runs| {
            usize::try_from(runs).unwrap_or(usize::MAX >> 4)
        })
        .clamp(1, Semaphore::MAX_PERMITS)
    }

    /// The MiB a run reserves of the budget: its memory limit for each memory it
    /// defines, and never more than the whole budget (such a run runs alone).
    fn memory_mib(&self, needs: PoolNeeds, memory_bytes: usize) -> u32 {
        let Some((_, budget)) = &self.memory_mib else {
            return 0;
        };
        let bytes = (memory_bytes as u64).saturating_mul(u64::from(needs.memories.max(1)));
        let mib = bytes.div_ceil(1 << 20).max(1);
        u32::try_from(mib).unwrap_or(u32::MAX).min(*budget)
    }

    /// What a run takes, in the order it is taken: one of `plugin`'s runs (if given),
    /// a component instance, the pool slots of `needs`, and `memory_bytes` per memory
    /// of the budget.
    fn wants<'a>(
        &'a self,
        plugin: Option<&'a PluginRuns>,
        needs: PoolNeeds,
        memory_bytes: usize,
    ) -> impl Iterator<Item = (&'a Arc<Semaphore>, u32)> {
        // A count above a total (only possible with a count wasmtime would refuse
        // anyway) waits for the whole pool rather than forever.
        let pools = [
            (
                &self.core_instances,
                needs.core_instances.min(self.totals.core_instances),
            ),
            (&self.memories, needs.memories.min(self.totals.memories)),
            (&self.tables, needs.tables.min(self.totals.tables)),
        ];
        let budget = self
            .memory_mib
            .as_ref()
            .map(|(budget, _)| (budget, self.memory_mib(needs, memory_bytes)));
        plugin
            .map(|runs| (runs, 1))
            .into_iter()
            .chain([(&self.component_instances, 1)])
            .chain(pools.into_iter().filter(|(_, need)| *need > 0))
            .chain(budget)
    }

    /// Waits until the run fits, then holds what it takes ([`PoolGate::wants`]).
    ///
    /// # Errors
    /// Never in practice: the semaphores are never closed.
    pub async fn reserve(
        &self,
        plugin: Option<&PluginRuns>,
        needs: PoolNeeds,
        memory_bytes: usize,
    ) -> Result<PoolReservation, tokio::sync::AcquireError> {
        let mut permits = Vec::with_capacity(6);
        for (semaphore, need) in self.wants(plugin, needs, memory_bytes) {
            permits.push(semaphore.clone().acquire_many_owned(need).await?);
        }
        Ok(PoolReservation { _permits: permits })
    }

    /// What [`PoolGate::reserve`] holds, if it fits now (`None`: it would wait). At the
    /// instant of a burst nearly every run fits: this path creates no waiting futures.
    pub fn try_reserve(
        &self,
        plugin: Option<&PluginRuns>,
        needs: PoolNeeds,
        memory_bytes: usize,
    ) -> Option<PoolReservation> {
        let mut permits = Vec::with_capacity(6);
        for (semaphore, need) in self.wants(plugin, needs, memory_bytes) {
            // A miss gives back what was taken (dropping `permits`).
            permits.push(semaphore.clone().try_acquire_many_owned(need).ok()?);
        }
        Some(PoolReservation { _permits: permits })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    const TOTALS: PoolNeeds = PoolNeeds {
        core_instances: 100,
        memories: 20,
        tables: 100,
    };

    fn needs(core_instances: u32, memories: u32, tables: u32) -> PoolNeeds {
        PoolNeeds {
            core_instances,
            memories,
            tables,
        }
    }

    #[test]
    fn a_plugin_gets_the_runs_that_fit_in_its_share() {
        let gate = PoolGate::new(10, TOTALS, None, 50);
        assert_eq!(gate.runs_per_plugin(needs(10, 1, 1)), 5);
        assert_eq!(gate.runs_per_plugin(needs(1, 5, 1)), 2);
        assert_eq!(gate.runs_per_plugin(needs(90, 1, 0)), 1, "at least one");
    }

    #[test]
    fn memory_is_reserved_per_memory_within_the_budget() {
        let gate = PoolGate::new(10, TOTALS, Some(1000 << 20), 50);
        assert_eq!(gate.memory_mib(needs(1, 1, 0), 300 << 20), 300);
        assert_eq!(gate.memory_mib(needs(2, 2, 0), 300 << 20), 600);
        assert_eq!(gate.memory_mib(needs(3, 4, 0), 300 << 20), 1000, "capped");
        assert_eq!(gate.memory_mib(needs(1, 0, 0), 1), 1);
    }

    #[tokio::test]
    async fn a_run_waits_until_it_fits_and_not_before() {
        let gate = PoolGate::new(10, TOTALS, Some(1000 << 20), 100);
        let first = gate
            .reserve(None, needs(60, 1, 0), 600 << 20)
            .await
            .unwrap();
        let waiting = gate.reserve(None, needs(60, 1, 0), 1 << 20);
        tokio::pin!(waiting);
        assert!(
            waiting.as_mut().now_or_never().is_none(),
            "60 + 60 core instances do not fit in 100"
        );
        drop(first);
        let _second = waiting.await.unwrap();

        let big = gate.reserve(None, needs(1, 1, 0), 700 << 20).await.unwrap();
        let over_budget = gate.reserve(None, needs(1, 1, 0), 500 << 20);
        tokio::pin!(over_budget);
        assert!(
            over_budget.as_mut().now_or_never().is_none(),
            "1 + 700 + 500 MiB exceed the 1000 MiB budget"
        );
        drop(big);
        over_budget.await.unwrap();
    }

    #[test]
    fn trying_takes_all_or_nothing() {
        let gate = PoolGate::new(2, TOTALS, Some(1000 << 20), 100);
        let first = gate.try_reserve(None, needs(60, 1, 0), 100 << 20);
        assert!(first.is_some(), "an empty pool fits it");
        // Fits the component instances and the budget, not the core instances: what
        // it took of the others goes back.
        assert!(gate.try_reserve(None, needs(60, 1, 0), 100 << 20).is_none());
        let second = gate.try_reserve(None, needs(40, 1, 0), 800 << 20);
        assert!(
            second.is_some(),
            "the failed try holds no component instance and no memory"
        );
        assert!(
            gate.try_reserve(None, needs(0, 0, 0), 0).is_none(),
            "both component instances are taken"
        );
    }

    #[tokio::test]
    async fn a_plugin_past_its_share_waits_while_others_run() {
        let gate = PoolGate::new(10, TOTALS, None, 50);
        let hostile = needs(25, 0, 0);
        let runs: PluginRuns = Arc::new(Semaphore::new(gate.runs_per_plugin(hostile)));
        let _a = gate.reserve(Some(&runs), hostile, 0).await.unwrap();
        let _b = gate.reserve(Some(&runs), hostile, 0).await.unwrap();
        let third = gate.reserve(Some(&runs), hostile, 0);
        tokio::pin!(third);
        assert!(
            third.as_mut().now_or_never().is_none(),
            "two runs of 25 fill the plugin's 50 %"
        );
        let other = gate.reserve(None, needs(40, 0, 0), 0).now_or_never();
        assert!(
            matches!(other, Some(Ok(_))),
            "another plugin still finds room"
        );
    }
}
