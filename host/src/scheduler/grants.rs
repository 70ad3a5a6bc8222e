//! What a run of a job is granted, from the job's options: outbound HTTP to its
//! `allowed_hosts` under its limits, its `env`, the secrets it names (opened with the
//! server's key, and redacted from what the run produces), and its state when its
//! plugin can use one. A job with none of these gets [`Grants::default`]: nothing,
//! and no store read.

use super::Scheduler;
use crate::job::{AllowList, HttpLimits, Job};
use crate::runtime::{Grants, HttpGrant, Plugin, StateGrant};
use std::collections::BTreeMap;

impl Scheduler {
    /// The grants of one run of `job` with `plugin`.
    ///
    /// # Errors
    /// Why the run cannot start: a secret that is gone or does not open, a server
    /// without a secret key, a store failure.
    pub(super) async fn grants(&self, job: &Job, plugin: &Plugin) -> Result<Grants, String> {
        let options = job.options();
        let config = &self.inner.config;
        let mut grants = Grants::default();
        if let Some(hosts) = &options.allowed_hosts {
            grants.http = Some(HttpGrant {
                allow: AllowList::parse(hosts)?,
                limits: HttpLimits::resolve(options.http_limits.as_ref(), &config.http_limits),
            });
        }
        if let Some(env) = &options.env {
            grants.env = env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        }
        if let Some(names) = options.secrets.as_ref().filter(|n| !n.is_empty()) {
            let Some(vault) = &config.secrets else {
                return Err("the job reads secrets, but this server has no secret key \
                            (start it with --secret-key-file)"
                    .into());
            };
            let rows = self
                .inner
                .store
                .secrets_named(names)
                .await
                .map_err(|e| format!("reading the job's secrets failed: {e}"))?;
            for name in names {
                let Some(row) = rows.iter().find(|r| r.name == *name) else {
                    return Err(format!(
                        "the job reads secret {name}, which does not exist (PUT /api/v1/secrets/{name})"
                    ));
                };
                let value = vault.open(name, &row.sealed).map_err(|e| e.to_string())?;
                grants.redact.push(value.clone());
                grants.env.push((name.clone(), value));
            }
        }
        if plugin.capabilities.contains(&"state") {
            let entries = match self.inner.store.job_state(&job.id).await {
                Ok(Some(row)) => serde_json::from_str::<BTreeMap<String, String>>(&row.entries)
                    .map_err(|e| format!("the job's stored state is unreadable: {e}"))?,
                Ok(None) => BTreeMap::new(),
                Err(e) => return Err(format!("reading the job's state failed: {e}")),
            };
            grants.state = Some(StateGrant {
                entries,
                max_bytes: config.max_state_bytes,
            });
        }
        Ok(grants)
    }
}
