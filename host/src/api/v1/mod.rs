//! `/api/v1`: ndscheduler's REST API (`docs/api.md`), plus plugins and job classes,
//! secrets and job state.
//! Handlers are thin: [`dto`] and [`query`] turn requests into typed ones, the
//! [`Service`] does the work, [`render`] writes the wire JSON.

mod access;
mod dto;
mod events;
mod hosts;
mod openapi;
mod plugins;
mod query;
mod render;
mod secrets;

pub use render::JobListCache;

use super::extract::{Path, Query};
use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::job::{JobSpec, job_json};
use crate::service::Service;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use query::Params;
use serde_json::{Value, json};
use std::sync::Arc;

type ApiResult<T> = Result<T, ApiError>;

pub use events::router as events_router;
pub use plugins::router as plugin_router;

/// The `/api/v1` routes of jobs, executions and logs.
pub fn router() -> Router<AppState> {
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
        .route("/next-runs", post(preview_next_runs))
        .route("/logs", get(list_logs))
        .merge(secrets::router())
        .merge(access::router())
        .merge(hosts::router())
        .merge(openapi::router())
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

/// A job body as a [`JobSpec`], checked against the server's option limits.
fn job_spec(s: &Service, body: &Value) -> ApiResult<JobSpec> {
    dto::parse_job(body, s.option_limits()).map_err(ApiError::bad_request)
}

/// The whole list as ndscheduler answers it (cached between changes), or, with `limit`
/// or `cursor`, one page of it by job id with `next_cursor` when the page is full.
async fn list_jobs(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> ApiResult<axum::response::Response> {
    let s = &state.service;
    if let Some((limit, after)) = query::job_page(&params).map_err(ApiError::bad_request)? {
        let page = s.list_jobs_page(after.as_deref(), limit).await?;
        let mut body = json!({ "jobs": page.iter().map(job_json).collect::<Vec<_>>() });
        if page.len() == limit
            && let Some(last) = page.last()
        {
            body["next_cursor"] = json!(last.job.id);
        }
        return Ok(Json(body).into_response());
    }
    let body = state
        .jobs
        .body(s.jobs_version(), async || s.list_jobs().await)
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn add_job(
    State(s): State<Arc<Service>>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let spec = job_spec(&s, &json_body(body)?)?;
    let job_id = s.add_job(spec, &caller.name).await?;
    Ok((StatusCode::CREATED, Json(json!({ "job_id": job_id }))))
}

async fn get_job(
    State(s): State<Arc<Service>>,
    Path(job_id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(job_json(&s.get_job(&job_id).await?)))
}

async fn update_job(
    State(s): State<Arc<Service>>,
    caller: Caller,
    Path(job_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let body = json_body(body)?;
    let spec = match job_spec(&s, &body) {
        Ok(spec) => spec,
        Err(invalid) => {
            // A missing job is reported before a bad body, as it always was.
            s.get_job(&job_id).await?;
            return Err(invalid);
        }
    };
    s.update_job(&job_id, spec, &caller.name).await?;
    Ok(Json(json!({ "job_id": job_id })))
}

async fn delete_job(
    State(s): State<Arc<Service>>,
    caller: Caller,
    Path(job_id): Path<String>,
) -> ApiResult<Json<Value>> {
    s.delete_job(&job_id, &caller.name).await?;
    Ok(Json(json!({ "job_id": job_id })))
}

async fn pause_job(
    State(s): State<Arc<Service>>,
    caller: Caller,
    Path(job_id): Path<String>,
) -> ApiResult<Json<Value>> {
    s.pause_job(&job_id, &caller.name).await?;
    Ok(Json(json!({ "job_id": job_id })))
}

async fn resume_job(
    State(s): State<Arc<Service>>,
    caller: Caller,
    Path(job_id): Path<String>,
) -> ApiResult<Json<Value>> {
    s.resume_job(&job_id, &caller.name).await?;
    Ok(Json(json!({ "job_id": job_id })))
}

async fn run_job(
    State(s): State<Arc<Service>>,
    caller: Caller,
    Path(job_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let execution_id = s.run_now(&job_id, &caller.name).await?;
    Ok(Json(json!({ "execution_id": execution_id })))
}

async fn run_job_from_body(
    State(s): State<Arc<Service>>,
    caller: Caller,
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
    let execution_id = s.run_now(&job_id, &caller.name).await?;
    Ok(Json(json!({ "execution_id": execution_id })))
}

async fn get_execution(
    State(s): State<Arc<Service>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (execution, job) = s.get_execution(&id).await?;
    Ok(Json(render::execution(&execution, job.as_ref())))
}

async fn cancel_execution(
    State(s): State<Arc<Service>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    s.cancel_execution(&id).await?;
    Ok(Json(json!({ "execution_id": id })))
}

async fn list_executions(
    State(s): State<Arc<Service>>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    let filter = query::execution_filter(&params).map_err(ApiError::bad_request)?;
    let page = s.list_executions(filter).await?;
    let executions: Vec<Value> = page
        .executions
        .iter()
        .map(|(e, job)| render::execution(e, job.as_ref()))
        .collect();
    let mut body = json!({ "executions": executions });
    if let Some(next) = &page.next {
        body["next_cursor"] = Value::String(render::cursor(next));
    }
    Ok(Json(body))
}

async fn next_runs(
    State(s): State<Arc<Service>>,
    Path(job_id): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    let count = query::next_runs_count(&params).map_err(ApiError::bad_request)?;
    Ok(Json(render::next_runs(&s.next_runs(&job_id, count).await?)))
}

/// `POST /next-runs` with a job body: the fire times the job would get if it were
/// created now, without creating it (a console's live preview of a schedule). The body
/// is checked as a create's, so a mistake answers the same 400.
async fn preview_next_runs(
    State(s): State<Arc<Service>>,
    Query(params): Query<Params>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let count = query::next_runs_count(&params).map_err(ApiError::bad_request)?;
    let spec = job_spec(&s, &json_body(body)?)?;
    let mut preview = render::next_runs(&crate::service::preview_next_runs(&spec, count));
    if let Some(m) = preview.as_object_mut() {
        m.remove("job_id");
    }
    Ok(Json(preview))
}

async fn list_logs(
    State(s): State<Arc<Service>>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    let (start, end) = query::time_range(&params).map_err(ApiError::bad_request)?;
    let logs: Vec<Value> = s
        .list_logs(start, end)
        .await?
        .iter()
        .map(render::audit)
        .collect();
    Ok(Json(json!({ "logs": logs })))
}
