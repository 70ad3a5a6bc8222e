//! Triggers: when a job fires.

use super::cron::{CronError, CronSchedule, FIELD_NAMES};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};

/// A job's trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Cron fields (APScheduler rules), evaluated in UTC.
    Cron(CronSchedule),
    /// Every `seconds` seconds.
    Interval {
        /// The period, at least 1.
        seconds: u64,
    },
}

impl Trigger {
    /// `"cron"` or `"interval"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Cron(_) => "cron",
            Trigger::Interval { .. } => "interval",
        }
    }

    /// The trigger's parameters as the job JSON shows them: for cron
    /// `{month, day_of_week, day, hour, minute}`, for interval `{interval}`.
    pub fn params_json(&self) -> Value {
        match self {
            Trigger::Cron(cron) => {
                let f = cron.fields();
                json!({
                    "month": f.month,
                    "day_of_week": f.day_of_week,
                    "day": f.day,
                    "hour": f.hour,
                    "minute": f.minute,
                })
            }
            Trigger::Interval { seconds } => json!({ "interval": seconds }),
        }
    }

    /// The first fire strictly after `t` (`None` if there is none).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Trigger::Cron(cron) => cron.next_after(t.naive_utc()).map(|n| n.and_utc()),
            Trigger::Interval { seconds } => {
                t.checked_add_signed(TimeDelta::seconds(i64::try_from(*seconds).ok()?))
            }
        }
    }

    /// The first fire at or after `now` for a trigger that starts now: for cron the
    /// next matching minute, for an interval one period from now (as APScheduler).
    pub fn first_fire(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_after(now)
    }

    /// Rebuilds a stored trigger.
    ///
    /// # Errors
    /// If the stored text no longer parses (a bug or a hand-edited database).
    pub fn from_stored(kind: &str, params: &str) -> Result<Self, String> {
        let params: Map<String, Value> = serde_json::from_str(params)
            .map_err(|e| format!("stored trigger_params are not a JSON object: {e}"))?;
        match kind {
            "cron" => {
                let fields = FIELD_NAMES.map(|name| params.get(name).and_then(Value::as_str));
                CronSchedule::parse(fields)
                    .map(Trigger::Cron)
                    .map_err(|e: CronError| e.to_string())
            }
            "interval" => params
                .get("interval")
                .and_then(Value::as_u64)
                .filter(|s| *s >= 1)
                .map(|seconds| Trigger::Interval { seconds })
                .ok_or_else(|| "stored interval is not a positive whole number".to_owned()),
            other => Err(format!("unknown stored trigger kind '{other}'")),
        }
    }
}
