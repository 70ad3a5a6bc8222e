//! The `wasmcron` binary.
//!
//! - `wasmcron` / `wasmcron serve`: the scheduler and its REST API on 127.0.0.1:8888.
//! - `wasmcron new my-jobs`: a plugin project to start from.
//! - `wasmcron run plugin.wasm --class AwesomeJob --args '["a"]'`: run a class once.
//! - `wasmcron describe plugin.wasm`: list a plugin's classes.
//! - `wasmcron dev my-jobs`: rebuild and re-run a project at every change.
//! - `wasmcron plugin push|list|rm`: manage a running server's plugins.
//! - `wasmcron job …`, `wasmcron exec …`: its jobs and executions (docs/cli.md).
//! - `wasmcron token create|list|revoke`: API tokens (docs/security.md).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use wasmcron::ApiConfig;
use wasmcron::Database;
use wasmcron::HostConfig;
use wasmcron::OptionLimits;
use wasmcron::RetentionConfig;
use wasmcron::SchedulerConfig;
use wasmcron::ServerConfig;
use wasmcron::{AuthConfig, TlsFiles};
use wasmcron::{ClassLimits, EngineOptions, HttpLimitCaps, ResolvedHttpLimits, RunLimits, Vault};
use wasmcron::{CompileOptions, PluginLimits};

