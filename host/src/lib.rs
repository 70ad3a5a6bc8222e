//! wasmcron: a job scheduler whose jobs are sandboxed WebAssembly components, with
//! ndscheduler's REST API.
//!
//! # Layout
//! A request flows api → service → store; a fire flows scheduler → store → runtime →
//! store. Arrows only point down this list:
//! - [`api`]: axum routers; `api::v1` parses requests into typed ones and renders the
//!   wire JSON. Only it knows HTTP.
//! - [`service`]: the use-cases (add job, pause, run now, cancel …), typed in and out.
//! - [`scheduler`]: the timer, fires (claim, misfire, coalesce), concurrency policy, the
//!   execution lifecycle, retention.
//! - [`events`]: the live event bus: executions' state changes and runs' logs and
//!   progress, for the API's event streams.
//! - [`plugins`]: installed plugins by name; resolving `job_class_string`.
//! - [`follow`]: on a database several hosts share, applying the changes made through
//!   the others (jobs, plugins, cancels).
//! - [`runtime`]: the wasmtime engine, plugin loading and caching, the per-run sandbox
//!   and its limits. The only module that knows wasmtime.
//! - [`store`]: sqlx over SQLite, by table; the database is the truth for next fire
//!   times.
//! - [`job`]: the domain, no I/O: a job, its schedule (cron with APScheduler's rules,
//!   interval, date), its options, the execution states.
//! - [`auth`]: access control: API tokens and roles, the route → role policy, the
//!   console's sessions and CSRF tokens, the limit on failed attempts.
//! - [`server`]: `serve` as a function of a listener and a shutdown future; [`tls`]:
//!   its HTTPS listener.
//! - [`cli`]: the plugin author's commands (`run`, `describe`); [`scaffold`]: `new`;
//!   [`dev`]: `dev`, the build-and-run loop over a project `new` made;
//!   [`client`]: the clients of a running server's API (`plugin`, `job`, `exec`).
//!
//! The modules are private to the crate; what the binary, the tests and the benches
//! use is re-exported here.

mod api;
mod auth;
mod cli;
mod client;
mod dev;
mod events;
mod follow;
mod fsutil;
mod job;
mod jsonfmt;
mod metrics;
mod plugins;
mod runtime;
mod scaffold;
mod scheduler;
mod secrets;
mod server;
mod service;
mod store;
mod time;
mod tls;

pub use api::ApiConfig;
pub use auth::{AuthConfig, Role};
pub use job::{AllowList, ExecutionState, HttpLimitCaps, OptionLimits, ResolvedHttpLimits};
pub use plugins::PluginRegistry;
pub use runtime::{
    ClassLimits, CompileOptions, EngineOptions, FailureKind, Grants, HttpGrant, HttpRequestRecord,
    JobClass, LoadError, LogLine, Plugin, PluginLimits, RunContext, RunLimits, RunOutcome,
    RunReport, RunRequest, Runtime, StateGrant,
};
pub use scheduler::HostConfig;
pub use scheduler::SchedulerConfig;
pub use scheduler::retention::RetentionConfig;
pub use secrets::Vault;
pub use server::{ServerConfig, TlsFiles, run as serve};
pub use store::{Database, Store};

/// The commands of the `wasmcron` binary besides `serve`.
pub mod commands {
    pub use crate::cli::{RunArgs, attach_manifest, describe, run};
    pub use crate::client::{ExecArgs, JobArgs, PluginCommand, exec, job, plugin};
    pub use crate::client::{TokenCommand, token};
    pub use crate::dev::{DevArgs, dev};
    pub use crate::runtime::{COMPILE_COMMAND, compile_plugin_command};
    pub use crate::scaffold::{NewArgs, new_project};
}

/// The allocator of every binary linking this library (the server, the benches).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
