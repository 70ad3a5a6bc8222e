//! The installed plugins: by name in memory for runs, by row in the store, and as
//! content-addressed files in the data directory; how a `job_class_string` resolves.
//!
//! Installing validates first (the plugin is compiled and described in memory: its
//! world version, imports, classes, and the capabilities a replacement adds) and
//! writes only a plugin that passed, in this order: the `.wasm`
//! (`plugins/<sha256>.wasm`), the compiled artifact (`cache/`), both atomically
//! (temporary file + rename), then the store row naming it, then the in-memory entry.
//! A refused upload writes nothing. A crash at any step leaves the old plugin or the
//! new one, never a half plugin; the files no installed plugin uses (a crash's
//! leftovers, a replaced or deleted plugin's) are swept at start and after each
//! replacement or removal.
//!
//! Uploads of different names load (compile, describe) side by side; two of one name
//! are applied in the order they came (a lock per name); only the short step that
//! writes files, row and memory is one at a time.

use crate::runtime::{LoadError, Plugin, Runtime, sha256_hex};
use crate::store::{PluginRow, Store, StoreError};
use anyhow::Context;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Installed plugins by name. Cheap to clone; readers never wait for an install.
#[derive(Clone)]
pub struct PluginRegistry {
    runtime: Runtime,
    store: Store,
    data_dir: PathBuf,
    plugins: Arc<RwLock<BTreeMap<String, Arc<Plugin>>>>,
    /// How many times `plugins` changed: a class resolved ahead (when its fire is
    /// prepared) still stands while this has not moved since.
    changes: Arc<AtomicU64>,
    /// One lock per plugin name, held by an install or removal of that name from
    /// start to end: two uploads of one name are applied in the order they came. An
    /// upload of another name does not wait for it (compiling can take seconds).
    name_locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// Serialises the short step that writes files, rows and memory (and the sweep
    /// of unused files), so that they always agree.
    install_lock: Arc<tokio::sync::Mutex<()>>,
}

/// Why a `job_class_string` does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnknownClass(pub String);

/// Why an install failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The plugin name is not allowed.
    #[error(
        "invalid plugin name '{0}': use 1 to 128 of the characters A-Z a-z 0-9 _ . - (not starting with '.')"
    )]
    BadName(String),
    /// The bytes are not a usable plugin.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A replacement would widen what the plugin's jobs can do.
    #[error(
        "the new version of plugin {name} imports capabilities the installed one does not: {}; \
         upload it with ?allow_new_capabilities=true to accept them",
        added.join(", ")
    )]
    NewCapabilities {
        /// The plugin.
        name: String,
        /// What it adds.
        added: Vec<&'static str>,
    },
    /// Writing the files failed.
    #[error("storing the plugin failed: {0:#}")]
    Io(anyhow::Error),
}

/// What an install did.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The plugin's row after the install.
    pub row: PluginRow,
    /// The hash the name held before, if any (`None`: a new plugin).
    pub previous_sha256: Option<String>,
    /// The bytes differ from what the name held before (false for a re-upload of the
    /// same bytes, which changes nothing).
    pub changed: bool,
    /// The capabilities a replacement added (accepted by the caller).
    pub added_capabilities: Vec<&'static str>,
}

/// A plugin's capabilities as stored.
fn capabilities_json(plugin: &Plugin) -> String {
    serde_json::to_string(&plugin.capabilities).unwrap_or_else(|_| "[]".into())
}

/// Whether `name` may name a plugin: `[A-Za-z0-9_.-]{1,128}`, not starting with a
/// dot (it becomes a file name and the prefix of `job_class_string`s).
pub fn valid_plugin_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Whether a file of the data directory's `plugins/` or `cache/` has a name this host
/// gives its files (`<sha256>.wasm`, `<sha256>-<engine>.cwasm`, the artifact's
/// `<sha256>-<engine>.needs`, and their temporary files while written): the sweep
/// deletes nothing else, should anyone keep other files there.
fn is_plugin_file_name(name: &str) -> bool {
    let hashed = |stem: &str| stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit());
    let temporary = name.starts_with('.')
        && name.ends_with(".tmp")
        && (name.contains(".wasm.") || name.contains(".cwasm.") || name.contains(".needs."));
    temporary
        || name.ends_with(".cwasm")
        || name.ends_with(".needs")
        || name.strip_suffix(".wasm").is_some_and(hashed)
}

