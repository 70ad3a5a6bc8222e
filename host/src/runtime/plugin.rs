//! Loading a plugin: validate, compile (or load the cached artifact), pre-link, and
//! ask it to describe its classes.

use super::bindings::JobPre;
use super::command::CommandState;
use super::engine::fingerprint;
use super::state::RunState;
use super::{Runtime, WORLD_PACKAGE, WORLD_VERSION};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::Component;

/// A plugin ready to run: compiled, linked and described.
pub struct Plugin {
    /// Hex sha256 of the `.wasm` bytes: the plugin's identity.
    pub sha256: String,
    /// Size of the `.wasm`, in bytes.
    pub size: u64,
    /// The `wasmcron:job` world version it was built against.
    pub world_version: String,
    /// Its job classes, as `describe()` (or a command's manifest) reported them.
    pub classes: Vec<JobClass>,
    pub(crate) kind: PluginKind,
}

/// How a plugin runs.
pub(crate) enum PluginKind {
    /// A component of the `wasmcron:job` world.
    Component(JobPre<RunState>),
    /// A plain WASI command (core module with `_start`), JSON on stdin and stdout.
    Command(wasmtime::InstancePre<CommandState>),
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("sha256", &self.sha256)
            .field("classes", &self.classes)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// `"component"` or `"command"`.
    pub fn kind(&self) -> &'static str {
        match self.kind {
            PluginKind::Component(_) => "component",
            PluginKind::Command(_) => "command",
        }
    }

    /// The class named `name`, if the plugin has it.
    pub fn class(&self, name: &str) -> Option<&JobClass> {
        self.classes.iter().find(|c| c.name == name)
    }
}

/// A job class as its plugin describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobClass {
    /// The class name (after the plugin name in `job_class_string`).
    pub name: String,
    /// What it does.
    pub notes: String,
    /// The arguments it reads.
    pub arguments: Vec<ArgumentDoc>,
    /// A valid `pub_args` value, as JSON text.
    pub example_arguments: String,
}

/// One argument of a job class (also the shape of an argument in a command plugin's
/// manifest, where `type` and `description` may be left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgumentDoc {
    /// Its name.
    pub name: String,
    /// Its JSON type, as the plugin wrote it.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// What it means.
    #[serde(default)]
    pub description: String,
}

/// Why a plugin could not be loaded. Each message says what is wrong with the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not WebAssembly at all.
    #[error("the file is not WebAssembly (it does not start with the \\0asm magic bytes)")]
    NotWasm,
    /// A core module that is not a WASI command (no `_start`).
    #[error(
        "the file is a core WebAssembly module that is not a WASI command (it exports no \
         `_start`): build a component for wasm32-wasip2 against the wasmcron:job world"
    )]
    CoreModule,
    /// A WASI command module without the manifest that names its classes.
    #[error(
        "the file is a WASI command module without a `wasmcron-manifest` custom section: \
         add one listing its classes ({{\"classes\": [{{\"name\": …, \"notes\": …}}]}}), \
         or build a component for wasm32-wasip2"
    )]
    CommandModule,
    /// The command's manifest is not the expected JSON.
    #[error("the plugin's wasmcron-manifest section is not valid: {0}")]
    BadManifest(String),
    /// The component could not be compiled.
    #[error("the component is invalid: {0}")]
    Invalid(String),
    /// Built against a newer world than this host implements.
    #[error(
        "the plugin was built against {WORLD_PACKAGE}@{found}, newer than this host's \
         {WORLD_PACKAGE}@{WORLD_VERSION}: upgrade wasmcron or rebuild it against {WORLD_VERSION}"
    )]
    NewerWorld {
        /// The version the plugin asks for.
        found: String,
    },
    /// It imports something the host does not provide.
    #[error("the plugin imports something this host does not provide: {0}")]
    UnsupportedImport(String),
    /// It does not export the `job` world.
    #[error(
        "the component does not implement the {WORLD_PACKAGE} world (it must export \
         `describe` and `run`): {0}"
    )]
    NotAJob(String),
    /// `describe()` trapped, failed or exceeded its limits.
    #[error("the plugin's describe() failed: {0}")]
    Describe(String),
    /// A class list the host cannot use.
    #[error("the plugin's describe() returned unusable classes: {0}")]
    BadClasses(String),
}

