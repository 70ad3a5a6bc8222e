//! A small blocking HTTP client, over the standard `wasi:http/outgoing-handler`.
//!
//! The host makes the requests for the job, and a job reaches only the origins of its
//! `allowed_hosts` option, within its `http_limits`. Any other request fails inside the
//! job and never connects: with wasi:http's `HTTP-request-denied` error code (a host
//! not on the list, a run past its `max_requests`), or `destination-IP-prohibited` (a
//! name that resolves to a loopback, private or link-local address the list does not
//! name). [`HttpError::is_denied`] tells. Every redirect is a new request, checked
//! again; the execution records each request.
//!
//! ```no_run
//! use wasmcron_sdk::http;
//! use wasmcron_sdk::serde_json::{Value, json};
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), wasmcron_sdk::http::HttpError> {
//! // GET, following redirects:
//! let page = http::get("https://example.com/")?;
//! println!("{} {} bytes", page.status, page.body.len());
//!
//! // POST a JSON body (with `Content-Type: application/json`), decode a JSON answer:
//! let created: Value = http::post_json("https://api.example.com/items", &json!({"name": "x"}))?
//!     .json()?;
//!
//! // Anything else, with the builder:
//! let response = http::Request::new("PUT", "https://api.example.com/items/7")
//!     .header("Authorization", "Bearer ...")
//!     .body("plain text")
//!     .timeout(Duration::from_secs(10))
//!     .follow_redirects(false)
//!     .send()?;
//! if !response.is_success() {
//!     eprintln!("{}: {}", response.status, response.text());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! A response with any status is `Ok`: look at [`Response::status`]. An
//! [`HttpError`] means no response arrived (or its body broke off); its message names
//! the method, the URL that failed and, when the host gave one, the wasi:http error
//! code, e.g. `GET http://10.0.0.1/: the host denied the request (HTTP-request-denied):
//! it is not in the job's allowed_hosts, or it resolves to a private address, or the run
//! used up its http_limits`. It
//! converts into the SDK's [`Error`](crate::Error) with `?`.
//!
//! Requests block the run until they complete, fail, or run out of time: the job's
//! `http_limits` (`timeout_seconds`, 30 by default) or a shorter [`Request::timeout`].
//! Bodies are held in memory, within the job's memory limit and its `http_limits`
//! (`max_response_bytes`).

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::time::Duration;
use wasip2::clocks::monotonic_clock;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, HeaderError, IncomingBody, IncomingResponse, Method,
    OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::poll::{Pollable, poll};
use wasip2::io::streams::StreamError;

mod url;
use url::Url;

/// How many redirects a request follows before it gives up.
pub const MAX_REDIRECTS: usize = 5;

/// `GET url`, following redirects.
///
/// # Errors
/// When no response arrives: see [`HttpError`].
pub fn get(url: &str) -> Result<Response, HttpError> {
    Request::new("GET", url).send()
}

/// `POST url` with `value` as a JSON body (`Content-Type: application/json`),
/// following redirects.
///
/// # Errors
/// When `value` does not serialize to JSON, or no response arrives: see [`HttpError`].
pub fn post_json<T: Serialize + ?Sized>(url: &str, value: &T) -> Result<Response, HttpError> {
    Request::new("POST", url).json(value).send()
}

/// An HTTP request, built step by step and made with [`Request::send`].
///
/// ```no_run
/// # use wasmcron_sdk::http::Request;
/// let response = Request::new("DELETE", "https://api.example.com/items/7")
///     .header("Authorization", "Bearer ...")
///     .send()?;
/// # Ok::<(), wasmcron_sdk::http::HttpError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    timeout: Option<Duration>,
    follow_redirects: bool,
    /// A builder step that failed (a JSON body that did not serialize), reported by
    /// `send`.
    invalid: Option<Kind>,
}

impl Request {
    /// A request with this method (`"GET"`, `"POST"`, ... or any other token) to an
    /// `http://` or `https://` URL. No headers, no body, no timeout; it follows
    /// redirects.
    pub fn new(method: &str, url: &str) -> Self {
        Request {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: None,
            timeout: None,
            follow_redirects: true,
            invalid: None,
        }
    }

