//! The use-cases behind the API: add, change, pause, resume, delete and run jobs, read
//! executions and audit logs. Validation lives here; nothing here knows HTTP.

use crate::jobs::{JobSpec, execution_job_json, job_json, parse_job, schedule_of};
use crate::options::OptionLimits;
use crate::plugins::{InstallError, PluginRegistry};
use crate::scheduler::{CancelOutcome, Scheduler};
use crate::store::{AuditRow, ExecutionQuery, ExecutionRow, JobRow, PluginRow, Store, StoreError};
use crate::time::{format_micros, now_micros};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};

/// Why a use-case did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The client's request is wrong; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// No such job or execution; the message names it.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (e.g. a plugin still in use).
    #[error("{0}")]
    Conflict(String),
    /// A server fault.
    #[error("internal error: {0}")]
    Internal(#[from] StoreError),
    /// A server fault outside the store.
    #[error("internal error: {0:#}")]
    Other(anyhow::Error),
}

/// Result of a use-case.
pub type ServiceResult<T> = Result<T, ServiceError>;

/// The audit events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditEvent {
    /// A job was created.
    Added,
    /// A job was changed.
    Modified,
    /// A job was deleted.
    Deleted,
    /// A job was paused.
    Paused,
    /// A job was resumed.
    Resumed,
    /// A job was run now.
    CustomRun,
    /// A plugin was installed or replaced.
    PluginUploaded,
    /// A plugin was deleted.
    PluginDeleted,
}

impl AuditEvent {
    fn as_str(self) -> &'static str {
        match self {
            AuditEvent::Added => "added",
            AuditEvent::Modified => "modified",
            AuditEvent::Deleted => "deleted",
            AuditEvent::Paused => "paused",
            AuditEvent::Resumed => "resumed",
            AuditEvent::CustomRun => "custom_run",
            AuditEvent::PluginUploaded => "plugin_uploaded",
            AuditEvent::PluginDeleted => "plugin_deleted",
        }
    }
}

/// The application: every use-case. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    store: Store,
    scheduler: Scheduler,
    plugins: PluginRegistry,
    limits: OptionLimits,
    /// The rendered `{"jobs": [...]}` body and the jobs version it shows: listing jobs
    /// is the API's most frequent read, and jobs change far less often.
    jobs_body: Arc<Mutex<Option<(u64, bytes::Bytes)>>>,
}

fn job_not_found(job_id: &str) -> ServiceError {
    ServiceError::NotFound(format!("Job not found: {job_id}"))
}

fn execution_not_found(execution_id: &str) -> ServiceError {
    ServiceError::NotFound(format!("Execution not found: {execution_id}"))
}

impl Service {
    /// The service over its parts.
    pub fn new(
        store: Store,
        scheduler: Scheduler,
        plugins: PluginRegistry,
        limits: OptionLimits,
    ) -> Self {
        Service {
            store,
            scheduler,
            plugins,
            limits,
            jobs_body: Arc::default(),
        }
    }

    /// The installed plugins.
    pub fn plugins(&self) -> &PluginRegistry {
        &self.plugins
    }

    fn validate(&self, body: &Value) -> ServiceResult<JobSpec> {
        let spec = parse_job(body, &self.limits).map_err(ServiceError::BadRequest)?;
        self.plugins
            .resolve(&spec.job_class_string)
            .map_err(|e| ServiceError::BadRequest(e.0))?;
        Ok(spec)
    }

