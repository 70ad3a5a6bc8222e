//! What a run may do beyond computing on its arguments: outbound HTTP to allowed
//! hosts (`http.rs`), environment variables (the job's `env` and the secrets it is
//! granted, through `wasi:cli/environment`), and its job's small key-value state
//! (`kv.rs`). A run is given [`Grants`]; the default grants nothing: every HTTP
//! request is denied (and recorded), the environment is empty, the state starts empty
//! and is not kept.
//!
//! Secrets a run was given are redacted (`***`) from everything it produced
//! (`redact.rs`), so a job that echoes one does not publish it.

mod http;
mod kv;
mod redact;

pub(crate) use http::HttpHooks;
pub use http::{HttpGrant, HttpRequestRecord};
pub(crate) use kv::JobState;
pub use kv::StateGrant;
pub(crate) use redact::Redactor;

/// What one run is granted. `Grants::default()` grants nothing.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Outbound HTTP: the allow-list and limits; `None` denies every request.
    pub http: Option<HttpGrant>,
    /// Environment variables, in order: the job's `env`, then its secrets.
    pub env: Vec<(String, String)>,
    /// Values replaced by `***` in everything the run produced (its secrets).
    pub redact: Vec<String>,
    /// The job's state at the start of the run, when it is kept; `None`: the run
    /// starts with an empty state and nothing it stores is kept (the CLI).
    pub state: Option<StateGrant>,
}
