//! JSON request bodies into typed requests: a job body into a [`JobSpec`] (both
//! schedule forms, every option, every validation). Every error is a sentence for the
//! client, naming the key and the value.

use crate::job::cron::{CronSchedule, FIELD_NAMES};
use crate::job::{
    AllowList, ConcurrencyPolicy, HttpLimits, JobOptions, JobSpec, OptionLimits, Retries, Trigger,
    check_variable_name, parse_local_time, zone,
};
use crate::jsonfmt::kind_of;
use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The top-level keys a job body may have: the original's, plus the read-only keys of
/// the job JSON (so that a GET result can be sent back as a PUT), plus the options.
pub(super) const KNOWN_KEYS: [&str; 15] = [
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
        Some(Value::String(s)) if !s.trim().is_empty() => check_name(s, limits.max_name_chars)?,
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
                kind_of(other)
            ));
        }
    };
    if let Some(week) = obj.get("week")
        && !(week.is_null() || week.as_str() == Some("*"))
    {
        return Err("'week' is not supported: it is always \"*\"".into());
    }
    let options = parse_options(obj, limits)?;
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

/// A job name: at most `max_chars` characters, none of them a control character.
fn check_name(name: &str, max_chars: usize) -> Result<String, String> {
    let chars = name.chars().count();
    if chars > max_chars {
        return Err(format!(
            "'name' is {chars} characters long, over the limit of {max_chars} (the server's --max-job-name-chars)"
        ));
    }
    if let Some((at, c)) = name.chars().enumerate().find(|(_, c)| c.is_control()) {
        return Err(format!(
            "'name' must not contain control characters: U+{:04X} at character {}",
            u32::from(c),
            at + 1
        ));
    }
    Ok(name.to_owned())
}

/// The years a `run_date` may fall in.
const RUN_DATE_YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;
/// The years a `start_date` or `end_date` may fall in, in UTC: those RFC 3339 can write
/// (and a client's date type can read: Python's starts at year 1).
const SHOWN_YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// The option keys a job body may carry.
pub const OPTION_KEYS: [&str; 16] = [
    "timezone",
    "start_date",
    "end_date",
    "jitter_seconds",
    "max_instances",
    "concurrency_policy",
    "misfire_grace_seconds",
    "coalesce",
    "timeout_seconds",
    "memory_limit_mb",
    "fuel",
    "retries",
    "allowed_hosts",
    "http_limits",
    "secrets",
    "env",
];

fn whole(
    obj: &Map<String, Value>,
    key: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u64>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(format!(
                "invalid {key} {v}: it must be a whole number from {} to {}",
                range.start(),
                range.end()
            )),
        },
    }
}

/// Parses the option keys of a job body.
fn parse_options(obj: &Map<String, Value>, limits: &OptionLimits) -> Result<JobOptions, String> {
    let timezone = match obj.get("timezone") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => {
            name.parse::<Tz>().map_err(|_| {
                format!("unknown timezone '{name}': use an IANA name such as Europe/Berlin or UTC")
            })?;
            Some(name.clone())
        }
        Some(other) => return Err(format!("invalid timezone {other}: it must be a string")),
    };
    let tz: Tz = zone(timezone.as_deref());
    let date = |key: &str| -> Result<Option<DateTime<Utc>>, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => match parse_local_time(s, tz) {
                Some(t) if SHOWN_YEARS.contains(&t.year()) => Ok(Some(t)),
                // Shown in UTC, it would not be RFC 3339 (`+10000-…`, `-0001-…`).
                Some(_) => Err(format!(
                    "invalid {key} '{s}': in UTC it must be between 0001-01-01 and 9999-12-31"
                )),
                None => Err(format!(
                    "invalid {key} '{s}': use RFC 3339 (2027-01-01T00:00:00Z), or a local date-time or date in the job's timezone"
                )),
            },
            Some(other) => Err(format!("invalid {key} {other}: it must be a string")),
        }
    };
    let start_date = date("start_date")?;
    let end_date = date("end_date")?;
    if let (Some(s), Some(e)) = (start_date, end_date)
        && e < s
    {
        return Err("end_date is before start_date".into());
    }
    let concurrency_policy: Option<ConcurrencyPolicy> = match obj.get("concurrency_policy") {
        None | Some(Value::Null) => None,
        Some(v) => Some(serde_json::from_value(v.clone()).map_err(|_| {
            format!("invalid concurrency_policy {v}: use \"allow\", \"forbid\" or \"replace\"")
        })?),
    };
    let coalesce = match obj.get("coalesce") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            return Err(format!(
                "invalid coalesce {other}: it must be true or false"
            ));
        }
    };
    let retries: Option<Retries> = match obj.get("retries") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let r: Retries = serde_json::from_value(v.clone()).map_err(|e| {
                    format!("invalid retries {v}: {e}; use {{\"max\": n, \"backoff_seconds\": s, \"backoff_factor\": f}}")
                })?;
            if r.max > 100 {
                return Err(format!("invalid retries: max {} is over 100", r.max));
            }
            if !(r.backoff_seconds.is_finite() && (0.0..=86_400.0).contains(&r.backoff_seconds)) {
                return Err("invalid retries: backoff_seconds must be from 0 to 86400".into());
            }
            if !(r.backoff_factor.is_finite() && (1.0..=100.0).contains(&r.backoff_factor)) {
                return Err("invalid retries: backoff_factor must be from 1 to 100".into());
            }
            Some(r)
        }
    };
    let fuel = whole(obj, "fuel", 1..=u64::MAX >> 1)?;
    if fuel.is_some() && !limits.fuel_metering {
        return Err("a fuel budget needs the server started with --fuel-metering".into());
    }
    let grants = parse_grants(obj, limits)?;
    let memory_limit_mb = whole(obj, "memory_limit_mb", 1..=limits.max_memory_limit_mb)?;
    if let (Some(mb), Some(budget)) = (memory_limit_mb, limits.memory_budget_mb)
        && mb > budget
    {
        return Err(format!(
            "invalid memory_limit_mb {mb}: it exceeds the server's memory budget for all \
             runs together, {budget} MiB (--memory-budget-mb)"
        ));
    }
    Ok(JobOptions {
        timezone,
        start_date: start_date.map(crate::time::format_rfc3339),
        end_date: end_date.map(crate::time::format_rfc3339),
        jitter_seconds: whole(obj, "jitter_seconds", 0..=86_400)?,
        max_instances: whole(obj, "max_instances", 1..=1000)?.map(|n| n as u32),
        concurrency_policy,
        misfire_grace_seconds: whole(obj, "misfire_grace_seconds", 1..=366 * 86_400)?,
        coalesce,
        timeout_seconds: whole(obj, "timeout_seconds", 1..=limits.max_timeout_seconds)?,
        memory_limit_mb,
        fuel,
        retries,
        allowed_hosts: grants.allowed_hosts,
        http_limits: grants.http_limits,
        secrets: grants.secrets,
        env: grants.env,
    })
}

