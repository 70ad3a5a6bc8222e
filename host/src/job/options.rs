//! A job's optional settings beyond ndscheduler's: time zone, start and end dates,
//! jitter, concurrency, misfires, limits, retries, and the capabilities it is granted
//! (outbound HTTP, secrets, environment). All optional keys of the job
//! JSON, after the original's; a client that sends none of them sees no difference.

use crate::time::parse_time_bound;
use chrono::{DateTime, NaiveDateTime, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

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
    /// The origins the job may send HTTP requests to (see [`super::AllowList`]);
    /// none: every request is denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_hosts: Option<Vec<String>>,
    /// Limits of its outbound HTTP (unset fields: the server's defaults).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_limits: Option<HttpLimits>,
    /// The secrets it may read, as environment variables of the same names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<String>>,
    /// Plain environment variables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<std::collections::BTreeMap<String, String>>,
}

/// A job's limits on outbound HTTP; an unset field is the server's default, and none
/// may exceed the server's maximum ([`HttpLimitCaps`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpLimits {
    /// Wall-clock limit of one request, from connecting to the end of the response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// Largest response body; a longer one is cut there with an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<u64>,
    /// Requests per run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u32>,
    /// Response bytes per run, over all its requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_total_bytes: Option<u64>,
}

/// The server's defaults and maxima of [`HttpLimits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimitCaps {
    /// Used where a job sets nothing.
    pub default: ResolvedHttpLimits,
    /// No job may set more.
    pub max: ResolvedHttpLimits,
}

/// HTTP limits with every field decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedHttpLimits {
    /// Seconds per request.
    pub timeout_seconds: u64,
    /// Bytes per response body.
    pub max_response_bytes: u64,
    /// Requests per run.
    pub max_requests: u32,
    /// Response bytes per run.
    pub max_total_bytes: u64,
}

impl Default for HttpLimitCaps {
    fn default() -> Self {
        HttpLimitCaps {
            default: ResolvedHttpLimits {
                timeout_seconds: 30,
                max_response_bytes: 10 << 20,
                max_requests: 100,
                max_total_bytes: 50 << 20,
            },
            max: ResolvedHttpLimits {
                timeout_seconds: 600,
                max_response_bytes: 256 << 20,
                max_requests: 10_000,
                max_total_bytes: 1 << 30,
            },
        }
    }
}

impl HttpLimits {
    /// The limits a run uses: the job's where it set them, else the server's default.
    pub fn resolve(this: Option<&HttpLimits>, caps: &HttpLimitCaps) -> ResolvedHttpLimits {
        let d = caps.default;
        let Some(l) = this else { return d };
        ResolvedHttpLimits {
            timeout_seconds: l.timeout_seconds.unwrap_or(d.timeout_seconds),
            max_response_bytes: l.max_response_bytes.unwrap_or(d.max_response_bytes),
            max_requests: l.max_requests.unwrap_or(d.max_requests),
            max_total_bytes: l.max_total_bytes.unwrap_or(d.max_total_bytes),
        }
    }
}

/// The server's bounds on per-job settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionLimits {
    /// Largest `timeout_seconds`.
    pub max_timeout_seconds: u64,
    /// Largest `memory_limit_mb`.
    pub max_memory_limit_mb: u64,
    /// Whether fuel budgets are possible (the engine meters fuel).
    pub fuel_metering: bool,
    /// Defaults and maxima of outbound HTTP.
    pub http: HttpLimitCaps,
    /// The longest job `name`, in characters.
    pub max_name_chars: usize,
    /// The server's memory budget for runs (`--memory-budget-mb`): a job's memory
    /// limit may not exceed it.
    pub memory_budget_mb: Option<u64>,
}

impl Default for OptionLimits {
    fn default() -> Self {
        OptionLimits {
            max_timeout_seconds: 86_400,
            max_memory_limit_mb: 4096,
            fuel_metering: false,
            http: HttpLimitCaps::default(),
            max_name_chars: 200,
            memory_budget_mb: None,
        }
    }
}

impl JobOptions {
    /// No option set: every setting is the server's default.
    pub const NONE: JobOptions = JobOptions {
        timezone: None,
        start_date: None,
        end_date: None,
        jitter_seconds: None,
        max_instances: None,
        concurrency_policy: None,
        misfire_grace_seconds: None,
        coalesce: None,
        timeout_seconds: None,
        memory_limit_mb: None,
        fuel: None,
        retries: None,
        allowed_hosts: None,
        http_limits: None,
        secrets: None,
        env: None,
    };

    /// The options from their stored JSON.
    ///
    /// # Errors
    /// If the text is not the options' JSON (a hand-edited or damaged database): the
    /// caller must not run the job with defaults instead (it would lose its limits).
    pub fn from_stored(json: &str) -> Result<Self, String> {
        serde_json::from_str(json)
            .map_err(|e| format!("the stored options are unreadable ({e}): {json}"))
    }

    /// The options as stored.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
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

/// An environment variable's name: a letter or `_`, then letters, digits or `_`.
pub fn check_variable_name(key: &str, name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let valid = name.len() <= 128
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid {key} name '{name}': use letters, digits and _ (not first), at most 128, e.g. SLACK_TOKEN"
        ))
    }
}

/// The zone named `name`; UTC when none (or an unknown name, which validation refuses).
pub fn zone(name: Option<&str>) -> Tz {
    name.and_then(|n| n.parse().ok()).unwrap_or(Tz::UTC)
}

/// A time given by a user for a job: RFC 3339 with an offset as is; a naive
/// date-time or a date in the job's zone.
///
/// Truncated to whole microseconds, the precision of every stored time: a run date in
/// nanoseconds would lie after the next run time stored for it, so that the fire at
/// that time would find its date still ahead and fire again.
pub fn parse_local_time(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let t = match DateTime::parse_from_rfc3339(s.trim()) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => {
            // `parse_time_bound` reads naive forms as UTC; re-read them in the zone.
            let naive: NaiveDateTime = parse_time_bound(s)?.naive_utc();
            tz.from_local_datetime(&naive)
                .earliest()?
                .with_timezone(&Utc)
        }
    };
    Some(t.trunc_subsecs(6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_kept_to_the_microsecond() {
        let t = parse_local_time("2027-01-01T00:00:00.123456789Z", Tz::UTC).unwrap();
        assert_eq!(t.timestamp_subsec_nanos(), 123_456_000);
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
