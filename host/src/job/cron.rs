//! Cron triggers with APScheduler's field rules, the ones ndscheduler's users wrote
//! their schedules in.
//!
//! Why not the `cron` or `croner` crates: both implement Vixie/Quartz cron, where
//! Sunday is 0 (or 1), day-of-month and day-of-week are OR-ed, and `last fri` /
//! `2nd fri` are written `5L` / `5#2`. ndscheduler passed its fields to APScheduler,
//! so its users' schedules mean: Monday is 0, every field must match (AND), and the
//! `day` field takes `last`, `1st fri`..`5th fri` and `last fri`. Reading those with a
//! Vixie parser would silently fire on other days, so we implement the small grammar
//! here, tested against expected fire sequences, and against APScheduler itself
//! (`tests/cron_compat.rs`).
//!
//! Grammar per field (case-insensitive), a comma-separated list of:
//! `*`, `*/n`, `a`, `a-b`, `a-b/n`, `a/n` (from `a` to the maximum, every `n`),
//! month names `jan`..`dec` and ranges of them, weekday names `mon`..`sun` and ranges
//! of them, and in `day` only: `last`, `1st fri`..`5th fri`, `last fri`. Numbers are
//! ASCII digits without a sign; an item has no spaces inside (`1-5`, not `1 - 5`); a
//! range is of two numbers or of two names; and a step may not be larger than the range
//! it steps through (`*/60` minutes, `5-10/7`): APScheduler refuses all of these.
//!
//! Defaulting (APScheduler's rule): the fields less significant than the least
//! significant field given default to their minimum (`day` 1, `hour` 0, `minute` 0,
//! `second` 0), the more significant ones to `*`. `second` is 0 unless given.

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
    if term.contains(char::is_whitespace) {
        let compact: String = term.split_whitespace().collect();
        let hint = if compact
            .bytes()
            .all(|b| b.is_ascii_digit() || b"*-/".contains(&b))
        {
            format!(": write it without spaces, as '{compact}'")
        } else {
            String::new()
        };
        return Err(invalid(format!("'{term}' has a space inside it{hint}")));
    }
    let term = term.to_ascii_lowercase();
    let (range, step) = match term.split_once('/') {
        Some((range, text)) => {
            let step = match number(text) {
                Number::Digits(n) => n,
                // Too large for any field: the step check below says so.
                Number::TooLarge => u64::MAX,
                Number::Signed => return Err(invalid(signed(text))),
                Number::Other => {
                    return Err(invalid(format!(
                        "step '{text}' is not a positive whole number"
                    )));
                }
            };
            if step == 0 {
                return Err(invalid("the step must be at least 1".into()));
            }
            (range, Some((step, text)))
        }
        None => (term.as_str(), None),
    };
    // A value and whether it was written as a name.
    let value = |s: &str| -> Result<(u32, bool), CronError> {
        if let Some(i) = names.iter().position(|n| *n == s) {
            if step.is_some() {
                return Err(invalid(format!("a step cannot follow the name '{s}'")));
            }
            return Ok((i as u32 + min, true));
        }
        match number(s) {
            Number::Digits(v) if (u64::from(min)..=u64::from(max)).contains(&v) => {
                Ok((v as u32, false))
            }
            Number::Digits(v) => Err(invalid(format!("{v} is outside {min}..{max}"))),
            Number::TooLarge => Err(invalid(format!("{s} is outside {min}..{max}"))),
            Number::Signed => Err(invalid(signed(s))),
            Number::Other => {
                let hint = if names.is_empty() {
                    String::new()
                } else {
                    format!(" or one of {}", names.join(", "))
                };
                Err(invalid(format!(
                    "'{s}' is not a number from {min} to {max}{hint}"
                )))
            }
        }
    };
    let (first, last) = if range == "*" {
        (min, max)
    } else if let Some((a, b)) = range.split_once('-').filter(|(a, _)| !a.is_empty()) {
        if b.is_empty() {
            return Err(invalid(format!("the range '{range}' has no end")));
        }
        let ((a, a_named), (b, b_named)) = (value(a)?, value(b)?);
        if a_named != b_named {
            let as_names = |v: u32| names.get((v - min) as usize).copied().unwrap_or("?");
            return Err(invalid(format!(
                "the range '{range}' mixes a number and a name: write both alike, \
                 as {a}-{b} or {}-{}",
                as_names(a),
                as_names(b)
            )));
        }
        if a > b {
            return Err(invalid(format!(
                "the range starts after it ends ({a} > {b})"
            )));
        }
        (a, b)
    } else {
        let (a, _) = value(range)?;
        // `a/n` runs from `a` to the maximum; a bare `a` is just `a`.
        (a, if step.is_some() { max } else { a })
    };
    // APScheduler refuses a step larger than the range it steps through (`*/60`
    // minutes, `5-10/7`, `59/1`): such a step would only ever reach the first value.
    if let Some((step, text)) = step
        && step > u64::from(last - first)
    {
        return Err(invalid(step_too_large(field, text, first, last, min, max)));
    }
    let step = step.map_or(1, |(step, _)| step);
    // The step is at most 63 here, and the values are stepped by an iterator: no sum
    // can wrap.
    for v in (first..=last).step_by(step as usize) {
        bits.set(v);
    }
    Ok(())
}

