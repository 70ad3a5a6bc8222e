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
//! output and log lines.

mod bindings;
mod command;
pub mod engine;
mod output;
mod plugin;
mod state;

pub use command::attach_manifest;
pub use engine::EngineOptions;
use plugin::PluginKind;
pub use plugin::{ArgumentDoc, JobClass, LoadError, Plugin, sha256_hex};
pub use state::{LogLine, MemoryLimitExceeded, Progress};

use bindings::Job;
use bindings::wasmcron::job::types::Context as WitContext;
use command::CommandState;
use output::CapturedOutput;
use state::{LogBuffer, MemoryLimiter, RunState};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, Trap};
use wasmtime_wasi::WasiCtxBuilder;

/// The WIT package plugins implement.
pub const WORLD_PACKAGE: &str = "wasmcron:job";
/// The newest version of it this host implements.
pub const WORLD_VERSION: &str = "0.1.0";

/// The engine, the linker with every host import, shared by all runs.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<RunState>>,
    /// WASI preview 1 for plain command modules.
    command_linker: Arc<wasmtime::Linker<CommandState>>,
    fuel_metering: bool,
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
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// `run` returned `ok`, with this JSON text.
    Succeeded {
        /// The guest's result, JSON text as the guest wrote it.
        result: String,
    },
    /// `run` returned `err`, trapped (panic, abort, out of fuel) or passed its memory
    /// limit.
    Failed {
        /// What went wrong, with the guest's backtrace and stderr tail where useful.
        message: String,
    },
    /// The run passed its time limit and was stopped.
    TimedOut {
        /// The limit it passed.
        limit: Duration,
    },
    /// The run was cancelled and stopped.
    Cancelled,
    /// The run could not start: unknown class, or the plugin could not be
    /// instantiated.
    CouldNotStart {
        /// Why.
        message: String,
    },
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
}

