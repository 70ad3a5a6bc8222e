//! Cron triggers with APScheduler's field rules, the ones ndscheduler's users wrote
//! their schedules in.
//!
//! Why not the `cron` or `croner` crates: both implement Vixie/Quartz cron, where
//! Sunday is 0 (or 1), day-of-month and day-of-week are OR-ed, and `last fri` /
//! `2nd fri` are written `5L` / `5#2`. ndscheduler passed its fields to APScheduler,
//! so its users' schedules mean: Monday is 0, every field must match (AND), and the
//! `day` field takes `last`, `1st fri`..`5th fri` and `last fri`. Reading those with a
//! Vixie parser would silently fire on other days, so we implement the small grammar
//! here, tested against expected fire sequences.
//!
//! Grammar per field (case-insensitive), a comma-separated list of:
//! `*`, `*/n`, `a`, `a-b`, `a-b/n`, `a/n` (from `a` to the maximum, every `n`),
//! month names `jan`..`dec` and ranges of them, weekday names `mon`..`sun` and ranges
//! of them, and in `day` only: `last`, `1st fri`..`5th fri`, `last fri`.
//!
//! Defaulting (APScheduler's rule): the fields less significant than the least
//! significant field given default to their minimum (`day` 1, `hour` 0, `minute` 0),
//! the more significant ones to `*`. The seconds are always 0.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};
use std::fmt;

/// The cron fields, most significant first (APScheduler's order, without `year`,
/// `week` and `second`, which ndscheduler's API does not expose).
pub const FIELD_NAMES: [&str; 5] = ["month", "day", "day_of_week", "hour", "minute"];

/// A parse error: which field, which expression, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// A field that does not parse.
    #[error("invalid {field} expression '{expr}': {reason}")]
    Invalid {
        /// The field's name.
        field: &'static str,
        /// The expression as given.
        expr: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A field given as an empty string.
    #[error("the {field} field is empty: give an expression such as '*'")]
    Empty {
        /// The field's name.
        field: &'static str,
    },
    /// No field at all.
    #[error(
        "Require at least one of following parameters: ['month', 'day', 'hour', 'minute', 'day_of_week']"
    )]
    NoFields,
    /// Valid fields that no date satisfies (e.g. February 30).
    #[error(
        "the cron schedule never fires (no date matches month '{month}', day '{day}' and day_of_week '{day_of_week}')"
    )]
    NeverFires {
        /// The month expression.
        month: String,
        /// The day expression.
        day: String,
        /// The day_of_week expression.
        day_of_week: String,
    },
}

/// A set of small integers (0..=63).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Bits(u64);

impl Bits {
    fn set(&mut self, v: u32) {
        self.0 |= 1 << v;
    }
    fn has(self, v: u32) -> bool {
        v < 64 && self.0 & (1 << v) != 0
    }
    /// The smallest member `>= from`.
    fn next_from(self, from: u32) -> Option<u32> {
        if from >= 64 {
            return None;
        }
        let rest = self.0 >> from;
        (rest != 0).then(|| from + rest.trailing_zeros())
    }
}

/// `1st` .. `5th` or `last` occurrence of a weekday in its month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ordinal {
    Nth(u32),
    Last,
}

/// The `day` field: days of the month, plus `last` and ordinal weekdays.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct DayField {
    days: Bits,
    last_day: bool,
    weekday_positions: Vec<(Ordinal, u32)>,
}

impl DayField {
    fn matches(&self, date: NaiveDate) -> bool {
        let day = date.day();
        let last = last_day_of_month(date.year(), date.month());
        if self.days.has(day) || (self.last_day && day == last) {
            return true;
        }
        let weekday = date.weekday().num_days_from_monday();
        self.weekday_positions.iter().any(|&(ord, wd)| {
            wd == weekday
                && match ord {
                    Ordinal::Nth(n) => (day - 1) / 7 + 1 == n,
                    Ordinal::Last => day + 7 > last,
                }
        })
    }
}

