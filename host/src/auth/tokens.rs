//! API tokens: made of 32 random bytes, shown once, kept only as their SHA-256. Their
//! lifecycle (create, list, verify, revoke) over the store, for the API and for the
//! `wasmcron token` command alike.

use super::Role;
use crate::store::{AuditRow, Store, StoreError, TokenRow};
use crate::time::now_micros;
use sha2::{Digest, Sha256};

/// What every token starts with, so that secret scanners and people recognise one.
const PREFIX: &str = "wcr_";
/// The longest token name, in characters.
const MAX_NAME_CHARS: usize = 64;

/// Why a token operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The name or role is not acceptable; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// A token of that name exists.
    #[error("a token named {0} exists already: revoke it first, or choose another name")]
    Exists(String),
    /// No token of that name.
    #[error("Token not found: {0}")]
    NotFound(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Unique; the audit log's `user` for its requests.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was created (µs).
    pub created_time: i64,
    /// When it last authenticated a request (µs, to a minute), if ever.
    pub last_used_time: Option<i64>,
}

/// A token just created: the only time its secret is known.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Its name, role and times.
    pub info: TokenInfo,
    /// The token to send as `Authorization: Bearer <token>`.
    pub secret: String,
}

/// The hex SHA-256 of a token: what the database keeps and looks tokens up by.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// `n` random bytes from the operating system, as hex.
pub(super) fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    // The OS's generator failing is not something to go on without: no token or
    // session id may be predictable.
    getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
    hex::encode(bytes)
}

/// A token name: 1 to 64 letters, digits, `.`, `_` or `-` (it goes into paths and the
/// audit log).
fn check_name(name: &str) -> Result<(), TokenError> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(TokenError::Invalid(format!(
            "a token name is 1 to {MAX_NAME_CHARS} letters, digits, '.', '_' or '-'; got {name:?}"
        )))
    }
}

fn info(row: TokenRow) -> TokenInfo {
    TokenInfo {
        role: role_of(&row.role),
        name: row.name,
        created_time: row.created_time,
        last_used_time: row.last_used_time,
    }
}

/// A stored role. One the code does not know can only come from a newer version's
/// database; reading it as the least role is the safe way to go on.
pub(super) fn role_of(stored: &str) -> Role {
    stored.parse().unwrap_or(Role::Viewer)
}

/// The audit entry of a token's creation or revocation (`user` did it).
fn audit(event: &str, name: &str, user: &str, description: String) -> AuditRow {
    AuditRow {
        audit_id: uuid::Uuid::new_v4().simple().to_string(),
        job_id: String::new(),
        job_name: name.to_owned(),
        event: event.to_owned(),
        user_name: user.to_owned(),
        created_time: now_micros(),
        description: Some(description),
    }
}

/// Creates token `name` with `role`; `user` is who asked, for the audit log.
///
/// # Errors
/// [`TokenError::Invalid`] for a bad name, [`TokenError::Exists`] for a taken one.
pub async fn create(
    store: &Store,
    name: &str,
    role: Role,
    user: &str,
) -> Result<NewToken, TokenError> {
    check_name(name)?;
    let secret = format!("{PREFIX}{}", random_hex(32));
    let row = TokenRow {
        name: name.to_owned(),
        token_sha256: hash(&secret),
        role: role.as_str().to_owned(),
        created_time: now_micros(),
        last_used_time: None,
    };
    match store.insert_token(&row).await {
        Err(StoreError::Conflict) => return Err(TokenError::Exists(name.to_owned())),
        other => other?,
    }
    store
        .insert_audit(&audit(
            "token_created",
            name,
            user,
            format!("API token {name} created with the {role} role"),
        ))
        .await?;
    Ok(NewToken {
        info: info(row),
        secret,
    })
}

/// Every token, by name.
pub async fn list(store: &Store) -> Result<Vec<TokenInfo>, TokenError> {
    Ok(store.list_tokens().await?.into_iter().map(info).collect())
}

/// The token whose secret is `secret`, if it exists (was created and not revoked).
pub async fn verify(store: &Store, secret: &str) -> Result<Option<TokenInfo>, TokenError> {
    Ok(store.token_by_hash(&hash(secret)).await?.map(info))
}

/// Revokes token `name`: requests with it fail from now on.
///
/// # Errors
/// [`TokenError::NotFound`] if there is no such token.
pub async fn revoke(store: &Store, name: &str, user: &str) -> Result<(), TokenError> {
    match store.delete_token(name).await {
        Err(StoreError::NotFound) => return Err(TokenError::NotFound(name.to_owned())),
        other => other?,
    }
    store
        .insert_audit(&audit(
            "token_revoked",
            name,
            user,
            format!("API token {name} revoked"),
        ))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("ci-deploy_1.0").is_ok());
        for bad in ["", "a b", "a/b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_token_is_stored_as_its_hash_and_verifies_until_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
        let new = create(&store, "ci", Role::Operator, "cli").await.unwrap();
        assert!(new.secret.starts_with(PREFIX) && new.secret.len() == PREFIX.len() + 64);
        let rows = store.list_tokens().await.unwrap();
        assert_eq!(rows[0].token_sha256, hash(&new.secret));
        assert!(
            !rows
                .iter()
                .any(|r| r.token_sha256.contains(&new.secret[PREFIX.len()..]))
        );
        let found = verify(&store, &new.secret).await.unwrap().unwrap();
        assert_eq!((found.name.as_str(), found.role), ("ci", Role::Operator));
        assert!(verify(&store, "wcr_nope").await.unwrap().is_none());
        assert!(matches!(
            create(&store, "ci", Role::Admin, "cli").await,
            Err(TokenError::Exists(_))
        ));
        revoke(&store, "ci", "cli").await.unwrap();
        assert!(verify(&store, &new.secret).await.unwrap().is_none());
        assert!(matches!(
            revoke(&store, "ci", "cli").await,
            Err(TokenError::NotFound(_))
        ));
    }
}
