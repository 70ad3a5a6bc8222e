//! The plugin author's commands: `wasmcron run` and `wasmcron describe`, no server
//! needed.

/// Writes a line to stdout; a closed pipe (`wasmcron run … | head`) is not an error
/// (`println!` would panic on it), any other failure is reported on stderr once.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(&format!($($arg)*))
    };
}
pub(crate) use outln;

/// See [`outln!`].
pub fn write_stdout(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}")
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("wasmcron: cannot write to stdout: {e}");
    }
}

use crate::job::{AllowList, ExecutionState, HttpLimitCaps, check_variable_name};
use crate::runtime::{
    EngineOptions, Grants, HttpGrant, RunContext, RunLimits, RunRequest, Runtime,
};
use anyhow::Context;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Options of `wasmcron run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The plugin: a `.wasm` component.
    pub plugin: std::path::PathBuf,
    /// The job class to run (may be left out when the plugin has one class).
    #[arg(long)]
    pub class: Option<String>,
    /// The job's `pub_args`, as JSON (an array or an object).
    #[arg(long, default_value = "[]", conflicts_with = "example")]
    pub args: String,
    /// Run with the class's example arguments (what `wasmcron describe` shows).
    #[arg(long)]
    pub example: bool,
    /// Where compiled plugins are kept, so that the next run of the same plugin starts
    /// at once (default: `wasmcron/artifacts` in the user's cache directory).
    #[arg(long, env = "WASMCRON_CACHE_DIR", conflicts_with = "no_cache")]
    pub cache_dir: Option<std::path::PathBuf>,
    /// Compile the plugin every time; keep nothing on disk.
    #[arg(long)]
    pub no_cache: bool,
    /// Wall-clock limit, in seconds.
    #[arg(long, default_value_t = 300.0)]
    pub timeout: f64,
    /// Memory limit, in MiB.
    #[arg(long, default_value_t = 256)]
    pub memory_mb: usize,
    /// CPU budget in fuel units (turns fuel metering on).
    #[arg(long)]
    pub fuel: Option<u64>,
    /// The largest result (or error message) kept, in bytes; a larger result fails
    /// the run, as on the server.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_result_bytes: usize,
    /// Print the whole report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// An origin the run may send HTTP requests to, as in a job's `allowed_hosts`
    /// (repeatable), e.g. `--allow-host https://api.example.com`.
    #[arg(long = "allow-host", value_name = "ORIGIN")]
    pub allow_hosts: Vec<String>,
    /// An environment variable for the run, `KEY=VALUE` (repeatable), as a job's `env`.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// A secret for the run, taken from this process's environment variable of the same
    /// name and redacted from the output (repeatable), as a job's `secrets`.
    #[arg(long = "secret", value_name = "NAME")]
    pub secrets: Vec<String>,
}

/// What `wasmcron run` grants from its flags: the same doors a job's options open.
fn grants_of(args: &RunArgs) -> anyhow::Result<Grants> {
    let mut grants = Grants::default();
    if !args.allow_hosts.is_empty() {
        grants.http = Some(HttpGrant {
            allow: AllowList::parse(&args.allow_hosts).map_err(anyhow::Error::msg)?,
            limits: HttpLimitCaps::default().default,
        });
    }
    for pair in &args.env {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("--env {pair}: write KEY=VALUE"))?;
        check_variable_name("--env", key).map_err(anyhow::Error::msg)?;
        grants.env.push((key.to_owned(), value.to_owned()));
    }
    for name in &args.secrets {
        check_variable_name("--secret", name).map_err(anyhow::Error::msg)?;
        let value = std::env::var(name)
            .with_context(|| format!("--secret {name}: set the environment variable {name}"))?;
        grants.redact.push(value.clone());
        grants.env.push((name.clone(), value));
    }
    Ok(grants)
}

