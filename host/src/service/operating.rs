//! What operators ask of the server besides its readiness: the values of the metrics
//! that mirror its state, its version, and the hosts serving the database.

use super::{Service, ServiceResult};
use crate::metrics::Gauges;
use crate::runtime::{WORLD_PACKAGE, WORLD_VERSIONS};
use crate::store::HostRow;
use crate::time::now_micros;

/// The server's version, as `GET /api/v1/version` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// The crate's version.
    pub version: &'static str,
    /// The short hash of the commit it was built from, or `unknown`.
    pub git_commit: &'static str,
    /// Every world version plugins may be built against, newest first, e.g.
    /// `wasmcron:job@0.2.0`.
    pub wit_worlds: Vec<String>,
}

/// A host serving the database, as `GET /api/v1/hosts` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    pub host: HostRow,
    /// Heartbeat within the lease, and not stopped.
    pub alive: bool,
    /// Unfinished executions it owns.
    pub runs_in_progress: i64,
    /// The one answering the request.
    pub this_host: bool,
}

impl Service {
    /// Every host serving the database (dead ones are kept 24 h after their last
    /// heartbeat), by name.
    pub async fn hosts(&self) -> ServiceResult<Vec<HostInfo>> {
        let lease = i64::try_from(self.scheduler.host_lease().as_micros()).unwrap_or(i64::MAX);
        let since = now_micros() - lease;
        let me = self.scheduler.host_id();
        Ok(self
            .store
            .hosts()
            .await?
            .into_iter()
            .map(|(host, runs_in_progress)| HostInfo {
                alive: !host.stopped && host.last_heartbeat >= since,
                this_host: host.host_id == me,
                host,
                runs_in_progress,
            })
            .collect())
    }

    /// Reads what the state-mirroring gauges show: jobs by state, plugins loaded, runs
    /// in progress, retries pending (from the database; `None` if it does not answer).
    pub(crate) async fn metric_gauges(&self) -> Gauges {
        let retries_pending = match self.store.pending_retries().await {
            Ok(count) => Some(count),
            Err(e) => {
                tracing::warn!("counting the pending retries for the metrics failed: {e}");
                None
            }
        };
        Gauges {
            jobs_by_state: self.store.jobs_by_state().to_vec(),
            plugins_installed: self.plugins.loaded_count(),
            runs_in_progress: self.scheduler.runs_in_progress(),
            retries_pending,
        }
    }

    /// This build's version, commit and plugin worlds.
    pub fn version(&self) -> VersionInfo {
        VersionInfo {
            version: env!("CARGO_PKG_VERSION"),
            git_commit: env!("WASMCRON_GIT_COMMIT"),
            wit_worlds: WORLD_VERSIONS
                .iter()
                .map(|v| format!("{WORLD_PACKAGE}@{v}"))
                .collect(),
        }
    }
}
