//! Loading a plugin: validate the file, compile it (or load the cached artifact),
//! pre-link it, learn its classes (a component's `describe()`, a command's manifest)
//! and validate them. Loading writes nothing: the caller caches the compiled artifact
//! ([`Runtime::cache_artifact`]) once it keeps the plugin, so that a refused upload
//! leaves no file behind.

use super::bindings::{current, v0_2};
use super::capabilities::Grants;
use super::command::CommandState;
use super::component::ComponentState;
use super::engine::{ClassLimits, fingerprint};
use super::inspect::{PoolNeeds, check_pool_limits, inspect};
use super::manifest::read_manifest;
use super::outcome::failure;
use super::pool::PluginRuns;
use super::sandbox::HasSandbox;
use super::schema::ArgumentsSchema;
use super::{RunLimits, Runtime, WORLD_PACKAGE, WORLD_VERSION};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, InstancePre};
use wasmtime::{Engine, Module};

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
    /// The capabilities its imports can use (`http`, `environment`, `state`), in that
    /// order: what a job of it could do if granted, and what an upgrade adds.
    pub capabilities: Vec<&'static str>,
    /// What one instantiation takes from the instance pool.
    pub needs: PoolNeeds,
    /// Its runs that may hold pool slots at once (its share of the pool).
    pub(crate) runs: PluginRuns,
    pub(crate) kind: PluginKind,
    /// Loaded from its cached artifact (false: compiled by this load).
    from_artifact: bool,
}

/// Each capability and how an import names it (a component's interface prefix, a
/// WASI command's preview 1 function).
const CAPABILITY_IMPORTS: [(&str, &str); 3] = [
    ("http", "wasi:http/"),
    ("environment", "wasi:cli/environment"),
    ("state", "wasmcron:job/state"),
];

/// The capabilities named by a set of import names.
fn capabilities_of<'a>(imports: impl Iterator<Item = &'a str> + Clone) -> Vec<&'static str> {
    CAPABILITY_IMPORTS
        .iter()
        .filter(|(_, prefix)| imports.clone().any(|name| name.starts_with(prefix)))
        .map(|(capability, _)| *capability)
        .collect()
}

/// How a plugin runs.
pub(crate) enum PluginKind {
    /// A component of the `wasmcron:job` world (its exports checked at load).
    Component(InstancePre<ComponentState>),
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
    /// The JSON Schema `pub_args` must match, compiled; `None`: anything goes.
    pub arguments_schema: Option<ArgumentsSchema>,
}

/// A class as its plugin described it, its arguments schema still JSON text: checked
/// against the bounds and compiled by [`finish_classes`].
pub(super) struct DescribedClass {
    pub class: JobClass,
    pub schema_text: Option<String>,
}

/// The exports of a component, typed by the world version whose `describe` it has.
enum JobExports {
    /// 0.3.0: job classes with an `arguments-schema`.
    Current(current::JobPre<ComponentState>),
    /// 0.2.0 and 0.1.0.
    V0_2(v0_2::JobPre<ComponentState>),
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
    /// A class list larger than the host takes.
    #[error("the plugin's describe() returned more than this server accepts: {0}")]
    TooLarge(String),
    /// The plugin's structure or its compile exceeds a bound of the host.
    #[error("the plugin is larger than this server accepts: {0}")]
    OverLimit(String),
}

