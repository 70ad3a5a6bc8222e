//! `/api/v1/plugins` and `/api/v1/job-classes`: deploy plugins to a running server.

use super::{ApiResult, Params, query, render};
use crate::api::extract::{Path, Query};
use crate::api::{ApiError, AppState};
use crate::auth::Caller;
use crate::service::Service;
use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;

/// The plugin routes; `max_upload_bytes` bounds an upload's body.
pub fn router(max_upload_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/plugins", get(list_plugins))
        .route(
            "/plugins/{name}",
            get(get_plugin).delete(delete_plugin).post(
                move |state: State<Arc<Service>>,
                      caller: Caller,
                      name: Path<String>,
                      params: Query<Params>,
                      req: Request| {
                    upload_plugin(state, caller, name, params, req, max_upload_bytes)
                },
            ),
        )
        .route("/plugins/{name}/wasm", get(download_plugin))
        .route("/job-classes", get(job_classes))
}

/// Reads a body up to `limit` bytes, refusing it as soon as it is known to be larger
/// (from Content-Length, or while it streams in): an oversized upload is never
/// buffered whole. The refusal closes the connection, since the rest of the body is
/// left unread.
async fn read_limited(req: Request, limit: usize) -> Result<Vec<u8>, Response> {
    let too_big = |size: &str| {
        let error = ApiError::bad_request(format!(
            "the plugin is {size} bytes, over the upload limit of {limit} bytes \
             (the server's --max-upload-bytes)"
        ));
        ([(header::CONNECTION, "close")], error).into_response()
    };
    if let Some(length) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && length > limit as u64
    {
        return Err(too_big(&length.to_string()));
    }
    // Chunks are kept as they arrive and joined once, at the end: a growing buffer
    // would reallocate and copy, holding up to twice the limit at once.
    let mut chunks = Vec::new();
    let mut size = 0;
    let mut stream = req.into_body().into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(format!("reading the upload failed: {e}")).into_response()
        })?;
        size += chunk.len();
        if size > limit {
            return Err(too_big("more than"));
        }
        chunks.push(chunk);
    }
    let body = chunks.concat();
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "the request body is empty: send the plugin's .wasm bytes (Content-Type: application/wasm)",
        )
        .into_response());
    }
    Ok(body)
}

async fn upload_plugin(
    State(s): State<Arc<Service>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(params): Query<Params>,
    req: Request,
    limit: usize,
) -> Response {
    let allow_new_capabilities = match query::flag(&params, "allow_new_capabilities") {
        Ok(allow) => allow,
        Err(e) => return ApiError::bad_request(e).into_response(),
    };
    let wasm = match read_limited(req, limit).await {
        Ok(wasm) => wasm,
        Err(refusal) => return refusal,
    };
    match s
        .upload_plugin(&name, wasm.into(), allow_new_capabilities, &caller.name)
        .await
    {
        Ok(uploaded) => {
            let status = if uploaded.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, Json(render::plugin(&uploaded.plugin))).into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn list_plugins(State(s): State<Arc<Service>>) -> ApiResult<Json<Value>> {
    let plugins: Vec<Value> = s.list_plugins().await?.iter().map(render::plugin).collect();
    Ok(Json(json!({ "plugins": plugins })))
}

async fn get_plugin(
    State(s): State<Arc<Service>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(render::plugin(&s.get_plugin(&name).await?)))
}

async fn download_plugin(
    State(s): State<Arc<Service>>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let bytes = s.plugin_wasm(&name).await?;
    Ok(([(header::CONTENT_TYPE, "application/wasm")], bytes).into_response())
}

async fn delete_plugin(
    State(s): State<Arc<Service>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    let force = query::force(&params).map_err(ApiError::bad_request)?;
    s.delete_plugin(&name, force, &caller.name).await?;
    Ok(Json(json!({ "name": name })))
}

async fn job_classes(State(s): State<Arc<Service>>) -> Json<Value> {
    let classes: Vec<Value> = s
        .job_classes()
        .iter()
        .map(|(job_class_string, class)| render::job_class(job_class_string, class))
        .collect();
    Json(json!({ "job_classes": classes }))
}
