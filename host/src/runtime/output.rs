//! Bounded capture of a guest's stdout and stderr.
//!
//! `wasmtime_wasi`'s `MemoryOutputPipe` fails the guest's write once it is full, and
//! most languages' standard libraries turn a failed write to stdout into a crash
//! (Rust's `println!` panics). A job that talks too much should keep running and lose
//! only the excess, so this pipe accepts every write, keeps the first `limit` bytes,
//! and counts the rest.

use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// How much a single `check-write` lets the guest write at once.
const WRITE_BUDGET: usize = 64 * 1024;

/// A cheap-to-clone handle on one captured stream.
#[derive(Clone)]
pub struct CapturedOutput {
    inner: Arc<Mutex<Captured>>,
}

struct Captured {
    kept: Vec<u8>,
    limit: usize,
    dropped: u64,
}

impl CapturedOutput {
    /// A capture that keeps at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        CapturedOutput {
            inner: Arc::new(Mutex::new(Captured {
                kept: Vec::new(),
                limit,
                dropped: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Captured> {
        // A poisoned lock only means a writer panicked mid-append; the bytes are
        // still valid to read.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append(&self, bytes: &[u8]) {
        let mut c = self.lock();
        let room = c.limit.saturating_sub(c.kept.len());
        let take = room.min(bytes.len());
        c.kept.extend_from_slice(&bytes[..take]);
        c.dropped += (bytes.len() - take) as u64;
    }

    /// The captured text (invalid UTF-8 replaced), ending with a marker line when
    /// bytes were dropped.
    pub fn text(&self) -> String {
        let c = self.lock();
        let mut text = String::from_utf8_lossy(&c.kept).into_owned();
        if c.dropped > 0 {
            if !text.ends_with('\n') && !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&truncation_marker(c.dropped));
        }
        text
    }

    /// How many bytes were dropped past the limit.
    #[cfg(test)]
    fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

/// The line that replaces output dropped past a bound.
pub fn truncation_marker(dropped: u64) -> String {
    format!("[wasmcron: output truncated, {dropped} more bytes dropped]")
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_BUDGET)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_bytes_and_marks_the_rest() {
        let out = CapturedOutput::new(10);
        out.append(b"hello ");
        out.append(b"world, again");
        assert_eq!(out.dropped(), 8);
        assert_eq!(
            out.text(),
            "hello worl\n[wasmcron: output truncated, 8 more bytes dropped]"
        );
    }

    #[test]
    fn no_marker_within_the_limit() {
        let out = CapturedOutput::new(10);
        out.append(b"short\n");
        assert_eq!(out.text(), "short\n");
    }
}