/// The hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Runtime {
    /// Loads a plugin from its `.wasm` bytes, and validates it (its world version,
    /// imports, exports and classes).
    ///
    /// With a `cache_dir`, the compiled artifact is read from there if an earlier load
    /// left one for the same bytes and engine (a usable one: a corrupt or stale file is
    /// compiled again). Nothing is written: [`Runtime::cache_artifact`] does that for a
    /// plugin that is kept, so that a plugin is compiled once, not at every start.
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
        let sha256 = sha256_hex(&wasm);
        let limits = self.options.plugin_limits;
        let artifact = cache_dir.map(|dir| self.artifact_path(dir, &sha256));
        // A cached artifact keeps its plugin's pool needs beside it: reading them back
        // saves inspecting the bytes again (a fifth of a cached load). Without them,
        // bounds first: reading the structure takes milliseconds, compiling a plugin
        // over them could take minutes. (The code-size bounds guard compiling; a plugin
        // that passed them once is not refused for them when its compiled artifact is
        // loaded. Its pool needs are checked against the current limits either way.)
        let recorded = artifact.as_deref().and_then(read_recorded_needs);
        let inspected = match recorded {
            Some(needs) => needs,
            None => {
                let bytes = wasm.clone();
                tokio::task::spawn_blocking(move || inspect(&bytes, &limits))
                    .await
                    .map_err(|e| LoadError::Invalid(format!("inspection task failed: {e}")))??
            }
        };
        let (world_version, classes, kind, from_artifact) = if is_core_module(&wasm) {
            self.load_command(&wasm, artifact).await?
        } else {
            self.load_component(&wasm, artifact, inspected).await?
        };
        let needs = match &kind {
            PluginKind::Component(pre) => {
                wasmtime_needs(pre.component().resources_required(), inspected)
            }
            PluginKind::Command(pre) => {
                wasmtime_needs(Some(pre.module().resources_required()), inspected)
            }
        };
        check_pool_limits(needs, &limits)?;
        let capabilities = match &kind {
            PluginKind::Component(pre) => {
                let ty = pre.component().component_type();
                let names: Vec<String> = ty
                    .imports(&self.engine)
                    .map(|(n, _)| n.to_owned())
                    .collect();
                capabilities_of(names.iter().map(String::as_str))
            }
            PluginKind::Command(pre) => {
                let names: Vec<&str> = pre.module().imports().map(|i| i.name()).collect();
                if names.contains(&"environ_get") {
                    vec!["environment"]
                } else {
                    Vec::new()
                }
            }
        };
        Ok(Plugin {
            sha256,
            size: wasm.len() as u64,
            world_version,
            classes,
            capabilities,
            needs,
            runs: Arc::new(tokio::sync::Semaphore::new(
                self.gate.runs_per_plugin(needs),
            )),
            kind,
            from_artifact,
        })
    }

    /// Writes the compiled artifact of a plugin that was compiled rather than loaded
    /// from `cache_dir`, for the next load. The cache is an optimisation: failing to
    /// write it costs a compile at the next start, not the plugin.
    pub async fn cache_artifact(&self, plugin: &Plugin, cache_dir: &Path) {
        let path = self.artifact_path(cache_dir, &plugin.sha256);
        // The needs first: an artifact is only ever found with its needs beside it
        // (unless writing them failed, which costs an inspection at the next load).
        // An artifact cached by a version that kept no needs gets them now.
        let needs_path = recorded_needs_path(&path);
        if plugin.from_artifact && needs_path.exists() {
            return;
        }
        let record = plugin.needs.to_record();
        let recorded = tokio::task::spawn_blocking(move || {
            crate::fsutil::write_atomically(&needs_path, record.as_bytes())
        })
        .await
        .map_err(anyhow::Error::from)
        .and_then(|written| written);
        if let Err(e) = recorded {
            tracing::warn!(path = %path.display(), "could not keep the plugin's pool needs beside its artifact: {e:#}");
        }
        if plugin.from_artifact {
            return;
        }
        let serialized = match &plugin.kind {
            PluginKind::Component(pre) => pre.component().serialize(),
            PluginKind::Command(pre) => pre.module().serialize(),
        };
        // Written atomically (temporary file, then rename) so a crash never leaves a
        // torn artifact under the final name.
        let written = match serialized {
            Ok(bytes) => {
                let target = path.clone();
                tokio::task::spawn_blocking(move || {
                    crate::fsutil::write_atomically(&target, &bytes)
                })
                .await
                .map_err(anyhow::Error::from)
                .and_then(|written| written)
            }
            Err(e) => Err(anyhow::Error::from(e)),
        };
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), "could not cache the compiled plugin: {e:#}");
        }
    }

    /// Loads a component of the `wasmcron:job` world and asks it for its classes.
    async fn load_component(
        &self,
        wasm: &Arc<[u8]>,
        artifact: Option<PathBuf>,
        needs: PoolNeeds,
    ) -> Result<(String, Vec<JobClass>, PluginKind, bool), LoadError> {
        let (component, from_artifact): (Component, bool) =
            self.compile_or_load(wasm, artifact).await?;
        let world_version = check_world_version(&self.engine, &component)?;
        // Pre-instantiation type-checks every import (and only imports: the exports
        // are checked by `JobPre::new`), so its error always names an import.
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::UnsupportedImport(format!("{e:#}")))?;
        // The newest `describe` first; a component whose `describe` has the shape of
        // an older world is one of those (its imports may name no version at all).
        let (exports, world_version) = match current::JobPre::new(instance_pre.clone()) {
            Ok(pre) => (JobExports::Current(pre), world_version),
            Err(newest) => match v0_2::JobPre::new(instance_pre.clone()) {
                Ok(pre) if version_newer(&world_version, "0.2.0") => {
                    (JobExports::V0_2(pre), "0.2.0".to_owned())
                }
                Ok(pre) => (JobExports::V0_2(pre), world_version),
                Err(_) => return Err(LoadError::NotAJob(format!("{newest:#}"))),
            },
        };
        let needs = wasmtime_needs(component.resources_required(), needs);
        check_pool_limits(needs, &self.options.plugin_limits)?;
        let classes = self.describe(&exports, needs).await?;
        Ok((
            world_version,
            classes,
            PluginKind::Component(instance_pre),
            from_artifact,
        ))
    }

    /// Loads a core module: a WASI command with a manifest, or refused with the reason.
    async fn load_command(
        &self,
        wasm: &Arc<[u8]>,
        artifact: Option<PathBuf>,
    ) -> Result<(String, Vec<JobClass>, PluginKind, bool), LoadError> {
        let (module, from_artifact): (Module, bool) = self.compile_or_load(wasm, artifact).await?;
        if module.get_export("_start").is_none() {
            return Err(LoadError::CoreModule);
        }
        let classes = finish_classes(read_manifest(wasm)?, &self.class_limits)?;
        let pre = self
            .command_linker
            .instantiate_pre(&module)
            .map_err(|e| LoadError::UnsupportedImport(format!("{e:#}")))?;
        Ok((
            "wasi-command".into(),
            classes,
            PluginKind::Command(pre),
            from_artifact,
        ))
    }

    /// Where the compiled artifact of the plugin with this hash lives in `dir`.
    pub fn artifact_path(&self, dir: &Path, sha256: &str) -> PathBuf {
        dir.join(format!("{sha256}-{}.cwasm", fingerprint(&self.engine)))
    }

    /// Loads the cached artifact of `wasm` if there is a usable one (true), otherwise
    /// compiles it (false): in a child process with a deadline when the runtime has
    /// the binary for it (`compile.rs`), else here. Off the async threads: compiling
    /// takes from milliseconds to seconds. Writes nothing.
    async fn compile_or_load<C: Compiled>(
        &self,
        wasm: &Arc<[u8]>,
        artifact: Option<PathBuf>,
    ) -> Result<(C, bool), LoadError> {
        let task_failed =
            |e: tokio::task::JoinError| LoadError::Invalid(format!("compilation task failed: {e}"));
        let engine = self.engine.clone();
        if let Some(path) = artifact {
            let loaded = tokio::task::spawn_blocking(move || load_artifact::<C>(&engine, &path))
                .await
                .map_err(task_failed)?;
            if let Some(compiled) = loaded {
                return Ok((compiled, true));
            }
        }
        let engine = self.engine.clone();
        let started = std::time::Instant::now();
        let compiled = match &self.options.compile.exe {
            Some(exe) => {
                let artifact = super::compile::in_child(exe, &self.options, wasm.clone()).await?;
                tokio::task::spawn_blocking(move || {
                    // SAFETY: the artifact was made just now by this host's own binary,
                    // for an engine of the same settings (see `compile.rs`).
                    unsafe { C::deserialize(&engine, &artifact) }
                })
                .await
                .map_err(task_failed)?
            }
            None => {
                let wasm = wasm.clone();
                tokio::task::spawn_blocking(move || C::compile(&engine, &wasm))
                    .await
                    .map_err(task_failed)?
            }
        };
        let compiled = compiled.map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        crate::metrics::get().plugin_compiled(started.elapsed());
        Ok((compiled, false))
    }

    /// Calls a component's `describe()` in a sandbox of its own and validates the
    /// classes it lists.
    async fn describe(
        &self,
        exports: &JobExports,
        needs: PoolNeeds,
    ) -> Result<Vec<JobClass>, LoadError> {
        let limits = RunLimits {
            timeout: Duration::from_secs(10),
            memory_bytes: 256 << 20,
            ..RunLimits::default()
        };
        // Its instance takes pool slots and memory like a run's.
        let _reservation = self
            .gate
            .reserve(None, needs, limits.memory_bytes)
            .await
            .map_err(|_| LoadError::Describe("the host is shutting down".into()))?;
        let mut store = self
            .new_store(&limits, Grants::default(), ComponentState::new)
            .map_err(|e| LoadError::Describe(format!("{e:#}")))?;
        let call = async {
            Ok::<_, wasmtime::Error>(match exports {
                JobExports::Current(pre) => {
                    let job = pre.instantiate_async(&mut store).await?;
                    let classes = job.call_describe(&mut store).await?;
                    classes.into_iter().map(described_current).collect()
                }
                JobExports::V0_2(pre) => {
                    let job = pre.instantiate_async(&mut store).await?;
                    let classes = job.call_describe(&mut store).await?;
                    classes.into_iter().map(described_v0_2).collect()
                }
            })
        };
        let classes = match tokio::time::timeout(limits.timeout, call).await {
            Err(_) => {
                return Err(LoadError::Describe(format!(
                    "it did not return within {} s",
                    limits.timeout.as_secs()
                )));
            }
            Ok(Err(e)) => {
                let stderr = store.data_mut().sandbox().stderr.text();
                return Err(LoadError::Describe(failure(&e, &stderr).1));
            }
            Ok(Ok(classes)) => classes,
        };
        finish_classes(classes, &self.class_limits)
    }
}