impl RunReport {
    /// A report with no output, for runs that never started.
    fn empty() -> Self {
        RunReport {
            outcome: RunOutcome::Cancelled,
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
}

impl Runtime {
    /// Builds the engine and the linker.
    ///
    /// # Errors
    /// If wasmtime rejects the configuration (e.g. the pool cannot be reserved).
    pub fn new(options: &EngineOptions) -> anyhow::Result<Self> {
        let engine = engine::build(options).map_err(anyhow::Error::from)?;
        let mut linker: Linker<RunState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        Job::add_to_linker::<RunState, HasSelf<RunState>>(&mut linker, |s| s)
            .map_err(anyhow::Error::from)?;
        let mut command_linker = wasmtime::Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut command_linker, |s: &mut CommandState| {
            &mut s.wasi
        })
        .map_err(anyhow::Error::from)?;
        Ok(Runtime {
            engine,
            linker: Arc::new(linker),
            command_linker: Arc::new(command_linker),
            fuel_metering: options.fuel_metering,
        })
    }

    /// A fresh store for one run: its own WASI context with nothing granted, bounded
    /// output, the memory limiter and the epoch/fuel settings.
    fn new_store(&self, limits: &RunLimits) -> wasmtime::Result<Store<RunState>> {
        let stdout = CapturedOutput::new(limits.output_bytes);
        let stderr = CapturedOutput::new(limits.output_bytes);
        // An empty builder grants nothing: no preopens, no env, no args, stdin empty,
        // and socket addresses denied (`allow_ip_name_lookup` stays off too).
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        let state = RunState {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryLimiter {
                limit: limits.memory_bytes,
                peak: 0,
            },
            logs: LogBuffer::new(limits.log_lines, limits.log_line_bytes),
            progress: None,
            stdout,
            stderr,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        self.arm(&mut store, limits)?;
        Ok(store)
    }

    /// Sets a fresh store's time slicing and fuel. Every run yields to tokio at every
    /// epoch tick: a CPU-bound guest never holds a worker thread for longer than one
    /// tick, and a timeout or cancel can drop it.
    fn arm<T>(&self, store: &mut Store<T>, limits: &RunLimits) -> wasmtime::Result<()> {
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        if self.fuel_metering {
            store.set_fuel(limits.fuel.unwrap_or(u64::MAX))?;
        }
        Ok(())
    }

    async fn describe(&self, pre: &bindings::JobPre<RunState>) -> Result<Vec<JobClass>, LoadError> {
        let limits = RunLimits {
            timeout: Duration::from_secs(10),
            memory_bytes: 256 << 20,
            ..RunLimits::default()
        };
        let mut store = self
            .new_store(&limits)
            .map_err(|e| LoadError::Describe(format!("{e:#}")))?;
        let call = async {
            let job = pre.instantiate_async(&mut store).await?;
            job.call_describe(&mut store).await
        };
        let classes = match tokio::time::timeout(limits.timeout, call).await {
            Err(_) => {
                return Err(LoadError::Describe(format!(
                    "it did not return within {} s",
                    limits.timeout.as_secs()
                )));
            }
            Ok(Err(e)) => {
                return Err(LoadError::Describe(describe_error(
                    &e,
                    &store.data().stderr.text(),
                )));
            }
            Ok(Ok(classes)) => classes,
        };
        let classes: Vec<JobClass> = classes
            .into_iter()
            .map(|c| JobClass {
                name: c.name,
                notes: c.notes,
                arguments: c
                    .arguments
                    .into_iter()
                    .map(|a| ArgumentDoc {
                        name: a.name,
                        type_: a.type_,
                        description: a.description,
                    })
                    .collect(),
                example_arguments: c.example_arguments,
            })
            .collect();
        validate_classes(&classes).map_err(LoadError::BadClasses)?;
        Ok(classes)
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
            context,
            limits,
            cancel,
        } = request;
        let empty_report = |outcome| RunReport {
            outcome,
            ..RunReport::empty()
        };
        if plugin.class(&class).is_none() {
            let known: Vec<&str> = plugin.classes.iter().map(|c| c.name.as_str()).collect();
            return empty_report(RunOutcome::CouldNotStart {
                message: format!(
                    "the plugin has no job class '{class}' (it has: {})",
                    known.join(", ")
                ),
            });
        }
        if limits.fuel.is_some() && !self.fuel_metering {
            return empty_report(RunOutcome::CouldNotStart {
                message: "a fuel budget needs fuel metering, which this host runs without \
                          (start it with --fuel-metering)"
                    .into(),
            });
        }
        let wit_context = WitContext {
            job_id: context.job_id,
            job_name: context.job_name,
            execution_id: context.execution_id,
            scheduled_time: context.scheduled_time,
            attempt: context.attempt,
        };
        let pre = match &plugin.kind {
            PluginKind::Component(pre) => pre,
            PluginKind::Command(pre) => {
                return self
                    .run_command(pre, &class, &args, wit_context, &limits, &cancel, entered)
                    .await;
            }
        };
        let mut store = match self.new_store(&limits) {
            Ok(store) => store,
            Err(e) => {
                return empty_report(RunOutcome::CouldNotStart {
                    message: format!("could not create the sandbox: {e:#}"),
                });
            }
        };
        let started = Instant::now();
        let mut start_latency = Duration::ZERO;
        let ended = {
            let store = &mut store;
            let start_latency = &mut start_latency;
            let call = async move {
                let job = pre
                    .instantiate_async(&mut *store)
                    .await
                    .map_err(Stage::Instantiate)?;
                *start_latency = entered.elapsed();
                job.call_run(&mut *store, &wit_context, &class, &args)
                    .await
                    .map_err(Stage::Call)
            };
            guarded(&cancel, limits.timeout, call).await
        };
        let duration = started.elapsed();
        let fuel_consumed = match (limits.fuel, store.get_fuel()) {
            (Some(budget), Ok(left)) => Some(budget.saturating_sub(left)),
            _ => None,
        };
        let outcome = match ended {
            Ended::Cancelled => RunOutcome::Cancelled,
            Ended::TimedOut => RunOutcome::TimedOut {
                limit: limits.timeout,
            },
            Ended::Returned(Ok(Ok(result))) => RunOutcome::Succeeded { result },
            Ended::Returned(Ok(Err(message))) => RunOutcome::Failed { message },
            Ended::Returned(Err(Stage::Instantiate(e))) => RunOutcome::CouldNotStart {
                message: format!("could not instantiate the plugin: {e:#}"),
            },
            Ended::Returned(Err(Stage::Call(e))) => RunOutcome::Failed {
                message: describe_error(&e, &store.data().stderr.text()),
            },
        };
        let state = store.into_data();
        RunReport {
            outcome,
            stdout: state.stdout.text(),
            stderr: state.stderr.text(),
            logs: state.logs.into_lines(),
            progress: state.progress,
            duration,
            start_latency,
            peak_memory_bytes: state.memory.peak as u64,
            fuel_consumed,
        }
    }
}

enum Stage {
    Instantiate(wasmtime::Error),
    Call(wasmtime::Error),
}

enum Ended<R> {
    Cancelled,
    TimedOut,
    Returned(Result<R, Stage>),
}

/// Runs a guest call until it returns, passes `timeout`, or `cancel` fires. Dropping
/// the call's future is what stops the guest: it yields at every epoch tick.
async fn guarded<R>(
    cancel: &CancellationToken,
    timeout: Duration,
    call: impl std::future::Future<Output = Result<R, Stage>>,
) -> Ended<R> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => Ended::Cancelled,
        r = tokio::time::timeout(timeout, call) => match r {
            Err(_) => Ended::TimedOut,
            Ok(r) => Ended::Returned(r),
        },
    }
}

