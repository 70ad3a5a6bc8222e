//! `/api/v1`: ndscheduler's REST API (see `spec/api-v1.md` in the shared docs).

use super::ApiError;
use crate::service::{Service, decode_cursor};
use crate::store::ExecutionQuery;
use crate::time::{now_micros, parse_time_bound};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;

type ApiResult<T> = Result<T, ApiError>;

/// The name behind the request's credentials; the server runs without any yet.
const ANONYMOUS: &str = "";

pub fn router() -> Router<Service> {
    Router::new()
        .route("/jobs", get(list_jobs).post(add_job))
        .route(
            "/jobs/{job_id}",
            get(get_job)
                .put(update_job)
                .delete(delete_job)
                .patch(pause_job)
                .options(resume_job),
        )
        .route("/jobs/{job_id}/pause", post(pause_job))
        .route("/jobs/{job_id}/resume", post(resume_job))
        .route("/executions", get(list_executions).post(run_job_from_body))
        .route(
            "/executions/{id}",
            get(get_execution).post(run_job).delete(cancel_execution),
        )
        .route("/jobs/{job_id}/next-runs", get(next_runs))
        .route("/logs", get(list_logs))
}

/// Reads a body as JSON whatever its Content-Type says; an empty body is `{}`.
fn json_body(body: Result<Bytes, BytesRejection>) -> ApiResult<Value> {
    let bytes = body.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

async fn list_jobs(State(s): State<Service>) -> ApiResult<impl IntoResponse> {
    let body = s.jobs_list_body().await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body))
}

async fn add_job(
    State(s): State<Service>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = json_body(body)?;
    let job_id = s.add_job(&body, ANONYMOUS).await?;
    Ok((StatusCode::CREATED, Json(json!({ "job_id": job_id }))))
}

async fn get_job(State(s): State<Service>, Path(job_id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(s.get_job(&job_id).await?))
}

async fn update_job(
    State(s): State<Service>,
    Path(job_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let body = json_body(body)?;
    s.update_job(&job_id, &body, ANONYMOUS).await?;
    Ok(Json(json!({ "job_id": job_id })))
}

async fn delete_job(
    State(s): State<Service>,
    Path(job_id): Path<String>,
) -> ApiResult<Json<Value>> {
    s.delete_job(&job_id, ANONYMOUS).await?;
    Ok(Json(json!({ "job_id": job_id })))
}

async fn pause_job(State(s): State<Service>, Path(job_id): Path<String>) -> ApiResult<Json<Value>> {
    s.pause_job(&job_id, ANONYMOUS).await?;
    Ok(Json(json!({ "job_id": job_id })))
}

async fn resume_job(
    State(s): State<Service>,
    Path(job_id): Path<String>,
) -> ApiResult<Json<Value>> {
    s.resume_job(&job_id, ANONYMOUS).await?;
    Ok(Json(json!({ "job_id": job_id })))
}

async fn run_job(State(s): State<Service>, Path(job_id): Path<String>) -> ApiResult<Json<Value>> {
    let execution_id = s.run_now(&job_id, ANONYMOUS).await?;
    Ok(Json(json!({ "execution_id": execution_id })))
}

async fn run_job_from_body(
    State(s): State<Service>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let body = json_body(body)?;
    let job_id = match body.get("job_id") {
        Some(Value::String(id)) => id.clone(),
        Some(_) => return Err(ApiError::bad_request("'job_id' must be a string")),
        None => {
            return Err(ApiError::bad_request(
                "missing required field 'job_id': the job to run",
            ));
        }
    };
    let execution_id = s.run_now(&job_id, ANONYMOUS).await?;
    Ok(Json(json!({ "execution_id": execution_id })))
}

async fn get_execution(State(s): State<Service>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(s.get_execution(&id).await?))
}

async fn cancel_execution(
    State(s): State<Service>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    s.cancel_execution(&id).await?;
    Ok(Json(json!({ "execution_id": id })))
}

/// Every execution state, the original's and ours (`skipped`, `missed`).
const EXECUTION_STATES: [&str; 10] = [
    "scheduled",
    "running",
    "stopping",
    "stopped",
    "failed",
    "succeeded",
    "timeout",
    "scheduled error",
    "skipped",
    "missed",
];

/// `time_range_start` and `time_range_end` as µs; defaults: the last 10 minutes.
fn time_range(query: &HashMap<String, String>) -> ApiResult<(i64, i64)> {
    let bound = |name: &str| -> ApiResult<Option<i64>> {
        match query.get(name) {
            None => Ok(None),
            Some(text) => parse_time_bound(text)
                .map(|t| Some(t.timestamp_micros()))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "invalid {name} '{text}': use RFC 3339 (2015-12-19T00:31:50.313Z or with an offset), \
                         a date-time taken as UTC (2015-12-19T00:31:50), or a date (2015-12-19)"
                    ))
                }),
        }
    };
    let now = now_micros();
    let end = bound("time_range_end")?.unwrap_or(now);
    let start = bound("time_range_start")?.unwrap_or(now - 10 * 60 * 1_000_000);
    Ok((start, end))
}

/// The largest page of executions.
const MAX_LIMIT: i64 = 10_000;
/// The page size when none is asked for.
const DEFAULT_LIMIT: i64 = 1000;

async fn list_executions(
    State(s): State<Service>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(params) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
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
        time_range(&params)?
    };
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "invalid limit '{l}': use a whole number from 1 to {MAX_LIMIT}"
                ))
            })?,
    };
    let after = match params.get("cursor") {
        None => None,
        Some(c) => Some(decode_cursor(c).ok_or_else(|| {
            ApiError::bad_request(format!(
                "invalid cursor '{c}': pass the next_cursor of the previous page"
            ))
        })?),
    };
    let state = match params.get("state") {
        None => None,
        Some(state) if EXECUTION_STATES.contains(&state.as_str()) => Some(state.clone()),
        Some(state) => {
            return Err(ApiError::bad_request(format!(
                "invalid state '{state}': use one of {}",
                EXECUTION_STATES.join(", ")
            )));
        }
    };
    let query = ExecutionQuery {
        start,
        end,
        job_id: params.get("job_id").cloned(),
        state,
        limit,
        after,
    };
    let (executions, next_cursor) = s.list_executions(&query).await?;
    let mut body = json!({ "executions": executions });
    if let Some(cursor) = next_cursor {
        body["next_cursor"] = Value::String(cursor);
    }
    Ok(Json(body))
}

async fn next_runs(
    State(s): State<Service>,
    Path(job_id): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(params) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let count = match params.get("count") {
        None => 10,
        Some(c) => c
            .parse::<usize>()
            .ok()
            .filter(|c| (1..=1000).contains(c))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "invalid count '{c}': use a whole number from 1 to 1000"
                ))
            })?,
    };
    Ok(Json(s.next_runs(&job_id, count).await?))
}

async fn list_logs(
    State(s): State<Service>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(params) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let (start, end) = time_range(&params)?;
    Ok(Json(json!({ "logs": s.list_logs(start, end).await? })))
}