/// Runs one class once and prints its result and captured output. Returns the process
/// exit code: 0 when the run succeeded, 1 otherwise.
pub async fn run(args: RunArgs) -> anyhow::Result<i32> {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        anyhow::bail!("--timeout must be a positive number of seconds");
    }
    let grants = grants_of(&args)?;
    let runtime = Runtime::new(&EngineOptions {
        max_concurrent_runs: 4,
        max_memory_bytes: (args.memory_mb << 20).max(64 << 20),
        fuel_metering: args.fuel.is_some(),
        ..EngineOptions::default()
    })?;
    let cache_dir = if args.no_cache {
        None
    } else {
        args.cache_dir.clone().or_else(default_cache_dir)
    };
    let plugin = load(&runtime, &args.plugin, cache_dir.as_deref()).await?;
    let class = pick_class(&plugin, args.class.as_deref())?;
    let pub_args = if args.example {
        class.example_arguments.clone()
    } else {
        args.args.clone()
    };
    let parsed: serde_json::Value = serde_json::from_str(&pub_args)
        .with_context(|| format!("the arguments are not JSON: {pub_args}"))?;
    if !(parsed.is_array() || parsed.is_object()) {
        anyhow::bail!("the arguments must be a JSON array or object, got {pub_args}");
    }
    let class = class.name.clone();
    // A WASI command's stdout is its result when it succeeds: printed once, as the result.
    let stdout_is_result = plugin.world_version == "wasi-command";
    let limits = RunLimits {
        timeout: Duration::from_secs_f64(args.timeout),
        memory_bytes: args.memory_mb << 20,
        fuel: args.fuel,
        result_bytes: args.max_result_bytes,
        ..RunLimits::default()
    };
    let report = runtime
        .run(RunRequest {
            plugin: Arc::new(plugin),
            class,
            args: parsed.to_string(),
            context: RunContext {
                scheduled_time: crate::time::format_rfc3339(chrono::Utc::now()),
                attempt: 1,
                ..RunContext::default()
            },
            limits,
            cancel: CancellationToken::new(),
            grants,
        })
        .await;
    let outcome = &report.outcome;
    let (state, code, text) = (
        outcome.state(),
        outcome.code(),
        outcome.result_text_within(args.max_result_bytes),
    );
    if args.json {
        let json = serde_json::json!({
            "state": state.as_str(),
            "code": code,
            "result": text,
            "logs": report.logs,
            "progress": report.progress,
            "stdout": report.stdout,
            "stderr": report.stderr,
            "duration_ms": report.duration.as_secs_f64() * 1000.0,
            "peak_memory_bytes": report.peak_memory_bytes,
            "fuel_consumed": report.fuel_consumed,
            "http_requests": report.http_requests,
        });
        outln!("{json:#}");
    } else {
        outln!(
            "state: {state} ({:.3} ms)",
            report.duration.as_secs_f64() * 1000.0
        );
        if let Some(code) = code {
            outln!("code: {code}");
        }
        outln!("result:\n{text}");
        if !report.logs.is_empty() {
            outln!("logs:");
            for line in &report.logs {
                outln!("  [{}] {}", line.level, line.message);
            }
        }
        if let Some(p) = &report.progress {
            outln!("progress: {}% {}", p.percent, p.message);
        }
        if !report.http_requests.is_empty() {
            outln!("http requests:");
            for r in &report.http_requests {
                let status = r.status.map_or("-".to_owned(), |s| s.to_string());
                let why = r.denied.as_deref().or(r.error.as_deref()).unwrap_or("");
                outln!(
                    "  {} {} {status} {} bytes {} ms {why}",
                    r.method,
                    r.url,
                    r.bytes,
                    r.ms
                );
            }
        }
        let stdout_shown = stdout_is_result && state == ExecutionState::Succeeded;
        if !report.stdout.is_empty() && !stdout_shown {
            outln!("stdout:\n{}", report.stdout.trim_end());
        }
        // A crash's message quotes what it needs of stderr (the end, or a Python
        // traceback): print each text once.
        let stderr = report.stderr.trim_end();
        if code == Some("trap") && !stderr.is_empty() {
            outln!(
                "stderr: {} bytes, quoted in the result above (--json shows it whole)",
                stderr.len()
            );
        } else if !stderr.is_empty() {
            outln!("stderr:\n{stderr}");
        }
    }
    Ok(if state == ExecutionState::Succeeded {
        0
    } else {
        1
    })
}

