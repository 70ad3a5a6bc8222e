//! Triggers: when a job fires. A [`Schedule`] is a trigger plus the job's time zone
//! and its start and end dates.
//!
//! Daylight saving time, for cron triggers in a zone that has it, follows a rule close to
//! Vixie cron's and cronie's (they also look at the minute field; this looks at `hour`
//! alone, see [`CronSchedule::hour_is_wildcard`]):
//! - a job whose `hour` field starts with `*` (`*`, `*/2`; not `0-23/2`) follows real
//!   time: a local time inside the spring-forward gap does not exist and is skipped, and a
//!   local time in the hour repeated at fall-back fires at both of its occurrences;
//! - any other job fires once per wall-clock day at each of its times: a time inside the
//!   gap fires once, at the first instant after the gap, and a time that occurs twice fires
//!   at its first occurrence only.
//!
//! Interval triggers ignore wall time; date triggers fire once.

use super::JobOptions;
use super::cron::{CronError, CronSchedule, FIELD_NAMES};
use chrono::offset::LocalResult;
use chrono::{DateTime, Datelike, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// A job's trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Cron fields (APScheduler rules), evaluated in the schedule's time zone. Shared:
    /// jobs loaded with the same fields share one parsed schedule.
    Cron(Arc<CronSchedule>),
    /// Every `seconds` seconds.
    Interval {
        /// The period, at least 1.
        seconds: u64,
    },
    /// Once, at `run_date`.
    Date {
        /// The fire time.
        run_date: DateTime<Utc>,
    },
}

impl Trigger {
    /// `"cron"`, `"interval"` or `"date"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Cron(_) => "cron",
            Trigger::Interval { .. } => "interval",
            Trigger::Date { .. } => "date",
        }
    }

    /// The trigger's parameters as the job JSON shows them: for cron
    /// `{month, day_of_week, day, hour, minute}`, for interval `{interval}`, for date
    /// `{run_date}`.
    pub fn params_json(&self) -> Value {
        match self {
            Trigger::Cron(cron) => {
                let f = cron.fields();
                let mut params = json!({
                    "month": f.month,
                    "day_of_week": f.day_of_week,
                    "day": f.day,
                    "hour": f.hour,
                    "minute": f.minute,
                });
                // The `second` extension shows only when it is not the default, so a
                // client that never sends it sees the original's five fields.
                if f.second != "0" {
                    params["second"] = json!(f.second);
                }
                params
            }
            Trigger::Interval { seconds } => json!({ "interval": seconds }),
            Trigger::Date { run_date } => {
                json!({ "run_date": crate::time::format_rfc3339(*run_date) })
            }
        }
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
                let second = params.get("second").and_then(Value::as_str);
                CronSchedule::parse_with_second(fields, second)
                    .map(|c| Trigger::Cron(Arc::new(c)))
                    .map_err(|e: CronError| e.to_string())
            }
            "interval" => params
                .get("interval")
                .and_then(Value::as_u64)
                .filter(|s| *s >= 1)
                .map(|seconds| Trigger::Interval { seconds })
                .ok_or_else(|| "stored interval is not a positive whole number".to_owned()),
            "date" => params
                .get("run_date")
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|d| Trigger::Date {
                    run_date: d.with_timezone(&Utc),
                })
                .ok_or_else(|| "stored run_date is not an RFC 3339 time".to_owned()),
            other => Err(format!("unknown stored trigger kind '{other}'")),
        }
    }
}

/// The last year a fire may fall in, in UTC and in the job's zone: the API writes times
/// as RFC 3339, whose years have four digits. A schedule has no fire after it.
pub const LAST_FIRE_YEAR: i32 = 9999;

/// A trigger with the job's time zone and start/end dates.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// When.
    pub trigger: Trigger,
    /// The zone cron fields are read in.
    pub timezone: Tz,
    /// No fire before this.
    pub start_date: Option<DateTime<Utc>>,
    /// No fire after this.
    pub end_date: Option<DateTime<Utc>>,
}

impl Schedule {
    /// The trigger with the zone and dates a job's options give it.
    pub fn with_options(trigger: Trigger, options: &JobOptions) -> Self {
        Schedule {
            trigger,
            timezone: options.tz(),
            start_date: options.start(),
            end_date: options.end(),
        }
    }

