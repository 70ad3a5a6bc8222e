//! The in-memory timer queue: each scheduled job's next fire time, earliest first.
//!
//! It is an index, not the truth: the database holds each job's next run time, and a
//! fire is only acted on after the compare-and-set claim succeeds. Entries are never
//! removed from the heap in place; a job's current time lives in `current`, and heap
//! entries that disagree with it are stale and skipped when popped.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// Next fire times by job.
#[derive(Debug, Default)]
pub struct TimerQueue {
    heap: BinaryHeap<Reverse<(i64, String)>>,
    current: HashMap<String, i64>,
}

impl TimerQueue {
    /// Sets (or moves) a job's next fire time. Returns true if it became the earliest,
    /// so the timer must wake up to re-plan its sleep.
    pub fn schedule(&mut self, job_id: &str, at: i64) -> bool {
        if self.current.get(job_id) == Some(&at) {
            return false;
        }
        let earliest = self.earliest().is_none_or(|e| at < e);
        self.current.insert(job_id.to_owned(), at);
        self.heap.push(Reverse((at, job_id.to_owned())));
        self.compact_if_bloated();
        earliest
    }

    /// Forgets a job (paused, deleted, no more fires).
    pub fn remove(&mut self, job_id: &str) {
        self.current.remove(job_id);
    }

    /// Removes and returns every job due at or before `now`, with its due time.
    pub fn take_due(&mut self, now: i64) -> Vec<(String, i64)> {
        let mut due = Vec::new();
        while let Some(Reverse((at, _))) = self.heap.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, job_id))) = self.heap.pop() else {
                break;
            };
            if self.current.get(&job_id) == Some(&at) {
                self.current.remove(&job_id);
                due.push((job_id, at));
            }
        }
        due
    }

    /// The earliest live fire time.
    pub fn earliest(&mut self) -> Option<i64> {
        while let Some(Reverse((at, job_id))) = self.heap.peek() {
            if self.current.get(job_id) == Some(at) {
                return Some(*at);
            }
            self.heap.pop();
        }
        None
    }

    /// Rebuilds the heap when stale entries outnumber live ones, so a job that is
    /// rescheduled often cannot grow it without bound.
    fn compact_if_bloated(&mut self) {
        if self.heap.len() > 1024 && self.heap.len() > 2 * self.current.len() {
            self.heap = self
                .current
                .iter()
                .map(|(id, at)| Reverse((*at, id.clone())))
                .collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_due_jobs_in_order_and_skips_stale_entries() {
        let mut q = TimerQueue::default();
        assert!(q.schedule("a", 30));
        assert!(q.schedule("b", 10));
        assert!(!q.schedule("c", 20));
        // moving a job leaves a stale entry behind
        q.schedule("b", 40);
        q.remove("c");
        assert_eq!(q.earliest(), Some(30));
        assert_eq!(q.take_due(35), vec![("a".to_owned(), 30)]);
        assert_eq!(q.take_due(35), vec![]);
        assert_eq!(q.take_due(40), vec![("b".to_owned(), 40)]);
        assert_eq!(q.earliest(), None);
    }
}
