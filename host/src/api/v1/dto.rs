//! A job's definition: parsing it from the API's JSON (both schedule forms, every
//! validation) and rendering it back in the contract's key order.

use crate::options::{JobOptions, OPTION_KEYS, OptionLimits, parse_local_time};
use crate::scheduler::cron::{CronSchedule, FIELD_NAMES};
use crate::scheduler::trigger::{Schedule, Trigger};
use crate::store::JobRow;
use crate::time::format_micros;
use serde_json::{Map, Value};

/// A validated job definition, as POST and PUT give it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// Non-empty name.
    pub name: String,
    /// `<plugin name>.<Class>`, not yet resolved.
    pub job_class_string: String,
    /// An array or an object.
    pub pub_args: Value,
    /// When it fires.
    pub trigger: Trigger,
    /// The optional settings (time zone, limits, retries …).
    pub options: JobOptions,
}

impl JobSpec {
    /// The trigger with the job's zone and dates.
    pub fn schedule(&self) -> Schedule {
        Schedule {
            trigger: self.trigger.clone(),
            timezone: self.options.tz(),
            start_date: self.options.start(),
            end_date: self.options.end(),
        }
    }
}

/// The schedule of a stored job.
///
/// # Errors
/// If the stored trigger no longer parses.
pub fn schedule_of(row: &JobRow) -> Result<Schedule, String> {
    let options = JobOptions::from_stored(&row.options);
    Ok(Schedule {
        trigger: Trigger::from_stored(&row.trigger_kind, &row.trigger_params)?,
        timezone: options.tz(),
        start_date: options.start(),
        end_date: options.end(),
    })
}

/// The top-level keys a job body may have: the original's, plus the read-only keys of
/// the job JSON (so that a GET result can be sent back as a PUT), plus the options.
const KNOWN_KEYS: [&str; 15] = [
    "state",
    "second",
    "job_id",
    "name",
    "next_run_time",
    "job_class_string",
    "pub_args",
    "trigger",
    "trigger_params",
    "month",
    "day",
    "week",
    "day_of_week",
    "hour",
    "minute",
];

/// Parses and validates a job body (POST or PUT). Every error is a sentence for the
/// client.
pub fn parse_job(body: &Value, limits: &OptionLimits) -> Result<JobSpec, String> {
    let Some(obj) = body.as_object() else {
        return Err("the request body must be a JSON object describing the job".into());
    };
    if let Some(unknown) = obj
        .keys()
        .find(|k| !KNOWN_KEYS.contains(&k.as_str()) && !OPTION_KEYS.contains(&k.as_str()))
    {
        return Err(format!(
            "unknown key '{unknown}'; a job takes: {}, {}",
            KNOWN_KEYS[1..].join(", "),
            OPTION_KEYS.join(", ")
        ));
    }
    let name = match obj.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) => return Err("'name' must not be empty".into()),
        None | Some(Value::Null) => return Err("missing required field 'name'".into()),
        Some(_) => return Err("'name' must be a string".into()),
    };
    let job_class_string = match obj.get("job_class_string") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        Some(Value::String(_)) => return Err("'job_class_string' must not be empty".into()),
        None | Some(Value::Null) => {
            return Err("missing required field 'job_class_string'".into());
        }
        Some(_) => return Err("'job_class_string' must be a string".into()),
    };
    let pub_args = match obj.get("pub_args") {
        None | Some(Value::Null) => Value::Array(Vec::new()),
        Some(v @ (Value::Array(_) | Value::Object(_))) => v.clone(),
        Some(other) => {
            return Err(format!(
                "'pub_args' must be a JSON array or object, got {}",
                json_type(other)
            ));
        }
    };
    if let Some(week) = obj.get("week")
        && !(week.is_null() || week.as_str() == Some("*"))
    {
        return Err("'week' is not supported: it is always \"*\"".into());
    }
    let options = JobOptions::parse(obj, limits)?;
    let trigger = parse_trigger(obj, &options)?;
    if matches!(trigger, Trigger::Date { .. })
        && (options.start_date.is_some() || options.end_date.is_some())
    {
        return Err(
            "start_date and end_date apply to cron and interval triggers, not to a date trigger"
                .into(),
        );
    }
    Ok(JobSpec {
        name,
        job_class_string,
        pub_args,
        trigger,
        options,
    })
}

