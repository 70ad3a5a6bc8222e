//! Plugin use-cases: install or replace, list, read, download, delete; the classes
//! they offer.

use super::{AuditEvent, PluginRecord, Service, ServiceError, ServiceResult, or_not_found};
use crate::plugins::InstallError;
use crate::runtime::JobClass;
use std::sync::Arc;

/// What an upload did.
#[derive(Debug, Clone, PartialEq)]
pub struct Uploaded {
    /// The plugin as installed.
    pub plugin: PluginRecord,
    /// True for a new name, false for a replacement (or the same bytes again).
    pub created: bool,
}

impl Service {
    /// Installs or replaces plugin `name` from its `.wasm` bytes.
    pub async fn upload_plugin(
        &self,
        name: &str,
        wasm: Arc<[u8]>,
        allow_new_capabilities: bool,
        user: &str,
    ) -> ServiceResult<Uploaded> {
        let installed = self
            .plugins
            .install(name, wasm, allow_new_capabilities)
            .await
            .map_err(|e| match e {
                InstallError::BadName(_) | InstallError::Load(_) => {
                    ServiceError::BadRequest(e.to_string())
                }
                InstallError::NewCapabilities { .. } => ServiceError::Conflict(e.to_string()),
                InstallError::Store(e) => e.into(),
                InstallError::Io(e) => ServiceError::Other(e),
            })?;
        if installed.changed {
            let mut description = format!("plugin {name} sha256 {}", installed.row.sha256);
            if let Some(old) = &installed.previous_sha256 {
                description.push_str(&format!(" (replaces sha256 {old})"));
            }
            if !installed.added_capabilities.is_empty() {
                description.push_str(&format!(
                    "; new capabilities: {}",
                    installed.added_capabilities.join(", ")
                ));
            }
            self.audit(
                AuditEvent::PluginUploaded,
                "",
                name,
                user,
                Some(description),
            )
            .await?;
        }
        Ok(Uploaded {
            created: installed.previous_sha256.is_none(),
            plugin: installed.row,
        })
    }

    /// Every installed plugin.
    pub async fn list_plugins(&self) -> ServiceResult<Vec<PluginRecord>> {
        Ok(self.store.list_plugins().await?)
    }

    /// One plugin.
    pub async fn get_plugin(&self, name: &str) -> ServiceResult<PluginRecord> {
        or_not_found(self.store.get_plugin(name).await, "Plugin", name)
    }

    /// The `.wasm` bytes of plugin `name`.
    pub async fn plugin_wasm(&self, name: &str) -> ServiceResult<Vec<u8>> {
        let plugin = self.get_plugin(name).await?;
        self.plugins
            .installed_bytes(&plugin.sha256)
            .await
            .map_err(ServiceError::Other)
    }

    /// Deletes plugin `name`. Refused while jobs use it, unless `force`: then those
    /// jobs' next runs end as `scheduled error`.
    pub async fn delete_plugin(&self, name: &str, force: bool, user: &str) -> ServiceResult<()> {
        self.get_plugin(name).await?;
        let users: Vec<String> = self
            .store
            .jobs()
            .await?
            .iter()
            .filter(|s| s.job.plugin_name() == Some(name))
            .map(|s| format!("{} ({})", s.job.id, s.job.name))
            .collect();
        if !users.is_empty() && !force {
            return Err(ServiceError::Conflict(format!(
                "plugin '{name}' is used by {} job(s): {}; delete or change them first, or delete with ?force=true",
                users.len(),
                users.join(", ")
            )));
        }
        let removed = or_not_found(self.plugins.remove(name).await, "Plugin", name)?;
        let description = format!("plugin {name} sha256 {}", removed.sha256);
        self.audit(AuditEvent::PluginDeleted, "", name, user, Some(description))
            .await
    }

    /// Every installed class with its `job_class_string`, by plugin name.
    pub fn job_classes(&self) -> Vec<(String, JobClass)> {
        self.plugins
            .all()
            .iter()
            .flat_map(|(name, plugin)| {
                plugin
                    .classes
                    .iter()
                    .map(move |c| (format!("{name}.{}", c.name), c.clone()))
            })
            .collect()
    }
}
