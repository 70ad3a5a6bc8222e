//! Replaces the secret values a run was given with `***` in what it produced.

/// What replaces a secret's value.
pub(crate) const MASK: &str = "***";

/// The secret values of one run, longest first (so that a value containing another is
/// masked whole).
pub(crate) struct Redactor {
    values: Vec<String>,
}

impl Redactor {
    /// A redactor of `values`, and of each as it appears inside a JSON string (a
    /// result is JSON text: a value with a quote or a newline is escaped there); empty
    /// values are ignored (they would mask everything).
    pub(crate) fn new(values: &[String]) -> Option<Self> {
        let mut values: Vec<String> = values
            .iter()
            .filter(|v| !v.is_empty())
            .flat_map(|v| {
                let quoted = serde_json::to_string(v).unwrap_or_default();
                let escaped = quoted[1..quoted.len() - 1].to_owned();
                [v.clone(), escaped]
            })
            .collect();
        if values.is_empty() {
            return None;
        }
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Some(Redactor { values })
    }

    /// Masks every value in `text`.
    pub(crate) fn apply(&self, text: &mut String) {
        for value in &self.values {
            if text.contains(value.as_str()) {
                *text = text.replace(value.as_str(), MASK);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence_longest_first() {
        let r = Redactor::new(&["abc".into(), "abcdef".into(), String::new()]).unwrap();
        let mut s = "x abcdef y abc z".to_owned();
        r.apply(&mut s);
        assert_eq!(s, "x *** y *** z");
        assert!(Redactor::new(&[String::new()]).is_none());
        let r = Redactor::new(&["a\"b".into()]).unwrap();
        let mut json = serde_json::json!({"echo": "a\"b"}).to_string();
        r.apply(&mut json);
        assert_eq!(json, r#"{"echo":"***"}"#);
    }
}
