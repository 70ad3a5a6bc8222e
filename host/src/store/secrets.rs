//! The `secrets` table: sealed values by name. Sealing and opening happen above the
//! store (`crate::secrets`); the store never sees a plain value.

use super::{SecretRow, Store, StoreError, StoreResult};

impl Store {
    /// Stores or replaces a sealed secret; whether it was new.
    pub async fn put_secret(&self, name: &str, sealed: &str, now: i64) -> StoreResult<bool> {
        on_pool!(&self.writer, writer => {
            let existed = sqlx::query("SELECT 1 FROM secrets WHERE name = $1")
                .bind(name)
                .fetch_optional(writer)
                .await?
                .is_some();
            sqlx::query(
                "INSERT INTO secrets (name, sealed, created_time, updated_time) \
                 VALUES ($1, $2, $3, $3) ON CONFLICT (name) DO UPDATE \
                 SET sealed = excluded.sealed, updated_time = excluded.updated_time",
            )
            .bind(name)
            .bind(sealed)
            .bind(now)
            .execute(writer)
            .await?;
            Ok(!existed)
        })
    }

    /// Every secret row, by name.
    pub async fn list_secrets(&self) -> StoreResult<Vec<SecretRow>> {
        Ok(on_pool!(&self.pool, pool => {
            sqlx::query_as::<_, SecretRow>("SELECT * FROM secrets ORDER BY name")
                .fetch_all(pool)
                .await?
        }))
    }

    /// The rows of the named secrets that exist, by name.
    pub async fn secrets_named(&self, names: &[String]) -> StoreResult<Vec<SecretRow>> {
        let mut rows = Vec::with_capacity(names.len());
        for name in names {
            let row = on_pool!(&self.pool, pool => {
                sqlx::query_as::<_, SecretRow>("SELECT * FROM secrets WHERE name = $1")
                    .bind(name)
                    .fetch_optional(pool)
                    .await?
            });
            rows.extend(row);
        }
        Ok(rows)
    }

    /// Deletes a secret.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if there is none of that name.
    pub async fn delete_secret(&self, name: &str) -> StoreResult<()> {
        let deleted = on_pool!(&self.writer, writer => {
            sqlx::query("DELETE FROM secrets WHERE name = $1")
                .bind(name)
                .execute(writer)
                .await?
                .rows_affected()
        });
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