impl PluginRegistry {
    /// An empty registry over the store and the data directory.
    pub fn new(runtime: Runtime, store: Store, data_dir: PathBuf) -> Self {
        PluginRegistry {
            runtime,
            store,
            data_dir,
            plugins: Arc::default(),
            changes: Arc::default(),
            name_locks: Arc::default(),
            install_lock: Arc::default(),
        }
    }

    /// Waits for the lock of plugin `name` (first come, first served).
    async fn lock_name(&self, name: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.name_locks.lock().unwrap_or_else(|e| e.into_inner());
            // Locks nobody holds or waits for are dropped, so the map keeps only the
            // names in use.
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            locks.entry(name.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
    }

    fn cache_dir(&self) -> PathBuf {
        self.data_dir.join("cache")
    }

    /// Where the `.wasm` with this hash is kept.
    pub fn wasm_path(&self, sha256: &str) -> PathBuf {
        self.data_dir.join("plugins").join(format!("{sha256}.wasm"))
    }

    /// Loads every installed plugin (from its cached artifact: no recompiling). Its
    /// bytes come from the data directory's copy, else from the database (a plugin
    /// installed through another host); the bytes of a plugin installed before the
    /// database kept them are copied in from the data directory. A plugin whose bytes
    /// are nowhere or broken is logged and left out; the server still starts, and jobs
    /// using it end as `scheduled error`.
    ///
    /// # Errors
    /// If the store cannot be read.
    pub async fn load_installed(&self) -> Result<usize, StoreError> {
        self.backfill_bytes().await?;
        let rows = self.store.list_plugins().await?;
        let mut loaded = 0;
        for row in rows {
            if self.load_row(&row).await.is_some() {
                loaded += 1;
            }
        }
        Ok(loaded)
    }

    /// Copies into the database the bytes of the installed versions it lacks, from the
    /// data directory (a database written before it kept them).
    async fn backfill_bytes(&self) -> Result<(), StoreError> {
        for sha256 in self.store.plugins_without_bytes().await? {
            let path = self.wasm_path(&sha256);
            match std::fs::read(&path) {
                Ok(bytes) if sha256_hex(&bytes) == sha256 => {
                    self.store.backfill_plugin_bytes(&sha256, &bytes).await?;
                    tracing::info!(
                        sha256,
                        "plugin bytes copied into the database from the data directory"
                    );
                }
                Ok(_) => {
                    tracing::error!(path = %path.display(), "the plugin file does not hold the bytes its name says: not copied")
                }
                // Another host may have them: it copies them when it starts.
                Err(e) => {
                    tracing::warn!(sha256, path = %path.display(), "the database lacks a plugin's bytes and this host has no copy: {e}")
                }
            }
        }
        Ok(())
    }

    /// The bytes of the installed version `sha256`: the data directory's copy, else the
    /// database's (then kept in the data directory too).
    pub async fn installed_bytes(&self, sha256: &str) -> anyhow::Result<Vec<u8>> {
        let path = self.wasm_path(sha256);
        match std::fs::read(&path) {
            Ok(bytes) if sha256_hex(&bytes) == sha256 => return Ok(bytes),
            Ok(_) => {
                tracing::warn!(path = %path.display(), "the plugin's copy is damaged (another sha256), reading the database's")
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), "reading the plugin's copy failed, reading the database's: {e}")
            }
        }
        let bytes =
            self.store.plugin_bytes(sha256).await?.with_context(|| {
                format!("the database has no bytes for plugin version {sha256}")
            })?;
        anyhow::ensure!(
            sha256_hex(&bytes) == sha256,
            "the database's bytes of plugin version {sha256} have another sha256"
        );
        if let Err(e) = crate::fsutil::write_atomically(&path, &bytes) {
            tracing::warn!(path = %path.display(), "keeping a copy of the plugin failed: {e:#}");
        }
        Ok(bytes)
    }

    /// Loads an installed plugin's row into memory (compiling it if its artifact is
    /// missing); `None`, logged, if it cannot be.
    async fn load_row(&self, row: &PluginRow) -> Option<Arc<Plugin>> {
        let bytes = match self.installed_bytes(&row.sha256).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(plugin = row.name, "installed plugin not loaded: {e:#}");
                return None;
            }
        };
        match self
            .runtime
            .load_plugin(bytes.into(), Some(&self.cache_dir()))
            .await
        {
            Ok(plugin) => {
                // Compiled again (its artifact was missing or unusable): cache it.
                self.runtime
                    .cache_artifact(&plugin, &self.cache_dir())
                    .await;
                if row.capabilities.is_none() {
                    let capabilities = capabilities_json(&plugin);
                    if let Err(e) = self
                        .store
                        .set_plugin_capabilities(&row.name, &capabilities)
                        .await
                    {
                        tracing::warn!(
                            plugin = row.name,
                            "recording the plugin's capabilities failed: {e}"
                        );
                    }
                }
                let plugin = Arc::new(plugin);
                self.update(|plugins| plugins.insert(row.name.clone(), plugin.clone()));
                Some(plugin)
            }
            Err(e) => {
                tracing::error!(plugin = row.name, "installed plugin not loaded: {e}");
                None
            }
        }
    }

    /// Brings plugin `name` in memory to what the database says (after another host
    /// installed, replaced or deleted it): loads the version the database names if it is
    /// not the one in memory, drops it if the database has none. Returns whether the
    /// plugin in memory changed.
    ///
    /// # Errors
    /// If the database cannot be read.
    pub async fn sync(&self, name: &str) -> Result<bool, StoreError> {
        let _name = self.lock_name(name).await;
        let row = match self.store.get_plugin(name).await {
            Ok(row) => Some(row),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e),
        };
        Ok(self.sync_locked(name, row.as_ref()).await)
    }

    /// [`PluginRegistry::sync`] for every plugin: those the database has, and those in
    /// memory it no longer has. Returns the names that changed.
    ///
    /// # Errors
    /// If the database cannot be read.
    pub async fn sync_all(&self) -> Result<Vec<String>, StoreError> {
        let rows = self.store.list_plugins().await?;
        let mut names: Vec<String> = self.read().keys().cloned().collect();
        names.extend(rows.iter().map(|r| r.name.clone()));
        names.sort();
        names.dedup();
        let mut changed = Vec::new();
        for name in names {
            let _name = self.lock_name(&name).await;
            // Read again under the name's lock: an install here may have run meanwhile.
            let row = match self.store.get_plugin(&name).await {
                Ok(row) => Some(row),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e),
            };
            if self.sync_locked(&name, row.as_ref()).await {
                changed.push(name);
            }
        }
        Ok(changed)
    }

    /// Makes memory hold `row`'s version of plugin `name` (none: no plugin), with the
    /// name's lock held.
    async fn sync_locked(&self, name: &str, row: Option<&PluginRow>) -> bool {
        let current = self.get(name).map(|p| p.sha256.clone());
        match row {
            None if current.is_none() => false,
            None => {
                let _guard = self.install_lock.lock().await;
                self.update(|plugins| plugins.remove(name));
                self.sweep_unused_files_locked().await;
                tracing::info!(
                    plugin = name,
                    "plugin deleted through another host: removed"
                );
                true
            }
            Some(row) if current.as_deref() == Some(row.sha256.as_str()) => false,
            Some(row) => {
                if self.load_row(row).await.is_none() {
                    return false;
                }
                tracing::info!(plugin = name, sha256 = %row.sha256, "plugin installed through another host: loaded");
                if current.is_some() {
                    let _guard = self.install_lock.lock().await;
                    self.sweep_unused_files_locked().await;
                }
                true
            }
        }
    }

    /// Installs every `<name>.wasm` of `dir` as plugin `<name>`.
    ///
    /// # Errors
    /// If the directory cannot be read or a plugin in it does not install: a server
    /// started with a broken plugin should say so at once, not at its first run.
    pub async fn install_dir(&self, dir: &Path) -> anyhow::Result<Vec<String>> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading the plugin directory {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        entries.sort();
        let mut names = Vec::new();
        for path in entries {
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            // The operator's own directory: whatever it holds is meant, new
            // capabilities included.
            let installed = self
                .install(name, bytes.into(), true)
                .await
                .with_context(|| format!("installing plugin {}", path.display()))?;
            tracing::info!(plugin = name, sha256 = %installed.row.sha256, changed = installed.changed, "plugin installed from the plugin directory");
            names.push(name.to_owned());
        }
        Ok(names)
    }

    /// Installs or replaces plugin `name` with these bytes. Runs in flight keep the
    /// version they started with; the next run of every job uses the new one.
    ///
    /// # Errors
    /// [`InstallError`] saying what is wrong; nothing is changed then.
    ///
    /// A replacement whose imports can use capabilities the installed version's could
    /// not (e.g. HTTP) is refused unless `allow_new_capabilities`: an upgrade must not
    /// widen what jobs can do without saying so.
    pub async fn install(
        &self,
        name: &str,
        wasm: Arc<[u8]>,
        allow_new_capabilities: bool,
    ) -> Result<Installed, InstallError> {
        if !valid_plugin_name(name) {
            return Err(InstallError::BadName(name.to_owned()));
        }
        let sha256 = sha256_hex(&wasm);
        let _name = self.lock_name(name).await;
        let previous = match self.store.get_plugin(name).await {
            Ok(row) => Some(row),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(row) = &previous
            && row.sha256 == sha256
            && self.get(name).is_some()
        {
            return Ok(Installed {
                row: row.clone(),
                previous_sha256: Some(row.sha256.clone()),
                changed: false,
                added_capabilities: Vec::new(),
            });
        }
        let plugin = self
            .runtime
            .load_plugin(wasm.clone(), Some(&self.cache_dir()))
            .await?;
        // What the installed version may use, as its row records it (this host may not
        // have loaded it: installed through another host a moment ago), else as loaded.
        let old_capabilities: Option<Vec<String>> = previous.as_ref().and_then(|row| {
            row.capabilities
                .as_deref()
                .and_then(|c| serde_json::from_str(c).ok())
                .or_else(|| {
                    self.get(name)
                        .map(|old| old.capabilities.iter().map(|c| (*c).to_owned()).collect())
                })
        });
        let added_capabilities: Vec<&'static str> = match &old_capabilities {
            Some(old) => plugin
                .capabilities
                .iter()
                .filter(|c| !old.iter().any(|o| o == *c))
                .copied()
                .collect(),
            None => Vec::new(),
        };
        if !added_capabilities.is_empty() && !allow_new_capabilities {
            return Err(InstallError::NewCapabilities {
                name: name.to_owned(),
                added: added_capabilities,
            });
        }
        let classes =
            serde_json::to_string(&plugin.classes).map_err(|e| InstallError::Io(e.into()))?;
        // Valid and accepted: only now are its files written.
        let _guard = self.install_lock.lock().await;
        let path = self.wasm_path(&sha256);
        if !path.exists() {
            crate::fsutil::write_atomically(&path, &wasm).map_err(InstallError::Io)?;
        }
        self.runtime
            .cache_artifact(&plugin, &self.cache_dir())
            .await;
        let row = PluginRow {
            name: name.to_owned(),
            sha256: sha256.clone(),
            size: i64::try_from(wasm.len()).unwrap_or(i64::MAX),
            world_version: plugin.world_version.clone(),
            classes,
            uploaded_time: crate::time::now_micros(),
            capabilities: Some(capabilities_json(&plugin)),
        };
        self.store.put_plugin(&row, &wasm).await?;
        self.update(|plugins| plugins.insert(name.to_owned(), Arc::new(plugin)));
        let previous_sha256 = previous.map(|old| old.sha256);
        if previous_sha256.as_ref().is_some_and(|old| *old != sha256) {
            self.sweep_unused_files_locked().await;
        }
        Ok(Installed {
            row,
            previous_sha256,
            changed: true,
            added_capabilities,
        })
    }

    /// Removes plugin `name`: its row, its memory entry, and its files once no other
    /// name uses the same bytes.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if no plugin has that name.
    pub async fn remove(&self, name: &str) -> Result<PluginRow, StoreError> {
        let _name = self.lock_name(name).await;
        let _guard = self.install_lock.lock().await;
        let row = self.store.delete_plugin(name).await?;
        self.update(|plugins| plugins.remove(name));
        self.sweep_unused_files_locked().await;
        Ok(row)
    }

    /// Deletes the files of the data directory's `plugins/` and `cache/` that no
    /// installed plugin uses: the `.wasm` and artifact of a replaced or removed plugin,
    /// artifacts of another engine version, what a crash left half-written. Run at
    /// start, after the installed plugins are loaded.
    pub async fn sweep_unused_files(&self) {
        let _guard = self.install_lock.lock().await;
        self.sweep_unused_files_locked().await;
    }

    /// [`PluginRegistry::sweep_unused_files`], with the install lock held (so that no
    /// install is between writing its files and its row). Runs in flight are
    /// unaffected: an open or mapped file outlives its name.
    async fn sweep_unused_files_locked(&self) {
        let rows = match self.store.list_plugins().await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!("could not check which plugin files are still used: {e}");
                return;
            }
        };
        let cache_dir = self.cache_dir();
        let mut used = std::collections::HashSet::new();
        for row in &rows {
            used.insert(self.wasm_path(&row.sha256));
            let artifact = self.runtime.artifact_path(&cache_dir, &row.sha256);
            used.insert(crate::runtime::recorded_needs_path(&artifact));
            used.insert(artifact);
        }
        for dir in [self.data_dir.join("plugins"), cache_dir] {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), "could not list plugin files: {e}");
                    continue;
                }
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let is_file = entry.file_type().is_ok_and(|t| t.is_file());
                let ours = entry.file_name().to_str().is_some_and(is_plugin_file_name);
                if !is_file || !ours || used.contains(&path) {
                    continue;
                }
                match std::fs::remove_file(&path) {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), "removed a plugin file no installed plugin uses");
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(path = %path.display(), "could not remove an unused plugin file: {e}");
                    }
                }
            }
        }
    }

    /// The plugin named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        self.read().get(name).cloned()
    }

    /// Every `(plugin name, plugin)`, by name.
    pub fn all(&self) -> Vec<(String, Arc<Plugin>)> {
        self.read()
            .iter()
            .map(|(n, p)| (n.clone(), p.clone()))
            .collect()
    }

    /// Every `<plugin>.<Class>` installed, sorted.
    pub fn class_strings(&self) -> Vec<String> {
        self.read()
            .iter()
            .flat_map(|(name, p)| p.classes.iter().map(move |c| format!("{name}.{}", c.name)))
            .collect()
    }

    /// Resolves `<plugin name>.<Class>` (the plugin name may contain dots) to the
    /// plugin and the class name.
    ///
    /// # Errors
    /// [`UnknownClass`] with a message that lists what is installed.
    pub fn resolve(&self, job_class_string: &str) -> Result<(Arc<Plugin>, String), UnknownClass> {
        let installed = || {
            let all = self.class_strings();
            if all.is_empty() {
                "no plugins are installed".to_owned()
            } else {
                format!("installed classes: {}", all.join(", "))
            }
        };
        let Some((plugin_name, class)) = job_class_string.rsplit_once('.') else {
            return Err(UnknownClass(format!(
                "job_class_string '{job_class_string}' must be '<plugin name>.<ClassName>'; {}",
                installed()
            )));
        };
        let Some(plugin) = self.get(plugin_name) else {
            return Err(UnknownClass(format!(
                "unknown job class '{job_class_string}': no plugin named '{plugin_name}' is installed; {}",
                installed()
            )));
        };
        if plugin.class(class).is_none() {
            return Err(UnknownClass(format!(
                "unknown job class '{job_class_string}': plugin '{plugin_name}' has no class '{class}'; {}",
                installed()
            )));
        }
        Ok((plugin, class.to_owned()))
    }

    /// How many plugins are loaded and ready to run.
    pub fn loaded_count(&self) -> usize {
        self.read().len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Plugin>>> {
        // Entries are replaced whole; a panic elsewhere while holding the lock cannot
        // leave the map half-written.
        self.plugins.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the installed set, and counts the change before the lock lets readers
    /// see it.
    fn update<R>(&self, change: impl FnOnce(&mut BTreeMap<String, Arc<Plugin>>) -> R) -> R {
        // A poisoned lock is taken over, as in `read`.
        let mut plugins = self.plugins.write().unwrap_or_else(|e| e.into_inner());
        let changed = change(&mut plugins);
        self.changes.fetch_add(1, Ordering::Release);
        changed
    }

    /// A count that moves whenever the installed plugins change. Read before a
    /// [`PluginRegistry::resolve`], it says later whether that answer still stands.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_only_touches_names_the_host_gives() {
        let sha = "ab".repeat(32);
        for ours in [
            format!("{sha}.wasm"),
            format!("{sha}-0123456789abcdef.cwasm"),
            format!(".{sha}.wasm.0123.tmp"),
            format!(".{sha}-0123456789abcdef.cwasm.0123.tmp"),
            format!("{sha}-0123456789abcdef.needs"),
            format!(".{sha}-0123456789abcdef.needs.0123.tmp"),
        ] {
            assert!(is_plugin_file_name(&ours), "{ours}");
        }
        for theirs in ["notes.txt", "greeter.wasm", "x.tmp", "wasmcron.db"] {
            assert!(!is_plugin_file_name(theirs), "{theirs}");
        }
    }

    #[test]
    fn plugin_names() {
        for ok in [
            "a",
            "simple_scheduler.jobs.sample_job",
            "my-plugin_2",
            &"x".repeat(128),
        ] {
            assert!(valid_plugin_name(ok), "{ok}");
        }
        for bad in ["", ".hidden", "a/b", "a b", "ü", "..", &"x".repeat(129)] {
            assert!(!valid_plugin_name(bad), "{bad}");
        }
    }
}
