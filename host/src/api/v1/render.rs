//! The wire JSON of `/api/v1`, in the contract's key order: executions, plugins, audit
//! entries, next runs, job classes, and the cached body of the job list. (A job's own
//! JSON is [`crate::job::job_json`]: the audit trail keeps it too.)

use crate::job::{JobSnapshot, definition_into, job_json};
use crate::runtime::JobClass;
use crate::service::{AuditEntry, Cursor, Execution, NextRuns, PluginRecord};
use crate::time::{format_micros, format_rfc3339};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};

/// The body of `GET /api/v1/jobs`, `{"jobs": [...]}`, and the jobs version it shows:
/// listing jobs is the API's most frequent read, and jobs change far less often.
#[derive(Clone, Default)]
pub struct JobListCache(Arc<Mutex<Option<(u64, Bytes)>>>);

impl JobListCache {
    /// The cached body if it shows `version`; otherwise renders `jobs()` and keeps it.
    pub async fn body<F, E>(&self, version: u64, jobs: F) -> Result<Bytes, E>
    where
        F: AsyncFnOnce() -> Result<Vec<JobSnapshot>, E>,
    {
        if let Some((v, body)) = &*self.0.lock().unwrap_or_else(|e| e.into_inner())
            && *v == version
        {
            return Ok(body.clone());
        }
        let jobs: Vec<Value> = jobs().await?.iter().map(job_json).collect();
        let body = Bytes::from(json!({ "jobs": jobs }).to_string());
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((version, body.clone()));
        Ok(body)
    }
}

/// A page cursor: the last row's update time and id, opaque to clients.
pub fn cursor(c: &Cursor) -> String {
    format!("{}-{}", c.updated_time, c.execution_id)
}

/// The execution JSON in the contract's key order, then the extension keys.
pub fn execution(e: &Execution, job: Option<&JobSnapshot>) -> Value {
    let mut m = Map::new();
    m.insert("execution_id".into(), e.execution_id.clone().into());
    m.insert("state".into(), e.state.clone().into());
    m.insert("hostname".into(), e.hostname.clone().into());
    m.insert("pid".into(), e.pid.map_or(Value::Null, Value::from));
    m.insert("task_id".into(), Value::Null);
    m.insert("description".into(), execution_description(e).into());
    m.insert(
        "result".into(),
        e.result
            .as_deref()
            .map_or(Value::Null, |r| result(e, r).into()),
    );
    m.insert(
        "scheduled_time".into(),
        format_micros(e.scheduled_time).into(),
    );
    m.insert("updated_time".into(), format_micros(e.updated_time).into());
    if let Some(job) = job {
        m.insert("job".into(), execution_job(job));
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
    m.insert(
        "http_requests".into(),
        e.http_requests
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or(Value::Array(Vec::new())),
    );
    m.insert(
        "host_id".into(),
        e.host_id.clone().map_or(Value::Null, Value::from),
    );
    Value::Object(m)
}

/// An execution's `description`: its code when it has one (why it failed, was skipped,
/// missed); otherwise, as ndscheduler writes it and its web UI shows it, where it runs
/// or ran: `hostname: <h> | pid: <p>` (the pid once the run started).
fn execution_description(e: &Execution) -> String {
    match (&e.description, e.pid) {
        (Some(code), _) => code.clone(),
        (None, Some(pid)) => format!("hostname: {} | pid: {pid}", e.hostname),
        (None, None) => format!("hostname: {}", e.hostname),
    }
}

/// An execution's result as shown: whole, or, in a list, its start and a marker.
fn result(e: &Execution, shown: &str) -> String {
    let Some(whole) = e.result_chars else {
        return shown.to_owned();
    };
    let shown_chars = shown.chars().count() as i64;
    if whole <= shown_chars {
        return shown.to_owned();
    }
    format!(
        "{shown}\n[wasmcron: result cut to its first {shown_chars} of {whole} characters in this \
         list; GET /api/v1/executions/{} shows it whole]",
        e.execution_id
    )
}

/// The `job` object inside an execution: `job_id, name, task_name, job_class_string,
/// pub_args, trigger, trigger_params` and the flat cron fields.
fn execution_job(snapshot: &JobSnapshot) -> Value {
    let job = &snapshot.job;
    let mut m = Map::new();
    m.insert("job_id".into(), Value::String(job.id.clone()));
    m.insert("name".into(), Value::String(job.name.clone()));
    m.insert(
        "task_name".into(),
        Value::String(job.job_class_string.clone()),
    );
    definition_into(&mut m, snapshot);
    Value::Object(m)
}

/// An audit entry: `job_id, job_name, event, user, created_time, description`.
pub fn audit(a: &AuditEntry) -> Value {
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

/// The plugin JSON: `name, sha256, size, uploaded_time, world_version, classes`.
pub fn plugin(row: &PluginRecord) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), row.name.clone().into());
    m.insert("sha256".into(), row.sha256.clone().into());
    m.insert("size".into(), row.size.into());
    m.insert(
        "uploaded_time".into(),
        format_micros(row.uploaded_time).into(),
    );
    m.insert("world_version".into(), row.world_version.clone().into());
    let mut classes = serde_json::from_str(&row.classes).unwrap_or(Value::Array(Vec::new()));
    // Rows stored before classes had a schema: none.
    if let Value::Array(classes) = &mut classes {
        for class in classes.iter_mut().filter_map(Value::as_object_mut) {
            class.entry("arguments_schema").or_insert(Value::Null);
        }
    }
    m.insert("classes".into(), classes);
    m.insert(
        "capabilities".into(),
        row.capabilities
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or(Value::Array(Vec::new())),
    );
    Value::Object(m)
}

/// `{job_id, timezone, next_runs: [{utc, local}]}`.
pub fn next_runs(runs: &NextRuns) -> Value {
    let times: Vec<Value> = runs
        .times
        .iter()
        .map(|t| {
            let mut m = Map::new();
            m.insert("utc".into(), format_rfc3339(*t).into());
            m.insert(
                "local".into(),
                t.with_timezone(&runs.timezone).to_rfc3339().into(),
            );
            Value::Object(m)
        })
        .collect();
    let mut m = Map::new();
    m.insert("job_id".into(), runs.job_id.clone().into());
    m.insert("timezone".into(), runs.timezone.name().into());
    m.insert("next_runs".into(), Value::Array(times));
    Value::Object(m)
}

/// One class in the shape of ndscheduler's job meta info.
pub fn job_class(job_class_string: &str, class: &JobClass) -> Value {
    let mut m = Map::new();
    m.insert("job_class_string".into(), job_class_string.into());
    m.insert("notes".into(), class.notes.clone().into());
    m.insert(
        "arguments".into(),
        serde_json::to_value(&class.arguments).unwrap_or_default(),
    );
    m.insert(
        "example_arguments".into(),
        class.example_arguments.clone().into(),
    );
    m.insert(
        "arguments_schema".into(),
        class
            .arguments_schema
            .as_ref()
            .map_or(Value::Null, |s| s.schema().clone()),
    );
    Value::Object(m)
}
