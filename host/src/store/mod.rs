//! The store: jobs, executions and audit logs in SQL.
//!
//! The database is the truth for each job's next fire time: a fire is claimed with one
//! compare-and-set ([`Store::claim_fire`]), so each occurrence fires once however many
//! schedulers look at it. Statements use `$n` placeholders and integer times
//! (microseconds since the epoch, UTC), which SQLite and PostgreSQL read alike.
//!
//! SQLite runs in WAL mode: readers (the API) never block the writer (the scheduler).

mod batch;
mod job_codec;
mod rows;

use batch::{Batcher, Write};

pub use rows::{AuditRow, ExecutionQuery, ExecutionRow, FinishedRun, JobRow, PluginRow};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A store failure. Callers branch on [`StoreError::NotFound`]; the rest is a fault.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed at start.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The in-memory copy of the jobs table.
#[derive(Debug, Default)]
struct JobMirror {
    /// Boxed: the table keeps up to twice as many buckets as rows, and a bucket holding
    /// a whole row (~200 bytes) made the table alone ~470 MB at 1,000,000 jobs.
    rows: std::collections::HashMap<String, Box<JobRow>>,
    /// Bumped by every change.
    version: u64,
}

impl JobMirror {
    fn put(&mut self, job: JobRow) {
        self.rows.insert(job.job_id.clone(), Box::new(job));
        self.version += 1;
    }

    /// Changes a job's row in place (no copy of it), if the job exists.
    fn edit(&mut self, job_id: &str, change: impl FnOnce(&mut JobRow)) {
        if let Some(job) = self.rows.get_mut(job_id) {
            change(job);
            self.version += 1;
        }
    }

    fn remove(&mut self, job_id: &str) {
        self.rows.remove(job_id);
        self.version += 1;
    }
}

/// A `std` read-write lock that shrugs off poisoning: the mirror is only ever changed
/// by whole-row replacements and one-field updates, which cannot be left half-done.
struct MirrorLock(std::sync::RwLock<JobMirror>);

impl MirrorLock {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, JobMirror> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, JobMirror> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// A handle on the database: cheap to clone.
///
/// Reads go through a pool of connections (WAL lets them run beside the writer);
/// writes go through one connection of their own, so that concurrent writers queue in
/// this process instead of meeting SQLite's lock and sleeping in its busy handler.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    writer: SqlitePool,
    /// Every job, mirrored from the table (see the jobs section).
    jobs: Arc<MirrorLock>,
    /// Orders definition writes so the mirror applies them as the table did.
    job_writes: Arc<tokio::sync::Mutex<()>>,
    /// The hot writes (fires, executions, audit), group-committed on `writer`.
    batch: Batcher,
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and runs migrations.
    ///
    /// # Errors
    /// If the file cannot be opened or a migration fails.
    pub async fn open_sqlite(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: durable across process crashes; an OS crash may lose the
            // last transactions, never corrupt the file.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(false);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            // The one writer touches the jobs it claims (spread over the table) and the
            // executions index by job: a 32 MiB page cache instead of SQLite's 2 MiB keeps
            // those pages in the process (the profile of a busy host showed a fifth of
            // its time in pread).
            .connect_with(options.clone().pragma("cache_size", "-32768"))
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        let batch = Batcher::start(writer.clone());
        let rows = sqlx::query_as::<_, JobRow>("SELECT * FROM jobs")
            .fetch_all(&pool)
            .await?;
        let mirror = JobMirror {
            rows: rows
                .into_iter()
                .map(|j| (j.job_id.clone(), Box::new(j)))
                .collect(),
            version: 0,
        };
        Ok(Store {
            pool,
            writer,
            jobs: Arc::new(MirrorLock(std::sync::RwLock::new(mirror))),
            job_writes: Arc::default(),
            batch,
        })
    }

    // ---- jobs -------------------------------------------------------------------
    //
    // Job reads are served from an in-memory mirror of the table, kept by every write
    // below after its statement succeeds: the API and the scheduler read jobs far more
    // often than they change. Definition writes are serialised by `job_writes` so the
    // mirror applies them in commit order; a claim applies the same compare-and-set to
    // the mirror as to the table, so it stays right whatever interleaves.