#[derive(Debug, Parser)]
#[command(
    name = "wasmcron",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("WASMCRON_GIT_COMMIT"), ")"),
    about = "A job scheduler for sandboxed WebAssembly jobs"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `serve`'s options, when no command is given.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the scheduler and its REST API (the default command).
    Serve(ServeArgs),
    /// Create a plugin project that builds as it is: one job class, a test, a README.
    New(wasmcron::commands::NewArgs),
    /// Run one class of a plugin once and print its result and output.
    Run(wasmcron::commands::RunArgs),
    /// Build a project made by `new`, run it with its example arguments (and install
    /// it with --server), again at every change of its sources, until Ctrl-C.
    Dev(wasmcron::commands::DevArgs),
    /// Manage the plugins of a running server.
    Plugin {
        #[command(subcommand)]
        command: wasmcron::commands::PluginCommand,
        /// The server's base URL.
        #[arg(
            long,
            env = "WASMCRON_SERVER",
            default_value = "http://127.0.0.1:8888",
            global = true
        )]
        server: String,
        /// The API token to send (`Authorization: Bearer`), when the server asks for one.
        #[arg(long, env = "WASMCRON_TOKEN", global = true, hide_env_values = true)]
        token: Option<String>,
    },
    /// Manage the jobs of a running server: list, show, add, edit, pause, resume, run, rm.
    Job(wasmcron::commands::JobArgs),
    /// The executions (runs) of a running server: list, show, logs, cancel.
    Exec(wasmcron::commands::ExecArgs),
    /// API tokens, on the server's data directory: create (the first admin token of a
    /// fresh install too), list, revoke.
    Token(wasmcron::commands::TokenCommand),
    /// Attach a manifest (the classes, as JSON) to a plain WASI command module, making
    /// it a plugin: for toolchains that cannot emit the custom section themselves.
    Manifest {
        /// The core module (wasm32-wasip1, exporting `_start`).
        module: PathBuf,
        /// The manifest: `{"classes": [{"name", "notes", "arguments", "example_arguments"}]}`.
        manifest: PathBuf,
        /// Where to write the plugin (default: over the module).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Compile a plugin read on stdin to an artifact on stdout: the server runs this in
    /// a child process per upload, which it kills at the compile deadline.
    #[command(name = "compile-plugin", hide = true)]
    CompilePlugin {
        /// The engine's settings, as the server wrote them.
        engine: String,
    },
    /// Print a plugin's job classes with their notes and arguments.
    Describe {
        /// The plugin: a `.wasm` component.
        plugin: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "WASMCRON_LISTEN", default_value = "127.0.0.1:8888")]
    listen: SocketAddr,
    /// Directory of the SQLite database (unless --database-url names another) and the
    /// compiled-plugin cache.
    #[arg(long, env = "WASMCRON_DATA_DIR", default_value = "./wasmcron-data")]
    data_dir: PathBuf,
    /// The database: postgres://user[:password]@host[:port]/database, or
    /// sqlite:///path/to/file.db. Default: SQLite in --data-dir (wasmcron.db).
    #[arg(long, env = "WASMCRON_DATABASE_URL")]
    database_url: Option<Database>,
    /// Install every `<name>.wasm` in this directory as plugin `<name>` at start.
    #[arg(long, env = "WASMCRON_PLUGIN_DIR")]
    plugin_dir: Option<PathBuf>,
    /// Concurrent scheduled runs of one job; later fires are skipped.
    #[arg(long, env = "WASMCRON_MAX_INSTANCES", default_value_t = 3)]
    max_instances: usize,
    /// A fire missed (e.g. during downtime) by more than this many seconds is not run.
    #[arg(long, env = "WASMCRON_MISFIRE_GRACE_SECONDS", default_value_t = 3600)]
    misfire_grace_seconds: u64,
    /// Run several missed fires of a job once (true) or each (false).
    #[arg(long, env = "WASMCRON_COALESCE", default_value_t = true, action = clap::ArgAction::Set)]
    coalesce: bool,
    /// Runs at once across all jobs; more wait for a slot.
    #[arg(long, env = "WASMCRON_MAX_CONCURRENT_RUNS", default_value_t = 128)]
    max_concurrent_runs: usize,
    /// Wall-clock limit of a run, in seconds.
    #[arg(long, env = "WASMCRON_TIMEOUT_SECONDS", default_value_t = 300)]
    timeout_seconds: u64,
    /// Memory limit of a run, in MiB.
    #[arg(long, env = "WASMCRON_MEMORY_LIMIT_MB", default_value_t = 256)]
    memory_limit_mb: usize,
    /// The largest `timeout_seconds` a job may ask for.
    #[arg(long, env = "WASMCRON_MAX_TIMEOUT_SECONDS", default_value_t = 86_400)]
    max_timeout_seconds: u64,
    /// The largest `memory_limit_mb` a job may ask for (also sizes the memory pool).
    #[arg(long, env = "WASMCRON_MAX_MEMORY_LIMIT_MB", default_value_t = 4096)]
    max_memory_limit_mb: u64,
    /// Meter fuel, so that jobs can set a `fuel` budget (costs a little on every run).
    #[arg(long, env = "WASMCRON_FUEL_METERING")]
    fuel_metering: bool,
    /// Delete executions and audit entries older than this many days (0 keeps them).
    #[arg(long, env = "WASMCRON_RETENTION_DAYS", default_value_t = 30)]
    retention_days: u64,
    /// Keep at most this many finished executions per job (0: no bound).
    #[arg(long, env = "WASMCRON_RETENTION_PER_JOB", default_value_t = 10_000)]
    retention_per_job: u64,
    /// Bytes of stdout and of stderr kept per run.
    #[arg(long, env = "WASMCRON_OUTPUT_LIMIT_BYTES", default_value_t = 256 * 1024)]
    output_limit_bytes: usize,
    /// The largest result a run may return, in bytes (a larger one fails the run); error
    /// and failure messages are cut to it.
    #[arg(long, env = "WASMCRON_MAX_RESULT_BYTES", default_value_t = 1 << 20)]
    max_result_bytes: usize,
    /// The most job classes one plugin may have.
    #[arg(long, env = "WASMCRON_MAX_PLUGIN_CLASSES", default_value_t = 1000)]
    max_plugin_classes: usize,
    /// The most arguments one job class may document.
    #[arg(long, env = "WASMCRON_MAX_CLASS_ARGUMENTS", default_value_t = 100)]
    max_class_arguments: usize,
    /// The largest name, notes, argument docs (together), example arguments and
    /// arguments schema of a job class, each, in bytes.
    #[arg(long, env = "WASMCRON_MAX_CLASS_DOC_BYTES", default_value_t = 64 << 10)]
    max_class_doc_bytes: usize,
    /// The longest job name, in characters.
    #[arg(long, env = "WASMCRON_MAX_JOB_NAME_CHARS", default_value_t = 200)]
    max_job_name_chars: usize,
    /// On shutdown, how long runs in flight may take to finish before they are
    /// interrupted, in seconds.
    #[arg(long, env = "WASMCRON_SHUTDOWN_GRACE_SECONDS", default_value_t = 30)]
    shutdown_grace_seconds: u64,
    /// The most core instances one instantiation of a plugin may take.
    #[arg(long, env = "WASMCRON_MAX_CORE_INSTANCES_PER_COMPONENT", default_value_t = PluginLimits::default().max_core_instances)]
    max_core_instances_per_component: u32,
    /// The most memories one instantiation of a plugin may define.
    #[arg(long, env = "WASMCRON_MAX_MEMORIES_PER_COMPONENT", default_value_t = PluginLimits::default().max_memories)]
    max_memories_per_component: u32,
    /// The most tables one instantiation of a plugin may define.
    #[arg(long, env = "WASMCRON_MAX_TABLES_PER_COMPONENT", default_value_t = PluginLimits::default().max_tables)]
    max_tables_per_component: u32,
    /// The most functions one core module of a plugin may define.
    #[arg(long, env = "WASMCRON_MAX_FUNCTIONS_PER_MODULE", default_value_t = PluginLimits::default().max_functions)]
    max_functions_per_module: u32,
    /// The most locals one function of a plugin may declare.
    #[arg(long, env = "WASMCRON_MAX_LOCALS_PER_FUNCTION", default_value_t = PluginLimits::default().max_locals)]
    max_locals_per_function: u32,
    /// The most bytes of function bodies in a plugin, all modules together.
    #[arg(long, env = "WASMCRON_MAX_CODE_BYTES", default_value_t = PluginLimits::default().max_code_bytes)]
    max_code_bytes: u64,
    /// The CPU time compiling one plugin may take, in seconds (all compiler threads
    /// together; ten times it in wall-clock time); the compile is stopped then.
    #[arg(long, env = "WASMCRON_MAX_COMPILE_SECONDS", default_value_t = 60)]
    max_compile_seconds: u64,
    /// The share of each instance pool (core instances, memories, tables) the runs of
    /// one plugin may hold at once, in percent; more of its runs wait.
    #[arg(long, env = "WASMCRON_PLUGIN_POOL_SHARE_PERCENT", default_value_t = 50)]
    plugin_pool_share_percent: u32,
    /// The memory all runs together may reserve, in MiB: each run reserves its memory
    /// limit (per memory it defines) and waits while that would exceed the budget.
    /// Default: half of the machine's memory, at most 64 GiB.
    #[arg(long, env = "WASMCRON_MEMORY_BUDGET_MB")]
    memory_budget_mb: Option<u64>,
    /// The largest plugin upload accepted, in bytes.
    #[arg(long, env = "WASMCRON_MAX_UPLOAD_BYTES", default_value_t = 64 << 20)]
    max_upload_bytes: usize,
    /// An origin allowed to call the API from a browser (repeatable; `*` for any).
    #[arg(
        long = "cors-origin",
        env = "WASMCRON_CORS_ORIGINS",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// A file of 32 random bytes (`head -c 32 /dev/urandom > key`) or 64 hex digits:
    /// the key secrets are encrypted with. Without it, the server stores no secrets.
    #[arg(long, env = "WASMCRON_SECRET_KEY_FILE")]
    secret_key_file: Option<PathBuf>,
    /// The most bytes of keys and values one job's state may hold.
    #[arg(long, env = "WASMCRON_MAX_STATE_BYTES", default_value_t = 1 << 20)]
    max_state_bytes: usize,
    /// The longest `http_limits.timeout_seconds` a job may set (default for a job:
    /// 30, or this if smaller).
    #[arg(long, env = "WASMCRON_MAX_HTTP_TIMEOUT_SECONDS", default_value_t = 600)]
    max_http_timeout_seconds: u64,
    /// The largest `http_limits.max_response_bytes` a job may set (default for a job:
    /// 10 MiB, or this if smaller).
    #[arg(long, env = "WASMCRON_MAX_HTTP_RESPONSE_BYTES", default_value_t = 256 << 20)]
    max_http_response_bytes: u64,
    /// The largest `http_limits.max_requests` a job may set (default for a job: 100,
    /// or this if smaller).
    #[arg(long, env = "WASMCRON_MAX_HTTP_REQUESTS", default_value_t = 10_000)]
    max_http_requests: u32,
    /// The largest `http_limits.max_total_bytes` a job may set (default for a job:
    /// 50 MiB, or this if smaller).
    #[arg(long, env = "WASMCRON_MAX_HTTP_TOTAL_BYTES", default_value_t = 1 << 30)]
    max_http_total_bytes: u64,
    /// How log lines are written to stderr: `text` for people, `json` (one object a
    /// line) for log shippers.
    #[arg(long, env = "WASMCRON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Label executions and run durations by job in `/metrics` too (a series per job).
    #[arg(long, env = "WASMCRON_METRICS_PER_JOB")]
    metrics_per_job: bool,
    /// Serve an open API on a non-loopback --listen address when no API token exists
    /// (without it the server refuses to start there).
    #[arg(long, env = "WASMCRON_INSECURE_NO_AUTH")]
    insecure_no_auth: bool,
    /// Serve `/metrics` without credentials even when auth is on (by default it needs a
    /// viewer token, like the API).
    #[arg(long, env = "WASMCRON_PUBLIC_METRICS")]
    public_metrics: bool,
    /// Failed authentication attempts per client address and minute; more are answered
    /// 429 until the minute is over.
    #[arg(long, env = "WASMCRON_AUTH_FAILURES_PER_MINUTE", default_value_t = 10)]
    auth_failures_per_minute: u32,
    /// A web console session ends after this many minutes without a request.
    #[arg(long, env = "WASMCRON_SESSION_IDLE_MINUTES", default_value_t = 720)]
    session_idle_minutes: u64,
    /// This host's name among the hosts sharing a database (`GET /api/v1/hosts`, and
    /// each execution's `host_id`): unique among live hosts. Default: the machine's
    /// hostname.
    #[arg(long, env = "WASMCRON_HOST_NAME")]
    host_name: Option<String>,
    /// A host whose heartbeat is older than this many seconds is dead: a live host
    /// takes over its work (runs it had started fail; fires it had claimed run).
    #[arg(long, env = "WASMCRON_HOST_LEASE_SECONDS", default_value_t = 10)]
    host_lease_seconds: u64,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, env = "WASMCRON_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "WASMCRON_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// The format of the server's log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

