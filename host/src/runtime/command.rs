//! The plain WASI command way in, for languages with no component tooling: a core
//! module exporting `_start` (wasm32-wasip1), which reads
//! `{"class", "args", "context"}` as JSON on stdin and writes its result to stdout.
//! Exit status 0 is success (stdout is the result: JSON as is, other text as a JSON
//! string); any other status fails the run as the job's own error, with the tail of
//! stderr as the message. Its classes come from its manifest (`manifest.rs`).

use super::RunContext;
use super::outcome::{FailureKind, RunOutcome, stderr_tail};
use super::sandbox::{Entry, HasSandbox, Sandbox, Stage, failed};
use serde_json::Value;
use std::time::{Duration, Instant};
use wasmtime::{InstancePre, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

/// The store data of one command run.
pub struct CommandState {
    pub(crate) wasi: WasiP1Ctx,
    sandbox: Sandbox,
}

impl HasSandbox for CommandState {
    fn sandbox(&mut self) -> &mut Sandbox {
        &mut self.sandbox
    }

    fn into_sandbox(self) -> Sandbox {
        self.sandbox
    }
}

/// One run of a command: the request it reads on stdin.
pub(crate) struct CommandRun<'a> {
    pre: &'a InstancePre<CommandState>,
    stdin: String,
}

impl<'a> CommandRun<'a> {
    pub(crate) fn new(
        pre: &'a InstancePre<CommandState>,
        class: &str,
        args: &str,
        context: &RunContext,
    ) -> Self {
        let stdin = serde_json::json!({
            "class": class,
            "args": serde_json::from_str::<Value>(args).unwrap_or(Value::Null),
            "context": {
                "job_id": context.job_id,
                "job_name": context.job_name,
                "execution_id": context.execution_id,
                "scheduled_time": context.scheduled_time,
                "attempt": context.attempt,
            },
        });
        CommandRun {
            pre,
            stdin: stdin.to_string(),
        }
    }
}

impl Entry for CommandRun<'_> {
    type State = CommandState;
    /// `_start` returns nothing: the exit status and stdout are the answer.
    type Returned = ();

    fn state(&mut self, wasi: &mut WasiCtxBuilder, sandbox: Sandbox) -> CommandState {
        // As for components: nothing granted but the three standard streams.
        let stdin = MemoryInputPipe::new(std::mem::take(&mut self.stdin));
        CommandState {
            wasi: wasi.stdin(stdin).build_p1(),
            sandbox,
        }
    }

    async fn call(
        self,
        store: &mut Store<CommandState>,
        entered: Instant,
        start_latency: &mut Duration,
    ) -> Result<(), Stage> {
        let instance = self
            .pre
            .instantiate_async(&mut *store)
            .await
            .map_err(Stage::Instantiate)?;
        let start = instance
            .get_typed_func::<(), ()>(&mut *store, "_start")
            .map_err(Stage::Instantiate)?;
        *start_latency = entered.elapsed();
        start.call_async(&mut *store, ()).await.map_err(Stage::Call)
    }

    fn outcome(returned: wasmtime::Result<()>, stdout: &str, stderr: &str) -> RunOutcome {
        let status = match returned {
            Ok(()) => 0,
            Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(exit) => exit.0,
                None => return failed(&e, stderr),
            },
        };
        if status == 0 {
            return RunOutcome::Succeeded {
                result: result_from_stdout(stdout),
            };
        }
        let tail = stderr_tail(stderr);
        RunOutcome::Failed {
            kind: FailureKind::JobError,
            message: if tail.is_empty() {
                format!("the command exited with status {status}")
            } else {
                format!("the command exited with status {status}: {tail}")
            },
        }
    }
}

/// The run's result from a command's stdout: JSON as is, anything else as a string.
fn result_from_stdout(stdout: &str) -> String {
    let trimmed = stdout.trim();
    match serde_json::from_str::<Value>(trimmed) {
        Ok(_) => trimmed.to_owned(),
        Err(_) => Value::String(trimmed.to_owned()).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_becomes_a_json_result() {
        assert_eq!(result_from_stdout("{\"a\": 1}\n"), "{\"a\": 1}");
        assert_eq!(result_from_stdout("plain words\n"), "\"plain words\"");
    }

    #[test]
    fn the_exit_status_decides_success() {
        let exit = |status| Err(wasmtime_wasi::I32Exit(status).into());
        assert_eq!(
            CommandRun::outcome(exit(0), "[1]\n", ""),
            RunOutcome::Succeeded {
                result: "[1]".into()
            }
        );
        assert_eq!(
            CommandRun::outcome(exit(2), "", "bad input\n"),
            RunOutcome::Failed {
                kind: FailureKind::JobError,
                message: "the command exited with status 2: bad input".into()
            }
        );
        assert_eq!(
            CommandRun::outcome(exit(1), "", ""),
            RunOutcome::Failed {
                kind: FailureKind::JobError,
                message: "the command exited with status 1".into()
            }
        );
    }
}
