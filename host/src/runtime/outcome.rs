//! How a run ended ([`RunOutcome`]), why a failed run failed ([`FailureKind`]), and
//! the one mapping from an outcome to what an execution records: its state, its code
//! and its result text. The scheduler and the CLI both use it.
//!
//! Codes are stable (users filter and alert on them):
//!
//! | outcome                       | state             | code               |
//! |-------------------------------|-------------------|--------------------|
//! | `Succeeded`                   | `succeeded`       | none               |
//! | `Failed`, the job's own error | `failed`          | `job_error`        |
//! | `Failed`, a trap              | `failed`          | `trap`             |
//! | `Failed`, out of memory       | `failed`          | `out_of_memory`    |
//! | `Failed`, a host fault        | `failed`          | `host_fault`       |
//! | `Failed`, a result too large  | `failed`          | `result_too_large` |
//! | `TimedOut`                    | `timeout`         | `timeout`          |
//! | `Cancelled`                   | `stopped`         | `cancelled`        |
//! | `CouldNotStart`               | `scheduled error` | `not_started`      |
//!
//! The scheduler stores the code in the execution's `description` for `failed` runs
//! only, where the state alone does not say what went wrong (as `skipped` and `missed`
//! executions carry theirs); every other state has one cause, which the code repeats.

use super::state::{MemoryLimitExceeded, prefix_at_char_boundary};
use crate::job::ExecutionState;
use crate::jsonfmt::pretty_sorted;
use std::time::Duration;
use wasmtime::Trap;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// `run` returned `ok`, with this JSON text.
    Succeeded {
        /// The guest's result, JSON text as the guest wrote it.
        result: String,
    },
    /// The job returned an error, trapped, passed its memory limit, or the host failed.
    Failed {
        /// Which of these it was.
        kind: FailureKind,
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

/// Why a run failed: tells "my job returned an error" from "my job crashed" from "it
/// ran out of memory" from "the host failed".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The job's own error: its `run` returned `err`, or it exited with a status (for
    /// a WASI command, a nonzero one) instead of returning.
    JobError,
    /// The guest trapped: a panic, an abort, `unreachable`, a stack overflow, an
    /// out-of-bounds access, or its fuel budget used up. The message keeps the guest's
    /// backtrace.
    Trap,
    /// The guest tried to grow a memory past the run's memory limit.
    OutOfMemory,
    /// The host or the engine failed with an error that is not one of the guest's
    /// traps. (wasmtime also reports a guest that breaks the component ABI, e.g. a
    /// string that is not UTF-8, as such an error: only a broken toolchain does that.)
    HostFault,
    /// The job returned a result larger than the run's result limit
    /// (`--max-result-bytes`); it is not kept.
    ResultTooLarge,
}

impl FailureKind {
    /// The stable code recorded in a failed execution's `description`.
    pub fn code(self) -> &'static str {
        match self {
            FailureKind::JobError => "job_error",
            FailureKind::Trap => "trap",
            FailureKind::OutOfMemory => "out_of_memory",
            FailureKind::HostFault => "host_fault",
            FailureKind::ResultTooLarge => "result_too_large",
        }
    }
}

impl RunOutcome {
    /// The state the execution ends in. (The scheduler records a run it cancelled at
    /// shutdown as `failed`, not `stopped`: that is its decision, not the runtime's.)
    pub fn state(&self) -> ExecutionState {
        match self {
            RunOutcome::Succeeded { .. } => ExecutionState::Succeeded,
            RunOutcome::Failed { .. } => ExecutionState::Failed,
            RunOutcome::TimedOut { .. } => ExecutionState::Timeout,
            RunOutcome::Cancelled => ExecutionState::Stopped,
            RunOutcome::CouldNotStart { .. } => ExecutionState::ScheduledError,
        }
    }