    /// A schedule in UTC with no bounds.
    pub fn utc(trigger: Trigger) -> Self {
        Schedule {
            trigger,
            timezone: Tz::UTC,
            start_date: None,
            end_date: None,
        }
    }

    /// The first fire strictly after `t`, within the start and end dates.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let from = match self.start_date {
            // The first fire may be the start date itself.
            Some(start) if start > t => start - TimeDelta::microseconds(1),
            _ => t,
        };
        let next = match &self.trigger {
            Trigger::Cron(cron) => next_cron_fire(cron, self.timezone, from),
            Trigger::Interval { seconds } => {
                let period = TimeDelta::seconds(i64::try_from(*seconds).ok()?);
                match self.start_date {
                    // Anchored at the start date: start, start + period, ...
                    Some(start) if from >= start => {
                        let periods =
                            (from - start).num_microseconds()? / period.num_microseconds()? + 1;
                        start.checked_add_signed(period * i32::try_from(periods).ok()?)
                    }
                    Some(start) => Some(start),
                    None => from.checked_add_signed(period),
                }
            }
            Trigger::Date { run_date } => (*run_date > from).then_some(*run_date),
        }?;
        match self.end_date {
            Some(end) if next > end => None,
            _ => self.showable(next),
        }
    }

    /// `t`, unless it falls after [`LAST_FIRE_YEAR`] in UTC or in the schedule's zone.
    fn showable(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let year_in_zone = self.local(t).year();
        (t.year() <= LAST_FIRE_YEAR && year_in_zone <= LAST_FIRE_YEAR).then_some(t)
    }

    /// The first fire of a schedule that starts (or resumes) at `now`: for a date
    /// trigger its date even if past (the misfire policy then decides), otherwise the
    /// first fire after `now`.
    pub fn first_fire(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if let Trigger::Date { run_date } = self.trigger {
            return self.showable(run_date);
        }
        self.next_after(now)
    }

    /// The local wall-clock time of `t` in this schedule's zone.
    pub fn local(&self, t: DateTime<Utc>) -> DateTime<Tz> {
        t.with_timezone(&self.timezone)
    }
}

/// How far around `t` the DST-aware search looks: wider than any UTC offset change.
const DST_WINDOW: TimeDelta = TimeDelta::hours(3);

fn next_cron_fire(cron: &CronSchedule, tz: Tz, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if tz == Tz::UTC {
        return cron.next_after(t.naive_utc()).map(|n| n.and_utc());
    }
    let local_t = t.with_timezone(&tz).naive_local();
    // Far from any offset change (the common case), local times map one to one.
    if let Some(direct) = cron
        .next_after(local_t)
        .and_then(|c| tz.from_local_datetime(&c).single())
        .map(|d| d.with_timezone(&Utc))
        && direct > t
        && direct - t < TimeDelta::days(7)
        && tz.offset_from_utc_datetime(&(t - DST_WINDOW).naive_utc())
            == tz.offset_from_utc_datetime(&(direct + DST_WINDOW).naive_utc())
    {
        return Some(direct);
    }
    // Near a transition, local candidates map to zero, one or two instants, and not in
    // order, so take the earliest instant after `t` over every candidate whose local
    // time is within the window of the best one found.
    let mut candidate = cron.next_after(local_t - DST_WINDOW)?;
    let mut best: Option<DateTime<Utc>> = None;
    loop {
        if let Some(b) = best
            && candidate > b.with_timezone(&tz).naive_local() + DST_WINDOW
        {
            return best;
        }
        for instant in instants_of(cron, tz, candidate) {
            if instant > t && best.is_none_or(|b| instant < b) {
                best = Some(instant);
            }
        }
        candidate = match cron.next_after(candidate) {
            Some(c) => c,
            None => return best,
        };
    }
}

