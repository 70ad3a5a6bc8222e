//! Failed authentication attempts, counted per client IP address over one-minute
//! windows: past the limit, that address's credentials are not even checked until its
//! window ends (429 with `Retry-After`), which makes guessing tokens hopeless.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window failures are counted over.
const WINDOW: Duration = Duration::from_secs(60);
/// The most addresses tracked; beyond, the oldest window is forgotten.
const MAX_ADDRESSES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    failures: u32,
}

/// Failures by client address.
pub struct FailureLimiter {
    max_per_window: u32,
    windows: Mutex<HashMap<IpAddr, Window>>,
}

impl FailureLimiter {
    /// Allows `max_per_minute` failures per address and minute.
    pub fn new(max_per_minute: u32) -> FailureLimiter {
        FailureLimiter {
            max_per_window: max_per_minute,
            windows: Mutex::default(),
        }
    }

    fn windows(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Window>> {
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How long `ip` must wait before its credentials are checked again, if it has used
    /// up its failures.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        let windows = self.windows();
        let w = windows.get(&ip)?;
        let elapsed = w.start.elapsed();
        (w.failures >= self.max_per_window && elapsed < WINDOW).then(|| WINDOW - elapsed)
    }

    /// Counts a failed attempt from `ip`.
    pub fn fail(&self, ip: IpAddr) {
        let mut windows = self.windows();
        let now = Instant::now();
        if windows.len() >= MAX_ADDRESSES && !windows.contains_key(&ip) {
            windows.retain(|_, w| now.duration_since(w.start) < WINDOW);
            if windows.len() >= MAX_ADDRESSES
                && let Some(oldest) = windows.iter().min_by_key(|(_, w)| w.start).map(|(a, _)| *a)
            {
                windows.remove(&oldest);
            }
        }
        let w = windows.entry(ip).or_insert(Window {
            start: now,
            failures: 0,
        });
        if now.duration_since(w.start) >= WINDOW {
            *w = Window {
                start: now,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_failures_and_others_are_not() {
        let limiter = FailureLimiter::new(3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..2 {
            limiter.fail(a);
        }
        assert!(limiter.blocked(a).is_none());
        limiter.fail(a);
        let wait = limiter.blocked(a).expect("blocked after 3");
        assert!(wait <= WINDOW && wait > Duration::from_secs(50));
        assert!(limiter.blocked(b).is_none());
    }
}