    /// Adds a header (several with the same name are all sent). The host sets `Host`
    /// itself and refuses hop-by-hop headers (`Connection`, `Transfer-Encoding`,
    /// `Upgrade`, ...): `send` fails, naming the header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body. `Content-Length` is sent with it unless set as a header.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sets `value`, as JSON, as the body, and `Content-Type: application/json` unless
    /// a `Content-Type` is already set. A value that does not serialize makes `send`
    /// fail.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => self.body = Some(body),
            Err(e) => self.invalid = Some(Kind::Json(format!("cannot encode the body: {e}"))),
        }
        if !has_header(&self.headers, "content-type") {
            self.headers
                .push(("Content-Type".to_owned(), "application/json".to_owned()));
        }
        self
    }

    /// Limits the whole exchange, redirects included, to `timeout`: connecting,
    /// sending, waiting for the response and reading its body. None by default; the
    /// job's `http_limits` apply regardless (`timeout_seconds`, 30 by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Whether to follow redirects (true by default).
    ///
    /// A `301`, `302`, `303`, `307` or `308` response with a `Location` is followed
    /// with a new request, at most [`MAX_REDIRECTS`] times, each checked again by the
    /// host against the job's `allowed_hosts`. `303` (and `301`/`302` after a `POST`)
    /// continue as a `GET` without the body; `307` and `308` repeat the method and
    /// body. `Authorization` and `Cookie` headers are not sent on to another origin.
    /// With `false`, the redirect itself is the response.
    pub fn follow_redirects(mut self, follow: bool) -> Self {
        self.follow_redirects = follow;
        self
    }

    /// Makes the request, and follows its redirects.
    ///
    /// # Errors
    /// When the URL or a header is invalid, the host denies the request, it fails on
    /// the way, times out, or redirects more than [`MAX_REDIRECTS`] times. A response
    /// with any status is `Ok`.
    pub fn send(self) -> Result<Response, HttpError> {
        let Request {
            mut method,
            url,
            mut headers,
            mut body,
            timeout,
            follow_redirects,
            invalid,
        } = self;
        let fail = |method: &str, url: &str, kind: Kind| HttpError {
            method: method.to_owned(),
            url: url.to_owned(),
            kind,
        };
        if let Some(kind) = invalid {
            return Err(fail(&method, &url, kind));
        }
        let mut target = Url::parse(&url).map_err(|e| fail(&method, &url, Kind::Url(e)))?;
        let limit = timeout.map(|timeout| Limit {
            deadline: monotonic_clock::now().saturating_add(nanos(timeout)),
            timeout,
        });
        let mut redirects = 0;
        loop {
            let response = exchange(&method, &target, &headers, body.as_deref(), limit)
                .map_err(|kind| fail(&method, &target.to_string(), kind))?;
            let location = match response.header("location") {
                Some(location) if follow_redirects && is_redirect(response.status) => location,
                _ => return Ok(response),
            };
            if redirects == MAX_REDIRECTS {
                return Err(fail(
                    &method,
                    &url,
                    Kind::TooManyRedirects(target.to_string()),
                ));
            }
            redirects += 1;
            let next = target.join(location).map_err(|e| {
                let kind = Kind::BadRedirect(location.to_owned(), e);
                fail(&method, &target.to_string(), kind)
            })?;
            if redirect_as_get(response.status, &method) {
                method = "GET".to_owned();
                body = None;
                headers.retain(|(name, _)| !is_body_header(name));
            }
            if !next.same_origin(&target) {
                headers.retain(|(name, _)| !is_credential_header(name));
            }
            target = next;
        }
    }
}

/// A response: status, headers and the whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code, e.g. `200`.
    pub status: u16,
    /// The headers in the order they came, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The URL that answered: the request's, or where its redirects led.
    pub url: String,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first header named `name` (in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced by `U+FFFD`).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body decoded from JSON.
    ///
    /// # Errors
    /// When it is not JSON of type `T`; the message names the URL and the status.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| HttpError {
            method: String::new(),
            url: self.url.clone(),
            kind: Kind::Json(format!(
                "the body of the {} response is not the expected JSON: {e}",
                self.status
            )),
        })
    }
}

/// Why a request got no response: the method, the URL that failed, and what happened.
///
/// Its message reads `<METHOD> <url>: <what happened>`; when the host gave a wasi:http
/// error code, it is in the message in words and by name, as in `GET http://10.0.0.1/:
/// the host denied the request (HTTP-request-denied): it is not in the job's
/// allowed_hosts, or it resolves to a private address, or the run used up its
/// http_limits`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    method: String,
    url: String,
    kind: Kind,
}

