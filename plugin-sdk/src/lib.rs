//! Write [wasmcron](https://github.com/wasmcron/wasmcron) job plugins in Rust.
//!
//! A plugin is a WebAssembly component holding one or more *job classes*. With this
//! crate, a job class is a plain Rust type implementing [`Job`]: its arguments are a
//! serde type decoded from the job's `pub_args`, its result any serde type, its error
//! anything that displays. One macro, [`export_jobs!`], exports the plugin.
//!
//! The arguments type also derives [`JsonSchema`]: the SDK hands the server its JSON
//! Schema (with the type's doc comments as descriptions), and the server checks every
//! job's `pub_args` against it when the job is saved, so a job with arguments of the
//! wrong shape is refused at once, naming the field, instead of failing at its first
//! run. The class list's argument docs are taken from the same schema.
//!
//! Build it for `wasm32-wasip2` as a `cdylib`; the `.wasm` that cargo writes is the
//! component that wasmcron runs.
//!
//! # Example
//!
//! `Cargo.toml`: the SDK is the only dependency (it re-exports [`serde`],
//! [`serde_json`] and [`schemars`]):
//! ```toml
//! [package]
//! name = "greeter"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! wasmcron-sdk = { path = "../plugin-sdk" }
//!
//! [profile.release]
//! opt-level = "s"
//! lto = true
//! panic = "abort"
//! ```
//!
//! `src/lib.rs`:
//! ```
//! use wasmcron_sdk::serde::{Deserialize, Serialize};
//! use wasmcron_sdk::serde_json::{Value, json};
//! use wasmcron_sdk::{Context, Job, JsonSchema, Result, fail, info};
//!
//! /// Greets someone, a given number of times.
//! struct Greet;
//!
//! /// Who to greet, and how often.
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(crate = "wasmcron_sdk::serde", deny_unknown_fields)]
//! #[schemars(crate = "wasmcron_sdk::schemars")]
//! struct GreetArgs {
//!     /// Who to greet.
//!     name: String,
//!     /// How often (default 1, at most 10).
//!     #[serde(default = "one")]
//!     times: u32,
//! }
//! fn one() -> u32 { 1 }
//!
//! #[derive(Serialize)]
//! #[serde(crate = "wasmcron_sdk::serde")]
//! struct Greeting {
//!     lines: Vec<String>,
//! }
//!
//! impl Job for Greet {
//!     const NAME: &'static str = "Greet";
//!     const NOTES: &'static str = "Greets `name`, `times` times.";
//!     type Args = GreetArgs;
//!     type Output = Greeting;
//!
//!     fn example_arguments() -> Value {
//!         json!({"name": "world", "times": 2})
//!     }
//!
//!     fn run(ctx: &Context, args: GreetArgs) -> Result<Greeting> {
//!         if args.times > 10 {
//!             fail!("times must be at most 10, got {}", args.times);
//!         }
//!         info!("greeting {} for job {:?}", args.name, ctx.job_name);
//!         let lines = (0..args.times).map(|_| format!("hello, {}", args.name)).collect();
//!         Ok(Greeting { lines })
//!     }
//! }
//!
//! wasmcron_sdk::export_jobs!(Greet);
//! # fn main() {}
//! ```
//!
//! Then `cargo build --release --target wasm32-wasip2` and
//! `wasmcron run target/wasm32-wasip2/release/greeter.wasm --class Greet --args '{"name":"you"}'`.
//!
//! # serde and schemars through the SDK
//! [`serde`] (with its derive macros), [`serde_json`] and [`schemars`] are
//! re-exported, so a plugin needs no dependency of its own on them. Their derives name
//! their crate in the code they generate, so a type deriving through the re-export
//! says where it is: `#[serde(crate = "wasmcron_sdk::serde")]` and
//! `#[schemars(crate = "wasmcron_sdk::schemars")]`, as in the example. (A plugin that
//! depends on them itself may derive as usual; they are the same crates.)
//!
//! # Arguments schemas
//! [`Job::arguments_schema`] is derived from [`Job::Args`] by schemars, which follows
//! the type's serde attributes (`rename`, `default`, `deny_unknown_fields`, ...) and
//! takes each field's doc comment as its description. `serde_json::Value` arguments
//! have no schema (anything goes), as before. A class may override the method to
//! give a stricter schema by hand (e.g. bounds: `#[schemars(range(max = 10))]` on a
//! field does that too), or `None` to check nothing.
//!
//! # What a run can do
//! A run is a fresh instance: nothing in its memory survives from one run to the next.
//! By default it gets no files, no environment variables and no network. Its `stdout`,
//! `stderr` and the lines it sends through [`log`] (or [`info!`] and friends) are
//! captured into the execution record, each up to the host's bound. It runs until it
//! returns, fails, or hits the host's time or memory limit.
//!
//! What a job is granted, in its options, it reaches through the [`Context`]:
//! - [`Context::env`]: the variables of its `env` option;
//! - [`Context::secret`]: the secrets named in its `secrets` option;
//! - [`Context::state`]: a small key-value store of its own, kept across its runs;
//! - [`http`] (cargo feature `http`, on by default): HTTP requests to the hosts of its
//!   `allowed_hosts` option.
//!
//! ```no_run
//! use wasmcron_sdk::serde_json::{Value, json};
//! use wasmcron_sdk::{Context, Job, Result, fail, http};
//!
//! /// Posts how many times it has run to a webhook, with a granted token.
//! struct Report;
//!
//! impl Job for Report {
//!     const NAME: &'static str = "Report";
//!     const NOTES: &'static str = "Posts its run count to the `REPORT_URL` webhook.";
//!     type Args = Value;
//!     type Output = Value;
//!
//!     fn run(ctx: &Context, _args: Value) -> Result<Value> {
//!         let Some(url) = ctx.env("REPORT_URL") else {
//!             fail!("set REPORT_URL in the job's `env` option");
//!         };
//!         let Some(token) = ctx.secret("REPORT_TOKEN") else {
//!             fail!("grant the job the secret REPORT_TOKEN (its `secrets` option)");
//!         };
//!         let state = ctx.state();
//!         let runs = state.get_json::<u64>("runs")?.unwrap_or(0) + 1;
//!         let response = http::Request::new("POST", &url)
//!             .header("Authorization", &format!("Bearer {token}"))
//!             .json(&json!({"runs": runs}))
//!             .send()?;
//!         if !response.is_success() {
//!             fail!("{url} answered {}: {}", response.status, response.text());
//!         }
//!         state.set_json("runs", &runs)?; // saved only if this run succeeds
//!         Ok(json!({"runs": runs}))
//!     }
//! }
//! # fn main() {}
//! ```
//!
//! # Failures
//! Returning `Err` fails the run with the error's message; the execution's
//! `description` is `job_error`. A panic also fails the run, as a `trap` (plugins build
//! with `panic = "abort"`, so the instance traps); the panic message reaches the
//! execution through the captured `stderr`, with the guest's backtrace. Growing memory
//! past the job's limit fails it as `out_of_memory`. Arguments that do not decode into
//! [`Job::Args`] fail the run with serde's message, before `run` is called (a
//! `job_error`).
#![deny(missing_docs)]

