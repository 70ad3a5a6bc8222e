//! The hosts table: every process serving one database, with its heartbeat, and the
//! moves of executions between hosts (adopting a dead host's, handing back unstarted
//! ones at a shutdown). What counts as dead, and when to adopt, is the scheduler's
//! call (`scheduler/hosts.rs`); the statements here make each move happen once.

use super::{ExecutionRow, HostRow, Store, StoreResult, unfinished_states_sql};
use std::sync::LazyLock;

/// What adopting a dead host moved to the adopter.
#[derive(Debug, Default)]
pub struct Adopted {
    /// Runs it had started: now `failed`, with the reason given.
    pub failed: Vec<ExecutionRow>,
    /// Executions it had not started (prepared fires, run-nows, retries): still
    /// `scheduled`, now the adopter's to run or settle.
    pub unstarted: Vec<ExecutionRow>,
}

impl Store {
    /// Records a starting host.
    pub async fn register_host(&self, host: &HostRow) -> StoreResult<()> {
        on_pool!(&self.writer, writer => {
            sqlx::query(
                "INSERT INTO hosts (host_id, name, address, pid, started_time, last_heartbeat, \
                 draining, stopped, adopted_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&host.host_id)
            .bind(&host.name)
            .bind(&host.address)
            .bind(host.pid)
            .bind(host.started_time)
            .bind(host.last_heartbeat)
            .bind(host.draining)
            .bind(host.stopped)
            .bind(&host.adopted_by)
            .execute(writer)
            .await?;
        });
        Ok(())
    }

    /// Writes a host's heartbeat. False when the host is stopped: another host found it
    /// dead and adopted its executions.
    pub async fn heartbeat(&self, host_id: &str, now: i64) -> StoreResult<bool> {
        let updated = on_pool!(&self.writer, writer => {
            sqlx::query(
                "UPDATE hosts SET last_heartbeat = $2 WHERE host_id = $1 AND NOT stopped",
            )
            .bind(host_id)
            .bind(now)
            .execute(writer)
            .await?
            .rows_affected()
        });
        Ok(updated == 1)
    }

    /// Marks a host as shutting down (it fires nothing more), or stopped (dead: what it
    /// still owns is adopted at once).
    pub async fn set_host_leaving(&self, host_id: &str, stopped: bool) -> StoreResult<()> {
        on_pool!(&self.writer, writer => {
            sqlx::query(
                "UPDATE hosts SET draining = TRUE, stopped = (stopped OR $2) WHERE host_id = $1",
            )
            .bind(host_id)
            .bind(stopped)
            .execute(writer)
            .await?;
        });
        Ok(())
    }

    /// The ids of the hosts that fire: heartbeat at or after `since`, neither shutting
    /// down nor stopped; sorted.
    pub async fn firing_hosts(&self, since: i64) -> StoreResult<Vec<String>> {
        Ok(on_pool!(&self.pool, pool => {
            sqlx::query_scalar::<_, String>(
                "SELECT host_id FROM hosts WHERE last_heartbeat >= $1 AND NOT draining \
                 AND NOT stopped ORDER BY host_id",
            )
            .bind(since)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Whether host `host_id` may still run what it owns: its heartbeat is at or after
    /// `since` and it has not stopped (one shutting down still finishes its runs).
    pub async fn host_alive(&self, host_id: &str, since: i64) -> StoreResult<bool> {
        Ok(on_pool!(&self.pool, pool => {
            sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM hosts WHERE host_id = $1 \
                 AND last_heartbeat >= $2 AND NOT stopped)",
            )
            .bind(host_id)
            .bind(since)
            .fetch_one(pool)
            .await?
        }))
    }

    /// Every host, by name then start, with how many unfinished executions it owns.
    pub async fn hosts(&self) -> StoreResult<Vec<(HostRow, i64)>> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT h.host_id, h.name, h.address, h.pid, h.started_time, h.last_heartbeat, \
                 h.draining, h.stopped, h.adopted_by, (SELECT count(*) FROM executions e \
                 WHERE e.host_id = h.host_id AND e.state IN {}) AS runs \
                 FROM hosts h ORDER BY h.name, h.started_time, h.host_id",
                unfinished_states_sql()
            )
        });
        let rows = on_pool!(&self.pool, pool => {
            sqlx::query_as::<_, HostWithRuns>(SQL.as_str())
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(|r| (r.host, r.runs)).collect())
    }