impl HttpError {
    /// The method of the request that failed (empty for [`Response::json`]).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The URL that failed: the request's, or the redirect being followed.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The wasi:http `error-code` the host gave, by its WIT name (e.g.
    /// `"HTTP-request-denied"`, `"connection-refused"`, `"DNS-error"`), if any.
    pub fn code(&self) -> Option<&'static str> {
        match &self.kind {
            Kind::Code(code) => Some(code_words(code).0),
            _ => None,
        }
    }

    /// Whether the host refused to make the request (`HTTP-request-denied` or
    /// `destination-IP-prohibited`): its origin is not in the job's `allowed_hosts`,
    /// it resolves to an internal address, or the run used up its `http_limits`.
    pub fn is_denied(&self) -> bool {
        matches!(
            self.kind,
            Kind::Code(ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited)
        )
    }

    /// Whether the request ran out of time: its [`Request::timeout`], or a timeout of
    /// the host's (connecting, reading, DNS).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.kind,
            Kind::Timeout(_)
                | Kind::Code(
                    ErrorCode::DnsTimeout
                        | ErrorCode::ConnectionTimeout
                        | ErrorCode::ConnectionReadTimeout
                        | ErrorCode::ConnectionWriteTimeout
                        | ErrorCode::HttpResponseTimeout
                )
        )
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.method.is_empty() {
            write!(f, "{}: {}", self.url, self.kind)
        } else {
            write!(f, "{} {}: {}", self.method, self.url, self.kind)
        }
    }
}

impl std::error::Error for HttpError {}

/// What went wrong, without the request it happened to.
#[derive(Debug, Clone)]
enum Kind {
    Url(String),
    Header(String, HeaderError),
    Method,
    Code(ErrorCode),
    Stream(String),
    Timeout(Duration),
    TooManyRedirects(String),
    BadRedirect(String, String),
    Json(String),
}

impl PartialEq for Kind {
    fn eq(&self, other: &Self) -> bool {
        // wasi's types do not compare; their messages do.
        self.to_string() == other.to_string()
    }
}

impl Eq for Kind {}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Url(e) => write!(f, "invalid URL: {e}"),
            Kind::Header(name, e) => match e {
                HeaderError::Forbidden => write!(
                    f,
                    "the header {name:?} is not allowed (the host sets it, or it is hop-by-hop)"
                ),
                HeaderError::InvalidSyntax => {
                    write!(f, "the header {name:?} has an invalid name or value")
                }
                HeaderError::Immutable => write!(f, "the header {name:?} cannot be set"),
            },
            Kind::Method => f.write_str("invalid method"),
            Kind::Code(code) => {
                let (name, words, detail) = code_words(code);
                write!(f, "{words} ({name})")?;
                match detail {
                    Some(detail) => write!(f, ": {detail}"),
                    None => Ok(()),
                }
            }
            Kind::Stream(e) => f.write_str(e),
            Kind::Timeout(t) => write!(f, "timed out after {t:?} (the request's timeout)"),
            Kind::TooManyRedirects(last) => write!(
                f,
                "stopped after {MAX_REDIRECTS} redirects (the last one to {last})"
            ),
            Kind::BadRedirect(location, e) => {
                write!(f, "redirected to an invalid location {location:?}: {e}")
            }
            Kind::Json(e) => f.write_str(e),
        }
    }
}

