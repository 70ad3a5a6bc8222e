//! The database behind each test server: SQLite in its data directory (the default), or
//! with `WASMCRON_TEST_BACKEND=postgres` a fresh PostgreSQL database that the harness
//! creates (a unique name) for each data directory and drops with the [`super::TestDir`]
//! that holds it, so that a server restarted on the same data directory finds its rows,
//! as it would in its SQLite file.
//!
//! The PostgreSQL used is `WASMCRON_TEST_DATABASE_URL` (its database is where the
//! harness connects to create and drop the others), else the one on 127.0.0.1:5432 as
//! user `postgres`. When the backend is PostgreSQL and none answers, the test fails and
//! says so: nothing is skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, Once};

/// The backend the test servers run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// `WASMCRON_TEST_BACKEND`: `sqlite` (or unset) or `postgres`.
pub fn backend() -> Backend {
    match std::env::var("WASMCRON_TEST_BACKEND").as_deref() {
        Err(_) | Ok("" | "sqlite") => Backend::Sqlite,
        Ok("postgres" | "postgresql") => Backend::Postgres,
        Ok(other) => panic!("WASMCRON_TEST_BACKEND={other:?}: expected sqlite or postgres"),
    }
}

/// Where the harness reaches PostgreSQL to create and drop the tests' databases.
fn admin_url() -> String {
    std::env::var("WASMCRON_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database replaced by `name` (user, host, port and parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, params) = match url.split_once('?') {
        Some((base, params)) => (base, Some(params)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match params {
        Some(params) => format!("{server}/{name}?{params}"),
        None => format!("{server}/{name}"),
    }
}

/// The PostgreSQL databases made for data directories in this process.
static DATABASES: LazyLock<Mutex<HashMap<PathBuf, String>>> = LazyLock::new(Mutex::default);

/// Runs one statement on the administration database, from a thread of its own (the
/// callers are sync code, often inside a test's runtime).
fn admin(statement: String) -> Result<(), String> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            use sqlx::Connection;
            let url = admin_url();
            let mut conn = sqlx::PgConnection::connect(&url).await.map_err(|e| {
                format!(
                    "WASMCRON_TEST_BACKEND=postgres, but PostgreSQL at {url} does not answer ({e}); \
                     start one (tests/postgres/ensure.sh) or set WASMCRON_TEST_DATABASE_URL"
                )
            })?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
                .execute(&mut conn)
                .await
                .map_err(|e| format!("{statement}: {e}"))?;
            let _ = conn.close().await;
            Ok(())
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the database thread panicked".to_owned()))
}

/// Drops the databases an earlier test process made and could not drop (it was killed):
/// those named after a process that no longer runs.
fn drop_orphans() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let me = std::process::id().to_string();
        let alive = |pid: &str| Path::new("/proc").join(pid).exists();
        let names = list_test_databases();
        for name in names {
            let pid = name.split('_').nth(2).unwrap_or_default().to_owned();
            if pid != me && !alive(&pid) {
                let _ = admin(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
            }
        }
    });
}

/// The names of the databases tests made (`wasmcron_test_<pid>_<n>`).
fn list_test_databases() -> Vec<String> {
    std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        runtime.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&admin_url()).await.ok()?;
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT datname::text FROM pg_database WHERE datname LIKE 'wasmcron\\_test\\_%'",
            )
            .fetch_all(&mut conn)
            .await
            .ok()?;
            let _ = conn.close().await;
            Some(names)
        })
    })
    .join()
    .ok()
    .flatten()
    .unwrap_or_default()
}

/// The `--database-url` of a server on `data_dir`: `None` for SQLite (the data
/// directory's own file); on PostgreSQL the database of that data directory, created
/// the first time.
pub fn url_for_server(data_dir: &Path) -> Option<String> {
    match backend() {
        Backend::Sqlite => None,
        Backend::Postgres => Some(postgres_database(data_dir)),
    }
}

/// The PostgreSQL database of `data_dir`, created the first time it is asked for
/// (whatever the backend: the suites of several hosts on one database need PostgreSQL);
/// dropped with the [`super::TestDir`] that holds `data_dir`.
pub fn postgres_database(data_dir: &Path) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut databases = DATABASES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(name) = databases.get(data_dir) {
        return with_database(&admin_url(), name);
    }
    drop_orphans();
    let name = format!(
        "wasmcron_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    admin(format!("CREATE DATABASE \"{name}\"")).unwrap_or_else(|e| panic!("{e}"));
    databases.insert(data_dir.to_owned(), name.clone());
    with_database(&admin_url(), &name)
}

/// Drops the PostgreSQL databases of the data directories under `dir`.
pub fn drop_databases_under(dir: &Path) {
    let names: Vec<String> = {
        let mut databases = DATABASES.lock().unwrap_or_else(|e| e.into_inner());
        let under: Vec<PathBuf> = databases
            .keys()
            .filter(|path| path.starts_with(dir))
            .cloned()
            .collect();
        under
            .iter()
            .filter_map(|path| databases.remove(path))
            .collect()
    };
    for name in names {
        if let Err(e) = admin(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")) {
            eprintln!("could not drop the test database {name}: {e}");
        }
    }
}

/// The URL of the database of a server on `data_dir`, whichever the backend: its
/// SQLite file, or its PostgreSQL database.
pub fn url(data_dir: &Path) -> String {
    match backend() {
        Backend::Sqlite => format!("sqlite://{}", data_dir.join("wasmcron.db").display()),
        Backend::Postgres => postgres_database(data_dir),
    }
}

/// A connection pool on the database of a server on `data_dir`, for the tests that
/// write or read rows directly: the same SQL (`$n` placeholders, integer times) runs on
/// either backend.
pub async fn connect(data_dir: &Path) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let url = url(data_dir);
    sqlx::AnyPool::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
}

/// Removes the database of a server on `data_dir` from under it: deletes the SQLite
/// file, or drops the PostgreSQL database (closing the server's connections).
pub fn destroy(data_dir: &Path) {
    match backend() {
        Backend::Sqlite => std::fs::remove_file(data_dir.join("wasmcron.db")).unwrap(),
        Backend::Postgres => {
            let name = DATABASES
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(data_dir)
                .cloned()
                .expect("no server was started on this data directory");
            admin(format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