/// A class of a 0.3.0 `describe()`.
fn described_current(c: current::wasmcron::job::types::JobClass) -> DescribedClass {
    DescribedClass {
        class: JobClass {
            name: c.name,
            notes: c.notes,
            arguments: c
                .arguments
                .into_iter()
                .map(|a| ArgumentDoc {
                    name: a.name,
                    type_: a.type_,
                    description: a.description,
                })
                .collect(),
            example_arguments: c.example_arguments,
            arguments_schema: None,
        },
        schema_text: c.arguments_schema,
    }
}

/// A class of a 0.2.0 or 0.1.0 `describe()`: no schema.
fn described_v0_2(c: v0_2::wasmcron::job::types::JobClass) -> DescribedClass {
    DescribedClass {
        class: JobClass {
            name: c.name,
            notes: c.notes,
            arguments: c
                .arguments
                .into_iter()
                .map(|a| ArgumentDoc {
                    name: a.name,
                    type_: a.type_,
                    description: a.description,
                })
                .collect(),
            example_arguments: c.example_arguments,
            arguments_schema: None,
        },
        schema_text: None,
    }
}

/// Validates the described classes ([`validate_classes`]), then bounds and compiles
/// each one's arguments schema (once, here: every check of a job's arguments uses the
/// compiled validator).
fn finish_classes(
    described: Vec<DescribedClass>,
    limits: &ClassLimits,
) -> Result<Vec<JobClass>, LoadError> {
    let (mut classes, schemas): (Vec<JobClass>, Vec<Option<String>>) = described
        .into_iter()
        .map(|d| (d.class, d.schema_text))
        .unzip();
    validate_classes(&classes, limits)?;
    for (class, text) in classes.iter_mut().zip(schemas) {
        let Some(text) = text else { continue };
        if text.len() > limits.max_doc_bytes {
            let shown = super::state::prefix_at_char_boundary(&class.name, 64);
            return Err(LoadError::TooLarge(format!(
                "class '{shown}': its arguments schema is {} bytes, over the limit of {} bytes \
                 (--max-class-doc-bytes)",
                text.len(),
                limits.max_doc_bytes
            )));
        }
        let schema = ArgumentsSchema::compile(&text).map_err(|why| {
            LoadError::BadClasses(format!(
                "the arguments schema of class '{}' is not usable: {why}",
                class.name
            ))
        })?;
        if let Ok(example) = serde_json::from_str(&class.example_arguments)
            && let Err(why) = schema.check(&example)
        {
            return Err(LoadError::BadClasses(format!(
                "the example arguments of class '{}' do not match its arguments schema: {why}",
                class.name
            )));
        }
        class.arguments_schema = Some(schema);
    }
    Ok(classes)
}

