//! Several hosts on one database: this host's identity, its heartbeat, which hosts fire,
//! and the takeover of dead hosts' work.
//!
//! - **Identity.** Each process is a row of `hosts`: `<name>@<start time, µs>`, its
//!   name (`--host-name`), listen address and pid. Every execution it writes names it.
//! - **Heartbeat.** Written every quarter lease. A host whose heartbeat is older than
//!   the lease (`--host-lease-seconds`), or that stopped, is dead. Hosts' clocks must
//!   agree to well within the lease (NTP does).
//! - **Takeover.** Every tenth of the lease (at most every second; PostgreSQL), a host looks for dead hosts that still own
//!   unfinished executions and adopts each one in one transaction (`Store::adopt_host`:
//!   the first adopter takes every row, the others none): the runs it had started are
//!   `failed`, `host <name> stopped during the run` (then retried by their job's
//!   policy), and those it had not started become the adopter's and go through
//!   [`recovery`](super::recovery) (fires run late, or by the misfire rule; run-nows
//!   and retries run). Adopted rows are the adopter's own at once, so if the adopter
//!   dies half-way they are adopted with the rest of its work. Executions a host handed
//!   back at a shutdown (unstarted, no owner) are adopted the same way.
//! - **At start** a host adopts the dead hosts, and its own earlier incarnations (the
//!   same name, a process that no longer runs) at once, never a live host. On SQLite
//!   only one process can use the file, so every other host is dead at start (and no
//!   periodic takeover runs).
//! - **Fires spread** over the hosts that fire (neither shutting down nor dead) by
//!   rendezvous hashing of the job id over their ids ([`rank`]): the preferred host
//!   claims a fire at [`PREPARE_AHEAD`](super::PREPARE_AHEAD), the next ones
//!   [`BACKUP_STEP`] later each, so that a dead or slow preferred host costs no
//!   lateness; the claim's compare-and-set keeps each occurrence once whoever claims.

use super::{Scheduler, lock};
use crate::store::{HostRow, StoreResult};
use crate::time::now_micros;
use std::sync::Arc;
use std::time::Duration;

/// This host's settings.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// `--host-name`: the machine's hostname by default. Unique among live hosts.
    pub name: String,
    /// The API's listen address, as shown in `GET /api/v1/hosts`.
    pub address: String,
    /// A host whose heartbeat is older than this is dead.
    pub lease: Duration,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            name: gethostname::gethostname().to_string_lossy().into_owned(),
            address: String::new(),
            lease: Duration::from_secs(10),
        }
    }
}

/// Who this process is in the `hosts` table.
#[derive(Debug, Clone)]
pub(super) struct HostIdentity {
    pub id: String,
    pub name: String,
    pub pid: i64,
    pub started: i64,
}

impl HostIdentity {
    pub fn new(name: &str) -> Self {
        let started = now_micros();
        HostIdentity {
            id: format!("{name}@{started}"),
            name: name.to_owned(),
            pid: i64::from(std::process::id()),
            started,
        }
    }
}

/// How much later than the preferred host each next host in a fire's ranking tries to
/// claim it: the third one still claims 100 ms before the fire's time.
pub(super) const BACKUP_STEP: Duration = Duration::from_millis(100);
/// How often a host looks for dead hosts to adopt and re-reads which hosts fire: a
/// tenth of the lease, between 100 ms and a second, so that a dead host's work is
/// adopted within the lease and a small part of it.
fn takeover_every(lease: Duration) -> Duration {
    (lease / 10).clamp(Duration::from_millis(100), Duration::from_secs(1))
}
/// How long a dead host stays listed after its last heartbeat.
const FORGET_HOSTS_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Unstarted executions handed back that one takeover adopts, at most.
const HANDED_BACK_PER_TAKEOVER: i64 = 1000;

/// The result recorded for a run its host stopped during (killed, or found dead).
pub(super) fn host_stopped_reason(name: &str) -> String {
    if name.is_empty() {
        // A run an earlier version left: its host is not known.
        "host stopped during the run".to_owned()
    } else {
        format!("host {name} stopped during the run")
    }
}

