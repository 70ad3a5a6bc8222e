//! The store: jobs, executions, audit logs and plugins in SQL.
//!
//! The database is the truth for each job's next fire time: a fire is claimed with one
//! compare-and-set ([`Store::claim_fire`]), so each occurrence fires once however many
//! schedulers look at it. Jobs are read from an in-memory mirror of their table
//! (`jobs.rs`); the hot writes of fires and runs are group-committed (`batch.rs`).
//!
//! One file per table, each an `impl Store` block: `jobs.rs`, `executions.rs` (with the
//! retention deletes and the settling of runs a stopped process left unfinished),
//! `audit.rs`, `plugins.rs`, `secrets.rs`, `tokens.rs` and `hosts.rs` (the processes serving
//! the database, and the moves of executions between them); `rows.rs` holds the rows as
//! stored.
//!
//! # Backends
//! Two backends, chosen at start by `--database-url`: SQLite (embedded, the default: a
//! file in the data directory) and PostgreSQL (several hosts can share one). Each has
//! its own module with the same items: `sqlite.rs` and `postgres.rs` own their
//! connection types (`Db`, `Conn`), opening (SQLite's pragmas and WAL; each backend's
//! own migrations, `migrations/sqlite` and `migrations/postgres`), and the statements
//! that differ: the multi-row `UPDATE … FROM (VALUES …)` of the group commit (both name
//! a `VALUES` list's columns `column1`, `column2`, …; PostgreSQL's parameters carry
//! casts there), and the one read that needs a cast on PostgreSQL. `RETURNING` and
//! `INSERT … ON CONFLICT` are spelled the same on both. Every other statement uses `$n`
//! placeholders and integer times (microseconds since the epoch, UTC) and is shared.
//!
//! One binary serves both, so [`Pool`] is an enum over the two drivers' pools, and the
//! [`on_pool!`] macro expands a statement's code once per backend, each arm with its
//! own `dialect` module in scope. The code that runs a statement on a connection (the
//! group commit's, in `portable.rs`) is included into both backend modules and so is
//! compiled once per backend as well. The alternative, sqlx's `Any` driver, was
//! rejected: it converts every row and every argument into its own value types on
//! the way through (a cost on every read and write of the SQLite path, which must not
//! get slower), it cannot carry SQLite's connection options (WAL, synchronous, cache
//! size) beyond what its URL spells, and its type checks are looser than each
//! driver's. The enum costs a match per statement and nothing per row.
//!
//! Where the backends differ in behaviour, the code says so: PostgreSQL aborts a whole
//! transaction on a failed statement where SQLite rolls back only the statement, so
//! the group commit wraps each statement in a savepoint on PostgreSQL (`batch.rs`).

/// Runs `$body` with `$conn` bound to the pool inside `$pool` (a [`Pool`]), once per
/// backend: in each arm `dialect` names that backend's module (its `Db`, `Conn` and
/// statements).
macro_rules! on_pool {
    ($pool:expr, $conn:ident => $body:expr) => {
        match $pool {
            $crate::store::Pool::Sqlite($conn) => {
                #[allow(unused_imports)]
                use $crate::store::sqlite as dialect;
                $body
            }
            $crate::store::Pool::Postgres($conn) => {
                #[allow(unused_imports)]
                use $crate::store::postgres as dialect;
                $body
            }
        }
    };
}

mod audit;
mod batch;
mod executions;
mod grouped;
mod health;
mod hosts;
mod job_codec;
mod job_state;
mod jobs;
mod next_runs;
mod other_runs;
mod peers;
mod plugins;
mod postgres;
mod rows;
mod secrets;
mod sqlite;
mod tokens;

use batch::Batcher;
use health::Health;
use jobs::MirrorLock;
use next_runs::NextRunReader;
use other_runs::OtherRunsReader;

pub use health::is_unavailable;
pub use hosts::Adopted;
pub use jobs::JobChange;
pub use peers::{Listener, Notification};
pub use rows::{
    AuditRow, ExecutionQuery, ExecutionRow, FinishedRun, HostRow, JobRow, JobStateRow,
    JobStateWrite, PluginRow, SecretRow, TokenRow,
};

use crate::job::ExecutionState;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

/// The PostgreSQL notification channel of job changes: the payload is the job's id,
/// sent in the transaction of the write, so delivered once it commits.
pub const JOBS_CHANNEL: &str = "wasmcron_jobs";
/// The channel of plugin changes (installed, replaced, deleted): the plugin's name.
pub const PLUGINS_CHANNEL: &str = "wasmcron_plugins";
/// The channel of cancel requests: the execution's id, for the host that runs it.
pub const CANCEL_CHANNEL: &str = "wasmcron_cancel";

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
    /// The database could not be reached a moment ago, and no probe has reached it since:
    /// the write was not tried (`health.rs`).
    #[error("{0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether the call failed for want of the database (it is down or unreachable),
    /// not because of what it asked: the caller may answer "try again later".
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Database(e) => is_unavailable(e),
            _ => false,
        }
    }
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// A pool of connections to one backend's database.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    /// The embedded default.
    Sqlite(sqlx::SqlitePool),
    /// A server that several hosts can share.
    Postgres(sqlx::PgPool),
}

impl Pool {
    async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// Where the store lives: what `--database-url` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database, by its `postgres://` URL.
    Postgres(String),
}

/// A `--database-url` that names no backend wasmcron speaks.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "unsupported database URL {0:?}: expected postgres://user@host:port/database or sqlite:///path/to/file.db"
)]
pub struct UnsupportedDatabaseUrl(String);

/// `--database-url`, as clap reads it.
impl std::str::FromStr for Database {
    type Err = UnsupportedDatabaseUrl;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Database::from_url(url)
    }
}