extern crate self as wasmcron_sdk;

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;

/// schemars, which derives the arguments schema: derive [`JsonSchema`] through it with
/// `#[schemars(crate = "wasmcron_sdk::schemars")]`.
pub use schemars;
/// The derive (and trait) every [`Job::Args`] type implements.
pub use schemars::JsonSchema;
/// serde, with its derive macros: derive through it with
/// `#[serde(crate = "wasmcron_sdk::serde")]` (see the crate's example).
pub use serde;
/// serde_json, for [`Job::example_arguments`] and untyped arguments (`Value`).
pub use serde_json;

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// Bindings generated from the `wasmcron:job` world (`wit/job.wit`, a copy of the
/// repository's `wit/job.wit` kept inside the crate so that it builds from anywhere).
///
/// Plugins rarely need these directly: [`Job`] and [`export_jobs!`] wrap them.
#[allow(missing_docs, clippy::too_many_arguments)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "job",
        pub_export_macro: true,
        export_macro_name: "__export_job_world",
        runtime_path: "wasmcron_sdk::__wit_bindgen::rt",
    });
}

use bindings::wasmcron::job::host;
use bindings::wasmcron::job::state as wit_state;
use bindings::wasmcron::job::types;

#[cfg(feature = "http")]
pub mod http;

/// The severity of a log line.
pub use types::Level;

/// The version of the `wasmcron:job` world this SDK implements: the package version of
/// `wit/job.wit`, which the bindings are generated from (a test checks they agree).
pub const WORLD_VERSION: &str = "0.3.0";

