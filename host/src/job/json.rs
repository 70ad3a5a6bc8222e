//! A job as a JSON document, in the contract's key order. The API shows it, and the
//! audit trail keeps it (a deleted job's last definition, the fields an edit changed),
//! so it belongs to the job rather than to the API.

use super::{JobSnapshot, Trigger};
use crate::time::format_micros;
use serde_json::{Map, Value};

/// The job JSON: `job_id, name, next_run_time, job_class_string, pub_args, trigger,
/// trigger_params`, for cron jobs the flat `month, day, week, day_of_week, hour,
/// minute`, then the options that were set and the state.
pub fn job_json(snapshot: &JobSnapshot) -> Value {
    let job = &snapshot.job;
    let mut m = Map::new();
    m.insert("job_id".into(), Value::String(job.id.clone()));
    m.insert("name".into(), Value::String(job.name.clone()));
    m.insert(
        "next_run_time".into(),
        Value::String(
            snapshot
                .next_run_time
                .map(format_micros)
                .unwrap_or_default(),
        ),
    );
    definition_into(&mut m, snapshot);
    // Extensions, after the original's keys: the options that were set, and the state.
    if let Ok(Value::Object(options)) = serde_json::to_value(job.options()) {
        m.extend(options);
    }
    if let Some(defect) = &job.defect {
        m.insert("error".into(), Value::String(defect.to_string()));
    }
    m.insert("state".into(), snapshot.state().into());
    Value::Object(m)
}

/// Adds `job_class_string, pub_args, trigger, trigger_params` and, for cron jobs, the
/// flat fields (`week` is always `*`).
pub fn definition_into(m: &mut Map<String, Value>, snapshot: &JobSnapshot) {
    let job = &snapshot.job;
    m.insert(
        "job_class_string".into(),
        Value::String(job.job_class_string.clone()),
    );
    m.insert(
        "pub_args".into(),
        serde_json::from_str(&job.args).unwrap_or(Value::Array(Vec::new())),
    );
    let trigger = &job.schedule.trigger;
    m.insert("trigger".into(), Value::String(trigger.kind().into()));
    let params = trigger.params_json();
    if let Trigger::Cron(cron) = trigger {
        let f = cron.fields();
        m.insert("trigger_params".into(), params);
        m.insert("month".into(), f.month.into());
        m.insert("day".into(), f.day.into());
        m.insert("week".into(), "*".into());
        m.insert("day_of_week".into(), f.day_of_week.into());
        m.insert("hour".into(), f.hour.into());
        m.insert("minute".into(), f.minute.into());
    } else {
        m.insert("trigger_params".into(), params);
    }
}
