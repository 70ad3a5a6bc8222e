//! A component of the `wasmcron:job` world: WASI preview 2 plus the host imports
//! (`log`, `progress`) in its store, `run(context, class, args)` as its entry.

use super::RunContext;
use super::bindings::wasmcron::job::types::Context as WitContext;
use super::bindings::wasmcron::job::{host, types};
use super::bindings::{Job, JobPre};
use super::outcome::{FailureKind, RunOutcome};
use super::sandbox::{Entry, HasSandbox, Sandbox, Stage, failed};
use super::state::{Progress, truncate_at_char_boundary};
use std::time::{Duration, Instant};
use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The store data of one component run (and of its `describe`).
pub struct ComponentState {
    wasi: WasiCtx,
    table: ResourceTable,
    sandbox: Sandbox,
}

impl ComponentState {
    pub(crate) fn new(wasi: &mut WasiCtxBuilder, sandbox: Sandbox) -> Self {
        ComponentState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            sandbox,
        }
    }
}

impl HasSandbox for ComponentState {
    fn sandbox(&mut self) -> &mut Sandbox {
        &mut self.sandbox
    }

    fn into_sandbox(self) -> Sandbox {
        self.sandbox
    }
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn level_name(level: types::Level) -> &'static str {
    match level {
        types::Level::Trace => "trace",
        types::Level::Debug => "debug",
        types::Level::Info => "info",
        types::Level::Warn => "warn",
        types::Level::Error => "error",
    }
}

impl types::Host for ComponentState {}

impl host::Host for ComponentState {
    async fn log(&mut self, level: types::Level, message: String) {
        self.sandbox.logs.push(level_name(level), message);
    }

    async fn progress(&mut self, percent: u8, mut message: String) {
        truncate_at_char_boundary(&mut message, 1024);
        self.sandbox.progress = Some(Progress {
            percent: percent.min(100),
            message,
        });
    }
}

/// One call of a component's `run`.
pub(crate) struct ComponentRun<'a> {
    pre: &'a JobPre<ComponentState>,
    context: WitContext,
    class: String,
    args: String,
}

impl<'a> ComponentRun<'a> {
    pub(crate) fn new(
        pre: &'a JobPre<ComponentState>,
        class: String,
        args: String,
        context: RunContext,
    ) -> Self {
        ComponentRun {
            pre,
            context: WitContext {
                job_id: context.job_id,
                job_name: context.job_name,
                execution_id: context.execution_id,
                scheduled_time: context.scheduled_time,
                attempt: context.attempt,
            },
            class,
            args,
        }
    }
}

impl Entry for ComponentRun<'_> {
    type State = ComponentState;
    type Returned = Result<String, String>;

    fn state(&mut self, wasi: &mut WasiCtxBuilder, sandbox: Sandbox) -> ComponentState {
        ComponentState::new(wasi, sandbox)
    }

    async fn call(
        self,
        store: &mut Store<ComponentState>,
        entered: Instant,
        start_latency: &mut Duration,
    ) -> Result<Result<String, String>, Stage> {
        let job: Job = self
            .pre
            .instantiate_async(&mut *store)
            .await
            .map_err(Stage::Instantiate)?;
        *start_latency = entered.elapsed();
        job.call_run(&mut *store, &self.context, &self.class, &self.args)
            .await
            .map_err(Stage::Call)
    }

    fn outcome(
        returned: wasmtime::Result<Result<String, String>>,
        _stdout: &str,
        stderr: &str,
    ) -> RunOutcome {
        match returned {
            Ok(Ok(result)) => RunOutcome::Succeeded { result },
            Ok(Err(message)) => RunOutcome::Failed {
                kind: FailureKind::JobError,
                message,
            },
            Err(e) => failed(&e, stderr),
        }
    }
}