/// What the host tells a run about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The job's id (32 hex characters); empty for a run outside a job (the CLI).
    pub job_id: String,
    /// The job's name.
    pub job_name: String,
    /// This execution's id; empty outside the server.
    pub execution_id: String,
    /// The occurrence's nominal fire time, RFC 3339 in UTC.
    pub scheduled_time: String,
    /// 1 for the first attempt of an occurrence, 2 for its first retry, ...
    pub attempt: u32,
}

impl Context {
    /// The environment variable `name`, if the run has it.
    ///
    /// A run's environment holds only what its job was granted: the variables of the
    /// job's `env` option (configuration, e.g. `{"env": {"REGION": "eu"}}`) and the
    /// secrets named in its `secrets` option. Nothing of the host's own environment
    /// reaches it. `None` when the variable is not set (or is not valid UTF-8).
    ///
    /// The same as `std::env::var(name).ok()`; use [`Context::secret`] for secrets,
    /// which says what it reads.
    pub fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    /// The secret `name`, if the job is granted it.
    ///
    /// A job reads a secret only when its `secrets` option names it (e.g.
    /// `{"secrets": ["API_TOKEN"]}`) and the server holds a secret of that name; the
    /// host then sets it as an environment variable for the run. `None` otherwise:
    /// fail with a message that names the secret, so whoever set the job up sees what
    /// to grant.
    ///
    /// The host masks a granted secret's value as `***` wherever the run echoes it
    /// (result, error, logs, progress, stdout, stderr); still, a secret is meant for a
    /// request header or a signature, not for the execution record.
    pub fn secret(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    /// The job's own key-value store, kept across its runs: see [`State`].
    pub fn state(&self) -> State {
        State { _private: () }
    }
}

impl From<types::Context> for Context {
    fn from(c: types::Context) -> Self {
        Context {
            job_id: c.job_id,
            job_name: c.job_name,
            execution_id: c.execution_id,
            scheduled_time: c.scheduled_time,
            attempt: c.attempt,
        }
    }
}

/// A small key-value store of the job's own, kept across its runs (and server
/// restarts); from [`Context::state`].
///
/// Keys and values are strings; [`State::get_json`] and [`State::set_json`] store any
/// serde type as JSON text.
///
/// - A run reads the state its job's last *successful* run left, and changes a copy.
///   The changes are saved when the run succeeds, and discarded when it fails, times
///   out or is cancelled: a retry sees what the failed attempt saw, so a job can
///   record progress without worrying about half-done runs.
/// - The host bounds the total size of a job's keys and values (1 MiB by default);
///   [`State::set`] fails, changing nothing, past it, and for an empty key or one
///   longer than 256 bytes.
/// - A run outside a job (`wasmcron run` on the command line) starts with an empty
///   state and saves nothing.
///
/// ```no_run
/// # use wasmcron_sdk::{Context, Result};
/// # fn run(ctx: &Context) -> Result<()> {
/// let state = ctx.state();
/// let last_seen: Option<String> = state.get("last_seen_id");
/// // ... fetch what is new since `last_seen` ...
/// state.set("last_seen_id", "4711")?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct State {
    _private: (),
}

impl State {
    /// The value stored under `key`, if any.
    pub fn get(&self, key: &str) -> Option<String> {
        wit_state::get(key)
    }

    /// Stores `value` under `key`, replacing what was there.
    ///
    /// # Errors
    /// The host's message, changing nothing, when the job's state would exceed the
    /// host's bound, or the key is empty or longer than 256 bytes.
    pub fn set(&self, key: &str, value: &str) -> Result<(), Error> {
        wit_state::set(key, value).map_err(Error)
    }

    /// Removes `key`; nothing happens if it is absent.
    pub fn delete(&self, key: &str) {
        wit_state::delete(key);
    }

    /// Every key, in ascending byte order.
    pub fn keys(&self) -> Vec<String> {
        wit_state::list_keys()
    }

    /// The value under `key` decoded from JSON, if any.
    ///
    /// # Errors
    /// When the stored value is not JSON of type `T` (the message names the key).
    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.get(key)
            .map(|text| decode_state(key, &text))
            .transpose()
    }

    /// Stores `value` under `key` as JSON text.
    ///
    /// # Errors
    /// As [`State::set`], and when `value` does not serialize to JSON.
    pub fn set_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), Error> {
        let text = serde_json::to_string(value)
            .map_err(|e| Error(format!("state key {key:?}: cannot encode the value: {e}")))?;
        self.set(key, &text)
    }
}

