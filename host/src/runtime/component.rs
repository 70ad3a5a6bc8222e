//! A component of the `wasmcron:job` world: WASI preview 2, `wasi:http` and the host
//! imports (`log`, `progress`, `state`) in its store, `run(context, class, args)` as
//! its entry. Components built against 0.2.0 and 0.1.0 of the world (0.1.0: no
//! `state`) link too.

use super::RunContext;
use super::bindings::current::wasmcron::job::types::Context as WitContext;
use super::bindings::current::wasmcron::job::{state, types};
use super::bindings::v0_2::wasmcron::job::{state as state_v0_2, types as types_v0_2};
use super::guest_text::{GuestText, HEAD_BYTES, with_text_limit};
use super::outcome::{FailureKind, RunOutcome};
use super::sandbox::{Entry, HasSandbox, Sandbox, Stage, failed};
use super::state::{Progress, bounded_copy, prefix_at_char_boundary};
use std::time::{Duration, Instant};
use wasmtime::component::{HasSelf, InstancePre, Linker, ResourceTable, WasmStr};
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
}

/// The most bytes of a progress message kept.
const PROGRESS_MESSAGE_BYTES: usize = 1024;

/// `host.log`: keeps at most the line bound of the message. The message stays in the
/// guest's memory; only the kept head is copied (a guest can pass a string as large
/// as its memory, as often as it likes).
fn log(
    mut store: StoreContextMut<'_, ComponentState>,
    level: types::Level,
    message: &WasmStr,
) -> wasmtime::Result<()> {
    let logs = &store.data().sandbox.logs;
    let (head, len) = if logs.is_full() {
        // Dropped (and counted) unread.
        (String::new(), 0)
    } else {
        let max = logs.max_line_bytes();
        let text = message.to_str(&store)?;
        (prefix_at_char_boundary(&text, max).to_owned(), text.len())
    };
    let sandbox = &mut store.data_mut().sandbox;
    if let Some(line) = sandbox.logs.push(level_name(level), head, len)
        && let Some(live) = &sandbox.live
    {
        live.log(line);
    }
    Ok(())
}

/// `host.progress`: keeps the newest report, its message cut to
/// [`PROGRESS_MESSAGE_BYTES`] (and copied no further).
fn progress(
    mut store: StoreContextMut<'_, ComponentState>,
    percent: u8,
    message: &WasmStr,
) -> wasmtime::Result<()> {
    let message = bounded_copy(&message.to_str(&store)?, PROGRESS_MESSAGE_BYTES);
    let sandbox = &mut store.data_mut().sandbox;
    let reported = sandbox.progress.insert(Progress {
        percent: percent.min(100),
        message,
    });
    if let Some(live) = &sandbox.live {
        live.progress(reported);
    }
    Ok(())
}

/// Adds the host imports of every world version the host implements: `types` and
/// `state` of 0.3.0 and 0.2.0 through their bindings, and `host` (`log` and
/// `progress`) by hand for every version alike (0.1.0 had no `state`), so that plugins
/// built against any of them run unchanged. `host` is linked by hand because the bindings lift a
/// message into an owned `String` (a copy of all of it) before the host sees it; here
/// it is a `WasmStr`, read in place.
pub(crate) fn add_to_linker(linker: &mut Linker<ComponentState>) -> wasmtime::Result<()> {
    types::add_to_linker::<ComponentState, HasSelf<ComponentState>>(linker, |s| s)?;
    state::add_to_linker::<ComponentState, HasSelf<ComponentState>>(linker, |s| s)?;
    types_v0_2::add_to_linker::<ComponentState, HasSelf<ComponentState>>(linker, |s| s)?;
    state_v0_2::add_to_linker::<ComponentState, HasSelf<ComponentState>>(linker, |s| s)?;
    linker.instance("wasmcron:job/types@0.1.0")?;
    for version in super::WORLD_VERSIONS {
        let mut host = linker.instance(&format!("wasmcron:job/host@{version}"))?;
        host.func_wrap_async(
            "log",
            |store: StoreContextMut<'_, ComponentState>,
             (level, message): (types::Level, WasmStr)| {
                let logged = log(store, level, &message);
                Box::new(async { logged })
            },
        )?;
        host.func_wrap_async(
            "progress",
            |store: StoreContextMut<'_, ComponentState>, (percent, message): (u8, WasmStr)| {
                let reported = progress(store, percent, &message);
                Box::new(async { reported })
            },
        )?;
    }
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