    /// The hosts other than `me` that own unfinished executions (dead or alive: the
    /// caller decides).
    pub async fn hosts_owning_work(&self, me: &str) -> StoreResult<Vec<HostRow>> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT h.* FROM hosts h WHERE h.host_id <> $1 AND EXISTS (SELECT 1 FROM \
                 executions e WHERE e.host_id = h.host_id AND e.state IN {})",
                unfinished_states_sql()
            )
        });
        Ok(on_pool!(&self.pool, pool => {
            sqlx::query_as::<_, HostRow>(SQL.as_str())
                .bind(me)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Adopts host `dead` for `me`, if it is still dead (stopped, or its heartbeat
    /// before `cutoff`), in one transaction: marks it stopped (it cannot come back to
    /// life: its next heartbeat finds it stopped), settles the runs it had started as
    /// `failed` with `reason`, and moves every unfinished execution of it to `me`.
    /// Returns `None` if it is alive. Of hosts adopting one host at once, the first
    /// takes every row and the others none: the hosts row is locked by the first
    /// update until the commit (PostgreSQL), or the writes are serialised (SQLite).
    pub async fn adopt_host(
        &self,
        dead: &str,
        me: &str,
        cutoff: i64,
        reason: &str,
        now: i64,
    ) -> StoreResult<Option<Adopted>> {
        static SETTLE: LazyLock<String> = LazyLock::new(|| {
            format!(
                "UPDATE executions SET state = 'failed', result = $3, updated_time = $4, \
                 finished_time = $4, host_id = $2 WHERE host_id = $1 AND state IN {} \
                 AND (state <> 'scheduled' OR started_time IS NOT NULL) RETURNING *",
                unfinished_states_sql()
            )
        });
        static MOVE: LazyLock<String> = LazyLock::new(|| {
            format!(
                "UPDATE executions SET host_id = $2 WHERE host_id = $1 AND state IN {} \
                 RETURNING *",
                unfinished_states_sql()
            )
        });
        Ok(on_pool!(&self.writer, writer => {
            let mut tx = writer.begin().await?;
            let claimed = sqlx::query(
                "UPDATE hosts SET stopped = TRUE, adopted_by = $2 WHERE host_id = $1 \
                 AND host_id <> $2 AND (stopped OR last_heartbeat < $3)",
            )
            .bind(dead)
            .bind(me)
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                tx.rollback().await?;
                None
            } else {
                let failed = sqlx::query_as::<_, ExecutionRow>(SETTLE.as_str())
                    .bind(dead)
                    .bind(me)
                    .bind(reason)
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await?;
                let mut unstarted = sqlx::query_as::<_, ExecutionRow>(MOVE.as_str())
                    .bind(dead)
                    .bind(me)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                unstarted.sort_by(|a, b| {
                    (a.scheduled_time, &a.execution_id).cmp(&(b.scheduled_time, &b.execution_id))
                });
                Some(Adopted { failed, unstarted })
            }
        }))
    }

    /// Takes up to `limit` executions handed back by a host that shut down (no owner,
    /// unstarted) for `me`: each goes to exactly one host.
    pub async fn adopt_handed_back(&self, me: &str, limit: i64) -> StoreResult<Vec<ExecutionRow>> {
        let mut rows = on_pool!(&self.writer, writer => {
            sqlx::query_as::<_, ExecutionRow>(
                "UPDATE executions SET host_id = $1 WHERE execution_id IN (SELECT execution_id \
                 FROM executions WHERE host_id IS NULL AND state = 'scheduled' LIMIT $2) \
                 AND host_id IS NULL AND state = 'scheduled' RETURNING *",
            )
            .bind(me)
            .bind(limit)
            .fetch_all(writer)
            .await?
        });
        rows.sort_by(|a, b| {
            (a.scheduled_time, &a.execution_id).cmp(&(b.scheduled_time, &b.execution_id))
        });
        Ok(rows)
    }

    /// Hands an unstarted execution of `me` back (no owner: another host adopts it).
    /// False if it is not `me`'s or no longer unstarted (e.g. being cancelled).
    pub async fn hand_back(&self, execution_id: &str, me: &str) -> StoreResult<bool> {
        let updated = on_pool!(&self.writer, writer => {
            sqlx::query(
                "UPDATE executions SET host_id = NULL WHERE execution_id = $1 AND host_id = $2 \
                 AND state = 'scheduled' AND started_time IS NULL",
            )
            .bind(execution_id)
            .bind(me)
            .execute(writer)
            .await?
            .rows_affected()
        });
        Ok(updated == 1)
    }

    /// Forgets the hosts whose last heartbeat is before `cutoff` and that own nothing
    /// unfinished. Returns how many.
    pub async fn delete_hosts_before(&self, cutoff: i64) -> StoreResult<u64> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "DELETE FROM hosts WHERE last_heartbeat < $1 AND NOT EXISTS (SELECT 1 FROM \
                 executions e WHERE e.host_id = hosts.host_id AND e.state IN {})",
                unfinished_states_sql()
            )
        });
        Ok(on_pool!(&self.writer, writer => {
            sqlx::query(SQL.as_str())
                .bind(cutoff)
                .execute(writer)
                .await?
                .rows_affected()
        }))
    }
}

/// A host with its count of unfinished executions, as [`Store::hosts`] reads it.
#[derive(sqlx::FromRow)]
struct HostWithRuns {
    #[sqlx(flatten)]
    host: HostRow,
    runs: i64,
}

#[cfg(test)]
mod tests {
    use super::super::jobs::tests::{drop_test_store, execution, test_store};
    use super::*;

