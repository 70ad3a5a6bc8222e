//! The plugin runtime: one wasmtime engine, plugins compiled once, a fresh sandbox per
//! run, and every way a run can end turned into a [`RunOutcome`].
//!
//! Nothing outside this module knows wasmtime. The scheduler hands [`Runtime::run`] a
//! plugin, a class, JSON arguments and limits, and gets back a [`RunReport`]: a guest
//! that fails, traps, loops, hogs memory or floods its output ends as an outcome, never
//! as a host panic.
//!
//! Sandbox: WASI preview 2 is linked with nothing granted (no preopened directories,
//! no environment variables, no sockets, stdin empty); stdout and stderr are captured
//! and bounded. Limits: a wall-clock timeout (epoch interruption: the guest yields to
//! tokio at every [`EPOCH_TICK`] and is dropped when the deadline or a cancel
//! arrives), a memory limit per linear memory, an optional fuel budget, bounded
//! output, log lines and result (each bounded before the host copies it: see
//! `component.rs` and `guest_text.rs`).
//!
//! Layout: `plugin.rs` loads a plugin (compile or cached artifact, pre-link, classes
//! and their validation); `sandbox.rs` is the one run path, where a component
//! (`component.rs`) and a WASI command (`command.rs`, classes from `manifest.rs`)
//! differ only in how the guest is instantiated and called; `outcome.rs` is how a run
//! ended and what an execution records of it.

mod bindings;
mod capabilities;
mod command;
mod compile;
mod component;
pub mod engine;
mod guest_text;
mod inspect;
mod manifest;
mod outcome;
mod output;
mod plugin;
mod pool;
mod sandbox;
mod schema;
mod state;

pub use capabilities::{Grants, HttpGrant, HttpRequestRecord, StateGrant};
pub use compile::{COMPILE_COMMAND, CompileOptions, child_main as compile_plugin_command};
pub use engine::{ClassLimits, EngineOptions};
pub use inspect::PluginLimits;
pub use manifest::attach_manifest;
pub use outcome::{FailureKind, RunOutcome};
pub use plugin::{ArgumentDoc, JobClass, LoadError, Plugin, recorded_needs_path, sha256_hex};
pub use pool::PoolReservation;
pub use state::{LiveSink, LogLine, Progress, RunListener};

use command::{CommandRun, CommandState};
use component::{ComponentRun, ComponentState};
use plugin::PluginKind;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use wasmtime::Engine;
use wasmtime::component::Linker;

/// The WIT package plugins implement.
pub const WORLD_PACKAGE: &str = "wasmcron:job";
/// Every version of it this host runs plugins of, newest first: `component.rs` links
/// the host imports of each.
pub const WORLD_VERSIONS: [&str; 3] = ["0.3.0", "0.2.0", "0.1.0"];
/// The newest version of it this host implements: `wit/job.wit`'s package version (a
/// test checks they agree).
pub const WORLD_VERSION: &str = WORLD_VERSIONS[0];

/// The engine, the linker with every host import, shared by all runs.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<ComponentState>>,
    /// WASI preview 1 for plain command modules.
    command_linker: Arc<wasmtime::Linker<CommandState>>,
    fuel_metering: bool,
    class_limits: ClassLimits,
    /// The settings plugins are checked and compiled with.
    options: Arc<EngineOptions>,
    /// Admission by pool slots and memory ([`Runtime::reserve`]).
    gate: Arc<pool::PoolGate>,
}

/// The limits of one run. Every field has a sane default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLimits {
    /// Wall-clock time from instantiation to the end of `run`.
    pub timeout: Duration,
    /// The most any one linear memory of the guest may grow to, in bytes.
    pub memory_bytes: usize,
    /// A CPU budget in fuel units (about one per Wasm instruction), if any. Needs an
    /// engine built with fuel metering.
    pub fuel: Option<u64>,
    /// Bytes of stdout, and of stderr, kept per run.
    pub output_bytes: usize,
    /// Log lines kept per run.
    pub log_lines: usize,
    /// Bytes kept per log line.
    pub log_line_bytes: usize,
    /// The most bytes of a result, error message or failure message: a larger result
    /// fails the run (`result_too_large`), a larger message is cut.
    pub result_bytes: usize,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            timeout: Duration::from_secs(300),
            memory_bytes: 256 << 20,
            fuel: None,
            output_bytes: 256 << 10,
            log_lines: 1000,
            log_line_bytes: 8 << 10,
            result_bytes: 1 << 20,
        }
    }
}

