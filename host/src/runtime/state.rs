//! The pieces of a run's sandbox that the guest fills: bounded log lines, the newest
//! progress report, and the memory limiter that remembers the peak.

use super::output::truncation_marker;
use serde::Serialize;
use wasmtime::ResourceLimiter;

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

    pub(crate) fn push(&mut self, level: &'static str, mut message: String) {
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

/// Cuts `s` to at most `max` bytes at a character boundary, marking what was dropped.
pub(crate) fn truncate_at_char_boundary(s: &mut String, max: usize) {
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