/// A wasi:http error code's WIT name, what it means in words, and its details.
fn code_words(code: &ErrorCode) -> (&'static str, &'static str, Option<String>) {
    use ErrorCode as E;
    let size = |n: &Option<u64>| n.map(|n| format!("{n} bytes"));
    let field = |name: &Option<String>, size: &Option<u32>| {
        let name = name.as_deref().unwrap_or("?");
        Some(match size {
            Some(n) => format!("{name}, {n} bytes"),
            None => name.to_owned(),
        })
    };
    match code {
        E::DnsTimeout => ("DNS-timeout", "looking up the host name timed out", None),
        E::DnsError(p) => (
            "DNS-error",
            "the host name could not be looked up",
            p.rcode
                .clone()
                .or_else(|| p.info_code.map(|c| c.to_string())),
        ),
        E::DestinationNotFound => ("destination-not-found", "the host was not found", None),
        E::DestinationUnavailable => ("destination-unavailable", "the host is unavailable", None),
        E::DestinationIpProhibited => (
            "destination-IP-prohibited",
            "the host refused the address",
            Some(
                "it is internal (loopback, private, link-local); to reach it, name that \
                 address in the job's allowed_hosts"
                    .to_owned(),
            ),
        ),
        E::DestinationIpUnroutable => (
            "destination-IP-unroutable",
            "the host's address is unroutable",
            None,
        ),
        E::ConnectionRefused => ("connection-refused", "the connection was refused", None),
        E::ConnectionTerminated => (
            "connection-terminated",
            "the connection was closed unexpectedly",
            None,
        ),
        E::ConnectionTimeout => ("connection-timeout", "connecting timed out", None),
        E::ConnectionReadTimeout => (
            "connection-read-timeout",
            "reading from the connection timed out",
            None,
        ),
        E::ConnectionWriteTimeout => (
            "connection-write-timeout",
            "writing to the connection timed out",
            None,
        ),
        E::ConnectionLimitReached => (
            "connection-limit-reached",
            "the host's connection limit was reached",
            None,
        ),
        E::TlsProtocolError => ("TLS-protocol-error", "the TLS handshake failed", None),
        E::TlsCertificateError => (
            "TLS-certificate-error",
            "the server's TLS certificate was not accepted",
            None,
        ),
        E::TlsAlertReceived(p) => (
            "TLS-alert-received",
            "the server sent a TLS alert",
            p.alert_message
                .clone()
                .or_else(|| p.alert_id.map(|id| format!("alert {id}"))),
        ),
        E::HttpRequestDenied => (
            "HTTP-request-denied",
            "the host denied the request",
            Some(
                "it is not in the job's allowed_hosts, or it resolves to a private address, \
                 or the run used up its http_limits"
                    .to_owned(),
            ),
        ),
        E::HttpRequestLengthRequired => (
            "HTTP-request-length-required",
            "the server requires a Content-Length",
            None,
        ),
        E::HttpRequestBodySize(n) => (
            "HTTP-request-body-size",
            "the request body does not match its Content-Length",
            size(n),
        ),
        E::HttpRequestMethodInvalid => ("HTTP-request-method-invalid", "invalid method", None),
        E::HttpRequestUriInvalid => ("HTTP-request-URI-invalid", "invalid URL", None),
        E::HttpRequestUriTooLong => ("HTTP-request-URI-too-long", "the URL is too long", None),
        E::HttpRequestHeaderSectionSize(n) => (
            "HTTP-request-header-section-size",
            "the request's headers are too large",
            n.map(|n| format!("{n} bytes")),
        ),
        E::HttpRequestHeaderSize(p) => (
            "HTTP-request-header-size",
            "a request header is too large",
            p.as_ref().and_then(|p| field(&p.field_name, &p.field_size)),
        ),
        E::HttpRequestTrailerSectionSize(n) => (
            "HTTP-request-trailer-section-size",
            "the request's trailers are too large",
            n.map(|n| format!("{n} bytes")),
        ),
        E::HttpRequestTrailerSize(p) => (
            "HTTP-request-trailer-size",
            "a request trailer is too large",
            field(&p.field_name, &p.field_size),
        ),
        E::HttpResponseIncomplete => ("HTTP-response-incomplete", "the response broke off", None),
        E::HttpResponseHeaderSectionSize(n) => (
            "HTTP-response-header-section-size",
            "the response's headers are too large",
            n.map(|n| format!("{n} bytes")),
        ),
        E::HttpResponseHeaderSize(p) => (
            "HTTP-response-header-size",
            "a response header is too large",
            field(&p.field_name, &p.field_size),
        ),
        E::HttpResponseBodySize(n) => (
            "HTTP-response-body-size",
            "the response body is too large or does not match its Content-Length",
            size(n),
        ),
        E::HttpResponseTrailerSectionSize(n) => (
            "HTTP-response-trailer-section-size",
            "the response's trailers are too large",
            n.map(|n| format!("{n} bytes")),
        ),
        E::HttpResponseTrailerSize(p) => (
            "HTTP-response-trailer-size",
            "a response trailer is too large",
            field(&p.field_name, &p.field_size),
        ),
        E::HttpResponseTransferCoding(c) => (
            "HTTP-response-transfer-coding",
            "the response's transfer coding is not supported",
            c.clone(),
        ),
        E::HttpResponseContentCoding(c) => (
            "HTTP-response-content-coding",
            "the response's content coding is not supported",
            c.clone(),
        ),
        E::HttpResponseTimeout => (
            "HTTP-response-timeout",
            "the response did not come in time",
            None,
        ),
        E::HttpUpgradeFailed => ("HTTP-upgrade-failed", "the protocol upgrade failed", None),
        E::HttpProtocolError => (
            "HTTP-protocol-error",
            "the exchange broke the HTTP protocol",
            None,
        ),
        E::LoopDetected => ("loop-detected", "a request loop was detected", None),
        E::ConfigurationError => (
            "configuration-error",
            "the host's HTTP configuration is invalid",
            None,
        ),
        E::InternalError(message) => ("internal-error", "the request failed", message.clone()),
    }
}