    /// Inserts a new job.
    pub async fn insert_job(&self, job: &JobRow) -> StoreResult<()> {
        let _order = self.job_writes.lock().await;
        sqlx::query(
            "INSERT INTO jobs (job_id, name, job_class_string, pub_args, trigger_kind, \
             trigger_params, options, paused, next_run_time, created_time, updated_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&job.job_id)
        .bind(&job.name)
        .bind(&job.job_class_string)
        .bind(&job.pub_args)
        .bind(&job.trigger_kind)
        .bind(&job.trigger_params)
        .bind(&job.options)
        .bind(job.paused)
        .bind(job.next_run_time)
        .bind(job.created_time)
        .bind(job.updated_time)
        .execute(&self.writer)
        .await?;
        self.jobs.write().put(job.clone());
        Ok(())
    }

    /// Replaces a job's definition. With `keep_next_run_time`, the stored next run
    /// time is left as it is (so that an edit racing with a fire cannot undo the
    /// fire's claim); otherwise it becomes `job.next_run_time`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if the job does not exist.
    pub async fn update_job(&self, job: &JobRow, keep_next_run_time: bool) -> StoreResult<()> {
        let _order = self.job_writes.lock().await;
        let done = sqlx::query(
            "UPDATE jobs SET name = $2, job_class_string = $3, pub_args = $4, trigger_kind = $5, \
             trigger_params = $6, options = $7, paused = $8, \
             next_run_time = CASE WHEN $11 THEN next_run_time ELSE $9 END, updated_time = $10 \
             WHERE job_id = $1",
        )
        .bind(&job.job_id)
        .bind(&job.name)
        .bind(&job.job_class_string)
        .bind(&job.pub_args)
        .bind(&job.trigger_kind)
        .bind(&job.trigger_params)
        .bind(&job.options)
        .bind(job.paused)
        .bind(job.next_run_time)
        .bind(job.updated_time)
        .bind(keep_next_run_time)
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let mut jobs = self.jobs.write();
        let next = match (keep_next_run_time, jobs.rows.get(&job.job_id)) {
            (true, Some(current)) => current.next_run_time,
            _ => job.next_run_time,
        };
        jobs.put(JobRow {
            next_run_time: next,
            ..job.clone()
        });
        Ok(())
    }

    /// One job.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if it does not exist.
    pub async fn get_job(&self, job_id: &str) -> StoreResult<JobRow> {
        self.jobs
            .read()
            .rows
            .get(job_id)
            .map(|job| JobRow::clone(job))
            .ok_or(StoreError::NotFound)
    }

    /// The job, if a user changed it after `updated_time` (claiming a fire does not
    /// change a job's `updated_time`); `None` when it is unchanged, so that a caller
    /// holding a copy does not copy it again.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if it does not exist.
    pub fn job_if_changed(&self, job_id: &str, updated_time: i64) -> StoreResult<Option<JobRow>> {
        match self.jobs.read().rows.get(job_id) {
            None => Err(StoreError::NotFound),
            Some(job) if job.updated_time == updated_time => Ok(None),
            Some(job) => Ok(Some(JobRow::clone(job))),
        }
    }

    /// Every job, by next run time ascending, paused (no next run time) last.
    pub async fn list_jobs(&self) -> StoreResult<Vec<JobRow>> {
        let mut jobs: Vec<JobRow> = self
            .jobs
            .read()
            .rows
            .values()
            .map(|job| JobRow::clone(job))
            .collect();
        jobs.sort_by(|a, b| {
            (
                a.next_run_time.is_none(),
                a.next_run_time,
                a.created_time,
                &a.job_id,
            )
                .cmp(&(
                    b.next_run_time.is_none(),
                    b.next_run_time,
                    b.created_time,
                    &b.job_id,
                ))
        });
        Ok(jobs)
    }

    /// A number that changes whenever any job changes (definition, pause, next run
    /// time): lets readers cache what they render from the jobs.
    pub fn jobs_version(&self) -> u64 {
        self.jobs.read().version
    }

    /// `(job_id, next_run_time)` of every job that has a next run.
    pub async fn scheduled_jobs(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(self
            .jobs
            .read()
            .rows
            .values()
            .filter_map(|j| j.next_run_time.map(|n| (j.job_id.clone(), n)))
            .collect())
    }

    /// Deletes a job, returning it as it was.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if it does not exist.
    pub async fn delete_job(&self, job_id: &str) -> StoreResult<JobRow> {
        let _order = self.job_writes.lock().await;
        let row = sqlx::query_as::<_, JobRow>("DELETE FROM jobs WHERE job_id = $1 RETURNING *")
            .bind(job_id)
            .fetch_optional(&self.writer)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.jobs.write().remove(job_id);
        Ok(row)
    }

    /// Sets a job's paused flag and next run time.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if it does not exist.
    pub async fn set_paused(
        &self,
        job_id: &str,
        paused: bool,
        next_run_time: Option<i64>,
        now: i64,
    ) -> StoreResult<()> {
        let _order = self.job_writes.lock().await;
        let done = sqlx::query(
            "UPDATE jobs SET paused = $2, next_run_time = $3, updated_time = $4 WHERE job_id = $1",
        )
        .bind(job_id)
        .bind(paused)
        .bind(next_run_time)
        .bind(now)
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.jobs.write().edit(job_id, |job| {
            job.paused = paused;
            job.next_run_time = next_run_time;
            job.updated_time = now;
        });
        Ok(())
    }

    /// Claims the fire of `job_id` due at `due` by moving its next run time to `next`
    /// (NULL when the trigger has no more fires). Returns false when another scheduler
    /// (or an edit) got there first: the caller must not fire.
    pub async fn claim_fire(&self, job_id: &str, due: i64, next: Option<i64>) -> StoreResult<bool> {
        let claimed = self
            .batch
            .submit(Write::ClaimFire {
                job_id: job_id.to_owned(),
                due,
                next,
            })
            .await?
            == 1;
        if claimed {
            // The same compare-and-set on the copy.
            self.jobs.write().edit(job_id, |job| {
                if job.next_run_time == Some(due) {
                    job.next_run_time = next;
                }
            });
        }
        Ok(claimed)
    }

    // ---- executions -------------------------------------------------------------

    /// Inserts a new execution.
    pub async fn insert_execution(&self, e: &ExecutionRow) -> StoreResult<()> {
        self.batch
            .submit(Write::InsertExecution(Box::new(e.clone())))
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
        sqlx::query(
            "DELETE FROM executions WHERE execution_id = $1 AND state = 'scheduled' AND started_time IS NULL",
        )
        .bind(execution_id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// One execution, with its job if the job still exists.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if it does not exist.
    pub async fn get_execution(
        &self,
        execution_id: &str,
    ) -> StoreResult<(ExecutionRow, Option<JobRow>)> {
        let e =
            sqlx::query_as::<_, ExecutionRow>("SELECT * FROM executions WHERE execution_id = $1")
                .bind(execution_id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(StoreError::NotFound)?;
        let job = match self.get_job(&e.job_id).await {
            Ok(job) => Some(job),
            Err(StoreError::NotFound) => None,
            Err(other) => return Err(other),
        };
        Ok((e, job))
    }

    /// Executions matching `q`, newest update first (ties by id), one page.
    pub async fn list_executions(&self, q: &ExecutionQuery) -> StoreResult<Vec<ExecutionRow>> {
        let (after_time, after_id) = match &q.after {
            Some((t, id)) => (Some(*t), Some(id.as_str())),
            None => (None, None),
        };
        Ok(sqlx::query_as::<_, ExecutionRow>(
            "SELECT * FROM executions WHERE scheduled_time >= $1 AND scheduled_time <= $2 \
             AND ($3 IS NULL OR job_id = $3) AND ($4 IS NULL OR state = $4) \
             AND ($5 IS NULL OR updated_time < $5 OR (updated_time = $5 AND execution_id > $6)) \
             ORDER BY updated_time DESC, execution_id LIMIT $7",
        )
        .bind(q.start)
        .bind(q.end)
        .bind(&q.job_id)
        .bind(&q.state)
        .bind(after_time)
        .bind(after_id)
        .bind(q.limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes up to `batch` finished executions last updated before `cutoff` (µs).
    /// Returns how many.
    pub async fn delete_executions_before(&self, cutoff: i64, batch: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM executions WHERE execution_id IN (SELECT execution_id FROM executions \
             WHERE updated_time < $1 AND state NOT IN ('scheduled', 'running', 'stopping') LIMIT $2)",
        )
        .bind(cutoff)
        .bind(batch)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    /// Jobs (by id) with more than `keep` finished executions.
    pub async fn jobs_with_more_executions_than(&self, keep: i64) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar::<_, String>(
            "SELECT job_id FROM executions WHERE state NOT IN ('scheduled', 'running', 'stopping') \
             GROUP BY job_id HAVING COUNT(*) > $1",
        )
        .bind(keep)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes up to `batch` of a job's finished executions beyond its newest `keep`.
    /// Returns how many.
    pub async fn delete_executions_beyond(
        &self,
        job_id: &str,
        keep: i64,
        batch: i64,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM executions WHERE execution_id IN (SELECT execution_id FROM executions \
             WHERE job_id = $1 AND state NOT IN ('scheduled', 'running', 'stopping') \
             ORDER BY updated_time DESC, execution_id LIMIT $3 OFFSET $2)",
        )
        .bind(job_id)
        .bind(keep)
        .bind(batch)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    /// Deletes up to `batch` audit entries created before `cutoff` (µs).
    pub async fn delete_audit_before(&self, cutoff: i64, batch: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM audit_logs WHERE audit_id IN \
             (SELECT audit_id FROM audit_logs WHERE created_time < $1 LIMIT $2)",
        )
        .bind(cutoff)
        .bind(batch)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    /// Settles executions that a stopped process left unfinished: they become
    /// `failed` with `reason`. Returns how many.
    pub async fn settle_unfinished(&self, reason: &str, now: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE executions SET state = 'failed', result = $1, updated_time = $2, finished_time = $2 \
             WHERE state IN ('scheduled', 'running', 'stopping')",
        )
        .bind(reason)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    // ---- audit logs -------------------------------------------------------------

    /// Appends an audit entry.
    pub async fn insert_audit(&self, a: &AuditRow) -> StoreResult<()> {
        self.batch
            .submit(Write::InsertAudit(Box::new(a.clone())))
            .await?;
        Ok(())
    }

    /// Audit entries created in `[start, end]`, newest first.
    pub async fn list_audit(&self, start: i64, end: i64) -> StoreResult<Vec<AuditRow>> {
        Ok(sqlx::query_as::<_, AuditRow>(
            "SELECT * FROM audit_logs WHERE created_time >= $1 AND created_time <= $2 \
             ORDER BY created_time DESC, audit_id",
        )
        .bind(start)
        .bind(end)
        .fetch_all(&self.pool)
        .await?)
    }

    // ---- plugins ----------------------------------------------------------------

    /// Installs or replaces the plugin row of `p.name`.
    pub async fn upsert_plugin(&self, p: &PluginRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO plugins (name, sha256, size, world_version, classes, uploaded_time) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, \
             world_version = excluded.world_version, classes = excluded.classes, \
             uploaded_time = excluded.uploaded_time",
        )
        .bind(&p.name)
        .bind(&p.sha256)
        .bind(p.size)
        .bind(&p.world_version)
        .bind(&p.classes)
        .bind(p.uploaded_time)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// One plugin row.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if no plugin has that name.
    pub async fn get_plugin(&self, name: &str) -> StoreResult<PluginRow> {
        sqlx::query_as::<_, PluginRow>("SELECT * FROM plugins WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Every plugin row, by name.
    pub async fn list_plugins(&self) -> StoreResult<Vec<PluginRow>> {
        Ok(
            sqlx::query_as::<_, PluginRow>("SELECT * FROM plugins ORDER BY name")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Deletes a plugin row, returning it.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if no plugin has that name.
    pub async fn delete_plugin(&self, name: &str) -> StoreResult<PluginRow> {
        sqlx::query_as::<_, PluginRow>("DELETE FROM plugins WHERE name = $1 RETURNING *")
            .bind(name)
            .fetch_optional(&self.writer)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}
