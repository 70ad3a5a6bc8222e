//! `wasmcron new`: each generated project builds with its own instructions, runs with
//! `wasmcron run --example`, installs on a real server with `plugin push`, and a job of
//! it (`wasmcron job add`) runs there to `succeeded` (`wasmcron job run --follow`).

mod common;

use common::{Server, ServerOptions, binary, tmp};
use std::path::Path;
use std::process::{Command, Output};

/// Runs a command; panics with its output unless it succeeded.
fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Where the generated Rust projects build: shared between runs of the suite, so the
/// SDK's dependencies compile once.
fn guest_target_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/scaffold")
}

/// `cargo` from the project's folder, as a user would run it: the project's own
/// `.cargo/config.toml` sets the target and the stack size, so nothing from the
/// Makefile's environment may help it.
fn cargo(project: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(project)
        .env("CARGO_TARGET_DIR", guest_target_dir())
        .env_remove("CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS");
    cmd
}

/// What the generated README does on a server: `wasmcron job add`, then `wasmcron job
/// run --follow`, which exits 0 only when the run succeeded. Returns what it printed.
fn add_and_run_a_job(server: &Server, class: &str, args: &str) -> String {
    let wasmcron = |extra: &[&str]| {
        let mut cmd = Command::new(binary());
        cmd.args(extra).env("WASMCRON_SERVER", &server.base);
        cmd
    };
    let added = run_ok(&mut wasmcron(&[
        "job", "add", "--name", "greet", "--class", class, "--args", args, "--minute", "*/5",
    ]));
    let job_id = String::from_utf8_lossy(&added.stdout).trim().to_owned();
    let followed = run_ok(&mut wasmcron(&["job", "run", &job_id, "--follow"]));
    String::from_utf8_lossy(&followed.stdout).into_owned()
}

#[test]
fn a_new_rust_project_builds_runs_installs_and_succeeds_on_a_server() {
    let dir = tmp();
    run_ok(
        Command::new(binary())
            .args(["new", "hello-jobs", "--dir"])
            .arg(dir.path()),
    );
    let project = dir.path().join("hello-jobs");
    let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
    assert!(readme.contains("cargo build --release"), "{readme}");
    assert!(readme.contains("wasmcron plugin push"), "{readme}");

    // The README's build and test commands.
    run_ok(cargo(&project).args(["build", "--release"]));
    run_ok(cargo(&project).arg("test-native"));
    let wasm = guest_target_dir().join("wasm32-wasip2/release/hello_jobs.wasm");
    assert!(wasm.exists(), "cargo build wrote no {}", wasm.display());

    // `wasmcron run --example`: compiles once into the cache, then loads from it.
    let cache = dir.path().join("cache");
    let run = || {
        run_ok(
            Command::new(binary())
                .arg("run")
                .arg(&wasm)
                .arg("--example")
                .arg("--cache-dir")
                .arg(&cache),
        )
    };
    let first = run();
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.contains("state: succeeded"), "{stdout}");
    assert!(stdout.contains("hello, world"), "{stdout}");
    assert!(
        String::from_utf8_lossy(&first.stderr).contains("compiling"),
        "the first run says it compiles"
    );
    let second = run();
    assert!(
        !String::from_utf8_lossy(&second.stderr).contains("compiling"),
        "the second run loads the cached plugin: {}",
        String::from_utf8_lossy(&second.stderr)
    );

    // `plugin push`, a job, a run now: succeeded on the server.
    let data = tmp();
    let server: Server = ServerOptions::new(data.path()).without_plugin_dir().start();
    run_ok(
        Command::new(binary())
            .args(["plugin", "--server", &server.base, "push"])
            .arg(&wasm)
            .args(["--name", "hello-jobs"]),
    );
    let output = add_and_run_a_job(
        &server,
        "hello-jobs.Hello",
        r#"{"name": "server", "times": 3}"#,
    );
    assert_eq!(output.matches("hello, server").count(), 3, "{output}");
}

#[test]
fn new_refuses_a_folder_that_exists_and_a_bad_class_name() {
    let dir = tmp();
    std::fs::create_dir(dir.path().join("taken")).unwrap();
    let out = Command::new(binary())
        .args(["new", "taken", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists already"));
    let out = Command::new(binary())
        .args(["new", "fresh", "--class", "2Fast", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot name a job class"));
    assert!(!dir.path().join("fresh").exists(), "nothing written");
}

/// componentize-py as `make toolchains` installs it; `None` (and a message) when it is
/// not here, which CI does not allow.
fn componentize_py() -> Option<std::path::PathBuf> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/toolchains/venv/bin/componentize-py");
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must install componentize-py (make toolchains)"
    );
    eprintln!("skipped: no {} (make toolchains)", path.display());
    None
}

#[test]
fn a_new_python_project_builds_runs_installs_and_succeeds_on_a_server() {
    let Some(componentize_py) = componentize_py() else {
        return;
    };
    let dir = tmp();
    run_ok(
        Command::new(binary())
            .args([
                "new",
                "py-greeter",
                "--lang",
                "python",
                "--class",
                "Greet",
                "--dir",
            ])
            .arg(dir.path()),
    );
    let project = dir.path().join("py-greeter");
    // The README's commands: build (componentize-py from the environment), unit tests.
    run_ok(
        Command::new(project.join("build.sh"))
            .current_dir(&project)
            .env("COMPONENTIZE_PY", &componentize_py),
    );
    run_ok(
        Command::new("python3")
            .args(["-m", "unittest", "-q"])
            .current_dir(&project),
    );
    let wasm = project.join("py-greeter.wasm");
    let cache = dir.path().join("cache");
    let run = || {
        run_ok(
            Command::new(binary())
                .arg("run")
                .arg(&wasm)
                .arg("--example")
                .arg("--cache-dir")
                .arg(&cache),
        )
    };
    let first = run();
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.contains("state: succeeded"), "{stdout}");
    assert!(stdout.contains("hello, world"), "{stdout}");
    let second = run();
    assert!(
        !String::from_utf8_lossy(&second.stderr).contains("compiling"),
        "the second run loads the cached plugin"
    );

    let data = tmp();
    let server: Server = ServerOptions::new(data.path()).without_plugin_dir().start();
    run_ok(
        Command::new(binary())
            .args(["plugin", "--server", &server.base, "push"])
            .arg(&wasm),
    );
    let output = add_and_run_a_job(&server, "py-greeter.Greet", r#"{"name": "python"}"#);
    assert!(output.contains("hello, python"), "{output}");
}
