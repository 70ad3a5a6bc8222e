//! Outbound HTTP for jobs: wasmtime-wasi-http's `wasi:http` implementation with our
//! own sender ([`HttpHooks`]), which decides before any connection is opened:
//!
//! 1. the run has an allow-list, and has requests left (`max_requests`);
//! 2. the request's scheme, host and port are on the list;
//! 3. the name resolves, and to an address that is not internal (loopback, private,
//!    link-local, …) unless the list names that very address — the check happens on
//!    the resolved address, and the connection goes to the address that was checked, so
//!    a name that changes its answer between check and use gains nothing.
//!
//! Redirects are not followed here: a guest that follows one makes a new request,
//! which passes the same checks. Every request is recorded (method, URL without its
//! query, status, bytes, time, or why it was denied or failed). Responses are cut at
//! `max_response_bytes`, and at `max_total_bytes` over the run; each request has a
//! wall-clock limit from connecting to its last byte.

use super::super::state::bounded_copy;
use crate::job::{AllowList, ResolvedHttpLimits, is_restricted_address};
use bytes::Bytes;
use http::uri::Scheme;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// What a run may do over HTTP.
#[derive(Debug, Clone)]
pub struct HttpGrant {
    /// Where it may send requests.
    pub allow: AllowList,
    /// How much.
    pub limits: ResolvedHttpLimits,
}

/// One request a run made (or tried to), as the execution records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpRequestRecord {
    /// `GET`, `POST`, …
    pub method: String,
    /// Scheme, host, port and path; never the query string (it often carries tokens).
    pub url: String,
    /// The response's status, when one arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Response body bytes received.
    pub bytes: u64,
    /// Milliseconds from the request to its last byte (or its failure).
    pub ms: u64,
    /// Why the host refused to send it: no connection was opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denied: Option<String>,
    /// Why it failed after it was allowed (timeout, size limit, connection error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The requests of one run, shared between its store and the requests in flight.
#[derive(Debug, Default)]
struct HttpLog {
    records: Vec<HttpRequestRecord>,
    /// Response bytes received over the run.
    received: u64,
}

type SharedLog = Arc<Mutex<HttpLog>>;

/// The records kept of a run with no HTTP grant (each a denial).
const UNGRANTED_RECORDS: usize = 100;
/// The longest URL a record keeps.
const MAX_RECORDED_URL_BYTES: usize = 2048;

fn lock(log: &SharedLog) -> std::sync::MutexGuard<'_, HttpLog> {
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The `wasi:http` hooks of one run.
#[derive(Debug, Default)]
pub(crate) struct HttpHooks {
    grant: Option<Arc<HttpGrant>>,
    /// Made at the first request: a run that makes none allocates nothing.
    log: Option<SharedLog>,
}

impl HttpHooks {
    pub(crate) fn new(grant: Option<HttpGrant>) -> Self {
        HttpHooks {
            grant: grant.map(Arc::new),
            log: None,
        }
    }

    /// The requests the run made, in order.
    pub(crate) fn into_records(self) -> Vec<HttpRequestRecord> {
        self.log
            .map(|log| std::mem::take(&mut lock(&log).records))
            .unwrap_or_default()
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type Sent = Result<(http::Response<WasiBody>, IoFuture), Error>;

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        let log = self.log.get_or_insert_with(SharedLog::default).clone();
        let grant = self.grant.clone();
        Box::new(send(grant, log, request, options))
    }
}

/// Why a request was not sent, or failed.
enum Refusal {
    Denied(String, Error),
    Failed(String, Error),
}