fn parse_trigger(obj: &Map<String, Value>, options: &JobOptions) -> Result<Trigger, String> {
    let params = match obj.get("trigger_params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            return Err(format!(
                "'trigger_params' must be a JSON object, got {}",
                json_type(other)
            ));
        }
    };
    let kind = match obj.get("trigger") {
        None | Some(Value::Null) => {
            if params.contains_key("interval") {
                "interval"
            } else {
                "cron"
            }
        }
        Some(Value::String(s)) if s == "cron" || s == "interval" || s == "date" => s.as_str(),
        Some(other) => {
            return Err(format!(
                "'trigger' must be \"cron\", \"interval\" or \"date\", got {other}"
            ));
        }
    };
    if kind == "date" {
        if let Some(k) = params.keys().find(|k| *k != "run_date") {
            return Err(format!(
                "unknown key '{k}' in trigger_params; a date trigger takes: run_date"
            ));
        }
        return match params.get("run_date") {
            Some(Value::String(s)) => parse_local_time(s, options.tz())
                .map(|run_date| Trigger::Date { run_date })
                .ok_or_else(|| format!("invalid run_date '{s}': use RFC 3339 (2027-01-01T12:00:00Z), or a local date-time in the job's timezone")),
            None => Err("a date trigger needs trigger_params.run_date".into()),
            Some(other) => Err(format!("invalid run_date {other}: it must be a string")),
        };
    }
    if kind == "interval" {
        if let Some(k) = params.keys().find(|k| *k != "interval") {
            return Err(format!(
                "unknown key '{k}' in trigger_params; an interval trigger takes: interval"
            ));
        }
        let seconds = match params.get("interval") {
            Some(Value::Number(n)) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 1.0 && *f <= 1e15)
                    .map(|f| f as u64)
            }),
            Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
            None => {
                return Err("an interval trigger needs trigger_params.interval (seconds)".into());
            }
            Some(_) => None,
        };
        return match seconds {
            Some(s) if (1..=10 * 365 * 86_400).contains(&s) => Ok(Trigger::Interval { seconds: s }),
            _ => Err(format!(
                "invalid interval {}: it must be a whole number of seconds, at least 1 (and at most ten years)",
                params
                    .get("interval")
                    .map(Value::to_string)
                    .unwrap_or_default()
            )),
        };
    }
    if let Some(k) = params
        .keys()
        .find(|k| !FIELD_NAMES.contains(&k.as_str()) && *k != "week" && *k != "second")
    {
        return Err(format!(
            "unknown key '{k}' in trigger_params; a cron trigger takes: {}, second",
            FIELD_NAMES.join(", ")
        ));
    }
    let mut fields: [Option<String>; 5] = Default::default();
    for (i, name) in FIELD_NAMES.iter().enumerate() {
        let flat = field_text(name, obj.get(*name))?;
        let nested = field_text(name, params.get(*name))?;
        fields[i] = match (flat, nested) {
            (Some(a), Some(b)) if a != b => {
                return Err(format!(
                    "'{name}' is given twice with different values ('{a}' and '{b}')"
                ));
            }
            (a, b) => a.or(b),
        };
    }
    let second = match (
        field_text("second", obj.get("second"))?,
        field_text("second", params.get("second"))?,
    ) {
        (Some(a), Some(b)) if a != b => {
            return Err(format!(
                "'second' is given twice with different values ('{a}' and '{b}')"
            ));
        }
        (a, b) => a.or(b),
    };
    let refs = fields.each_ref().map(|f| f.as_deref());
    CronSchedule::parse_with_second(refs, second.as_deref())
        .map(|c| Trigger::Cron(Box::new(c)))
        .map_err(|e| e.to_string())
}

/// A cron field as text: strings as given, whole numbers (APScheduler takes them)
/// as their digits, null as absent.
fn field_text(name: &str, v: Option<&Value>) -> Result<Option<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if n.is_u64() => Ok(Some(n.to_string())),
        Some(other) => Err(format!(
            "invalid {name} expression {other}: it must be a string such as \"*/5\""
        )),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The job JSON in the contract's key order: `job_id, name, next_run_time,
/// job_class_string, pub_args, trigger, trigger_params`, then for cron jobs the flat
/// `month, day, week, day_of_week, hour, minute`.
pub fn job_json(row: &JobRow) -> Value {
    let mut m = Map::new();
    m.insert("job_id".into(), Value::String(row.job_id.clone()));
    m.insert("name".into(), Value::String(row.name.clone()));
    m.insert(
        "next_run_time".into(),
        Value::String(row.next_run_time.map(format_micros).unwrap_or_default()),
    );
    insert_definition(&mut m, row);
    // Extensions, after the original's keys: the options that were set, and the state.
    if let Ok(Value::Object(options)) = serde_json::to_value(JobOptions::from_stored(&row.options))
    {
        m.extend(options);
    }
    let state = match (row.paused, row.next_run_time) {
        (true, _) => "paused",
        (false, Some(_)) => "active",
        (false, None) => "finished",
    };
    m.insert("state".into(), state.into());
    Value::Object(m)
}

