//! `wasmcron dev <project>`: the plugin author's loop. Builds a project made by
//! `wasmcron new` with the command its README gives, runs the built plugin once with
//! its class's example arguments (as `wasmcron run --example`), and, with `--server`,
//! installs the new version there; then waits for a source file to change and does it
//! again, until stopped (Ctrl-C).
//!
//! Changes are found by polling the project's files (their sizes and modification
//! times, every `--poll-ms`), leaving out what builds write (`target/`, `build/`,
//! `node_modules/`, the built `.wasm`): a poll of a project's few files costs nothing,
//! and needs no watcher that behaves differently on each system.

use crate::cli::{RunArgs, outln};
use crate::scaffold::Lang;
use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Options of `wasmcron dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// The project's folder (made by `wasmcron new`).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The plugin's name (default: the folder's name, as `wasmcron new` made it).
    #[arg(long)]
    pub name: Option<String>,
    /// The job class to run (may be left out when the plugin has one class).
    #[arg(long)]
    pub class: Option<String>,
    /// After each successful build, install the new version on this server (its base
    /// URL, e.g. http://127.0.0.1:8888).
    #[arg(long)]
    pub server: Option<String>,
    /// The API token to send with the install (`Authorization: Bearer`), when the server
    /// asks for one (an admin's: installing plugins needs the admin role).
    #[arg(long, env = "WASMCRON_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// How often to look for changed files, in milliseconds.
    #[arg(long, default_value_t = 300)]
    pub poll_ms: u64,
}

/// A project's source files: path -> (size, modification time).
type Snapshot = BTreeMap<PathBuf, (u64, Option<SystemTime>)>;

/// Runs the loop until Ctrl-C or SIGTERM. Returns the exit code (0).
pub async fn dev(args: DevArgs) -> anyhow::Result<i32> {
    let dir = std::fs::canonicalize(&args.dir)
        .with_context(|| format!("finding the project folder {}", args.dir.display()))?;
    let Some(lang) = Lang::of_project(&dir) else {
        bail!(
            "{} is not a project made by `wasmcron new` (no Cargo.toml, package.json, app.py, \
             go.mod, main.zig or main.c)",
            dir.display()
        );
    };
    let name = match &args.name {
        Some(name) => name.clone(),
        None => dir
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
            .context("the project folder has no name: pass --name")?,
    };
    let plugin = lang.built_plugin(&dir, &name)?;
    let poll = Duration::from_millis(args.poll_ms.max(10));
    outln!(
        "wasmcron dev: watching {} ({lang:?}); Ctrl-C to stop",
        dir.display()
    );
    let stop = shutdown_signal();
    tokio::pin!(stop);
    let mut seen = snapshot(&dir, &plugin);
    loop {
        tokio::select! {
            () = &mut stop => break,
            () = cycle(lang, &dir, &plugin, &name, &args) => {}
        }
        // Wait for a change, then for the files to settle (an editor may write a file
        // in several steps), before building again.
        loop {
            tokio::select! {
                () = &mut stop => return Ok(0),
                () = tokio::time::sleep(poll) => {}
            }
            let now = snapshot(&dir, &plugin);
            if now != seen {
                seen = now;
                tokio::time::sleep(poll).await;
                let settled = snapshot(&dir, &plugin);
                if settled == seen {
                    break;
                }
                seen = settled;
            }
        }
        outln!("\nwasmcron dev: a source changed; building again");
    }
    Ok(0)
}

/// One build, run and (with `--server`) push; each step says how it went.
async fn cycle(lang: Lang, dir: &Path, plugin: &Path, name: &str, args: &DevArgs) {
    let (program, build_args) = lang.build_command();
    let shown = std::iter::once(program)
        .chain(build_args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    outln!("wasmcron dev: {shown}");
    let started = Instant::now();
    let status = tokio::process::Command::new(program)
        .args(build_args)
        .current_dir(dir)
        .kill_on_drop(true)
        .status()
        .await;
    match status {
        Ok(status) if status.success() => {
            outln!(
                "wasmcron dev: built {} in {:.1} s",
                plugin.display(),
                started.elapsed().as_secs_f64()
            );
        }
        Ok(status) => {
            outln!("wasmcron dev: the build failed ({status}); fix it and save again");
            return;
        }
        Err(e) => {
            outln!(
                "wasmcron dev: cannot start `{shown}` in {}: {e}",
                dir.display()
            );
            return;
        }
    }
    let run = RunArgs {
        plugin: plugin.to_owned(),
        class: args.class.clone(),
        args: "[]".into(),
        example: true,
        cache_dir: None,
        no_cache: false,
        timeout: 300.0,
        memory_mb: 256,
        fuel: None,
        max_result_bytes: 1 << 20,
        json: false,
        allow_hosts: Vec::new(),
        env: Vec::new(),
        secrets: Vec::new(),
    };
    outln!("wasmcron dev: running it with its example arguments");
    match crate::cli::run(run).await {
        Ok(0) => outln!("wasmcron dev: the run succeeded"),
        Ok(_) => outln!("wasmcron dev: the run did not succeed"),
        Err(e) => outln!("wasmcron dev: cannot run it: {e:#}"),
    }
    if let Some(server) = &args.server {
        let push = crate::client::PluginCommand::Push {
            file: plugin.to_owned(),
            name: Some(name.to_owned()),
        };
        match crate::client::plugin(push, server, args.token.as_deref()).await {
            Ok(0) => outln!("wasmcron dev: installed {name} on {server}"),
            Ok(_) => outln!("wasmcron dev: {server} refused the new version (above)"),
            Err(e) => outln!("wasmcron dev: cannot install it on {server}: {e:#}"),
        }
    }
}

/// Every source file under `dir` with its size and modification time, leaving out
/// build output and the built plugin.
fn snapshot(dir: &Path, plugin: &Path) -> Snapshot {
    let mut files = Snapshot::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let file_name = entry.file_name();
            let file_name = file_name.to_string_lossy();
            if kind.is_dir() {
                if !Lang::NOT_SOURCES.contains(&file_name.as_ref()) {
                    pending.push(path);
                }
            } else if path != plugin && !file_name.ends_with(".wasm") {
                let meta = entry.metadata().ok();
                let size = meta.as_ref().map_or(0, std::fs::Metadata::len);
                let modified = meta.and_then(|m| m.modified().ok());
                files.insert(path, (size, modified));
            }
        }
    }
    files
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_sees_sources_not_build_output() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(root.join("target/release")).unwrap();
        std::fs::write(root.join("src/lib.rs"), "fn a() {}").unwrap();
        std::fs::write(root.join("target/release/x.wasm"), "built").unwrap();
        std::fs::write(root.join("p.wasm"), "built").unwrap();
        let plugin = root.join("p.wasm");
        let before = snapshot(root, &plugin);
        assert_eq!(
            before.keys().collect::<Vec<_>>(),
            [&root.join("src/lib.rs")]
        );
        std::fs::write(root.join("target/release/x.wasm"), "built again").unwrap();
        std::fs::write(root.join("p.wasm"), "built again").unwrap();
        assert_eq!(
            snapshot(root, &plugin),
            before,
            "build output is not a change"
        );
        std::fs::write(root.join("src/lib.rs"), "fn a() { b() }").unwrap();
        assert_ne!(snapshot(root, &plugin), before, "an edited source is");
    }
}
