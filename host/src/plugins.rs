//! The installed plugins, by name, and how a `job_class_string` resolves to one.

use crate::runtime::{Plugin, Runtime};
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Installed plugins by name. Cheap to clone; readers never wait for a load.
#[derive(Clone)]
pub struct PluginRegistry {
    runtime: Runtime,
    cache_dir: PathBuf,
    plugins: Arc<RwLock<BTreeMap<String, Arc<Plugin>>>>,
}

/// Why a `job_class_string` does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnknownClass(pub String);

impl PluginRegistry {
    /// An empty registry whose compiled artifacts are cached in `cache_dir`.
    pub fn new(runtime: Runtime, cache_dir: PathBuf) -> Self {
        PluginRegistry {
            runtime,
            cache_dir,
            plugins: Arc::default(),
        }
    }

    /// Loads every `<name>.wasm` of `dir` as plugin `<name>`.
    ///
    /// # Errors
    /// If the directory cannot be read or a plugin in it does not load: a server
    /// started with a broken plugin should say so at once, not at its first run.
    pub async fn install_dir(&self, dir: &Path) -> anyhow::Result<Vec<String>> {
        let mut names = Vec::new();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading the plugin directory {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        entries.sort();
        for path in entries {
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let plugin = self
                .runtime
                .load_plugin(bytes.into(), Some(&self.cache_dir))
                .await
                .with_context(|| format!("loading plugin {}", path.display()))?;
            tracing::info!(plugin = name, sha256 = %plugin.sha256, classes = plugin.classes.len(), "plugin installed");
            self.insert(name, plugin);
            names.push(name.to_owned());
        }
        Ok(names)
    }

    /// Installs (or replaces) a plugin under `name`.
    pub fn insert(&self, name: &str, plugin: Plugin) {
        self.write().insert(name.to_owned(), Arc::new(plugin));
    }

    /// The plugin named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        self.read().get(name).cloned()
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

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Plugin>>> {
        // The map is only ever replaced entry by entry; a panic elsewhere while
        // holding the lock cannot leave it half-written.
        self.plugins.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Plugin>>> {
        self.plugins.write().unwrap_or_else(|e| e.into_inner())
    }
}
