//! The `api_tokens` table: API tokens by name, each with the hash of its secret and its
//! role. Generating and hashing tokens happens above the store (`crate::auth`).

use super::{Store, StoreError, StoreResult, TokenRow};

impl Store {
    /// Stores a new token.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if a token of that name exists.
    pub async fn insert_token(&self, row: &TokenRow) -> StoreResult<()> {
        let inserted = on_pool!(&self.writer, writer => {
            sqlx::query(
                "INSERT INTO api_tokens (name, token_sha256, role, created_time, last_used_time) \
                 VALUES ($1, $2, $3, $4, NULL) ON CONFLICT (name) DO NOTHING",
            )
            .bind(&row.name)
            .bind(&row.token_sha256)
            .bind(&row.role)
            .bind(row.created_time)
            .execute(writer)
            .await?
            .rows_affected()
        });
        if inserted == 0 {
            return Err(StoreError::Conflict);
        }
        Ok(())
    }

    /// Every token, by name.
    pub async fn list_tokens(&self) -> StoreResult<Vec<TokenRow>> {
        Ok(on_pool!(&self.pool, pool => {
            sqlx::query_as::<_, TokenRow>("SELECT * FROM api_tokens ORDER BY name")
                .fetch_all(pool)
                .await?
        }))
    }

    /// The token whose secret hashes to `sha256`, if any.
    pub async fn token_by_hash(&self, sha256: &str) -> StoreResult<Option<TokenRow>> {
        Ok(on_pool!(&self.pool, pool => {
            sqlx::query_as::<_, TokenRow>("SELECT * FROM api_tokens WHERE token_sha256 = $1")
                .bind(sha256)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Whether any token exists (then the API asks for one).
    pub async fn any_token(&self) -> StoreResult<bool> {
        Ok(on_pool!(&self.pool, pool => {
            sqlx::query("SELECT 1 FROM api_tokens LIMIT 1")
                .fetch_optional(pool)
                .await?
                .is_some()
        }))
    }

    /// Records when a token was last used.
    pub async fn touch_token(&self, name: &str, now: i64) -> StoreResult<()> {
        on_pool!(&self.writer, writer => {
            sqlx::query("UPDATE api_tokens SET last_used_time = $2 WHERE name = $1")
                .bind(name)
                .bind(now)
                .execute(writer)
                .await?;
        });
        Ok(())
    }

    /// Deletes a token.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if there is none of that name.
    pub async fn delete_token(&self, name: &str) -> StoreResult<()> {
        let deleted = on_pool!(&self.writer, writer => {
            sqlx::query("DELETE FROM api_tokens WHERE name = $1")
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