/// Prints a plugin's classes with their notes and arguments.
pub async fn describe(path: &Path, json: bool) -> anyhow::Result<()> {
    let runtime = Runtime::new(&EngineOptions {
        max_concurrent_runs: 2,
        ..EngineOptions::default()
    })?;
    let plugin = load(&runtime, path, None).await?;
    if json {
        outln!(
            "{:#}",
            serde_json::json!({
                "sha256": plugin.sha256,
                "size": plugin.size,
                "world_version": plugin.world_version,
                "classes": plugin.classes,
            })
        );
        return Ok(());
    }
    outln!(
        "{} (sha256 {}, {} bytes, world {})",
        path.display(),
        plugin.sha256,
        plugin.size,
        plugin.world_version
    );
    for class in &plugin.classes {
        outln!("\n{}\n  {}", class.name, class.notes);
        for arg in &class.arguments {
            outln!("  - {} ({}): {}", arg.name, arg.type_, arg.description);
        }
        outln!("  example arguments: {}", class.example_arguments);
        if let Some(schema) = &class.arguments_schema {
            outln!("  arguments schema: {}", schema.schema());
        }
    }
    Ok(())
}

/// Loads a plugin file, from its compiled artifact in `cache_dir` when one is there
/// (and leaving one there when not).
async fn load(
    runtime: &Runtime,
    path: &Path,
    cache_dir: Option<&Path>,
) -> anyhow::Result<crate::runtime::Plugin> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let cache_dir = cache_dir.filter(|dir| match std::fs::create_dir_all(dir) {
        Ok(()) => true,
        Err(e) => {
            eprintln!(
                "wasmcron: not caching compiled plugins in {}: {e}",
                dir.display()
            );
            false
        }
    });
    if let Some(dir) = cache_dir {
        let artifact = runtime.artifact_path(dir, &crate::runtime::sha256_hex(&bytes));
        if !artifact.exists() {
            // Components bundling an interpreter take seconds to compile: say why the
            // first run waits, and that the next will not.
            eprintln!(
                "wasmcron: compiling {} ({} KiB); the compiled plugin is kept in {} for the next runs",
                path.display(),
                bytes.len() / 1024,
                dir.display()
            );
        }
    }
    let plugin = runtime
        .load_plugin(bytes.into(), cache_dir)
        .await
        .with_context(|| format!("loading {}", path.display()))?;
    if let Some(dir) = cache_dir {
        runtime.cache_artifact(&plugin, dir).await;
    }
    Ok(plugin)
}

/// The class to run: the one named, or the plugin's only one.
fn pick_class<'p>(
    plugin: &'p crate::runtime::Plugin,
    name: Option<&str>,
) -> anyhow::Result<&'p crate::runtime::JobClass> {
    let names = || {
        plugin
            .classes
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(name) => plugin
            .classes
            .iter()
            .find(|c| c.name == name)
            .with_context(|| format!("the plugin has no class '{name}'; its classes: {}", names())),
        None => match plugin.classes.as_slice() {
            [only] => Ok(only),
            _ => anyhow::bail!(
                "the plugin has several classes: choose one with --class ({})",
                names()
            ),
        },
    }
}

/// `wasmcron/artifacts` in the user's cache directory (`$XDG_CACHE_HOME`, else
/// `~/.cache`).
fn default_cache_dir() -> Option<std::path::PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
    Some(base.join("wasmcron").join("artifacts"))
}

/// `wasmcron manifest`: attaches a `wasmcron-manifest` section (the classes of a plain
/// WASI command plugin) to a core module built by any toolchain.
pub fn attach_manifest(module: &Path, manifest: &Path, output: &Path) -> anyhow::Result<()> {
    let wasm = std::fs::read(module).with_context(|| format!("reading {}", module.display()))?;
    let json =
        std::fs::read(manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let out = crate::runtime::attach_manifest(&wasm, &json)
        .with_context(|| format!("attaching {} to {}", manifest.display(), module.display()))?;
    crate::fsutil::write_atomically(output, &out)?;
    outln!(
        "{} ({} bytes, with its wasmcron-manifest)",
        output.display(),
        out.len()
    );
    Ok(())
}