/// The six fields of a cron schedule, as text, after the defaulting rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CronFields<'a> {
    /// `month` expression.
    pub month: &'a str,
    /// `day` (of the month) expression.
    pub day: &'a str,
    /// `day_of_week` expression (0 = Monday).
    pub day_of_week: &'a str,
    /// `hour` expression.
    pub hour: &'a str,
    /// `minute` expression.
    pub minute: &'a str,
    /// `second` expression: an extension (APScheduler has it, ndscheduler's API does
    /// not pass it); `0` unless given.
    pub second: &'a str,
}

/// The fields' text in one allocation: a scheduler holds a parsed schedule for every
/// job (a million of them in the scale benchmark), and six separate strings cost
/// ~250 bytes more per job than one string and the ends of its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldText {
    text: Box<str>,
    /// Where each field ends in `text`, in [`CronFields`] order.
    ends: [u32; 6],
}

impl FieldText {
    fn new(fields: &[String; 6]) -> Self {
        let mut text = String::with_capacity(fields.iter().map(String::len).sum());
        let mut ends = [0u32; 6];
        for (end, field) in ends.iter_mut().zip(fields) {
            text.push_str(field);
            *end = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        FieldText {
            text: text.into_boxed_str(),
            ends,
        }
    }

    fn get(&self) -> CronFields<'_> {
        let field = |i: usize| {
            let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
            self.text.get(start..self.ends[i] as usize).unwrap_or("")
        };
        CronFields {
            month: field(0),
            day: field(1),
            day_of_week: field(2),
            hour: field(3),
            minute: field(4),
            second: field(5),
        }
    }
}

/// A parsed cron schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    fields: FieldText,
    month: Bits,
    day: DayField,
    day_of_week: Bits,
    hour: Bits,
    minute: Bits,
    second: Bits,
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fl = self.fields();
        write!(
            f,
            "month={} day={} day_of_week={} hour={} minute={} second={}",
            fl.month, fl.day, fl.day_of_week, fl.hour, fl.minute, fl.second
        )
    }
}

/// How far ahead a search for the next fire looks before deciding there is none.
/// A February 29 on a given weekday recurs within 28 years, or 40 across a century
/// year that is not a leap year.
const SEARCH_YEARS: i32 = 50;

impl CronSchedule {
    /// Parses the given fields (in [`FIELD_NAMES`] order; `None` = not given) and
    /// applies APScheduler's defaulting rule.
    ///
    /// # Errors
    /// [`CronError`] naming the field and the expression.
    pub fn parse(given: [Option<&str>; 5]) -> Result<Self, CronError> {
        Self::parse_with_second(given, None)
    }

    /// [`CronSchedule::parse`] with the `second` field too, the least significant one.
    ///
    /// # Errors
    /// [`CronError`] naming the field and the expression.
    pub fn parse_with_second(
        given: [Option<&str>; 5],
        second: Option<&str>,
    ) -> Result<Self, CronError> {
        let [g0, g1, g2, g3, g4] = given;
        let all = [g0, g1, g2, g3, g4, second];
        if all.iter().all(Option::is_none) {
            return Err(CronError::NoFields);
        }
        let names = ["month", "day", "day_of_week", "hour", "minute", "second"];
        let least_significant_given = all.iter().rposition(Option::is_some).unwrap_or(0);
        let defaults = ["1", "1", "*", "0", "0", "0"];
        let mut text: [String; 6] = Default::default();
        for (i, field) in all.iter().enumerate() {
            text[i] = match field {
                Some(expr) => {
                    let expr = expr.trim();
                    if expr.is_empty() {
                        return Err(CronError::Empty { field: names[i] });
                    }
                    expr.to_owned()
                }
                None if i > least_significant_given => defaults[i].to_owned(),
                None => "*".to_owned(),
            };
        }
        let [month, day, day_of_week, hour, minute, second] = &text;
        let schedule = CronSchedule {
            month: parse_numeric("month", month, 1, 12, &MONTH_NAMES)?,
            day: parse_day(day)?,
            day_of_week: parse_numeric("day_of_week", day_of_week, 0, 6, &WEEKDAY_NAMES)?,
            hour: parse_numeric("hour", hour, 0, 23, &[])?,
            minute: parse_numeric("minute", minute, 0, 59, &[])?,
            second: parse_numeric("second", second, 0, 59, &[])?,
            fields: FieldText::new(&text),
        };
        let probe = NaiveDate::from_ymd_opt(2000, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or_default();
        if schedule.next_after(probe).is_none() {
            let f = schedule.fields();
            return Err(CronError::NeverFires {
                month: f.month.to_owned(),
                day: f.day.to_owned(),
                day_of_week: f.day_of_week.to_owned(),
            });
        }
        Ok(schedule)
    }

    /// The fields as text, after defaulting.
    pub fn fields(&self) -> CronFields<'_> {
        self.fields.get()
    }