/// A field's text read as a whole number.
enum Number {
    /// Digits 0-9 only, within `u64`.
    Digits(u64),
    /// Digits only, too many for `u64`.
    TooLarge,
    /// Digits after a `+` or `-` sign.
    Signed,
    /// Anything else.
    Other,
}

/// Reads `s` as APScheduler does: ASCII digits only, no sign, no spaces.
fn number(s: &str) -> Number {
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if digits(s) {
        s.parse().map_or(Number::TooLarge, Number::Digits)
    } else if s.strip_prefix(['+', '-']).is_some_and(digits) {
        Number::Signed
    } else {
        Number::Other
    }
}

fn signed(s: &str) -> String {
    format!(
        "'{s}' has a sign: write the number alone, as '{}'",
        s.trim_start_matches(['+', '-'])
    )
}

/// Why a step larger than its range is refused, and what to write instead.
fn step_too_large(field: &str, text: &str, first: u32, last: u32, min: u32, max: u32) -> String {
    let step = text.parse::<u64>().ok();
    // As a number (`060` is 60), or as given when it is too large for one.
    let shown = step.map_or_else(|| text.to_owned(), |n| n.to_string());
    let mut reason = format!(
        "the step {shown} is larger than the range {first}..{last} it steps through, \
         so only {first} would match: write '{first}'"
    );
    // What the field's smallest value alone fires, and the unit of a step over the
    // whole field when an interval trigger can say it.
    let (once, unit) = match field {
        "second" => ("once a minute", Some(("seconds", 1))),
        "minute" => ("once an hour", Some(("minutes", 60))),
        "hour" => ("once a day", Some(("hours", 3_600))),
        "day" => ("once a month", None),
        "day_of_week" => ("once a week", None),
        _ => ("once a year", None),
    };
    let whole_field = first == min && last == max;
    if whole_field && step == Some(u64::from(max - min + 1)) {
        // `*/60` minutes: every 60 minutes is the smallest value, once an hour.
        reason.push_str(&format!(" to fire {once}"));
        return reason;
    }
    reason.push_str(" for that");
    if let (true, Some(step), Some((unit, seconds))) = (whole_field, step, unit)
        && let Some(interval) = step.checked_mul(seconds).filter(|s| *s <= 315_360_000)
    {
        reason.push_str(&format!(
            "; to fire every {step} {unit}, use an interval trigger (\"interval\": {interval})"
        ));
    }
    reason
}