/// What one instantiation takes: the inspection's count, raised to wasmtime's own
/// count of memories and tables where it has one (it has none for a component that
/// imports core modules).
fn wasmtime_needs(
    resources: Option<wasmtime::ResourcesRequired>,
    inspected: PoolNeeds,
) -> PoolNeeds {
    let Some(resources) = resources else {
        return inspected;
    };
    inspected.max(PoolNeeds {
        core_instances: 0,
        memories: resources.num_memories,
        tables: resources.num_tables,
    })
}

/// A core module has version 1 in its header; a component has a different version
/// and layer field.
pub(super) fn is_core_module(wasm: &[u8]) -> bool {
    wasm.get(4..8) == Some(&[1, 0, 0, 0])
}

/// What the engine compiles a plugin into: a [`Component`] or a core [`Module`].
trait Compiled: Sized + Send + 'static {
    fn compile(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Self>;

    /// # Safety
    /// `path` must hold an artifact this host serialized for an engine with the same
    /// fingerprint (anything else may be executed as machine code).
    unsafe fn deserialize_file(engine: &Engine, path: &Path) -> wasmtime::Result<Self>;

    /// # Safety
    /// As for [`Compiled::deserialize_file`], for bytes in memory.
    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self>;
}

impl Compiled for Component {
    fn compile(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Self> {
        Component::new(engine, wasm)
    }

    unsafe fn deserialize_file(engine: &Engine, path: &Path) -> wasmtime::Result<Self> {
        // SAFETY: the caller's promise is the one wasmtime asks for.
        unsafe { Component::deserialize_file(engine, path) }
    }

    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's promise is the one wasmtime asks for.
        unsafe { Component::deserialize(engine, bytes) }
    }
}