    /// Whether the hour field starts with `*` (`*`, `*/2`; a range with a step such as
    /// `0-23/2` does not): such jobs follow real time across daylight-saving changes.
    pub fn hour_is_wildcard(&self) -> bool {
        self.fields().hour.starts_with('*')
    }

    /// The first fire time strictly after `t`, in the schedule's own wall-clock time.
    /// `None` if none within [`SEARCH_YEARS`].
    pub fn next_after(&self, t: NaiveDateTime) -> Option<NaiveDateTime> {
        let start = t.with_nanosecond(0)? + Duration::seconds(1);
        let limit_year = start.year() + SEARCH_YEARS;
        let mut date = start.date();
        let (mut hour, mut minute, mut second) = (start.hour(), start.minute(), start.second());
        loop {
            if date.year() > limit_year {
                return None;
            }
            if !self.month.has(date.month()) {
                date = first_of_next_month(date)?;
                (hour, minute, second) = (0, 0, 0);
                continue;
            }
            if !(self.day.matches(date)
                && self.day_of_week.has(date.weekday().num_days_from_monday()))
            {
                date = date.succ_opt()?;
                (hour, minute, second) = (0, 0, 0);
                continue;
            }
            match self.hour.next_from(hour) {
                Some(h) if h < 24 => {
                    if h != hour {
                        (minute, second) = (0, 0);
                    }
                    hour = h;
                }
                _ => {
                    date = date.succ_opt()?;
                    (hour, minute, second) = (0, 0, 0);
                    continue;
                }
            }
            match self.minute.next_from(minute) {
                Some(m) if m < 60 => {
                    if m != minute {
                        second = 0;
                    }
                    minute = m;
                }
                _ => {
                    (minute, second) = (0, 0);
                    hour += 1;
                    if hour > 23 {
                        date = date.succ_opt()?;
                        hour = 0;
                    }
                    continue;
                }
            }
            match self.second.next_from(second) {
                Some(s) if s < 60 => return date.and_hms_opt(hour, minute, s),
                _ => {
                    second = 0;
                    minute += 1;
                    if minute > 59 {
                        minute = 0;
                        hour += 1;
                        if hour > 23 {
                            date = date.succ_opt()?;
                            hour = 0;
                        }
                    }
                }
            }
        }
    }
}

const MONTH_NAMES: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    let (y, m) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
}

/// The last day (28..=31) of a month.
pub fn last_day_of_month(year: i32, month: u32) -> u32 {
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(first_of_next_month)
        .and_then(|d| d.pred_opt())
        .map_or(31, |d| d.day())
}

/// Parses one comma-separated field of numbers (and, where `names` is not empty,
/// names whose index + `min` is the value).
fn parse_numeric(
    field: &'static str,
    expr: &str,
    min: u32,
    max: u32,
    names: &[&str],
) -> Result<Bits, CronError> {
    let mut bits = Bits::default();
    for part in expr.split(',') {
        parse_term(field, expr, part.trim(), min, max, names, &mut bits)?;
    }
    Ok(bits)
}