    fn host(host_id: &str, last_heartbeat: i64) -> HostRow {
        HostRow {
            host_id: host_id.into(),
            name: host_id.split('@').next().unwrap_or_default().into(),
            address: String::new(),
            pid: 1,
            started_time: 0,
            last_heartbeat,
            draining: false,
            stopped: false,
            adopted_by: None,
        }
    }

    fn owned(i: usize, host_id: &str, state: &str, started: Option<i64>) -> ExecutionRow {
        ExecutionRow {
            state: state.into(),
            started_time: started,
            host_id: Some(host_id.into()),
            ..execution(i, "j")
        }
    }

    /// A dead host is adopted once: of adopters racing, one gets its started runs
    /// failed and its unstarted ones moved, the others nothing; a live host is not
    /// adopted; the adopted host's next heartbeat finds it stopped.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dead_host_is_adopted_once() {
        let dir = tempfile::tempdir().unwrap();
        let (store, database) = test_store(&dir).await;
        for h in [
            host("dead@1", 100),
            host("live@2", 10_000),
            host("a@3", 10_000),
            host("b@4", 10_000),
        ] {
            store.register_host(&h).await.unwrap();
        }
        let rows = [
            owned(1, "dead@1", "running", Some(50)),
            owned(2, "dead@1", "scheduled", None),
            owned(3, "dead@1", "scheduled", Some(60)),
            owned(4, "dead@1", "succeeded", Some(60)),
            owned(5, "live@2", "running", Some(70)),
        ];
        for row in &rows {
            store.insert_execution(row).await.unwrap();
        }
        let owning: Vec<String> = store
            .hosts_owning_work("a@3")
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.host_id)
            .collect();
        assert_eq!(owning.len(), 2, "{owning:?}");
        // The live host's heartbeat is after the cutoff: not adopted.
        assert!(
            store
                .adopt_host("live@2", "a@3", 5_000, "r", 9)
                .await
                .unwrap()
                .is_none()
        );
        let racing: Vec<_> = ["a@3", "b@4"]
            .into_iter()
            .map(|me| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .adopt_host("dead@1", me, 5_000, "host dead stopped during the run", 9)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut failed = Vec::new();
        let mut unstarted = Vec::new();
        for h in racing {
            if let Some(adopted) = h.await.unwrap() {
                failed.extend(adopted.failed);
                unstarted.extend(adopted.unstarted);
            }
        }
        let ids = |rows: &[ExecutionRow]| -> Vec<String> {
            rows.iter().map(|r| r.execution_id.clone()).collect()
        };
        let mut failed_ids = ids(&failed);
        failed_ids.sort();
        assert_eq!(
            failed_ids,
            vec![format!("{:032x}", 1), format!("{:032x}", 3)]
        );
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert!(failed.iter().all(|r| r.state == "failed"
            && r.result.as_deref() == Some("host dead stopped during the run")));
        assert_eq!(ids(&unstarted), vec![format!("{:032x}", 2)]);
        let adopter = unstarted[0].host_id.clone().unwrap();
        assert!(
            failed
                .iter()
                .all(|r| r.host_id.as_deref() == Some(adopter.as_str()))
        );
        assert!(!store.heartbeat("dead@1", 20_000).await.unwrap());
        assert!(store.heartbeat("live@2", 20_000).await.unwrap());
        assert!(
            store
                .hosts_owning_work(&adopter)
                .await
                .unwrap()
                .iter()
                .all(|h| h.host_id == "live@2")
        );
        drop_test_store(store, database).await;
    }

    /// An unstarted execution handed back goes to exactly one of the hosts taking
    /// such executions; one that started cannot be handed back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_handed_back_execution_goes_to_one_host() {
        let dir = tempfile::tempdir().unwrap();
        let (store, database) = test_store(&dir).await;
        store
            .insert_execution(&owned(1, "a@1", "scheduled", None))
            .await
            .unwrap();
        store
            .insert_execution(&owned(2, "a@1", "running", Some(5)))
            .await
            .unwrap();
        assert!(
            !store
                .hand_back(&format!("{:032x}", 1), "b@2")
                .await
                .unwrap()
        );
        assert!(
            store
                .hand_back(&format!("{:032x}", 1), "a@1")
                .await
                .unwrap()
        );
        assert!(
            !store
                .hand_back(&format!("{:032x}", 2), "a@1")
                .await
                .unwrap()
        );
        let racing: Vec<_> = ["b@2", "c@3", "d@4"]
            .into_iter()
            .map(|me| {
                let store = store.clone();
                tokio::spawn(async move { store.adopt_handed_back(me, 10).await.unwrap() })
            })
            .collect();
        let mut taken = Vec::new();
        for h in racing {
            taken.extend(h.await.unwrap());
        }
        assert_eq!(taken.len(), 1, "{taken:?}");
        assert_eq!(taken[0].execution_id, format!("{:032x}", 1));
        drop_test_store(store, database).await;
    }
}
