//! The executions table: one row per run, from its fire to its final state, and the
//! retention deletes of finished runs.
//!
//! The hot writes (insert, running, unfinished state, final state) go through the group
//! commit ([`super::batch`]); the rest are plain statements.

use super::batch::Write;
use super::{
    AuditRow, ExecutionQuery, ExecutionRow, FinishedRun, Store, StoreError, StoreResult,
    unfinished_states_sql,
};
use std::sync::LazyLock;

/// Ids bound in one read of [`Store::executions_by_id`].
const ROWS_PER_READ: usize = 256;

impl Store {
    /// Inserts a new execution.
    pub async fn insert_execution(&self, e: &ExecutionRow) -> StoreResult<()> {
        self.insert_execution_audited(e, None).await
    }

    /// Inserts a new execution with the audit entry that records who started it, in
    /// one transaction: both or neither (a run-now waits for one commit, not two).
    pub async fn insert_execution_audited(
        &self,
        e: &ExecutionRow,
        audit: Option<&AuditRow>,
    ) -> StoreResult<()> {
        self.batch
            .submit(Write::InsertExecution {
                execution: Box::new(e.clone()),
                audit: audit.map(|a| Box::new(a.clone())),
            })
            .await?;
        Ok(())
    }

    /// Marks an execution running on this node, unless it was cancelled meanwhile.
    /// Returns false if it was no longer `scheduled`.
    pub async fn mark_running(
        &self,
        execution_id: &str,
        pid: i64,
        plugin_sha256: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        let marked = self
            .batch
            .submit(Write::MarkRunning {
                execution_id: execution_id.to_owned(),
                pid,
                plugin_sha256: plugin_sha256.map(str::to_owned),
                now,
            })
            .await?;
        Ok(marked == 1)
    }

    /// Sets an unfinished execution's state (e.g. `stopping`). Returns false if the
    /// execution is already finished.
    pub async fn set_unfinished_state(
        &self,
        execution_id: &str,
        state: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let set = self
            .batch
            .submit(Write::SetUnfinishedState {
                execution_id: execution_id.to_owned(),
                state: state.to_owned(),
                now,
            })
            .await?;
        Ok(set == 1)
    }

    /// Records an execution's final state and everything the run produced.
    pub async fn finish_execution(&self, execution_id: &str, run: &FinishedRun) -> StoreResult<()> {
        self.batch
            .submit(Write::FinishExecution {
                execution_id: execution_id.to_owned(),
                run: Box::new(run.clone()),
            })
            .await?;
        Ok(())
    }

    /// Removes an execution that never started (a fire abandoned before it was due).
    pub async fn delete_unstarted_execution(&self, execution_id: &str) -> StoreResult<()> {
        on_pool!(&self.writer, writer => {
            sqlx::query(
                "DELETE FROM executions WHERE execution_id = $1 AND state = 'scheduled' \
                 AND started_time IS NULL",
            )
            .bind(execution_id)
            .execute(writer)
            .await?;
        });
        Ok(())
    }

    /// The first attempts of `job_id`'s scheduled occurrences before `before` that
    /// another host than `me` owns and has not finished (or that no host owns: handed
    /// back, waiting to be adopted), whatever that host's heartbeat says: a dead host's
    /// unstarted fire still runs once adopted. What another host counts toward the
    /// job's `max_instances` and concurrency policy (runs-now and retries do not count,
    /// as on one host).
    pub async fn other_hosts_runs_in_flight(
        &self,
        job_id: &str,
        me: &str,
        before: i64,
    ) -> StoreResult<Vec<String>> {
        // Grouped with the other reads of the moment: one statement for all of them.
        let read = super::other_runs::OtherRunsRead {
            job_id: job_id.to_owned(),
            me: me.to_owned(),
            before,
        };
        Ok(self.other_runs.read(read).await?)
    }