    /// Creates a job from its JSON body. Returns its id.
    pub async fn add_job(&self, body: &Value, user: &str) -> ServiceResult<String> {
        let spec = self.validate(body)?;
        let now = now_micros();
        let job_id = uuid::Uuid::new_v4().simple().to_string();
        let next = spec
            .schedule()
            .first_fire(crate::time::from_micros(now))
            .map(|t| t.timestamp_micros());
        let options = serde_json::to_string(&spec.options).unwrap_or_else(|_| "{}".into());
        let row = JobRow {
            job_id: job_id.clone(),
            name: spec.name,
            job_class_string: spec.job_class_string,
            pub_args: spec.pub_args.to_string(),
            trigger_kind: spec.trigger.kind().into(),
            trigger_params: spec.trigger.params_json().to_string(),
            options,
            paused: false,
            next_run_time: next,
            created_time: now,
            updated_time: now,
        };
        self.store.insert_job(&row).await?;
        self.scheduler.reschedule(&job_id, next);
        self.audit(&row, AuditEvent::Added, user, None).await?;
        Ok(job_id)
    }

    /// Replaces a job's definition. A paused job stays paused.
    pub async fn update_job(&self, job_id: &str, body: &Value, user: &str) -> ServiceResult<()> {
        let old = self.get_job_row(job_id).await?;
        let spec = self.validate(body)?;
        let now = now_micros();
        let trigger_params = spec.trigger.params_json().to_string();
        let trigger_kind = spec.trigger.kind();
        let options = serde_json::to_string(&spec.options).unwrap_or_else(|_| "{}".into());
        let schedule_changed = old.trigger_kind != trigger_kind
            || old.trigger_params != trigger_params
            || old.options != options;
        let next = if old.paused {
            None
        } else if schedule_changed || old.next_run_time.is_none() {
            spec.schedule()
                .first_fire(crate::time::from_micros(now))
                .map(|t| t.timestamp_micros())
        } else {
            old.next_run_time
        };
        let new = JobRow {
            job_id: job_id.to_owned(),
            name: spec.name,
            job_class_string: spec.job_class_string,
            pub_args: spec.pub_args.to_string(),
            trigger_kind: trigger_kind.into(),
            trigger_params,
            options,
            paused: old.paused,
            next_run_time: next,
            created_time: old.created_time,
            updated_time: now,
        };
        // An unchanged schedule keeps the stored next run time as it is in the table
        // now, which a fire may have moved since `old` was read.
        let keep_next_run_time = !old.paused && !schedule_changed && old.next_run_time.is_some();
        match self.store.update_job(&new, keep_next_run_time).await {
            Err(StoreError::NotFound) => return Err(job_not_found(job_id)),
            other => other?,
        }
        if schedule_changed {
            // Fires prepared for the old schedule must not run.
            self.scheduler.job_changed(job_id, next);
        } else {
            self.scheduler.reschedule(job_id, next);
        }
        let changes = describe_changes(&job_json(&old), &job_json(&new));
        self.audit(&new, AuditEvent::Modified, user, Some(changes))
            .await?;
        Ok(())
    }

    async fn get_job_row(&self, job_id: &str) -> ServiceResult<JobRow> {
        match self.store.get_job(job_id).await {
            Err(StoreError::NotFound) => Err(job_not_found(job_id)),
            other => Ok(other?),
        }
    }

    /// One job's JSON.
    pub async fn get_job(&self, job_id: &str) -> ServiceResult<Value> {
        Ok(job_json(&self.get_job_row(job_id).await?))
    }

    /// Every job's JSON, by next run time, paused last.
    pub async fn list_jobs(&self) -> ServiceResult<Vec<Value>> {
        Ok(self.store.list_jobs().await?.iter().map(job_json).collect())
    }

    /// The body of `GET /api/v1/jobs`, `{"jobs": [...]}`, as JSON text; rendered again
    /// only when a job changed since the last call.
    pub async fn jobs_list_body(&self) -> ServiceResult<bytes::Bytes> {
        let version = self.store.jobs_version();
        if let Some((v, body)) = &*self.jobs_body.lock().unwrap_or_else(|e| e.into_inner())
            && *v == version
        {
            return Ok(body.clone());
        }
        let jobs = self.list_jobs().await?;
        let body = bytes::Bytes::from(serde_json::json!({ "jobs": jobs }).to_string());
        *self.jobs_body.lock().unwrap_or_else(|e| e.into_inner()) = Some((version, body.clone()));
        Ok(body)
    }

