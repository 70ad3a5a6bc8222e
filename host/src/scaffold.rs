//! `wasmcron new`: a plugin project that builds as it is — manifest, toolchain settings,
//! one job class with typed arguments and example arguments, a test, and a README with
//! the commands that build, run, install and schedule it.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

/// Options of `wasmcron new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The plugin's name: the new folder's name, and the first part of its jobs'
    /// `job_class_string` (`<name>.<Class>`).
    pub name: String,
    /// The language of the project.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    pub lang: Lang,
    /// The job class's name.
    #[arg(long, default_value = "Hello")]
    pub class: String,
    /// Where to create the folder (default: the current directory).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// The `wasmcron-sdk` crate's folder, for a Rust project (default: the SDK in the
    /// source tree this wasmcron was built from).
    #[arg(long)]
    pub sdk_path: Option<PathBuf>,
}

/// The languages `wasmcron new` writes projects in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust, with the `wasmcron-sdk` crate.
    Rust,
    /// Python, bundled with CPython by componentize-py.
    Python,
    /// JavaScript, bundled with the StarlingMonkey engine by componentize-js.
    Js,
    /// C, a plain WASI command built by clang with wasi-libc.
    C,
    /// Zig, a plain WASI command.
    Zig,
    /// Go, a plain WASI command (GOOS=wasip1).
    Go,
}

impl Lang {
    /// The language of a project `wasmcron new` wrote, told by the files only it has.
    pub fn of_project(dir: &Path) -> Option<Lang> {
        let has = |file: &str| dir.join(file).is_file();
        [
            (Lang::Rust, "Cargo.toml"),
            (Lang::Js, "package.json"),
            (Lang::Python, "app.py"),
            (Lang::Go, "go.mod"),
            (Lang::Zig, "main.zig"),
            (Lang::C, "main.c"),
        ]
        .into_iter()
        .find_map(|(lang, marker)| has(marker).then_some(lang))
    }

    /// The command that builds a project, as its README says: program and arguments,
    /// run in the project's folder.
    pub fn build_command(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Lang::Rust => ("cargo", &["build", "--release"]),
            Lang::Js => ("npm", &["run", "build"]),
            Lang::Python | Lang::C | Lang::Zig | Lang::Go => ("./build.sh", &[]),
        }
    }

    /// The plugin a build of the project in `dir` writes, for the plugin `name`.
    ///
    /// # Errors
    /// For a Rust project whose `Cargo.toml` names no package.
    pub fn built_plugin(self, dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
        match self {
            Lang::Rust => {
                let manifest = dir.join("Cargo.toml");
                let text = std::fs::read_to_string(&manifest)
                    .with_context(|| format!("reading {}", manifest.display()))?;
                let package = package_name(&text)
                    .with_context(|| format!("{} names no package", manifest.display()))?;
                // cargo writes a `cdylib` named after the package, `-` as `_`, under
                // CARGO_TARGET_DIR when that is set.
                let target = std::env::var_os("CARGO_TARGET_DIR")
                    .map_or_else(|| dir.join("target"), |d| dir.join(d));
                Ok(target
                    .join("wasm32-wasip2/release")
                    .join(format!("{}.wasm", package.replace('-', "_"))))
            }
            _ => Ok(dir.join(format!("{name}.wasm"))),
        }
    }

    /// The folders of a project that hold what a build writes or fetches, not sources.
    pub const NOT_SOURCES: &[&str] = &["target", "build", "node_modules", ".git", "__pycache__"];
}

/// The `name` of a `Cargo.toml`'s `[package]`.
fn package_name(cargo_toml: &str) -> Option<String> {
    let mut in_package = false;
    for line in cargo_toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some(value) = line.strip_prefix("name")
            && let Some(value) = value.trim_start().strip_prefix('=')
        {
            return Some(value.trim().trim_matches('"').to_owned());
        }
    }
    None
}

/// One file of a project: its path inside the project and its template.
struct Template {
    path: &'static str,
    text: &'static str,
}

