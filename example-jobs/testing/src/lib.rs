//! The plugin `wasmcron.testing`: job classes that misbehave on purpose, so the tests
//! can prove that the host survives them and records each outcome. Not for production
//! jobs.
//!
//! Its classes give no arguments schema (each overrides `arguments_schema` with
//! `None`): the tests hand them arguments of every shape, to see the job itself refuse
//! them at run time.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Write;
use wasmcron_sdk::serde_json::{Map, Value, json};
use wasmcron_sdk::{
    Argument, Context, Job, JsonSchema, Level, Result, fail, http, info, log, progress,
};

/// Returns its arguments, after logging them: the well-behaved control.
struct Echo;

impl Job for Echo {
    const NAME: &'static str = "Echo";
    const NOTES: &'static str = "Logs its arguments and returns them.";
    type Args = Value;
    type Output = Value;

    fn run(ctx: &Context, args: Value) -> Result<Value> {
        info!(
            "echo attempt {} of job '{}': {args}",
            ctx.attempt, ctx.job_name
        );
        Ok(args)
    }
}

/// Sleeps for `seconds` (blocking in the host's clock, not busy-waiting).
struct Sleep;

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "wasmcron_sdk::schemars")]
struct SleepArgs {
    seconds: f64,
}

impl Job for Sleep {
    const NAME: &'static str = "Sleep";
    const NOTES: &'static str = "Sleeps for `seconds`, then returns them.";
    type Args = SleepArgs;
    type Output = Value;

    fn arguments_schema() -> Option<Value> {
        None
    }

    fn arguments() -> Vec<Argument> {
        vec![Argument::new("seconds", "number", "How long to sleep.")]
    }

    fn example_arguments() -> Value {
        json!({"seconds": 1})
    }

    fn run(_ctx: &Context, args: SleepArgs) -> Result<Value> {
        if !(0.0..=86_400.0).contains(&args.seconds) {
            fail!("seconds must be within 0..=86400");
        }
        info!("sleeping {} s", args.seconds);
        std::thread::sleep(std::time::Duration::from_secs_f64(args.seconds));
        Ok(json!({"slept": args.seconds}))
    }
}

/// Fails with the message given in `message`.
struct Fail;

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "wasmcron_sdk::schemars")]
struct FailArgs {
    #[serde(default = "default_failure")]
    message: String,
}

fn default_failure() -> String {
    "this job fails on purpose".to_owned()
}

impl Job for Fail {
    const NAME: &'static str = "Fail";
    const NOTES: &'static str = "Returns an error with `message`.";
    type Args = FailArgs;
    type Output = Value;

    fn arguments_schema() -> Option<Value> {
        None
    }

    fn run(_ctx: &Context, args: FailArgs) -> Result<Value> {
        fail!("{}", args.message)
    }
}

/// Panics.
struct Panic;

impl Job for Panic {
    const NAME: &'static str = "Panic";
    const NOTES: &'static str = "Panics with the message 'the testing job panicked'.";
    type Args = Value;
    type Output = Value;

    fn run(_ctx: &Context, _args: Value) -> Result<Value> {
        panic!("the testing job panicked")
    }
}

/// Never returns: a tight loop with no I/O.
struct Spin;

impl Job for Spin {
    const NAME: &'static str = "Spin";
    const NOTES: &'static str = "Loops forever without yielding.";
    type Args = Value;
    type Output = Value;

    fn run(_ctx: &Context, _args: Value) -> Result<Value> {
        let mut x: u64 = 0;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }
}

/// Allocates memory without end, one MiB at a time, touching every page.
struct Hog;

impl Job for Hog {
    const NAME: &'static str = "Hog";
    const NOTES: &'static str = "Allocates and holds memory until something stops it.";
    type Args = Value;
    type Output = Value;

    fn run(_ctx: &Context, _args: Value) -> Result<Value> {
        let mut held: Vec<Vec<u8>> = Vec::new();
        loop {
            held.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&held);
        }
    }
}

/// Writes `megabytes` MiB to stdout and to stderr.
struct Chatty;

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "wasmcron_sdk::schemars")]
struct ChattyArgs {
    #[serde(default = "default_megabytes")]
    megabytes: usize,
}

fn default_megabytes() -> usize {
    4
}

impl Job for Chatty {
    const NAME: &'static str = "Chatty";
    const NOTES: &'static str = "Writes `megabytes` MiB (default 4) to stdout and stderr.";
    type Args = ChattyArgs;
    type Output = Value;