    /// Deletes a job; its executions stay.
    pub async fn delete_job(&self, job_id: &str, user: &str) -> ServiceResult<()> {
        let old = match self.store.delete_job(job_id).await {
            Err(StoreError::NotFound) => return Err(job_not_found(job_id)),
            other => other?,
        };
        self.scheduler.job_changed(job_id, None);
        let description = job_json(&old).to_string();
        self.audit(&old, AuditEvent::Deleted, user, Some(description))
            .await?;
        Ok(())
    }

    /// Pauses a job (idempotent).
    pub async fn pause_job(&self, job_id: &str, user: &str) -> ServiceResult<()> {
        let job = self.get_job_row(job_id).await?;
        match self
            .store
            .set_paused(job_id, true, None, now_micros())
            .await
        {
            Err(StoreError::NotFound) => return Err(job_not_found(job_id)),
            other => other?,
        }
        self.scheduler.job_changed(job_id, None);
        self.audit(&job, AuditEvent::Paused, user, None).await?;
        Ok(())
    }

    /// Resumes a job: its next run is computed from now; runs missed while paused are
    /// not replayed.
    pub async fn resume_job(&self, job_id: &str, user: &str) -> ServiceResult<()> {
        let job = self.get_job_row(job_id).await?;
        let schedule = schedule_of(&job)
            .map_err(|e| ServiceError::BadRequest(format!("the job's trigger is unusable: {e}")))?;
        let now = now_micros();
        // Resuming a job that is not paused keeps its schedule (a finished one stays
        // finished).
        let next = if job.paused {
            schedule
                .first_fire(crate::time::from_micros(now))
                .map(|t| t.timestamp_micros())
        } else {
            job.next_run_time
        };
        match self.store.set_paused(job_id, false, next, now).await {
            Err(StoreError::NotFound) => return Err(job_not_found(job_id)),
            other => other?,
        }
        // A paused job has no prepared fires to abandon; one that was not paused
        // keeps its schedule.
        self.scheduler.reschedule(job_id, next);
        self.audit(&job, AuditEvent::Resumed, user, None).await?;
        Ok(())
    }

    /// Runs a job now (also when paused). Returns the execution id at once.
    pub async fn run_now(&self, job_id: &str, user: &str) -> ServiceResult<String> {
        let job = self.get_job_row(job_id).await?;
        let execution_id = self.scheduler.run_now(&job).await?;
        self.audit(
            &job,
            AuditEvent::CustomRun,
            user,
            Some(execution_id.clone()),
        )
        .await?;
        Ok(execution_id)
    }

    /// One execution's JSON.
    pub async fn get_execution(&self, execution_id: &str) -> ServiceResult<Value> {
        let (e, job) = match self.store.get_execution(execution_id).await {
            Err(StoreError::NotFound) => return Err(execution_not_found(execution_id)),
            other => other?,
        };
        Ok(execution_json(&e, job.as_ref()))
    }

    /// One page of executions matching `query`, newest update first, and the cursor
    /// of the next page when there is one.
    pub async fn list_executions(
        &self,
        query: &ExecutionQuery,
    ) -> ServiceResult<(Vec<Value>, Option<String>)> {
        let rows = self.store.list_executions(query).await?;
        let next_cursor = (rows.len() as i64 == query.limit)
            .then(|| {
                rows.last()
                    .map(|e| encode_cursor(e.updated_time, &e.execution_id))
            })
            .flatten();
        let mut jobs: std::collections::HashMap<String, Option<JobRow>> = Default::default();
        let mut out = Vec::with_capacity(rows.len());
        for e in &rows {
            if !jobs.contains_key(&e.job_id) {
                let job = match self.store.get_job(&e.job_id).await {
                    Ok(j) => Some(j),
                    Err(StoreError::NotFound) => None,
                    Err(other) => return Err(other.into()),
                };
                jobs.insert(e.job_id.clone(), job);
            }
            out.push(execution_json(e, jobs[&e.job_id].as_ref()));
        }
        Ok((out, next_cursor))
    }

