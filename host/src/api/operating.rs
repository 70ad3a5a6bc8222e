//! The operators' routes: `GET /metrics` (Prometheus' text format) and
//! `GET /api/v1/version`, and the middleware that counts HTTP requests by route
//! template. docs/operating.md describes them.

use super::AppState;
use crate::service::Service;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

/// `/metrics` and `/api/v1/version`.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/api/v1/version", get(version))
}

/// `GET /metrics`: every metric, the gauges that mirror state read now.
async fn metrics(State(service): State<Arc<Service>>) -> Response {
    let gauges = service.metric_gauges().await;
    let text = crate::metrics::get().render(&gauges);
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
}

/// `GET /api/v1/version`: `{"version", "git_commit", "wit_worlds"}`.
async fn version(State(service): State<Arc<Service>>) -> Json<serde_json::Value> {
    let info = service.version();
    Json(serde_json::json!({
        "version": info.version,
        "git_commit": info.git_commit,
        "wit_worlds": info.wit_worlds,
    }))
}

/// Counts each answered request under its route template (`/api/v1/jobs/{job_id}`:
/// never the raw path, whose ids would make a series per job; `unmatched` for a path no
/// route has), method and status.
pub(super) async fn count_requests(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = method_name(req.method());
    let response = next.run(req).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    crate::metrics::get().http_request(route, method, response.status().as_u16());
    response
}

/// The method's name; `other` for an extension method (a label value per made-up
/// method would let clients grow the series without bound).
fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}
