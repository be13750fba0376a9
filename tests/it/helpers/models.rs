//! The official Genesys model field lists (`tests/fixtures/genesys-models.json`, from the
//! Python SDK PureCloudPlatformClientV2 269.0.0) and a checker that walks a JSON body
//! against a model: every field must be one of the model's, every value of the field's
//! type, every enum value one of the allowed ones, nested models checked in turn.

use std::sync::OnceLock;

use serde_json::{Map, Value};

/// The fixture, parsed once.
pub fn models() -> &'static Map<String, Value> {
    static MODELS: OnceLock<Map<String, Value>> = OnceLock::new();
    MODELS.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/genesys-models.json"
        );
        let text = std::fs::read_to_string(path).expect("the model fixture");
        serde_json::from_str(&text).expect("the model fixture is JSON")
    })
}

/// Every way `value` departs from `model`, as `path: what` lines (empty when it conforms).
pub fn violations(value: &Value, model: &str) -> Vec<String> {
    let mut out = Vec::new();
    check(value, model, "$", &mut out);
    out
}

/// Panics listing the violations, naming `what` the body is.
pub fn assert_conforms(value: &Value, model: &str, what: &str) {
    let v = violations(value, model);
    assert!(
        v.is_empty(),
        "{what} does not match the official model {model}:\n{}\nbody: {value}",
        v.join("\n")
    );
}

fn check(value: &Value, ty: &str, path: &str, out: &mut Vec<String>) {
    let ty = ty.trim();
    if let Some(inner) = ty.strip_prefix("list[").and_then(|t| t.strip_suffix(']')) {
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    check(item, inner, &format!("{path}[{i}]"), out);
                }
            }
            other => out.push(format!("{path}: expected a list of {inner}, got {other}")),
        }
        return;
    }
    if let Some(inner) = ty.strip_prefix("dict(").and_then(|t| t.strip_suffix(')')) {
        let value_type = inner.split_once(',').map_or("str", |(_, v)| v.trim());
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    check(v, value_type, &format!("{path}.{k}"), out);
                }
            }
            other => out.push(format!("{path}: expected an object, got {other}")),
        }
        return;
    }
    let ok = match ty {
        "str" => value.is_string(),
        "int" => value.is_i64() || value.is_u64(),
        "float" => value.is_number(),
        "bool" => value.is_boolean(),
        "datetime" => value
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        "date" => value.is_string(),
        "object" => value.is_object(),
        model => {
            check_model(value, model, path, out);
            return;
        }
    };
    if !ok {
        out.push(format!("{path}: expected {ty}, got {value}"));
    }
}

fn check_model(value: &Value, model: &str, path: &str, out: &mut Vec<String>) {
    let Some(Value::Object(fields)) = models().get(model) else {
        out.push(format!(
            "{path}: model {model} is not in tests/fixtures/genesys-models.json"
        ));
        return;
    };
    let Value::Object(map) = value else {
        out.push(format!("{path}: expected a {model} object, got {value}"));
        return;
    };
    for (key, v) in map {
        let field_path = format!("{path}.{key}");
        match fields.get(key) {
            None => out.push(format!("{field_path}: not a field of {model}")),
            Some(Value::String(t)) => check(v, t, &field_path, out),
            Some(Value::Object(spec)) => {
                let t = spec.get("type").and_then(Value::as_str).unwrap_or("str");
                check(v, t, &field_path, out);
                if let (Some(Value::Array(allowed)), Some(s)) = (spec.get("enum"), v.as_str())
                    && !allowed.iter().any(|a| a.as_str() == Some(s))
                {
                    out.push(format!(
                        "{field_path}: {s:?} is not one of {model}.{key}'s values"
                    ));
                }
            }
            Some(other) => out.push(format!("{field_path}: fixture entry {other} is not a type")),
        }
    }
}