    /// The next `count` fire times of a job, in UTC and in the job's time zone,
    /// from its next run (or from now, while paused).
    pub async fn next_runs(&self, job_id: &str, count: usize) -> ServiceResult<Value> {
        let job = self.get_job_row(job_id).await?;
        let schedule = schedule_of(&job)
            .map_err(|e| ServiceError::BadRequest(format!("the job's trigger is unusable: {e}")))?;
        let mut runs = Vec::with_capacity(count);
        let mut next = match job.next_run_time {
            Some(t) => Some(crate::time::from_micros(t)),
            None if job.paused => schedule.first_fire(chrono::Utc::now()),
            None => None,
        };
        while let Some(t) = next {
            if runs.len() >= count {
                break;
            }
            let mut m = Map::new();
            m.insert("utc".into(), crate::time::format_rfc3339(t).into());
            m.insert("local".into(), schedule.local(t).to_rfc3339().into());
            runs.push(Value::Object(m));
            next = schedule.next_after(t);
        }
        let mut m = Map::new();
        m.insert("job_id".into(), job.job_id.into());
        m.insert("timezone".into(), schedule.timezone.name().into());
        m.insert("next_runs".into(), Value::Array(runs));
        Ok(Value::Object(m))
    }

    /// Cancels a running execution.
    pub async fn cancel_execution(&self, execution_id: &str) -> ServiceResult<()> {
        match self.scheduler.cancel(execution_id).await {
            Err(StoreError::NotFound) => Err(execution_not_found(execution_id)),
            Err(e) => Err(e.into()),
            Ok(CancelOutcome::Stopping) => Ok(()),
            Ok(CancelOutcome::AlreadyFinished(state)) => Err(ServiceError::BadRequest(format!(
                "Execution {execution_id} is not running (its state is '{state}'): only a scheduled or running execution can be stopped"
            ))),
        }
    }

    /// Audit entries created within `[start, end]` (µs), newest first.
    pub async fn list_logs(&self, start: i64, end: i64) -> ServiceResult<Vec<Value>> {
        Ok(self
            .store
            .list_audit(start, end)
            .await?
            .iter()
            .map(audit_json)
            .collect())
    }

    async fn audit(
        &self,
        job: &JobRow,
        event: AuditEvent,
        user: &str,
        description: Option<String>,
    ) -> ServiceResult<()> {
        self.audit_entry(&job.job_id, &job.name, event, user, description)
            .await
    }

    async fn audit_entry(
        &self,
        job_id: &str,
        job_name: &str,
        event: AuditEvent,
        user: &str,
        description: Option<String>,
    ) -> ServiceResult<()> {
        self.store
            .insert_audit(&AuditRow {
                audit_id: uuid::Uuid::new_v4().simple().to_string(),
                job_id: job_id.to_owned(),
                job_name: job_name.to_owned(),
                event: event.as_str().into(),
                user_name: user.into(),
                created_time: now_micros(),
                description,
            })
            .await?;
        Ok(())
    }
}

/// What an upload did.
#[derive(Debug, Clone, PartialEq)]
pub struct Uploaded {
    /// The plugin JSON.
    pub plugin: Value,
    /// True for a new name, false for a replacement (or the same bytes again).
    pub created: bool,
}

impl Service {
    /// Installs or replaces plugin `name` from its `.wasm` bytes.
    pub async fn upload_plugin(
        &self,
        name: &str,
        wasm: std::sync::Arc<[u8]>,
        user: &str,
    ) -> ServiceResult<Uploaded> {
        let installed = self
            .plugins
            .install(name, wasm)
            .await
            .map_err(|e| match e {
                InstallError::BadName(_) | InstallError::Load(_) => {
                    ServiceError::BadRequest(e.to_string())
                }
                InstallError::Store(e) => ServiceError::Internal(e),
                InstallError::Io(e) => ServiceError::Other(e),
            })?;
        if installed.changed {
            let mut description = format!("plugin {name} sha256 {}", installed.row.sha256);
            if let Some(old) = &installed.previous_sha256 {
                description.push_str(&format!(" (replaces sha256 {old})"));
            }
            self.audit_entry(
                "",
                name,
                AuditEvent::PluginUploaded,
                user,
                Some(description),
            )
            .await?;
        }
        Ok(Uploaded {
            plugin: plugin_json(&installed.row),
            created: installed.previous_sha256.is_none(),
        })
    }