/// Decodes a state value, with an error that names the key.
fn decode_state<T: DeserializeOwned>(key: &str, text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| {
        Error(format!(
            "state key {key:?} does not hold the expected JSON: {e}"
        ))
    })
}

/// One argument a job class reads from `pub_args`, for the class list and forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argument {
    /// The argument's name.
    pub name: String,
    /// Its JSON type as a user would write it: `"string"`, `"integer"`, `"array"`, ...
    pub type_: String,
    /// What it means, in a sentence.
    pub description: String,
}

impl Argument {
    /// An argument with its name, JSON type and description.
    pub fn new(name: &str, type_: &str, description: &str) -> Self {
        Argument {
            name: name.to_owned(),
            type_: type_.to_owned(),
            description: description.to_owned(),
        }
    }
}

/// Why a run failed: a message for the execution record.
///
/// Any `std::error::Error` converts into it with `?`; [`fail!`] makes one from a
/// format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// An error with this message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Error(message.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(e: E) -> Self {
        Error(e.to_string())
    }
}

/// The result of a job's run.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Returns early from [`Job::run`] with an error made from a format string.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {
        return ::core::result::Result::Err($crate::Error::msg(::std::format!($($arg)*)))
    };
}

/// A job class: what a job's `job_class_string` names.
pub trait Job {
    /// The class name, the part of `job_class_string` after the plugin's name.
    const NAME: &'static str;
    /// What the job does, for people choosing a class.
    const NOTES: &'static str;
    /// The arguments, decoded from the job's `pub_args` (JSON) with serde; their JSON
    /// Schema is derived from the type ([`JsonSchema`]). Use `serde_json::Value` to
    /// take anything.
    type Args: DeserializeOwned + JsonSchema;
    /// The result, encoded as JSON into the execution record.
    type Output: Serialize;

    /// The JSON Schema a job's `pub_args` must match; the server refuses a job whose
    /// arguments do not. Derived from [`Job::Args`] by default; `None` (anything
    /// goes) when that type takes any JSON, like `serde_json::Value`.
    fn arguments_schema() -> Option<serde_json::Value> {
        derived_schema::<Self::Args>()
    }

    /// The arguments this class reads, for the class list: by default the top-level
    /// properties of [`Job::arguments_schema`], each with its JSON type and its doc
    /// comment.
    fn arguments() -> Vec<Argument> {
        Self::arguments_schema()
            .map(|schema| arguments_of(&schema))
            .unwrap_or_default()
    }

    /// A complete, valid `pub_args` for this class. `[]` by default.
    fn example_arguments() -> serde_json::Value {
        serde_json::Value::Array(Vec::new())
    }

    /// Runs the job once.
    ///
    /// # Errors
    /// An `Err` fails the run with its message.
    fn run(ctx: &Context, args: Self::Args) -> Result<Self::Output>;
}

/// The JSON Schema of `T` as schemars derives it (draft 2020-12), or `None` when it
/// accepts anything (`true`, or `{}` with only annotations).
pub fn derived_schema<T: JsonSchema>() -> Option<serde_json::Value> {
    let schema = schemars::schema_for!(T).to_value();
    let annotations = ["$schema", "title", "description"];
    let accepts_anything = match &schema {
        serde_json::Value::Bool(true) => true,
        serde_json::Value::Object(map) => map.keys().all(|k| annotations.contains(&k.as_str())),
        _ => false,
    };
    (!accepts_anything).then_some(schema)
}

/// The top-level properties of an object schema as [`Argument`]s: name, JSON type
/// (the first that is not `null`; a `$ref` is followed within the schema) and
/// description. Empty for a schema that is not an object's.
pub fn arguments_of(schema: &serde_json::Value) -> Vec<Argument> {
    use serde_json::Value;
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let resolve = |property: &'_ Value| -> Value {
        property
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|pointer| schema.pointer(pointer))
            .cloned()
            .unwrap_or_else(|| property.clone())
    };
    properties
        .iter()
        .map(|(name, property)| {
            let resolved = resolve(property);
            let mut type_ = type_name(&resolved);
            // "array of numbers" says more than "array".
            if type_ == "array"
                && let Some(items) = resolved.get("items")
            {
                let item_type = type_name(&resolve(items));
                if !item_type.is_empty() {
                    type_ = format!("array of {item_type}s");
                }
            }
            let description = property
                .get("description")
                .or_else(|| resolved.get("description"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            Argument::new(name, &type_, description)
        })
        .collect()
}

/// A schema's JSON type: its `type`, or the first of its types that is not `null`.
fn type_name(schema: &serde_json::Value) -> String {
    use serde_json::Value;
    match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null")
            .to_owned(),
        _ => String::new(),
    }
}

