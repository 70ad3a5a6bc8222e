//! The web console's sessions: in memory, keyed by a random id (the cookie's value),
//! each bound to the token that opened it and carrying the CSRF token its
//! state-changing requests must echo. They end when idle too long, when logged out,
//! when their token is revoked, and when the server stops.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most sessions kept; opening one more drops the longest idle.
const MAX_SESSIONS: usize = 10_000;

/// One logged-in console.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token it was opened with, by name and hash: each request checks the token
    /// still exists, so that revoking it ends the session at once.
    pub token_name: String,
    pub token_sha256: String,
    /// What `X-CSRF-Token` must say on its requests that change state.
    pub csrf_token: String,
    last_seen: Instant,
}

/// Every open session.
pub struct Sessions {
    idle_limit: Duration,
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Sessions that end after `idle_limit` without a request.
    pub fn new(idle_limit: Duration) -> Sessions {
        Sessions {
            idle_limit,
            map: Mutex::default(),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves a map that is still whole.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens a session for a token; returns its id and the session.
    pub fn open(&self, token_name: &str, token_sha256: &str) -> (String, Session) {
        let id = super::tokens::random_hex(32);
        let session = Session {
            token_name: token_name.to_owned(),
            token_sha256: token_sha256.to_owned(),
            csrf_token: super::tokens::random_hex(32),
            last_seen: Instant::now(),
        };
        let mut map = self.map();
        if map.len() >= MAX_SESSIONS {
            let now = Instant::now();
            map.retain(|_, s| now.duration_since(s.last_seen) < self.idle_limit);
            if map.len() >= MAX_SESSIONS
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, s)| s.last_seen)
                    .map(|(id, _)| id.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The session `id`, if open and not idle too long; marks it seen.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.map();
        let now = Instant::now();
        let session = map.get_mut(id)?;
        if now.duration_since(session.last_seen) >= self.idle_limit {
            map.remove(id);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    /// Ends session `id`; whether it was open.
    pub fn close(&self, id: &str) -> bool {
        self.map().remove(id).is_some()
    }

    /// Ends every session of token `name` (it was revoked).
    pub fn close_token(&self, name: &str) {
        self.map().retain(|_, s| s.token_name != name);
    }
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_open_expire_and_close() {
        let sessions = Sessions::new(Duration::from_millis(50));
        let (id, s) = sessions.open("ci", "hash");
        assert_eq!(id.len(), 64);
        assert_ne!(s.csrf_token, id);
        assert_eq!(sessions.get(&id).unwrap().token_name, "ci");
        std::thread::sleep(Duration::from_millis(60));
        assert!(sessions.get(&id).is_none(), "idle too long");
        let (id, _) = sessions.open("ci", "hash");
        let (other, _) = sessions.open("ops", "hash2");
        sessions.close_token("ci");
        assert!(sessions.get(&id).is_none());
        assert!(sessions.close(&other));
        assert!(!sessions.close(&other));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