impl Database {
    /// Reads a database URL: `postgres://…` (or `postgresql://…`), or `sqlite://<path>`
    /// (`sqlite:///absolute/path.db`, `sqlite://relative.db`; also `sqlite:<path>`).
    ///
    /// # Errors
    /// For any other scheme, an SQLite URL without a path, and SQLite in memory (the
    /// store opens several connections, which would each see their own database).
    pub fn from_url(url: &str) -> Result<Self, UnsupportedDatabaseUrl> {
        let unsupported = || UnsupportedDatabaseUrl(url.to_owned());
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(unsupported)?;
        if path.is_empty() || path.contains(":memory:") || path.contains('?') {
            return Err(unsupported());
        }
        Ok(Database::Sqlite(PathBuf::from(path)))
    }

    /// The database as logs may show it: a PostgreSQL URL without its password.
    pub fn display(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("sqlite://{}", path.display()),
            Database::Postgres(url) => match url.split_once("://") {
                Some((scheme, rest)) => match rest.split_once('@') {
                    Some((credentials, host)) => {
                        let user = credentials.split(':').next().unwrap_or_default();
                        format!("{scheme}://{user}@{host}")
                    }
                    None => url.clone(),
                },
                None => url.clone(),
            },
        }
    }
}

/// A handle on the database: cheap to clone.
///
/// Reads go through a pool of connections. On SQLite (WAL lets readers run beside the
/// writer) writes go through one connection of their own, so that concurrent writers
/// queue in this process instead of meeting SQLite's lock and sleeping in its busy
/// handler; on PostgreSQL, which locks rows rather than the database, both are one
/// pool.
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
    /// Checks of jobs' next fire times before a backup claim, grouped (`next_runs.rs`).
    next_runs: NextRunReader,
    /// Reads of the runs other hosts have in flight, grouped (`other_runs.rs`).
    other_runs: OtherRunsReader,
    /// Whether the database answers (`health.rs`).
    health: Arc<Health>,
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
    /// Opens the database (creating an SQLite file if needed) and runs its backend's
    /// migrations.
    ///
    /// # Errors
    /// If the database cannot be opened or a migration fails.
    pub async fn open(database: &Database) -> StoreResult<Self> {
        match database {
            Database::Sqlite(path) => Self::open_sqlite(path).await,
            Database::Postgres(url) => {
                let (pool, writer) = postgres::connect(url).await?;
                Self::with_pools(Pool::Postgres(pool), Pool::Postgres(writer)).await
            }
        }
    }

    /// Opens (creating if needed) the SQLite database at `path` and runs migrations.
    ///
    /// # Errors
    /// If the file cannot be opened or a migration fails.
    pub async fn open_sqlite(path: &Path) -> StoreResult<Self> {
        let (pool, writer) = sqlite::connect(path).await?;
        Self::with_pools(Pool::Sqlite(pool), Pool::Sqlite(writer)).await
    }

    async fn with_pools(pool: Pool, writer: Pool) -> StoreResult<Self> {
        let health = Arc::new(Health::new(pool.clone()));
        let batch = Batcher::start(writer.clone(), health.clone());
        let jobs = MirrorLock::load(&pool).await?;
        let next_runs = NextRunReader::start(pool.clone());
        let other_runs = OtherRunsReader::start(pool.clone());
        Ok(Store {
            pool,
            writer,
            jobs: Arc::new(jobs),
            job_writes: Arc::default(),
            batch,
            next_runs,
            other_runs,
            health,
        })
    }

    /// Whether several hosts may share this database (PostgreSQL): then changes made
    /// through other hosts must be followed (`crate::follow`), and a dead host's work
    /// taken over (`scheduler::hosts`).
    pub fn is_shared(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }

    /// Whether the database answered the last time it was used.
    pub fn available(&self) -> bool {
        self.health.available()
    }

    /// Waits until the database is available (at once if it is).
    pub async fn wait_available(&self) {
        self.health.wait_available().await;
    }

    /// Takes note of a store error: one that says the database is unreachable marks it
    /// unavailable until a probe reaches it again.
    pub fn observe(&self, e: &StoreError) {
        if let StoreError::Database(e) = e {
            self.health.observe(e);
        }
    }

    /// Runs a write unless the database is known to be unavailable (then it fails at
    /// once), and takes note of how it failed.
    async fn guarded<T>(
        &self,
        write: impl std::future::Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        if !self.health.available() {
            return Err(StoreError::Unavailable(self.health.reason()));
        }
        let result = write.await;
        if let Err(e) = &result {
            self.observe(e);
        }
        result
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
    fn a_database_url_names_its_backend() {
        assert_eq!(
            Database::from_url("postgres://u:secret@db:5432/wasmcron"),
            Ok(Database::Postgres(
                "postgres://u:secret@db:5432/wasmcron".into()
            ))
        );
        assert!(matches!(
            Database::from_url("postgresql://db/wasmcron"),
            Ok(Database::Postgres(_))
        ));
        assert_eq!(
            Database::from_url("sqlite:///var/lib/wasmcron/w.db"),
            Ok(Database::Sqlite("/var/lib/wasmcron/w.db".into()))
        );
        assert_eq!(
            Database::from_url("sqlite:w.db"),
            Ok(Database::Sqlite("w.db".into()))
        );
        for refused in ["mysql://db/w", "sqlite://", "sqlite::memory:", "w.db", ""] {
            let e = Database::from_url(refused).unwrap_err().to_string();
            assert!(e.contains("unsupported database URL"), "{refused}: {e}");
        }
        // The log line never shows the password.
        assert_eq!(
            Database::from_url("postgres://u:secret@db:5432/wasmcron")
                .unwrap()
                .display(),
            "postgres://u@db:5432/wasmcron"
        );
    }

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