    fn arguments_schema() -> Option<Value> {
        None
    }

    fn run(_ctx: &Context, args: ChattyArgs) -> Result<Value> {
        let line = [b'x'; 1023];
        let mut out = std::io::stdout().lock();
        let mut err = std::io::stderr().lock();
        for _ in 0..args.megabytes * 1024 {
            out.write_all(&line)?;
            out.write_all(b"\n")?;
            err.write_all(&line)?;
            err.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(json!({"written_bytes_per_stream": args.megabytes << 20}))
    }
}

/// Tries to read a host file.
struct ReadFile;

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "wasmcron_sdk::schemars")]
struct PathArgs {
    path: String,
}

impl Job for ReadFile {
    const NAME: &'static str = "ReadFile";
    const NOTES: &'static str = "Reads the file at `path` and returns its text.";
    type Args = PathArgs;
    type Output = String;

    fn arguments_schema() -> Option<Value> {
        None
    }

    fn run(_ctx: &Context, args: PathArgs) -> Result<String> {
        Ok(std::fs::read_to_string(&args.path)?)
    }
}

/// Reads environment variables: the sandbox's (none by default), or what a job's `env`
/// and `secrets` options grant it.
struct Env;

/// `{"name": ...}` (one variable, failing when unset: the sandbox test) or
/// `{"names": [...]}` (several, echoed everywhere a run's output goes: the secrets
/// test, which checks that each copy is redacted).
#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "wasmcron_sdk::schemars")]
struct EnvArgs {
    name: Option<String>,
    names: Option<Vec<String>>,
}

impl Job for Env {
    const NAME: &'static str = "Env";
    const NOTES: &'static str = "With `names`: returns an object mapping each name to its \
        environment variable's value or null, after logging, printing (stdout and stderr) \
        and reporting as progress `NAME=value` for each. With `name`: returns that one \
        variable, or fails saying how many variables the job sees.";
    type Args = EnvArgs;
    type Output = Value;

    fn arguments_schema() -> Option<Value> {
        None
    }

    fn arguments() -> Vec<Argument> {
        vec![
            Argument::new(
                "names",
                "array",
                "The variables to read and echo (strings).",
            ),
            Argument::new(
                "name",
                "string",
                "Instead of `names`: one variable to return, failing when it is unset.",
            ),
        ]
    }

    fn example_arguments() -> Value {
        json!({"names": ["HOME", "PATH"]})
    }

    fn run(ctx: &Context, args: EnvArgs) -> Result<Value> {
        let names = match (args.names, args.name) {
            (Some(names), _) => names,
            (None, Some(name)) => {
                let all: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                return match std::env::var(&name) {
                    Ok(v) => Ok(json!(v)),
                    Err(e) => fail!("{name}: {e} (the job sees {} variables)", all.len()),
                };
            }
            (None, None) => fail!("give `names` (an array of strings) or `name`"),
        };
        let mut values = Map::new();
        let mut out = std::io::stdout().lock();
        let mut err = std::io::stderr().lock();
        for (i, name) in names.iter().enumerate() {
            let value = ctx.env(name);
            let line = format!("{name}={}", value.as_deref().unwrap_or(""));
            log(Level::Info, &line);
            writeln!(out, "{line}")?;
            writeln!(err, "{line}")?;
            let percent = (i + 1) * 100 / names.len();
            progress(u8::try_from(percent).unwrap_or(100), &line);
            values.insert(name.clone(), value.map_or(Value::Null, Value::String));
        }
        out.flush()?;
        Ok(Value::Object(values))
    }
}

/// Tries to open a TCP connection.
struct Connect;

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "wasmcron_sdk::schemars")]
struct ConnectArgs {
    address: String,
}

impl Job for Connect {
    const NAME: &'static str = "Connect";
    const NOTES: &'static str = "Opens a TCP connection to `address` (host:port).";
    type Args = ConnectArgs;
    type Output = Value;

    fn arguments_schema() -> Option<Value> {
        None
    }

    fn run(_ctx: &Context, args: ConnectArgs) -> Result<Value> {
        let stream = std::net::TcpStream::connect(&args.address)?;
        Ok(json!({"connected": stream.peer_addr()?.to_string()}))
    }
}

/// Makes HTTP requests through the SDK's client, `repeat` times.
struct HttpFetch;

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "wasmcron_sdk::schemars")]
struct HttpFetchArgs {
    url: String,
    #[serde(default = "default_method")]
    method: String,
    body: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default = "one")]
    repeat: u32,
    #[serde(default = "yes")]
    follow_redirects: bool,
}

