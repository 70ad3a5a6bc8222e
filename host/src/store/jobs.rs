//! The jobs table and its in-memory mirror.
//!
//! Job reads are served from an in-memory mirror of the table, kept by every write
//! below after its statement succeeds: the API and the scheduler read jobs far more
//! often than they change. Definition writes are serialised by `job_writes` so the
//! mirror applies them in commit order; a claim applies the same compare-and-set to
//! the mirror as to the table, so it stays right whatever interleaves.

use super::batch::Write;
use super::job_codec::{TriggerCache, job_from_row, row_from_job};
use super::{AuditRow, ExecutionRow, JobRow, Pool, Store, StoreError, StoreResult};
use crate::job::{Job, JobSnapshot};
use std::collections::HashMap;
use std::sync::Arc;

/// One job in the mirror: parsed once, when it is loaded or written, so that a fire
/// decodes nothing; its next run time beside it, since every fire moves it (and a
/// fire in flight holding the job must not make the claim copy it).
#[derive(Debug)]
struct Entry {
    job: Arc<Job>,
    next_run_time: Option<i64>,
}

impl Entry {
    fn snapshot(&self) -> JobSnapshot {
        JobSnapshot {
            job: self.job.clone(),
            next_run_time: self.next_run_time,
        }
    }
}

/// The in-memory copy of the jobs table.
#[derive(Debug, Default)]
struct JobMirror {
    jobs: HashMap<String, Entry>,
    /// Bumped by every change.
    version: u64,
}

impl JobMirror {
    fn put(&mut self, job: Arc<Job>, next_run_time: Option<i64>) {
        self.jobs
            .insert(job.id.clone(), Entry { job, next_run_time });
        self.version += 1;
    }

    /// Changes a job's entry in place, if the job exists.
    fn edit(&mut self, job_id: &str, change: impl FnOnce(&mut Entry)) {
        if let Some(entry) = self.jobs.get_mut(job_id) {
            change(entry);
            self.version += 1;
        }
    }

    fn remove(&mut self, job_id: &str) -> Option<Entry> {
        self.version += 1;
        self.jobs.remove(job_id)
    }
}

/// A `std` read-write lock that shrugs off poisoning: the mirror is only ever changed
/// by whole-entry replacements and one-field updates, which cannot be left half-done.
pub(super) struct MirrorLock(std::sync::RwLock<JobMirror>);

impl MirrorLock {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, JobMirror> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, JobMirror> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the whole table into a new mirror, parsing every job.
    pub(super) async fn load(pool: &Pool) -> StoreResult<Self> {
        let rows = on_pool!(pool, pool => {
            sqlx::query_as::<_, JobRow>("SELECT * FROM jobs")
                .fetch_all(pool)
                .await?
        });
        let mut mirror = JobMirror {
            jobs: HashMap::with_capacity(rows.len()),
            version: 0,
        };
        let mut triggers = TriggerCache::default();
        for row in rows {
            let next_run_time = row.next_run_time;
            let job = Arc::new(job_from_row(row, &mut triggers));
            mirror
                .jobs
                .insert(job.id.clone(), Entry { job, next_run_time });
        }
        Ok(MirrorLock(std::sync::RwLock::new(mirror)))
    }
}

/// A statement of the jobs table on backend `DB`, with its arguments.
type JobQuery<'q, DB> = sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>;

/// Binds a job row's definition and next run time: `$1` to `$9` of both the insert and
/// the update of a job.
fn bind_job<'q, DB>(query: JobQuery<'q, DB>, row: &'q JobRow) -> JobQuery<'q, DB>
where
    DB: sqlx::Database,
    &'q String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(&row.job_id)
        .bind(&row.name)
        .bind(&row.job_class_string)
        .bind(&row.pub_args)
        .bind(&row.trigger_kind)
        .bind(&row.trigger_params)
        .bind(&row.options)
        .bind(row.paused)
        .bind(row.next_run_time)
}

