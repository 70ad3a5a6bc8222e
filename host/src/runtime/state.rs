//! `RunState`: what a `wasmtime::Store` holds for one run, and the host imports.

use super::bindings::wasmcron::job::{host, types};
use super::output::{CapturedOutput, truncation_marker};
use serde::Serialize;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The store data of one run. A fresh one is made for every run, so nothing a guest
/// does survives it.
pub struct RunState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) memory: MemoryLimiter,
    pub(crate) logs: LogBuffer,
    pub(crate) progress: Option<Progress>,
    pub(crate) stdout: CapturedOutput,
    pub(crate) stderr: CapturedOutput,
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// One line a job logged through the `host.log` import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// The text, cut to the line bound.
    pub message: String,
}

/// The newest progress report of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// 0 to 100.
    pub percent: u8,
    /// What the job said with it.
    pub message: String,
}

/// The job's log lines, bounded in count and in bytes per line.
pub(crate) struct LogBuffer {
    lines: Vec<LogLine>,
    max_lines: usize,
    max_line_bytes: usize,
    dropped: u64,
}

impl LogBuffer {
    pub(crate) fn new(max_lines: usize, max_line_bytes: usize) -> Self {
        LogBuffer {
            lines: Vec::new(),
            max_lines,
            max_line_bytes,
            dropped: 0,
        }
    }

    fn push(&mut self, level: &'static str, mut message: String) {
        if self.lines.len() >= self.max_lines {
            self.dropped += 1;
            return;
        }
        truncate_at_char_boundary(&mut message, self.max_line_bytes);
        self.lines.push(LogLine { level, message });
    }

    /// The kept lines, with a marker line at the end if any were dropped.
    pub(crate) fn into_lines(mut self) -> Vec<LogLine> {
        if self.dropped > 0 {
            self.lines.push(LogLine {
                level: "warn",
                message: format!("[wasmcron: {} more log lines dropped]", self.dropped),
            });
        }
        self.lines
    }
}

fn truncate_at_char_boundary(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let dropped = (s.len() - cut) as u64;
    s.truncate(cut);
    s.push_str(&truncation_marker(dropped));
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

impl types::Host for RunState {}

impl host::Host for RunState {
    async fn log(&mut self, level: types::Level, message: String) {
        self.logs.push(level_name(level), message);
    }

    async fn progress(&mut self, percent: u8, mut message: String) {
        truncate_at_char_boundary(&mut message, 1024);
        self.progress = Some(Progress {
            percent: percent.min(100),
            message,
        });
    }
}

/// Caps each linear memory of a run and remembers the largest size asked for.
pub(crate) struct MemoryLimiter {
    pub(crate) limit: usize,
    pub(crate) peak: usize,
}

/// A guest tried to grow a memory past the run's limit.
#[derive(Debug, thiserror::Error)]
#[error("the job exceeded its memory limit of {limit} bytes (it asked for {desired} bytes)")]
pub struct MemoryLimitExceeded {
    /// The run's limit, in bytes.
    pub limit: usize,
    /// The size the guest asked for.
    pub desired: usize,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            // An error (rather than `Ok(false)`) traps the guest at once: most guests
            // treat a failed grow as fatal anyway, and the error names the limit.
            return Err(MemoryLimitExceeded {
                limit: self.limit,
                desired,
            }
            .into());
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_bounded_in_count_and_length() {
        let mut logs = LogBuffer::new(2, 5);
        logs.push("info", "héllo world".into());
        logs.push("info", "ok".into());
        logs.push("info", "dropped".into());
        let lines = logs.into_lines();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0].message,
            "héll[wasmcron: output truncated, 7 more bytes dropped]"
        );
        assert_eq!(lines[2].message, "[wasmcron: 1 more log lines dropped]");
    }
}