impl ServeArgs {
    /// The defaults and maxima of jobs' outbound HTTP: a job's default never exceeds
    /// the server's maximum.
    fn http_limits(&self) -> anyhow::Result<HttpLimitCaps> {
        if self.max_http_timeout_seconds == 0
            || self.max_http_response_bytes == 0
            || self.max_http_requests == 0
            || self.max_http_total_bytes == 0
        {
            anyhow::bail!("the --max-http-… limits must be at least 1");
        }
        let max = ResolvedHttpLimits {
            timeout_seconds: self.max_http_timeout_seconds,
            max_response_bytes: self.max_http_response_bytes,
            max_requests: self.max_http_requests,
            max_total_bytes: self.max_http_total_bytes,
        };
        let builtin = HttpLimitCaps::default().default;
        Ok(HttpLimitCaps {
            default: ResolvedHttpLimits {
                timeout_seconds: builtin.timeout_seconds.min(max.timeout_seconds),
                max_response_bytes: builtin.max_response_bytes.min(max.max_response_bytes),
                max_requests: builtin.max_requests.min(max.max_requests),
                max_total_bytes: builtin.max_total_bytes.min(max.max_total_bytes),
            },
            max,
        })
    }

    fn into_config(self) -> anyhow::Result<ServerConfig> {
        if self.max_concurrent_runs == 0 || self.max_instances == 0 {
            anyhow::bail!("--max-concurrent-runs and --max-instances must be at least 1");
        }
        if self.timeout_seconds == 0 {
            anyhow::bail!("--timeout-seconds must be at least 1");
        }
        if self.memory_limit_mb as u64 > self.max_memory_limit_mb
            || self.timeout_seconds > self.max_timeout_seconds
        {
            anyhow::bail!(
                "the default --memory-limit-mb and --timeout-seconds must not exceed their --max-… bounds"
            );
        }
        if self.max_result_bytes == 0
            || self.max_plugin_classes == 0
            || self.max_class_doc_bytes == 0
            || self.max_job_name_chars == 0
        {
            anyhow::bail!(
                "--max-result-bytes, --max-plugin-classes, --max-class-doc-bytes and \
                 --max-job-name-chars must be at least 1"
            );
        }
        if self.host_lease_seconds == 0
            || self
                .host_name
                .as_deref()
                .is_some_and(|n| n.trim().is_empty() || n.contains('@'))
        {
            anyhow::bail!(
                "--host-lease-seconds must be at least 1, and --host-name must not be empty \
                 nor contain '@'"
            );
        }
        if self.auth_failures_per_minute == 0 || self.session_idle_minutes == 0 {
            anyhow::bail!(
                "--auth-failures-per-minute and --session-idle-minutes must be at least 1"
            );
        }
        if self.max_compile_seconds == 0
            || !(1..=100).contains(&self.plugin_pool_share_percent)
            || self.memory_budget_mb == Some(0)
        {
            anyhow::bail!(
                "--max-compile-seconds and --memory-budget-mb must be at least 1, \
                 --plugin-pool-share-percent from 1 to 100"
            );
        }
        let memory_budget_mb = self
            .memory_budget_mb
            .unwrap_or_else(default_memory_budget_mb);
        if self.memory_limit_mb as u64 > memory_budget_mb {
            anyhow::bail!(
                "the default --memory-limit-mb ({}) exceeds --memory-budget-mb ({memory_budget_mb})",
                self.memory_limit_mb
            );
        }
        let http_limits = self.http_limits()?;
        let secrets = match &self.secret_key_file {
            Some(path) => Some(Arc::new(Vault::from_key_file(path)?)),
            None => None,
        };
        let memory_bytes = self.memory_limit_mb << 20;
        let max_memory_bytes = usize::try_from(self.max_memory_limit_mb)? << 20;
        let engine = EngineOptions {
            max_concurrent_runs: u32::try_from(self.max_concurrent_runs)?,
            max_memory_bytes: max_memory_bytes.max(64 << 20),
            fuel_metering: self.fuel_metering,
            class_limits: ClassLimits {
                max_classes: self.max_plugin_classes,
                max_arguments: self.max_class_arguments,
                max_doc_bytes: self.max_class_doc_bytes,
            },
            plugin_limits: PluginLimits {
                max_core_instances: self.max_core_instances_per_component,
                max_memories: self.max_memories_per_component,
                max_tables: self.max_tables_per_component,
                max_functions: self.max_functions_per_module,
                max_locals: self.max_locals_per_function,
                max_code_bytes: self.max_code_bytes,
            },
            compile: CompileOptions {
                // Each upload compiles in a child process of this binary, killed at
                // the deadline.
                exe: Some(std::env::current_exe()?),
                deadline: Duration::from_secs(self.max_compile_seconds),
            },
            memory_budget_bytes: Some(memory_budget_mb << 20),
            plugin_pool_share_percent: self.plugin_pool_share_percent,
        };
        Ok(ServerConfig {
            data_dir: self.data_dir,
            database: self.database_url,
            plugin_dir: self.plugin_dir,
            scheduler: SchedulerConfig {
                max_instances: self.max_instances,
                misfire_grace: Duration::from_secs(self.misfire_grace_seconds),
                coalesce: self.coalesce,
                max_concurrent_runs: self.max_concurrent_runs,
                run_limits: RunLimits {
                    timeout: Duration::from_secs(self.timeout_seconds),
                    memory_bytes,
                    output_bytes: self.output_limit_bytes,
                    result_bytes: self.max_result_bytes,
                    ..RunLimits::default()
                },
                retention: RetentionConfig {
                    max_age: (self.retention_days > 0)
                        .then(|| Duration::from_secs(self.retention_days * 86_400)),
                    max_per_job: (self.retention_per_job > 0).then_some(self.retention_per_job),
                    ..RetentionConfig::default()
                },
                http_limits: http_limits.clone(),
                max_state_bytes: self.max_state_bytes,
                secrets,
                metrics_per_job: self.metrics_per_job,
                host: HostConfig {
                    name: self.host_name.unwrap_or_else(|| HostConfig::default().name),
                    address: self.listen.to_string(),
                    lease: Duration::from_secs(self.host_lease_seconds),
                },
            },
            option_limits: OptionLimits {
                max_timeout_seconds: self.max_timeout_seconds,
                max_memory_limit_mb: self.max_memory_limit_mb,
                fuel_metering: self.fuel_metering,
                http: http_limits,
                max_name_chars: self.max_job_name_chars,
                memory_budget_mb: Some(memory_budget_mb),
            },
            shutdown_grace: Duration::from_secs(self.shutdown_grace_seconds),
            api: ApiConfig {
                cors_origins: self.cors_origins,
                max_upload_bytes: self.max_upload_bytes,
            },
            engine,
            auth: AuthConfig {
                public_metrics: self.public_metrics,
                failures_per_minute: self.auth_failures_per_minute,
                session_idle: Duration::from_secs(self.session_idle_minutes * 60),
                ..AuthConfig::default()
            },
            insecure_no_auth: self.insecure_no_auth,
            tls: self
                .tls_cert
                .zip(self.tls_key)
                .map(|(cert, key)| TlsFiles { cert, key }),
        })
    }
}

