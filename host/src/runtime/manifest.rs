//! The class list of a plain WASI command plugin: a custom section named
//! `wasmcron-manifest` holding JSON, `{"classes": [{"name", "notes", "arguments":
//! [{"name", "type", "description"}], "example_arguments", "arguments_schema"}]}` (the
//! schema optional, a JSON Schema object or its text). A section travels inside
//! the `.wasm`, so the plugin stays one file, uploaded like any other.
//!
//! (How a command runs is in `command.rs`.)

use super::plugin::DescribedClass;
use super::{ArgumentDoc, JobClass, LoadError};
use serde::Deserialize;
use serde_json::Value;

/// The name of the custom section that lists a command plugin's classes.
pub const MANIFEST_SECTION: &str = "wasmcron-manifest";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    classes: Vec<ManifestClass>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestClass {
    name: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    arguments: Vec<ArgumentDoc>,
    #[serde(default)]
    example_arguments: Option<Value>,
    #[serde(default)]
    arguments_schema: Option<Value>,
}

/// JSON given as text or as JSON itself, as text.
fn json_text(value: Value) -> String {
    match value {
        Value::String(text) => text,
        value => value.to_string(),
    }
}

/// Reads the classes of a command module from its `wasmcron-manifest` section.
///
/// # Errors
/// [`LoadError::CommandModule`] without the section, [`LoadError::BadManifest`] when
/// it is not the expected JSON.
pub(super) fn read_manifest(wasm: &[u8]) -> Result<Vec<DescribedClass>, LoadError> {
    let section = custom_section(wasm, MANIFEST_SECTION).ok_or(LoadError::CommandModule)?;
    let manifest: Manifest =
        serde_json::from_slice(section).map_err(|e| LoadError::BadManifest(e.to_string()))?;
    Ok(manifest
        .classes
        .into_iter()
        .map(|c| DescribedClass {
            class: JobClass {
                name: c.name,
                notes: c.notes,
                arguments: c.arguments,
                // A manifest may give the example (and the schema) as JSON text or as
                // JSON itself.
                example_arguments: c.example_arguments.map_or_else(|| "[]".into(), json_text),
                arguments_schema: None,
            },
            schema_text: c.arguments_schema.map(json_text),
        })
        .collect())
}

/// The payload of the last custom section called `name` in a core module (so that a
/// manifest appended later overrides an earlier one), walking the module's sections
/// (`id`, LEB128 size, payload) without decoding the rest.
fn custom_section<'a>(wasm: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let mut rest = wasm.get(8..)?;
    let mut found = None;
    while !rest.is_empty() {
        let id = rest[0];
        let (size, used) = leb128_u32(&rest[1..])?;
        let start = 1 + used;
        let payload = rest.get(start..start + size as usize)?;
        if id == 0 {
            let (name_len, used) = leb128_u32(payload)?;
            let section_name = payload.get(used..used + name_len as usize)?;
            if section_name == name.as_bytes() {
                found = payload.get(used + name_len as usize..);
            }
        }
        rest = &rest[start + size as usize..];
    }
    found
}

/// Appends `manifest` (JSON) to a core module as its `wasmcron-manifest` section, for
/// toolchains that cannot emit a custom section themselves (`wasmcron manifest`).
///
/// # Errors
/// If `wasm` is not a core module or the manifest is not a valid one.
pub fn attach_manifest(wasm: &[u8], manifest: &[u8]) -> Result<Vec<u8>, LoadError> {
    if !wasm.starts_with(b"\0asm\x01\0\0\0") {
        return Err(LoadError::Invalid(
            "not a core WebAssembly module (wasm32-wasip1)".into(),
        ));
    }
    let name = MANIFEST_SECTION.as_bytes();
    let mut payload = leb128(name.len());
    payload.extend_from_slice(name);
    payload.extend_from_slice(manifest);
    let mut out = wasm.to_vec();
    out.push(0);
    out.extend_from_slice(&leb128(payload.len()));
    out.extend_from_slice(&payload);
    read_manifest(&out)?;
    Ok(out)
}

fn leb128(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// An unsigned LEB128 number and how many bytes it took.
fn leb128_u32(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut value: u32 = 0;
    for (i, byte) in bytes.iter().enumerate().take(5) {
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module_with_section(name: &str, payload: &[u8]) -> Vec<u8> {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        let mut section = vec![name.len() as u8];
        section.extend_from_slice(name.as_bytes());
        section.extend_from_slice(payload);
        wasm.push(0);
        wasm.extend_from_slice(&leb128(section.len()));
        wasm.extend_from_slice(&section);
        wasm
    }

    #[test]
    fn reads_the_manifest_section() {
        let wasm = module_with_section(
            MANIFEST_SECTION,
            br#"{"classes":[{"name":"Hello","notes":"hi","arguments":[{"name":"who","type":"string","description":"whom"}],"example_arguments":{"who":"you"},"arguments_schema":{"type":"object"}}]}"#,
        );
        let classes = read_manifest(&wasm).unwrap();
        assert_eq!(classes[0].class.name, "Hello");
        assert_eq!(classes[0].class.arguments[0].type_, "string");
        assert_eq!(classes[0].class.example_arguments, r#"{"who":"you"}"#);
        assert_eq!(
            classes[0].schema_text.as_deref(),
            Some(r#"{"type":"object"}"#)
        );
        assert!(matches!(
            read_manifest(&module_with_section("other", b"{}")),
            Err(LoadError::CommandModule)
        ));
        assert!(matches!(
            read_manifest(&module_with_section(MANIFEST_SECTION, b"{")),
            Err(LoadError::BadManifest(_))
        ));
    }

    #[test]
    fn attaches_a_manifest_that_reads_back() {
        let manifest = br#"{"classes":[{"name":"A"}]}"#;
        let with = attach_manifest(b"\0asm\x01\0\0\0", manifest).unwrap();
        assert_eq!(read_manifest(&with).unwrap()[0].class.name, "A");
        // A later manifest overrides an earlier one.
        let again = attach_manifest(&with, br#"{"classes":[{"name":"B"}]}"#).unwrap();
        assert_eq!(read_manifest(&again).unwrap()[0].class.name, "B");
        assert!(attach_manifest(b"\0asm\x01\0\0\0", b"not json").is_err());
        assert!(attach_manifest(b"#!/bin/sh", manifest).is_err());
    }
}