    /// The stable code of a run that did not succeed (see the module's table).
    pub fn code(&self) -> Option<&'static str> {
        match self {
            RunOutcome::Succeeded { .. } => None,
            RunOutcome::Failed { kind, .. } => Some(kind.code()),
            RunOutcome::TimedOut { .. } => Some("timeout"),
            RunOutcome::Cancelled => Some("cancelled"),
            RunOutcome::CouldNotStart { .. } => Some("not_started"),
        }
    }

    /// The text recorded as the execution's result: a success's JSON pretty-printed with
    /// sorted keys (as ndscheduler stored results), otherwise what went wrong.
    pub fn result_text(&self) -> String {
        self.result_text_within(usize::MAX)
    }

    /// [`RunOutcome::result_text`], but a result is shown as the job returned it when
    /// its pretty form would pass `max_bytes` (indenting a deeply nested result
    /// multiplies its size): the text of a result within the limit stays within it.
    pub fn result_text_within(&self, max_bytes: usize) -> String {
        match self {
            RunOutcome::Succeeded { result } => {
                let pretty = pretty_sorted(result);
                if pretty.len() <= max_bytes.max(result.len()) {
                    pretty
                } else {
                    result.clone()
                }
            }
            RunOutcome::Failed { message, .. } | RunOutcome::CouldNotStart { message } => {
                message.clone()
            }
            RunOutcome::TimedOut { limit } => format!(
                "the run passed its time limit of {} s and was stopped",
                limit.as_secs_f64()
            ),
            RunOutcome::Cancelled => "the run was cancelled".to_owned(),
        }
    }

    /// Applies the result limit to what the guest returned, whichever kind of plugin
    /// it is: a success whose result passes `max_bytes` becomes a
    /// [`FailureKind::ResultTooLarge`] failure, and a failure or start message that
    /// passes it is cut, with a marker.
    pub(crate) fn bound(self, max_bytes: usize) -> RunOutcome {
        match self {
            RunOutcome::Succeeded { result } if result.len() > max_bytes => RunOutcome::Failed {
                kind: FailureKind::ResultTooLarge,
                message: result_too_large_message(result.len(), max_bytes),
            },
            RunOutcome::Failed { kind, message } if message.len() > max_bytes => {
                RunOutcome::Failed {
                    kind,
                    message: cut_message(&message, max_bytes),
                }
            }
            RunOutcome::CouldNotStart { message } if message.len() > max_bytes => {
                RunOutcome::CouldNotStart {
                    message: cut_message(&message, max_bytes),
                }
            }
            other => other,
        }
    }
}

/// The failure message of a result of `len` bytes over the limit.
pub(crate) fn result_too_large_message(len: usize, limit: usize) -> String {
    format!(
        "the job's result was {len} bytes, over the limit of {limit} bytes \
         (--max-result-bytes): it was not kept"
    )
}

/// A message cut to about `max` bytes, saying how much was dropped.
fn cut_message(message: &str, max: usize) -> String {
    let marker = format!(
        "\n[wasmcron: the message was {} bytes, over the limit of {max} bytes \
         (--max-result-bytes); the rest was dropped]",
        message.len()
    );
    let head = prefix_at_char_boundary(message, max.saturating_sub(marker.len()));
    format!("{head}{marker}")
}

/// How many bytes of stderr a failure message quotes.
const STDERR_TAIL_BYTES: usize = 2048;

/// Turns an error out of a guest call into why the run failed and a message for the
/// execution: what happened, the guest's backtrace, and the tail of its stderr (where
/// a panic message lands).
pub(crate) fn failure(error: &wasmtime::Error, stderr: &str) -> (FailureKind, String) {
    // A guest that aborts traps with `unreachable` whatever its language; what it wrote
    // to stderr first says what happened, in its own terms.
    let abort = Abort::read(stderr);
    let (kind, mut message) = if let Some(limit) = error.downcast_ref::<MemoryLimitExceeded>() {
        (FailureKind::OutOfMemory, limit.to_string())
    } else if let Some(trap) = error.downcast_ref::<Trap>() {
        let message = match (trap, &abort) {
            (Trap::UnreachableCodeReached, Abort::PythonException { summary, traceback }) => {
                format!(
                    "the job raised an uncaught Python exception: {summary}\n\
                     Python traceback:\n{traceback}"
                )
            }
            (Trap::UnreachableCodeReached, Abort::RustPanic { message }) => {
                format!("the job panicked: {message}")
            }
            (Trap::UnreachableCodeReached, Abort::Unknown) => {
                "the job crashed (wasm trap: unreachable: the guest aborted)".into()
            }
            (Trap::OutOfFuel, _) => "the job used up its fuel budget".into(),
            (Trap::StackOverflow, _) => "the job overflowed its stack".into(),
            (other, _) => format!("the job trapped: {other}"),
        };
        (FailureKind::Trap, message)
    } else if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        // A component that calls `exit` ends without the answer `run` owes: the job
        // chose to stop, so it is its own error, not a crash.
        (
            FailureKind::JobError,
            format!(
                "the job exited with status {} instead of returning from run",
                exit.0
            ),
        )
    } else {
        (
            FailureKind::HostFault,
            format!("the job failed in the host: {error}"),
        )
    };
    let python = matches!(abort, Abort::PythonException { .. });
    // An interpreter's wasm frames tell a Python author nothing: the traceback does.
    if let Some(backtrace) = error.downcast_ref::<wasmtime::WasmBacktrace>()
        && !python
    {
        message.push_str("\nguest backtrace:\n");
        message.push_str(&backtrace.to_string());
    }
    // The Python traceback is the part of stderr that matters, quoted above already.
    let tail = stderr_tail(stderr);
    if !tail.is_empty() && !python {
        message.push_str("\nstderr:\n");
        message.push_str(tail);
    }
    (kind, message)
}