/// The `job` object inside an execution: `job_id, name, task_name, job_class_string,
/// pub_args, trigger, trigger_params` and the flat cron fields.
pub fn execution_job_json(row: &JobRow) -> Value {
    let mut m = Map::new();
    m.insert("job_id".into(), Value::String(row.job_id.clone()));
    m.insert("name".into(), Value::String(row.name.clone()));
    m.insert(
        "task_name".into(),
        Value::String(row.job_class_string.clone()),
    );
    insert_definition(&mut m, row);
    Value::Object(m)
}

fn insert_definition(m: &mut Map<String, Value>, row: &JobRow) {
    m.insert(
        "job_class_string".into(),
        Value::String(row.job_class_string.clone()),
    );
    m.insert(
        "pub_args".into(),
        serde_json::from_str(&row.pub_args).unwrap_or(Value::Array(Vec::new())),
    );
    m.insert("trigger".into(), Value::String(row.trigger_kind.clone()));
    let params: Map<String, Value> = serde_json::from_str(&row.trigger_params).unwrap_or_default();
    if row.trigger_kind == "cron" {
        let get = |k: &str| {
            params
                .get(k)
                .cloned()
                .unwrap_or_else(|| Value::String("*".into()))
        };
        m.insert("trigger_params".into(), Value::Object(params.clone()));
        m.insert("month".into(), get("month"));
        m.insert("day".into(), get("day"));
        m.insert("week".into(), Value::String("*".into()));
        m.insert("day_of_week".into(), get("day_of_week"));
        m.insert("hour".into(), get("hour"));
        m.insert("minute".into(), get("minute"));
    } else {
        m.insert("trigger_params".into(), Value::Object(params));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_job_default(body: &Value) -> Result<JobSpec, String> {
        parse_job(body, &OptionLimits::default())
    }

    #[test]
    fn accepts_both_schedule_forms() {
        let seed = parse_job_default(&json!({
            "job_class_string": "a.B", "name": "n", "trigger": "cron",
            "trigger_params": {"minute": "*/1"}
        }))
        .unwrap();
        let flat =
            parse_job_default(&json!({"job_class_string": "a.B", "name": "n", "minute": "*/1"}))
                .unwrap();
        assert_eq!(seed.trigger, flat.trigger);
        let interval = parse_job_default(&json!({
            "job_class_string": "a.B", "name": "n", "trigger": "interval",
            "trigger_params": {"interval": 3600}
        }))
        .unwrap();
        assert_eq!(interval.trigger, Trigger::Interval { seconds: 3600 });
    }

    #[test]
    fn rejects_what_the_original_let_through() {
        let base = |extra: Value| {
            let mut b = json!({"job_class_string": "a.B", "name": "n", "minute": "5"});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            parse_job_default(&b)
        };
        assert!(
            base(json!({"minite": "5"}))
                .unwrap_err()
                .contains("unknown key 'minite'")
        );
        assert!(
            base(json!({"pub_args": "abc"}))
                .unwrap_err()
                .contains("must be a JSON array or object, got a string")
        );
        assert!(
            base(json!({"minute": "abc"}))
                .unwrap_err()
                .contains("invalid minute expression 'abc'")
        );
        assert!(
            base(json!({"minute": ""}))
                .unwrap_err()
                .contains("the minute field is empty")
        );
        assert!(
            base(json!({"name": ""}))
                .unwrap_err()
                .contains("'name' must not be empty")
        );
        assert!(
            parse_job_default(&json!({"job_class_string": "a.B", "name": "n"}))
                .unwrap_err()
                .starts_with("Require at least one of following parameters")
        );
        assert!(parse_job_default(&json!({"job_class_string": "a.B", "name": "n", "trigger": "interval", "trigger_params": {"interval": 0}})).unwrap_err().contains("at least 1"));
        assert!(parse_job_default(&json!({"job_class_string": "a.B", "name": "n", "trigger": "interval", "trigger_params": {"interval": 1.5}})).unwrap_err().contains("whole number"));
    }
}
