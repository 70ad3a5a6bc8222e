//! The human words for what the API gives as JSON: a job's schedule ("every 5
//! minutes", "cron 0 3 * * * Europe/Berlin"), times, durations and sizes.

use serde_json::Value;

/// A job's schedule in words, from its `trigger`, `trigger_params` and `timezone`.
pub(crate) fn schedule(job: &Value) -> String {
    let params = &job["trigger_params"];
    let zone = job["timezone"].as_str();
    match job["trigger"].as_str() {
        Some("interval") => match number(&params["interval"]) {
            Some(seconds) => every(seconds),
            None => format!("interval {}", params["interval"]),
        },
        Some("date") => {
            let at = params["run_date"].as_str().unwrap_or("?");
            format!("once at {}", time(at))
        }
        Some("cron") => cron(params, zone),
        _ => job["trigger"].to_string(),
    }
}

/// A cron schedule: a plain step of minutes or seconds in words; anything else as its
/// fields (minute hour day month day_of_week, APScheduler's meaning), with the zone
/// when the job has one.
fn cron(params: &Value, zone: Option<&str>) -> String {
    let field = |name: &str| params[name].as_str().unwrap_or("*");
    let second = params["second"].as_str();
    let rest_any = ["day", "month", "day_of_week"]
        .iter()
        .all(|f| field(f) == "*");
    if rest_any && field("hour") == "*" {
        match second {
            None => {
                if let Some(n) = step(field("minute")) {
                    return every(n * 60);
                }
            }
            Some(s) if field("minute") == "*" => {
                if let Some(n) = step(s) {
                    return every(n);
                }
            }
            Some(_) => {}
        }
    }
    let mut words = format!(
        "cron {} {} {} {} {}",
        field("minute"),
        field("hour"),
        field("day"),
        field("month"),
        field("day_of_week")
    );
    if let Some(s) = second {
        words.push_str(&format!(" second {s}"));
    }
    if let Some(zone) = zone {
        words.push(' ');
        words.push_str(zone);
    }
    words
}

/// `*` (every unit) as 1, `*/n` as n.
fn step(field: &str) -> Option<u64> {
    match field {
        "*" => Some(1),
        _ => field.strip_prefix("*/")?.parse().ok().filter(|n| *n > 0),
    }
}

/// "every 5 minutes", "every hour", "every 90 seconds".
pub(crate) fn every(seconds: u64) -> String {
    let (n, unit) = match seconds {
        0 => return "every 0 seconds".to_owned(),
        s if s % 86_400 == 0 => (s / 86_400, "day"),
        s if s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    if n == 1 {
        format!("every {unit}")
    } else {
        format!("every {n} {unit}s")
    }
}

/// A whole number given as a JSON number or a string of digits.
fn number(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

/// An RFC 3339 time of the API as `2026-11-30 12:00:00` (UTC, seconds); `-` for none;
/// anything unparsable as it came.
pub(crate) fn time(rfc3339: &str) -> String {
    if rfc3339.is_empty() {
        return "-".to_owned();
    }
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => rfc3339.to_owned(),
    }
}

/// [`time`] of a JSON value that may be `null`.
pub(crate) fn time_of(v: &Value) -> String {
    time(v.as_str().unwrap_or(""))
}

/// [`time_of`] followed by ` UTC` when there is a time.
pub(crate) fn time_utc(v: &Value) -> String {
    match time_of(v) {
        none if none == "-" => none,
        t => format!("{t} UTC"),
    }
}

/// A duration in milliseconds as "0.043 ms", "12.3 ms", "1.52 s", "2 min 3 s".
pub(crate) fn duration_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3} ms")
    } else if ms < 1_000.0 {
        format!("{ms:.1} ms")
    } else if ms < 60_000.0 {
        format!("{:.2} s", ms / 1_000.0)
    } else {
        let seconds = (ms / 1_000.0).round() as u64;
        format!("{} min {} s", seconds / 60, seconds % 60)
    }
}