const RUST: &[Template] = &[
    Template {
        path: "Cargo.toml",
        text: include_str!("../templates/rust/Cargo.toml.tmpl"),
    },
    Template {
        path: ".cargo/config.toml",
        text: include_str!("../templates/rust/config.toml.tmpl"),
    },
    Template {
        path: "src/lib.rs",
        text: include_str!("../templates/rust/lib.rs.tmpl"),
    },
    Template {
        path: "README.md",
        text: include_str!("../templates/rust/README.md.tmpl"),
    },
    Template {
        path: ".gitignore",
        text: include_str!("../templates/rust/gitignore.tmpl"),
    },
];

const PYTHON: &[Template] = &[
    Template {
        path: "app.py",
        text: include_str!("../templates/python/app.py.tmpl"),
    },
    Template {
        path: "greet.py",
        text: include_str!("../templates/python/greet.py.tmpl"),
    },
    Template {
        path: "test_greet.py",
        text: include_str!("../templates/python/test_greet.py.tmpl"),
    },
    Template {
        path: "build.sh",
        text: include_str!("../templates/python/build.sh.tmpl"),
    },
    Template {
        path: "README.md",
        text: include_str!("../templates/python/README.md.tmpl"),
    },
    Template {
        path: ".gitignore",
        text: include_str!("../templates/python/gitignore.tmpl"),
    },
    // The contract, as the host implements it.
    Template {
        path: "wit/job.wit",
        text: include_str!("../../wit/job.wit"),
    },
];

const JS: &[Template] = &[
    Template {
        path: "package.json",
        text: include_str!("../templates/js/package.json.tmpl"),
    },
    Template {
        path: "build.mjs",
        text: include_str!("../templates/js/build.mjs.tmpl"),
    },
    Template {
        path: "app.js",
        text: include_str!("../templates/js/app.js.tmpl"),
    },
    Template {
        path: "greet.js",
        text: include_str!("../templates/js/greet.js.tmpl"),
    },
    Template {
        path: "greet.test.js",
        text: include_str!("../templates/js/greet.test.js.tmpl"),
    },
    Template {
        path: "README.md",
        text: include_str!("../templates/js/README.md.tmpl"),
    },
    Template {
        path: ".gitignore",
        text: include_str!("../templates/js/gitignore.tmpl"),
    },
    Template {
        path: "wit/job.wit",
        text: include_str!("../../wit/job.wit"),
    },
];

/// The classes of a plain WASI command, which `wasmcron manifest` attaches to it.
const COMMAND_MANIFEST: Template = Template {
    path: "manifest.json",
    text: include_str!("../templates/command/manifest.json.tmpl"),
};

const C: &[Template] = &[
    Template {
        path: "main.c",
        text: include_str!("../templates/c/main.c.tmpl"),
    },
    Template {
        path: "greet.c",
        text: include_str!("../templates/c/greet.c.tmpl"),
    },
    Template {
        path: "greet.h",
        text: include_str!("../templates/c/greet.h.tmpl"),
    },
    Template {
        path: "test_greet.c",
        text: include_str!("../templates/c/test_greet.c.tmpl"),
    },
    Template {
        path: "build.sh",
        text: include_str!("../templates/c/build.sh.tmpl"),
    },
    Template {
        path: "README.md",
        text: include_str!("../templates/c/README.md.tmpl"),
    },
    Template {
        path: ".gitignore",
        text: include_str!("../templates/c/gitignore.tmpl"),
    },
    COMMAND_MANIFEST,
];

const ZIG: &[Template] = &[
    Template {
        path: "main.zig",
        text: include_str!("../templates/zig/main.zig.tmpl"),
    },
    Template {
        path: "build.sh",
        text: include_str!("../templates/zig/build.sh.tmpl"),
    },
    Template {
        path: "README.md",
        text: include_str!("../templates/zig/README.md.tmpl"),
    },
    Template {
        path: ".gitignore",
        text: include_str!("../templates/zig/gitignore.tmpl"),
    },
    COMMAND_MANIFEST,
];

