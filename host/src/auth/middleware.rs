//! The HTTP face of access control: the middleware that authenticates each request
//! (bearer token, or the console's session cookie with its CSRF header) and checks the
//! route's role; the client address it counts failures by; refusals as JSON errors.

use super::policy::{self, Access};
use super::sessions::same_secret;
use super::{Auth, Caller, Refusal, Via};
use axum::Json;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// The console's session cookie.
pub const SESSION_COOKIE: &str = "wasmcron_session";
/// The header a session's state-changing requests carry its CSRF token in.
const CSRF_HEADER: &str = "x-csrf-token";

/// The peer address of a connection, plain or TLS (axum's `ConnectInfo`).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for ClientAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

/// The request's client address (unspecified when the server was not told it).
pub fn client_ip(req: &axum::http::Extensions) -> IpAddr {
    req.get::<ConnectInfo<ClientAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.0.ip())
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let error = |status: StatusCode, message: String| {
            (status, Json(json!({ "error": message }))).into_response()
        };
        match self {
            Refusal::Unauthenticated(message) => {
                let mut r = error(StatusCode::UNAUTHORIZED, message);
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"wasmcron\""),
                );
                r
            }
            Refusal::Forbidden(message) => error(StatusCode::FORBIDDEN, message),
            Refusal::TooManyFailures(wait) => {
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let mut r = error(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "too many failed authentication attempts from this address: \
                         try again in {secs} s"
                    ),
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                r
            }
            Refusal::Fault(cause) => {
                tracing::error!("authentication failed: {cause}");
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server side error".to_owned(),
                )
            }
            Refusal::Unavailable(cause) => error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("database unavailable: {cause}"),
            ),
        }
    }
}

/// Authenticates a request whose route needs a role, refuses it if its role is too
/// low, and leaves its [`Caller`] in the request's extensions. Public routes, and every
/// route while auth is off, pass (the latter as an anonymous admin).
pub async fn authenticate(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    let template = req.extensions().get::<MatchedPath>().cloned();
    let path = req.uri().path();
    let access = if auth.config.public_metrics && path == "/metrics" {
        Access::Public
    } else {
        policy::access(
            req.method().as_str(),
            template.as_ref().map(MatchedPath::as_str),
            path,
        )
    };
    let Access::Needs(needed) = access else {
        return next.run(req).await;
    };
    match auth.enabled().await {
        Ok(true) => {}
        Ok(false) => {
            req.extensions_mut().insert(Caller::open());
            return next.run(req).await;
        }
        Err(e) => return Refusal::from(e).into_response(),
    }
    let ip = client_ip(req.extensions());
    let caller = match identify(&auth, req.headers(), req.method(), ip).await {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(),
    };
    if caller.role < needed {
        return Refusal::Forbidden(format!(
            "this needs the {needed} role; token {} is {}",
            caller.name,
            caller.role.with_article()
        ))
        .into_response();
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Who sent a request: its bearer token, else its session cookie (whose requests that
/// change state must carry the session's CSRF token).
async fn identify(
    auth: &Auth,
    headers: &HeaderMap,
    method: &Method,
    ip: IpAddr,
) -> Result<Caller, Refusal> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let secret = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let Some(secret) = secret else {
            if let Some(wait) = auth.limiter.blocked(ip) {
                return Err(Refusal::TooManyFailures(wait));
            }
            auth.limiter.fail(ip);
            return Err(Refusal::Unauthenticated(
                "the Authorization header must be `Bearer <token>`".into(),
            ));
        };
        let info = auth.check_token(secret, ip).await?;
        return Ok(Caller {
            name: info.name,
            role: info.role,
            via: Via::Token,
        });
    }
    let Some(id) = session_cookie(headers) else {
        return Err(Refusal::Unauthenticated(
            "this needs credentials: send `Authorization: Bearer <token>` (an admin \
             creates tokens with `wasmcron token create`), or log in to the console"
                .into(),
        ));
    };
    let caller = auth.check_session(id).await?;
    if !matches!(*method, Method::GET | Method::HEAD)
        && let Via::Session { csrf_token, .. } = &caller.via
    {
        let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if !sent.is_some_and(|sent| same_secret(sent, csrf_token)) {
            return Err(Refusal::Forbidden(
                "missing or wrong X-CSRF-Token header: a request that changes state and \
                 is authenticated by the session cookie must carry the session's \
                 csrf_token (from POST or GET /api/v1/session)"
                    .into(),
            ));
        }
    }
    Ok(caller)
}

/// The value of the session cookie, if the request has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// The `Set-Cookie` value that opens a session in the browser.
pub fn session_set_cookie(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/{secure}")
}

/// The `Set-Cookie` value that removes it.
pub fn session_clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; wasmcron_session=abc ; b=2"),
        );
        assert_eq!(session_cookie(&h), Some("abc"));
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("wasmcron_session="),
        );
        assert_eq!(session_cookie(&h), None);
        assert_eq!(
            session_set_cookie("x", true),
            "wasmcron_session=x; HttpOnly; SameSite=Strict; Path=/; Secure"
        );
    }
}
