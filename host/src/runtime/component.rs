//! A component of the `wasmcron:job` world: WASI preview 2, `wasi:http` and the host
//! imports (`log`, `progress`, `state`) in its store, `run(context, class, args)` as
//! its entry. Components built against 0.1.0 of the world (no `state`) link too.

use super::RunContext;
use super::bindings::wasmcron::job::types::Context as WitContext;
use super::bindings::wasmcron::job::{host, state, types};
use super::bindings::{Job, JobPre};
use super::outcome::{FailureKind, RunOutcome};
use super::sandbox::{Entry, HasSandbox, Sandbox, Stage, failed};
use super::state::{Progress, truncate_at_char_boundary};
use std::time::{Duration, Instant};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Store, StoreContextMut};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The store data of one component run (and of its `describe`).
pub struct ComponentState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    sandbox: Sandbox,
}

impl ComponentState {
    pub(crate) fn new(wasi: &mut WasiCtxBuilder, sandbox: Sandbox) -> Self {
        ComponentState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            sandbox,
        }
    }

    fn log(&mut self, level: types::Level, message: String) {
        self.sandbox.logs.push(level_name(level), message);
    }

    fn progress(&mut self, percent: u8, mut message: String) {
        truncate_at_char_boundary(&mut message, 1024);
        self.sandbox.progress = Some(Progress {
            percent: percent.min(100),
            message,
        });
    }
}

/// Adds the host imports of every world version the host implements: the current
/// one's through its bindings, and 0.1.0's `host` interface (the same `log` and
/// `progress`; the world had no `state`), so that plugins built against it run
/// unchanged.
pub(crate) fn add_to_linker(linker: &mut Linker<ComponentState>) -> wasmtime::Result<()> {
    Job::add_to_linker::<ComponentState, wasmtime::component::HasSelf<ComponentState>>(
        linker,
        |s| s,
    )?;
    linker.instance("wasmcron:job/types@0.1.0")?;
    let mut v0_1 = linker.instance("wasmcron:job/host@0.1.0")?;
    v0_1.func_wrap_async(
        "log",
        |mut store: StoreContextMut<'_, ComponentState>,
         (level, message): (types::Level, String)| {
            store.data_mut().log(level, message);
            Box::new(async { Ok(()) })
        },
    )?;
    v0_1.func_wrap_async(
        "progress",
        |mut store: StoreContextMut<'_, ComponentState>, (percent, message): (u8, String)| {
            store.data_mut().progress(percent, message);
            Box::new(async { Ok(()) })
        },
    )?;
    Ok(())
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

impl WasiHttpView for ComponentState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.sandbox.http,
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
        ComponentState::log(self, level, message);
    }

    async fn progress(&mut self, percent: u8, message: String) {
        ComponentState::progress(self, percent, message);
    }
}

impl state::Host for ComponentState {
    async fn get(&mut self, key: String) -> Option<String> {
        self.sandbox.state.get(&key)
    }

    async fn set(&mut self, key: String, value: String) -> Result<(), String> {
        self.sandbox.state.set(key, value)
    }

    async fn delete(&mut self, key: String) {
        self.sandbox.state.delete(&key);
    }

    async fn list_keys(&mut self) -> Vec<String> {
        self.sandbox.state.keys()
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
