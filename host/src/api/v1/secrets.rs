//! `/api/v1/secrets` (write-only values) and `/api/v1/jobs/<id>/state`.

use super::{ApiResult, Params, json_body, query};
use crate::api::extract::{Path, Query};
use crate::api::{ApiError, AppState};
use crate::auth::Caller;
use crate::service::{JobStateView, SecretInfo, Service};
use crate::time::format_micros;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::Arc;

/// The secret and job-state routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/secrets", get(list_secrets))
        .route(
            "/secrets/{name}",
            get(get_secret).put(put_secret).delete(delete_secret),
        )
        .route("/jobs/{job_id}/state", get(get_state).delete(clear_state))
}

fn secret_json(s: &SecretInfo) -> Value {
    let used_by: Vec<Value> = s
        .used_by
        .iter()
        .map(|(id, name)| json!({ "job_id": id, "name": name }))
        .collect();
    json!({
        "name": s.name,
        "created_time": format_micros(s.created_time),
        "updated_time": format_micros(s.updated_time),
        "used_by": used_by,
    })
}

async fn list_secrets(State(s): State<Arc<Service>>) -> ApiResult<Json<Value>> {
    let secrets: Vec<Value> = s.list_secrets().await?.iter().map(secret_json).collect();
    Ok(Json(json!({ "secrets": secrets })))
}

async fn get_secret(
    State(s): State<Arc<Service>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(secret_json(&s.get_secret(&name).await?)))
}

/// `PUT /secrets/<name>` with `{"value": "..."}`: 201 when new, 200 when replaced. The
/// answer never carries the value.
async fn put_secret(
    State(s): State<Arc<Service>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = json_body(body)?;
    let Some(Value::String(value)) = body.get("value") else {
        return Err(ApiError::bad_request(
            "the body must be {\"value\": \"<the secret>\"} (a string)",
        ));
    };
    let created = s.put_secret(&name, value, &caller.name).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(secret_json(&s.get_secret(&name).await?))))
}

async fn delete_secret(
    State(s): State<Arc<Service>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    let force = query::force(&params).map_err(ApiError::bad_request)?;
    s.delete_secret(&name, force, &caller.name).await?;
    Ok(Json(json!({ "name": name })))
}

fn state_json(v: &JobStateView) -> Value {
    json!({
        "job_id": v.job_id,
        "entries": v.entries,
        "bytes": v.bytes,
        "updated_time": v.updated_time.map(format_micros),
    })
}

async fn get_state(
    State(s): State<Arc<Service>>,
    Path(job_id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(state_json(&s.job_state(&job_id).await?)))
}

async fn clear_state(
    State(s): State<Arc<Service>>,
    caller: Caller,
    Path(job_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let cleared = s.clear_job_state(&job_id, &caller.name).await?;
    Ok(Json(json!({ "job_id": job_id, "cleared": cleared })))
}
