//! The body `job add` posts and `job edit` puts, from the command's options.
//!
//! The API replaces a job's whole definition on `PUT`, so `job edit` starts from the
//! job as `GET` shows it, drops what is read-only or shown twice (the flat cron fields
//! repeat `trigger_params`), and lays the options given over it: only they change.

use crate::jsonfmt::kind_of;
use anyhow::{Context, bail};
use serde_json::{Map, Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The job definition options of `job add` and `job edit`.
#[derive(Debug, Default, clap::Args)]
#[command(group(clap::ArgGroup::new("cron").multiple(true)))]
#[command(group(clap::ArgGroup::new("interval").conflicts_with_all(["cron", "run_date"])))]
pub(crate) struct JobFields {
    /// The job's name.
    #[arg(long)]
    pub name: Option<String>,
    /// The job class: `<plugin name>.<ClassName>`.
    #[arg(long = "class", value_name = "PLUGIN.CLASS")]
    pub class: Option<String>,
    /// The class's arguments (`pub_args`): a JSON array or object.
    #[arg(long, value_name = "JSON")]
    pub args: Option<String>,
    /// Cron: the second field (APScheduler's syntax, as every cron field).
    #[arg(long, group = "cron", value_name = "EXPR")]
    pub second: Option<String>,
    /// Cron: the minute field, e.g. `*/5`.
    #[arg(long, group = "cron", value_name = "EXPR")]
    pub minute: Option<String>,
    /// Cron: the hour field.
    #[arg(long, group = "cron", value_name = "EXPR")]
    pub hour: Option<String>,
    /// Cron: the day-of-month field (`last`, `2nd fri` too).
    #[arg(long, group = "cron", value_name = "EXPR")]
    pub day: Option<String>,
    /// Cron: the month field.
    #[arg(long, group = "cron", value_name = "EXPR")]
    pub month: Option<String>,
    /// Cron: the day-of-week field (`mon-fri`; 0 is Monday).
    #[arg(long, group = "cron", value_name = "EXPR")]
    pub day_of_week: Option<String>,
    /// An interval schedule: every so many seconds.
    #[arg(long, group = "interval", value_name = "N")]
    pub interval_seconds: Option<u64>,
    /// An interval schedule: every so many minutes.
    #[arg(long, group = "interval", value_name = "N")]
    pub interval_minutes: Option<u64>,
    /// An interval schedule: every so many hours.
    #[arg(long, group = "interval", value_name = "N")]
    pub interval_hours: Option<u64>,
    /// A one-off schedule: when (RFC 3339, or a local date-time in the job's time zone).
    #[arg(long, conflicts_with = "cron", value_name = "TIME")]
    pub run_date: Option<String>,
    /// The job's time zone (an IANA name such as Europe/Berlin).
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,
    /// wasmcron's job options as a JSON object, laid over the body key by key (a key
    /// set to null is removed: the option goes back to its default), e.g.
    /// `{"max_instances": 1, "retries": {"max": 2}}`.
    #[arg(long, value_name = "JSON")]
    pub options: Option<String>,
    /// The whole job as JSON (the API's body) from a file, or `-` for stdin; the other
    /// options are laid over it.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// The cron fields, in the API's names.
const CRON_FIELDS: [&str; 6] = ["second", "minute", "hour", "day", "month", "day_of_week"];

/// Keys of the job JSON that a `PUT` does not need: read-only, or shown twice.
const NOT_SENT_BACK: [&str; 9] = [
    "job_id",
    "next_run_time",
    "state",
    "week",
    "month",
    "day",
    "day_of_week",
    "hour",
    "minute",
];

impl JobFields {
    /// Whether any option other than `--file` was given.
    pub fn changes_anything(&self) -> bool {
        let JobFields {
            name,
            class,
            args,
            second,
            minute,
            hour,
            day,
            month,
            day_of_week,
            interval_seconds,
            interval_minutes,
            interval_hours,
            run_date,
            timezone,
            options,
            file: _,
        } = self;
        name.is_some()
            || class.is_some()
            || args.is_some()
            || [second, minute, hour, day, month, day_of_week]
                .iter()
                .any(|f| f.is_some())
            || interval_seconds.is_some()
            || interval_minutes.is_some()
            || interval_hours.is_some()
            || run_date.is_some()
            || timezone.is_some()
            || options.is_some()
    }

    /// The body of `--file`, if given: a JSON object.
    pub fn file_body(&self) -> anyhow::Result<Option<Map<String, Value>>> {
        let Some(path) = &self.file else {
            return Ok(None);
        };
        let text = read_file(path)?;
        match serde_json::from_str::<Value>(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?
        {
            Value::Object(body) => Ok(Some(body)),
            other => bail!(
                "{} must hold a JSON object (the job), not {}",
                path.display(),
                kind_of(&other)
            ),
        }
    }

    /// `base` with these options laid over it.
    pub fn apply(&self, mut body: Map<String, Value>) -> anyhow::Result<Map<String, Value>> {
        if let Some(name) = &self.name {
            body.insert("name".into(), json!(name));
        }
        if let Some(class) = &self.class {
            body.insert("job_class_string".into(), json!(class));
        }
        if let Some(args) = &self.args {
            let args: Value = serde_json::from_str(args)
                .with_context(|| format!("--args is not JSON: {args}"))?;
            body.insert("pub_args".into(), args);
        }
        self.apply_schedule(&mut body)?;
        if let Some(zone) = &self.timezone {
            body.insert("timezone".into(), json!(zone));
        }
        if let Some(options) = &self.options {
            let options = match serde_json::from_str::<Value>(options)
                .with_context(|| format!("--options is not JSON: {options}"))?
            {
                Value::Object(options) => options,
                other => bail!("--options must be a JSON object, not {}", kind_of(&other)),
            };
            for (key, value) in options {
                if value.is_null() {
                    body.remove(&key);
                } else {
                    body.insert(key, value);
                }
            }
        }
        Ok(body)
    }

    fn interval(&self) -> anyhow::Result<Option<u64>> {
        let seconds = match (
            self.interval_seconds,
            self.interval_minutes,
            self.interval_hours,
        ) {
            (Some(s), _, _) => Some(Some(s)),
            (_, Some(m), _) => Some(m.checked_mul(60)),
            (_, _, Some(h)) => Some(h.checked_mul(3_600)),
            _ => None,
        };
        match seconds {
            Some(None) => bail!("the interval is too long"),
            Some(s) => Ok(s),
            None => Ok(None),
        }
    }

    /// A cron field given changes that field and keeps the others of a cron schedule
    /// (a schedule of another kind becomes cron with the fields given); an interval or
    /// a run date replaces the schedule.
    fn apply_schedule(&self, body: &mut Map<String, Value>) -> anyhow::Result<()> {
        let given: Vec<(&str, &String)> = CRON_FIELDS
            .iter()
            .zip([
                &self.second,
                &self.minute,
                &self.hour,
                &self.day,
                &self.month,
                &self.day_of_week,
            ])
            .filter_map(|(name, value)| value.as_ref().map(|v| (*name, v)))
            .collect();
        let replacement = if let Some(seconds) = self.interval()? {
            Some(("interval", json!({ "interval": seconds })))
        } else if let Some(at) = &self.run_date {
            Some(("date", json!({ "run_date": at })))
        } else if !given.is_empty() {
            let mut fields = if is_cron(body) {
                cron_fields(body)
            } else {
                Map::new()
            };
            for (name, value) in given {
                fields.insert(name.to_owned(), json!(value));
            }
            Some(("cron", Value::Object(fields)))
        } else {
            None
        };
        if let Some((trigger, params)) = replacement {
            for flat in CRON_FIELDS {
                body.remove(flat);
            }
            body.insert("trigger".into(), json!(trigger));
            body.insert("trigger_params".into(), params);
        }
        Ok(())
    }
}

/// The job as `GET` shows it, made a body for `PUT`.
pub(crate) fn editable(job: Value) -> Map<String, Value> {
    let mut body = match job {
        Value::Object(body) => body,
        _ => Map::new(),
    };
    for key in NOT_SENT_BACK {
        body.remove(key);
    }
    body
}

/// Whether a body's schedule is cron: the API's rule, `trigger` or else no interval.
fn is_cron(body: &Map<String, Value>) -> bool {
    match body.get("trigger").and_then(Value::as_str) {
        Some(trigger) => trigger == "cron",
        None => body
            .get("trigger_params")
            .is_none_or(|p| p.get("interval").is_none()),
    }
}

/// A cron body's fields, flat and in `trigger_params` together.
fn cron_fields(body: &Map<String, Value>) -> Map<String, Value> {
    let mut fields = Map::new();
    for name in CRON_FIELDS {
        if let Some(v) = body.get(name) {
            fields.insert(name.to_owned(), v.clone());
        }
    }
    if let Some(Value::Object(params)) = body.get("trigger_params") {
        for (name, value) in params {
            fields.insert(name.clone(), value.clone());
        }
    }
    fields
}

fn read_file(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the job from stdin")?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object: {v}"),
        }
    }

    #[test]
    fn a_new_job_from_options() {
        let fields = JobFields {
            name: Some("nightly".into()),
            class: Some("team.jobs.Report".into()),
            args: Some(r#"["a", 2]"#.into()),
            minute: Some("0".into()),
            hour: Some("3".into()),
            timezone: Some("Europe/Berlin".into()),
            options: Some(r#"{"max_instances": 1}"#.into()),
            ..JobFields::default()
        };
        assert!(fields.changes_anything());
        let body = fields.apply(Map::new()).unwrap();
        assert_eq!(
            Value::Object(body),
            json!({
                "name": "nightly", "job_class_string": "team.jobs.Report", "pub_args": ["a", 2],
                "trigger": "cron", "trigger_params": {"minute": "0", "hour": "3"},
                "timezone": "Europe/Berlin", "max_instances": 1
            })
        );
    }

    #[test]
    fn an_edit_changes_only_what_is_given() {
        let job = json!({
            "job_id": "abc", "name": "old", "next_run_time": "2026-11-28T16:21:00+00:00",
            "job_class_string": "p.C", "pub_args": [], "trigger": "cron",
            "trigger_params": {"month": "*", "day_of_week": "*", "day": "*", "hour": "*", "minute": "*/1"},
            "month": "*", "day": "*", "week": "*", "day_of_week": "*", "hour": "*", "minute": "*/1",
            "timezone": "UTC", "retries": {"max": 2}, "state": "active"
        });
        let fields = JobFields {
            hour: Some("3".into()),
            options: Some(r#"{"retries": null, "coalesce": false}"#.into()),
            ..JobFields::default()
        };
        let body = fields.apply(editable(job)).unwrap();
        assert_eq!(
            Value::Object(body),
            json!({
                "name": "old", "job_class_string": "p.C", "pub_args": [], "trigger": "cron",
                "trigger_params": {"month": "*", "day_of_week": "*", "day": "*", "hour": "3", "minute": "*/1"},
                "timezone": "UTC", "coalesce": false
            })
        );
    }

    #[test]
    fn an_interval_or_a_date_replaces_the_schedule() {
        let cron = || object(json!({"name": "j", "minute": "5", "trigger_params": {"hour": "1"}}));
        let fields = JobFields {
            interval_minutes: Some(5),
            ..JobFields::default()
        };
        let body = fields.apply(cron()).unwrap();
        assert_eq!(
            Value::Object(body),
            json!({"name": "j", "trigger": "interval", "trigger_params": {"interval": 300}})
        );
        let fields = JobFields {
            run_date: Some("2027-01-01T12:00:00Z".into()),
            ..JobFields::default()
        };
        let body = fields.apply(cron()).unwrap();
        assert_eq!(body["trigger"], "date");
        assert_eq!(
            body["trigger_params"],
            json!({"run_date": "2027-01-01T12:00:00Z"})
        );
        // A cron field given to an interval job makes it a cron job of that field.
        let interval = object(json!({"trigger": "interval", "trigger_params": {"interval": 60}}));
        let fields = JobFields {
            minute: Some("*/2".into()),
            ..JobFields::default()
        };
        let body = fields.apply(interval).unwrap();
        assert_eq!(
            Value::Object(body),
            json!({"trigger": "cron", "trigger_params": {"minute": "*/2"}})
        );
    }

    #[test]
    fn flat_fields_of_a_file_are_kept_when_one_changes() {
        let file = object(json!({"name": "j", "minute": "5", "hour": "1"}));
        let fields = JobFields {
            hour: Some("2".into()),
            ..JobFields::default()
        };
        let body = fields.apply(file).unwrap();
        assert_eq!(
            Value::Object(body),
            json!({"name": "j", "trigger": "cron", "trigger_params": {"minute": "5", "hour": "2"}})
        );
    }

    #[test]
    fn bad_json_options_are_named() {
        let fields = JobFields {
            args: Some("[1,".into()),
            ..JobFields::default()
        };
        let e = fields.apply(Map::new()).unwrap_err();
        assert!(
            format!("{e:#}").starts_with("--args is not JSON: [1,"),
            "{e:#}"
        );
        let fields = JobFields {
            options: Some("[1]".into()),
            ..JobFields::default()
        };
        let e = fields.apply(Map::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--options must be a JSON object, not an array"
        );
        assert!(!JobFields::default().changes_anything());
    }
}