impl Store {
    /// Inserts a new job and its audit entry, in one transaction: both or neither.
    pub async fn add_job(&self, job: &Job, next: Option<i64>, audit: &AuditRow) -> StoreResult<()> {
        let _order = self.job_writes.lock().await;
        let row = row_from_job(job, next);
        on_pool!(&self.writer, writer => {
            let mut tx = writer.begin().await?;
            bind_job(
                sqlx::query(
                    "INSERT INTO jobs (job_id, name, job_class_string, pub_args, trigger_kind, \
                     trigger_params, options, paused, next_run_time, created_time, updated_time) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                ),
                &row,
            )
            .bind(row.created_time)
            .bind(row.updated_time)
            .execute(&mut *tx)
            .await?;
            dialect::insert_audit(&mut tx, audit).await?;
            tx.commit().await?;
        });
        self.jobs.write().put(Arc::new(job.clone()), next);
        Ok(())
    }

    /// Replaces a job's definition. With `keep_next_run_time`, the stored next run
    /// time is left as it is (so that an edit racing with a fire cannot undo the
    /// fire's claim); otherwise it becomes `next`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if the job does not exist.
    pub async fn replace_job(
        &self,
        job: &Arc<Job>,
        next: Option<i64>,
        keep_next_run_time: bool,
    ) -> StoreResult<()> {
        let _order = self.job_writes.lock().await;
        let row = row_from_job(job, next);
        let updated = on_pool!(&self.writer, writer => {
            bind_job(
                sqlx::query(
                    "UPDATE jobs SET name = $2, job_class_string = $3, pub_args = $4, \
                     trigger_kind = $5, trigger_params = $6, options = $7, paused = $8, \
                     next_run_time = CASE WHEN $11 THEN next_run_time ELSE $9 END, \
                     updated_time = $10 WHERE job_id = $1",
                ),
                &row,
            )
            .bind(row.updated_time)
            .bind(keep_next_run_time)
            .execute(writer)
            .await?
            .rows_affected()
        });
        if updated == 0 {
            return Err(StoreError::NotFound);
        }
        let mut jobs = self.jobs.write();
        let next = match (keep_next_run_time, jobs.jobs.get(&job.id)) {
            (true, Some(current)) => current.next_run_time,
            _ => next,
        };
        jobs.put(job.clone(), next);
        Ok(())
    }

    /// One job and its next run time.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if it does not exist.
    pub async fn job(&self, job_id: &str) -> StoreResult<JobSnapshot> {
        self.jobs
            .read()
            .jobs
            .get(job_id)
            .map(Entry::snapshot)
            .ok_or(StoreError::NotFound)
    }

    /// The job, if a user changed it after `updated_time` (claiming a fire does not
    /// change a job's `updated_time`); `None` when it is unchanged.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if it does not exist.
    pub fn changed_job(&self, job_id: &str, updated_time: i64) -> StoreResult<Option<Arc<Job>>> {
        match self.jobs.read().jobs.get(job_id) {
            None => Err(StoreError::NotFound),
            Some(entry) if entry.job.updated_time == updated_time => Ok(None),
            Some(entry) => Ok(Some(entry.job.clone())),
        }
    }

    /// Every job, by next run time ascending, paused (no next run time) last.
    pub async fn jobs(&self) -> StoreResult<Vec<JobSnapshot>> {
        let mut jobs: Vec<JobSnapshot> = self
            .jobs
            .read()
            .jobs
            .values()
            .map(Entry::snapshot)
            .collect();
        jobs.sort_by(|a, b| {
            (
                a.next_run_time.is_none(),
                a.next_run_time,
                a.job.created_time,
                &a.job.id,
            )
                .cmp(&(
                    b.next_run_time.is_none(),
                    b.next_run_time,
                    b.job.created_time,
                    &b.job.id,
                ))
        });
        Ok(jobs)
    }

    /// How many jobs are in each [`JobSnapshot::state`]: `active`, `paused`, `finished`.
    pub fn jobs_by_state(&self) -> [(&'static str, usize); 3] {
        let mut counts = [("active", 0), ("paused", 0), ("finished", 0)];
        for entry in self.jobs.read().jobs.values() {
            let state = entry.snapshot().state();
            if let Some((_, count)) = counts.iter_mut().find(|(s, _)| *s == state) {
                *count += 1;
            }
        }
        counts
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
            .jobs
            .iter()
            .filter_map(|(id, e)| e.next_run_time.map(|n| (id.clone(), n)))
            .collect())
    }

    /// Deletes a job, returning it as it was.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if it does not exist.
    pub async fn remove_job(&self, job_id: &str) -> StoreResult<JobSnapshot> {
        let _order = self.job_writes.lock().await;
        let row = on_pool!(&self.writer, writer => {
            let mut tx = writer.begin().await?;
            let row = sqlx::query_as::<_, JobRow>("DELETE FROM jobs WHERE job_id = $1 RETURNING *")
                .bind(job_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            // The job's state goes with it.
            sqlx::query("DELETE FROM job_state WHERE job_id = $1")
                .bind(job_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            row
        });
        let removed = self.jobs.write().remove(job_id);
        Ok(match removed {
            Some(entry) => entry.snapshot(),
            None => JobSnapshot {
                next_run_time: row.next_run_time,
                job: Arc::new(job_from_row(row, &mut TriggerCache::default())),
            },
        })
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
        let updated = on_pool!(&self.writer, writer => {
            sqlx::query(
                "UPDATE jobs SET paused = $2, next_run_time = $3, updated_time = $4 \
                 WHERE job_id = $1",
            )
            .bind(job_id)
            .bind(paused)
            .bind(next_run_time)
            .bind(now)
            .execute(writer)
            .await?
            .rows_affected()
        });
        if updated == 0 {
            return Err(StoreError::NotFound);
        }
        self.jobs.write().edit(job_id, |entry| {
            // A pause is rare: copying the job (if a fire holds it) is fine here.
            let job = Arc::make_mut(&mut entry.job);
            job.paused = paused;
            job.updated_time = now;
            entry.next_run_time = next_run_time;
        });
        Ok(())
    }

    /// Reads these jobs from the table into the mirror, and takes those the table no
    /// longer has out of it: another host may have added, changed or deleted them.
    /// Returns each job's next run time (`None` for one gone, or without a next fire).
    pub async fn refresh_jobs(&self, job_ids: &[&str]) -> StoreResult<Vec<(String, Option<i64>)>> {
        // In order with this host's own definition writes, as they apply to the mirror.
        let _order = self.job_writes.lock().await;
        let mut rows = Vec::with_capacity(job_ids.len());
        for chunk in job_ids.chunks(256) {
            on_pool!(&self.pool, pool => {
                let mut qb =
                    sqlx::QueryBuilder::<dialect::Db>::new("SELECT * FROM jobs WHERE job_id IN (");
                let mut ids = qb.separated(", ");
                for id in chunk {
                    ids.push_bind(*id);
                }
                qb.push(")");
                rows.extend(qb.build_query_as::<JobRow>().fetch_all(pool).await?);
            });
        }
        let mut triggers = TriggerCache::default();
        let found: HashMap<String, Option<i64>> = rows
            .iter()
            .map(|row| (row.job_id.clone(), row.next_run_time))
            .collect();
        let mut mirror = self.jobs.write();
        for row in rows {
            let next_run_time = row.next_run_time;
            mirror.put(Arc::new(job_from_row(row, &mut triggers)), next_run_time);
        }
        Ok(job_ids
            .iter()
            .map(|id| {
                let next = match found.get(*id) {
                    Some(next) => *next,
                    None => {
                        mirror.remove(id);
                        None
                    }
                };
                ((*id).to_owned(), next)
            })
            .collect())
    }

    /// Reads a job's next run time from the table into the mirror, and returns it:
    /// another host's claim moves it in the table only.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if the job is not in the table.
    pub async fn sync_next_run_time(&self, job_id: &str) -> StoreResult<Option<i64>> {
        let stored: Option<Option<i64>> = on_pool!(&self.pool, pool => {
            sqlx::query_scalar("SELECT next_run_time FROM jobs WHERE job_id = $1")
                .bind(job_id)
                .fetch_optional(pool)
                .await?
        });
        let next = stored.ok_or(StoreError::NotFound)?;
        // Most reads find the mirror right: only a change bumps its version (and so
        // the cached job list).
        let stale = self
            .jobs
            .read()
            .jobs
            .get(job_id)
            .is_some_and(|entry| entry.next_run_time != next);
        if stale {
            self.jobs
                .write()
                .edit(job_id, |entry| entry.next_run_time = next);
        }
        Ok(next)
    }

    /// Claims the fire of `job_id` due at `due` by moving its next run time to `next`
    /// (NULL when the trigger has no more fires), and inserts the fire's `executions`
    /// in the same transaction: a claim never commits without them, so a crash cannot
    /// leave a claimed occurrence without its rows. Returns false when another
    /// scheduler (or an edit) got there first: nothing was written, and the caller must
    /// not fire.
    pub async fn claim_fire(
        &self,
        job_id: &str,
        due: i64,
        next: Option<i64>,
        executions: Vec<ExecutionRow>,
    ) -> StoreResult<bool> {
        let claimed = self
            .batch
            .submit(Write::ClaimFire {
                job_id: job_id.to_owned(),
                due,
                next,
                executions,
            })
            .await?
            == 1;
        if claimed {
            // The same compare-and-set on the copy.
            self.jobs.write().edit(job_id, |entry| {
                if entry.next_run_time == Some(due) {
                    entry.next_run_time = next;
                }
            });
        }
        Ok(claimed)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::store::Database;

    fn audit(i: usize) -> AuditRow {
        AuditRow {
            audit_id: format!("{i:032x}"),
            job_id: format!("{i:032x}"),
            job_name: format!("job {i}"),
            event: "added".into(),
            user_name: String::new(),
            created_time: 0,
            description: None,
        }
    }

    pub(in crate::store) fn execution(i: usize, job_id: &str) -> ExecutionRow {
        ExecutionRow {
            execution_id: format!("{i:032x}"),
            job_id: job_id.to_owned(),
            state: "scheduled".into(),
            hostname: "h".into(),
            pid: None,
            description: None,
            result: None,
            scheduled_time: 1_000,
            updated_time: 0,
            run_kind: "scheduled".into(),
            attempt: 1,
            retry_of: None,
            started_time: None,
            finished_time: None,
            plugin_sha256: None,
            logs: None,
            stdout: None,
            stderr: None,
            peak_memory_bytes: None,
            fuel_consumed: None,
            http_requests: None,
            host_id: None,
            result_chars: None,
        }
    }

    /// A stored every-second interval job due at 1,000 µs.
    fn interval_job(job_id: &str, name: &str) -> JobRow {
        JobRow {
            job_id: job_id.into(),
            name: name.into(),
            job_class_string: "a.B".into(),
            pub_args: "[]".into(),
            trigger_kind: "interval".into(),
            trigger_params: r#"{"interval":1}"#.into(),
            options: "{}".into(),
            paused: false,
            next_run_time: Some(1_000),
            created_time: 0,
            updated_time: 0,
        }
    }

    /// The PostgreSQL server the tests use, when `WASMCRON_TEST_BACKEND=postgres`:
    /// `WASMCRON_TEST_DATABASE_URL`, else 127.0.0.1:5432.
    fn test_postgres() -> Option<String> {
        (std::env::var("WASMCRON_TEST_BACKEND").as_deref() == Ok("postgres")).then(|| {
            std::env::var("WASMCRON_TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
        })
    }

    /// Runs one statement on the test PostgreSQL's administration database.
    async fn administer(admin: &str, statement: String) {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .unwrap();
    }

    /// A store on the backend the tests run on: SQLite in `dir`, or with
    /// `WASMCRON_TEST_BACKEND=postgres` a new database (its name returned, for
    /// [`drop_test_store`]).
    pub(in crate::store) async fn test_store(dir: &tempfile::TempDir) -> (Store, Option<String>) {
        let Some(admin) = test_postgres() else {
            let store = Store::open_sqlite(&dir.path().join("claims.db"))
                .await
                .unwrap();
            return (store, None);
        };
        let name = format!("wasmcron_unit_{}", uuid::Uuid::new_v4().simple());
        administer(&admin, format!("CREATE DATABASE {name}")).await;
        let server = admin.rsplit_once('/').map_or(admin.as_str(), |(s, _)| s);
        let store = Store::open(&Database::Postgres(format!("{server}/{name}")))
            .await
            .unwrap();
        (store, Some(name))
    }

    /// Closes a store of [`test_store`] and drops its PostgreSQL database.
    pub(in crate::store) async fn drop_test_store(store: Store, database: Option<String>) {
        store.close().await;
        if let (Some(admin), Some(name)) = (test_postgres(), database) {
            administer(&admin, format!("DROP DATABASE {name} WITH (FORCE)")).await;
        }
    }

    /// A claim writes its executions with it: of concurrent claims of one occurrence,
    /// each carrying its own row, exactly the winner's row exists; a claim whose rows
    /// cannot be inserted is undone with them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_claim_writes_its_executions_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (store, database) = test_store(&dir).await;
        let job = job_from_row(interval_job("j", "j"), &mut TriggerCache::default());
        store.add_job(&job, Some(1_000), &audit(0)).await.unwrap();
        let claims: Vec<_> = (0..20)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let won = store
                        .claim_fire("j", 1_000, Some(2_000), vec![execution(i, "j")])
                        .await
                        .unwrap();
                    (i, won)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for h in claims {
            let (i, won) = h.await.unwrap();
            let stored = store.get_execution(&format!("{i:032x}")).await;
            assert_eq!(won, stored.is_ok(), "claim {i}: won {won}, row {stored:?}");
            if won {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "{winners:?}");
        // A row that cannot be inserted (its id is taken) undoes its claim.
        let taken = execution(winners[0], "j");
        assert!(
            store
                .claim_fire("j", 2_000, Some(3_000), vec![taken])
                .await
                .is_err()
        );
        assert_eq!(store.job("j").await.unwrap().next_run_time, Some(2_000));
        assert!(
            store
                .claim_fire("j", 2_000, Some(3_000), vec![execution(99, "j")])
                .await
                .unwrap()
        );
        assert_eq!(store.job("j").await.unwrap().next_run_time, Some(3_000));
        drop_test_store(store, database).await;
    }

    /// The store's claim is a compare-and-set, also when claims are batched together:
    /// of many concurrent claims of one occurrence exactly one wins, and concurrent claims
    /// of different jobs all win.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_claims_fire_each_occurrence_once() {
        let dir = tempfile::tempdir().unwrap();
        let (store, database) = test_store(&dir).await;
        let job = |i: usize| interval_job(&format!("{i:032x}"), &format!("job {i}"));
        for i in 0..100 {
            store
                .add_job(
                    &job_from_row(job(i), &mut TriggerCache::default()),
                    Some(1_000),
                    &audit(i),
                )
                .await
                .unwrap();
        }
        let same: Vec<_> = (0..20)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .claim_fire(&format!("{:032x}", 0), 1_000, Some(2_000), Vec::new())
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut wins = 0;
        for h in same {
            wins += usize::from(h.await.unwrap());
        }
        assert_eq!(wins, 1, "one occurrence claimed {wins} times");
        let different: Vec<_> = (1..100)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .claim_fire(&format!("{i:032x}"), 1_000, None, Vec::new())
                        .await
                        .unwrap()
                })
            })
            .collect();
        for h in different {
            assert!(h.await.unwrap());
        }
        assert_eq!(
            store
                .job(&format!("{:032x}", 0))
                .await
                .unwrap()
                .next_run_time,
            Some(2_000)
        );
        assert_eq!(
            store
                .job(&format!("{:032x}", 5))
                .await
                .unwrap()
                .next_run_time,
            None
        );
        // A stale claim (the occurrence moved on) loses.
        assert!(
            !store
                .claim_fire(&format!("{:032x}", 0), 1_000, Some(3_000), Vec::new())
                .await
                .unwrap()
        );
        drop_test_store(store, database).await;
    }
}
