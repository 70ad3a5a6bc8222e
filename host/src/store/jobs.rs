//! The jobs table and its in-memory mirror.
//!
//! Job reads are served from an in-memory mirror of the table, kept by every write
//! below after its statement succeeds: the API and the scheduler read jobs far more
//! often than they change. Definition writes are serialised by `job_writes` so the
//! mirror applies them in commit order; a claim applies the same compare-and-set to
//! the mirror as to the table, so it stays right whatever interleaves.

use super::batch::Write;
use super::dialect::{self, Pool};
use super::{JobRow, Store, StoreError, StoreResult};

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
pub(super) struct MirrorLock(std::sync::RwLock<JobMirror>);

impl MirrorLock {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, JobMirror> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, JobMirror> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the whole table into a new mirror.
    pub(super) async fn load(pool: &Pool) -> StoreResult<Self> {
        let rows = sqlx::query_as::<_, JobRow>("SELECT * FROM jobs")
            .fetch_all(pool)
            .await?;
        let mirror = JobMirror {
            rows: rows
                .into_iter()
                .map(|j| (j.job_id.clone(), Box::new(j)))
                .collect(),
            version: 0,
        };
        Ok(MirrorLock(std::sync::RwLock::new(mirror)))
    }
}

impl Store {
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
        let row = sqlx::query_as::<_, JobRow>(dialect::DELETE_JOB)
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
}
