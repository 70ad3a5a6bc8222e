//! A job's optional settings beyond ndscheduler's: time zone, start and end dates,
//! jitter, concurrency, misfires, limits and retries. All optional keys of the job
//! JSON, after the original's; a client that sends none of them sees no difference.

use crate::time::parse_time_bound;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What to do with a fire while earlier runs of the job are still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConcurrencyPolicy {
    /// Start it, up to `max_instances` runs at once; beyond, skip it.
    Allow,
    /// Skip it while any run of the job is going.
    Forbid,
    /// Cancel the running ones, then start it.
    Replace,
}

/// How a failed run is retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    /// Retries after the first attempt (so at most `max + 1` attempts).
    pub max: u32,
    /// Wait before the first retry, in seconds.
    #[serde(default)]
    pub backoff_seconds: f64,
    /// Each later wait is the previous one times this (at least 1).
    #[serde(default = "one")]
    pub backoff_factor: f64,
}

fn one() -> f64 {
    1.0
}

impl Retries {
    /// The wait before attempt `attempt` (2 for the first retry).
    pub fn delay_before(&self, attempt: u32) -> std::time::Duration {
        let exponent = i32::try_from(attempt.saturating_sub(2)).unwrap_or(i32::MAX);
        let seconds = self.backoff_seconds * self.backoff_factor.powi(exponent);
        std::time::Duration::from_secs_f64(seconds.clamp(0.0, 30.0 * 86_400.0))
    }
}

/// The optional settings, as stored (JSON in the `options` column) and shown. Unset
/// fields use the server's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobOptions {
    /// IANA zone the cron fields are read in (default UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// No fire before this (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// No fire after this (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// Each fire is delayed by a random 0..n seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter_seconds: Option<u64>,
    /// Concurrent scheduled runs allowed (default: the server's, 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_instances: Option<u32>,
    /// What a fire does while runs are going (default `allow`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency_policy: Option<ConcurrencyPolicy>,
    /// A fire later than this is missed, not run (default: the server's, 3600).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub misfire_grace_seconds: Option<u64>,
    /// Several missed fires run once (default: the server's, true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coalesce: Option<bool>,
    /// Wall-clock limit of a run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// Memory limit of a run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_limit_mb: Option<u64>,
    /// CPU budget of a run, in fuel units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Retries of failed and timed-out runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<Retries>,
}

/// The option keys a job body may carry.
pub const OPTION_KEYS: [&str; 12] = [
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
];

/// The server's bounds on per-job settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionLimits {
    /// Largest `timeout_seconds`.
    pub max_timeout_seconds: u64,
    /// Largest `memory_limit_mb`.
    pub max_memory_limit_mb: u64,
    /// Whether fuel budgets are possible (the engine meters fuel).
    pub fuel_metering: bool,
}

impl Default for OptionLimits {
    fn default() -> Self {
        OptionLimits {
            max_timeout_seconds: 86_400,
            max_memory_limit_mb: 4096,
            fuel_metering: false,
        }
    }
}

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

impl JobOptions {
    /// Parses the option keys of a job body.
    ///
    /// # Errors
    /// A sentence naming the key and the value.
    pub fn parse(obj: &Map<String, Value>, limits: &OptionLimits) -> Result<Self, String> {
        let timezone = match obj.get("timezone") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => {
                name.parse::<Tz>().map_err(|_| {
                    format!(
                        "unknown timezone '{name}': use an IANA name such as Europe/Berlin or UTC"
                    )
                })?;
                Some(name.clone())
            }
            Some(other) => return Err(format!("invalid timezone {other}: it must be a string")),
        };
        let tz = zone(timezone.as_deref());
        let date = |key: &str| -> Result<Option<DateTime<Utc>>, String> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => parse_local_time(s, tz).map(Some).ok_or_else(|| {
                    format!("invalid {key} '{s}': use RFC 3339 (2027-01-01T00:00:00Z), or a local date-time or date in the job's timezone")
                }),
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
        let concurrency_policy = match obj.get("concurrency_policy") {
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
                if !(r.backoff_seconds.is_finite() && (0.0..=86_400.0).contains(&r.backoff_seconds))
                {
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
            memory_limit_mb: whole(obj, "memory_limit_mb", 1..=limits.max_memory_limit_mb)?,
            fuel,
            retries,
        })
    }

    /// The options from the stored JSON (defaults for anything unreadable).
    pub fn from_stored(json: &str) -> Self {
        serde_json::from_str(json).unwrap_or_default()
    }

    /// The job's time zone.
    pub fn tz(&self) -> Tz {
        zone(self.timezone.as_deref())
    }

    /// The start date, parsed.
    pub fn start(&self) -> Option<DateTime<Utc>> {
        self.start_date.as_deref().and_then(parse_utc)
    }

    /// The end date, parsed.
    pub fn end(&self) -> Option<DateTime<Utc>> {
        self.end_date.as_deref().and_then(parse_utc)
    }
}

fn parse_utc(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn zone(name: Option<&str>) -> Tz {
    name.and_then(|n| n.parse().ok()).unwrap_or(Tz::UTC)
}

/// A time given by a user for a job: RFC 3339 with an offset as is; a naive
/// date-time or a date in the job's zone.
pub fn parse_local_time(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Some(t.with_timezone(&Utc));
    }
    // `parse_time_bound` reads naive forms as UTC; re-read them in the zone.
    let naive: NaiveDateTime = parse_time_bound(s)?.naive_utc();
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<JobOptions, String> {
        JobOptions::parse(v.as_object().unwrap(), &OptionLimits::default())
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
    fn backoff_grows_by_the_factor() {
        let r = Retries {
            max: 3,
            backoff_seconds: 2.0,
            backoff_factor: 3.0,
        };
        assert_eq!(r.delay_before(2).as_secs(), 2);
        assert_eq!(r.delay_before(3).as_secs(), 6);
        assert_eq!(r.delay_before(4).as_secs(), 18);
    }
}