/// Appends a line to the execution's log.
pub fn log(level: Level, message: &str) {
    host::log(level, message);
}

/// Reports progress, 0 to 100 percent, with a short message.
pub fn progress(percent: u8, message: &str) {
    host::progress(percent.min(100), message);
}

/// Logs a formatted line at `info` level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log($crate::Level::Info, &::std::format!($($arg)*)) };
}

/// Logs a formatted line at `warn` level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log($crate::Level::Warn, &::std::format!($($arg)*)) };
}

/// Logs a formatted line at `error` level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log($crate::Level::Error, &::std::format!($($arg)*)) };
}

/// Logs a formatted line at `debug` level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log($crate::Level::Debug, &::std::format!($($arg)*)) };
}

/// Exports a plugin made of the given job classes (types implementing [`Job`]).
///
/// Use it once, at the crate root of a `cdylib`:
/// `wasmcron_sdk::export_jobs!(AwesomeJob, OtherJob);`
///
/// It generates the component's `describe` (from each class's [`Job::NAME`],
/// [`Job::NOTES`], [`Job::arguments`], [`Job::example_arguments`] and
/// [`Job::arguments_schema`]) and `run`, which
/// picks the class by name, decodes the arguments and encodes the result.
#[macro_export]
macro_rules! export_jobs {
    ($($job:ty),+ $(,)?) => {
        #[doc(hidden)]
        pub struct __WasmcronPlugin;

        impl $crate::bindings::Guest for __WasmcronPlugin {
            fn describe() -> ::std::vec::Vec<$crate::bindings::wasmcron::job::types::JobClass> {
                ::std::vec![$($crate::__private::describe::<$job>()),+]
            }

            fn run(
                ctx: $crate::bindings::wasmcron::job::types::Context,
                class: ::std::string::String,
                args: ::std::string::String,
            ) -> ::core::result::Result<::std::string::String, ::std::string::String> {
                $(
                    if class == <$job as $crate::Job>::NAME {
                        return $crate::__private::run::<$job>(ctx, &args);
                    }
                )+
                $crate::__private::unknown_class(&class, &[$(<$job as $crate::Job>::NAME),+])
            }
        }

        $crate::bindings::__export_job_world!(__WasmcronPlugin with_types_in $crate::bindings);
    };
}

#[doc(hidden)]
pub mod __private {
    use super::*;

    pub fn describe<J: Job>() -> types::JobClass {
        types::JobClass {
            name: J::NAME.to_owned(),
            notes: J::NOTES.to_owned(),
            arguments: J::arguments()
                .into_iter()
                .map(|a| types::Argument {
                    name: a.name,
                    type_: a.type_,
                    description: a.description,
                })
                .collect(),
            example_arguments: J::example_arguments().to_string(),
            arguments_schema: J::arguments_schema().map(|schema| schema.to_string()),
        }
    }

    pub fn run<J: Job>(ctx: types::Context, args: &str) -> Result<String, String> {
        let args: J::Args = serde_json::from_str(args)
            .map_err(|e| format!("invalid arguments for {}: {e}", J::NAME))?;
        let output = J::run(&ctx.into(), args).map_err(|e| e.to_string())?;
        serde_json::to_string(&output)
            .map_err(|e| format!("{} returned a result that is not JSON: {e}", J::NAME))
    }

