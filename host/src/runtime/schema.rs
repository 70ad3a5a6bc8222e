//! A job class's arguments schema: the JSON Schema its `pub_args` must match, as the
//! plugin's `describe()` (world 0.3.0 and later) or a command's manifest gives it.
//!
//! The schema is compiled into a validator once, when the plugin is loaded; the API
//! checks a job's `pub_args` with it when the job is saved, and the runtime before
//! each run (a job saved before its plugin was replaced may no longer match). A
//! schema may only refer to itself: with no network or file retriever compiled in,
//! a `$ref` to anything outside it is refused at load.

use crate::jsonfmt::kind_of;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use serde_json::Value;
use std::sync::Arc;

/// The most violations one message lists (the rest are counted).
const SHOWN_VIOLATIONS: usize = 3;

/// A compiled arguments schema. Compares, prints and serializes as its JSON.
#[derive(Clone)]
pub struct ArgumentsSchema {
    schema: Value,
    validator: Arc<jsonschema::Validator>,
}

impl ArgumentsSchema {
    /// Parses and compiles a schema given as JSON text.
    ///
    /// # Errors
    /// A sentence saying why the text is not a usable JSON Schema.
    pub fn compile(text: &str) -> Result<Self, String> {
        let schema: Value =
            serde_json::from_str(text).map_err(|e| format!("it is not JSON: {e}"))?;
        if !matches!(schema, Value::Object(_) | Value::Bool(_)) {
            return Err(format!(
                "a JSON Schema is an object or a boolean, not {}",
                kind_of(&schema)
            ));
        }
        let validator = jsonschema::validator_for(&schema)
            .map_err(|e| format!("it is not a valid JSON Schema: {}", e.masked()))?;
        Ok(ArgumentsSchema {
            schema,
            validator: Arc::new(validator),
        })
    }

    /// The schema, as the plugin gave it.
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// Checks `pub_args` against the schema.
    ///
    /// # Errors
    /// What is wrong, naming each field from `pub_args` down, e.g.
    /// `pub_args.numbers: expected an array of integers, got a string` (at most
    /// [`SHOWN_VIOLATIONS`] of them, then how many more).
    pub fn check(&self, pub_args: &Value) -> Result<(), String> {
        if self.validator.is_valid(pub_args) {
            return Ok(());
        }
        let mut shown = Vec::new();
        let mut more = 0usize;
        for error in self.validator.iter_errors(pub_args) {
            if shown.len() == SHOWN_VIOLATIONS {
                more += 1;
                continue;
            }
            shown.push(self.violation(&error));
        }
        let mut message = shown.join("; ");
        if more > 0 {
            message.push_str(&format!(" (and {more} more)"));
        }
        Err(message)
    }

    /// One violation as `<field>: <what was expected>`.
    fn violation(&self, error: &jsonschema::ValidationError<'_>) -> String {
        let mut field = String::from("pub_args");
        for segment in error.instance_path().segments() {
            match segment {
                LocationSegment::Property(name) => push_property(&mut field, &name),
                LocationSegment::Index(i) => field.push_str(&format!("[{i}]")),
            }
        }
        let what = match error.kind() {
            ValidationErrorKind::Type { kind } => {
                let types: Vec<&str> = match kind {
                    TypeKind::Single(t) => vec![t.as_str()],
                    TypeKind::Multiple(set) => set.iter().map(|t| t.as_str()).collect(),
                };
                // The schema object that holds the failed `type` keyword, for what an
                // array's items must be.
                let holder = parent_pointer(error.schema_path().as_str())
                    .and_then(|pointer| self.schema.pointer(pointer));
                let expected: Vec<String> = types
                    .iter()
                    .map(|t| expected_type(t, holder, &self.schema))
                    .collect();
                format!(
                    "expected {}, got {}",
                    expected.join(" or "),
                    kind_of(error.instance())
                )
            }
            ValidationErrorKind::Required { property } => {
                let name = property
                    .as_str()
                    .map_or_else(|| property.to_string(), str::to_owned);
                push_property(&mut field, &name);
                "missing: this class requires it".to_owned()
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let names: Vec<String> = unexpected.iter().map(|n| format!("'{n}'")).collect();
                format!(
                    "unknown field(s) {}: the class takes no such argument",
                    names.join(", ")
                )
            }
            // jsonschema's own sentence, with the value itself left out (it may be
            // large, or a secret): "the value is less than the minimum of 1".
            _ => error.masked_with("the value").to_string(),
        };
        format!("{field}: {what}")
    }
}

/// Appends `.name`, or `["name"]` when it is not a plain identifier.
fn push_property(field: &mut String, name: &str) {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        field.push('.');
        field.push_str(name);
    } else {
        field.push_str(&format!("[{}]", Value::from(name)));
    }
}

