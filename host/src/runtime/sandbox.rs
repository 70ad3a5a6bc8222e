//! The one sandboxed-run path, shared by components and WASI commands: a fresh store
//! with the run's limits, the epoch deadline, fuel, the timeout and cancel guard, the
//! capture of stdout, stderr, logs and progress, peak memory, and the report.
//!
//! What differs between the kinds of plugin is an [`Entry`]: the WASI context its
//! store holds, how its guest is instantiated and called, and how what the guest
//! returned becomes an outcome.

use super::capabilities::{Grants, HttpHooks, JobState, Redactor};
use super::outcome::{RunOutcome, failure};
use super::output::CapturedOutput;
use super::state::{LiveSink, LogBuffer, LogLine, MemoryLimiter, Progress};
use super::{RunLimits, RunReport, Runtime};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use wasmtime::Store;
use wasmtime_wasi::WasiCtxBuilder;

/// What every run's store holds besides its WASI context: the memory limiter, what
/// the guest produced, and its capabilities (HTTP hooks, job state). A fresh one is
/// made for every run, so nothing a guest does survives it but what the run reports.
pub(crate) struct Sandbox {
    pub(crate) memory: MemoryLimiter,
    pub(crate) stdout: CapturedOutput,
    pub(crate) stderr: CapturedOutput,
    pub(crate) logs: LogBuffer,
    pub(crate) progress: Option<Progress>,
    pub(crate) http: HttpHooks,
    pub(crate) state: JobState,
    /// Who follows the logs and progress live, if anyone may.
    pub(crate) live: Option<LiveOutput>,
}

/// The live side of a run's logs and progress: what the run keeps, with the run's
/// secret values masked as in its report, handed to its listener while it listens.
pub(crate) struct LiveOutput {
    sink: LiveSink,
    redactor: Option<Arc<Redactor>>,
}

impl LiveOutput {
    /// Hands on a kept log line, if anyone follows.
    pub(crate) fn log(&self, line: &LogLine) {
        if !self.sink.0.listening() {
            return;
        }
        let mut line = line.clone();
        if let Some(redactor) = &self.redactor {
            redactor.apply(&mut line.message);
        }
        self.sink.0.log(line);
    }

    /// Hands on a progress report, if anyone follows.
    pub(crate) fn progress(&self, progress: &Progress) {
        if !self.sink.0.listening() {
            return;
        }
        let mut progress = progress.clone();
        if let Some(redactor) = &self.redactor {
            redactor.apply(&mut progress.message);
        }
        self.sink.0.progress(progress);
    }
}

/// Store data built around a [`Sandbox`].
pub(crate) trait HasSandbox: Send + 'static {
    fn sandbox(&mut self) -> &mut Sandbox;
    fn into_sandbox(self) -> Sandbox;
}

/// A failure before or during the guest's call.
pub(crate) enum Stage {
    /// The plugin could not be instantiated (or lacks its entry point): the run did
    /// not start.
    Instantiate(wasmtime::Error),
    /// The call trapped or failed.
    Call(wasmtime::Error),
}

/// One kind of plugin's way through the shared run path.
pub(crate) trait Entry {
    /// The store data of a run.
    type State: HasSandbox;
    /// What the guest's call returns when it does not trap.
    type Returned: Send;

    /// The store data: the WASI context from `wasi` (which already captures stdout
    /// and stderr, and grants nothing else) around `sandbox`.
    fn state(&mut self, wasi: &mut WasiCtxBuilder, sandbox: Sandbox) -> Self::State;

    /// Instantiates the guest and calls it, setting `start_latency` (from `entered`)
    /// just before the guest's first instruction of the job.
    async fn call(
        self,
        store: &mut Store<Self::State>,
        entered: Instant,
        start_latency: &mut Duration,
    ) -> Result<Self::Returned, Stage>;

    /// What the call's result (or its error) means, given the captured output.
    fn outcome(
        returned: wasmtime::Result<Self::Returned>,
        stdout: &str,
        stderr: &str,
    ) -> RunOutcome;
}

