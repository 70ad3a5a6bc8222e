//! The pieces of a run's sandbox that the guest fills: bounded log lines, the newest
//! progress report, and the memory limiter that remembers the peak.

use super::output::truncation_marker;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;
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

/// Where a run's log lines and progress reports go as the guest writes them, for
/// whoever follows the run live (the API's event streams). A run calls it only while
/// [`RunListener::listening`] says someone does, so that an unfollowed run copies
/// nothing for it.
pub trait RunListener: Send + Sync {
    /// Whether anyone follows the run now.
    fn listening(&self) -> bool;
    /// A line the run keeps, as kept (cut to the line bound, secrets masked).
    fn log(&self, line: LogLine);
    /// A progress report, as kept.
    fn progress(&self, progress: Progress);
}

/// A run's live listener ([`RunContext::live`](super::RunContext::live)).
#[derive(Clone)]
pub struct LiveSink(pub Arc<dyn RunListener>);

impl fmt::Debug for LiveSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LiveSink")
    }
}

/// Two sinks are equal when they are the same listener.
impl PartialEq for LiveSink {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for LiveSink {}

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

    /// Whether another line would be dropped: the caller need not read it then.
    pub(crate) fn is_full(&self) -> bool {
        self.lines.len() >= self.max_lines
    }

    /// The most bytes of a message a line keeps.
    pub(crate) fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }

    /// Keeps a line whose message was `len` bytes and began with `head` (at most
    /// [`LogBuffer::max_line_bytes`] of it, cut at a character boundary by the caller,
    /// who copies no more than that), with a marker when it was cut. The line is
    /// allocated at its own size: it never holds the memory of the whole message.
    /// Returns the line as kept, or `None` when it was dropped.
    pub(crate) fn push(
        &mut self,
        level: &'static str,
        mut head: String,
        len: usize,
    ) -> Option<&LogLine> {
        if self.is_full() {
            self.dropped += 1;
            return None;
        }
        debug_assert!(head.len() <= self.max_line_bytes);
        if len > head.len() {
            let marker = truncation_marker((len - head.len()) as u64);
            head.reserve_exact(marker.len());
            head.push_str(&marker);
        }
        head.shrink_to_fit();
        self.lines.push(LogLine {
            level,
            message: head,
        });
        self.lines.last()
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

/// A copy of at most `max` bytes of `s`, cut at a character boundary, with a marker
/// saying how much was dropped. The copy is allocated at its own size, so a line cut
/// from a huge message does not keep the message's allocation.
pub(crate) fn bounded_copy(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let kept = prefix_at_char_boundary(s, max);
    let marker = truncation_marker((s.len() - kept.len()) as u64);
    let mut out = String::with_capacity(kept.len() + marker.len());
    out.push_str(kept);
    out.push_str(&marker);
    out
}

/// The longest prefix of `s` of at most `max` bytes that ends at a character boundary.
pub(crate) fn prefix_at_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
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
        let mut push = |message: &str| {
            let head = prefix_at_char_boundary(message, logs.max_line_bytes()).to_owned();
            logs.push("info", head, message.len());
        };
        push("héllo world");
        push("ok");
        push("dropped");
        assert!(logs.is_full());
        let lines = logs.into_lines();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0].message,
            "héll[wasmcron: output truncated, 7 more bytes dropped]"
        );
        assert_eq!(lines[2].message, "[wasmcron: 1 more log lines dropped]");
    }

    #[test]
    fn a_cut_line_does_not_keep_the_message_allocation() {
        let huge = "€".repeat(1 << 20);
        let kept = bounded_copy(&huge, 8 << 10);
        assert!(kept.starts_with(&"€".repeat(2730)));
        assert!(kept.ends_with("more bytes dropped]"), "{kept}");
        assert!(kept.capacity() < 9 << 10, "capacity {}", kept.capacity());
        assert_eq!(bounded_copy("short", 8), "short");
    }
}