/// The JSON pointer of the schema object holding the keyword at `keyword_path`
/// (`/properties/numbers/type` -> `/properties/numbers`).
fn parent_pointer(keyword_path: &str) -> Option<&str> {
    keyword_path.rsplit_once('/').map(|(parent, _)| parent)
}

/// A JSON type as a user reads it: "an integer", "an array of strings".
fn expected_type(name: &str, holder: Option<&Value>, root: &Value) -> String {
    if name == "array"
        && let Some(items) = holder.and_then(|h| h.get("items"))
        && let Some(item_type) = resolve(items, root).get("type").and_then(Value::as_str)
    {
        return format!("an array of {}", plural(item_type));
    }
    match name {
        "null" => "null".to_owned(),
        "array" | "integer" | "object" => format!("an {name}"),
        other => format!("a {other}"),
    }
}

/// Follows a local `$ref` (`#/$defs/Item`) once.
fn resolve<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer))
        .unwrap_or(schema)
}

fn plural(type_name: &str) -> String {
    match type_name {
        "null" => "nulls".to_owned(),
        other => format!("{other}s"),
    }
}

impl std::fmt::Debug for ArgumentsSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ArgumentsSchema({})", self.schema)
    }
}

impl PartialEq for ArgumentsSchema {
    fn eq(&self, other: &Self) -> bool {
        self.schema == other.schema
    }
}

impl Eq for ArgumentsSchema {}

impl serde::Serialize for ArgumentsSchema {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.schema.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn numbers_schema() -> ArgumentsSchema {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "numbers": {"type": "array", "items": {"type": "integer"}},
                "label": {"type": ["string", "null"]},
                "limit": {"type": "integer", "minimum": 1},
                "odd key": {"$ref": "#/$defs/Flag"}
            },
            "required": ["numbers"],
            "additionalProperties": false,
            "$defs": {"Flag": {"type": "boolean"}}
        });
        ArgumentsSchema::compile(&schema.to_string()).unwrap()
    }

    #[test]
    fn right_arguments_pass() {
        let schema = numbers_schema();
        assert_eq!(schema.check(&json!({"numbers": [1, 2]})), Ok(()));
        assert_eq!(
            schema.check(&json!({"numbers": [], "label": null, "limit": 3, "odd key": true})),
            Ok(())
        );
    }

    #[test]
    fn each_violation_names_its_field_and_what_was_expected() {
        let schema = numbers_schema();
        let check = |args: Value| schema.check(&args).unwrap_err();
        assert_eq!(
            check(json!({"numbers": "1,2"})),
            "pub_args.numbers: expected an array of integers, got a string"
        );
        assert_eq!(
            check(json!({"numbers": [1, "two"]})),
            "pub_args.numbers[1]: expected an integer, got a string"
        );
        assert_eq!(
            check(json!({"numbers": [], "label": 5})),
            "pub_args.label: expected null or a string, got a number"
        );
        assert_eq!(
            check(json!({})),
            "pub_args.numbers: missing: this class requires it"
        );
        assert_eq!(
            check(json!({"numbers": [], "extra": 1})),
            "pub_args: unknown field(s) 'extra': the class takes no such argument"
        );
        assert_eq!(
            check(json!({"numbers": [], "limit": 0})),
            "pub_args.limit: the value is less than the minimum of 1"
        );
        assert_eq!(
            check(json!({"numbers": [], "odd key": "yes"})),
            "pub_args[\"odd key\"]: expected a boolean, got a string"
        );
        assert_eq!(
            check(json!([1])),
            "pub_args: expected an object, got an array"
        );
    }

    #[test]
    fn many_violations_are_counted_not_listed() {
        let schema =
            ArgumentsSchema::compile(r#"{"type": "array", "items": {"type": "string"}}"#).unwrap();
        let message = schema.check(&json!([1, 2, 3, 4, 5])).unwrap_err();
        assert!(message.starts_with("pub_args[0]: expected a string, got a number; "));
        assert!(message.ends_with("(and 2 more)"), "{message}");
    }

    #[test]
    fn unusable_schemas_are_refused_with_the_reason() {
        assert!(
            ArgumentsSchema::compile("{")
                .unwrap_err()
                .starts_with("it is not JSON")
        );
        assert_eq!(
            ArgumentsSchema::compile("[]").unwrap_err(),
            "a JSON Schema is an object or a boolean, not an array"
        );
        assert!(
            ArgumentsSchema::compile(r#"{"type": "nonsense"}"#)
                .unwrap_err()
                .starts_with("it is not a valid JSON Schema")
        );
        // Only references within the schema resolve: nothing is fetched.
        assert!(
            ArgumentsSchema::compile(r#"{"$ref": "https://example.com/schema.json"}"#).is_err()
        );
    }
}
