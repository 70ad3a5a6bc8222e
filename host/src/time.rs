//! Time formats of the API.

use chrono::{DateTime, SecondsFormat, Utc};

/// RFC 3339 in UTC with `+00:00`, microseconds when non-zero:
/// `2026-11-28T16:20:15.552222+00:00` or `2026-11-28T16:20:00+00:00`.
pub fn format_rfc3339(t: DateTime<Utc>) -> String {
    let micros = t.timestamp_subsec_micros();
    let format = if micros == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Micros
    };
    t.to_rfc3339_opts(format, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_like_the_original() {
        let t = Utc.with_ymd_and_hms(2026, 11, 28, 16, 20, 15).unwrap();
        assert_eq!(format_rfc3339(t), "2026-11-28T16:20:15+00:00");
        let t = t + chrono::Duration::microseconds(552_222);
        assert_eq!(format_rfc3339(t), "2026-11-28T16:20:15.552222+00:00");
    }
}

/// Microseconds since the epoch as an API time string.
pub fn format_micros(micros: i64) -> String {
    format_rfc3339(from_micros(micros))
}

/// Microseconds since the epoch to a UTC time (the epoch itself if out of range).
pub fn from_micros(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// Now, in microseconds since the epoch.
pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

/// Parses a time-range bound: RFC 3339 with `Z` or an offset (converted to UTC), a
/// naive date-time (taken as UTC), or a bare date (midnight UTC).
pub fn parse_time_bound(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc());
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod bound_tests {
    use super::*;

    #[test]
    fn parses_every_accepted_time_form() {
        let utc = |s| format_rfc3339(parse_time_bound(s).unwrap());
        assert_eq!(
            utc("2015-12-19T00:31:50.313Z"),
            "2015-12-19T00:31:50.313000+00:00"
        );
        assert_eq!(
            utc("2015-12-19T02:31:50+02:00"),
            "2015-12-19T00:31:50+00:00"
        );
        assert_eq!(utc("2015-12-19T00:31:50"), "2015-12-19T00:31:50+00:00");
        assert_eq!(utc("2015-12-19"), "2015-12-19T00:00:00+00:00");
        assert!(parse_time_bound("yesterday").is_none());
        assert!(parse_time_bound("2015-13-40").is_none());
    }
}
