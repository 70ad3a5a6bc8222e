//! `wasmcron serve`: the server, as a library function that tests can start on a
//! port-0 listener.

use crate::api::{self, ApiConfig};
use crate::job::OptionLimits;
use crate::plugins::PluginRegistry;
use crate::runtime::{EngineOptions, Runtime};
use crate::scheduler::{Scheduler, SchedulerConfig};
use crate::service::Service;
use crate::store::{Database, Store};
use anyhow::Context;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;

/// Everything `serve` is configured with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The SQLite file (unless `database` names another) and the plugin cache live here.
    pub data_dir: PathBuf,
    /// The database (`--database-url`); `None`: SQLite in `data_dir`.
    pub database: Option<Database>,
    /// Every `<name>.wasm` in it is installed as plugin `<name>` at start.
    pub plugin_dir: Option<PathBuf>,
    /// Scheduling policy and run limits.
    pub scheduler: SchedulerConfig,
    /// How long a shutdown waits for runs in flight before interrupting them.
    pub shutdown_grace: Duration,
    /// HTTP settings.
    pub api: ApiConfig,
    /// The engine's settings.
    pub engine: EngineOptions,
    /// Bounds on per-job settings.
    pub option_limits: OptionLimits,
}

/// Runs the server on `listener` until `shutdown` completes, then shuts down
/// gracefully: stop accepting and firing, let runs finish within the grace period,
/// interrupt the rest.
///
/// Prints `wasmcron listening on http://<addr>` on stdout once it serves.
///
/// # Errors
/// If the data directory, the database or a plugin cannot be opened.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    crate::metrics::get().set_per_job(config.scheduler.metrics_per_job);
    let database = config
        .database
        .clone()
        .unwrap_or_else(|| Database::Sqlite(config.data_dir.join("wasmcron.db")));
    let store = Store::open(&database)
        .await
        .with_context(|| format!("opening the database {}", database.display()))?;
    let runtime = Runtime::new(&config.engine).context("starting the WebAssembly engine")?;
    let plugins = PluginRegistry::new(runtime.clone(), store.clone(), config.data_dir.clone());
    let loaded = plugins
        .load_installed()
        .await
        .context("loading the installed plugins")?;
    tracing::info!(plugins = loaded, "installed plugins loaded");
    if let Some(dir) = &config.plugin_dir {
        plugins.install_dir(dir).await?;
    }
    plugins.sweep_unused_files().await;
    let scheduler = Scheduler::new(
        store.clone(),
        runtime,
        plugins.clone(),
        config.scheduler.clone(),
    );
    scheduler.start().await.context("starting the scheduler")?;
    let service = Service::new(
        store.clone(),
        scheduler.clone(),
        plugins,
        config.option_limits.clone(),
        config.scheduler.secrets.clone(),
    );
    // Open event streams end when the shutdown begins: the graceful shutdown waits
    // for every connection to close.
    let events = scheduler.events().clone();
    let app = api::app(service, config.api.clone());
    let addr = listener.local_addr()?;
    println!("wasmcron listening on http://{addr}");
    tracing::info!(
        %addr,
        data_dir = %config.data_dir.display(),
        database = %database.display(),
        "serving"
    );
    axum::serve(
        listener,
        axum::ServiceExt::<axum::extract::Request>::into_make_service(app),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        events.close();
    })
    .await
    .context("serving HTTP")?;
    tracing::info!(
        grace_s = config.shutdown_grace.as_secs_f64(),
        "shutting down: no more fires; waiting for runs in flight"
    );
    scheduler.shutdown(config.shutdown_grace).await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
