//! Access control (docs/security.md): API tokens with roles, the route → role policy,
//! the web console's sessions with their CSRF tokens, and the limit on failed attempts.
//!
//! The public face:
//! - [`Auth`]: the server's access state; [`authenticate`] is the axum middleware that
//!   asks it who a request comes from and whether its role may call the route, and
//!   leaves the answer, a [`Caller`], in the request for the handlers (the audit log's
//!   `user` is its name).
//! - [`tokens`]: creating, listing, verifying and revoking tokens over the store (the
//!   `wasmcron token` command uses it without a server).
//! - [`Role`] and [`policy::ROUTES`], the one table of which role each route needs.
//!
//! Auth is on when a token exists, or when the server was told to require it (a
//! non-loopback listen address); otherwise every request is an anonymous admin, as
//! before access control existed.

mod limiter;
mod middleware;
pub mod policy;
mod role;
mod sessions;
pub mod tokens;

pub use middleware::{
    ClientAddr, authenticate, client_ip, session_clear_cookie, session_set_cookie,
};
pub use role::Role;
use sessions::Session;
pub use tokens::{NewToken, TokenError, TokenInfo};

use crate::store::{Store, StoreError};
use crate::time::now_micros;
use limiter::FailureLimiter;
use sessions::Sessions;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the server looks again whether any token exists (one may have been
/// created or revoked by `wasmcron token` beside it): a token made on the command line
/// turns auth on within this time. A token's own revocation takes effect at once, as
/// each request looks its token up.
const TOKENS_RECHECK: Duration = Duration::from_secs(1);
/// How often a token's `last_used_time` is written, at most.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Access-control settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Ask for credentials even when no token exists (every request is then refused):
    /// what a non-loopback listen address without `--insecure-no-auth` gets.
    pub always_required: bool,
    /// Serve `/metrics` without credentials.
    pub public_metrics: bool,
    /// Failed authentication attempts per client address and minute before 429.
    pub failures_per_minute: u32,
    /// A console session ends after this long without a request.
    pub session_idle: Duration,
    /// Cookies get `Secure` (the server serves TLS).
    pub secure_cookies: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            always_required: false,
            public_metrics: false,
            failures_per_minute: 10,
            session_idle: Duration::from_secs(12 * 3600),
            secure_cookies: false,
        }
    }
}

/// Who a request comes from.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name ("" when auth is off): the audit log's `user`.
    pub name: String,
    /// What it may do (admin when auth is off).
    pub role: Role,
    /// How it authenticated.
    pub via: Via,
}

/// How a [`Caller`] authenticated.
#[derive(Debug, Clone)]
pub enum Via {
    /// Auth is off: nobody needs to.
    Open,
    /// `Authorization: Bearer <token>`.
    Token,
    /// The console's session cookie.
    Session {
        /// The session's id (the cookie's value).
        id: String,
        /// Its CSRF token.
        csrf_token: String,
    },
}

impl Caller {
    /// The caller when auth is off: anonymous, and allowed everything.
    pub fn open() -> Caller {
        Caller {
            name: String::new(),
            role: Role::Admin,
            via: Via::Open,
        }
    }
}

/// The server's access state: its tokens (in the store), sessions and failure counts.
pub struct Auth {
    store: Store,
    config: AuthConfig,
    sessions: Sessions,
    limiter: FailureLimiter,
    /// Whether a token existed when last looked, and when that was.
    tokens_seen: Mutex<(bool, Option<Instant>)>,
    /// When each token's `last_used_time` was last written.
    touched: Mutex<HashMap<String, Instant>>,
}

/// Why a request is refused before its handler.
#[derive(Debug)]
pub enum Refusal {
    /// 401: no credentials, or ones that do not authenticate; the message says which.
    Unauthenticated(String),
    /// 403: the role is too low, or a session's request lacks its CSRF token.
    Forbidden(String),
    /// 429: too many failures from this address; retry after this long.
    TooManyFailures(Duration),
    /// 500: the database failed (the cause is logged where the answer is made).
    Fault(String),
    /// 503: the database cannot be reached now.
    Unavailable(String),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Refusal {
        if e.is_unavailable() {
            Refusal::Unavailable(e.to_string())
        } else {
            Refusal::Fault(e.to_string())
        }
    }
}

impl From<TokenError> for Refusal {
    fn from(e: TokenError) -> Refusal {
        Refusal::Fault(e.to_string())
    }
}