impl Runtime {
    /// Runs a plain WASI command: the request as JSON on stdin, stdout as the result,
    /// the exit status as success or failure.
    #[allow(clippy::too_many_arguments)]
    async fn run_command(
        &self,
        pre: &wasmtime::InstancePre<CommandState>,
        class: &str,
        args: &str,
        context: WitContext,
        limits: &RunLimits,
        cancel: &CancellationToken,
        entered: Instant,
    ) -> RunReport {
        let stdout = CapturedOutput::new(limits.output_bytes);
        let stderr = CapturedOutput::new(limits.output_bytes);
        let input = serde_json::json!({
            "class": class,
            "args": serde_json::from_str::<serde_json::Value>(args).unwrap_or(serde_json::Value::Null),
            "context": {
                "job_id": context.job_id,
                "job_name": context.job_name,
                "execution_id": context.execution_id,
                "scheduled_time": context.scheduled_time,
                "attempt": context.attempt,
            },
        });
        // As for components: nothing granted but the three standard streams.
        let wasi = WasiCtxBuilder::new()
            .stdin(wasmtime_wasi::p2::pipe::MemoryInputPipe::new(
                input.to_string(),
            ))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build_p1();
        let mut store = Store::new(
            &self.engine,
            CommandState {
                wasi,
                memory: MemoryLimiter {
                    limit: limits.memory_bytes,
                    peak: 0,
                },
                stdout,
                stderr,
            },
        );
        store.limiter(|s| &mut s.memory);
        if let Err(e) = self.arm(&mut store, limits) {
            return RunReport {
                outcome: RunOutcome::CouldNotStart {
                    message: format!("could not create the sandbox: {e:#}"),
                },
                ..RunReport::empty()
            };
        }
        let started = Instant::now();
        let mut start_latency = Duration::ZERO;
        let ended = {
            let store = &mut store;
            let start_latency = &mut start_latency;
            let call = async move {
                let instance = pre
                    .instantiate_async(&mut *store)
                    .await
                    .map_err(Stage::Instantiate)?;
                let start = instance
                    .get_typed_func::<(), ()>(&mut *store, "_start")
                    .map_err(Stage::Instantiate)?;
                *start_latency = entered.elapsed();
                start.call_async(&mut *store, ()).await.map_err(Stage::Call)
            };
            guarded(cancel, limits.timeout, call).await
        };
        let duration = started.elapsed();
        let fuel_consumed = match (limits.fuel, store.get_fuel()) {
            (Some(budget), Ok(left)) => Some(budget.saturating_sub(left)),
            _ => None,
        };
        let state = store.into_data();
        let (stdout, stderr) = (state.stdout.text(), state.stderr.text());
        let exit = |code: i32| {
            if code == 0 {
                RunOutcome::Succeeded {
                    result: command::result_from_stdout(&stdout),
                }
            } else {
                let tail = tail_at_char_boundary(stderr.trim_end(), STDERR_TAIL_BYTES);
                RunOutcome::Failed {
                    message: if tail.is_empty() {
                        format!("the command exited with status {code}")
                    } else {
                        format!("the command exited with status {code}: {tail}")
                    },
                }
            }
        };
        let outcome = match ended {
            Ended::Cancelled => RunOutcome::Cancelled,
            Ended::TimedOut => RunOutcome::TimedOut {
                limit: limits.timeout,
            },
            Ended::Returned(Ok(())) => exit(0),
            Ended::Returned(Err(Stage::Instantiate(e))) => RunOutcome::CouldNotStart {
                message: format!("could not instantiate the plugin: {e:#}"),
            },
            Ended::Returned(Err(Stage::Call(e))) => {
                match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                    Some(status) => exit(status.0),
                    None => RunOutcome::Failed {
                        message: describe_error(&e, &stderr),
                    },
                }
            }
        };
        RunReport {
            outcome,
            stdout,
            stderr,
            logs: Vec::new(),
            progress: None,
            duration,
            start_latency,
            peak_memory_bytes: state.memory.peak as u64,
            fuel_consumed,
        }
    }
}