fn parse_day(expr: &str) -> Result<DayField, CronError> {
    let mut day = DayField::default();
    for part in expr.split(',') {
        let term = part.trim().to_ascii_lowercase();
        if term == "last" {
            day.last_day = true;
            continue;
        }
        // `1st fri`, `last fri`; `1 - 5` is a range with spaces, refused below.
        if let Some((ordinal, weekday)) = term
            .split_once(' ')
            .filter(|(ordinal, _)| ordinal.contains(|c: char| c.is_ascii_alphabetic()))
        {
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

    fn error(given: [Option<&str>; 5]) -> String {
        CronSchedule::parse(given).unwrap_err().to_string()
    }

    /// The values a field expression matches.
    fn values(field: &'static str, expr: &str) -> Result<Vec<u32>, CronError> {
        let (min, max, names): (u32, u32, &[&str]) = match field {
            "month" => (1, 12, &MONTH_NAMES),
            "day" => (1, 31, &[]),
            "day_of_week" => (0, 6, &WEEKDAY_NAMES),
            "hour" => (0, 23, &[]),
            _ => (0, 59, &[]),
        };
        let bits = parse_numeric(field, expr, min, max, names)?;
        Ok((0..64).filter(|v| bits.has(*v)).collect())
    }

    /// A step near the 32-bit limit used to wrap in release builds (`59/4294967295`
    /// fired every minute) and to panic in debug builds: it is larger than any range.
    #[test]
    fn steps_near_the_integer_limits_are_refused() {
        assert_eq!(
            error(f!(minute = "59/4294967295")),
            "invalid minute expression '59/4294967295': the step 4294967295 is larger than \
             the range 59..59 it steps through, so only 59 would match: write '59' for that"
        );
        assert_eq!(
            error(f!(hour = "23/4294967295")),
            "invalid hour expression '23/4294967295': the step 4294967295 is larger than \
             the range 23..23 it steps through, so only 23 would match: write '23' for that"
        );
        assert_eq!(
            error(f!(minute = "30-59/4294967290")),
            "invalid minute expression '30-59/4294967290': the step 4294967290 is larger \
             than the range 30..59 it steps through, so only 30 would match: write '30' for that"
        );
        // Beyond 64 bits, and a step whose interval would overflow: no interval hint.
        assert_eq!(
            error(f!(minute = "*/99999999999999999999")),
            "invalid minute expression '*/99999999999999999999': the step 99999999999999999999 \
             is larger than the range 0..59 it steps through, so only 0 would match: write '0' \
             for that"
        );
        assert_eq!(
            error(f!(hour = "*/18446744073709551615")),
            "invalid hour expression '*/18446744073709551615': the step 18446744073709551615 \
             is larger than the range 0..23 it steps through, so only 0 would match: write '0' \
             for that"
        );
        assert_eq!(
            error(f!(minute = "4294967356")),
            "invalid minute expression '4294967356': 4294967356 is outside 0..59"
        );
        assert_eq!(
            error(f!(day = "99999999999999999999-3")),
            "invalid day expression '99999999999999999999-3': 99999999999999999999 is outside 1..31"
        );
    }

    /// APScheduler refuses a step larger than the range it steps through; the message
    /// says what such a step would have done, and what was likely meant.
    #[test]
    fn steps_larger_than_their_range_are_refused() {
        assert_eq!(
            error(f!(minute = "*/60")),
            "invalid minute expression '*/60': the step 60 is larger than the range 0..59 it \
             steps through, so only 0 would match: write '0' to fire once an hour"
        );
        assert_eq!(
            error(f!(hour = "*/24")),
            "invalid hour expression '*/24': the step 24 is larger than the range 0..23 it \
             steps through, so only 0 would match: write '0' to fire once a day"
        );
        assert_eq!(
            error(f!(month = "*/12")),
            "invalid month expression '*/12': the step 12 is larger than the range 1..12 it \
             steps through, so only 1 would match: write '1' to fire once a year"
        );
        assert_eq!(
            error(f!(day = "*/31")),
            "invalid day expression '*/31': the step 31 is larger than the range 1..31 it \
             steps through, so only 1 would match: write '1' to fire once a month"
        );
        assert_eq!(
            error(f!(day_of_week = "0-6/7")),
            "invalid day_of_week expression '0-6/7': the step 7 is larger than the range 0..6 \
             it steps through, so only 0 would match: write '0' to fire once a week"
        );
        assert_eq!(
            CronSchedule::parse_with_second([None; 5], Some("0/60"))
                .unwrap_err()
                .to_string(),
            "invalid second expression '0/60': the step 60 is larger than the range 0..59 it \
             steps through, so only 0 would match: write '0' to fire once a minute"
        );
        assert_eq!(
            error(f!(minute = "5-10/7")),
            "invalid minute expression '5-10/7': the step 7 is larger than the range 5..10 it \
             steps through, so only 5 would match: write '5' for that"
        );
        assert_eq!(
            error(f!(minute = "*/90")),
            "invalid minute expression '*/90': the step 90 is larger than the range 0..59 it \
             steps through, so only 0 would match: write '0' for that; to fire every 90 \
             minutes, use an interval trigger (\"interval\": 5400)"
        );
        assert_eq!(
            error(f!(hour = "*/36")),
            "invalid hour expression '*/36': the step 36 is larger than the range 0..23 it \
             steps through, so only 0 would match: write '0' for that; to fire every 36 \
             hours, use an interval trigger (\"interval\": 129600)"
        );
        // A step with leading zeros is shown as its number.
        assert_eq!(
            error(f!(minute = "*/060")),
            "invalid minute expression '*/060': the step 60 is larger than the range 0..59 it \
             steps through, so only 0 would match: write '0' to fire once an hour"
        );
        // `59/1` steps through 59..59: APScheduler refuses it too.
        assert!(error(f!(minute = "59/1")).contains("the step 1 is larger than the range 59..59"));
        assert!(error(f!(minute = "7-7/1")).contains("the step 1 is larger than the range 7..7"));
        // A step as large as the range is fine: the first and the last value.
        assert_eq!(values("minute", "*/59"), Ok(vec![0, 59]));
        assert_eq!(values("hour", "*/23"), Ok(vec![0, 23]));
        assert_eq!(values("month", "*/11"), Ok(vec![1, 12]));
        assert_eq!(values("day", "*/30"), Ok(vec![1, 31]));
        assert_eq!(values("day_of_week", "*/6"), Ok(vec![0, 6]));
        assert_eq!(values("minute", "5-10/5"), Ok(vec![5, 10]));
        assert_eq!(values("minute", "58/1"), Ok(vec![58, 59]));
        assert_eq!(values("minute", "7-7"), Ok(vec![7]));
    }

    /// Forms APScheduler refuses that a lenient number parser would take: a sign,
    /// spaces inside an item, a range that mixes a number and a name, a half range.
    #[test]
    fn signs_spaces_and_mixed_ranges_are_refused() {
        assert_eq!(
            error(f!(minute = "+5")),
            "invalid minute expression '+5': '+5' has a sign: write the number alone, as '5'"
        );
        assert_eq!(
            error(f!(minute = "-5")),
            "invalid minute expression '-5': '-5' has a sign: write the number alone, as '5'"
        );
        assert_eq!(
            error(f!(minute = "*/+5")),
            "invalid minute expression '*/+5': '+5' has a sign: write the number alone, as '5'"
        );
        assert_eq!(
            error(f!(minute = "1 - 5")),
            "invalid minute expression '1 - 5': '1 - 5' has a space inside it: write it \
             without spaces, as '1-5'"
        );
        assert_eq!(
            error(f!(day = "1 -5,last")),
            "invalid day expression '1 -5,last': '1 -5' has a space inside it: write it \
             without spaces, as '1-5'"
        );
        assert_eq!(
            error(f!(hour = "*/ 2")),
            "invalid hour expression '*/ 2': '*/ 2' has a space inside it: write it without \
             spaces, as '*/2'"
        );
        assert_eq!(
            error(f!(day_of_week = "mon - fri")),
            "invalid day_of_week expression 'mon - fri': 'mon - fri' has a space inside it"
        );
        assert_eq!(
            error(f!(month = "1-mar")),
            "invalid month expression '1-mar': the range '1-mar' mixes a number and a name: \
             write both alike, as 1-3 or jan-mar"
        );
        assert_eq!(
            error(f!(day_of_week = "mon-4")),
            "invalid day_of_week expression 'mon-4': the range 'mon-4' mixes a number and a \
             name: write both alike, as 0-4 or mon-fri"
        );
        assert_eq!(
            error(f!(minute = "5-")),
            "invalid minute expression '5-': the range '5-' has no end"
        );
        // Spaces around items stay allowed, as APScheduler allows them around commas.
        assert_eq!(values("minute", "5, 35 ,50"), Ok(vec![5, 35, 50]));
        assert_eq!(values("day_of_week", "MON-wed"), Ok(vec![0, 1, 2]));
        let ordinal = CronSchedule::parse(f!(day = "1st  fri, last")).unwrap();
        assert!(ordinal.day.last_day);
        assert_eq!(ordinal.day.weekday_positions, [(Ordinal::Nth(1), 4)]);
    }

    /// A xorshift64* generator: deterministic, so a failure repeats.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Random field text never panics: it parses to values inside the field's range, or
    /// is refused with a message naming the field and the expression.
    #[test]
    fn random_field_text_parses_or_says_why() {
        let pieces = [
            "*",
            "/",
            "-",
            ",",
            " ",
            "+",
            "0",
            "1",
            "2",
            "5",
            "7",
            "12",
            "13",
            "23",
            "24",
            "31",
            "32",
            "59",
            "60",
            "64",
            "4294967295",
            "4294967296",
            "18446744073709551615",
            "99999999999999999999",
            "mon",
            "Fri",
            "jan",
            "DEC",
            "last",
            "1st",
            "5th",
            "6th",
            "x",
            "\t",
            "é",
            "٣",
        ];
        let names = ["month", "day", "day_of_week", "hour", "minute", "second"];
        // The values each field may hold, as bits (`Bits`).
        let ranges: [u64; 6] = [
            0x1ffe,
            0xffff_fffe,
            0x7f,
            0xff_ffff,
            (1 << 60) - 1,
            (1 << 60) - 1,
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut parsed, mut refused) = (0, 0);
        for _ in 0..30_000 {
            let text: String = (0..=rng.below(6))
                .map(|_| pieces[rng.below(pieces.len())])
                .collect();
            let i = rng.below(6);
            let mut given = [None; 5];
            let mut second = None;
            if i == 5 {
                second = Some(text.as_str());
            } else {
                given[i] = Some(text.as_str());
            }
            match CronSchedule::parse_with_second(given, second) {
                Ok(s) => {
                    parsed += 1;
                    let bits = [
                        s.month,
                        s.day.days,
                        s.day_of_week,
                        s.hour,
                        s.minute,
                        s.second,
                    ];
                    assert_eq!(bits[i].0 & !ranges[i], 0, "{} {text:?}", names[i]);
                    assert_ne!(s.next_after(at("2027-01-01 00:00")), None, "{text:?}");
                }
                Err(CronError::Invalid {
                    field,
                    expr,
                    reason,
                }) => {
                    refused += 1;
                    assert_eq!((field, expr.as_str()), (names[i], text.trim()));
                    assert!(!reason.is_empty());
                }
                Err(CronError::Empty { field }) => {
                    assert_eq!(field, names[i]);
                    assert!(text.trim().is_empty(), "{text:?}");
                }
                Err(CronError::NeverFires { .. }) => assert!(i <= 2, "{text:?}"),
                Err(CronError::NoFields) => panic!("a field was given: {text:?}"),
            }
        }
        // Both outcomes were exercised.
        assert!(
            parsed > 1_000 && refused > 1_000,
            "{parsed} parsed, {refused} refused"
        );
    }

    /// `a-b/n`, `a/n` and `*/n`, with numbers around every limit (the field's, 32 and
    /// 64 bits), against a model in 128-bit arithmetic: the values are exactly a,
    /// a + n, … up to b, or the item is refused when it leaves the field or n is 0 or
    /// larger than b - a. Nothing wraps.
    #[test]
    fn stepped_ranges_match_a_wide_arithmetic_model() {
        let interesting: [u128; 22] = [
            0,
            1,
            2,
            5,
            6,
            7,
            11,
            12,
            23,
            24,
            30,
            31,
            58,
            59,
            60,
            63,
            64,
            u32::MAX as u128 - 1,
            u32::MAX as u128,
            1 << 32,
            u64::MAX as u128,
            1 << 70,
        ];
        let fields = [
            ("month", 1u128, 12u128),
            ("day", 1, 31),
            ("day_of_week", 0, 6),
            ("hour", 0, 23),
            ("minute", 0, 59),
            ("second", 0, 59),
        ];
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let number = |rng: &mut Rng| {
            if rng.below(2) == 0 {
                interesting[rng.below(interesting.len())]
            } else {
                rng.below(70) as u128
            }
        };
        let mut accepted = 0;
        for _ in 0..20_000 {
            let (field, min, max) = fields[rng.below(fields.len())];
            let (a, b, n) = (number(&mut rng), number(&mut rng), number(&mut rng));
            let (text, a, b) = match rng.below(3) {
                0 => (format!("{a}-{b}/{n}"), a, b),
                1 => (format!("{a}/{n}"), a, max),
                _ => (format!("*/{n}"), min, max),
            };
            let model = (min <= a && a <= b && b <= max && n >= 1 && n <= b - a).then(|| {
                let mut out = Vec::new();
                let mut v = a;
                while v <= b {
                    out.push(v as u32);
                    v += n;
                }
                out
            });
            let got = values(field, &text);
            match model {
                Some(expected) => {
                    accepted += 1;
                    assert_eq!(got, Ok(expected), "{field} {text}");
                }
                None => assert!(got.is_err(), "{field} {text}: accepted as {got:?}"),
            }
        }
        assert!(accepted > 1_000, "{accepted}");
    }
}