/// The hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Runtime {
    /// Loads a plugin from its `.wasm` bytes.
    ///
    /// With a `cache_dir`, the compiled artifact is read from there if an earlier load
    /// left one for the same bytes and engine, and written there otherwise, so that a
    /// plugin is compiled once, not at every start.
    ///
    /// # Errors
    /// A [`LoadError`] that says what is wrong with the file.
    pub async fn load_plugin(
        &self,
        wasm: Arc<[u8]>,
        cache_dir: Option<&Path>,
    ) -> Result<Plugin, LoadError> {
        if !wasm.starts_with(b"\0asm") {
            return Err(LoadError::NotWasm);
        }
        if wasmparser_is_core_module(&wasm) {
            return self.load_command(wasm, cache_dir).await;
        }
        let sha256 = sha256_hex(&wasm);
        let artifact = cache_dir.map(|dir| self.artifact_path(dir, &sha256));
        let engine = self.engine.clone();
        let component = tokio::task::spawn_blocking(move || {
            compile_or_load(&engine, &wasm, artifact.as_deref()).map(|c| (c, wasm.len()))
        })
        .await
        .map_err(|e| LoadError::Invalid(format!("compilation task failed: {e}")))?;
        let (component, size) = component?;
        let world_version = check_world_version(&self.engine, &component)?;
        // Pre-instantiation type-checks every import (and only imports: the exports
        // are checked by `JobPre::new`), so its error always names an import.
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::UnsupportedImport(format!("{e:#}")))?;
        let pre = JobPre::new(instance_pre).map_err(|e| LoadError::NotAJob(format!("{e:#}")))?;
        let classes = self.describe(&pre).await?;
        Ok(Plugin {
            sha256,
            size: size as u64,
            world_version,
            classes,
            kind: PluginKind::Component(pre),
        })
    }

    /// Loads a core module: a WASI command with a manifest, or refused with the reason.
    async fn load_command(
        &self,
        wasm: Arc<[u8]>,
        cache_dir: Option<&Path>,
    ) -> Result<Plugin, LoadError> {
        let sha256 = sha256_hex(&wasm);
        let artifact = cache_dir.map(|dir| self.artifact_path(dir, &sha256));
        let engine = self.engine.clone();
        let bytes = wasm.clone();
        let module = tokio::task::spawn_blocking(move || {
            compile_or_load_module(&engine, &bytes, artifact.as_deref())
        })
        .await
        .map_err(|e| LoadError::Invalid(format!("compilation task failed: {e}")))??;
        if module.get_export("_start").is_none() {
            return Err(LoadError::CoreModule);
        }
        let classes = super::command::read_manifest(&wasm)?;
        super::validate_classes(&classes).map_err(LoadError::BadClasses)?;
        let pre = self
            .command_linker
            .instantiate_pre(&module)
            .map_err(|e| LoadError::UnsupportedImport(format!("{e:#}")))?;
        Ok(Plugin {
            sha256,
            size: wasm.len() as u64,
            world_version: "wasi-command".into(),
            classes,
            kind: PluginKind::Command(pre),
        })
    }

    /// Where the compiled artifact of the plugin with this hash lives in `dir`.
    pub fn artifact_path(&self, dir: &Path, sha256: &str) -> PathBuf {
        dir.join(format!("{sha256}-{}.cwasm", fingerprint(&self.engine)))
    }
}

/// A core module has version 1 in its header; a component has a different version
/// and layer field.
fn wasmparser_is_core_module(wasm: &[u8]) -> bool {
    wasm.get(4..8) == Some(&[1, 0, 0, 0])
}

