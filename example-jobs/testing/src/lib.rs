//! The plugin `wasmcron.testing`: job classes that misbehave on purpose, so the tests
//! can prove that the host survives them and records each outcome. Not for production
//! jobs.

use serde::Deserialize;
use std::io::Write;
use wasmcron_sdk::serde_json::{Value, json};
use wasmcron_sdk::{Argument, Context, Job, Result, fail, info};

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

#[derive(Deserialize)]
struct SleepArgs {
    seconds: f64,
}

impl Job for Sleep {
    const NAME: &'static str = "Sleep";
    const NOTES: &'static str = "Sleeps for `seconds`, then returns them.";
    type Args = SleepArgs;
    type Output = Value;

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

#[derive(Deserialize)]
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

#[derive(Deserialize)]
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

#[derive(Deserialize)]
struct PathArgs {
    path: String,
}

impl Job for ReadFile {
    const NAME: &'static str = "ReadFile";
    const NOTES: &'static str = "Reads the file at `path` and returns its text.";
    type Args = PathArgs;
    type Output = String;

    fn run(_ctx: &Context, args: PathArgs) -> Result<String> {
        Ok(std::fs::read_to_string(&args.path)?)
    }
}

/// Tries to read an environment variable.
struct Env;

#[derive(Deserialize)]
struct EnvArgs {
    name: String,
}

impl Job for Env {
    const NAME: &'static str = "Env";
    const NOTES: &'static str = "Returns the environment variable `name`, or fails.";
    type Args = EnvArgs;
    type Output = Value;

    fn run(_ctx: &Context, args: EnvArgs) -> Result<Value> {
        let all: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
        match std::env::var(&args.name) {
            Ok(v) => Ok(json!(v)),
            Err(e) => fail!("{}: {e} (the job sees {} variables)", args.name, all.len()),
        }
    }
}

/// Tries to open a TCP connection.
struct Connect;

#[derive(Deserialize)]
struct ConnectArgs {
    address: String,
}

impl Job for Connect {
    const NAME: &'static str = "Connect";
    const NOTES: &'static str = "Opens a TCP connection to `address` (host:port).";
    type Args = ConnectArgs;
    type Output = Value;

    fn run(_ctx: &Context, args: ConnectArgs) -> Result<Value> {
        let stream = std::net::TcpStream::connect(&args.address)?;
        Ok(json!({"connected": stream.peer_addr()?.to_string()}))
    }
}

wasmcron_sdk::export_jobs!(
    Echo, Sleep, Fail, Panic, Spin, Hog, Chatty, ReadFile, Env, Connect
);
