//! The extractors of the API: axum's `Path` and `Query` with rejections in our words
//! and in our error body (`{"error": "..."}`), where axum's answer `text/plain`; and the
//! layer that gives any other error answer that body (a request timeout's 408, and any
//! rejection a handler lets through).

use super::ApiError;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Request};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// A path parameter (or several), as axum's `Path`; a parameter that cannot be read is
/// a 400 that names it.
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(path_rejection(&rejection)),
        }
    }
}

fn path_rejection(rejection: &PathRejection) -> ApiError {
    use axum::extract::path::ErrorKind;
    let message = match rejection {
        PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
            ErrorKind::InvalidUtf8InPathParam { key } => format!(
                "the {key} in the path is not valid UTF-8 once percent-decoded: send it \
                 percent-encoded from UTF-8"
            ),
            other => format!("the path is not valid: {other}"),
        },
        other => format!("the path is not valid: {}", other.body_text()),
    };
    ApiError::new(rejection.status(), message)
}

/// The query string, as axum's `Query`; one that cannot be read is a 400 saying why.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(query_rejection(&rejection)),
        }
    }
}

fn query_rejection(rejection: &QueryRejection) -> ApiError {
    ApiError::new(
        rejection.status(),
        format!("the query string is not valid: {}", rejection.body_text()),
    )
}

/// The most bytes of a non-JSON error body quoted in the JSON one.
const QUOTED_BODY_BYTES: usize = 4096;

/// Gives every error answer (4xx, 5xx) the body `{"error": "..."}`: one that is not
/// JSON already (a 408 from the time limit, which has none; a rejection in axum's
/// plain text) gets its text, or the status's reason when it has none, as the error.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, QUOTED_BODY_BYTES).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = if status == StatusCode::REQUEST_TIMEOUT {
        "the request took longer than the server's time limit for it".to_owned()
    } else if text.is_empty() {
        match status.canonical_reason() {
            Some(reason) => format!("{}: {}", status.as_u16(), reason.to_lowercase()),
            None => format!("error {}", status.as_u16()),
        }
    } else {
        text
    };
    let json = ApiError::new(status, message).into_response();
    // The original's headers (e.g. `Connection: close`, CORS) stay; its length and
    // type are the new body's.
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let (_, body) = json.into_parts();
    Response::from_parts(parts, body)
}

/// Who sent the request, as the access-control middleware found (an anonymous admin
/// while auth is off): handlers pass its name to the use-cases as the audit `user`.
impl<S: Send + Sync> FromRequestParts<S> for crate::auth::Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<crate::auth::Caller>()
            .cloned()
            .unwrap_or_else(crate::auth::Caller::open))
    }
}
