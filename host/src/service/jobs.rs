//! Job use-cases: add, change, read, pause, resume, delete, run now, next fire times.

use super::{AuditEvent, Service, ServiceError, ServiceResult, or_not_found};
use crate::job::{Job, JobSnapshot, JobSpec, Schedule, job_json};
use crate::time::{from_micros, now_micros};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use std::sync::Arc;

/// A job's next fire times.
#[derive(Debug, Clone)]
pub struct NextRuns {
    /// The job.
    pub job_id: String,
    /// Its zone, for showing local times.
    pub timezone: Tz,
    /// The fire times, earliest first.
    pub times: Vec<DateTime<Utc>>,
}

impl Service {
    /// Checks what the job's text alone cannot: that its class is installed, and that
    /// its `pub_args` match the class's arguments schema if it has one.
    async fn check_class(&self, spec: &JobSpec) -> ServiceResult<()> {
        let (plugin, class) = self
            .scheduler
            .resolve_plugin(&spec.job_class_string)
            .await
            .map_err(|e| ServiceError::BadRequest(e.0))?;
        if let Some(schema) = plugin
            .class(&class)
            .and_then(|c| c.arguments_schema.as_ref())
        {
            schema.check(&spec.pub_args).map_err(|why| {
                ServiceError::BadRequest(format!(
                    "{why} (the arguments schema of {})",
                    spec.job_class_string
                ))
            })?;
        }
        Ok(())
    }

    /// The job and its next run time.
    pub async fn get_job(&self, job_id: &str) -> ServiceResult<JobSnapshot> {
        or_not_found(self.store.job(job_id).await, "Job", job_id)
    }

    /// Every job, by next run time, paused last.
    pub async fn list_jobs(&self) -> ServiceResult<Vec<JobSnapshot>> {
        Ok(self.store.jobs().await?)
    }

    /// A page of the jobs by id: at most `limit`, those after `after`.
    pub async fn list_jobs_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> ServiceResult<Vec<JobSnapshot>> {
        let mut jobs = self.store.jobs().await?;
        jobs.retain(|s| after.is_none_or(|a| s.job.id.as_str() > a));
        jobs.sort_unstable_by(|a, b| a.job.id.cmp(&b.job.id));
        jobs.truncate(limit);
        Ok(jobs)
    }

    /// A number that changes whenever any job changes: lets a reader cache what it
    /// renders from [`Service::list_jobs`].
    pub fn jobs_version(&self) -> u64 {
        self.store.jobs_version()
    }

    /// Creates a job; its insert and its audit entry commit together. Returns its id.
    pub async fn add_job(&self, spec: JobSpec, user: &str) -> ServiceResult<String> {
        self.check_class(&spec).await?;
        self.check_secrets(&spec).await?;
        let now = now_micros();
        let job = Job::new(
            uuid::Uuid::new_v4().simple().to_string(),
            spec,
            false,
            now,
            now,
        );
        let next = job
            .schedule
            .first_fire(from_micros(now))
            .map(|t| t.timestamp_micros());
        let audit = Self::audit_row(AuditEvent::Added, &job.id, &job.name, user, None);
        self.store.add_job(&job, next, &audit).await?;
        self.scheduler.reschedule(&job.id, next);
        Ok(job.id)
    }

    /// Replaces a job's definition. A paused job stays paused.
    pub async fn update_job(&self, job_id: &str, spec: JobSpec, user: &str) -> ServiceResult<()> {
        let old = self.get_job(job_id).await?;
        self.check_class(&spec).await?;
        self.check_secrets(&spec).await?;
        let now = now_micros();
        let job = Job::new(
            job_id.to_owned(),
            spec,
            old.job.paused,
            old.job.created_time,
            now,
        );
        let schedule_changed =
            old.job.schedule != job.schedule || old.job.options() != job.options();
        let next = if job.paused {
            None
        } else if schedule_changed || old.next_run_time.is_none() {
            job.schedule
                .first_fire(from_micros(now))
                .map(|t| t.timestamp_micros())
        } else {
            old.next_run_time
        };
        // An unchanged schedule keeps the stored next run time as it is in the table
        // now, which a fire may have moved since `old` was read.
        let keep_next_run_time = !job.paused && !schedule_changed && old.next_run_time.is_some();
        let new = JobSnapshot {
            job: Arc::new(job),
            next_run_time: next,
        };
        let stored = self
            .store
            .replace_job(&new.job, next, keep_next_run_time)
            .await;
        or_not_found(stored, "Job", job_id)?;
        if schedule_changed {
            // Fires prepared for the old schedule must not run.
            self.scheduler.job_changed(job_id, next);
        } else {
            self.scheduler.reschedule(job_id, next);
        }
        let changes = describe_changes(&job_json(&old), &job_json(&new));
        self.audit(
            AuditEvent::Modified,
            job_id,
            &new.job.name,
            user,
            Some(changes),
        )
        .await
    }

