//! `wasmcron plugin push|list|rm`: thin clients of a running server's plugin API.

use super::upload::UploadProgress;
use super::{Api, exit_code, print_json, segment};
use anyhow::Context;
use reqwest::Method;
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

/// Runs a `plugin` subcommand against `server`; prints the server's answer as JSON.
/// Returns the exit code: 0 on success, 1 when the server refused.
pub async fn run(command: PluginCommand, server: &str, token: Option<&str>) -> anyhow::Result<i32> {
    let api = Api::new(server, token)?;
    let result = async {
        let answer = match command {
            PluginCommand::Push { file, name } => {
                let name = match name {
                    Some(n) => n,
                    None => default_name(&file)?,
                };
                let bytes =
                    std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
                let shown = file.file_name().map_or_else(
                    || file.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                let progress = UploadProgress::new(&shown, bytes.len() as u64);
                let request = api
                    .request(Method::POST, &format!("/api/v1/plugins/{}", segment(&name)))
                    .header("content-type", "application/wasm")
                    .header("content-length", bytes.len())
                    .body(progress.body(bytes));
                let answer = api.call(request).await;
                progress.finish();
                answer?
            }
            PluginCommand::List => api.get("/api/v1/plugins").await?,
            PluginCommand::Rm { name, force } => {
                let query = if force { "?force=true" } else { "" };
                api.delete(&format!("/api/v1/plugins/{}{query}", segment(&name)))
                    .await?
            }
        };
        print_json(&answer);
        Ok(0)
    };
    exit_code(result.await, 1)
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
