//! `guest-tools`: the two steps the non-Rust example guests need that their own toolchains
//! do not provide, built from the same library crates as `wit-bindgen` and `wasm-tools`
//! (installing those CLIs with `cargo install` takes 5–9 minutes each on two cores; this
//! tool builds in about one).
//!
//! ```text
//! guest-tools bindgen c|go <wit-dir> <out-dir>     generate bindings for the `job` world
//! guest-tools component <core.wasm> -o <out.wasm> [--wit <wit-dir>] [--realloc-via-memory-grow]
//!                                                 wrap a core module into a job component
//! ```
//!
//! `component` adapts WASI preview 1 imports with the reactor adapter matching the host's
//! wasmtime. With `--wit` it first embeds the world's type information, for toolchains whose
//! output does not carry it (Go); C and Zig link the object file `bindgen c` writes instead.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_bindgen_core::wit_parser::{Resolve, WorldId};

/// The world every job plugin implements (`wit/job.wit`).
const WORLD: &str = "job";

fn main() {
    if let Err(e) = run(std::env::args().skip(1).collect()) {
        eprintln!("guest-tools: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Vec<String>) -> Result<()> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["bindgen", language, wit, out] => bindgen(language, Path::new(wit), Path::new(out)),
        ["component", rest @ ..] => component(rest),
        _ => bail!(
            "usage:\n  guest-tools bindgen c|go <wit-dir> <out-dir>\n  \
             guest-tools component <core.wasm> -o <out.wasm> [--wit <wit-dir>] [--realloc-via-memory-grow]"
        ),
    }
}

fn load_world(wit: &Path) -> Result<(Resolve, WorldId)> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_path(wit)
        .with_context(|| format!("reading the WIT package in {}", wit.display()))?;
    let world = resolve.select_world(&[package], Some(WORLD))?;
    Ok((resolve, world))
}

fn bindgen(language: &str, wit: &Path, out: &Path) -> Result<()> {
    let mut generator = match language {
        "c" => wit_bindgen_c::Opts::default().build(),
        // Stubs give the exported functions' Go signatures to implement; the Go example
        // replaces the stub file with its own (see example-jobs/go_job).
        "go" => wit_bindgen_go::Opts {
            generate_stubs: true,
            ..Default::default()
        }
        .build(),
        other => bail!("no bindings generator for {other:?} (c or go)"),
    };
    let (mut resolve, world) = load_world(wit)?;
    let mut files = wit_bindgen_core::Files::default();
    generator.generate(&mut resolve, world, &mut files)?;
    for (name, contents) in files.iter() {
        let path = out.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn component(args: &[&str]) -> Result<()> {
    let mut input = None;
    let mut output = None;
    let mut wit = None;
    let mut realloc_via_memory_grow = false;
    let mut args = args.iter();
    while let Some(&arg) = args.next() {
        match arg {
            "-o" => output = args.next().map(PathBuf::from),
            "--wit" => wit = args.next().map(PathBuf::from),
            "--realloc-via-memory-grow" => realloc_via_memory_grow = true,
            path if input.is_none() => input = Some(PathBuf::from(path)),
            other => bail!("unexpected argument {other:?}"),
        }
    }
    let (Some(input), Some(output)) = (input, output) else {
        bail!("usage: guest-tools component <core.wasm> -o <out.wasm> [--wit <wit-dir>]");
    };
    let mut module =
        std::fs::read(&input).with_context(|| format!("reading {}", input.display()))?;
    if let Some(wit) = wit {
        let (resolve, world) = load_world(&wit)?;
        wit_component::embed_component_metadata(
            &mut module,
            &resolve,
            world,
            wit_component::StringEncoding::UTF8,
            false,
        )?;
    }
    let component = wit_component::ComponentEncoder::default()
        .module(&module)?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )?
        .realloc_via_memory_grow(realloc_via_memory_grow)
        .validate(true)
        .encode()
        .with_context(|| format!("making a component of {}", input.display()))?;
    std::fs::write(&output, component).with_context(|| format!("writing {}", output.display()))?;
    Ok(())
}
