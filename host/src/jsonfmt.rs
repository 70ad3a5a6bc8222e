//! The JSON text formats the API shows.

use serde::Serialize;
use serde_json::Value;

/// What kind of JSON value `v` is, with its article, for messages: "a string", "null".
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Pretty-prints JSON text the way ndscheduler stored results: 4-space indent, keys
/// sorted. Text that is not JSON is returned unchanged.
pub fn pretty_sorted(json_text: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(json_text) else {
        return json_text.to_owned();
    };
    let sorted = sort_keys(value);
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    match sorted.serialize(&mut serializer) {
        // serde_json writes valid UTF-8 into a Vec; the fallback is never taken.
        Ok(()) => String::from_utf8(out).unwrap_or_else(|_| json_text.to_owned()),
        Err(_) => json_text.to_owned(),
    }
}

fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_original_result_format() {
        assert_eq!(
            pretty_sorted(r#"["hello","world"]"#),
            "[\n    \"hello\",\n    \"world\"\n]"
        );
        assert_eq!(
            pretty_sorted(r#"{"b":1,"a":{"d":2,"c":3}}"#),
            "{\n    \"a\": {\n        \"c\": 3,\n        \"d\": 2\n    },\n    \"b\": 1\n}"
        );
        assert_eq!(pretty_sorted("not json"), "not json");
    }
}