const GO: &[Template] = &[
    Template {
        path: "go.mod",
        text: include_str!("../templates/go/go.mod.tmpl"),
    },
    Template {
        path: "main.go",
        text: include_str!("../templates/go/main.go.tmpl"),
    },
    Template {
        path: "greet.go",
        text: include_str!("../templates/go/greet.go.tmpl"),
    },
    Template {
        path: "greet_test.go",
        text: include_str!("../templates/go/greet_test.go.tmpl"),
    },
    Template {
        path: "build.sh",
        text: include_str!("../templates/go/build.sh.tmpl"),
    },
    Template {
        path: "README.md",
        text: include_str!("../templates/go/README.md.tmpl"),
    },
    Template {
        path: ".gitignore",
        text: include_str!("../templates/go/gitignore.tmpl"),
    },
    COMMAND_MANIFEST,
];

/// The componentize-js release the JavaScript projects pin (the one the JavaScript
/// example uses).
const COMPONENTIZE_JS: &str = "0.23.0";

/// The Zig release the Zig projects are built and tested with (the Zig example's).
const ZIG_VERSION: &str = "0.17.1";

/// The componentize-py release the Python projects are built and tested with (the one
/// the Python example uses).
const COMPONENTIZE_PY: &str = "0.25.1";

/// Writes the project; returns its folder.
pub fn new_project(args: &NewArgs) -> anyhow::Result<PathBuf> {
    if !crate::plugins::valid_plugin_name(&args.name) {
        bail!(
            "'{}' cannot name a plugin: use 1 to 128 of the characters A-Z a-z 0-9 _ . - (not starting with '.')",
            args.name
        );
    }
    if !is_identifier(&args.class) {
        bail!(
            "'{}' cannot name a job class: use a letter, then letters, digits or _ (e.g. Hello)",
            args.class
        );
    }
    let root = args.dir.join(&args.name);
    if root.exists() {
        bail!(
            "{} exists already: choose another name or --dir",
            root.display()
        );
    }
    let (templates, values) = match args.lang {
        Lang::Rust => (RUST, rust_values(args)?),
        Lang::Python => (
            PYTHON,
            vec![
                ("plugin", args.name.clone()),
                ("class", args.class.clone()),
                ("componentize_py", COMPONENTIZE_PY.to_owned()),
            ],
        ),
        Lang::Js => (
            JS,
            vec![
                ("plugin", args.name.clone()),
                ("class", args.class.clone()),
                ("componentize_js", COMPONENTIZE_JS.to_owned()),
            ],
        ),
        Lang::C => (C, command_values(args)),
        Lang::Zig => (ZIG, {
            let mut values = command_values(args);
            values.push(("zig", ZIG_VERSION.to_owned()));
            values
        }),
        Lang::Go => (GO, command_values(args)),
    };
    let write = || -> anyhow::Result<()> {
        for template in templates {
            let path = root.join(template.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&path, fill(template.text, &values))
                .with_context(|| format!("writing {}", path.display()))?;
            if template.path.ends_with(".sh") {
                make_executable(&path)?;
            }
        }
        Ok(())
    };
    if let Err(e) = write() {
        // Leave no half-written project behind.
        let _ = std::fs::remove_dir_all(&root);
        return Err(e);
    }
    Ok(root)
}

#[cfg(unix)]
fn make_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// The placeholders of a plain WASI command's templates.
fn command_values(args: &NewArgs) -> Vec<(&'static str, String)> {
    vec![("plugin", args.name.clone()), ("class", args.class.clone())]
}

/// The placeholders of the Rust templates.
fn rust_values(args: &NewArgs) -> anyhow::Result<Vec<(&'static str, String)>> {
    let crate_name = crate_name(&args.name);
    let sdk = match &args.sdk_path {
        Some(path) => path.clone(),
        None => built_from_sdk().context(
            "the SDK's source is not where this wasmcron was built from: pass --sdk-path <the wasmcron-sdk folder>",
        )?,
    };
    if !sdk.join("Cargo.toml").is_file() {
        bail!(
            "{} holds no Cargo.toml: --sdk-path names the wasmcron-sdk folder",
            sdk.display()
        );
    }
    let sdk = std::fs::canonicalize(&sdk).with_context(|| format!("finding {}", sdk.display()))?;
    Ok(vec![
        ("plugin", args.name.clone()),
        ("crate", crate_name),
        ("class", args.class.clone()),
        (
            "sdk",
            format!("path = {}", toml_string(&sdk.to_string_lossy())),
        ),
    ])
}