    /// Every installed plugin's JSON.
    pub async fn list_plugins(&self) -> ServiceResult<Vec<Value>> {
        Ok(self
            .store
            .list_plugins()
            .await?
            .iter()
            .map(plugin_json)
            .collect())
    }

    async fn plugin_row(&self, name: &str) -> ServiceResult<PluginRow> {
        match self.store.get_plugin(name).await {
            Err(StoreError::NotFound) => {
                Err(ServiceError::NotFound(format!("Plugin not found: {name}")))
            }
            other => Ok(other?),
        }
    }

    /// One plugin's JSON.
    pub async fn get_plugin(&self, name: &str) -> ServiceResult<Value> {
        Ok(plugin_json(&self.plugin_row(name).await?))
    }

    /// The `.wasm` bytes of plugin `name`.
    pub async fn plugin_wasm(&self, name: &str) -> ServiceResult<Vec<u8>> {
        let row = self.plugin_row(name).await?;
        let path = self.plugins.wasm_path(&row.sha256);
        tokio::fs::read(&path)
            .await
            .map_err(|e| ServiceError::Other(anyhow::anyhow!("reading {}: {e}", path.display())))
    }

    /// Deletes plugin `name`. Refused while jobs use it, unless `force`: then those
    /// jobs' next runs end as `scheduled error`.
    pub async fn delete_plugin(&self, name: &str, force: bool, user: &str) -> ServiceResult<()> {
        self.plugin_row(name).await?;
        let users: Vec<String> = self
            .store
            .list_jobs()
            .await?
            .into_iter()
            .filter(|j| {
                j.job_class_string
                    .rsplit_once('.')
                    .is_some_and(|(p, _)| p == name)
            })
            .map(|j| format!("{} ({})", j.job_id, j.name))
            .collect();
        if !users.is_empty() && !force {
            return Err(ServiceError::Conflict(format!(
                "plugin '{name}' is used by {} job(s): {}; delete or change them first, or delete with ?force=true",
                users.len(),
                users.join(", ")
            )));
        }
        let row = match self.plugins.remove(name).await {
            Err(StoreError::NotFound) => {
                return Err(ServiceError::NotFound(format!("Plugin not found: {name}")));
            }
            other => other?,
        };
        let description = format!("plugin {name} sha256 {}", row.sha256);
        self.audit_entry("", name, AuditEvent::PluginDeleted, user, Some(description))
            .await
    }

    /// Every installed class, in the shape of ndscheduler's job meta info.
    pub fn job_classes(&self) -> Vec<Value> {
        self.plugins
            .all()
            .iter()
            .flat_map(|(name, plugin)| {
                plugin.classes.iter().map(move |c| {
                    let mut m = Map::new();
                    m.insert(
                        "job_class_string".into(),
                        format!("{name}.{}", c.name).into(),
                    );
                    m.insert("notes".into(), c.notes.clone().into());
                    m.insert(
                        "arguments".into(),
                        serde_json::to_value(&c.arguments).unwrap_or_default(),
                    );
                    m.insert(
                        "example_arguments".into(),
                        c.example_arguments.clone().into(),
                    );
                    Value::Object(m)
                })
            })
            .collect()
    }
}