/// Half of the machine's memory (`MemTotal`), at most 64 GiB; 4 GiB when it cannot be
/// read.
fn default_memory_budget_mb() -> u64 {
    let total_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        });
    total_kib.map_or(4096, |kib| (kib / 1024 / 2).clamp(64, 64 << 10))
}

async fn serve(args: ServeArgs) -> anyhow::Result<i32> {
    let listen = args.listen;
    let config = args.into_config()?;
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        anyhow::anyhow!("cannot listen on {listen}: {e} (choose another address with --listen)")
    })?;
    wasmcron::serve(listener, config, shutdown_signal()).await?;
    Ok(0)
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}

/// Log lines go to stderr, filtered by `RUST_LOG` (default: the server's INFO lines).
/// Text is coloured only on a terminal (and not with `NO_COLOR` set); JSON puts each
/// event's fields at the top level and the span it was written in (a run's `job_id` and
/// `execution_id`) under `span`.
fn init_logging(format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "wasmcron=info,tower_http=info".into()),
        )
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_format = match &cli.command {
        None => cli.serve.log_format,
        Some(Command::Serve(args)) => args.log_format,
        Some(_) => LogFormat::Text,
    };
    init_logging(log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wasmcron: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            None => serve(cli.serve).await,
            Some(Command::Serve(args)) => serve(args).await,
            Some(Command::New(args)) => wasmcron::commands::new_project(&args).map(|root| {
                println!(
                    "created {} — its README.md says how to build, run and install it",
                    root.display()
                );
                0
            }),
            Some(Command::Run(args)) => wasmcron::commands::run(args).await,
            Some(Command::Dev(args)) => wasmcron::commands::dev(args).await,
            Some(Command::Plugin {
                command,
                server,
                token,
            }) => wasmcron::commands::plugin(command, &server, token.as_deref()).await,
            Some(Command::Token(command)) => wasmcron::commands::token(command).await,
            Some(Command::Job(args)) => wasmcron::commands::job(args).await,
            Some(Command::Exec(args)) => wasmcron::commands::exec(args).await,
            Some(Command::Manifest {
                module,
                manifest,
                output,
            }) => {
                let output = output.unwrap_or_else(|| module.clone());
                wasmcron::commands::attach_manifest(&module, &manifest, &output).map(|()| 0)
            }
            Some(Command::CompilePlugin { engine }) => {
                Ok(wasmcron::commands::compile_plugin_command(&engine))
            }
            Some(Command::Describe { plugin, json }) => wasmcron::commands::describe(&plugin, json)
                .await
                .map(|()| 0),
        }
    });
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("wasmcron: {e:#}");
            ExitCode::from(2)
        }
    }
}