impl Compiled for Module {
    fn compile(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Self> {
        Module::new(engine, wasm)
    }

    unsafe fn deserialize_file(engine: &Engine, path: &Path) -> wasmtime::Result<Self> {
        // SAFETY: the caller's promise is the one wasmtime asks for.
        unsafe { Module::deserialize_file(engine, path) }
    }

    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's promise is the one wasmtime asks for.
        unsafe { Module::deserialize(engine, bytes) }
    }
}

/// Where the pool needs of the artifact at `artifact` are kept
/// (`<sha256>-<engine>.needs`, beside `<sha256>-<engine>.cwasm`).
pub fn recorded_needs_path(artifact: &Path) -> PathBuf {
    artifact.with_extension("needs")
}

/// The pool needs kept beside the artifact at `artifact`, if both are there (needs
/// without their artifact belong to nothing that will load).
fn read_recorded_needs(artifact: &Path) -> Option<PoolNeeds> {
    let text = std::fs::read_to_string(recorded_needs_path(artifact)).ok()?;
    artifact
        .exists()
        .then(|| PoolNeeds::from_record(&text))
        .flatten()
}

/// The cached artifact at `path`, if there is a usable one.
fn load_artifact<C: Compiled>(engine: &Engine, path: &Path) -> Option<C> {
    if !path.exists() {
        return None;
    }
    // SAFETY: the artifact was written by this host ([`Runtime::cache_artifact`])
    // into its own data directory (or, for `wasmcron run`, the user's own cache
    // directory), under a name holding the engine's fingerprint;
    // deserializing it is only unsafe for untrusted input. A corrupt or stale file
    // fails here and is recompiled.
    match unsafe { C::deserialize_file(engine, path) } {
        Ok(compiled) => Some(compiled),
        Err(e) => {
            tracing::warn!(path = %path.display(), "recompiling: cached artifact unusable: {e:#}");
            None
        }
    }
}

/// Class names must be usable in `job_class_string` and unique, each example must be
/// JSON, and the list must keep within `limits` (checked first, before anything is
/// parsed: the number of classes, then for each class its name, notes, number of
/// arguments, argument docs and example arguments).
fn validate_classes(classes: &[JobClass], limits: &ClassLimits) -> Result<(), LoadError> {
    check_class_limits(classes, limits).map_err(LoadError::TooLarge)?;
    if classes.is_empty() {
        return Err(LoadError::BadClasses("it lists no job classes".into()));
    }
    let mut seen = std::collections::HashSet::new();
    for class in classes {
        let valid = !class.name.is_empty()
            && class
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(LoadError::BadClasses(format!(
                "class name '{}' must be ASCII letters, digits and '_'",
                class.name
            )));
        }
        if !seen.insert(&class.name) {
            return Err(LoadError::BadClasses(format!(
                "class '{}' is listed twice",
                class.name
            )));
        }
        if serde_json::from_str::<serde_json::Value>(&class.example_arguments).is_err() {
            return Err(LoadError::BadClasses(format!(
                "the example arguments of class '{}' are not JSON",
                class.name
            )));
        }
    }
    Ok(())
}

