//! Secret use-cases: store (sealed with the server's key), list (names, times and the
//! jobs that read each: never a value), delete. And a job's state: read, clear.

use super::{AuditEvent, Service, ServiceError, ServiceResult, or_not_found};
use crate::job::{JobSpec, check_variable_name};
use crate::time::now_micros;
use std::collections::BTreeMap;

/// The longest secret value, in bytes.
pub const MAX_SECRET_BYTES: usize = 64 << 10;

/// A secret as the API shows it: everything but its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    /// Its name (the environment variable a job reads).
    pub name: String,
    /// When it was first stored (µs).
    pub created_time: i64,
    /// When its value last changed (µs).
    pub updated_time: i64,
    /// The jobs that read it: (id, name).
    pub used_by: Vec<(String, String)>,
}

/// A job's state as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStateView {
    /// The job.
    pub job_id: String,
    /// Its entries.
    pub entries: BTreeMap<String, String>,
    /// Bytes of keys and values.
    pub bytes: i64,
    /// When a run last changed it (µs), if ever.
    pub updated_time: Option<i64>,
}

impl Service {
    /// The server's key, or the client's error saying there is none.
    fn vault(&self) -> ServiceResult<&crate::secrets::Vault> {
        self.secrets.as_deref().ok_or_else(|| {
            ServiceError::Conflict(
                "this server has no secret key, so it stores no secrets: start it with \
                 --secret-key-file <file of 32 random bytes> (head -c 32 /dev/urandom > key)"
                    .into(),
            )
        })
    }

    /// Checks that the secrets a job reads exist (and that the server can open them).
    pub(super) async fn check_secrets(&self, spec: &JobSpec) -> ServiceResult<()> {
        let Some(names) = spec.options.secrets.as_ref().filter(|n| !n.is_empty()) else {
            return Ok(());
        };
        self.vault()
            .map_err(|e| ServiceError::BadRequest(format!("the job reads secrets, but {e}")))?;
        let found = self.store.secrets_named(names).await?;
        if let Some(missing) = names.iter().find(|n| !found.iter().any(|r| r.name == **n)) {
            return Err(ServiceError::BadRequest(format!(
                "unknown secret {missing}: store it first with PUT /api/v1/secrets/{missing}"
            )));
        }
        Ok(())
    }

    /// Stores or replaces secret `name`; whether it was new.
    pub async fn put_secret(&self, name: &str, value: &str, user: &str) -> ServiceResult<bool> {
        check_variable_name("secret", name).map_err(ServiceError::BadRequest)?;
        if value.is_empty() || value.len() > MAX_SECRET_BYTES {
            return Err(ServiceError::BadRequest(format!(
                "a secret's value must be 1 to {MAX_SECRET_BYTES} bytes (this one is {})",
                value.len()
            )));
        }
        let sealed = self.vault()?.seal(name, value);
        let created = self.store.put_secret(name, &sealed, now_micros()).await?;
        let what = if created { "stored" } else { "replaced" };
        self.audit(
            AuditEvent::SecretStored,
            "",
            name,
            user,
            Some(format!("secret {name} {what}")),
        )
        .await?;
        Ok(created)
    }

    /// Every secret, without values.
    pub async fn list_secrets(&self) -> ServiceResult<Vec<SecretInfo>> {
        let rows = self.store.list_secrets().await?;
        let jobs = self.store.jobs().await?;
        Ok(rows
            .into_iter()
            .map(|row| SecretInfo {
                used_by: jobs
                    .iter()
                    .filter(|s| {
                        s.job
                            .options()
                            .secrets
                            .as_ref()
                            .is_some_and(|n| n.contains(&row.name))
                    })
                    .map(|s| (s.job.id.clone(), s.job.name.clone()))
                    .collect(),
                name: row.name,
                created_time: row.created_time,
                updated_time: row.updated_time,
            })
            .collect())
    }

    /// One secret, without its value.
    pub async fn get_secret(&self, name: &str) -> ServiceResult<SecretInfo> {
        self.list_secrets()
            .await?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| ServiceError::NotFound(format!("Secret not found: {name}")))
    }

    /// Deletes secret `name`. Refused while jobs read it, unless `force`: then their
    /// runs end as `scheduled error` until it is stored again.
    pub async fn delete_secret(&self, name: &str, force: bool, user: &str) -> ServiceResult<()> {
        let secret = self.get_secret(name).await?;
        if !secret.used_by.is_empty() && !force {
            let jobs: Vec<String> = secret
                .used_by
                .iter()
                .map(|(id, job)| format!("{job} ({id})"))
                .collect();
            return Err(ServiceError::Conflict(format!(
                "secret {name} is read by {} job(s): {}; delete with ?force=true to break them",
                jobs.len(),
                jobs.join(", ")
            )));
        }
        or_not_found(self.store.delete_secret(name).await, "Secret", name)?;
        self.audit(
            AuditEvent::SecretDeleted,
            "",
            name,
            user,
            Some(format!("secret {name} deleted")),
        )
        .await?;
        Ok(())
    }

    /// A job's state.
    pub async fn job_state(&self, job_id: &str) -> ServiceResult<JobStateView> {
        self.get_job(job_id).await?;
        Ok(match self.store.job_state(job_id).await? {
            None => JobStateView {
                job_id: job_id.to_owned(),
                entries: BTreeMap::new(),
                bytes: 0,
                updated_time: None,
            },
            Some(row) => JobStateView {
                entries: serde_json::from_str(&row.entries).map_err(|e| {
                    ServiceError::Other(anyhow::anyhow!(
                        "the job's stored state is unreadable: {e}"
                    ))
                })?,
                job_id: row.job_id,
                bytes: row.bytes,
                updated_time: Some(row.updated_time),
            },
        })
    }

    /// Clears a job's state: its next run starts empty. Whether it had any.
    pub async fn clear_job_state(&self, job_id: &str, user: &str) -> ServiceResult<bool> {
        let job = self.get_job(job_id).await?;
        let cleared = self.store.clear_job_state(job_id).await?;
        if cleared {
            self.audit(AuditEvent::StateCleared, job_id, &job.job.name, user, None)
                .await?;
        }
        Ok(cleared)
    }
}
