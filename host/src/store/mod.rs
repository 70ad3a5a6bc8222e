//! The store: jobs, executions, audit logs and plugins in SQL.
//!
//! The database is the truth for each job's next fire time: a fire is claimed with one
//! compare-and-set ([`Store::claim_fire`]), so each occurrence fires once however many
//! schedulers look at it. Jobs are read from an in-memory mirror of their table
//! (`jobs.rs`); the hot writes of fires and runs are group-committed (`batch.rs`).
//!
//! One file per table, each an `impl Store` block: `jobs.rs`, `executions.rs` (with the
//! retention deletes and the settling of runs a stopped process left unfinished),
//! `audit.rs`, `plugins.rs`, `secrets.rs` and `tokens.rs`; `rows.rs` holds the rows as stored.
//!
//! # Dialect
//! The only backend is SQLite. Everything that names it lives in `sqlite.rs`: the pool
//! and connection types (the aliases `Pool`, `Conn` and `Db` the other files use),
//! opening (pragmas, WAL, migrations from `migrations/sqlite`), and the statements that
//! are not standard SQL: the multi-row `UPDATE … FROM (VALUES …)` of the group commit
//! (which relies on SQLite's `column1`, `column2`, … names), `RETURNING`, and
//! `INSERT … ON CONFLICT`. The statements elsewhere use `$n` placeholders and integer
//! times (microseconds since the epoch, UTC) and are meant to be portable, but they
//! have only ever run on SQLite; and the group commit relies on SQLite rolling back
//! only a failed statement, not its transaction (see `batch.rs`). A PostgreSQL backend would be a sibling of `sqlite.rs`
//! with the same items (and its own migrations), selected by the `use … as dialect`
//! below; serving both from one binary would additionally need the pool types to stop
//! being aliases.

mod audit;
mod batch;
mod executions;
mod job_codec;
mod job_state;
mod jobs;
mod plugins;
mod rows;
mod secrets;
mod sqlite;
mod tokens;

/// The SQL dialect in use: the one place the rest of the store chooses it.
use sqlite as dialect;

use batch::Batcher;
use dialect::Pool;
use jobs::MirrorLock;

pub use rows::{
    AuditRow, ExecutionQuery, ExecutionRow, FinishedRun, JobRow, JobStateRow, JobStateWrite,
    PluginRow, SecretRow, TokenRow,
};

use crate::job::ExecutionState;
use std::path::Path;
use std::sync::{Arc, LazyLock};

/// A store failure. Callers branch on [`StoreError::NotFound`]; the rest is a fault.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// A row with that key exists already.
    #[error("already exists")]
    Conflict,
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed at start.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// A handle on the database: cheap to clone.
///
/// Reads go through a pool of connections (WAL lets them run beside the writer);
/// writes go through one connection of their own, so that concurrent writers queue in
/// this process instead of meeting SQLite's lock and sleeping in its busy handler.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    writer: Pool,
    /// Every job, mirrored from the table (see `jobs.rs`).
    jobs: Arc<MirrorLock>,
    /// Orders definition writes so the mirror applies them as the table did.
    job_writes: Arc<tokio::sync::Mutex<()>>,
    /// The hot writes (fires, executions, audit), group-committed on `writer`.
    batch: Batcher,
}

/// The unfinished states as an SQL list, `('scheduled', 'running', 'stopping')`, built
/// once from [`ExecutionState::UNFINISHED`]: every statement that asks whether a run is
/// finished uses it.
fn unfinished_states_sql() -> &'static str {
    static LIST: LazyLock<String> = LazyLock::new(|| {
        let names: Vec<String> = ExecutionState::UNFINISHED
            .iter()
            .map(|state| format!("'{}'", state.as_str().replace('\'', "''")))
            .collect();
        format!("({})", names.join(", "))
    });
    &LIST
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and runs migrations.
    ///
    /// # Errors
    /// If the file cannot be opened or a migration fails.
    pub async fn open_sqlite(path: &Path) -> StoreResult<Self> {
        let (pool, writer) = sqlite::connect(path).await?;
        let batch = Batcher::start(writer.clone());
        let jobs = MirrorLock::load(&pool).await?;
        Ok(Store {
            pool,
            writer,
            jobs: Arc::new(jobs),
            job_writes: Arc::default(),
            batch,
        })
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_list_of_unfinished_states_is_the_enums() {
        assert_eq!(
            unfinished_states_sql(),
            "('scheduled', 'running', 'stopping')"
        );
        for state in ExecutionState::ALL {
            let quoted = format!("'{}'", state.as_str());
            assert_eq!(
                unfinished_states_sql().contains(&quoted),
                !state.is_final(),
                "{state}"
            );
        }
    }
}