/// What a run knows about itself (passed to the guest as its `context`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunContext {
    /// The job's id, or empty.
    pub job_id: String,
    /// The job's name, or empty.
    pub job_name: String,
    /// The execution's id, or empty.
    pub execution_id: String,
    /// The nominal fire time, RFC 3339.
    pub scheduled_time: String,
    /// 1 for a first attempt.
    pub attempt: u32,
    /// Who follows the run's log lines and progress as the guest writes them (not
    /// passed to the guest). A plain WASI command's output is not followed.
    pub live: Option<LiveSink>,
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// How it ended.
    pub outcome: RunOutcome,
    /// Captured stdout (bounded; ends with a marker line if truncated).
    pub stdout: String,
    /// Captured stderr (bounded likewise).
    pub stderr: String,
    /// Lines logged through the host import.
    pub logs: Vec<LogLine>,
    /// The newest progress report.
    pub progress: Option<Progress>,
    /// Time from instantiation to the end.
    pub duration: Duration,
    /// Time from the start of [`Runtime::run`] to the first guest instruction of `run`.
    pub start_latency: Duration,
    /// The largest linear memory size the guest reached, in bytes.
    pub peak_memory_bytes: u64,
    /// Fuel consumed, when a fuel budget was set.
    pub fuel_consumed: Option<u64>,
    /// The HTTP requests the run made or tried, in order.
    pub http_requests: Vec<HttpRequestRecord>,
    /// The job's state to keep: set only when the run succeeded, changed its state,
    /// and the state is kept ([`Grants::state`]).
    pub state_changes: Option<std::collections::BTreeMap<String, String>>,
}

impl RunReport {
    /// A report with no output, for runs that never started.
    fn empty(outcome: RunOutcome) -> Self {
        RunReport {
            http_requests: Vec::new(),
            state_changes: None,
            outcome,
            stdout: String::new(),
            stderr: String::new(),
            logs: Vec::new(),
            progress: None,
            duration: Duration::ZERO,
            start_latency: Duration::ZERO,
            peak_memory_bytes: 0,
            fuel_consumed: None,
        }
    }
}

impl RunReport {
    /// Masks the run's secret values in everything it produced.
    fn redact(&mut self, redactor: &capabilities::Redactor) {
        match &mut self.outcome {
            RunOutcome::Succeeded { result: text }
            | RunOutcome::Failed { message: text, .. }
            | RunOutcome::CouldNotStart { message: text } => redactor.apply(text),
            RunOutcome::TimedOut { .. } | RunOutcome::Cancelled => {}
        }
        redactor.apply(&mut self.stdout);
        redactor.apply(&mut self.stderr);
        for line in &mut self.logs {
            redactor.apply(&mut line.message);
        }
        if let Some(progress) = &mut self.progress {
            redactor.apply(&mut progress.message);
        }
        for request in &mut self.http_requests {
            redactor.apply(&mut request.url);
            for text in [&mut request.denied, &mut request.error]
                .into_iter()
                .flatten()
            {
                redactor.apply(text);
            }
        }
    }
}

/// One run's request.
#[derive(Clone)]
pub struct RunRequest {
    /// The plugin to instantiate.
    pub plugin: Arc<Plugin>,
    /// The class name.
    pub class: String,
    /// `pub_args` as JSON text.
    pub args: String,
    /// What the run is told about itself.
    pub context: RunContext,
    /// Its limits.
    pub limits: RunLimits,
    /// Cancelling this token stops the run within one epoch tick.
    pub cancel: CancellationToken,
    /// What the run may do beyond computing (HTTP, environment, state).
    pub grants: Grants,
}