impl Auth {
    /// The access state over `store`'s tokens.
    pub fn new(store: Store, config: AuthConfig) -> Auth {
        Auth {
            sessions: Sessions::new(config.session_idle),
            limiter: FailureLimiter::new(config.failures_per_minute.max(1)),
            store,
            config,
            tokens_seen: Mutex::default(),
            touched: Mutex::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Whether requests must authenticate: a token exists, or the server requires it.
    pub async fn enabled(&self) -> Result<bool, StoreError> {
        if self.config.always_required {
            return Ok(true);
        }
        {
            let seen = lock(&self.tokens_seen);
            if let (any, Some(at)) = *seen
                && at.elapsed() < TOKENS_RECHECK
            {
                return Ok(any);
            }
        }
        let any = match self.store.any_token().await {
            Ok(any) => any,
            // While the database is unreachable, what was last seen holds, so that the
            // host keeps serving what it can (tokens cannot change meanwhile).
            Err(e) if e.is_unavailable() => match *lock(&self.tokens_seen) {
                (any, Some(_)) => return Ok(any),
                (_, None) => return Err(e),
            },
            Err(e) => return Err(e),
        };
        *lock(&self.tokens_seen) = (any, Some(Instant::now()));
        Ok(any)
    }

    /// Tokens were created or revoked here: look again at the next request.
    fn tokens_changed(&self) {
        lock(&self.tokens_seen).1 = None;
    }

    /// The token `secret` belongs to; failures count against `ip`.
    pub async fn check_token(&self, secret: &str, ip: IpAddr) -> Result<TokenInfo, Refusal> {
        if let Some(wait) = self.limiter.blocked(ip) {
            return Err(Refusal::TooManyFailures(wait));
        }
        match tokens::verify(&self.store, secret).await? {
            Some(info) => {
                self.touch(&info.name).await;
                Ok(info)
            }
            None => {
                self.limiter.fail(ip);
                Err(Refusal::Unauthenticated(
                    "the token is not valid: it is unknown or was revoked".into(),
                ))
            }
        }
    }

    /// The caller behind session `id`, if it is open and its token still exists.
    pub async fn check_session(&self, id: &str) -> Result<Caller, Refusal> {
        let Some(session) = self.sessions.get(id) else {
            return Err(Refusal::Unauthenticated(
                "the session has ended (logged out, idle too long, or the server \
                 restarted): log in again"
                    .into(),
            ));
        };
        match self.store.token_by_hash(&session.token_sha256).await {
            Ok(Some(row)) => {
                self.touch(&row.name).await;
                Ok(Caller {
                    name: row.name,
                    role: tokens::role_of(&row.role),
                    via: Via::Session {
                        id: id.to_owned(),
                        csrf_token: session.csrf_token,
                    },
                })
            }
            Ok(None) => {
                self.sessions.close(id);
                Err(Refusal::Unauthenticated(format!(
                    "the session's token {} was revoked: log in again",
                    session.token_name
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Logs in with a token: a new session (its id and CSRF token) and the token.
    pub async fn open_session(
        &self,
        secret: &str,
        ip: IpAddr,
    ) -> Result<(String, Session, TokenInfo), Refusal> {
        let info = self.check_token(secret, ip).await?;
        let (id, session) = self.sessions.open(&info.name, &tokens::hash(secret));
        Ok((id, session, info))
    }

    /// Logs out: ends session `id`; whether it was open.
    pub fn close_session(&self, id: &str) -> bool {
        self.sessions.close(id)
    }

    /// Creates a token (over the API); `user` asked for it.
    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
        user: &str,
    ) -> Result<NewToken, TokenError> {
        let new = tokens::create(&self.store, name, role, user).await?;
        self.tokens_changed();
        Ok(new)
    }

    /// Every token.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, TokenError> {
        tokens::list(&self.store).await
    }

    /// Revokes a token and ends its sessions; `user` asked for it.
    pub async fn revoke_token(&self, name: &str, user: &str) -> Result<(), TokenError> {
        tokens::revoke(&self.store, name, user).await?;
        self.sessions.close_token(name);
        lock(&self.touched).remove(name);
        self.tokens_changed();
        Ok(())
    }

    /// Records that token `name` was used, at most once a minute (the request that
    /// writes it waits for the write; a failed write is logged, not the request's
    /// failure).
    async fn touch(&self, name: &str) {
        {
            let mut touched = lock(&self.touched);
            if touched
                .get(name)
                .is_some_and(|at| at.elapsed() < TOUCH_EVERY)
            {
                return;
            }
            touched.insert(name.to_owned(), Instant::now());
        }
        if let Err(e) = self.store.touch_token(name, now_micros()).await {
            tracing::warn!(token = %name, "cannot record the token's last use: {e}");
        }
    }
}

/// A lock whose holder panicked still guards whole data here.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