/// The capability options of a job body.
struct Grants {
    allowed_hosts: Option<Vec<String>>,
    http_limits: Option<HttpLimits>,
    secrets: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
}

/// The most entries `allowed_hosts`, `secrets` and `env` each take.
const MAX_GRANTS: usize = 100;
/// The longest value of an `env` variable.
const MAX_ENV_VALUE_BYTES: usize = 32 << 10;

fn parse_grants(obj: &Map<String, Value>, limits: &OptionLimits) -> Result<Grants, String> {
    let allowed_hosts = string_list(obj, "allowed_hosts")?;
    if let Some(hosts) = &allowed_hosts {
        AllowList::parse(hosts)?;
    }
    let http_limits: Option<HttpLimits> = match obj.get("http_limits") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let l: HttpLimits = serde_json::from_value(v.clone()).map_err(|e| {
                format!(
                    "invalid http_limits {v}: {e}; use {{\"timeout_seconds\": s, \"max_response_bytes\": n, \"max_requests\": n, \"max_total_bytes\": n}}"
                )
            })?;
            let max = limits.http.max;
            let check = |key: &str, value: Option<u64>, most: u64| match value {
                Some(n) if n == 0 || n > most => Err(format!(
                    "invalid http_limits: {key} {n} must be from 1 to {most} (the server's maximum)"
                )),
                _ => Ok(()),
            };
            check("timeout_seconds", l.timeout_seconds, max.timeout_seconds)?;
            check(
                "max_response_bytes",
                l.max_response_bytes,
                max.max_response_bytes,
            )?;
            check(
                "max_requests",
                l.max_requests.map(u64::from),
                u64::from(max.max_requests),
            )?;
            check("max_total_bytes", l.max_total_bytes, max.max_total_bytes)?;
            Some(l)
        }
    };
    let secrets = string_list(obj, "secrets")?;
    if let Some(names) = &secrets {
        for name in names {
            check_variable_name("secrets", name)?;
        }
    }
    let env: Option<BTreeMap<String, String>> = match obj.get("env") {
        None | Some(Value::Null) => None,
        Some(Value::Object(vars)) => {
            if vars.len() > MAX_GRANTS {
                return Err(format!(
                    "env has {} variables: at most {MAX_GRANTS}",
                    vars.len()
                ));
            }
            let mut env = BTreeMap::new();
            for (name, value) in vars {
                check_variable_name("env", name)?;
                let Value::String(value) = value else {
                    return Err(format!(
                        "invalid env value for {name}: {value} is not a string"
                    ));
                };
                if value.len() > MAX_ENV_VALUE_BYTES {
                    return Err(format!(
                        "invalid env value for {name}: {} bytes, at most {MAX_ENV_VALUE_BYTES}",
                        value.len()
                    ));
                }
                if secrets.as_ref().is_some_and(|s| s.contains(name)) {
                    return Err(format!(
                        "{name} is both in env and in secrets: a variable has one source"
                    ));
                }
                env.insert(name.clone(), value.clone());
            }
            Some(env)
        }
        Some(other) => {
            return Err(format!(
                "invalid env {other}: it must be an object of strings"
            ));
        }
    };
    Ok(Grants {
        allowed_hosts,
        http_limits,
        secrets,
        env,
    })
}