/// Why a guest aborted, from what it wrote to stderr just before.
#[derive(Debug, PartialEq, Eq)]
enum Abort<'a> {
    /// componentize-py prints an uncaught exception's traceback, then aborts.
    PythonException {
        /// The traceback's last line: `ValueError: the message`.
        summary: &'a str,
        /// From `Traceback (most recent call last):` on.
        traceback: &'a str,
    },
    /// Rust's panic hook prints `thread '…' panicked at <file:line:col>:`, the message,
    /// and a `note:` line.
    RustPanic {
        message: &'a str,
    },
    Unknown,
}

impl<'a> Abort<'a> {
    fn read(stderr: &'a str) -> Abort<'a> {
        const TRACEBACK: &str = "Traceback (most recent call last):";
        if let Some(at) = stderr.rfind(TRACEBACK) {
            // The traceback ends at the first blank line: componentize-py's runtime
            // writes its own panic after it.
            let rest = &stderr[at..];
            let end = rest.find("\n\n").unwrap_or(rest.len());
            let traceback = tail_at_char_boundary(rest[..end].trim_end(), STDERR_TAIL_BYTES);
            if let Some(summary) = traceback.lines().rev().find(|l| !l.trim().is_empty()) {
                return Abort::PythonException {
                    summary: summary.trim(),
                    traceback,
                };
            }
        }
        // `thread '<name>' panicked at …` (Rust 1.95 adds the thread's id: `'<name>' (1)`).
        if let Some(at) = stderr.rfind(" panicked at ").filter(|&at| {
            stderr[..at]
                .rsplit('\n')
                .next()
                .is_some_and(|l| l.starts_with("thread '"))
        }) {
            // The message is on the lines after the location, up to the `note:` line.
            let after = &stderr[at..];
            let message = after
                .split_once('\n')
                .map(|(_, rest)| {
                    let end = rest.find("\nnote: ").unwrap_or(rest.len());
                    rest[..end].trim()
                })
                .filter(|m| !m.is_empty());
            if let Some(message) = message {
                return Abort::RustPanic {
                    message: prefix_at_char_boundary(message, STDERR_TAIL_BYTES),
                };
            }
        }
        Abort::Unknown
    }
}

/// The end of a guest's stderr that a failure message quotes.
pub(crate) fn stderr_tail(stderr: &str) -> &str {
    tail_at_char_boundary(stderr.trim_end(), STDERR_TAIL_BYTES)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_abort_is_told_by_what_the_guest_wrote() {
        let python = "booting\nTraceback (most recent call last):\n  File \"app\", line 3, in run\n\
                      ValueError: no such day\n\nthread '<unnamed>' (1) panicked at runtime/src/lib.rs:1:2:\n\
                      Python function threw an unexpected exception\n";
        assert_eq!(
            Abort::read(python),
            Abort::PythonException {
                summary: "ValueError: no such day",
                traceback: "Traceback (most recent call last):\n  File \"app\", line 3, in run\n\
                            ValueError: no such day",
            }
        );
        let rust = "thread '<unnamed>' (1) panicked at src/lib.rs:9:5:\nindex out of bounds\n\
                    note: run with `RUST_BACKTRACE=1` to display a backtrace\n";
        assert_eq!(
            Abort::read(rust),
            Abort::RustPanic {
                message: "index out of bounds"
            }
        );
        assert_eq!(Abort::read(""), Abort::Unknown);
        assert_eq!(Abort::read("abort() called\n"), Abort::Unknown);
    }

    fn failed(kind: FailureKind) -> RunOutcome {
        RunOutcome::Failed {
            kind,
            message: "m".into(),
        }
    }

    #[test]
    fn every_outcome_has_its_state_code_and_text() {
        let cases = [
            (
                RunOutcome::Succeeded {
                    result: r#"{"b":1,"a":[2]}"#.into(),
                },
                ExecutionState::Succeeded,
                None,
                "{\n    \"a\": [\n        2\n    ],\n    \"b\": 1\n}",
            ),
            (
                failed(FailureKind::JobError),
                ExecutionState::Failed,
                Some("job_error"),
                "m",
            ),
            (
                failed(FailureKind::Trap),
                ExecutionState::Failed,
                Some("trap"),
                "m",
            ),
            (
                failed(FailureKind::OutOfMemory),
                ExecutionState::Failed,
                Some("out_of_memory"),
                "m",
            ),
            (
                failed(FailureKind::HostFault),
                ExecutionState::Failed,
                Some("host_fault"),
                "m",
            ),
            (
                RunOutcome::TimedOut {
                    limit: Duration::from_millis(1500),
                },
                ExecutionState::Timeout,
                Some("timeout"),
                "the run passed its time limit of 1.5 s and was stopped",
            ),
            (
                RunOutcome::Cancelled,
                ExecutionState::Stopped,
                Some("cancelled"),
                "the run was cancelled",
            ),
            (
                RunOutcome::CouldNotStart {
                    message: "no such class".into(),
                },
                ExecutionState::ScheduledError,
                Some("not_started"),
                "no such class",
            ),
        ];
        for (outcome, state, code, text) in cases {
            assert_eq!(outcome.state(), state, "{outcome:?}");
            assert_eq!(outcome.code(), code, "{outcome:?}");
            assert_eq!(outcome.result_text(), text, "{outcome:?}");
        }
    }

    #[test]
    fn results_and_messages_are_bounded() {
        let big = RunOutcome::Succeeded {
            result: format!("\"{}\"", "r".repeat(100)),
        };
        let RunOutcome::Failed { kind, message } = big.bound(50) else {
            panic!("a result over the limit must fail");
        };
        assert_eq!(kind, FailureKind::ResultTooLarge);
        assert!(
            message.starts_with("the job's result was 102 bytes, over the limit of 50 bytes"),
            "{message}"
        );
        assert!(message.contains("--max-result-bytes"), "{message}");
        let error = RunOutcome::Failed {
            kind: FailureKind::JobError,
            message: "é".repeat(500),
        };
        let RunOutcome::Failed { kind, message } = error.bound(300) else {
            panic!("a failure stays a failure");
        };
        assert_eq!(kind, FailureKind::JobError);
        assert!(message.len() <= 300, "{}", message.len());
        assert!(message.starts_with("éé"), "{message}");
        assert!(message.ends_with("the rest was dropped]"), "{message}");
        let small = RunOutcome::Succeeded {
            result: "[1]".into(),
        };
        assert_eq!(small.clone().bound(50), small);
    }

    #[test]
    fn a_pretty_form_over_the_limit_is_not_used() {
        let nested = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        let outcome = RunOutcome::Succeeded {
            result: nested.clone(),
        };
        assert_eq!(outcome.result_text_within(1000), nested);
        assert!(outcome.result_text_within(1 << 20).len() > 1000);
    }

    #[test]
    fn errors_are_told_apart_by_kind() {
        let kind = |error: wasmtime::Error| failure(&error, "").0;
        assert_eq!(
            kind(
                MemoryLimitExceeded {
                    limit: 1,
                    desired: 2
                }
                .into()
            ),
            FailureKind::OutOfMemory
        );
        assert_eq!(kind(Trap::StackOverflow.into()), FailureKind::Trap);
        assert_eq!(kind(Trap::OutOfFuel.into()), FailureKind::Trap);
        assert_eq!(
            kind(wasmtime_wasi::I32Exit(3).into()),
            FailureKind::JobError
        );
        assert_eq!(
            kind(wasmtime::Error::msg("the pool is exhausted")),
            FailureKind::HostFault
        );
    }

    #[test]
    fn a_failure_quotes_the_end_of_stderr() {
        let stderr = format!("{}é tail\n", "x".repeat(3000));
        let (_, message) = failure(&Trap::StackOverflow.into(), &stderr);
        assert!(message.starts_with("the job overflowed its stack\nstderr:\n"));
        assert!(message.ends_with("é tail"), "{message}");
        assert!(message.len() < 2048 + 100);
    }
}