/// Where `me` stands among `hosts` for `job_id`: 0 for the preferred host. Rendezvous
/// hashing: each host's score for the job is a hash of both ids, the highest wins, so a
/// host joining or leaving moves only its own share of the jobs. `me` counts whether or
/// not it is listed (a host that just started, or is not firing, ranks after them).
pub(super) fn rank(job_id: &str, me: &str, hosts: &[String]) -> usize {
    let mine = score(job_id, me);
    hosts
        .iter()
        .filter(|h| h.as_str() != me && score(job_id, h) > mine)
        .count()
}

/// A stable 64-bit hash of `(job_id, host_id)` (FNV-1a, then a finaliser that spreads
/// its bits): the same on every host and build.
fn score(job_id: &str, host_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in job_id.bytes().chain([0xff]).chain(host_id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Whether a process of this id runs on this machine.
fn process_runs(pid: i64) -> bool {
    pid > 0 && std::path::Path::new("/proc").join(pid.to_string()).exists()
}

pub(super) fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Scheduler {
    /// This host's id in the `hosts` table.
    pub fn host_id(&self) -> &str {
        &self.inner.host.id
    }

    /// The lease: a host whose heartbeat is older is dead.
    pub fn host_lease(&self) -> Duration {
        self.inner.config.host.lease
    }

    /// Completes when another host found this one dead and adopted its executions
    /// (its heartbeat could not be written for a lease): the process must stop.
    pub async fn lost(&self) {
        self.inner.lost.cancelled().await;
    }

    /// Records this host in the `hosts` table.
    pub(super) async fn register(&self) -> StoreResult<()> {
        let host = &self.inner.host;
        self.inner
            .store
            .register_host(&HostRow {
                host_id: host.id.clone(),
                name: host.name.clone(),
                address: self.inner.config.host.address.clone(),
                pid: host.pid,
                started_time: host.started,
                last_heartbeat: now_micros(),
                draining: false,
                stopped: false,
                adopted_by: None,
            })
            .await?;
        tracing::info!(host_id = %host.id, "host registered");
        Ok(())
    }

    /// Where this host stands for `job_id` among the hosts that fire (0: preferred).
    pub(super) fn rank(&self, job_id: &str) -> usize {
        let hosts = lock(&self.inner.firing_hosts).clone();
        rank(job_id, &self.inner.host.id, &hosts)
    }

    /// Whether other hosts fire: then unstarted work is handed back at a shutdown.
    pub(super) fn others_fire(&self) -> bool {
        lock(&self.inner.firing_hosts)
            .iter()
            .any(|h| *h != self.inner.host.id)
    }

    /// Re-reads which hosts fire.
    pub(super) async fn refresh_firing_hosts(&self) -> StoreResult<()> {
        let since = now_micros() - micros(self.inner.config.host.lease);
        let hosts = self.inner.store.firing_hosts(since).await?;
        *lock(&self.inner.firing_hosts) = Arc::new(hosts);
        Ok(())
    }

    /// Writes the heartbeat every quarter lease (and forgets long-dead hosts) until
    /// `stop`; finding itself stopped by another host, it says so through
    /// [`Scheduler::lost`].
    pub(super) async fn heartbeat_loop(&self, stop: tokio_util::sync::CancellationToken) {
        let every = (self.inner.config.host.lease / 4).max(Duration::from_millis(100));
        let mut beats: u64 = 0;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            let store = &self.inner.store;
            match store.heartbeat(&self.inner.host.id, now_micros()).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::error!(
                        host_id = %self.inner.host.id,
                        "another host found this host dead (no heartbeat for a lease) and adopted its executions: stopping"
                    );
                    self.inner.lost.cancel();
                    return;
                }
                Err(e) => tracing::warn!("writing the heartbeat failed: {e}"),
            }
            // About once a minute.
            if beats.is_multiple_of(240) {
                let cutoff = now_micros() - micros(FORGET_HOSTS_AFTER);
                match store.delete_hosts_before(cutoff).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(hosts = n, "long-dead hosts forgotten"),
                    Err(e) => tracing::warn!("forgetting long-dead hosts failed: {e}"),
                }
            }
            beats += 1;
        }
    }

    /// On a shared database: every second, re-reads which hosts fire and adopts the
    /// dead hosts' work, until the scheduler stops firing.
    pub(super) async fn takeover_loop(&self) {
        loop {
            tokio::select! {
                () = self.inner.stop_firing.cancelled() => return,
                () = tokio::time::sleep(takeover_every(self.inner.config.host.lease)) => {}
            }
            if let Err(e) = self.refresh_firing_hosts().await {
                tracing::warn!("reading the hosts failed: {e}");
            }
            if let Err(e) = self.take_over(false).await {
                tracing::warn!("taking over dead hosts' work failed (will try again): {e}");
            }
        }
    }

    /// Adopts the work of every dead host (at start also of this host's own earlier
    /// incarnations, and on SQLite of every other host), and what shutting-down hosts
    /// handed back; settles and runs it.
    pub(super) async fn take_over(&self, at_start: bool) -> StoreResult<()> {
        let store = &self.inner.store;
        let me = &self.inner.host;
        let now = now_micros();
        let lease_cutoff = now - micros(self.inner.config.host.lease);
        for host in store.hosts_owning_work(&me.id).await? {
            let earlier_me =
                host.name == me.name && (host.pid == me.pid || !process_runs(host.pid));
            let cutoff = if at_start && (!store.is_shared() || earlier_me) {
                i64::MAX
            } else {
                lease_cutoff
            };
            if !host.stopped && host.last_heartbeat >= cutoff {
                continue;
            }
            let reason = host_stopped_reason(&host.name);
            let Some(adopted) = store
                .adopt_host(&host.host_id, &me.id, cutoff, &reason, now)
                .await?
            else {
                continue;
            };
            tracing::warn!(
                dead_host = %host.host_id,
                failed = adopted.failed.len(),
                unstarted = adopted.unstarted.len(),
                "adopted the unfinished executions of a dead host"
            );
            self.settle_adopted(adopted, now).await?;
        }
        loop {
            let handed = store
                .adopt_handed_back(&me.id, HANDED_BACK_PER_TAKEOVER)
                .await?;
            if handed.is_empty() {
                break;
            }
            tracing::info!(
                executions = handed.len(),
                "adopted executions a stopping host handed back"
            );
            let full = handed.len() as i64 >= HANDED_BACK_PER_TAKEOVER;
            self.resume_unstarted(handed, now).await?;
            if !full {
                break;
            }
        }
        Ok(())
    }

    /// At a shutdown with other hosts firing: says this host fires no more, so that
    /// fires prefer the others at once.
    pub(super) async fn start_leaving(&self) {
        self.mark_leaving(false).await;
    }

    /// At the end of a shutdown: stops the heartbeat and marks this host stopped, so
    /// that whatever it still owns is adopted at once rather than after the lease.
    pub(super) async fn leave(&self) {
        self.inner.heartbeat_stop.cancel();
        let handle = lock(&self.inner.heartbeat_task).take();
        if let Some(handle) = handle {
            let _ = handle.await;
        }
        self.mark_leaving(true).await;
    }

    async fn mark_leaving(&self, stopped: bool) {
        if let Err(e) = self
            .inner
            .store
            .set_host_leaving(&self.inner.host.id, stopped)
            .await
        {
            tracing::warn!(stopped, "marking this host as leaving failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_job_prefers_one_host_and_the_preference_spreads() {
        let hosts: Vec<String> = ["a@1", "b@2", "c@3"].map(String::from).to_vec();
        let mut preferred = [0usize; 3];
        for i in 0..3000 {
            let job = format!("{i:032x}");
            let ranks: Vec<usize> = hosts.iter().map(|h| rank(&job, h, &hosts)).collect();
            let mut sorted = ranks.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, vec![0, 1, 2], "{job}: {ranks:?}");
            preferred[ranks.iter().position(|r| *r == 0).unwrap()] += 1;
        }
        for n in preferred {
            assert!((800..1200).contains(&n), "{preferred:?}");
        }
        // A host leaving moves only its own jobs.
        let two = &hosts[..2];
        for i in 0..300 {
            let job = format!("{i:032x}");
            if rank(&job, "a@1", &hosts) == 0 {
                assert_eq!(rank(&job, "a@1", two), 0);
            }
        }
        // A host not listed ranks after the listed ones that beat it, as if listed.
        assert_eq!(rank("j", "z@9", &[]), 0);
    }

    #[test]
    fn the_stopped_reason_names_the_host() {
        assert_eq!(
            host_stopped_reason("web-1"),
            "host web-1 stopped during the run"
        );
        assert_eq!(host_stopped_reason(""), "host stopped during the run");
    }
}