/// The plugin JSON: `name, sha256, size, uploaded_time, world_version, classes`.
fn plugin_json(row: &PluginRow) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), row.name.clone().into());
    m.insert("sha256".into(), row.sha256.clone().into());
    m.insert("size".into(), row.size.into());
    m.insert(
        "uploaded_time".into(),
        format_micros(row.uploaded_time).into(),
    );
    m.insert("world_version".into(), row.world_version.clone().into());
    m.insert(
        "classes".into(),
        serde_json::from_str(&row.classes).unwrap_or(Value::Array(Vec::new())),
    );
    Value::Object(m)
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

/// A page cursor: the last row's update time and id, opaque to clients.
pub fn encode_cursor(updated_time: i64, execution_id: &str) -> String {
    format!("{updated_time}-{execution_id}")
}

/// Reads a cursor made by [`encode_cursor`].
pub fn decode_cursor(cursor: &str) -> Option<(i64, String)> {
    let (time, id) = cursor.split_once('-')?;
    let valid_id = id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit());
    valid_id.then_some((time.parse().ok()?, id.to_owned()))
}

/// The execution JSON in the contract's key order, then the extension keys.
fn execution_json(e: &ExecutionRow, job: Option<&JobRow>) -> Value {
    let mut m = Map::new();
    m.insert("execution_id".into(), e.execution_id.clone().into());
    m.insert("state".into(), e.state.clone().into());
    m.insert("hostname".into(), e.hostname.clone().into());
    m.insert("pid".into(), e.pid.map_or(Value::Null, Value::from));
    m.insert("task_id".into(), Value::Null);
    m.insert(
        "description".into(),
        e.description.clone().map_or(Value::Null, Value::from),
    );
    m.insert(
        "result".into(),
        e.result.clone().map_or(Value::Null, Value::from),
    );
    m.insert(
        "scheduled_time".into(),
        format_micros(e.scheduled_time).into(),
    );
    m.insert("updated_time".into(), format_micros(e.updated_time).into());
    if let Some(job) = job {
        m.insert("job".into(), execution_job_json(job));
    }
    // Extensions (additive, after the original's keys).
    m.insert("job_id".into(), e.job_id.clone().into());
    m.insert("run_kind".into(), e.run_kind.clone().into());
    m.insert("attempt".into(), e.attempt.into());
    m.insert(
        "retry_of".into(),
        e.retry_of.clone().map_or(Value::Null, Value::from),
    );
    m.insert(
        "started_time".into(),
        e.started_time
            .map_or(Value::Null, |t| format_micros(t).into()),
    );
    m.insert(
        "finished_time".into(),
        e.finished_time
            .map_or(Value::Null, |t| format_micros(t).into()),
    );
    m.insert(
        "duration_ms".into(),
        match (e.started_time, e.finished_time) {
            (Some(s), Some(f)) => Value::from((f - s) as f64 / 1000.0),
            _ => Value::Null,
        },
    );
    m.insert(
        "plugin_sha256".into(),
        e.plugin_sha256.clone().map_or(Value::Null, Value::from),
    );
    m.insert(
        "logs".into(),
        e.logs
            .as_deref()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or(Value::Array(Vec::new())),
    );
    m.insert("stdout".into(), e.stdout.clone().unwrap_or_default().into());
    m.insert("stderr".into(), e.stderr.clone().unwrap_or_default().into());
    m.insert(
        "peak_memory_bytes".into(),
        e.peak_memory_bytes.map_or(Value::Null, Value::from),
    );
    m.insert(
        "fuel_consumed".into(),
        e.fuel_consumed.map_or(Value::Null, Value::from),
    );
    Value::Object(m)
}

fn audit_json(a: &AuditRow) -> Value {
    let mut m = Map::new();
    m.insert("job_id".into(), a.job_id.clone().into());
    m.insert("job_name".into(), a.job_name.clone().into());
    m.insert("event".into(), a.event.clone().into());
    m.insert("user".into(), a.user_name.clone().into());
    m.insert("created_time".into(), format_micros(a.created_time).into());
    m.insert(
        "description".into(),
        a.description.clone().map_or(Value::Null, Value::from),
    );
    Value::Object(m)
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