/// A size in bytes as "512 B", "192 KiB", "1.5 MiB".
pub(crate) fn bytes(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let n_f = n as f64;
    if n < 1024 {
        format!("{n} B")
    } else if n_f < KIB * KIB {
        format!("{:.0} KiB", n_f / KIB)
    } else if n_f < KIB * KIB * KIB {
        format!("{:.1} MiB", n_f / (KIB * KIB))
    } else {
        format!("{:.1} GiB", n_f / (KIB * KIB * KIB))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cron_job(params: Value) -> Value {
        json!({"trigger": "cron", "trigger_params": params})
    }

    #[test]
    fn minute_steps_read_as_words() {
        let any = |minute: &str| {
            cron_job(
                json!({"minute": minute, "hour": "*", "day": "*", "month": "*", "day_of_week": "*"}),
            )
        };
        assert_eq!(schedule(&any("*/5")), "every 5 minutes");
        assert_eq!(schedule(&any("*/1")), "every minute");
        assert_eq!(schedule(&any("*")), "every minute");
        assert_eq!(schedule(&any("5")), "cron 5 * * * *");
    }

    #[test]
    fn second_steps_read_as_words() {
        let job = cron_job(
            json!({"second": "*/10", "minute": "*", "hour": "*", "day": "*", "month": "*", "day_of_week": "*"}),
        );
        assert_eq!(schedule(&job), "every 10 seconds");
        let job = cron_job(
            json!({"second": "30", "minute": "0", "hour": "3", "day": "*", "month": "*", "day_of_week": "*"}),
        );
        assert_eq!(schedule(&job), "cron 0 3 * * * second 30");
    }

    #[test]
    fn other_cron_schedules_show_their_fields_and_zone() {
        let mut job = cron_job(
            json!({"minute": "0", "hour": "3", "day": "*", "month": "*", "day_of_week": "*"}),
        );
        assert_eq!(schedule(&job), "cron 0 3 * * *");
        job["timezone"] = json!("Europe/Berlin");
        assert_eq!(schedule(&job), "cron 0 3 * * * Europe/Berlin");
        let job = cron_job(
            json!({"minute": "*/5", "hour": "*", "day": "*", "month": "*", "day_of_week": "mon-fri"}),
        );
        assert_eq!(schedule(&job), "cron */5 * * * mon-fri");
    }

    #[test]
    fn intervals_and_dates_read_as_words() {
        let interval = |n: Value| json!({"trigger": "interval", "trigger_params": {"interval": n}});
        assert_eq!(schedule(&interval(json!(300))), "every 5 minutes");
        assert_eq!(schedule(&interval(json!(90))), "every 90 seconds");
        assert_eq!(schedule(&interval(json!(1))), "every second");
        assert_eq!(schedule(&interval(json!(7200))), "every 2 hours");
        assert_eq!(schedule(&interval(json!(86_400))), "every day");
        assert_eq!(schedule(&interval(json!("60"))), "every minute");
        let date =
            json!({"trigger": "date", "trigger_params": {"run_date": "2027-01-01T12:00:00+00:00"}});
        assert_eq!(schedule(&date), "once at 2027-01-01 12:00:00");
    }

    #[test]
    fn times_durations_and_sizes() {
        assert_eq!(
            time("2026-11-28T16:20:15.552222+00:00"),
            "2026-11-28 16:20:15"
        );
        assert_eq!(time("2026-11-28T17:20:15+01:00"), "2026-11-28 16:20:15");
        assert_eq!(time(""), "-");
        assert_eq!(time_of(&Value::Null), "-");
        assert_eq!(time_utc(&Value::Null), "-");
        assert_eq!(
            time_utc(&json!("2026-11-28T16:20:15Z")),
            "2026-11-28 16:20:15 UTC"
        );
        assert_eq!(duration_ms(0.043), "0.043 ms");
        assert_eq!(duration_ms(12.34), "12.3 ms");
        assert_eq!(duration_ms(1520.0), "1.52 s");
        assert_eq!(duration_ms(123_000.0), "2 min 3 s");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(196_608), "192 KiB");
        assert_eq!(bytes(3 << 19), "1.5 MiB");
    }
}
