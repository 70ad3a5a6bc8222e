//! Query strings into typed requests: the executions filter (time range, job, state,
//! page size, cursor), the audit log's time range, next-runs' count, a delete's force
//! flag. Every error is a sentence for the client naming the parameter.

use crate::job::ExecutionState;
use crate::service::{Cursor, ExecutionFilter};
use crate::time::{now_micros, parse_time_bound};
use std::collections::HashMap;

/// Query parameters by name.
pub type Params = HashMap<String, String>;

/// The largest page of executions.
const MAX_LIMIT: i64 = 10_000;
/// The page size when none is asked for.
const DEFAULT_LIMIT: i64 = 1000;
/// How many characters of each result a list shows (an execution's own GET shows it
/// whole).
pub const LIST_RESULT_CHARS: i64 = 4096;

/// `time_range_start` and `time_range_end` as µs; defaults: the last 10 minutes.
pub fn time_range(query: &Params) -> Result<(i64, i64), String> {
    let bound = |name: &str| -> Result<Option<i64>, String> {
        match query.get(name) {
            None => Ok(None),
            Some(text) => parse_time_bound(text)
                .map(|t| Some(t.timestamp_micros()))
                .ok_or_else(|| {
                    format!(
                        "invalid {name} '{text}': use RFC 3339 (2015-12-19T00:31:50.313Z or with an offset), \
                         a date-time taken as UTC (2015-12-19T00:31:50), or a date (2015-12-19)"
                    )
                }),
        }
    };
    let now = now_micros();
    let end = bound("time_range_end")?.unwrap_or(now);
    let start = bound("time_range_start")?.unwrap_or(now - 10 * 60 * 1_000_000);
    Ok((start, end))
}

/// The filter of `GET /api/v1/executions`.
/// The `limit` parameter: a page size from 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when
/// absent.
pub fn limit(params: &Params) -> Result<i64, String> {
    match params.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                format!("invalid limit '{l}': use a whole number from 1 to {MAX_LIMIT}")
            }),
    }
}

/// A page of the job list, when the request asks for one (`limit` or `cursor`): its
/// size and the job id after which it starts.
pub fn job_page(params: &Params) -> Result<Option<(usize, Option<String>)>, String> {
    if !params.contains_key("limit") && !params.contains_key("cursor") {
        return Ok(None);
    }
    let after = match params.get("cursor") {
        None => None,
        Some(c) if c.len() == 32 && c.bytes().all(|b| b.is_ascii_hexdigit()) => Some(c.clone()),
        Some(c) => {
            return Err(format!(
                "invalid cursor '{c}': pass the next_cursor of the previous page"
            ));
        }
    };
    Ok(Some((limit(params)? as usize, after)))
}

pub fn execution_filter(params: &Params) -> Result<ExecutionFilter, String> {
    let filtered = ["job_id", "state", "limit", "cursor"]
        .iter()
        .any(|k| params.contains_key(*k));
    let given_range =
        params.contains_key("time_range_start") || params.contains_key("time_range_end");
    // The original's parameters alone keep their meaning (the last ten minutes by
    // default); a query by job, state or page reads the whole history unless a range
    // is given.
    let (start, end) = if filtered && !given_range {
        (i64::MIN, i64::MAX)
    } else {
        time_range(params)?
    };
    let limit = limit(params)?;
    let after = match params.get("cursor") {
        None => None,
        Some(c) => Some(decode_cursor(c).ok_or_else(|| {
            format!("invalid cursor '{c}': pass the next_cursor of the previous page")
        })?),
    };
    let state = match params.get("state") {
        None => None,
        Some(name) => Some(ExecutionState::parse(name).ok_or_else(|| {
            let names: Vec<&str> = ExecutionState::ALL.iter().map(|s| s.as_str()).collect();
            format!("invalid state '{name}': use one of {}", names.join(", "))
        })?),
    };
    Ok(ExecutionFilter {
        start,
        end,
        job_id: params.get("job_id").cloned(),
        state,
        limit,
        after,
        result_chars: LIST_RESULT_CHARS,
    })
}

/// Reads a cursor made by [`super::render::cursor`].
fn decode_cursor(cursor: &str) -> Option<Cursor> {
    let (time, id) = cursor.split_once('-')?;
    let valid_id = id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit());
    valid_id.then_some(Cursor {
        updated_time: time.parse().ok()?,
        execution_id: id.to_owned(),
    })
}

/// `count` of next-runs: 1 to 1000, default 10.
pub fn next_runs_count(params: &Params) -> Result<usize, String> {
    match params.get("count") {
        None => Ok(10),
        Some(c) => c
            .parse::<usize>()
            .ok()
            .filter(|c| (1..=1000).contains(c))
            .ok_or_else(|| format!("invalid count '{c}': use a whole number from 1 to 1000")),
    }
}

/// `force` of a plugin delete: `true`/`1`/empty or `false`/`0`; default false.
pub fn force(params: &Params) -> Result<bool, String> {
    flag(params, "force")
}

/// A boolean query parameter: absent, `false` or `0` is false; `true`, `1` or empty
/// (`?name`) is true.
pub fn flag(params: &Params, name: &str) -> Result<bool, String> {
    match params.get(name).map(String::as_str) {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1" | "") => Ok(true),
        Some(other) => Err(format!("{name} must be true or false, got '{other}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = Cursor {
            updated_time: 1_700_000_000_000_000,
            execution_id: "0123456789abcdef0123456789abcdef".into(),
        };
        assert_eq!(decode_cursor(&super::super::render::cursor(&c)), Some(c));
        assert_eq!(decode_cursor("12-xyz"), None);
        assert_eq!(decode_cursor("abc"), None);
    }
}