/// How many bytes of stderr a failure message quotes.
const STDERR_TAIL_BYTES: usize = 2048;

/// Turns a trap or host error from a guest call into a message for the execution:
/// what happened, the guest's backtrace, and the tail of its stderr (where a panic
/// message lands).
fn describe_error(error: &wasmtime::Error, stderr: &str) -> String {
    let mut message = if let Some(limit) = error.downcast_ref::<MemoryLimitExceeded>() {
        limit.to_string()
    } else if let Some(trap) = error.downcast_ref::<Trap>() {
        match trap {
            Trap::UnreachableCodeReached => {
                "the job crashed (wasm trap: unreachable; a Rust job panicked or aborted)".into()
            }
            Trap::OutOfFuel => "the job used up its fuel budget".into(),
            Trap::StackOverflow => "the job overflowed its stack".into(),
            other => format!("the job trapped: {other}"),
        }
    } else {
        format!("the job failed in the host: {error}")
    };
    if let Some(backtrace) = error.downcast_ref::<wasmtime::WasmBacktrace>() {
        message.push_str("\nguest backtrace:\n");
        message.push_str(&backtrace.to_string());
    }
    let tail = tail_at_char_boundary(stderr.trim_end(), STDERR_TAIL_BYTES);
    if !tail.is_empty() {
        message.push_str("\nstderr:\n");
        message.push_str(tail);
    }
    message
}

fn tail_at_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Class names must be usable in `job_class_string` and unique.
pub(crate) fn validate_classes(classes: &[JobClass]) -> Result<(), String> {
    if classes.is_empty() {
        return Err("it lists no job classes".into());
    }
    let mut seen = std::collections::HashSet::new();
    for class in classes {
        let valid = !class.name.is_empty()
            && class
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "class name '{}' must be ASCII letters, digits and '_'",
                class.name
            ));
        }
        if !seen.insert(&class.name) {
            return Err(format!("class '{}' is listed twice", class.name));
        }
        if serde_json::from_str::<serde_json::Value>(&class.example_arguments).is_err() {
            return Err(format!(
                "the example arguments of class '{}' are not JSON",
                class.name
            ));
        }
    }
    Ok(())
}
