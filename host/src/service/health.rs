//! Readiness: what a load balancer or an orchestrator asks before it sends work.

use super::Service;

/// The result of each readiness check: `Ok` with what was seen, or `Err` with why not.
#[derive(Debug, Clone)]
pub struct Readiness {
    /// The database answers on both pools (migrations ran before the server served).
    pub database: Result<String, String>,
    /// The scheduler's timer loop runs.
    pub scheduler: Result<String, String>,
    /// The installed plugins that loaded, against those the database lists.
    pub plugins: Result<String, String>,
}

impl Readiness {
    /// Whether every check passed.
    pub fn ready(&self) -> bool {
        self.database.is_ok() && self.scheduler.is_ok() && self.plugins.is_ok()
    }
}

impl Service {
    /// Checks the database, the timer and the plugins.
    pub async fn readiness(&self) -> Readiness {
        let database = match self.store.ping().await {
            Ok(()) => Ok("reachable".to_owned()),
            Err(e) => Err(format!("the database does not answer: {e}")),
        };
        let scheduler = if self.scheduler.timer_alive() {
            Ok("the timer runs".to_owned())
        } else {
            Err("the scheduler's timer is not running (starting or shutting down)".to_owned())
        };
        let plugins = match self.store.list_plugins().await {
            Err(e) => Err(format!("the installed plugins cannot be listed: {e}")),
            Ok(rows) => {
                let loaded = self.plugins.loaded_count();
                let missing: Vec<&str> = rows
                    .iter()
                    .filter(|r| self.plugins.get(&r.name).is_none())
                    .map(|r| r.name.as_str())
                    .collect();
                if missing.is_empty() {
                    Ok(format!("{loaded} loaded"))
                } else {
                    Err(format!(
                        "{} installed plugin(s) did not load: {} (see the server's log)",
                        missing.len(),
                        missing.join(", ")
                    ))
                }
            }
        };
        Readiness {
            database,
            scheduler,
            plugins,
        }
    }
}
