//! Whether another host may have a scheduled run of a job in flight, so that the job's
//! `max_instances` and concurrency policy must count it (several hosts on one
//! database) — known without asking the database in the common case.
//!
//! A job's occurrences are claimed one after the other: each claim moves the job's next
//! run time from the occurrence it takes to the one after it. A host whose claim took
//! the very next run time that its own previous claim of the job set knows that no other
//! host claimed an occurrence in between. If, when it last asked the database, no other
//! host had a run of the job in flight, then none can have one now: only claims start
//! scheduled runs (runs-now and retries do not count toward the policy, as on one host),
//! and a dead host's unstarted fire counts until it has run. So while a job's fires
//! all go to its preferred host, admitting them asks nothing; a host asks once another
//! host claimed in between, after it adopted the job's fires, or after the job changed
//! — right after its claim, in the background (`policy.rs`), so that the fire's
//! instant usually finds the answer in. After a start, each job costs one such read at
//! its first claim; each job this host claimed keeps a small entry here.

use std::collections::HashMap;

/// What this host knows of the claims of each job it claimed (shared stores only).
#[derive(Debug, Default)]
pub(super) struct Lineages {
    jobs: HashMap<String, Lineage>,
}

#[derive(Debug)]
struct Lineage {
    /// The next run time that this host's latest claim of the job set.
    next: Option<i64>,
    /// No other host can have a scheduled run of the job in flight.
    alone: bool,
}

/// What admitting a job's run needs to know first.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Admission {
    /// Only this host's runs of the job can be in flight: its own count decides.
    Alone,
    /// Another host may have runs in flight: ask the database, then report what it
    /// said with this mark ([`Lineages::found_alone`]).
    Ask(Mark),
}

/// Which claim a question to the database was asked after.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(super) struct Mark(Option<Option<i64>>);

impl Lineages {
    /// This host claimed `job_id`'s occurrence at `due`, moving its next run time to
    /// `next`.
    pub fn claimed(&mut self, job_id: &str, due: i64, next: Option<i64>) {
        match self.jobs.get_mut(job_id) {
            Some(lineage) => {
                lineage.alone = lineage.alone && lineage.next == Some(due);
                lineage.next = next;
            }
            None => {
                self.jobs
                    .insert(job_id.to_owned(), Lineage { next, alone: false });
            }
        }
    }

    /// Forgets what this host knew of the job's claims: it changed (a new schedule, or
    /// deleted), or this host adopted fires of it that another host had claimed.
    pub fn forget(&mut self, job_id: &str) {
        self.jobs.remove(job_id);
    }

    /// Whether admitting a run of `job_id` must ask the database first.
    pub fn admission(&self, job_id: &str) -> Admission {
        match self.jobs.get(job_id) {
            Some(lineage) if lineage.alone => Admission::Alone,
            lineage => Admission::Ask(Mark(lineage.map(|l| l.next))),
        }
    }

    /// The database, asked after the claim `mark` stands for, showed no other host's run
    /// of the job in flight: later runs of the job need not ask while this host's
    /// claims of it follow each other. Ignored when this host claimed again since, or
    /// forgot the job: that claim decides.
    pub fn found_alone(&mut self, job_id: &str, mark: Mark) {
        if let Some(lineage) = self.jobs.get_mut(job_id)
            && mark == Mark(Some(lineage.next))
        {
            lineage.alone = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(lineages: &Lineages, job_id: &str) -> Mark {
        match lineages.admission(job_id) {
            Admission::Ask(mark) => mark,
            Admission::Alone => panic!("{job_id} was taken to be alone"),
        }
    }

    #[test]
    fn a_host_asks_until_its_claims_follow_each_other_after_an_empty_answer() {
        let mut lineages = Lineages::default();
        // Never claimed here: ask.
        assert!(matches!(lineages.admission("j"), Admission::Ask(_)));
        lineages.claimed("j", 10, Some(20));
        let mark = asked(&lineages, "j");
        // Other hosts' runs were in flight: the next claim asks again.
        lineages.claimed("j", 20, Some(30));
        let mark_after = asked(&lineages, "j");
        assert_ne!(mark, mark_after);
        lineages.found_alone("j", mark_after);
        assert_eq!(lineages.admission("j"), Admission::Alone);
        // Claims that follow each other stay alone.
        lineages.claimed("j", 30, Some(40));
        assert_eq!(lineages.admission("j"), Admission::Alone);
        // Another host claimed 40 (and maybe more): this host's claim of 60 asks.
        lineages.claimed("j", 60, Some(70));
        asked(&lineages, "j");
    }

    #[test]
    fn an_answer_about_an_earlier_claim_or_a_forgotten_job_is_ignored() {
        let mut lineages = Lineages::default();
        lineages.claimed("j", 10, Some(20));
        let stale = asked(&lineages, "j");
        // Claimed again while the question was out.
        lineages.claimed("j", 25, Some(30));
        lineages.found_alone("j", stale);
        asked(&lineages, "j");
        // Forgotten (the job changed) while the question was out.
        let mark = asked(&lineages, "j");
        lineages.forget("j");
        lineages.found_alone("j", mark);
        asked(&lineages, "j");
        // A question asked with no claim known matches no later claim either.
        let unknown = asked(&lineages, "j");
        lineages.claimed("j", 30, Some(40));
        lineages.found_alone("j", unknown);
        asked(&lineages, "j");
    }
}
