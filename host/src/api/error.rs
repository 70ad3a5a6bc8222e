//! The one error type of the HTTP layer: every error body is `{"error": "..."}`.

use crate::service::ServiceError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An HTTP error: a status and a sentence for the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// A client mistake (400), as ndscheduler answers them.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// Any status with a message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match &e {
            // ndscheduler answers "not found" with 400, and clients rely on it.
            ServiceError::BadRequest(m) | ServiceError::NotFound(m) => {
                ApiError::bad_request(m.clone())
            }
            ServiceError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m.clone()),
            // The client may try again once the database is back.
            ServiceError::Unavailable(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            ServiceError::Internal(_) | ServiceError::Other(_) => {
                // The cause is logged here, once; the client gets a generic sentence.
                tracing::error!("request failed: {e}");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "server side error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}
