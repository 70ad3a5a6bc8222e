//! `wasmcron plugin push|list|rm`: thin clients of a running server's plugin API.

use crate::cli::outln;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// The `plugin` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PluginCommand {
    /// Upload a plugin (install it, or replace the one with the same name).
    Push {
        /// The `.wasm` file.
        file: PathBuf,
        /// The plugin name (default: the file name without `.wasm`).
        #[arg(long)]
        name: Option<String>,
    },
    /// List the installed plugins and their classes.
    List,
    /// Delete a plugin.
    Rm {
        /// The plugin name.
        name: String,
        /// Delete it even if jobs use it (their next runs end as `scheduled error`).
        #[arg(long)]
        force: bool,
    },
}

/// Runs a `plugin` subcommand against `server`; prints the server's answer. Returns
/// the exit code: 0 on success, 1 when the server refused.
pub async fn run(command: PluginCommand, server: &str) -> anyhow::Result<i32> {
    let server = server.trim_end_matches('/');
    let client = reqwest::Client::new();
    let request = match command {
        PluginCommand::Push { file, name } => {
            let name = match name {
                Some(n) => n,
                None => default_name(&file)?,
            };
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            client
                .post(format!("{server}/api/v1/plugins/{name}"))
                .header("content-type", "application/wasm")
                .body(bytes)
        }
        PluginCommand::List => client.get(format!("{server}/api/v1/plugins")),
        PluginCommand::Rm { name, force } => client.delete(format!(
            "{server}/api/v1/plugins/{name}{}",
            if force { "?force=true" } else { "" }
        )),
    };
    let response = request.send().await.with_context(|| {
        format!("cannot reach the wasmcron server at {server} (set it with --server)")
    })?;
    let status = response.status();
    let text = response.text().await?;
    let pretty = serde_json::from_str::<serde_json::Value>(&text)
        .map(|v| format!("{v:#}"))
        .unwrap_or(text);
    if status.is_success() {
        outln!("{pretty}");
        Ok(0)
    } else {
        eprintln!("wasmcron: the server answered {status}: {pretty}");
        Ok(1)
    }
}

fn default_name(file: &Path) -> anyhow::Result<String> {
    file.file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.strip_suffix(".wasm").unwrap_or(n).to_owned())
        .with_context(|| {
            format!(
                "cannot take a plugin name from {}: pass --name",
                file.display()
            )
        })
}