fn parse_term(
    field: &'static str,
    expr: &str,
    term: &str,
    min: u32,
    max: u32,
    names: &[&str],
    bits: &mut Bits,
) -> Result<(), CronError> {
    let invalid = |reason: String| CronError::Invalid {
        field,
        expr: expr.to_owned(),
        reason,
    };
    if term.is_empty() {
        return Err(invalid("an empty item in the list".into()));
    }
    let term = term.to_ascii_lowercase();
    let (range, step) = match term.split_once('/') {
        Some((range, step)) => {
            let step: u32 = step
                .parse()
                .map_err(|_| invalid(format!("step '{step}' is not a positive whole number")))?;
            if step == 0 {
                return Err(invalid("the step must be at least 1".into()));
            }
            (range, Some(step))
        }
        None => (term.as_str(), None),
    };
    let value = |s: &str| -> Result<u32, CronError> {
        if let Some(i) = names.iter().position(|n| *n == s) {
            if step.is_some() {
                return Err(invalid(format!("a step cannot follow the name '{s}'")));
            }
            return Ok(i as u32 + min);
        }
        let v: u32 = s.parse().map_err(|_| {
            let hint = if names.is_empty() {
                String::new()
            } else {
                format!(" or one of {}", names.join(", "))
            };
            invalid(format!("'{s}' is not a number from {min} to {max}{hint}"))
        })?;
        if !(min..=max).contains(&v) {
            return Err(invalid(format!("{v} is outside {min}..{max}")));
        }
        Ok(v)
    };
    let (first, last) = if range == "*" {
        (min, max)
    } else if let Some((a, b)) = range.split_once('-') {
        let (a, b) = (value(a.trim())?, value(b.trim())?);
        if a > b {
            return Err(invalid(format!(
                "the range starts after it ends ({a} > {b})"
            )));
        }
        (a, b)
    } else {
        let a = value(range)?;
        // `a/n` runs from `a` to the maximum; a bare `a` is just `a`.
        (a, if step.is_some() { max } else { a })
    };
    let step = step.unwrap_or(1);
    let mut v = first;
    while v <= last {
        bits.set(v);
        v += step;
    }
    Ok(())
}