/// An array of distinct strings under `key` (at most [`MAX_GRANTS`]).
fn string_list(obj: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, String> {
    let items = match obj.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(format!(
                "invalid {key} {other}: it must be an array of strings"
            ));
        }
    };
    if items.len() > MAX_GRANTS {
        return Err(format!(
            "{key} has {} entries: at most {MAX_GRANTS}",
            items.len()
        ));
    }
    let mut list: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(s) = item else {
            return Err(format!("invalid {key} entry {item}: it must be a string"));
        };
        if !list.contains(s) {
            list.push(s.clone());
        }
    }
    Ok(Some(list))
}

fn parse_trigger(obj: &Map<String, Value>, options: &JobOptions) -> Result<Trigger, String> {
    let params = match obj.get("trigger_params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            return Err(format!(
                "'trigger_params' must be a JSON object, got {}",
                kind_of(other)
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
            Some(Value::String(s)) => match parse_local_time(s, options.tz()) {
                Some(run_date) if RUN_DATE_YEARS.contains(&run_date.year()) => {
                    Ok(Trigger::Date { run_date })
                }
                Some(_) => Err(format!(
                    "invalid run_date '{s}': it must be between 1970-01-01 and 9999-12-31"
                )),
                None => Err(format!(
                    "invalid run_date '{s}': use RFC 3339 (2027-01-01T12:00:00Z), or a local date-time in the job's timezone"
                )),
            },
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
        .map(|c| Trigger::Cron(Arc::new(c)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::ConcurrencyPolicy;
    use serde_json::json;

    fn parse_job_default(body: &Value) -> Result<JobSpec, String> {
        parse_job(body, &OptionLimits::default())
    }

    fn parse(v: Value) -> Result<JobOptions, String> {
        parse_options(v.as_object().unwrap(), &OptionLimits::default())
    }

    #[test]
    fn parses_and_validates_every_option() {
        let o = parse(json!({"timezone": "Europe/Berlin", "start_date": "2027-01-01", "max_instances": 2, "concurrency_policy": "forbid", "retries": {"max": 2, "backoff_seconds": 1.5}})).unwrap();
        assert_eq!(o.start_date.as_deref(), Some("2026-12-31T23:00:00+00:00"));
        assert_eq!(o.concurrency_policy, Some(ConcurrencyPolicy::Forbid));
        assert_eq!(o.retries.as_ref().unwrap().backoff_factor, 1.0);
        for (bad, message) in [
            (
                json!({"timezone": "Mars/Olympus"}),
                "unknown timezone 'Mars/Olympus'",
            ),
            (json!({"start_date": "soon"}), "invalid start_date 'soon'"),
            (
                json!({"timezone": "America/New_York", "end_date": "9999-12-31T23:00:00"}),
                "invalid end_date '9999-12-31T23:00:00': in UTC it must be between 0001-01-01 \
                 and 9999-12-31",
            ),
            (
                json!({"start_date": "0001-01-01T00:00:00+01:00"}),
                "invalid start_date '0001-01-01T00:00:00+01:00': in UTC",
            ),
            (
                json!({"start_date": "2027-02-01", "end_date": "2027-01-01"}),
                "end_date is before start_date",
            ),
            (json!({"jitter_seconds": -1}), "invalid jitter_seconds -1"),
            (json!({"max_instances": 0}), "invalid max_instances 0"),
            (
                json!({"concurrency_policy": "queue"}),
                "invalid concurrency_policy \"queue\"",
            ),
            (json!({"coalesce": "yes"}), "invalid coalesce \"yes\""),
            (
                json!({"timeout_seconds": 100000}),
                "invalid timeout_seconds 100000: it must be a whole number from 1 to 86400",
            ),
            (json!({"memory_limit_mb": 0}), "invalid memory_limit_mb 0"),
            (
                json!({"fuel": 1000}),
                "a fuel budget needs the server started with --fuel-metering",
            ),
            (
                json!({"retries": {"max": 1, "tries": 2}}),
                "invalid retries",
            ),
            (
                json!({"retries": {"max": 1, "backoff_factor": 0.5}}),
                "invalid retries: backoff_factor",
            ),
        ] {
            let err = parse(bad.clone()).unwrap_err();
            assert!(err.starts_with(message), "{bad}: {err}");
        }
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