/// The first limit of `limits` the class list passes, as a sentence naming its flag.
fn check_class_limits(classes: &[JobClass], limits: &ClassLimits) -> Result<(), String> {
    if classes.len() > limits.max_classes {
        return Err(format!(
            "{} classes, over the limit of {} classes per plugin (--max-plugin-classes)",
            classes.len(),
            limits.max_classes
        ));
    }
    let max = limits.max_doc_bytes;
    for class in classes {
        // A name over the bound is quoted by its start only.
        let shown = super::state::prefix_at_char_boundary(&class.name, 64);
        let too_long = |what: &str, bytes: usize| {
            format!(
                "class '{shown}': its {what} {bytes} bytes, over the limit of {max} bytes \
                 (--max-class-doc-bytes)"
            )
        };
        if class.name.len() > max {
            return Err(too_long("name is", class.name.len()));
        }
        if class.notes.len() > max {
            return Err(too_long("notes are", class.notes.len()));
        }
        if class.arguments.len() > limits.max_arguments {
            return Err(format!(
                "class '{shown}' has {} arguments, over the limit of {} (--max-class-arguments)",
                class.arguments.len(),
                limits.max_arguments
            ));
        }
        let argument_docs: usize = class
            .arguments
            .iter()
            .map(|a| a.name.len() + a.type_.len() + a.description.len())
            .sum();
        if argument_docs > max {
            return Err(too_long(
                "argument docs (names, types and descriptions) are",
                argument_docs,
            ));
        }
        if class.example_arguments.len() > max {
            return Err(too_long(
                "example arguments are",
                class.example_arguments.len(),
            ));
        }
    }
    Ok(())
}

/// Finds the `wasmcron:job` version the component was built against and refuses a
/// newer one than the host's.
fn check_world_version(engine: &Engine, component: &Component) -> Result<String, LoadError> {
    let ty = component.component_type();
    let prefix = format!("{WORLD_PACKAGE}/");
    let mut found: Option<String> = None;
    for (name, _) in ty.imports(engine).chain(ty.exports(engine)) {
        if let Some(rest) = name.strip_prefix(&prefix)
            && let Some((_, version)) = rest.split_once('@')
            && found.as_deref().is_none_or(|f| version_newer(version, f))
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
    fn class_lists_are_bounded() {
        let class = |name: &str, notes: usize, arguments: usize| JobClass {
            name: name.into(),
            notes: "n".repeat(notes),
            arguments: (0..arguments)
                .map(|i| ArgumentDoc {
                    name: format!("a{i}"),
                    type_: "string".into(),
                    description: "d".into(),
                })
                .collect(),
            example_arguments: "[]".into(),
            arguments_schema: None,
        };
        let limits = ClassLimits {
            max_classes: 2,
            max_arguments: 3,
            max_doc_bytes: 100,
        };
        let check = |classes: &[JobClass]| match validate_classes(classes, &limits) {
            Err(LoadError::TooLarge(why)) => why,
            other => panic!("expected TooLarge, got {other:?}"),
        };
        assert!(validate_classes(&[class("A", 100, 3)], &limits).is_ok());
        let three = [class("A", 1, 0), class("B", 1, 0), class("C", 1, 0)];
        assert_eq!(
            check(&three),
            "3 classes, over the limit of 2 classes per plugin (--max-plugin-classes)"
        );
        assert!(check(&[class("A", 101, 0)]).contains("its notes are 101 bytes"));
        assert!(check(&[class("A", 1, 4)]).contains("(--max-class-arguments)"));
        assert!(check(&[class(&"N".repeat(101), 1, 0)]).contains("its name is 101 bytes"));
        let mut wordy = class("A", 1, 1);
        wordy.arguments[0].description = "d".repeat(100);
        assert!(check(&[wordy]).contains("argument docs"));
        let mut example = class("A", 1, 0);
        example.example_arguments = format!("[{}]", "1,".repeat(60) + "1");
        assert!(check(&[example]).contains("example arguments are 123 bytes"));
    }

    #[test]
    fn tells_core_modules_from_components() {
        assert!(is_core_module(b"\0asm\x01\0\0\0"));
        assert!(!is_core_module(b"\0asm\x0d\0\x01\0"));
    }
}
