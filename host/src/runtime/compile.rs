//! Compiling a plugin within a deadline that really stops the work.
//!
//! wasmtime compiles with Cranelift on rayon threads and cannot be interrupted inside
//! a function: a thread given up on at a deadline would keep compiling (and keep its
//! memory) until the function is done, which for a hostile one is minutes. So the
//! server compiles each upload in a child process — its own binary, re-executed with
//! the hidden `compile-plugin` command — which reads the `.wasm` on stdin and writes
//! the compiled artifact on stdout. Its budget (`--max-compile-seconds`) is CPU time,
//! all its compiler threads together, enforced by the kernel (`RLIMIT_CPU`: SIGXCPU,
//! then SIGKILL): CPU time is what a compile costs, and unlike wall-clock time it does
//! not run out on a busy machine (a 19 MB Python component took 15 s of CPU and 81 s
//! of wall-clock time on a host with a load of 12 on its 2 cores). A wall-clock
//! backstop of ten times the budget kills a child that is starved or stuck. Either
//! way the kill frees the CPU and the memory at once, and whatever the compile
//! allocated never lands in the server's heap (an 18 MB interpreter component left the
//! server 320 MiB bigger after its deletion when it was compiled in-process). The
//! limits [`super::inspect`] checks first bound what any one function may cost; the
//! budget bounds the rest. Each upload has its own child: uploads compile side by
//! side.
//!
//! The child builds its engine from the same settings ([`EngineSpec`]), so the
//! artifact is one the server's engine loads (the engine's fingerprint would refuse
//! another). A library user without the binary (the benches, `wasmcron run`)
//! compiles in-process.

use super::engine::{self, EngineOptions};
use super::inspect::PluginLimits;
use super::plugin::LoadError;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The hidden command of the `wasmcron` binary that compiles one plugin.
pub const COMPILE_COMMAND: &str = "compile-plugin";

/// How plugins are compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileOptions {
    /// The `wasmcron` binary to compile in (a child process per compile); `None`
    /// compiles in this process, without a deadline.
    pub exe: Option<PathBuf>,
    /// The CPU time one compile may take, all its threads together
    /// (`--max-compile-seconds`); ten times it in wall-clock time.
    pub deadline: Duration,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            exe: None,
            deadline: Duration::from_secs(60),
        }
    }
}

/// The engine settings that decide what compiled code looks like: what the child
/// needs to build the server's engine again.
#[derive(Debug, Serialize, Deserialize)]
struct EngineSpec {
    max_concurrent_runs: u32,
    max_memory_bytes: usize,
    fuel_metering: bool,
    max_core_instances: u32,
    max_memories: u32,
    max_tables: u32,
    /// The child's CPU-time budget, in whole seconds.
    cpu_seconds: u64,
}

impl EngineSpec {
    fn of(options: &EngineOptions) -> Self {
        EngineSpec {
            max_concurrent_runs: options.max_concurrent_runs,
            max_memory_bytes: options.max_memory_bytes,
            fuel_metering: options.fuel_metering,
            max_core_instances: options.plugin_limits.max_core_instances,
            max_memories: options.plugin_limits.max_memories,
            max_tables: options.plugin_limits.max_tables,
            cpu_seconds: options.compile.deadline.as_secs().max(1),
        }
    }

    fn options(&self) -> EngineOptions {
        EngineOptions {
            max_concurrent_runs: self.max_concurrent_runs,
            max_memory_bytes: self.max_memory_bytes,
            fuel_metering: self.fuel_metering,
            plugin_limits: PluginLimits {
                max_core_instances: self.max_core_instances,
                max_memories: self.max_memories,
                max_tables: self.max_tables,
                ..PluginLimits::default()
            },
            ..EngineOptions::default()
        }
    }
}