/// Whether `status` is a redirect this client follows.
fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Whether a redirect with `status` continues as a `GET` without the body (what
/// browsers do): `303` for anything but `HEAD`, `301` and `302` for a `POST`.
fn redirect_as_get(status: u16, method: &str) -> bool {
    match status {
        303 => !method.eq_ignore_ascii_case("HEAD"),
        301 | 302 => method.eq_ignore_ascii_case("POST"),
        _ => false,
    }
}

/// Headers that describe the body, dropped with it.
fn is_body_header(name: &str) -> bool {
    ["content-type", "content-length", "content-encoding"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

/// Headers that carry credentials, not sent on to another origin.
fn is_credential_header(name: &str) -> bool {
    ["authorization", "cookie", "proxy-authorization"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

fn has_header(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The request's timeout, as a point on the monotonic clock.
#[derive(Debug, Clone, Copy)]
struct Limit {
    deadline: monotonic_clock::Instant,
    timeout: Duration,
}

/// Waits until `pollable` is ready, or the deadline passes.
fn wait(pollable: &Pollable, limit: Option<Limit>) -> Result<(), Kind> {
    let Some(limit) = limit else {
        pollable.block();
        return Ok(());
    };
    if pollable.ready() {
        return Ok(());
    }
    let timer = monotonic_clock::subscribe_instant(limit.deadline);
    if poll(&[pollable, &timer]).contains(&0) {
        Ok(())
    } else {
        Err(Kind::Timeout(limit.timeout))
    }
}

fn method_of(method: &str) -> Method {
    match method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        _ => Method::Other(method.to_owned()),
    }
}

/// One request and its response, without redirects.
fn exchange(
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    body: Option<&[u8]>,
    limit: Option<Limit>,
) -> Result<Response, Kind> {
    let fields = Fields::new();
    for (name, value) in headers {
        fields
            .append(name, value.as_bytes())
            .map_err(|e| Kind::Header(name.clone(), e))?;
    }
    if let Some(body) = body
        && !has_header(headers, "content-length")
    {
        let length = body.len().to_string();
        fields
            .append("content-length", length.as_bytes())
            .map_err(|e| Kind::Header("content-length".to_owned(), e))?;
    }
    let request = OutgoingRequest::new(fields);
    request
        .set_method(&method_of(method))
        .map_err(|()| Kind::Method)?;
    let scheme = if url.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let invalid = |()| Kind::Code(ErrorCode::HttpRequestUriInvalid);
    request.set_scheme(Some(&scheme)).map_err(invalid)?;
    request
        .set_authority(Some(&url.authority))
        .map_err(invalid)?;
    request
        .set_path_with_query(Some(&url.path_and_query))
        .map_err(invalid)?;
    // The body is taken before the request is handed over, and written after: the host
    // sends it as it comes.
    let outgoing = match body {
        Some(_) => Some(
            request
                .body()
                .map_err(|()| Kind::Stream("no request body".into()))?,
        ),
        None => None,
    };
    let options = limit.map(|limit| {
        let options = RequestOptions::new();
        let t = nanos(limit.timeout);
        // A host may not support each of these; the deadline applies regardless.
        let _ = options.set_connect_timeout(Some(t));
        let _ = options.set_first_byte_timeout(Some(t));
        let _ = options.set_between_bytes_timeout(Some(t));
        options
    });
    let future = outgoing_handler::handle(request, options).map_err(Kind::Code)?;
    let sent = match (outgoing, body) {
        (Some(outgoing), Some(body)) => write_body(outgoing, body, limit),
        _ => Ok(()),
    };
    // When sending the body failed, the response says why: a denied request fails
    // with its error code, and a server that refused the body early (`413`, `401`)
    // answers with that status.
    let response = wait_for_response(&future, limit)?;
    if (200..300).contains(&response.status()) {
        sent?;
    }
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    let body = read_body(&response, limit)?;
    Ok(Response {
        status,
        headers,
        body,
        url: url.to_string(),
    })
}

fn write_body(outgoing: OutgoingBody, mut body: &[u8], limit: Option<Limit>) -> Result<(), Kind> {
    let broke = |e: StreamError| match e {
        StreamError::Closed => Kind::Stream("the request body could not be sent".to_owned()),
        StreamError::LastOperationFailed(e) => match wasip2::http::types::http_error_code(&e) {
            Some(code) => Kind::Code(code),
            None => Kind::Stream(format!(
                "sending the request body failed: {}",
                e.to_debug_string()
            )),
        },
    };
    {
        let stream = outgoing
            .write()
            .map_err(|()| Kind::Stream("no request body stream".into()))?;
        while !body.is_empty() {
            let room = stream.check_write().map_err(broke)?;
            if room == 0 {
                wait(&stream.subscribe(), limit)?;
                continue;
            }
            let n = body.len().min(usize::try_from(room).unwrap_or(usize::MAX));
            stream.write(&body[..n]).map_err(broke)?;
            body = &body[n..];
        }
        stream.flush().map_err(broke)?;
        loop {
            match stream.check_write() {
                Ok(0) => wait(&stream.subscribe(), limit)?,
                Ok(_) => break,
                Err(e) => return Err(broke(e)),
            }
        }
        // The stream, a child of the body, is dropped before the body is finished.
    }
    OutgoingBody::finish(outgoing, None).map_err(Kind::Code)
}

fn wait_for_response(
    future: &FutureIncomingResponse,
    limit: Option<Limit>,
) -> Result<IncomingResponse, Kind> {
    loop {
        match future.get() {
            Some(Ok(Ok(response))) => return Ok(response),
            Some(Ok(Err(code))) => return Err(Kind::Code(code)),
            Some(Err(())) => return Err(Kind::Stream("the response was taken twice".into())),
            None => wait(&future.subscribe(), limit)?,
        }
    }
}

fn read_body(response: &IncomingResponse, limit: Option<Limit>) -> Result<Vec<u8>, Kind> {
    let incoming = response
        .consume()
        .map_err(|()| Kind::Stream("the response body was taken twice".into()))?;
    let mut body = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|()| Kind::Stream("no response body stream".into()))?;
        loop {
            match stream.read(64 * 1024) {
                Ok(chunk) if chunk.is_empty() => wait(&stream.subscribe(), limit)?,
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(match wasip2::http::types::http_error_code(&e) {
                        Some(code) => Kind::Code(code),
                        None => Kind::Stream(format!(
                            "reading the response body failed: {}",
                            e.to_debug_string()
                        )),
                    });
                }
            }
        }
        // The stream, a child of the body, is dropped before the body is finished.
    }
    drop(IncomingBody::finish(incoming));
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(method: &str, url: &str, kind: Kind) -> String {
        HttpError {
            method: method.into(),
            url: url.into(),
            kind,
        }
        .to_string()
    }

    #[test]
    fn a_denied_request_says_so_with_the_url_and_the_code() {
        let e = HttpError {
            method: "GET".into(),
            url: "http://10.0.0.1/".into(),
            kind: Kind::Code(ErrorCode::HttpRequestDenied),
        };
        assert_eq!(
            e.to_string(),
            "GET http://10.0.0.1/: the host denied the request (HTTP-request-denied): it is not \
             in the job's allowed_hosts, or it resolves to a private address, or the run used \
             up its http_limits"
        );
        assert!(e.is_denied());
        assert!(!e.is_timeout());
        assert_eq!(e.code(), Some("HTTP-request-denied"));
        // It converts into the SDK's error with `?`, keeping the message.
        assert_eq!(crate::Error::from(e.clone()).to_string(), e.to_string());
    }

    /// What is wrong with a request before it is made fails `send` without reaching
    /// the host (so this runs natively, where wasi:http is not there).
    #[test]
    fn requests_that_cannot_be_made_fail_before_reaching_the_host() {
        let e = Request::new("GET", "ftp://example.com/")
            .send()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "GET ftp://example.com/: invalid URL: only http and https URLs are supported"
        );
        assert_eq!(
            (e.method(), e.url(), e.code()),
            ("GET", "ftp://example.com/", None)
        );

        let not_json = std::collections::HashMap::from([((1, 2), 3)]);
        let e = post_json("http://a/", &not_json).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("POST http://a/: cannot encode the body: "),
            "{e}"
        );
    }

    #[test]
    fn error_codes_read_as_words_with_their_details() {
        assert_eq!(
            error(
                "POST",
                "https://example.com/x",
                Kind::Code(ErrorCode::ConnectionRefused)
            ),
            "POST https://example.com/x: the connection was refused (connection-refused)"
        );
        assert_eq!(
            error(
                "GET",
                "http://a/",
                Kind::Code(ErrorCode::InternalError(Some("boom".into())))
            ),
            "GET http://a/: the request failed (internal-error): boom"
        );
        assert_eq!(
            error(
                "GET",
                "http://a/",
                Kind::Code(ErrorCode::HttpResponseBodySize(Some(10)))
            ),
            "GET http://a/: the response body is too large or does not match its \
             Content-Length (HTTP-response-body-size): 10 bytes"
        );
        let timeout = HttpError {
            method: "GET".into(),
            url: "http://a/".into(),
            kind: Kind::Timeout(Duration::from_millis(1500)),
        };
        assert_eq!(
            timeout.to_string(),
            "GET http://a/: timed out after 1.5s (the request's timeout)"
        );
        assert!(timeout.is_timeout());
        assert_eq!(timeout.code(), None);
        assert_eq!(
            error(
                "GET",
                "http://a/",
                Kind::Header("Host".into(), HeaderError::Forbidden)
            ),
            "GET http://a/: the header \"Host\" is not allowed (the host sets it, or it is \
             hop-by-hop)"
        );
        assert_eq!(
            error(
                "GET",
                "http://a/",
                Kind::TooManyRedirects("http://b/".into())
            ),
            "GET http://a/: stopped after 5 redirects (the last one to http://b/)"
        );
    }

    #[test]
    fn redirects_keep_or_drop_the_method_like_browsers() {
        for status in [301, 302, 303, 307, 308] {
            assert!(is_redirect(status));
        }
        for status in [200, 300, 304, 305, 404] {
            assert!(!is_redirect(status));
        }
        assert!(redirect_as_get(303, "POST"));
        assert!(redirect_as_get(303, "PUT"));
        assert!(!redirect_as_get(303, "HEAD"));
        assert!(redirect_as_get(302, "POST"));
        assert!(redirect_as_get(301, "post"));
        assert!(!redirect_as_get(301, "PUT"));
        assert!(!redirect_as_get(307, "POST"));
        assert!(!redirect_as_get(308, "POST"));
        assert!(is_credential_header("Authorization"));
        assert!(is_body_header("Content-Type"));
        assert!(!is_credential_header("Accept"));
    }

    #[test]
    fn the_builder_sets_json_and_keeps_a_content_type() {
        let r = Request::new("POST", "http://a/").json(&serde_json::json!({"a": 1}));
        assert_eq!(r.body.as_deref(), Some(&br#"{"a":1}"#[..]));
        assert_eq!(
            r.headers,
            [("Content-Type".to_owned(), "application/json".to_owned())]
        );
        let r = Request::new("POST", "http://a/")
            .header("content-type", "application/vnd.x+json")
            .json(&1);
        assert_eq!(r.headers.len(), 1);
        assert!(r.follow_redirects);
        assert!(!r.follow_redirects(false).follow_redirects);
    }

    #[test]
    fn a_response_reads_as_text_json_and_headers() {
        let response = Response {
            status: 201,
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"id": 7}"#.to_vec(),
            url: "http://a/items".into(),
        };
        assert!(response.is_success());
        assert_eq!(response.header("Content-Type"), Some("application/json"));
        assert_eq!(response.header("location"), None);
        assert_eq!(response.text(), r#"{"id": 7}"#);
        let v: serde_json::Value = response.json().unwrap();
        assert_eq!(v["id"], 7);
        let e = response.json::<Vec<u8>>().unwrap_err();
        assert!(
            e.to_string().starts_with(
                "http://a/items: the body of the 201 response is not the expected JSON"
            ),
            "{e}"
        );
    }
}
