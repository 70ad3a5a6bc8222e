//! The `secrets` table: sealed values by name. Sealing and opening happen above the
//! store (`crate::secrets`); the store never sees a plain value.

use super::{SecretRow, Store, StoreError, StoreResult};

impl Store {
    /// Stores or replaces a sealed secret; whether it was new.
    pub async fn put_secret(&self, name: &str, sealed: &str, now: i64) -> StoreResult<bool> {
        let existed = sqlx::query_scalar::<_, i64>("SELECT 1 FROM secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.writer)
            .await?
            .is_some();
        sqlx::query(
            "INSERT INTO secrets (name, sealed, created_time, updated_time) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, updated_time = excluded.updated_time",
        )
        .bind(name)
        .bind(sealed)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(!existed)
    }

    /// Every secret row, by name.
    pub async fn list_secrets(&self) -> StoreResult<Vec<SecretRow>> {
        Ok(
            sqlx::query_as::<_, SecretRow>("SELECT * FROM secrets ORDER BY name")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The rows of the named secrets that exist, by name.
    pub async fn secrets_named(&self, names: &[String]) -> StoreResult<Vec<SecretRow>> {
        let mut rows = Vec::with_capacity(names.len());
        for name in names {
            if let Some(row) =
                sqlx::query_as::<_, SecretRow>("SELECT * FROM secrets WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?
            {
                rows.push(row);
            }
        }
        Ok(rows)
    }

    /// Deletes a secret.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if there is none of that name.
    pub async fn delete_secret(&self, name: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM secrets WHERE name = $1")
            .bind(name)
            .execute(&self.writer)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