/// The instants at which a local fire time `local` fires, by the DST rule above.
fn instants_of(cron: &CronSchedule, tz: Tz, local: NaiveDateTime) -> Vec<DateTime<Utc>> {
    let follows_real_time = cron.hour_is_wildcard();
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => vec![t.with_timezone(&Utc)],
        LocalResult::Ambiguous(first, second) => {
            if follows_real_time {
                vec![first.with_timezone(&Utc), second.with_timezone(&Utc)]
            } else {
                vec![first.with_timezone(&Utc)]
            }
        }
        LocalResult::None => {
            if follows_real_time {
                return Vec::new();
            }
            // Inside the gap: the first instant after it is the first local minute
            // that exists (gaps start and end on whole minutes).
            let minute = local.with_second(0).unwrap_or(local);
            (1..=180)
                .map(|m| minute + TimeDelta::minutes(m))
                .find_map(|l| tz.from_local_datetime(&l).earliest())
                .map(|t| t.with_timezone(&Utc))
                .into_iter()
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cron(given: [Option<&str>; 5]) -> Trigger {
        Trigger::Cron(Arc::new(CronSchedule::parse(given).unwrap()))
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn fires(schedule: &Schedule, from: &str, n: usize) -> Vec<String> {
        let mut t = utc(from);
        let mut out = Vec::new();
        for _ in 0..n {
            match schedule.next_after(t) {
                Some(next) => {
                    out.push(format!(
                        "{} {}",
                        next.format("%Y-%m-%dT%H:%MZ"),
                        schedule.local(next).format("%H:%M%:z")
                    ));
                    t = next;
                }
                None => break,
            }
        }
        out
    }

    fn zoned(trigger: Trigger, tz: &str) -> Schedule {
        Schedule {
            timezone: tz.parse().unwrap(),
            ..Schedule::utc(trigger)
        }
    }

    // Europe/Berlin: spring forward 2027-03-28 02:00 CET -> 03:00 CEST;
    // fall back 2027-10-31 03:00 CEST -> 02:00 CET.
    // America/New_York: spring forward 2027-03-14 02:00 EST -> 03:00 EDT;
    // fall back 2027-11-07 02:00 EDT -> 01:00 EST.

    #[test]
    fn daily_job_inside_the_spring_gap_fires_once_after_it() {
        let s = zoned(
            cron([None, None, None, Some("2"), Some("30")]),
            "Europe/Berlin",
        );
        assert_eq!(
            fires(&s, "2027-03-26T12:00:00Z", 4),
            [
                "2027-03-27T01:30Z 02:30+01:00",
                "2027-03-28T01:00Z 03:00+02:00", // 02:30 does not exist: first instant after the gap
                "2027-03-29T00:30Z 02:30+02:00",
                "2027-03-30T00:30Z 02:30+02:00",
            ]
        );
        let s = zoned(
            cron([None, None, None, Some("2"), Some("30")]),
            "America/New_York",
        );
        assert_eq!(
            fires(&s, "2027-03-13T12:00:00Z", 3),
            [
                "2027-03-14T07:00Z 03:00-04:00",
                "2027-03-15T06:30Z 02:30-04:00",
                "2027-03-16T06:30Z 02:30-04:00"
            ]
        );
    }

    #[test]
    fn daily_job_in_the_repeated_hour_fires_at_the_first_occurrence_only() {
        let s = zoned(
            cron([None, None, None, Some("2"), Some("30")]),
            "Europe/Berlin",
        );
        assert_eq!(
            fires(&s, "2027-10-29T12:00:00Z", 3),
            [
                "2027-10-30T00:30Z 02:30+02:00",
                "2027-10-31T00:30Z 02:30+02:00",
                "2027-11-01T01:30Z 02:30+01:00"
            ]
        );
        let s = zoned(
            cron([None, None, None, Some("1"), Some("30")]),
            "America/New_York",
        );
        assert_eq!(
            fires(&s, "2027-11-06T12:00:00Z", 2),
            [
                "2027-11-07T05:30Z 01:30-04:00",
                "2027-11-08T06:30Z 01:30-05:00"
            ]
        );
    }

    #[test]
    fn hourly_job_follows_real_time_across_both_transitions() {
        let hourly = cron([None, None, None, None, Some("30")]);
        let s = zoned(hourly.clone(), "Europe/Berlin");
        // Spring: 02:30 does not exist and is skipped.
        assert_eq!(
            fires(&s, "2027-03-28T00:00:00Z", 3),
            [
                "2027-03-28T00:30Z 01:30+01:00",
                "2027-03-28T01:30Z 03:30+02:00",
                "2027-03-28T02:30Z 04:30+02:00"
            ]
        );
        // Fall: 02:30 happens twice and fires twice.
        assert_eq!(
            fires(&s, "2027-10-30T23:00:00Z", 4),
            [
                "2027-10-30T23:30Z 01:30+02:00",
                "2027-10-31T00:30Z 02:30+02:00",
                "2027-10-31T01:30Z 02:30+01:00",
                "2027-10-31T02:30Z 03:30+01:00",
            ]
        );
        let s = zoned(hourly, "America/New_York");
        assert_eq!(
            fires(&s, "2027-11-07T04:00:00Z", 4),
            [
                "2027-11-07T04:30Z 00:30-04:00",
                "2027-11-07T05:30Z 01:30-04:00",
                "2027-11-07T06:30Z 01:30-05:00",
                "2027-11-07T07:30Z 02:30-05:00",
            ]
        );
        assert_eq!(
            fires(&s, "2027-03-14T06:00:00Z", 2),
            [
                "2027-03-14T06:30Z 01:30-05:00",
                "2027-03-14T07:30Z 03:30-04:00"
            ]
        );
    }

    #[test]
    fn start_and_end_dates_bound_the_fires() {
        let s = Schedule {
            start_date: Some(utc("2027-01-01T00:00:00Z")),
            end_date: Some(utc("2027-01-01T00:03:00Z")),
            ..Schedule::utc(cron([None, None, None, None, Some("*")]))
        };
        assert_eq!(
            fires(&s, "2026-06-01T00:00:00Z", 10),
            [
                "2027-01-01T00:00Z 00:00+00:00",
                "2027-01-01T00:01Z 00:01+00:00",
                "2027-01-01T00:02Z 00:02+00:00",
                "2027-01-01T00:03Z 00:03+00:00"
            ]
        );
        let s = Schedule {
            start_date: Some(utc("2027-01-01T00:00:00Z")),
            ..Schedule::utc(Trigger::Interval { seconds: 90 })
        };
        assert_eq!(
            fires(&s, "2026-06-01T00:00:00Z", 3),
            [
                "2027-01-01T00:00Z 00:00+00:00",
                "2027-01-01T00:01Z 00:01+00:00",
                "2027-01-01T00:03Z 00:03+00:00"
            ]
        );
        assert_eq!(
            s.next_after(utc("2027-01-01T00:01:00Z")),
            Some(utc("2027-01-01T00:01:30Z"))
        );
    }

    #[test]
    fn a_date_trigger_fires_once() {
        let s = Schedule::utc(Trigger::Date {
            run_date: utc("2027-01-01T12:00:00Z"),
        });
        assert_eq!(
            s.next_after(utc("2026-01-01T00:00:00Z")),
            Some(utc("2027-01-01T12:00:00Z"))
        );
        assert_eq!(s.next_after(utc("2027-01-01T12:00:00Z")), None);
        assert_eq!(
            s.first_fire(utc("2028-01-01T00:00:00Z")),
            Some(utc("2027-01-01T12:00:00Z"))
        );
    }

    /// A fire the API could not write (year 10000, in UTC or in the zone) is no fire: the
    /// job is finished rather than shown with a `+10000-…` time.
    #[test]
    fn no_fire_falls_after_the_year_9999() {
        let new_year = Schedule {
            start_date: Some(utc("9999-12-31T12:00:00Z")),
            ..Schedule::utc(cron([Some("1"), Some("1"), None, Some("0"), Some("0")]))
        };
        assert_eq!(new_year.next_after(utc("2026-01-01T00:00:00Z")), None);
        let hourly = zoned(
            cron([None, None, None, None, Some("0")]),
            "Pacific/Kiritimati",
        );
        assert_eq!(
            fires(&hourly, "9999-12-31T08:30:00Z", 5),
            ["9999-12-31T09:00Z 23:00+14:00"]
        );
        let decade = Schedule {
            start_date: Some(utc("9999-12-31T12:00:00Z")),
            ..Schedule::utc(Trigger::Interval {
                seconds: 315_360_000,
            })
        };
        assert_eq!(
            fires(&decade, "2026-01-01T00:00:00Z", 3),
            ["9999-12-31T12:00Z 12:00+00:00"]
        );
        let date = zoned(
            Trigger::Date {
                run_date: utc("9999-12-31T20:00:00Z"),
            },
            "Pacific/Kiritimati",
        );
        assert_eq!(date.first_fire(utc("2026-01-01T00:00:00Z")), None);
    }
}