impl Runtime {
    /// Builds the engine and the linker.
    ///
    /// # Errors
    /// If wasmtime rejects the configuration (e.g. the pool cannot be reserved).
    pub fn new(options: &EngineOptions) -> anyhow::Result<Self> {
        let engine = engine::build(options).map_err(anyhow::Error::from)?;
        let mut linker: Linker<ComponentState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)?;
        component::add_to_linker(&mut linker).map_err(anyhow::Error::from)?;
        let mut command_linker = wasmtime::Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut command_linker, |s: &mut CommandState| {
            &mut s.wasi
        })
        .map_err(anyhow::Error::from)?;
        let (component_instances, totals) = engine::pool_totals(options);
        let gate = pool::PoolGate::new(
            component_instances,
            totals,
            options.memory_budget_bytes,
            options.plugin_pool_share_percent,
        );
        Ok(Runtime {
            engine,
            linker: Arc::new(linker),
            command_linker: Arc::new(command_linker),
            fuel_metering: options.fuel_metering,
            class_limits: options.class_limits,
            options: Arc::new(options.clone()),
            gate: Arc::new(gate),
        })
    }

    /// Waits until a run of `plugin` with a memory limit of `memory_bytes` fits — in
    /// the instance pool, in the plugin's share of it, and in the memory budget — and
    /// holds its place until the reservation is dropped (after the run). A run that
    /// instantiates without a reservation may find the pool full.
    ///
    /// # Errors
    /// Only if the host is shutting down.
    pub async fn reserve(
        &self,
        plugin: &Plugin,
        memory_bytes: usize,
    ) -> Result<PoolReservation, String> {
        self.gate
            .reserve(Some(&plugin.runs), plugin.needs, memory_bytes)
            .await
            .map_err(|_| "the host is shutting down".to_owned())
    }

    /// What [`Runtime::reserve`] holds, if the run fits now; `None` if it would wait.
    pub fn try_reserve(&self, plugin: &Plugin, memory_bytes: usize) -> Option<PoolReservation> {
        self.gate
            .try_reserve(Some(&plugin.runs), plugin.needs, memory_bytes)
    }

    /// Runs one class of a plugin once, in a fresh sandbox.
    ///
    /// Never fails and never panics on the guest's account: every way the run can end
    /// is a [`RunOutcome`] in the report.
    pub async fn run(&self, request: RunRequest) -> RunReport {
        let entered = Instant::now();
        let RunRequest {
            plugin,
            class,
            args,
            mut context,
            limits,
            cancel,
            grants,
        } = request;
        let live = context.live.take();
        if plugin.class(&class).is_none() {
            let known: Vec<&str> = plugin.classes.iter().map(|c| c.name.as_str()).collect();
            return RunReport::empty(RunOutcome::CouldNotStart {
                message: format!(
                    "the plugin has no job class '{class}' (it has: {})",
                    known.join(", ")
                ),
            });
        }
        // A job saved before its plugin was replaced may no longer match the class's
        // schema: it fails with the same message a save would have given.
        if let Some(schema) = plugin
            .class(&class)
            .and_then(|c| c.arguments_schema.as_ref())
        {
            let checked = serde_json::from_str(&args)
                .map_err(|e| format!("pub_args is not JSON: {e}"))
                .and_then(|args| schema.check(&args));
            if let Err(why) = checked {
                return RunReport::empty(RunOutcome::Failed {
                    kind: FailureKind::JobError,
                    message: format!(
                        "the job's arguments do not match the arguments schema of class \
                         '{class}': {why}"
                    ),
                });
            }
        }
        if limits.fuel.is_some() && !self.fuel_metering {
            return RunReport::empty(RunOutcome::CouldNotStart {
                message: "a fuel budget needs fuel metering, which this host runs without \
                          (start it with --fuel-metering)"
                    .into(),
            });
        }
        match &plugin.kind {
            PluginKind::Component(pre) => {
                let entry = ComponentRun::new(pre, class, args, context, limits.result_bytes);
                self.run_in_sandbox(entry, &limits, grants, live, &cancel, entered)
                    .await
            }
            PluginKind::Command(pre) => {
                let entry = CommandRun::new(pre, &class, &args, &context);
                self.run_in_sandbox(entry, &limits, grants, None, &cancel, entered)
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The version in `wit/job.wit`'s `package` line.
    fn wit_package_version() -> String {
        let wit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/job.wit"))
            .expect("reading wit/job.wit");
        let line = wit
            .lines()
            .find_map(|l| l.trim().strip_prefix("package "))
            .expect("wit/job.wit has a package line");
        let (package, version) = line
            .trim_end_matches(';')
            .split_once('@')
            .expect("the package line names a version");
        assert_eq!(package, WORLD_PACKAGE);
        version.to_owned()
    }

    /// The host implements the world the WIT file declares (the SDK checks its own copy
    /// of the version against the same file).
    #[test]
    fn the_world_version_is_the_wit_files() {
        assert_eq!(WORLD_VERSION, wit_package_version());
    }
}
