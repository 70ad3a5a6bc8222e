//! The plugins table: the installed `.wasm` of each plugin name.

use super::dialect;
use super::{PluginRow, Store, StoreError, StoreResult};

impl Store {
    /// Installs or replaces the plugin row of `p.name`.
    pub async fn upsert_plugin(&self, p: &PluginRow) -> StoreResult<()> {
        sqlx::query(dialect::UPSERT_PLUGIN)
            .bind(&p.name)
            .bind(&p.sha256)
            .bind(p.size)
            .bind(&p.world_version)
            .bind(&p.classes)
            .bind(p.uploaded_time)
            .bind(&p.capabilities)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Records the capabilities of a plugin row written before they were.
    pub async fn set_plugin_capabilities(&self, name: &str, capabilities: &str) -> StoreResult<()> {
        sqlx::query("UPDATE plugins SET capabilities = $2 WHERE name = $1")
            .bind(name)
            .bind(capabilities)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// One plugin row.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if no plugin has that name.
    pub async fn get_plugin(&self, name: &str) -> StoreResult<PluginRow> {
        sqlx::query_as::<_, PluginRow>("SELECT * FROM plugins WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Every plugin row, by name.
    pub async fn list_plugins(&self) -> StoreResult<Vec<PluginRow>> {
        Ok(
            sqlx::query_as::<_, PluginRow>("SELECT * FROM plugins ORDER BY name")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Deletes a plugin row, returning it.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if no plugin has that name.
    pub async fn delete_plugin(&self, name: &str) -> StoreResult<PluginRow> {
        sqlx::query_as::<_, PluginRow>(dialect::DELETE_PLUGIN)
            .bind(name)
            .fetch_optional(&self.writer)
            .await?
            .ok_or(StoreError::NotFound)
    }
}