    /// One execution.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if it does not exist.
    pub async fn get_execution(&self, execution_id: &str) -> StoreResult<ExecutionRow> {
        on_pool!(&self.pool, pool => {
            sqlx::query_as::<_, ExecutionRow>("SELECT * FROM executions WHERE execution_id = $1")
                .bind(execution_id)
                .fetch_optional(pool)
                .await?
        })
        .ok_or(StoreError::NotFound)
    }

    /// The executions of these ids that exist, read whole, in no particular order: one
    /// statement for many (a live stream that fell behind catches up in a few).
    pub async fn executions_by_id(&self, execution_ids: &[&str]) -> StoreResult<Vec<ExecutionRow>> {
        let mut rows = Vec::with_capacity(execution_ids.len());
        for chunk in execution_ids.chunks(ROWS_PER_READ) {
            on_pool!(&self.pool, pool => {
                let mut qb = sqlx::QueryBuilder::<dialect::Db>::new(
                    "SELECT * FROM executions WHERE execution_id IN (",
                );
                let mut ids = qb.separated(", ");
                for id in chunk {
                    ids.push_bind(*id);
                }
                qb.push(")");
                rows.extend(qb.build_query_as::<ExecutionRow>().fetch_all(pool).await?);
            });
        }
        Ok(rows)
    }

    /// Executions matching `q`, newest update first (ties by id), one page, each result
    /// cut to `q.result_chars` characters.
    pub async fn list_executions(&self, q: &ExecutionQuery) -> StoreResult<Vec<ExecutionRow>> {
        let (after_time, after_id) = match &q.after {
            Some((t, id)) => (Some(*t), Some(id.as_str())),
            None => (None, None),
        };
        // Each result is read cut to `result_chars` characters, with its whole length:
        // a page of large results is not loaded whole to be shown in part.
        fn statement(result_cut: &str) -> String {
            format!(
                "SELECT execution_id, job_id, state, hostname, pid, description, {result_cut}, \
                 scheduled_time, updated_time, run_kind, attempt, retry_of, started_time, \
                 finished_time, plugin_sha256, logs, stdout, stderr, peak_memory_bytes, \
                 fuel_consumed, http_requests, host_id \
                 FROM executions WHERE scheduled_time >= $1 AND scheduled_time <= $2 \
                 AND ($3 IS NULL OR job_id = $3) AND ($4 IS NULL OR state = $4) \
                 AND ($5 IS NULL OR updated_time < $5 \
                 OR (updated_time = $5 AND execution_id > $6)) \
                 ORDER BY updated_time DESC, execution_id LIMIT $7"
            )
        }
        static ON_SQLITE: LazyLock<String> = LazyLock::new(|| statement(super::sqlite::RESULT_CUT));
        static ON_POSTGRES: LazyLock<String> =
            LazyLock::new(|| statement(super::postgres::RESULT_CUT));
        Ok(on_pool!(&self.pool, pool => {
            let sql = match self.pool {
                super::Pool::Sqlite(_) => ON_SQLITE.as_str(),
                super::Pool::Postgres(_) => ON_POSTGRES.as_str(),
            };
            sqlx::query_as::<_, ExecutionRow>(sql)
                .bind(q.start)
                .bind(q.end)
                .bind(&q.job_id)
                .bind(&q.state)
                .bind(after_time)
                .bind(after_id)
                .bind(q.limit)
                .bind(q.result_chars)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Deletes up to `batch` finished executions last updated before `cutoff` (µs).
    /// Returns how many.
    pub async fn delete_executions_before(&self, cutoff: i64, batch: i64) -> StoreResult<u64> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "DELETE FROM executions WHERE execution_id IN (SELECT execution_id FROM executions \
                 WHERE updated_time < $1 AND state NOT IN {} LIMIT $2)",
                unfinished_states_sql()
            )
        });
        Ok(on_pool!(&self.writer, writer => {
            sqlx::query(SQL.as_str())
                .bind(cutoff)
                .bind(batch)
                .execute(writer)
                .await?
                .rows_affected()
        }))
    }