impl types_v0_2::Host for ComponentState {}

/// 0.2.0's `state` is 0.3.0's.
impl state_v0_2::Host for ComponentState {
    async fn get(&mut self, key: String) -> Option<String> {
        state::Host::get(self, key).await
    }

    async fn set(&mut self, key: String, value: String) -> Result<(), String> {
        state::Host::set(self, key, value).await
    }

    async fn delete(&mut self, key: String) {
        state::Host::delete(self, key).await;
    }

    async fn list_keys(&mut self) -> Vec<String> {
        state::Host::list_keys(self).await
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
    pre: &'a InstancePre<ComponentState>,
    context: WitContext,
    class: String,
    args: String,
    /// The most bytes its result or error message may have.
    result_bytes: usize,
}

impl<'a> ComponentRun<'a> {
    pub(crate) fn new(
        pre: &'a InstancePre<ComponentState>,
        class: String,
        args: String,
        context: RunContext,
        result_bytes: usize,
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
            result_bytes,
        }
    }
}

/// `run`'s signature, its strings lifted as [`GuestText`]: bounded before they are
/// copied.
type RunParams<'p> = (&'p WitContext, &'p str, &'p str);
type RunResults = (Result<GuestText, GuestText>,);

impl Entry for ComponentRun<'_> {
    type State = ComponentState;
    type Returned = Result<GuestText, GuestText>;

    fn state(&mut self, wasi: &mut WasiCtxBuilder, sandbox: Sandbox) -> ComponentState {
        ComponentState::new(wasi, sandbox)
    }

    async fn call(
        self,
        store: &mut Store<ComponentState>,
        entered: Instant,
        start_latency: &mut Duration,
    ) -> Result<Result<GuestText, GuestText>, Stage> {
        let instance = self
            .pre
            .instantiate_async(&mut *store)
            .await
            .map_err(Stage::Instantiate)?;
        // The load checked that the component exports `run` with this type (the same
        // in every world version).
        let run = instance
            .get_typed_func::<RunParams<'_>, RunResults>(&mut *store, "run")
            .map_err(Stage::Instantiate)?;
        *start_latency = entered.elapsed();
        let call = run.call_async(
            &mut *store,
            (&self.context, self.class.as_str(), self.args.as_str()),
        );
        with_text_limit(self.result_bytes, call)
            .await
            .map(|(returned,)| returned)
            .map_err(Stage::Call)
    }

    fn outcome(
        returned: wasmtime::Result<Result<GuestText, GuestText>>,
        _stdout: &str,
        stderr: &str,
    ) -> RunOutcome {
        match returned {
            Ok(Ok(result)) if result.over_limit() => RunOutcome::Failed {
                kind: FailureKind::ResultTooLarge,
                message: result_too_large(&result),
            },
            Ok(Ok(result)) => RunOutcome::Succeeded {
                result: result.text,
            },
            Ok(Err(message)) => RunOutcome::Failed {
                kind: FailureKind::JobError,
                message: if message.over_limit() {
                    message_too_large(&message)
                } else {
                    message.text
                },
            },
            Err(e) => failed(&e, stderr),
        }
    }
}

/// The failure of a run whose result passed the limit, with as much of the start of
/// the result (at most [`HEAD_BYTES`]) as the limit leaves room for.
fn result_too_large(result: &GuestText) -> String {
    let mut message = super::outcome::result_too_large_message(result.len, result.limit);
    let lead = "; it began: ";
    let room = result
        .limit
        .saturating_sub(message.len() + lead.len())
        .min(HEAD_BYTES);
    let head = prefix_at_char_boundary(&result.text, room);
    if !head.is_empty() {
        message.push_str(lead);
        message.push_str(head);
    }
    message
}

/// The job's own error message, cut: as much of its start (at most [`HEAD_BYTES`]) as
/// the limit leaves room for, then what was dropped and why.
fn message_too_large(message: &GuestText) -> String {
    let marker = format!(
        "\n[wasmcron: the job's error message was {} bytes, over the limit of {} bytes \
         (--max-result-bytes); the rest was dropped]",
        message.len, message.limit
    );
    let room = message.limit.saturating_sub(marker.len()).min(HEAD_BYTES);
    format!("{}{marker}", prefix_at_char_boundary(&message.text, room))
}
