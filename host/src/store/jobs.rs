//! The jobs table and its in-memory mirror.
//!
//! Job reads are served from an in-memory mirror of the table, kept by every write
//! below after its statement succeeds: the API and the scheduler read jobs far more
//! often than they change. Definition writes are serialised by `job_writes` so the
//! mirror applies them in commit order; a claim applies the same compare-and-set to
//! the mirror as to the table, so it stays right whatever interleaves.

use super::batch::Write;
use super::job_codec::{TriggerCache, job_from_row, row_from_job};
use super::{AuditRow, ExecutionRow, JOBS_CHANNEL, JobRow, Pool, Store, StoreError, StoreResult};
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
    /// The mirror's version when this host last changed the job's definition (or
    /// paused flag) here, and when it last moved its next run time: a row read from the
    /// table before then is older than the entry in that respect.
    definition_stamp: u64,
    next_stamp: u64,
}

impl Entry {
    fn snapshot(&self) -> JobSnapshot {
        JobSnapshot {
            job: self.job.clone(),
            next_run_time: self.next_run_time,
        }
    }
}

/// How a job changed when the mirror took in what the table holds (written through
/// another host): as it was in the mirror, and as it is now.
#[derive(Debug, Clone)]
pub struct JobChange {
    /// The job's id.
    pub job_id: String,
    /// `None`: it was not in the mirror (created through another host).
    pub before: Option<JobSnapshot>,
    /// `None`: it is gone from the table (deleted through another host).
    pub after: Option<JobSnapshot>,
}