    /// Jobs (by id) with more than `keep` finished executions.
    pub async fn jobs_with_more_executions_than(&self, keep: i64) -> StoreResult<Vec<String>> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT job_id FROM executions WHERE state NOT IN {} \
                 GROUP BY job_id HAVING COUNT(*) > $1",
                unfinished_states_sql()
            )
        });
        Ok(on_pool!(&self.pool, pool => {
            sqlx::query_scalar::<_, String>(SQL.as_str())
                .bind(keep)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Deletes up to `batch` of a job's finished executions beyond its newest `keep`.
    /// Returns how many.
    pub async fn delete_executions_beyond(
        &self,
        job_id: &str,
        keep: i64,
        batch: i64,
    ) -> StoreResult<u64> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "DELETE FROM executions WHERE execution_id IN (SELECT execution_id FROM executions \
                 WHERE job_id = $1 AND state NOT IN {} \
                 ORDER BY updated_time DESC, execution_id LIMIT $3 OFFSET $2)",
                unfinished_states_sql()
            )
        });
        Ok(on_pool!(&self.writer, writer => {
            sqlx::query(SQL.as_str())
                .bind(job_id)
                .bind(keep)
                .bind(batch)
                .execute(writer)
                .await?
                .rows_affected()
        }))
    }

    /// Whether the database answers a query (readiness), on the read pool and on the
    /// writer, and whether a new connection can open it and read its schema.
    pub async fn ping(&self) -> StoreResult<()> {
        on_pool!(&self.pool, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop)?);
        on_pool!(&self.writer, writer => sqlx::query("SELECT 1").execute(writer).await.map(drop)?);
        on_pool!(&self.pool, pool => dialect::probe(pool).await)
    }

    /// Retries written and not started yet, on any host (a retry is an attempt after
    /// the first).
    pub async fn pending_retries(&self) -> StoreResult<u64> {
        let count: i64 = on_pool!(&self.pool, pool => {
            sqlx::query_scalar(
                "SELECT count(*) FROM executions WHERE state = 'scheduled' AND attempt > 1",
            )
            .fetch_one(pool)
            .await?
        });
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// The unfinished executions of host `host_id` last changed before `cutoff` (µs),
    /// oldest first, at most `limit`: `(execution_id, job_id)` each. Another host's are
    /// its own business (and a dead host's are adopted: `hosts.rs`).
    pub async fn unfinished_before(
        &self,
        host_id: &str,
        cutoff: i64,
        limit: i64,
    ) -> StoreResult<Vec<(String, String)>> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT execution_id, job_id FROM executions WHERE host_id = $1 \
                 AND state IN {} AND updated_time < $2 ORDER BY updated_time LIMIT $3",
                unfinished_states_sql()
            )
        });
        Ok(on_pool!(&self.pool, pool => {
            sqlx::query_as::<_, (String, String)>(SQL.as_str())
                .bind(host_id)
                .bind(cutoff)
                .bind(limit)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Settles unstarted executions in one transaction, before any of them runs
    /// (adopted from a dead host: `hosts.rs`): removes `removed` (fires that no longer exist, or were coalesced; only
    /// while still unstarted) and gives each of `ended` its final state.
    pub async fn settle_unstarted(
        &self,
        removed: &[String],
        ended: &[(String, FinishedRun)],
    ) -> StoreResult<()> {
        if removed.is_empty() && ended.is_empty() {
            return Ok(());
        }
        let rows: Vec<(&str, &FinishedRun)> =
            ended.iter().map(|(id, run)| (id.as_str(), run)).collect();
        on_pool!(&self.writer, writer => {
            let mut tx = writer.begin().await?;
            for execution_id in removed {
                sqlx::query(
                    "DELETE FROM executions WHERE execution_id = $1 AND state = 'scheduled' \
                     AND started_time IS NULL",
                )
                .bind(execution_id)
                .execute(&mut *tx)
                .await?;
            }
            for chunk in rows.chunks(256) {
                dialect::finish_executions(chunk, &mut tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
