//! The HTTP API: axum routers over the [`Service`]. Only this module knows HTTP.

mod console;
mod error;
mod extract;
mod operating;
mod v1;

use error::ApiError;

use crate::auth::{Auth, authenticate};
use crate::service::Service;
use axum::Router;
use axum::extract::FromRef;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tower_http::normalize_path::{NormalizePath, NormalizePathLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

/// HTTP settings.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Origins allowed to call the API from a browser (CORS). Empty: none.
    pub cors_origins: Vec<String>,
    /// The largest plugin upload accepted, in bytes.
    pub max_upload_bytes: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            cors_origins: Vec::new(),
            max_upload_bytes: 64 << 20,
        }
    }
}

/// What every handler can reach: the use-cases, and the rendered job list. Each
/// request clones it, so it is a few pointers.
#[derive(Clone)]
struct AppState {
    service: Arc<Service>,
    auth: Arc<Auth>,
    jobs: v1::JobListCache,
}

impl FromRef<AppState> for Arc<Auth> {
    fn from_ref(state: &AppState) -> Arc<Auth> {
        state.auth.clone()
    }
}

impl FromRef<AppState> for Arc<Service> {
    fn from_ref(state: &AppState) -> Arc<Service> {
        state.service.clone()
    }
}

/// The whole HTTP application, its access controlled by `auth`. Trailing slashes are
/// trimmed before routing: `/api/v1/jobs/` is `/api/v1/jobs`.
pub fn app(service: Service, auth: Arc<Auth>, config: ApiConfig) -> NormalizePath<Router> {
    tower::Layer::layer(
        &NormalizePathLayer::trim_trailing_slash(),
        router(service, auth, config),
    )
}

fn router(service: Service, auth: Arc<Auth>, config: ApiConfig) -> Router {
    let max_upload_bytes = config.max_upload_bytes;
    let cors = Arc::new(config.cors_origins);
    // An upload compiles the plugin inside the request: a component bundling an
    // interpreter (Python, JavaScript) takes seconds in a release host on two cores and
    // tens of seconds in a debug one, so plugin routes get a longer limit than the rest.
    let timeout = |secs| {
        TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(secs))
    };
    // Innermost, under the timeouts: a change that began is finished even when its
    // client (or a timeout) stops waiting for the answer.
    let to_completion = || middleware::from_fn(run_to_completion);
    Router::new()
        .nest(
            "/api/v1",
            v1::router()
                .layer(to_completion())
                .layer(timeout(60))
                .merge(
                    v1::plugin_router(max_upload_bytes)
                        .layer(to_completion())
                        .layer(timeout(600)),
                )
                // Streams last as long as their runs, or for ever: no time limit.
                .merge(v1::events_router()),
        )
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        .merge(operating::router())
        // The web console: static files at `/` and `/console/…`, over the API above.
        .merge(console::router())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such path") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this path",
            )
        })
        .with_state(AppState {
            service: Arc::new(service),
            auth: auth.clone(),
            jobs: v1::JobListCache::default(),
        })
        // Who is calling, and may they call this route (auth/policy.rs)? Outside the
        // routes, to see each one's template; inside CORS, which answers preflights.
        .layer(middleware::from_fn_with_state(auth, authenticate))
        // Every error answer's body is `{"error": ...}`, whatever produced it.
        .layer(middleware::from_fn(extract::json_errors))
        .layer(middleware::from_fn(move |req, next| {
            cors_layer(cors.clone(), req, next)
        }))
        // One INFO line per request (method, path, status, latency): the default
        // levels of TraceLayer are DEBUG, invisible with the server's default filter.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(middleware::from_fn(operating::count_requests))
}

/// CORS by hand, because a preflight must be told apart from ndscheduler's "OPTIONS
/// `GET /healthz`: the process serves HTTP (liveness).
async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 when the database answers, the timer runs and every installed
/// plugin loaded; otherwise 503 with an `error` saying what is not ready. Both carry each
/// check's outcome.
async fn readyz(axum::extract::State(service): axum::extract::State<Arc<Service>>) -> Response {
    let readiness = service.readiness().await;
    let check = |r: &Result<String, String>| match r {
        Ok(seen) => serde_json::json!({ "ok": true, "detail": seen }),
        Err(why) => serde_json::json!({ "ok": false, "detail": why }),
    };
    let checks = serde_json::json!({
        "database": check(&readiness.database),
        "scheduler": check(&readiness.scheduler),
        "plugins": check(&readiness.plugins),
    });
    if readiness.ready() {
        axum::Json(serde_json::json!({ "status": "ready", "checks": checks })).into_response()
    } else {
        let why: Vec<&str> = [
            &readiness.database,
            &readiness.scheduler,
            &readiness.plugins,
        ]
        .into_iter()
        .filter_map(|r| r.as_ref().err().map(String::as_str))
        .collect();
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "error": format!("not ready: {}", why.join("; ")),
                "checks": checks,
            })),
        )
            .into_response()
    }
}

/// Runs a request that may change state (any method but GET and HEAD) in a task of its
/// own and waits for it there. axum drops a handler's future when its client goes away
/// (and the timeout layer drops it when time is up): dropped between two writes, a
/// use-case would leave half its work done, e.g. an execution row that nothing runs and
/// no audit entry. In its own task it finishes, whoever still waits for the answer; a
/// body not yet read when the client leaves fails to read, and nothing changes.
async fn run_to_completion(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    match tokio::spawn(next.run(req)).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!("a request's task failed: {e}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error: the request's task failed",
            )
            .into_response()
        }
    }
}

/// resumes a job": an OPTIONS request carrying `Access-Control-Request-Method` is a
/// browser's preflight and is answered here, never routed to the resume handler.
async fn cors_layer(allowed: Arc<Vec<String>>, req: Request, next: Next) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| allowed.iter().any(|a| a == "*" || a == o))
        .and_then(|o| HeaderValue::from_str(o).ok());
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut r = StatusCode::NO_CONTENT.into_response();
        if origin.is_some() {
            let h = r.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("content-type, authorization"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        r
    } else {
        next.run(req).await
    };
    if let Some(origin) = origin {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}