async fn send(
    grant: Option<Arc<HttpGrant>>,
    log: SharedLog,
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Sent {
    let started = Instant::now();
    let target = Target::of(request.uri());
    let index = {
        let mut log = lock(&log);
        // A guest that keeps asking is refused without another record: the records stop
        // one past the run's request limit (and a job with no grant keeps as many), so a
        // loop of denied requests cannot grow the host's memory.
        let most = grant
            .as_ref()
            .map_or(UNGRANTED_RECORDS, |g| g.limits.max_requests as usize);
        if log.records.len() > most {
            return Err(Error::HttpRequestDenied);
        }
        log.records.push(HttpRequestRecord {
            method: request.method().to_string(),
            url: bounded_copy(&target.url, MAX_RECORDED_URL_BYTES),
            status: None,
            bytes: 0,
            ms: 0,
            denied: None,
            error: None,
        });
        log.records.len() - 1
    };
    match connect_and_send(grant, &log, index, &target, request, options, started).await {
        Ok(sent) => Ok(sent),
        Err(refusal) => {
            let mut log = lock(&log);
            let record = &mut log.records[index];
            record.ms = elapsed_ms(started);
            let error = match refusal {
                Refusal::Denied(reason, e) => {
                    record.denied = Some(reason);
                    e
                }
                Refusal::Failed(reason, e) => {
                    record.error = Some(reason);
                    e
                }
            };
            Err(error)
        }
    }
}

/// Where a request goes.
struct Target {
    https: bool,
    /// Without brackets for IPv6.
    host: String,
    port: u16,
    /// Scheme, host, port and path.
    url: String,
}

impl Target {
    fn of(uri: &http::Uri) -> Self {
        let https = uri.scheme() == Some(&Scheme::HTTPS);
        let host = uri
            .host()
            .unwrap_or("")
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let shown_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let url = format!(
            "{}://{shown_host}{}{}",
            if https { "https" } else { "http" },
            uri.port().map(|p| format!(":{p}")).unwrap_or_default(),
            uri.path()
        );
        Target {
            https,
            host,
            port,
            url,
        }
    }

    fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

async fn connect_and_send(
    grant: Option<Arc<HttpGrant>>,
    log: &SharedLog,
    index: usize,
    target: &Target,
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    started: Instant,
) -> Result<(http::Response<WasiBody>, IoFuture), Refusal> {
    let denied = |reason: String| Refusal::Denied(reason, Error::HttpRequestDenied);
    let Some(grant) = grant else {
        return Err(denied(format!(
            "the job has no allowed_hosts: {} is not allowed",
            target.origin()
        )));
    };
    let limits = grant.limits;
    if index >= limits.max_requests as usize {
        return Err(denied(format!(
            "the run already made {} requests, its limit (http_limits.max_requests)",
            limits.max_requests
        )));
    }
    if !grant.allow.permits(target.https, &target.host, target.port) {
        return Err(denied(format!(
            "{} is not in the job's allowed_hosts",
            target.origin()
        )));
    }
    // One wall-clock limit for the whole request; the guest's own timeouts may only
    // shorten the parts they name.
    let mut limit = std::time::Duration::from_secs(limits.timeout_seconds);
    if let Some(connect) = options.and_then(|o| o.connect_timeout) {
        limit = limit.min(connect.max(std::time::Duration::from_millis(1)));
    }
    let deadline =
        tokio::time::Instant::now() + std::time::Duration::from_secs(limits.timeout_seconds);
    let connect_deadline = tokio::time::Instant::now() + limit;
    let timed_out = || {
        Refusal::Failed(
            format!(
                "no response within {} s (http_limits.timeout_seconds)",
                limits.timeout_seconds
            ),
            Error::ConnectionTimeout,
        )
    };

    let address = resolve(&grant, target, connect_deadline).await?;
    let tcp = tokio::time::timeout_at(connect_deadline, TcpStream::connect(address))
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| {
            Refusal::Failed(
                format!("could not connect to {address}: {e}"),
                Error::ConnectionRefused,
            )
        })?;
    let stream: Box<dyn Stream> = if target.https {
        let name = rustls::pki_types::ServerName::try_from(target.host.clone()).map_err(|e| {
            Refusal::Failed(
                format!("invalid TLS name {}: {e}", target.host),
                Error::TlsProtocolError,
            )
        })?;
        let tls = tokio::time::timeout_at(deadline, TLS.connect(name, tcp))
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| {
                Refusal::Failed(
                    format!("TLS with {}: {e}", target.host),
                    Error::TlsProtocolError,
                )
            })?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let (mut sender, connection) = tokio::time::timeout_at(
        deadline,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| timed_out())?
    .map_err(|e| Refusal::Failed(format!("HTTP handshake: {e}"), Error::from(e)))?;
    // The connection is driven by its own task, which ends with the exchange (when the
    // response body is read or dropped, at the latest when the run ends), and a little
    // after the request's deadline in any case: the request's own timeouts fire first.
    tokio::spawn(async move {
        let _ = tokio::time::timeout_at(deadline + CONNECTION_GRACE, connection).await;
    });
    // The request line carries only the path and query (the authority is the Host
    // header, which wasi:http sets).
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| Refusal::Failed("invalid path".into(), Error::HttpRequestUriInvalid))?;
    let response = tokio::time::timeout_at(deadline, sender.send_request(request))
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| Refusal::Failed(format!("{e}"), Error::from(e)))?;
    lock(log).records[index].status = Some(response.status().as_u16());
    let (parts, incoming) = response.into_parts();
    let body = LimitedBody {
        inner: BodyExt::boxed_unsync(incoming.map_err(Error::from)),
        deadline: Box::pin(tokio::time::sleep_until(deadline)),
        response_left: limits.max_response_bytes,
        limits,
        log: log.clone(),
        index,
        started,
        ended: false,
    };
    Ok((
        http::Response::from_parts(parts, body.boxed_unsync()),
        Box::new(async { Ok(()) }) as IoFuture,
    ))
}

