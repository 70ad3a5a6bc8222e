//! `wasmcron serve`: the server, as a library function that tests can start on a
//! port-0 listener.

use crate::api::{self, ApiConfig};
use crate::auth::{Auth, AuthConfig, ClientAddr};
use crate::job::OptionLimits;
use crate::plugins::PluginRegistry;
use crate::runtime::{EngineOptions, Runtime};
use crate::scheduler::{Scheduler, SchedulerConfig};
use crate::service::Service;
use crate::store::{Database, Store};
use anyhow::Context;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
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
    /// Access control. `always_required` is decided here from the listen address.
    pub auth: AuthConfig,
    /// Serve an open API on a non-loopback address when no token exists.
    pub insecure_no_auth: bool,
    /// Serve HTTPS with this PEM certificate chain and private key.
    pub tls: Option<TlsFiles>,
}

/// The PEM files of `--tls-cert` and `--tls-key`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// Runs the server on `listener` until `shutdown` completes, then shuts down
/// gracefully: stop accepting and firing, let runs finish within the grace period,
/// interrupt the rest.
///
/// Prints `wasmcron listening on http://<addr>` (`https://` with TLS) on stdout once it
/// serves.
///
/// # Errors
/// If the data directory, the database or a plugin cannot be opened; if the address is
/// not a loopback one and no API token exists (unless `insecure_no_auth`); if the TLS
/// files cannot be used.
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
    let addr = listener.local_addr()?;
    let auth = access_control(&config, &store, addr).await?;
    let tls = match &config.tls {
        Some(files) => Some(crate::tls::server_config(&files.cert, &files.key)?),
        None => None,
    };
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
    let mut scheduler_config = config.scheduler.clone();
    scheduler_config.host.address = addr.to_string();
    let scheduler = Scheduler::new(store.clone(), runtime, plugins.clone(), scheduler_config);
    scheduler.start().await.context("starting the scheduler")?;
    // On a database other hosts share, their changes reach this host's mirror, timer
    // and plugins.
    let stop_following = tokio_util::sync::CancellationToken::new();
    let following = crate::follow::Follower::new(store.clone(), scheduler.clone(), plugins.clone())
        .spawn(stop_following.clone());
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
    let firing = scheduler.clone();
    let app = api::app(service, auth, config.api.clone());
    let app = axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
        ClientAddr,
    >(app);
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("wasmcron listening on {scheme}://{addr}");
    tracing::info!(
        %addr,
        data_dir = %config.data_dir.display(),
        database = %database.display(),
        "serving"
    );
    // Another host that found this one dead (its heartbeat stopped for a lease) has
    // adopted its work: it stops as if told to.
    // Firing stops (and unstarted work goes back to the other hosts) as soon as the
    // shutdown is asked for, before the connections drain.
    let shutdown = async move {
        tokio::select! {
            () = shutdown => {}
            () = firing.lost() => {}
        }
        events.close();
        firing.stop_firing().await;
    };
    let served = match tls {
        Some(tls) => {
            axum::serve(crate::tls::TlsListener::new(listener, tls)?, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    };
    served.context("serving HTTP")?;
    tracing::info!(
        grace_s = config.shutdown_grace.as_secs_f64(),
        "shutting down: no more fires; waiting for runs in flight"
    );
    stop_following.cancel();
    if let Some(following) = following {
        let _ = following.await;
    }
    scheduler.shutdown(config.shutdown_grace).await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The access state for serving on `addr`: on a loopback address the API is open until
/// a token exists; on any other, credentials are always asked for, and the server does
/// not start without a token unless told `--insecure-no-auth`.
async fn access_control(
    config: &ServerConfig,
    store: &Store,
    addr: std::net::SocketAddr,
) -> anyhow::Result<Arc<Auth>> {
    let loopback = addr.ip().is_loopback();
    let exposed = !loopback && !config.insecure_no_auth;
    if exposed && !store.any_token().await.context("reading the API tokens")? {
        anyhow::bail!(
            "refusing to serve on {addr} without access control: no API token exists, and \
             anyone who reaches this address could upload and run code. Create the first \
             admin token with `wasmcron token create --name admin --role admin --data-dir {}`, \
             listen on a loopback address (--listen 127.0.0.1:8888), or pass \
             --insecure-no-auth to serve an open API anyway",
            config.data_dir.display()
        );
    }
    if !loopback && config.insecure_no_auth {
        tracing::warn!(%addr, "--insecure-no-auth: the API is open to anyone who reaches this address until a token exists");
    }
    let auth = AuthConfig {
        always_required: exposed,
        secure_cookies: config.tls.is_some(),
        ..config.auth.clone()
    };
    Ok(Arc::new(Auth::new(store.clone(), auth)))
}