fn default_method() -> String {
    "GET".to_owned()
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// How much of each response body the result carries.
const BODY_SHOWN: usize = 4096;

impl Job for HttpFetch {
    const NAME: &'static str = "HttpFetch";
    const NOTES: &'static str = "Requests `url` `repeat` times, one after another, and \
        returns {\"responses\": [{\"status\", \"bytes\" (body length), \"body\" (text, cut \
        to 4096 bytes)}]}. The first request that fails fails the run: \"request <n> of \
        <repeat> failed: <why>\". Needs the URL's origin in the job's allowed_hosts.";
    type Args = HttpFetchArgs;
    type Output = Value;

    fn arguments_schema() -> Option<Value> {
        None
    }

    fn arguments() -> Vec<Argument> {
        vec![
            Argument::new("url", "string", "The http:// or https:// URL to request."),
            Argument::new("method", "string", "The method (default GET)."),
            Argument::new("body", "string", "The request body, if any."),
            Argument::new(
                "headers",
                "object",
                "Request headers: name to value (strings).",
            ),
            Argument::new(
                "repeat",
                "integer",
                "How many requests to make (default 1).",
            ),
            Argument::new(
                "follow_redirects",
                "boolean",
                "Whether to follow redirects (default true).",
            ),
        ]
    }

    fn example_arguments() -> Value {
        json!({"url": "https://example.com/", "method": "GET", "headers": {"Accept": "text/html"}, "repeat": 1})
    }

    fn run(_ctx: &Context, args: HttpFetchArgs) -> Result<Value> {
        let mut request =
            http::Request::new(&args.method, &args.url).follow_redirects(args.follow_redirects);
        for (name, value) in &args.headers {
            request = request.header(name, value);
        }
        if let Some(body) = args.body {
            request = request.body(body);
        }
        let mut responses = Vec::new();
        for n in 1..=args.repeat {
            let response = match request.clone().send() {
                Ok(response) => response,
                Err(e) => fail!("request {n} of {} failed: {e}", args.repeat),
            };
            let shown = &response.body[..response.body.len().min(BODY_SHOWN)];
            responses.push(json!({
                "status": response.status,
                "bytes": response.body.len(),
                "body": String::from_utf8_lossy(shown),
            }));
        }
        Ok(json!({"responses": responses}))
    }
}

/// Runs get/set/delete/keys operations against the job's state.
struct State;

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "wasmcron_sdk::schemars")]
struct StateArgs {
    ops: Vec<StateOp>,
    #[serde(default)]
    fail: bool,
}

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "wasmcron_sdk::schemars")]
#[serde(tag = "op", rename_all = "lowercase")]
enum StateOp {
    Get { key: String },
    Set { key: String, value: Value },
    Delete { key: String },
    Keys,
}

impl Job for State {
    const NAME: &'static str = "State";
    const NOTES: &'static str = "Runs `ops` in order against the job's state and returns \
        {\"results\": [...]}, one per op: get gives the value or null, set \"ok\" or \
        {\"error\": message} (a refused set does not fail the run), delete null, keys the \
        array of keys. With `fail`, fails after the ops (so their changes are discarded).";
    type Args = StateArgs;
    type Output = Value;

    fn arguments_schema() -> Option<Value> {
        None
    }

    fn arguments() -> Vec<Argument> {
        vec![
            Argument::new(
                "ops",
                "array",
                "Objects {\"op\": \"get\"|\"set\"|\"delete\"|\"keys\", \"key\", \"value\"}; \
                 a non-string value is stored as its JSON text.",
            ),
            Argument::new(
                "fail",
                "boolean",
                "Fail the run after the ops (default false).",
            ),
        ]
    }

    fn example_arguments() -> Value {
        json!({"ops": [
            {"op": "set", "key": "greeting", "value": "hello"},
            {"op": "get", "key": "greeting"},
            {"op": "keys"},
            {"op": "delete", "key": "greeting"}
        ]})
    }

    fn run(ctx: &Context, args: StateArgs) -> Result<Value> {
        let state = ctx.state();
        let results: Vec<Value> = args
            .ops
            .into_iter()
            .map(|op| match op {
                StateOp::Get { key } => state.get(&key).map_or(Value::Null, Value::String),
                StateOp::Set { key, value } => {
                    let value = match value {
                        Value::String(text) => text,
                        other => other.to_string(),
                    };
                    match state.set(&key, &value) {
                        Ok(()) => json!("ok"),
                        Err(e) => json!({"error": e.to_string()}),
                    }
                }
                StateOp::Delete { key } => {
                    state.delete(&key);
                    Value::Null
                }
                StateOp::Keys => json!(state.keys()),
            })
            .collect();
        if args.fail {
            fail!("failing on purpose after the state ops");
        }
        Ok(json!({"results": results}))
    }
}

/// Counts its job's successful runs in the state.
struct Counter;

impl Job for Counter {
    const NAME: &'static str = "Counter";
    const NOTES: &'static str = "Reads the state key \"count\" (an integer as text; absent \
        is 0), stores count + 1 and returns {\"count\": count + 1}. Takes no arguments: {}.";
    type Args = Value;
    type Output = Value;