/// Compiles `wasm` in a child process of `options.compile.exe` and returns the
/// serialized artifact; the child is killed at the deadline.
///
/// # Errors
/// [`LoadError::OverLimit`] at the deadline, [`LoadError::Invalid`] with the
/// compiler's message when the bytes do not compile.
pub async fn in_child(
    exe: &std::path::Path,
    options: &EngineOptions,
    wasm: Arc<[u8]>,
) -> Result<Vec<u8>, LoadError> {
    let budget = options.compile.deadline.as_secs().max(1);
    let spec = serde_json::to_string(&EngineSpec::of(options))
        .map_err(|e| LoadError::Invalid(format!("describing the engine failed: {e}")))?;
    let spawn_failed = |e: std::io::Error| {
        LoadError::Invalid(format!("starting the compiler process failed: {e}"))
    };
    let mut child = tokio::process::Command::new(exe)
        .arg(COMPILE_COMMAND)
        .arg(spec)
        .env("RUST_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Dropping the child (the deadline passed, or the upload's request went away)
        // kills it; tokio reaps it.
        .kill_on_drop(true)
        .spawn()
        .map_err(spawn_failed)?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| LoadError::Invalid("the compiler process has no stdin".into()))?;
    let feed = async move {
        // A child that failed early stops reading: its exit status says why.
        let _ = stdin.write_all(&wasm).await;
        drop(stdin);
    };
    let compiled = async {
        let ((), output) = tokio::join!(feed, child.wait_with_output());
        output
    };
    let over_budget = || {
        LoadError::OverLimit(format!(
            "compiling it took more than the limit of {budget} s of CPU time \
             (--max-compile-seconds); the compile was stopped"
        ))
    };
    let backstop = Duration::from_secs(budget.saturating_mul(10));
    let output = match tokio::time::timeout(backstop, compiled).await {
        Err(_) => return Err(over_budget()),
        Ok(output) => output.map_err(|e| {
            LoadError::Invalid(format!("waiting for the compiler process failed: {e}"))
        })?,
    };
    if output.status.success() {
        return Ok(output.stdout);
    }
    use std::os::unix::process::ExitStatusExt;
    if matches!(output.status.signal(), Some(libc::SIGXCPU | libc::SIGKILL)) {
        return Err(over_budget());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let message = super::state::prefix_at_char_boundary(stderr.trim(), 4096);
    Err(LoadError::Invalid(match output.status.code() {
        Some(_) if !message.is_empty() => message.to_owned(),
        _ => format!(
            "the compiler process ended without a result ({})",
            output.status
        ),
    }))
}

/// The `compile-plugin` command: reads a `.wasm` on stdin, compiles it for the engine
/// `spec` describes, writes the artifact on stdout. Returns the exit code (2 with the
/// reason on stderr when the bytes do not compile).
pub fn child_main(spec: &str) -> i32 {
    // A server that dies (SIGKILL gives it no time to kill its children) leaves no
    // compile running: the child ends once it has another parent.
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(200));
            if std::os::unix::process::parent_id() != parent {
                std::process::exit(3);
            }
        }
    });
    let compiled = (|| -> anyhow::Result<Vec<u8>> {
        let spec: EngineSpec = serde_json::from_str(spec)?;
        limit_cpu_time(spec.cpu_seconds)?;
        let mut wasm = Vec::new();
        std::io::stdin().read_to_end(&mut wasm)?;
        let engine =
            wasmtime::Engine::new(&engine::config(&spec.options())).map_err(anyhow::Error::from)?;
        let artifact = if super::plugin::is_core_module(&wasm) {
            engine.precompile_module(&wasm)
        } else {
            engine.precompile_component(&wasm)
        };
        artifact.map_err(|e| anyhow::anyhow!("{e:#}"))
    })();
    match compiled {
        Ok(artifact) => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(&artifact).and_then(|()| stdout.flush()) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("writing the compiled plugin failed: {e}");
                    2
                }
            }
        }
        Err(e) => {
            eprintln!("{e:#}");
            2
        }
    }
}

/// Limits this process to `seconds` of CPU time: the kernel sends SIGXCPU at the limit
/// (which ends it) and SIGKILL a second later.
fn limit_cpu_time(seconds: u64) -> anyhow::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: seconds,
        rlim_max: seconds.saturating_add(1),
    };
    // SAFETY: setrlimit reads the struct passed by reference and nothing else.
    if unsafe { libc::setrlimit(libc::RLIMIT_CPU, &limit) } != 0 {
        anyhow::bail!(
            "limiting the compiler's CPU time failed: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}