fn compile_or_load(
    engine: &wasmtime::Engine,
    wasm: &[u8],
    artifact: Option<&Path>,
) -> Result<Component, LoadError> {
    if let Some(path) = artifact
        && path.exists()
    {
        // SAFETY: the artifact was written by this host (below) into its own data
        // directory, for the same engine fingerprint; deserializing it is only unsafe
        // for untrusted input. A corrupt or stale file fails here and is recompiled.
        match unsafe { Component::deserialize_file(engine, path) } {
            Ok(component) => return Ok(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), "recompiling: cached artifact unusable: {e:#}")
            }
        }
    }
    let component =
        Component::new(engine, wasm).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
    if let Some(path) = artifact {
        // The cache is an optimisation: failing to write it costs a compile at the
        // next start, not the load.
        if let Err(e) = write_artifact(&component, path) {
            tracing::warn!(path = %path.display(), "could not cache the compiled plugin: {e:#}");
        }
    }
    Ok(component)
}

/// [`compile_or_load`] for a core module.
fn compile_or_load_module(
    engine: &wasmtime::Engine,
    wasm: &[u8],
    artifact: Option<&Path>,
) -> Result<wasmtime::Module, LoadError> {
    if let Some(path) = artifact
        && path.exists()
    {
        // SAFETY: as in `compile_or_load`: our own artifact, for this engine.
        match unsafe { wasmtime::Module::deserialize_file(engine, path) } {
            Ok(module) => return Ok(module),
            Err(e) => {
                tracing::warn!(path = %path.display(), "recompiling: cached artifact unusable: {e:#}")
            }
        }
    }
    let module =
        wasmtime::Module::new(engine, wasm).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
    if let Some(path) = artifact {
        let written = module
            .serialize()
            .map_err(anyhow::Error::from)
            .and_then(|bytes| crate::fsutil::write_atomically(path, &bytes));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), "could not cache the compiled plugin: {e:#}");
        }
    }
    Ok(module)
}

/// Writes atomically (temporary file, then rename) so a crash never leaves a torn
/// artifact under the final name.
fn write_artifact(component: &Component, path: &Path) -> anyhow::Result<()> {
    let bytes = component.serialize()?;
    crate::fsutil::write_atomically(path, &bytes)
}

/// Finds the `wasmcron:job` version the component was built against and refuses a
/// newer one than the host's.
fn check_world_version(
    engine: &wasmtime::Engine,
    component: &Component,
) -> Result<String, LoadError> {
    let ty = component.component_type();
    let prefix = format!("{WORLD_PACKAGE}/");
    let mut found: Option<String> = None;
    for (name, _) in ty.imports(engine).chain(ty.exports(engine)) {
        if let Some(rest) = name.strip_prefix(&prefix)
            && let Some((_, version)) = rest.split_once('@')
        {
            found = Some(version.to_owned());
        }
    }
    let version = found.unwrap_or_else(|| WORLD_VERSION.to_owned());
    if version_newer(&version, WORLD_VERSION) {
        return Err(LoadError::NewerWorld { found: version });
    }
    Ok(version)
}

/// Whether semver-ish `a` is newer than `b` (numeric comparison of dotted parts).
fn version_newer(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> {
        v.split(['.', '-'])
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    parse(a) > parse(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_world_versions_numerically() {
        assert!(version_newer("0.2.0", "0.1.0"));
        assert!(version_newer("0.10.0", "0.9.1"));
        assert!(!version_newer("0.1.0", "0.1.0"));
        assert!(!version_newer("0.0.9", "0.1.0"));
    }

    #[test]
    fn tells_core_modules_from_components() {
        assert!(wasmparser_is_core_module(b"\0asm\x01\0\0\0"));
        assert!(!wasmparser_is_core_module(b"\0asm\x0d\0\x01\0"));
    }
}