    /// Deletes a job; its executions stay.
    pub async fn delete_job(&self, job_id: &str, user: &str) -> ServiceResult<()> {
        let old = or_not_found(self.store.remove_job(job_id).await, "Job", job_id)?;
        self.scheduler.job_changed(job_id, None);
        let description = job_json(&old).to_string();
        self.audit(
            AuditEvent::Deleted,
            job_id,
            &old.job.name,
            user,
            Some(description),
        )
        .await
    }

    /// Pauses a job (idempotent).
    pub async fn pause_job(&self, job_id: &str, user: &str) -> ServiceResult<()> {
        let job = self.get_job(job_id).await?.job;
        let paused = self
            .store
            .set_paused(job_id, true, None, now_micros())
            .await;
        or_not_found(paused, "Job", job_id)?;
        self.scheduler.job_changed(job_id, None);
        self.audit(AuditEvent::Paused, job_id, &job.name, user, None)
            .await
    }

    /// Resumes a job: its next run is computed from now; runs missed while paused are
    /// not replayed.
    pub async fn resume_job(&self, job_id: &str, user: &str) -> ServiceResult<()> {
        let snapshot = self.get_job(job_id).await?;
        let job = &snapshot.job;
        if let Some(defect) = &job.defect {
            return Err(ServiceError::BadRequest(format!(
                "the job's stored definition is unusable: {defect}"
            )));
        }
        let now = now_micros();
        // Resuming a job that is not paused keeps its schedule (a finished one stays
        // finished).
        let next = if job.paused {
            job.schedule
                .first_fire(from_micros(now))
                .map(|t| t.timestamp_micros())
        } else {
            snapshot.next_run_time
        };
        let resumed = self.store.set_paused(job_id, false, next, now).await;
        or_not_found(resumed, "Job", job_id)?;
        // A paused job has no prepared fires to abandon; one that was not paused
        // keeps its schedule.
        self.scheduler.reschedule(job_id, next);
        self.audit(AuditEvent::Resumed, job_id, &job.name, user, None)
            .await
    }

    /// Runs a job now (also when paused). Returns the execution id at once.
    pub async fn run_now(&self, job_id: &str, user: &str) -> ServiceResult<String> {
        let job = self.get_job(job_id).await?.job;
        let audit = |execution_id: &str| {
            Self::audit_row(
                AuditEvent::CustomRun,
                job_id,
                &job.name,
                user,
                Some(execution_id.to_owned()),
            )
        };
        Ok(self.scheduler.run_now(&job, audit).await?)
    }

    /// The next `count` fire times of a job from its next run (or from now, while
    /// paused).
    pub async fn next_runs(&self, job_id: &str, count: usize) -> ServiceResult<NextRuns> {
        let snapshot = self.get_job(job_id).await?;
        let schedule = &snapshot.job.schedule;
        let first = match snapshot.next_run_time {
            Some(t) => Some(from_micros(t)),
            None if snapshot.job.paused => schedule.first_fire(Utc::now()),
            None => None,
        };
        Ok(NextRuns {
            job_id: job_id.to_owned(),
            timezone: schedule.timezone,
            times: fire_times(schedule, first, count),
        })
    }
}

/// The first `count` fire times of a job not saved yet, from now: what it would get if it
/// were created now (a console previews a schedule while it is being written). Nothing
/// is stored; the class is not looked up, since a schedule does not depend on it.
pub fn preview_next_runs(spec: &JobSpec, count: usize) -> NextRuns {
    let schedule = spec.schedule();
    let first = schedule.first_fire(Utc::now());
    NextRuns {
        job_id: String::new(),
        timezone: schedule.timezone,
        times: fire_times(&schedule, first, count),
    }
}

/// Up to `count` fire times of `schedule`, starting with `first`.
fn fire_times(
    schedule: &Schedule,
    first: Option<DateTime<Utc>>,
    count: usize,
) -> Vec<DateTime<Utc>> {
    let mut times = Vec::with_capacity(count.min(1000));
    let mut next = first;
    while let Some(t) = next {
        if times.len() >= count {
            break;
        }
        times.push(t);
        next = schedule.next_after(t);
    }
    times
}

/// `field: old => new`, one line per changed field of the job JSON.
fn describe_changes(old: &Value, new: &Value) -> String {
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
        return String::new();
    };
    let show = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    new.keys()
        .chain(old.keys().filter(|k| !new.contains_key(*k)))
        .filter(|k| *k != "next_run_time" && old.get(*k) != new.get(*k))
        .map(|k| format!("{k}: {} => {}", show(old.get(k)), show(new.get(k))))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn change_descriptions_are_plain_text_lines() {
        let old = json!({"name": "a", "minute": "*/5", "pub_args": [1]});
        let new = json!({"name": "b", "minute": "*/5", "pub_args": [1, 2]});
        assert_eq!(
            describe_changes(&old, &new),
            "name: a => b\npub_args: [1] => [1,2]"
        );
    }
}