/// The SDK beside the host crate this binary was built from, if it is still there.
fn built_from_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk");
    sdk.join("Cargo.toml").is_file().then_some(sdk)
}

/// A cargo package name from a plugin name: `.` and `-` become `_`, and a leading
/// digit gets a prefix (cargo writes the component as `<crate>.wasm`).
fn crate_name(plugin: &str) -> String {
    let name: String = plugin
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("plugin_{name}")
    } else {
        name
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 64
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serialises")
}

/// Replaces each `{{key}}` with its value.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    values
        .iter()
        .fold(template.to_owned(), |text, (key, value)| {
            text.replace(&format!("{{{{{key}}}}}"), value)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_every_placeholder_of_every_template() {
        let values = vec![
            ("plugin", "p".to_owned()),
            ("crate", "p".to_owned()),
            ("class", "C".to_owned()),
            ("sdk", "path = \"/sdk\"".to_owned()),
            ("componentize_py", "0".to_owned()),
            ("componentize_js", "0".to_owned()),
            ("zig", "0".to_owned()),
        ];
        for t in [RUST, PYTHON, JS, C, ZIG, GO].into_iter().flatten() {
            let out = fill(t.text, &values);
            assert!(!out.contains("{{"), "{} keeps a placeholder", t.path);
        }
    }

    /// The Python projects use the componentize-py the Python example is built with.
    #[test]
    fn python_projects_pin_the_examples_componentize_py() {
        let build = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../example-jobs/python_job/build.sh"
        ))
        .unwrap();
        assert!(
            build.contains(&format!("VERSION={COMPONENTIZE_PY}\n")),
            "example-jobs/python_job/build.sh pins another componentize-py than {COMPONENTIZE_PY}"
        );
    }

    /// The JavaScript projects pin the componentize-js the JavaScript example uses.
    #[test]
    fn js_projects_pin_the_examples_componentize_js() {
        let package = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../example-jobs/js_job/package.json"
        ))
        .unwrap();
        assert!(
            package.contains(&format!(
                "\"@bytecodealliance/componentize-js\": \"{COMPONENTIZE_JS}\""
            )),
            "example-jobs/js_job/package.json pins another componentize-js than {COMPONENTIZE_JS}"
        );
    }

    /// The Zig projects name the Zig the Zig example is built with.
    #[test]
    fn zig_projects_name_the_examples_zig() {
        let build = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../example-jobs/zig_job/build.sh"
        ))
        .unwrap();
        assert!(
            build.contains(&format!("VERSION={ZIG_VERSION}\n")),
            "example-jobs/zig_job/build.sh uses another Zig than {ZIG_VERSION}"
        );
    }

    #[test]
    fn a_projects_language_and_its_build_are_known_from_its_files() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Lang::of_project(dir.path()), None);
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"my-jobs\"\nversion = \"0.1.0\"\n\n[lib]\nname = \"other\"\n",
        )
        .unwrap();
        assert_eq!(Lang::of_project(dir.path()), Some(Lang::Rust));
        if std::env::var_os("CARGO_TARGET_DIR").is_none() {
            assert_eq!(
                Lang::Rust.built_plugin(dir.path(), "my-jobs").unwrap(),
                dir.path().join("target/wasm32-wasip2/release/my_jobs.wasm")
            );
        }
        assert_eq!(
            Lang::Python.built_plugin(dir.path(), "my-jobs").unwrap(),
            dir.path().join("my-jobs.wasm")
        );
        assert_eq!(Lang::Go.build_command(), ("./build.sh", &[][..]));
    }

    #[test]
    fn crate_names_are_cargo_names() {
        assert_eq!(crate_name("my-jobs.nightly"), "my_jobs_nightly");
        assert_eq!(crate_name("9lives"), "plugin_9lives");
    }

    #[test]
    fn class_names_are_identifiers() {
        assert!(is_identifier("Hello"));
        assert!(is_identifier("Backup_2"));
        assert!(!is_identifier("2Fast"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier(""));
    }

    #[test]
    fn toml_strings_escape_quotes_and_backslashes() {
        assert_eq!(toml_string(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