fn parse_day(expr: &str) -> Result<DayField, CronError> {
    let mut day = DayField::default();
    for part in expr.split(',') {
        let term = part.trim().to_ascii_lowercase();
        if term == "last" {
            day.last_day = true;
            continue;
        }
        if let Some((ordinal, weekday)) = term.split_once(' ') {
            let invalid = |reason: String| CronError::Invalid {
                field: "day",
                expr: expr.to_owned(),
                reason,
            };
            let ordinal = match ordinal {
                "1st" => Ordinal::Nth(1),
                "2nd" => Ordinal::Nth(2),
                "3rd" => Ordinal::Nth(3),
                "4th" => Ordinal::Nth(4),
                "5th" => Ordinal::Nth(5),
                "last" => Ordinal::Last,
                other => {
                    return Err(invalid(format!(
                        "'{other}' is not one of 1st, 2nd, 3rd, 4th, 5th, last"
                    )));
                }
            };
            let weekday = WEEKDAY_NAMES
                .iter()
                .position(|n| *n == weekday.trim())
                .ok_or_else(|| {
                    invalid(format!(
                        "'{}' is not a weekday name (mon..sun)",
                        weekday.trim()
                    ))
                })?;
            day.weekday_positions.push((ordinal, weekday as u32));
            continue;
        }
        parse_term("day", expr, &term, 1, 31, &[], &mut day.days)?;
    }
    Ok(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn fires(given: [Option<&str>; 5], from: &str, n: usize) -> Vec<String> {
        let schedule = CronSchedule::parse(given).unwrap();
        let mut t = at(from);
        (0..n)
            .map(|_| {
                t = schedule.next_after(t).unwrap();
                t.format("%Y-%m-%d %a %H:%M").to_string()
            })
            .collect()
    }

    /// `[month, day, day_of_week, hour, minute]` from a compact literal.
    macro_rules! f {
        ($($name:ident = $v:expr),* $(,)?) => {{
            #[allow(unused_mut)]
            let mut g: [Option<&str>; 5] = [None; 5];
            $( g[FIELD_NAMES.iter().position(|n| *n == stringify!($name)).unwrap()] = Some($v); )*
            g
        }};
    }

    /// The fields, a start time, and the fire times that must follow it.
    type Case<'a> = ([Option<&'a str>; 5], &'a str, Vec<&'a str>);

    /// Each row: the fields, a start time, and the fire times that must follow it.
    #[test]
    fn fire_sequences() {
        let cases: Vec<Case> = vec![
            // 1. the seed's every minute
            (
                f!(minute = "*/1"),
                "2026-11-28 16:20",
                vec!["2026-11-28 Sat 16:21", "2026-11-28 Sat 16:22"],
            ),
            // 2. every 15 minutes
            (
                f!(minute = "*/15"),
                "2026-11-28 16:20",
                vec![
                    "2026-11-28 Sat 16:30",
                    "2026-11-28 Sat 16:45",
                    "2026-11-28 Sat 17:00",
                ],
            ),
            // 3. a list of minutes
            (
                f!(minute = "5,35"),
                "2026-11-28 16:20",
                vec!["2026-11-28 Sat 16:35", "2026-11-28 Sat 17:05"],
            ),
            // 4. a range with a step
            (
                f!(minute = "10-30/10"),
                "2026-11-28 16:20",
                vec![
                    "2026-11-28 Sat 16:30",
                    "2026-11-28 Sat 17:10",
                    "2026-11-28 Sat 17:20",
                ],
            ),
            // 5. `a/n` runs to the end of the range
            (
                f!(minute = "50/5"),
                "2026-11-28 16:52",
                vec!["2026-11-28 Sat 16:55", "2026-11-28 Sat 17:50"],
            ),
            // 6. hour alone: the minute defaults to 0
            (
                f!(hour = "3"),
                "2026-11-28 16:20",
                vec!["2026-11-29 Sun 03:00", "2026-11-30 Mon 03:00"],
            ),
            // 7. hour and minute
            (
                f!(hour = "9", minute = "30"),
                "2026-11-28 09:30",
                vec!["2026-11-29 Sun 09:30"],
            ),
            // 8. every 6 hours
            (
                f!(hour = "*/6", minute = "0"),
                "2026-11-28 13:00",
                vec!["2026-11-28 Sat 18:00", "2026-11-29 Sun 00:00"],
            ),
            // 9. day_of_week 0 is Monday
            (
                f!(day_of_week = "0"),
                "2026-11-28 16:20",
                vec!["2026-11-30 Mon 00:00", "2026-12-07 Mon 00:00"],
            ),
            // 10. day_of_week 6 is Sunday
            (
                f!(day_of_week = "6", hour = "12"),
                "2026-11-28 16:20",
                vec!["2026-11-29 Sun 12:00", "2026-12-06 Sun 12:00"],
            ),
            // 11. weekday names and a range of them
            (
                f!(day_of_week = "mon-fri", hour = "8", minute = "0"),
                "2026-11-27 09:00",
                vec!["2026-11-30 Mon 08:00", "2026-12-01 Tue 08:00"],
            ),
            // 12. a list of weekday names
            (
                f!(day_of_week = "tue,thu", hour = "0", minute = "0"),
                "2026-11-28 00:00",
                vec!["2026-12-01 Tue 00:00", "2026-12-03 Thu 00:00"],
            ),
            // 13. month name, and the defaulting rule: day 1, hour 0, minute 0
            (
                f!(month = "feb"),
                "2026-11-28 16:20",
                vec!["2027-02-01 Mon 00:00", "2028-02-01 Tue 00:00"],
            ),
            // 14. month range of names with day
            (
                f!(month = "jun-aug", day = "15", hour = "6"),
                "2026-11-28 16:20",
                vec![
                    "2027-06-15 Tue 06:00",
                    "2027-07-15 Thu 06:00",
                    "2027-08-15 Sun 06:00",
                    "2028-06-15 Thu 06:00",
                ],
            ),
            // 15. the contract's example: month 2 and mon-fri: hour and minute 0, day '*'
            (
                f!(month = "2", day_of_week = "mon-fri"),
                "2027-01-31 00:00",
                vec![
                    "2027-02-01 Mon 00:00",
                    "2027-02-02 Tue 00:00",
                    "2027-02-03 Wed 00:00",
                    "2027-02-04 Thu 00:00",
                    "2027-02-05 Fri 00:00",
                    "2027-02-08 Mon 00:00",
                ],
            ),
            // 16. last day of the month, across 30/31-day months and February
            (
                f!(day = "last", hour = "23", minute = "59"),
                "2027-01-15 00:00",
                vec![
                    "2027-01-31 Sun 23:59",
                    "2027-02-28 Sun 23:59",
                    "2027-03-31 Wed 23:59",
                    "2027-04-30 Fri 23:59",
                ],
            ),
            // 17. last day in a leap year's February
            (
                f!(month = "2", day = "last"),
                "2028-01-01 00:00",
                vec!["2028-02-29 Tue 00:00", "2029-02-28 Wed 00:00"],
            ),
            // 18. the leap day itself
            (
                f!(month = "2", day = "29"),
                "2026-11-28 00:00",
                vec!["2028-02-29 Tue 00:00", "2032-02-29 Sun 00:00"],
            ),
            // 19. day 31 skips the months that lack it
            (
                f!(day = "31", hour = "0", minute = "0"),
                "2027-01-31 00:00",
                vec![
                    "2027-03-31 Wed 00:00",
                    "2027-05-31 Mon 00:00",
                    "2027-07-31 Sat 00:00",
                    "2027-08-31 Tue 00:00",
                ],
            ),
            // 20. second Friday
            (
                f!(day = "2nd fri", hour = "10", minute = "0"),
                "2026-11-28 00:00",
                vec![
                    "2026-12-11 Fri 10:00",
                    "2027-01-08 Fri 10:00",
                    "2027-02-12 Fri 10:00",
                ],
            ),
            // 21. last Friday
            (
                f!(day = "last fri"),
                "2026-11-28 00:00",
                vec![
                    "2026-12-25 Fri 00:00",
                    "2027-01-29 Fri 00:00",
                    "2027-02-26 Fri 00:00",
                ],
            ),
            // 22. fifth Monday: only the months that have one
            (
                f!(day = "5th mon"),
                "2026-11-28 00:00",
                vec![
                    "2026-11-30 Mon 00:00",
                    "2027-03-29 Mon 00:00",
                    "2027-05-31 Mon 00:00",
                ],
            ),
            // 23. day-of-month AND day-of-week (APScheduler), not OR (Vixie): Friday the 13th
            (
                f!(day = "13", day_of_week = "fri"),
                "2026-11-28 00:00",
                vec!["2027-08-13 Fri 00:00", "2028-10-13 Fri 00:00"],
            ),
            // 24. a list mixing numbers and `last`
            (
                f!(day = "1,15,last", hour = "12"),
                "2027-02-10 00:00",
                vec![
                    "2027-02-15 Mon 12:00",
                    "2027-02-28 Sun 12:00",
                    "2027-03-01 Mon 12:00",
                ],
            ),
            // 25. year rollover
            (
                f!(month = "12", day = "31", hour = "23", minute = "59"),
                "2026-12-31 23:59",
                vec!["2027-12-31 Fri 23:59"],
            ),
            // 26. case-insensitive names
            (
                f!(month = "JAN,Jul", day = "1", hour = "0", minute = "0"),
                "2026-11-28 00:00",
                vec!["2027-01-01 Fri 00:00", "2027-07-01 Thu 00:00"],
            ),
            // 27. everything `*` given explicitly: every minute
            (
                f!(
                    month = "*",
                    day = "*",
                    day_of_week = "*",
                    hour = "*",
                    minute = "*"
                ),
                "2026-11-28 23:59",
                vec!["2026-11-29 Sun 00:00", "2026-11-29 Sun 00:01"],
            ),
            // 28. a weekday range with a step is not allowed on names, but numbers are
            (
                f!(day_of_week = "0-6/2", hour = "0", minute = "0"),
                "2026-11-28 00:00",
                vec![
                    "2026-11-29 Sun 00:00",
                    "2026-11-30 Mon 00:00",
                    "2026-12-02 Wed 00:00",
                ],
            ),
            // 29. minute given alone keeps the hour `*`
            (
                f!(minute = "0"),
                "2026-11-28 23:30",
                vec!["2026-11-29 Sun 00:00", "2026-11-29 Sun 01:00"],
            ),
        ];
        assert!(cases.len() >= 25);
        for (given, from, expected) in cases {
            assert_eq!(
                fires(given, from, expected.len()),
                expected,
                "fields {given:?} from {from}"
            );
        }
    }

    #[test]
    fn the_second_extension() {
        let every_15s =
            CronSchedule::parse_with_second([None, None, None, None, None], Some("*/15")).unwrap();
        let mut t = at("2026-11-28 23:59");
        let mut got = Vec::new();
        for _ in 0..5 {
            t = every_15s.next_after(t).unwrap();
            got.push(t.format("%H:%M:%S").to_string());
        }
        // Only `second` given: every other field is `*`.
        assert_eq!(
            got,
            ["23:59:15", "23:59:30", "23:59:45", "00:00:00", "00:00:15"]
        );
        let spread =
            CronSchedule::parse_with_second([None, None, None, Some("3"), Some("*/30")], Some("7"))
                .unwrap();
        let t = spread.next_after(at("2026-11-28 03:30")).unwrap();
        assert_eq!(t.format("%d %H:%M:%S").to_string(), "28 03:30:07");
        let t = spread.next_after(t).unwrap();
        assert_eq!(t.format("%d %H:%M:%S").to_string(), "29 03:00:07");
        // Without `second`, fires stay on whole minutes, whatever second `t` is at.
        let minutely = CronSchedule::parse(f!(minute = "*")).unwrap();
        let t = minutely
            .next_after(at("2026-11-28 10:00") + Duration::seconds(30))
            .unwrap();
        assert_eq!(t.format("%H:%M:%S").to_string(), "10:01:00");
        let err = CronSchedule::parse_with_second([None; 5], Some("60")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid second expression '60': 60 is outside 0..59"
        );
    }

    #[test]
    fn defaulting_rule_fills_in_fields() {
        let s = CronSchedule::parse(f!(hour = "3")).unwrap();
        let f = s.fields();
        assert_eq!(
            (f.month, f.day, f.day_of_week, f.hour, f.minute),
            ("*", "*", "*", "3", "0")
        );
        let s = CronSchedule::parse(f!(month = "2", day_of_week = "mon-fri")).unwrap();
        let f = s.fields();
        assert_eq!((f.day, f.hour, f.minute), ("*", "0", "0"));
        let s = CronSchedule::parse(f!(month = "2")).unwrap();
        assert_eq!(s.fields().day, "1");
    }

    #[test]
    fn errors_name_the_field_and_expression() {
        let err = CronSchedule::parse(f!(minute = "abc")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid minute expression 'abc': 'abc' is not a number from 0 to 59"
        );
        let err = CronSchedule::parse(f!(hour = "25")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid hour expression '25': 25 is outside 0..23"
        );
        let err = CronSchedule::parse(f!(day_of_week = "7")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid day_of_week expression '7'")
        );
        let err = CronSchedule::parse(f!(minute = "*/0")).unwrap_err();
        assert!(err.to_string().contains("at least 1"));
        let err = CronSchedule::parse(f!(minute = "30-10")).unwrap_err();
        assert!(err.to_string().contains("starts after it ends"));
        let err = CronSchedule::parse(f!(day = "6th fri")).unwrap_err();
        assert!(err.to_string().contains("'6th'"));
        assert_eq!(
            CronSchedule::parse(f!(minute = " ")).unwrap_err(),
            CronError::Empty { field: "minute" }
        );
        assert_eq!(
            CronSchedule::parse([None; 5]).unwrap_err(),
            CronError::NoFields
        );
        assert!(matches!(
            CronSchedule::parse(f!(month = "2", day = "30")).unwrap_err(),
            CronError::NeverFires { .. }
        ));
    }
}
