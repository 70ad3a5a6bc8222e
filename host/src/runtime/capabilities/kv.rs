//! A job's key-value state as a run sees it: the entries its last successful run left,
//! changed in place, bounded in total size. The scheduler keeps the changed entries
//! only when the run succeeds.

use std::collections::BTreeMap;

/// The longest key, in bytes.
pub const MAX_STATE_KEY_BYTES: usize = 256;

/// A job's state handed to a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateGrant {
    /// The entries as stored.
    pub entries: BTreeMap<String, String>,
    /// The most bytes of keys and values together.
    pub max_bytes: usize,
}

/// The state inside one run's sandbox.
#[derive(Debug, Default)]
pub(crate) struct JobState {
    entries: BTreeMap<String, String>,
    bytes: usize,
    max_bytes: usize,
    /// Whether the run's changes are kept (the run belongs to a job).
    kept: bool,
    changed: bool,
}

/// The bound of a state that is not kept (a run outside a job).
const UNKEPT_MAX_BYTES: usize = 1 << 20;

impl JobState {
    pub(crate) fn new(grant: Option<StateGrant>) -> Self {
        match grant {
            None => JobState {
                max_bytes: UNKEPT_MAX_BYTES,
                ..JobState::default()
            },
            Some(StateGrant { entries, max_bytes }) => JobState {
                bytes: entries.iter().map(|(k, v)| k.len() + v.len()).sum(),
                entries,
                max_bytes,
                kept: true,
                changed: false,
            },
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<String> {
        self.entries.get(key).cloned()
    }

    pub(crate) fn set(&mut self, key: String, value: String) -> Result<(), String> {
        if key.is_empty() || key.len() > MAX_STATE_KEY_BYTES {
            return Err(format!(
                "a state key must be 1 to {MAX_STATE_KEY_BYTES} bytes (this one is {})",
                key.len()
            ));
        }
        let old = self.entries.get(&key).map_or(0, |v| key.len() + v.len());
        let bytes = self.bytes - old + key.len() + value.len();
        if bytes > self.max_bytes {
            return Err(format!(
                "the job's state would be {bytes} bytes, over its limit of {} bytes \
                 (the server's --max-state-bytes); nothing was changed",
                self.max_bytes
            ));
        }
        self.bytes = bytes;
        self.entries.insert(key, value);
        self.changed = true;
        Ok(())
    }

    pub(crate) fn delete(&mut self, key: &str) {
        if let Some(value) = self.entries.remove(key) {
            self.bytes -= key.len() + value.len();
            self.changed = true;
        }
    }

    pub(crate) fn keys(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    /// The entries to keep, if the run changed a kept state.
    pub(crate) fn into_changes(self) -> Option<BTreeMap<String, String>> {
        (self.kept && self.changed).then_some(self.entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_bounded_and_refuses_without_changing_anything() {
        let mut s = JobState::new(Some(StateGrant {
            entries: BTreeMap::from([("a".into(), "1".into())]),
            max_bytes: 10,
        }));
        let refused = s.set("b".into(), "12345678".into()).unwrap_err();
        assert!(refused.contains("over its limit"), "{refused}");
        assert_eq!(s.keys(), ["a"]);
        s.set("a".into(), "123456789".into()).unwrap();
        assert_eq!(s.get("a").as_deref(), Some("123456789"));
        assert!(s.set(String::new(), "x".into()).is_err());
        s.delete("a");
        s.set("b".into(), "12345678".into()).unwrap();
        assert_eq!(
            s.into_changes(),
            Some(BTreeMap::from([("b".into(), "12345678".into())]))
        );
    }

    #[test]
    fn an_unchanged_or_unkept_state_has_nothing_to_save() {
        let s = JobState::new(Some(StateGrant {
            entries: BTreeMap::new(),
            max_bytes: 10,
        }));
        assert_eq!(s.into_changes(), None);
        let mut s = JobState::new(None);
        s.set("k".into(), "v".into()).unwrap();
        assert_eq!(s.into_changes(), None);
    }
}
