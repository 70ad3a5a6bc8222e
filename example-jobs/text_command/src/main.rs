//! The plugin `wasmcron.examples.text_command`: a plain WASI command, the way in for
//! languages with no component tooling. The host writes
//! `{"class", "args", "context"}` as JSON to stdin; the result goes to stdout; exit
//! status 0 is success, anything else a failure whose message is the end of stderr.
//! The classes are listed in `manifest.json`, embedded below as the
//! `wasmcron-manifest` custom section.

use serde::Deserialize;
use serde_json::{Value, json};
use std::io::Read;
use std::process::ExitCode;

#[used]
#[unsafe(link_section = "wasmcron-manifest")]
static MANIFEST: [u8; include_bytes!("../manifest.json").len()] =
    *include_bytes!("../manifest.json");

#[derive(Deserialize)]
struct Request {
    class: String,
    args: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextStatsArgs {
    text: String,
}

fn text_stats(args: Value) -> Result<Value, String> {
    let args: TextStatsArgs = serde_json::from_value(args)
        .map_err(|e| format!("invalid arguments for TextStats: {e}"))?;
    let lines: Vec<&str> = args.text.lines().collect();
    let longest = lines
        .iter()
        .max_by_key(|l| l.chars().count())
        .copied()
        .unwrap_or("");
    eprintln!("measured {} lines", lines.len());
    Ok(json!({
        "lines": lines.len(),
        "words": args.text.split_whitespace().count(),
        "chars": args.text.chars().count(),
        "longest_line": longest,
    }))
}

fn main() -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("cannot read the request: {e}");
        return ExitCode::from(2);
    }
    let outcome = serde_json::from_str::<Request>(&input)
        .map_err(|e| format!("the request is not the host's JSON: {e}"))
        .and_then(|request| match request.class.as_str() {
            "TextStats" => text_stats(request.args),
            other => Err(format!(
                "unknown job class '{other}'; this plugin has: TextStats"
            )),
        });
    match outcome {
        Ok(result) => {
            println!("{result}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
