//! `/api/v1/tokens` (admins manage API tokens) and `/api/v1/session` (the web
//! console logs in with a token and keeps a session cookie). docs/security.md.

use super::{ApiResult, json_body};
use crate::api::extract::Path;
use crate::api::{ApiError, AppState};
use crate::auth::{
    Auth, Caller, Role, TokenError, TokenInfo, Via, client_ip, session_clear_cookie,
    session_set_cookie,
};
use crate::time::format_micros;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde_json::{Value, json};
use std::sync::Arc;

/// The token and session routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{name}", delete(revoke_token))
        .route(
            "/session",
            get(get_session).post(open_session).delete(close_session),
        )
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> ApiError {
        match e {
            // Not found is a 400, as everywhere in ndscheduler's API.
            TokenError::Invalid(_) | TokenError::NotFound(_) => {
                ApiError::bad_request(e.to_string())
            }
            TokenError::Exists(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            TokenError::Store(_) => {
                tracing::error!("a token operation failed: {e}");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "server side error")
            }
        }
    }
}

fn token_json(t: &TokenInfo) -> Value {
    json!({
        "name": t.name,
        "role": t.role.as_str(),
        "created_time": format_micros(t.created_time),
        "last_used_time": t.last_used_time.map(format_micros),
    })
}

async fn list_tokens(State(auth): State<Arc<Auth>>) -> ApiResult<Json<Value>> {
    let tokens: Vec<Value> = auth.list_tokens().await?.iter().map(token_json).collect();
    Ok(Json(json!({ "tokens": tokens })))
}

/// `POST /tokens` with `{"name", "role"}`: 201 with the token, shown this once.
async fn create_token(
    State(auth): State<Arc<Auth>>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = json_body(body)?;
    let field = |key: &str| match body.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(ApiError::bad_request(format!(
            "the body must be {{\"name\": \"<token name>\", \"role\": \"viewer|operator|admin\"}}: \
             '{key}' is missing or not a string"
        ))),
    };
    let name = field("name")?;
    let role: Role = field("role")?.parse().map_err(ApiError::bad_request)?;
    let new = auth.create_token(&name, role, &caller.name).await?;
    let mut answer = token_json(&new.info);
    answer["token"] = Value::String(new.secret);
    Ok((StatusCode::CREATED, Json(answer)))
}

async fn revoke_token(
    State(auth): State<Arc<Auth>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    auth.revoke_token(&name, &caller.name).await?;
    Ok(Json(json!({ "name": name })))
}

/// The session body: who is logged in, whether auth is on, and the CSRF token.
fn session_json(name: &str, role: Role, auth_on: bool, csrf_token: &str) -> Value {
    json!({ "name": name, "role": role.as_str(), "auth": auth_on, "csrf_token": csrf_token })
}

/// `POST /session` with `{"token"}`: a session cookie and the session's CSRF token.
async fn open_session(State(auth): State<Arc<Auth>>, req: Request) -> Response {
    let ip = client_ip(req.extensions());
    let body = axum::body::to_bytes(req.into_body(), 64 << 10)
        .await
        .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")));
    let body = match body.and_then(|b| json_body(Ok(b))) {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    let Some(Value::String(secret)) = body.get("token") else {
        return ApiError::bad_request("the body must be {\"token\": \"<API token>\"}")
            .into_response();
    };
    match auth.open_session(secret, ip).await {
        Ok((id, session, info)) => (
            [(
                header::SET_COOKIE,
                session_set_cookie(&id, auth.config().secure_cookies),
            )],
            Json(session_json(
                &info.name,
                info.role,
                true,
                &session.csrf_token,
            )),
        )
            .into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// `GET /session`: who the request authenticates as.
async fn get_session(caller: Caller) -> Json<Value> {
    Json(match &caller.via {
        Via::Open => session_json("", Role::Admin, false, ""),
        Via::Token => session_json(&caller.name, caller.role, true, ""),
        Via::Session { csrf_token, .. } => {
            session_json(&caller.name, caller.role, true, csrf_token)
        }
    })
}

/// `DELETE /session`: logs out (ends the session, clears the cookie).
async fn close_session(State(auth): State<Arc<Auth>>, caller: Caller) -> Response {
    let ended = match &caller.via {
        Via::Session { id, .. } => auth.close_session(id),
        Via::Open | Via::Token => false,
    };
    (
        [(
            header::SET_COOKIE,
            session_clear_cookie(auth.config().secure_cookies),
        )],
        Json(json!({ "ended": ended })),
    )
        .into_response()
}
