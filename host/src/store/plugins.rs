//! The plugins table: the installed `.wasm` of each plugin name.

use super::{PluginRow, Store, StoreError, StoreResult};

impl Store {
    /// Installs or replaces the plugin row of `p.name`.
    pub async fn upsert_plugin(&self, p: &PluginRow) -> StoreResult<()> {
        on_pool!(&self.writer, writer => {
            sqlx::query(
                "INSERT INTO plugins (name, sha256, size, world_version, classes, uploaded_time, \
                 capabilities) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, \
                 world_version = excluded.world_version, classes = excluded.classes, \
                 uploaded_time = excluded.uploaded_time, capabilities = excluded.capabilities",
            )
            .bind(&p.name)
            .bind(&p.sha256)
            .bind(p.size)
            .bind(&p.world_version)
            .bind(&p.classes)
            .bind(p.uploaded_time)
            .bind(&p.capabilities)
            .execute(writer)
            .await?;
        });
        Ok(())
    }

    /// Records the capabilities of a plugin row written before they were.
    pub async fn set_plugin_capabilities(&self, name: &str, capabilities: &str) -> StoreResult<()> {
        on_pool!(&self.writer, writer => {
            sqlx::query("UPDATE plugins SET capabilities = $2 WHERE name = $1")
                .bind(name)
                .bind(capabilities)
                .execute(writer)
                .await?;
        });
        Ok(())
    }

    /// One plugin row.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if no plugin has that name.
    pub async fn get_plugin(&self, name: &str) -> StoreResult<PluginRow> {
        on_pool!(&self.pool, pool => {
            sqlx::query_as::<_, PluginRow>("SELECT * FROM plugins WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?
        })
        .ok_or(StoreError::NotFound)
    }

    /// Every plugin row, by name.
    pub async fn list_plugins(&self) -> StoreResult<Vec<PluginRow>> {
        Ok(on_pool!(&self.pool, pool => {
            sqlx::query_as::<_, PluginRow>("SELECT * FROM plugins ORDER BY name")
                .fetch_all(pool)
                .await?
        }))
    }

    /// Deletes a plugin row, returning it.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if no plugin has that name.
    pub async fn delete_plugin(&self, name: &str) -> StoreResult<PluginRow> {
        on_pool!(&self.writer, writer => {
            sqlx::query_as::<_, PluginRow>("DELETE FROM plugins WHERE name = $1 RETURNING *")
                .bind(name)
                .fetch_optional(writer)
                .await?
        })
        .ok_or(StoreError::NotFound)
    }
}
