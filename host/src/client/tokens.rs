//! `wasmcron token create|list|revoke`: API tokens, managed on the data directory's
//! database itself rather than over the API, so that a fresh install can make its first
//! admin token (docs/security.md). A running server sees a new token within a second
//! and a revocation at its next request; admins can do the same over
//! `/api/v1/tokens`.

use super::table::Table;
use crate::auth::{Role, TokenError, tokens};
use crate::cli::outln;
use crate::store::{Database, Store};
use anyhow::Context;
use std::path::PathBuf;

/// The audit log's `user` for changes made on the command line.
const COMMAND_LINE_USER: &str = "(command line)";

/// The `token` subcommands.
#[derive(Debug, clap::Args)]
pub struct TokenCommand {
    #[command(subcommand)]
    command: TokenSubcommand,
    /// The server's data directory (as given to `serve`).
    #[arg(
        long,
        env = "WASMCRON_DATA_DIR",
        default_value = "./wasmcron-data",
        global = true
    )]
    data_dir: PathBuf,
    /// The server's database, when it is not SQLite in --data-dir (as given to `serve`):
    /// postgres://user[:password]@host[:port]/database or sqlite:///path/to/file.db.
    #[arg(long, env = "WASMCRON_DATABASE_URL", global = true)]
    database_url: Option<Database>,
}

#[derive(Debug, clap::Subcommand)]
enum TokenSubcommand {
    /// Create a token and print it (this once: only its hash is stored).
    Create {
        /// Its name: the audit log's `user` for its requests.
        #[arg(long)]
        name: String,
        /// What it may do: viewer (read), operator (also change and run jobs), admin
        /// (also plugins, secrets and tokens).
        #[arg(long)]
        role: Role,
    },
    /// List the tokens: name, role, created, last used (never the token).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: requests with it, and its console sessions, fail from now on.
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// Runs a `token` subcommand. Returns the exit code: 0 done, 1 refused (a taken name,
/// an unknown token).
pub async fn run(command: TokenCommand) -> anyhow::Result<i32> {
    let database = command
        .database_url
        .unwrap_or_else(|| Database::Sqlite(command.data_dir.join("wasmcron.db")));
    if let Database::Sqlite(file) = &database {
        if !matches!(command.command, TokenSubcommand::Create { .. }) && !file.exists() {
            anyhow::bail!(
                "no database at {}: pass the server's --data-dir (or WASMCRON_DATA_DIR) or \
                 --database-url",
                file.display()
            );
        }
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    let store = Store::open(&database)
        .await
        .with_context(|| format!("opening the database {}", database.display()))?;
    let result = match command.command {
        TokenSubcommand::Create { name, role } => {
            tokens::create(&store, &name, role, COMMAND_LINE_USER)
                .await
                .map(|new| {
                    eprintln!(
                        "wasmcron: created token {} ({}); it is shown this once, keep it safe:",
                        new.info.name, new.info.role
                    );
                    outln!("{}", new.secret);
                })
        }
        TokenSubcommand::List { json } => tokens::list(&store).await.map(|list| {
            if json {
                let rows: Vec<serde_json::Value> = list
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "name": t.name,
                            "role": t.role.as_str(),
                            "created_time": crate::time::format_micros(t.created_time),
                            "last_used_time": t.last_used_time.map(crate::time::format_micros),
                        })
                    })
                    .collect();
                outln!("{:#}", serde_json::json!({ "tokens": rows }));
                return;
            }
            let mut table = Table::new(&["NAME", "ROLE", "CREATED", "LAST USED"]);
            for t in &list {
                table.row(vec![
                    t.name.clone(),
                    t.role.to_string(),
                    crate::time::format_micros(t.created_time),
                    t.last_used_time
                        .map_or_else(|| "never".to_owned(), crate::time::format_micros),
                ]);
            }
            outln!("{}", table.render().trim_end());
        }),
        TokenSubcommand::Revoke { name } => tokens::revoke(&store, &name, COMMAND_LINE_USER)
            .await
            .map(|()| eprintln!("wasmcron: revoked token {name}")),
    };
    store.close().await;
    match result {
        Ok(()) => Ok(0),
        Err(e @ (TokenError::Invalid(_) | TokenError::Exists(_) | TokenError::NotFound(_))) => {
            eprintln!("wasmcron: {e}");
            Ok(1)
        }
        Err(TokenError::Store(e)) => Err(e.into()),
    }
}