    // No arguments: `{}`.
    fn example_arguments() -> Value {
        json!({})
    }

    fn run(ctx: &Context, _args: Value) -> Result<Value> {
        let state = ctx.state();
        let count: u64 = match state.get("count") {
            None => 0,
            Some(text) => match text.parse() {
                Ok(n) => n,
                Err(_) => fail!("the state key \"count\" holds {text:?}, not an integer"),
            },
        };
        let count = count + 1;
        state.set("count", &count.to_string())?;
        Ok(json!({"count": count}))
    }
}

/// Passes one large string to the host's `log` and `progress`, again and again: the
/// host must copy no more of it than it keeps.
struct LogFlood;

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "wasmcron_sdk::schemars")]
struct LogFloodArgs {
    bytes: usize,
    times: u32,
    #[serde(default = "default_unit")]
    unit: String,
}

fn default_unit() -> String {
    "x".to_owned()
}

impl Job for LogFlood {
    const NAME: &'static str = "LogFlood";
    const NOTES: &'static str = "Builds one string of at least `bytes` bytes (`unit`, default \"x\", \
        repeated) and passes it `times` times to the host's log (level info) and to progress; \
        returns {\"logged\": times, \"bytes\": the string's length}.";
    type Args = LogFloodArgs;
    type Output = Value;

    fn arguments_schema() -> Option<Value> {
        None
    }

    fn arguments() -> Vec<Argument> {
        vec![
            Argument::new("bytes", "integer", "The length of the string, in bytes."),
            Argument::new("times", "integer", "How often to log it."),
            Argument::new("unit", "string", "What the string repeats (default \"x\")."),
        ]
    }

    fn example_arguments() -> Value {
        json!({"bytes": 8 << 20, "times": 250})
    }

    fn run(_ctx: &Context, args: LogFloodArgs) -> Result<Value> {
        if args.unit.is_empty() {
            fail!("unit must not be empty");
        }
        let line = args.unit.repeat(args.bytes.div_ceil(args.unit.len()));
        for _ in 0..args.times {
            log(Level::Info, &line);
            progress(50, &line);
        }
        Ok(json!({"logged": args.times, "bytes": line.len()}))
    }
}

/// Returns, or fails with, a string of a given size.
struct BigResult;

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "wasmcron_sdk::schemars")]
struct BigResultArgs {
    bytes: usize,
    #[serde(default)]
    fail: bool,
}

impl Job for BigResult {
    const NAME: &'static str = "BigResult";
    const NOTES: &'static str = "Returns a JSON string of `bytes` letters r (so the result is \
        `bytes` + 2 bytes of JSON text); with `fail`, fails with a message of `bytes` letters \
        r instead.";
    type Args = BigResultArgs;
    type Output = String;

    fn arguments_schema() -> Option<Value> {
        None
    }

    fn arguments() -> Vec<Argument> {
        vec![
            Argument::new("bytes", "integer", "The length of the string, in bytes."),
            Argument::new(
                "fail",
                "boolean",
                "Fail with the string as the error message (default false).",
            ),
        ]
    }

    fn example_arguments() -> Value {
        json!({"bytes": 1024, "fail": false})
    }

    fn run(_ctx: &Context, args: BigResultArgs) -> Result<String> {
        let text = "r".repeat(args.bytes);
        if args.fail {
            return Err(wasmcron_sdk::Error::msg(text));
        }
        Ok(text)
    }
}

wasmcron_sdk::export_jobs!(
    Echo, Sleep, Fail, Panic, Spin, Hog, Chatty, ReadFile, Env, Connect, HttpFetch, State, Counter,
    LogFlood, BigResult
);
