//! What `plugin push` shows while it uploads: the bytes sent, then "compiling on the
//! server…" with the time spent waiting for the answer (an interpreter bundled as a
//! component takes the server seconds to compile).
//!
//! On a terminal, one line redrawn in place (indicatif) on stderr; otherwise plain
//! lines, one per step, so that a log or a CI transcript shows what happened without
//! control characters.

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Bytes per chunk of the request body: small enough for a smooth count, large
/// enough to cost nothing.
const CHUNK_BYTES: usize = 64 << 10;

/// How a push reports its progress.
pub(crate) struct UploadProgress {
    total: u64,
    sent: Arc<AtomicU64>,
    started: Instant,
    view: View,
}

enum View {
    /// A terminal: a bar of the bytes sent, then a spinner with the time waited.
    Terminal(ProgressBar),
    /// Anything else: a line per step.
    Lines,
}

impl UploadProgress {
    /// Progress of uploading `total` bytes of `what` (a file name).
    pub fn new(what: &str, total: u64) -> Self {
        let view = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template(
                "uploading {msg}: {binary_bytes} of {binary_total_bytes} ({percent}%)",
            ) {
                bar.set_style(style);
            }
            bar.set_message(what.to_owned());
            View::Terminal(bar)
        } else {
            eprintln!("wasmcron: uploading {what} ({})", bytes_in_words(total));
            View::Lines
        };
        UploadProgress {
            total,
            sent: Arc::default(),
            started: Instant::now(),
            view,
        }
    }

    /// The request body for `bytes`, counting what is sent and switching the view to
    /// "compiling on the server…" once the last byte is handed to the connection.
    pub fn body(&self, bytes: Vec<u8>) -> reqwest::Body {
        let bytes = bytes::Bytes::from(bytes);
        let chunks: Vec<bytes::Bytes> = (0..bytes.len())
            .step_by(CHUNK_BYTES)
            .map(|start| bytes.slice(start..(start + CHUNK_BYTES).min(bytes.len())))
            .collect();
        let sent = self.sent.clone();
        let total = self.total;
        let bar = match &self.view {
            View::Terminal(bar) => Some(bar.clone()),
            View::Lines => None,
        };
        let stream = futures::stream::iter(chunks).map(move |chunk| {
            let now = sent.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
            match &bar {
                Some(bar) => {
                    bar.set_position(now);
                    if now >= total {
                        waiting_style(bar);
                    }
                }
                None if now >= total => {
                    eprintln!(
                        "wasmcron: sent {}; compiling on the server…",
                        bytes_in_words(total)
                    );
                }
                None => {}
            }
            Ok::<_, std::io::Error>(chunk)
        });
        reqwest::Body::wrap_stream(stream)
    }

    /// Ends the view once the server answered (or the request failed).
    pub fn finish(self) {
        let elapsed = self.started.elapsed();
        match self.view {
            View::Terminal(bar) => bar.finish_and_clear(),
            View::Lines => eprintln!(
                "wasmcron: the server answered after {:.1} s",
                elapsed.as_secs_f64()
            ),
        }
    }
}

/// The spinner shown while the server compiles: the time waited so far.
fn waiting_style(bar: &ProgressBar) {
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {msg}: compiling on the server… {elapsed}")
    {
        bar.set_style(style);
    }
    bar.reset_elapsed();
    bar.enable_steady_tick(Duration::from_millis(120));
}

/// A byte count as people read it: "812 bytes", "18.4 MB (19312640 bytes)".
fn bytes_in_words(bytes: u64) -> String {
    const MB: f64 = 1_000_000.0;
    if bytes < 1_000_000 {
        format!("{bytes} bytes")
    } else {
        format!("{:.1} MB, {bytes} bytes", bytes as f64 / MB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_naturally() {
        assert_eq!(bytes_in_words(812), "812 bytes");
        assert_eq!(bytes_in_words(19_312_640), "19.3 MB, 19312640 bytes");
    }
}
