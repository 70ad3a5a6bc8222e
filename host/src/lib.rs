//! wasmcron: a job scheduler whose jobs are sandboxed WebAssembly components, with
//! ndscheduler's REST API.
//!
//! # Layout
//! A request flows api → service → store; a fire flows scheduler → store → runtime →
//! store.
//! - [`api`]: axum routers (`/api/v1` is ndscheduler's contract). Only it knows HTTP.
//! - [`service`]: the use-cases (add job, pause, run now, cancel …) and validation.
//! - [`jobs`]: a job's JSON: parsing both schedule forms, rendering in contract order.
//! - [`scheduler`]: triggers (cron with APScheduler's rules, interval), the timer loop,
//!   misfire and concurrency policies, execution lifecycle.
//! - [`runtime`]: the wasmtime engine, plugin loading and caching, the per-run sandbox
//!   and its limits. The only module that knows wasmtime.
//! - [`plugins`]: installed plugins by name; resolving `job_class_string`.
//! - [`store`]: sqlx over SQLite; the database is the truth for next fire times.
//! - [`server`]: `serve` as a function of a listener and a shutdown future.
//! - [`cli`]: the plugin author's commands (`run`, `describe`); [`client`]: `plugin push|list|rm`.

pub mod api;
pub mod cli;
pub mod client;
pub mod fsutil;
pub mod job;
pub mod jobs;
pub mod jsonfmt;
pub mod options;
pub mod plugins;
pub mod runtime;
pub mod scheduler;
pub mod server;
pub mod service;
pub mod store;
pub mod time;

/// The allocator of every binary linking this library (the server, the benches).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