impl JobChange {
    /// Whether fires prepared for the job as it was must be abandoned: it was deleted,
    /// paused, or its schedule or settings changed (as a change made on this host
    /// abandons them). A change of its next run time alone (a fire claimed elsewhere)
    /// or of its name or arguments does not.
    pub fn abandons_prepared_fires(&self) -> bool {
        match (&self.before, &self.after) {
            (Some(before), Some(after)) => {
                before.job.paused != after.job.paused
                    || before.job.schedule != after.job.schedule
                    || before.job.options() != after.job.options()
            }
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// The job's next run time now (`None`: gone, paused or finished).
    pub fn next_run_time(&self) -> Option<i64> {
        self.after.as_ref().and_then(|s| s.next_run_time)
    }
}

/// The in-memory copy of the jobs table.
#[derive(Debug, Default)]
struct JobMirror {
    jobs: HashMap<String, Entry>,
    /// Bumped by every change.
    version: u64,
    /// Jobs this host deleted, with the version of their deletion: a row read from the
    /// table before then must not bring them back. Kept until a full resync that
    /// started after the deletion.
    deleted: HashMap<String, u64>,
}

impl JobMirror {
    fn put(&mut self, job: Arc<Job>, next_run_time: Option<i64>) {
        self.version += 1;
        let stamp = self.version;
        self.deleted.remove(&job.id);
        self.jobs.insert(
            job.id.clone(),
            Entry {
                job,
                next_run_time,
                definition_stamp: stamp,
                next_stamp: stamp,
            },
        );
    }

    /// Changes a job's entry in place, if the job exists: its definition with
    /// `definition`, its next run time in any case.
    fn edit(&mut self, job_id: &str, definition: bool, change: impl FnOnce(&mut Entry)) {
        if let Some(entry) = self.jobs.get_mut(job_id) {
            self.version += 1;
            change(entry);
            entry.next_stamp = self.version;
            if definition {
                entry.definition_stamp = self.version;
            }
        }
    }

    fn remove(&mut self, job_id: &str) -> Option<Entry> {
        self.version += 1;
        self.deleted.insert(job_id.to_owned(), self.version);
        self.jobs.remove(job_id)
    }

    /// Takes in a job's row as the table held it when a read that started at mirror
    /// version `read_from` saw it (`None`: the job was not there), keeping what this
    /// host changed since that read began. Returns how the job changed, if it did.
    fn apply_row(
        &mut self,
        job_id: &str,
        row: Option<JobRow>,
        read_from: u64,
        triggers: &mut TriggerCache,
    ) -> Option<JobChange> {
        let before = self.jobs.get(job_id).map(Entry::snapshot);
        match (row, self.jobs.get_mut(job_id)) {
            (None, None) => return None,
            (None, Some(entry)) => {
                if entry.definition_stamp > read_from {
                    // Created (or changed) here after the read began.
                    return None;
                }
                self.version += 1;
                self.jobs.remove(job_id);
            }
            (Some(row), None) => {
                if self.deleted.get(job_id).is_some_and(|at| *at > read_from) {
                    // Deleted here after the read began.
                    return None;
                }
                let next_run_time = row.next_run_time;
                let job = Arc::new(job_from_row(row, triggers));
                self.put(job, next_run_time);
            }
            (Some(row), Some(entry)) => {
                let definition_changed = entry.definition_stamp <= read_from
                    && (entry.job.updated_time != row.updated_time
                        || entry.job.paused != row.paused);
                let next_changed =
                    entry.next_stamp <= read_from && entry.next_run_time != row.next_run_time;
                if !definition_changed && !next_changed {
                    return None;
                }
                self.version += 1;
                if next_changed {
                    entry.next_run_time = row.next_run_time;
                    entry.next_stamp = self.version;
                }
                if definition_changed {
                    entry.job = Arc::new(job_from_row(row, triggers));
                    entry.definition_stamp = self.version;
                }
            }
        }
        Some(JobChange {
            job_id: job_id.to_owned(),
            before,
            after: self.jobs.get(job_id).map(Entry::snapshot),
        })
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
            ..JobMirror::default()
        };
        let mut triggers = TriggerCache::default();
        for row in rows {
            let next_run_time = row.next_run_time;
            let job = Arc::new(job_from_row(row, &mut triggers));
            mirror.jobs.insert(
                job.id.clone(),
                Entry {
                    job,
                    next_run_time,
                    definition_stamp: 0,
                    next_stamp: 0,
                },
            );
        }
        Ok(MirrorLock(std::sync::RwLock::new(mirror)))
    }
}

/// Jobs read by one statement of [`Store::refresh_jobs`].
const REFRESH_CHUNK: usize = 500;

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
        self.guarded(async { on_pool!(&self.writer, writer => {
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
            dialect::notify(&mut tx, JOBS_CHANNEL, &job.id).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })})
        .await?;
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
        // The stored next run time comes back: with `keep_next_run_time` it may have
        // been moved by a fire claimed on another host, which this mirror has not seen.
        let stored_next: Option<i64> = self
            .guarded(async {
                on_pool!(&self.writer, writer => {
                    let mut tx = writer.begin().await?;
                    let updated = bind_job(
                        sqlx::query(
                            "UPDATE jobs SET name = $2, job_class_string = $3, pub_args = $4, \
                             trigger_kind = $5, trigger_params = $6, options = $7, paused = $8, \
                             next_run_time = CASE WHEN $11 THEN next_run_time ELSE $9 END, \
                             updated_time = $10 WHERE job_id = $1 RETURNING next_run_time",
                        ),
                        &row,
                    )
                    .bind(row.updated_time)
                    .bind(keep_next_run_time)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                    let stored: Option<i64> = sqlx::Row::try_get(&updated, 0)?;
                    dialect::notify(&mut tx, JOBS_CHANNEL, &job.id).await?;
                    tx.commit().await?;
                    Ok::<_, StoreError>(stored)
                })
            })
            .await?;
        self.jobs.write().put(job.clone(), stored_next);
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
        let row = self.guarded(async { on_pool!(&self.writer, writer => {
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
            dialect::notify(&mut tx, JOBS_CHANNEL, job_id).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(row)
        })})
        .await?;
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
        self.guarded(async {
            on_pool!(&self.writer, writer => {
                let mut tx = writer.begin().await?;
                let updated = sqlx::query(
                    "UPDATE jobs SET paused = $2, next_run_time = $3, updated_time = $4 \
                     WHERE job_id = $1",
                )
                .bind(job_id)
                .bind(paused)
                .bind(next_run_time)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated == 0 {
                    return Err(StoreError::NotFound);
                }
                dialect::notify(&mut tx, JOBS_CHANNEL, job_id).await?;
                tx.commit().await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
        self.jobs.write().edit(job_id, true, |entry| {
            // A pause is rare: copying the job (if a fire holds it) is fine here.
            let job = Arc::make_mut(&mut entry.job);
            job.paused = paused;
            job.updated_time = now;
            entry.next_run_time = next_run_time;
        });
        Ok(())
    }

    /// Reads a job's next run time from the table into the mirror, and returns it:
    /// another host's claim moves it in the table only.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if the job is not in the table.
    pub async fn sync_next_run_time(&self, job_id: &str) -> StoreResult<Option<i64>> {
        // Grouped with the other checks of the moment: one statement for all of them.
        let next = self
            .next_runs
            .read(job_id.to_owned())
            .await?
            .ok_or(StoreError::NotFound)?;
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
                .edit(job_id, false, |entry| entry.next_run_time = next);
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
            self.jobs.write().edit(job_id, false, |entry| {
                if entry.next_run_time == Some(due) {
                    entry.next_run_time = next;
                }
            });
        } else if let Err(e) = self.refresh_job(job_id).await {
            // Lost to another host (or an edit): the copy learns where the job is now,
            // so that the caller does not queue the lost occurrence again.
            tracing::warn!(job_id, "re-reading a job whose claim was lost failed: {e}");
        }
        Ok(claimed)
    }

    /// Takes in a job as the table holds it now (after another host wrote it): the
    /// mirror follows, keeping what this host changed meanwhile. Returns how the job
    /// changed, if it did.
    pub async fn refresh_job(&self, job_id: &str) -> StoreResult<Option<JobChange>> {
        Ok(self.refresh_jobs(&[job_id.to_owned()]).await?.pop())
    }

    /// [`Store::refresh_job`] for many jobs, read in a few statements; returns the jobs
    /// that changed.
    pub async fn refresh_jobs(&self, job_ids: &[String]) -> StoreResult<Vec<JobChange>> {
        let mut changes = Vec::new();
        let mut triggers = TriggerCache::default();
        for chunk in job_ids.chunks(REFRESH_CHUNK) {
            let read_from = self.jobs.read().version;
            let rows = on_pool!(&self.pool, pool => {
                let mut query =
                    sqlx::QueryBuilder::<dialect::Db>::new("SELECT * FROM jobs WHERE job_id IN (");
                let mut ids = query.separated(", ");
                for id in chunk {
                    ids.push_bind(id);
                }
                query.push(")");
                query.build_query_as::<JobRow>().fetch_all(pool).await
            });
            let rows = rows.map_err(|e| {
                let e = StoreError::from(e);
                self.observe(&e);
                e
            })?;
            let mut rows: HashMap<String, JobRow> =
                rows.into_iter().map(|r| (r.job_id.clone(), r)).collect();
            let mut mirror = self.jobs.write();
            for id in chunk {
                changes.extend(mirror.apply_row(id, rows.remove(id), read_from, &mut triggers));
            }
        }
        Ok(changes)
    }

    /// Takes in the whole table (the safety net for changes whose notification was
    /// missed, a deletion included); returns the jobs that changed. Only the columns
    /// that tell a change are read for every job; whole rows only for those that
    /// changed.
    pub async fn resync_jobs(&self) -> StoreResult<Vec<JobChange>> {
        let read_from = self.jobs.read().version;
        let rows = on_pool!(&self.pool, pool => {
            sqlx::query_as::<_, (String, i64, bool, Option<i64>)>(
                "SELECT job_id, updated_time, paused, next_run_time FROM jobs",
            )
            .fetch_all(pool)
            .await
        });
        let rows = rows.map_err(|e| {
            let e = StoreError::from(e);
            self.observe(&e);
            e
        })?;
        let (stale, gone) = {
            let mirror = self.jobs.read();
            let mut seen = std::collections::HashSet::with_capacity(rows.len());
            let mut stale = Vec::new();
            for (job_id, updated_time, paused, next_run_time) in rows {
                let differs = mirror.jobs.get(&job_id).is_none_or(|entry| {
                    entry.job.updated_time != updated_time
                        || entry.job.paused != paused
                        || entry.next_run_time != next_run_time
                });
                if differs {
                    stale.push(job_id.clone());
                }
                seen.insert(job_id);
            }
            let gone: Vec<String> = mirror
                .jobs
                .keys()
                .filter(|id| !seen.contains(*id))
                .cloned()
                .collect();
            (stale, gone)
        };
        let mut changes = self.refresh_jobs(&stale).await?;
        let mut mirror = self.jobs.write();
        for job_id in gone {
            changes.extend(mirror.apply_row(
                &job_id,
                None,
                read_from,
                &mut TriggerCache::default(),
            ));
        }
        // Deletions older than this read are in the table now: no later read can
        // bring them back.
        mirror.deleted.retain(|_, at| *at > read_from);
        Ok(changes)
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

    /// A mirror holding `interval_job("j", "j")` as loaded at start.
    fn mirror_with_j() -> JobMirror {
        let mut mirror = JobMirror::default();
        let job = Arc::new(job_from_row(
            interval_job("j", "j"),
            &mut TriggerCache::default(),
        ));
        mirror.put(job, Some(1_000));
        mirror
    }

    /// The mirror takes in what other hosts wrote (a new job, an edit, a claim, a
    /// deletion), and only that: a row read before this host changed the job does not
    /// undo the change.
    #[test]
    fn the_mirror_takes_in_other_hosts_writes_but_not_stale_reads() {
        let triggers = &mut TriggerCache::default();
        let mut mirror = mirror_with_j();
        // Unchanged: nothing to do.
        let read_from = mirror.version;
        assert!(
            mirror
                .apply_row("j", Some(interval_job("j", "j")), read_from, triggers)
                .is_none()
        );
        // Edited and claimed elsewhere: both taken in; the edit abandons no fire (same
        // schedule), a pause would.
        let mut edited = interval_job("j", "renamed");
        edited.updated_time = 5;
        edited.next_run_time = Some(2_000);
        let change = mirror
            .apply_row("j", Some(edited.clone()), read_from, triggers)
            .unwrap();
        assert_eq!(change.after.as_ref().unwrap().job.name, "renamed");
        assert_eq!(change.next_run_time(), Some(2_000));
        assert!(!change.abandons_prepared_fires());
        let mut paused = edited.clone();
        (paused.paused, paused.updated_time, paused.next_run_time) = (true, 6, None);
        let change = mirror
            .apply_row("j", Some(paused), mirror.version, triggers)
            .unwrap();
        assert!(change.abandons_prepared_fires());
        assert_eq!(change.next_run_time(), None);

        // A claim here after the read began: the read's next run time is older.
        let mut mirror = mirror_with_j();
        let read_from = mirror.version;
        mirror.edit("j", false, |e| e.next_run_time = Some(3_000));
        let mut stale = interval_job("j", "renamed");
        stale.updated_time = 5;
        let change = mirror
            .apply_row("j", Some(stale), read_from, triggers)
            .unwrap();
        let after = change.after.unwrap();
        assert_eq!(
            (after.job.name.as_str(), after.next_run_time),
            ("renamed", Some(3_000))
        );

        // Deleted here after the read began: the read does not bring it back; deleted
        // elsewhere: it goes.
        let mut mirror = mirror_with_j();
        let read_from = mirror.version;
        mirror.remove("j");
        assert!(
            mirror
                .apply_row("j", Some(interval_job("j", "j")), read_from, triggers)
                .is_none()
        );
        assert!(!mirror.jobs.contains_key("j"));
        let mut mirror = mirror_with_j();
        let change = mirror
            .apply_row("j", None, mirror.version, triggers)
            .unwrap();
        assert!(change.after.is_none() && change.abandons_prepared_fires());
        // Created elsewhere: it comes, without abandoning anything.
        let change = mirror
            .apply_row("k", Some(interval_job("k", "k")), mirror.version, triggers)
            .unwrap();
        assert!(change.before.is_none() && !change.abandons_prepared_fires());
        assert_eq!(change.next_run_time(), Some(1_000));
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

    /// A run-now's execution and its audit entry are written together or not at all,
    /// also when the group commit carries other executions beside them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_execution_and_its_audit_entry_commit_together() {
        let dir = tempfile::tempdir().unwrap();
        let (store, database) = test_store(&dir).await;
        let job = job_from_row(interval_job("j", "j"), &mut TriggerCache::default());
        store.add_job(&job, Some(1_000), &audit(0)).await.unwrap();
        let audited = |i: usize| AuditRow {
            event: "custom_run".into(),
            description: Some(format!("{i:032x}")),
            ..audit(i)
        };
        let (one, its_entry, two) = (execution(1, "j"), audited(1), execution(2, "j"));
        let (first, plain) = tokio::join!(
            store.insert_execution_audited(&one, Some(&its_entry)),
            store.insert_execution(&two),
        );
        first.unwrap();
        plain.unwrap();
        // The execution's id is taken: neither it nor its entry is written.
        assert!(
            store
                .insert_execution_audited(&execution(1, "j"), Some(&audited(3)))
                .await
                .is_err()
        );
        let runs: Vec<Option<String>> = store
            .list_audit(i64::MIN, i64::MAX)
            .await
            .unwrap()
            .into_iter()
            .filter(|a| a.event == "custom_run")
            .map(|a| a.description)
            .collect();
        assert_eq!(runs, vec![Some(format!("{:032x}", 1))]);
        drop_test_store(store, database).await;
    }

    /// On PostgreSQL a claim never waits for a job row that another transaction holds
    /// (another host's claim of the same occurrence not yet committed): it loses at
    /// once, and wins once that transaction has rolled back. Waiting let two hosts'
    /// group commits deadlock under load.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_claim_skips_a_row_another_transaction_holds() {
        let dir = tempfile::tempdir().unwrap();
        let (store, database) = test_store(&dir).await;
        let Pool::Postgres(pool) = store.pool.clone() else {
            // One process owns an SQLite file: no other transaction can hold a row.
            return drop_test_store(store, database).await;
        };
        let job = job_from_row(interval_job("j", "j"), &mut TriggerCache::default());
        store.add_job(&job, Some(1_000), &audit(0)).await.unwrap();
        let mut other = pool.begin().await.unwrap();
        sqlx::query("SELECT job_id FROM jobs WHERE job_id = 'j' FOR UPDATE")
            .execute(&mut *other)
            .await
            .unwrap();
        let claim = store.claim_fire("j", 1_000, Some(2_000), vec![execution(1, "j")]);
        let won = tokio::time::timeout(std::time::Duration::from_secs(30), claim)
            .await
            .expect("the claim waited for the other transaction's row lock")
            .unwrap();
        assert!(!won, "a claim of a held row won");
        assert!(store.get_execution(&format!("{:032x}", 1)).await.is_err());
        other.rollback().await.unwrap();
        assert!(
            store
                .claim_fire("j", 1_000, Some(2_000), vec![execution(2, "j")])
                .await
                .unwrap()
        );
        assert_eq!(store.job("j").await.unwrap().next_run_time, Some(2_000));
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