impl Runtime {
    /// A fresh store: its own WASI context with captured, bounded stdout and stderr and
    /// nothing else but what `grants` gives; the memory limiter; the epoch and fuel
    /// settings.
    pub(crate) fn new_store<T: HasSandbox>(
        &self,
        limits: &RunLimits,
        grants: Grants,
        state: impl FnOnce(&mut WasiCtxBuilder, Sandbox) -> T,
    ) -> wasmtime::Result<Store<T>> {
        let stdout = CapturedOutput::new(limits.output_bytes);
        let stderr = CapturedOutput::new(limits.output_bytes);
        // An empty builder grants nothing: no preopens, no env, no args, stdin empty,
        // and socket addresses denied (`allow_ip_name_lookup` stays off too). The
        // environment holds only the job's `env` and granted secrets.
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        if !grants.env.is_empty() {
            wasi.envs(&grants.env);
        }
        let sandbox = Sandbox {
            memory: MemoryLimiter {
                limit: limits.memory_bytes,
                peak: 0,
            },
            stdout,
            stderr,
            logs: LogBuffer::new(limits.log_lines, limits.log_line_bytes),
            progress: None,
            http: HttpHooks::new(grants.http),
            state: JobState::new(grants.state),
            live: None,
        };
        let mut store = Store::new(&self.engine, state(&mut wasi, sandbox));
        store.limiter(|s| &mut s.sandbox().memory);
        // Every run yields to tokio at every epoch tick: a CPU-bound guest never holds
        // a worker thread for longer than one tick, and a timeout or cancel can drop it.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        if self.fuel_metering {
            store.set_fuel(limits.fuel.unwrap_or(u64::MAX))?;
        }
        Ok(store)
    }

    /// Runs one entry in a fresh sandbox, guarded by the timeout and `cancel`, and
    /// reports everything the run produced; its logs and progress go to `live` too as
    /// they come.
    pub(crate) async fn run_in_sandbox<E: Entry>(
        &self,
        mut entry: E,
        limits: &RunLimits,
        mut grants: Grants,
        live: Option<LiveSink>,
        cancel: &CancellationToken,
        entered: Instant,
    ) -> RunReport {
        let redactor = Redactor::new(&std::mem::take(&mut grants.redact)).map(Arc::new);
        let mut store =
            match self.new_store(limits, grants, |wasi, sandbox| entry.state(wasi, sandbox)) {
                Ok(store) => store,
                Err(e) => {
                    return RunReport::empty(RunOutcome::CouldNotStart {
                        message: format!("could not create the sandbox: {e:#}"),
                    });
                }
            };
        store.data_mut().sandbox().live = live.map(|sink| LiveOutput {
            sink,
            redactor: redactor.clone(),
        });
        let started = Instant::now();
        let mut start_latency = Duration::ZERO;
        let ended = guarded(
            cancel,
            limits.timeout,
            entry.call(&mut store, entered, &mut start_latency),
        )
        .await;
        let duration = started.elapsed();
        let fuel_consumed = match (limits.fuel, store.get_fuel()) {
            (Some(budget), Ok(left)) => Some(budget.saturating_sub(left)),
            _ => None,
        };
        let sandbox = store.into_data().into_sandbox();
        let (stdout, stderr) = (sandbox.stdout.text(), sandbox.stderr.text());
        let outcome = match ended {
            Ended::Cancelled => RunOutcome::Cancelled,
            Ended::TimedOut => RunOutcome::TimedOut {
                limit: limits.timeout,
            },
            Ended::Returned(Err(Stage::Instantiate(e))) => RunOutcome::CouldNotStart {
                message: format!("could not instantiate the plugin: {e:#}"),
            },
            Ended::Returned(Err(Stage::Call(e))) => E::outcome(Err(e), &stdout, &stderr),
            Ended::Returned(Ok(returned)) => E::outcome(Ok(returned), &stdout, &stderr),
        }
        .bound(limits.result_bytes);
        let http_requests = sandbox.http.into_records();
        let mut logs = sandbox.logs.into_lines();
        // A denied request fails inside the guest with wasi:http's bare error code; the
        // execution's log says why.
        logs.extend(http_requests.iter().filter_map(|r| {
            r.denied.as_ref().map(|why| LogLine {
                level: "warn",
                message: format!("[wasmcron] denied {} {}: {why}", r.method, r.url),
            })
        }));
        let mut report = RunReport {
            state_changes: if matches!(outcome, RunOutcome::Succeeded { .. }) {
                sandbox.state.into_changes()
            } else {
                None
            },
            outcome,
            stdout,
            stderr,
            logs,
            progress: sandbox.progress,
            duration,
            start_latency,
            peak_memory_bytes: sandbox.memory.peak as u64,
            fuel_consumed,
            http_requests,
        };
        if let Some(redactor) = redactor {
            report.redact(&redactor);
        }
        report
    }
}

/// The failed outcome of an error no entry treats as its own.
pub(crate) fn failed(error: &wasmtime::Error, stderr: &str) -> RunOutcome {
    let (kind, message) = failure(error, stderr);
    RunOutcome::Failed { kind, message }
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
    call: impl Future<Output = Result<R, Stage>>,
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