    pub fn unknown_class(class: &str, known: &[&str]) -> Result<String, String> {
        Err(format!(
            "unknown job class '{class}'; this plugin has: {}",
            known.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    /// The repository's world, which the host implements.
    fn repository_wit() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/job.wit"))
            .expect("reading wit/job.wit")
    }

    /// The crate's own copy of the world is the repository's, byte for byte: the SDK
    /// builds from its copy wherever it is depended on (by path, by git, packaged).
    #[test]
    fn the_embedded_world_is_the_repositorys() {
        assert!(
            include_str!("../wit/job.wit") == repository_wit(),
            "plugin-sdk/wit/job.wit differs from wit/job.wit: copy wit/job.wit over it"
        );
    }

    /// The version in `wit/job.wit`'s `package wasmcron:job@<version>;` line.
    fn wit_package_version() -> String {
        let wit = repository_wit();
        let line = wit
            .lines()
            .find_map(|l| l.trim().strip_prefix("package wasmcron:job@"))
            .expect("wit/job.wit declares package wasmcron:job with a version");
        line.trim_end_matches(';').to_owned()
    }

    /// The SDK claims the world version its bindings were generated from (the host
    /// checks its own against the same file).
    #[test]
    fn the_world_version_is_the_wit_files() {
        assert_eq!(super::WORLD_VERSION, wit_package_version());
    }

    /// What an SDK user writes: doc comments, serde defaults, a nested type.
    #[allow(dead_code)]
    mod greet {
        use crate::serde::Deserialize;
        use crate::{Context, Job, JsonSchema, Result};

        pub struct Greet;

        /// Who to greet.
        #[derive(Deserialize, JsonSchema)]
        #[serde(crate = "crate::serde", deny_unknown_fields)]
        #[schemars(crate = "crate::schemars")]
        pub struct GreetArgs {
            /// The name to greet.
            pub name: String,
            /// How many times (default 1).
            #[serde(default)]
            pub times: Option<u32>,
            /// Extra lines, in order.
            #[serde(default)]
            pub lines: Vec<Line>,
        }

        /// One extra line.
        #[derive(Deserialize, JsonSchema)]
        #[serde(crate = "crate::serde")]
        #[schemars(crate = "crate::schemars")]
        pub struct Line {
            pub text: String,
        }

        impl Job for Greet {
            const NAME: &'static str = "Greet";
            const NOTES: &'static str = "Greets.";
            type Args = GreetArgs;
            type Output = ();

            fn run(_: &Context, _: GreetArgs) -> Result<()> {
                Ok(())
            }
        }

        pub struct Anything;

        impl Job for Anything {
            const NAME: &'static str = "Anything";
            const NOTES: &'static str = "Takes any JSON.";
            type Args = crate::serde_json::Value;
            type Output = ();

            fn run(_: &Context, _: crate::serde_json::Value) -> Result<()> {
                Ok(())
            }
        }
    }

    #[test]
    fn the_arguments_schema_is_derived_with_doc_comments_as_descriptions() {
        use super::Job;
        let schema = greet::Greet::arguments_schema().expect("a typed class has a schema");
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["description"], "Who to greet.");
        assert_eq!(schema["required"], super::serde_json::json!(["name"]));
        assert_eq!(schema["additionalProperties"], false);
        let name = &schema["properties"]["name"];
        assert_eq!(name["type"], "string");
        assert_eq!(name["description"], "The name to greet.");
        assert_eq!(
            schema["properties"]["times"]["description"],
            "How many times (default 1)."
        );
        // A nested type is a definition the property refers to.
        let lines = &schema["properties"]["lines"];
        assert_eq!(lines["type"], "array");
        assert_eq!(lines["items"]["$ref"], "#/$defs/Line");
        assert_eq!(schema["$defs"]["Line"]["description"], "One extra line.");
    }

    #[test]
    fn the_argument_docs_come_from_the_schema() {
        use super::{Argument, Job};
        assert_eq!(
            greet::Greet::arguments(),
            [
                Argument::new("name", "string", "The name to greet."),
                Argument::new("times", "integer", "How many times (default 1)."),
                Argument::new("lines", "array of objects", "Extra lines, in order."),
            ]
        );
    }

    #[test]
    fn untyped_arguments_have_no_schema() {
        use super::Job;
        assert_eq!(greet::Anything::arguments_schema(), None);
        assert!(greet::Anything::arguments().is_empty());
    }

    #[test]
    fn describe_hands_the_schema_to_the_host_as_json_text() {
        let class = super::__private::describe::<greet::Greet>();
        let text = class.arguments_schema.expect("the class has a schema");
        let schema: super::serde_json::Value = super::serde_json::from_str(&text).unwrap();
        assert_eq!(schema["properties"]["name"]["type"], "string");
        assert_eq!(
            super::__private::describe::<greet::Anything>().arguments_schema,
            None
        );
    }

    #[test]
    fn state_values_decode_as_json_with_the_key_in_errors() {
        assert_eq!(super::decode_state::<u64>("count", "41").unwrap(), 41);
        assert_eq!(
            super::decode_state::<Vec<String>>("seen", r#"["a","b"]"#).unwrap(),
            ["a", "b"]
        );
        let e = super::decode_state::<u64>("count", "forty-one").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("state key \"count\" does not hold the expected JSON: "),
            "{e}"
        );
    }
}
