//! The plain WASI command way in, for languages with no component tooling: a core
//! module exporting `_start` (wasm32-wasip1), which reads
//! `{"class", "args", "context"}` as JSON on stdin and writes its result to stdout.
//! Exit status 0 is success (stdout is the result: JSON as is, other text as a JSON
//! string); any other status fails the run with the tail of stderr as the message.
//!
//! Its classes come from a custom section named `wasmcron-manifest` holding JSON:
//! `{"classes": [{"name", "notes", "arguments": [{"name", "type", "description"}],
//! "example_arguments"}]}`. A section travels inside the `.wasm`, so the plugin stays
//! one file, uploaded like any other.

use super::output::CapturedOutput;
use super::state::MemoryLimiter;
use super::{ArgumentDoc, JobClass, LoadError};
use serde::Deserialize;
use serde_json::Value;
use wasmtime_wasi::p1::WasiP1Ctx;

/// The name of the custom section that lists a command plugin's classes.
pub const MANIFEST_SECTION: &str = "wasmcron-manifest";

/// The store data of one command run.
pub struct CommandState {
    pub(crate) wasi: WasiP1Ctx,
    pub(crate) memory: MemoryLimiter,
    pub(crate) stdout: CapturedOutput,
    pub(crate) stderr: CapturedOutput,
}

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
    arguments: Vec<ManifestArgument>,
    #[serde(default)]
    example_arguments: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestArgument {
    name: String,
    #[serde(rename = "type", default)]
    type_: String,
    #[serde(default)]
    description: String,
}

/// Reads the classes of a command module from its `wasmcron-manifest` section.
///
/// # Errors
/// [`LoadError::CommandModule`] without the section, [`LoadError::BadManifest`] when
/// it is not the expected JSON.
pub fn read_manifest(wasm: &[u8]) -> Result<Vec<JobClass>, LoadError> {
    let section = custom_section(wasm, MANIFEST_SECTION).ok_or(LoadError::CommandModule)?;
    let manifest: Manifest =
        serde_json::from_slice(section).map_err(|e| LoadError::BadManifest(e.to_string()))?;
    Ok(manifest
        .classes
        .into_iter()
        .map(|c| JobClass {
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
            example_arguments: match c.example_arguments {
                // A manifest may give the example as JSON text or as JSON itself.
                Some(Value::String(text)) => text,
                Some(value) => value.to_string(),
                None => "[]".into(),
            },
        })
        .collect())
}

/// The payload of the first custom section called `name` in a core module, walking
/// the module's sections (`id`, LEB128 size, payload) without decoding the rest.
fn custom_section<'a>(wasm: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let mut rest = wasm.get(8..)?;
    while !rest.is_empty() {
        let id = rest[0];
        let (size, used) = leb128_u32(&rest[1..])?;
        let start = 1 + used;
        let payload = rest.get(start..start + size as usize)?;
        if id == 0 {
            let (name_len, used) = leb128_u32(payload)?;
            let section_name = payload.get(used..used + name_len as usize)?;
            if section_name == name.as_bytes() {
                return payload.get(used + name_len as usize..);
            }
        }
        rest = &rest[start + size as usize..];
    }
    None
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

/// The run's result from a command's stdout: JSON as is, anything else as a string.
pub fn result_from_stdout(stdout: &str) -> String {
    let trimmed = stdout.trim();
    match serde_json::from_str::<Value>(trimmed) {
        Ok(_) => trimmed.to_owned(),
        Err(_) => Value::String(trimmed.to_owned()).to_string(),
    }
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
        wasm.push(section.len() as u8);
        wasm.extend_from_slice(&section);
        wasm
    }

    #[test]
    fn reads_the_manifest_section() {
        let wasm = module_with_section(
            MANIFEST_SECTION,
            br#"{"classes":[{"name":"Hello","notes":"hi","arguments":[{"name":"who","type":"string","description":"whom"}],"example_arguments":{"who":"you"}}]}"#,
        );
        let classes = read_manifest(&wasm).unwrap();
        assert_eq!(classes[0].name, "Hello");
        assert_eq!(classes[0].arguments[0].type_, "string");
        assert_eq!(classes[0].example_arguments, r#"{"who":"you"}"#);
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
    fn stdout_becomes_a_json_result() {
        assert_eq!(result_from_stdout("{\"a\": 1}\n"), "{\"a\": 1}");
        assert_eq!(result_from_stdout("plain words\n"), "\"plain words\"");
    }
}
