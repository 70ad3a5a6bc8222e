//! The use-cases behind the API, typed in and typed out: add, change, pause, resume,
//! delete and run jobs ([`jobs`]), read and cancel executions and the audit trail
//! ([`executions`]), install and remove plugins ([`plugins`]). Nothing here knows HTTP
//! or JSON wire formats: the API parses requests into these types and renders what they
//! return.

mod executions;
mod health;
mod jobs;
mod operating;
mod plugins;
mod secrets;

/// The records the use-cases return, as the store keeps them.
pub use crate::store::{
    AuditRow as AuditEntry, ExecutionRow as Execution, PluginRow as PluginRecord,
};
pub use executions::{Cursor, ExecutionFilter};
pub use jobs::{NextRuns, preview_next_runs};
pub use operating::HostInfo;
pub use secrets::{JobStateView, SecretInfo};

use crate::job::OptionLimits;
use crate::plugins::PluginRegistry;
use crate::scheduler::Scheduler;
use crate::secrets::Vault;
use crate::store::{AuditRow, Store, StoreError};
use crate::time::now_micros;
use std::sync::Arc;

/// Why a use-case did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The client's request is wrong; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// No such job, execution or plugin; the message names it.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (e.g. a plugin still in use).
    #[error("{0}")]
    Conflict(String),
    /// The database cannot be reached now; the request may succeed later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A server fault.
    #[error("internal error: {0}")]
    Internal(StoreError),
    /// A server fault outside the store.
    #[error("internal error: {0:#}")]
    Other(anyhow::Error),
}

/// Result of a use-case.
pub type ServiceResult<T> = Result<T, ServiceError>;

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            ServiceError::Unavailable(e.to_string())
        } else {
            ServiceError::Internal(e)
        }
    }
}

/// A store result whose `NotFound` becomes the client's "not found" for `what` (e.g.
/// `Job not found: <id>`).
fn or_not_found<T>(result: Result<T, StoreError>, what: &str, id: &str) -> ServiceResult<T> {
    match result {
        Err(StoreError::NotFound) => Err(ServiceError::NotFound(format!("{what} not found: {id}"))),
        other => Ok(other?),
    }
}

/// The audit events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuditEvent {
    Added,
    Modified,
    Deleted,
    Paused,
    Resumed,
    CustomRun,
    PluginUploaded,
    PluginDeleted,
    SecretStored,
    SecretDeleted,
    StateCleared,
}

impl AuditEvent {
    fn as_str(self) -> &'static str {
        match self {
            AuditEvent::Added => "added",
            AuditEvent::Modified => "modified",
            AuditEvent::Deleted => "deleted",
            AuditEvent::Paused => "paused",
            AuditEvent::Resumed => "resumed",
            AuditEvent::CustomRun => "custom_run",
            AuditEvent::PluginUploaded => "plugin_uploaded",
            AuditEvent::PluginDeleted => "plugin_deleted",
            AuditEvent::SecretStored => "secret_stored",
            AuditEvent::SecretDeleted => "secret_deleted",
            AuditEvent::StateCleared => "state_cleared",
        }
    }
}

/// The application: every use-case. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    store: Store,
    scheduler: Scheduler,
    plugins: PluginRegistry,
    limits: OptionLimits,
    /// The key secrets are sealed with, if the server has one.
    secrets: Option<Arc<Vault>>,
}

impl Service {
    /// The service over its parts.
    pub fn new(
        store: Store,
        scheduler: Scheduler,
        plugins: PluginRegistry,
        limits: OptionLimits,
        secrets: Option<Arc<Vault>>,
    ) -> Self {
        Service {
            store,
            scheduler,
            plugins,
            limits,
            secrets,
        }
    }

    /// The server's bounds on per-job settings, which a job body is checked against.
    pub fn option_limits(&self) -> &OptionLimits {
        &self.limits
    }

    /// An audit entry for `event` on the job or plugin `subject_id`/`subject_name`.
    fn audit_row(
        event: AuditEvent,
        subject_id: &str,
        subject_name: &str,
        user: &str,
        description: Option<String>,
    ) -> AuditRow {
        AuditRow {
            audit_id: uuid::Uuid::new_v4().simple().to_string(),
            job_id: subject_id.to_owned(),
            job_name: subject_name.to_owned(),
            event: event.as_str().into(),
            user_name: user.into(),
            created_time: now_micros(),
            description,
        }
    }

    async fn audit(
        &self,
        event: AuditEvent,
        subject_id: &str,
        subject_name: &str,
        user: &str,
        description: Option<String>,
    ) -> ServiceResult<()> {
        let row = Self::audit_row(event, subject_id, subject_name, user, description);
        Ok(self.store.insert_audit(&row).await?)
    }
}