/// Resolves the target and picks an address the job may reach.
async fn resolve(
    grant: &HttpGrant,
    target: &Target,
    deadline: tokio::time::Instant,
) -> Result<SocketAddr, Refusal> {
    let addresses: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => tokio::time::timeout_at(
            deadline,
            tokio::net::lookup_host((target.host.as_str(), target.port)),
        )
        .await
        .map_err(|_| {
            Refusal::Failed(
                format!("resolving {} timed out", target.host),
                Error::DnsTimeout,
            )
        })?
        .map_err(|e| {
            Refusal::Failed(
                format!("could not resolve {}: {e}", target.host),
                Error::DnsError {
                    rcode: Some(e.to_string()),
                    info_code: None,
                },
            )
        })?
        .collect(),
    };
    let reachable = |a: &&SocketAddr| {
        !is_restricted_address(a.ip())
            || grant.allow.names_address(target.https, a.ip(), target.port)
    };
    match addresses.iter().find(reachable) {
        Some(address) => Ok(*address),
        None => {
            let shown: Vec<String> = addresses.iter().map(|a| a.ip().to_string()).collect();
            Err(Refusal::Denied(
                format!(
                    "{} resolves to {}: an internal address (loopback, private, link-local or \
                     metadata), which a job reaches only when allowed_hosts names that address",
                    target.host,
                    if shown.is_empty() {
                        "nothing".to_owned()
                    } else {
                        shown.join(", ")
                    }
                ),
                Error::DestinationIpProhibited,
            ))
        }
    }
}

/// How long a connection may outlive its request's deadline.
const CONNECTION_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

trait Stream: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static> Stream for T {}

/// One TLS client configuration for every run: the Mozilla roots, rustls's safe defaults.
static TLS: LazyLock<tokio_rustls::TlsConnector> = LazyLock::new(|| {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.into(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
});

/// A response body under the run's limits: its size, the run's total, the request's
/// deadline. It records bytes and time as they arrive.
struct LimitedBody {
    inner: WasiBody,
    deadline: Pin<Box<Sleep>>,
    response_left: u64,
    limits: ResolvedHttpLimits,
    log: SharedLog,
    index: usize,
    started: Instant,
    ended: bool,
}

impl LimitedBody {
    /// Ends the body with `error`, recording `reason`.
    fn fail(&mut self, reason: String, error: Error) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.ended = true;
        let mut log = lock(&self.log);
        let record = &mut log.records[self.index];
        record.error = Some(reason);
        record.ms = elapsed_ms(self.started);
        Poll::Ready(Some(Err(error)))
    }
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                if n > self.response_left {
                    let limit = self.limits.max_response_bytes;
                    return self.fail(
                        format!(
                            "the response was cut at {limit} bytes (http_limits.max_response_bytes)"
                        ),
                        Error::HttpResponseBodySize(Some(limit)),
                    );
                }
                let over_total = {
                    let mut log = lock(&self.log);
                    if log.received + n > self.limits.max_total_bytes {
                        true
                    } else {
                        log.received += n;
                        let ms = elapsed_ms(self.started);
                        let record = &mut log.records[self.index];
                        record.bytes += n;
                        record.ms = ms;
                        false
                    }
                };
                if over_total {
                    let limit = self.limits.max_total_bytes;
                    return self.fail(
                        format!("the run received {limit} bytes over HTTP, its limit (http_limits.max_total_bytes): the response was cut"),
                        Error::HttpResponseBodySize(Some(limit)),
                    );
                }
                self.response_left -= n;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => self.fail(format!("reading the response: {e}"), e),
            Poll::Ready(None) => {
                self.ended = true;
                lock(&self.log).records[self.index].ms = elapsed_ms(self.started);
                Poll::Ready(None)
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    let seconds = self.limits.timeout_seconds;
                    self.fail(
                        format!("the response did not end within {seconds} s (http_limits.timeout_seconds)"),
                        Error::ConnectionReadTimeout,
                    )
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Empty;

    fn request(url: &str) -> http::Request<WasiBody> {
        let body: WasiBody = Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        http::Request::get(url).body(body).unwrap()
    }

    #[tokio::test]
    async fn denied_requests_are_recorded_up_to_a_bound() {
        let mut hooks = HttpHooks::new(None);
        let long_path = "a".repeat(10_000);
        for _ in 0..500 {
            let sent = hooks.send_request(
                request(&format!("https://example.com/{long_path}?token=x")),
                None,
                Box::new(async { Ok(()) }),
            );
            assert!(matches!(
                Box::into_pin(sent).await,
                Err(Error::HttpRequestDenied)
            ));
        }
        let records = hooks.into_records();
        assert_eq!(records.len(), UNGRANTED_RECORDS + 1);
        assert!(
            records[0]
                .denied
                .as_deref()
                .unwrap()
                .contains("no allowed_hosts")
        );
        assert!(records[0].url.len() < MAX_RECORDED_URL_BYTES + 100);
        assert!(!records[0].url.contains("token"));
    }
}
