//! The plugins table (the installed version of each plugin name) and the plugins'
//! `.wasm` bytes by sha256 (`plugin_bytes`), from which every host sharing the database
//! installs them.
//!
//! Plugin writes are serialised across hosts (`dialect::lock_plugin_writes`, an advisory
//! lock on PostgreSQL), so that an upload writing bytes it found already stored cannot
//! meet a deletion removing those bytes as unused.

use super::{PLUGINS_CHANNEL, PluginRow, Store, StoreError, StoreResult};

/// Deletes the bytes no plugin row names (a replaced or deleted version).
const DELETE_UNUSED_BYTES: &str =
    "DELETE FROM plugin_bytes WHERE sha256 NOT IN (SELECT sha256 FROM plugins)";

impl Store {
    /// Installs or replaces the plugin `p.name` with these bytes: the bytes first, then
    /// the row, in one transaction that also tells the other hosts.
    pub async fn put_plugin(&self, p: &PluginRow, wasm: &[u8]) -> StoreResult<()> {
        self.guarded(async {
            on_pool!(&self.writer, writer => {
                let mut tx = writer.begin().await?;
                dialect::lock_plugin_writes(&mut tx).await?;
                sqlx::query(
                    "INSERT INTO plugin_bytes (sha256, wasm) VALUES ($1, $2) \
                     ON CONFLICT (sha256) DO NOTHING",
                )
                .bind(&p.sha256)
                .bind(wasm)
                .execute(&mut *tx)
                .await?;
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
                .execute(&mut *tx)
                .await?;
                sqlx::query(DELETE_UNUSED_BYTES).execute(&mut *tx).await?;
                dialect::notify(&mut tx, PLUGINS_CHANNEL, &p.name).await?;
                tx.commit().await?;
                Ok::<_, StoreError>(())
            })
        })
        .await
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

    /// The `.wasm` bytes with this sha256, if the database has them.
    pub async fn plugin_bytes(&self, sha256: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(on_pool!(&self.pool, pool => {
            sqlx::query_scalar::<_, Vec<u8>>("SELECT wasm FROM plugin_bytes WHERE sha256 = $1")
                .bind(sha256)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// The sha256 of the installed versions whose bytes the database lacks: plugins
    /// installed before it kept them (in the data directory only).
    pub async fn plugins_without_bytes(&self) -> StoreResult<Vec<String>> {
        Ok(on_pool!(&self.pool, pool => {
            sqlx::query_scalar::<_, String>(
                "SELECT DISTINCT sha256 FROM plugins \
                 WHERE sha256 NOT IN (SELECT sha256 FROM plugin_bytes)",
            )
            .fetch_all(pool)
            .await?
        }))
    }

    /// Stores the bytes of an installed version that the database lacks (copied in from
    /// the data directory); nothing if they are there or no plugin names them.
    pub async fn backfill_plugin_bytes(&self, sha256: &str, wasm: &[u8]) -> StoreResult<()> {
        self.guarded(async {
            on_pool!(&self.writer, writer => {
                let mut tx = writer.begin().await?;
                dialect::lock_plugin_writes(&mut tx).await?;
                sqlx::query(
                    "INSERT INTO plugin_bytes (sha256, wasm) SELECT $1, $2 \
                     WHERE EXISTS (SELECT 1 FROM plugins WHERE sha256 = $1) \
                     ON CONFLICT (sha256) DO NOTHING",
                )
                .bind(sha256)
                .bind(wasm)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok::<_, StoreError>(())
            })
        })
        .await
    }

    /// Deletes a plugin row (and its bytes, unless another name uses them), telling the
    /// other hosts; returns the row.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if no plugin has that name.
    pub async fn delete_plugin(&self, name: &str) -> StoreResult<PluginRow> {
        self.guarded(async {
            on_pool!(&self.writer, writer => {
                let mut tx = writer.begin().await?;
                dialect::lock_plugin_writes(&mut tx).await?;
                let row = sqlx::query_as::<_, PluginRow>(
                    "DELETE FROM plugins WHERE name = $1 RETURNING *",
                )
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
                sqlx::query(DELETE_UNUSED_BYTES).execute(&mut *tx).await?;
                dialect::notify(&mut tx, PLUGINS_CHANNEL, name).await?;
                tx.commit().await?;
                Ok::<_, StoreError>(row)
            })
        })
        .await
    }
}
