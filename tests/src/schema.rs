//! A small JSON Schema (draft 2020-12) validator for the keywords `schemas/` uses. A schema with
//! any other keyword is refused, so a schema can never rely on a rule this validator would
//! silently skip. Chosen over the `jsonschema` crate, whose dependency tree (fancy-regex,
//! reqwest for remote refs, …) would cost CI minutes for the handful of keywords used here.

use serde_json::Value;
use std::path::{Path, PathBuf};

const ANNOTATIONS: &[&str] = &["$schema", "$id", "title", "description", "default", "examples", "$comment"];
const KEYWORDS: &[&str] = &[
    "$defs",
    "$ref",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "enum",
    "const",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
];

pub struct Schema {
    pub name: String,
    root: Value,
}

/// `schemas/remote-actions/` of the repository.
pub fn remote_actions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/remote-actions")
}

impl Schema {
    pub fn load(path: &Path) -> Result<Schema, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let root: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if root["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
            return Err(format!("{}: $schema must be draft 2020-12", path.display()));
        }
        check_keywords(&root, &root, "#")?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        Ok(Schema { name, root })
    }

    /// `schemas/remote-actions/<action>.<input|output>.json`.
    pub fn remote(action: &str, kind: &str) -> Schema {
        let path = remote_actions_dir().join(format!("{action}.{kind}.json"));
        Schema::load(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every violation, with the JSON pointer of the value.
    pub fn errors(&self, value: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate(&self.root, &self.root, value, "", &mut errs);
        errs
    }

    pub fn assert_valid(&self, value: &Value) {
        let errs = self.errors(value);
        assert!(errs.is_empty(), "{} rejects {value}:\n{}", self.name, errs.join("\n"));
    }

    pub fn assert_invalid(&self, value: &Value) {
        assert!(!self.errors(value).is_empty(), "{} accepts {value}", self.name);
    }
}

fn check_keywords(root: &Value, s: &Value, at: &str) -> Result<(), String> {
    let obj = match s {
        Value::Bool(_) => return Ok(()),
        Value::Object(o) => o,
        _ => return Err(format!("{at}: a schema must be an object or a boolean")),
    };
    for (k, v) in obj {
        if ANNOTATIONS.contains(&k.as_str()) {
            continue;
        }
        if !KEYWORDS.contains(&k.as_str()) {
            return Err(format!("{at}: keyword {k} is not supported by the test validator"));
        }
        let here = format!("{at}/{k}");
        match k.as_str() {
            "$defs" | "properties" => {
                for (name, sub) in v.as_object().ok_or(format!("{here}: must be an object"))? {
                    check_keywords(root, sub, &format!("{here}/{name}"))?;
                }
            }
            "items" | "additionalProperties" | "not" | "if" | "then" | "else" => check_keywords(root, v, &here)?,
            "allOf" | "anyOf" | "oneOf" => {
                for (i, sub) in v.as_array().ok_or(format!("{here}: must be an array"))?.iter().enumerate() {
                    check_keywords(root, sub, &format!("{here}/{i}"))?;
                }
            }
            "pattern" => {
                regex_lite::Regex::new(v.as_str().unwrap_or_default()).map_err(|e| format!("{here}: {e}"))?;
            }
            "$ref" => {
                let r = v.as_str().unwrap_or_default();
                if !r.starts_with("#/") || root.pointer(&r[1..]).is_none() {
                    return Err(format!("{here}: only local refs that resolve are supported ({r})"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

fn valid(root: &Value, s: &Value, v: &Value) -> bool {
    let mut e = Vec::new();
    validate(root, s, v, "", &mut e);
    e.is_empty()
}

fn validate(root: &Value, s: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    let obj = match s {
        Value::Bool(true) => return,
        Value::Bool(false) => return errs.push(format!("{at}: no value is allowed here")),
        Value::Object(o) => o,
        _ => return,
    };
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        if let Some(target) = root.pointer(&r[1..]) {
            validate(root, target, v, at, errs);
        }
        return validate_rest(root, obj, v, at, errs);
    }
    let mut fail = |m: String| errs.push(format!("{}: {m}", if at.is_empty() { "/" } else { at }));
    if let Some(t) = obj.get("type") {
        let ok = match t {
            Value::String(t) => type_matches(t, v),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(|t| type_matches(t, v)),
            _ => true,
        };
        if !ok {
            fail(format!("expected type {t}, got {v}"));
            return;
        }
    }
    if let Some(e) = obj.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        fail(format!("{v} is not one of {}", Value::Array(e.clone())));
    }
    if let Some(c) = obj.get("const")
        && c != v
    {
        fail(format!("expected {c}, got {v}"));
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = obj.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            fail(format!("{n} is below the minimum {min}"));
        }
        if let Some(max) = obj.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            fail(format!("{n} is above the maximum {max}"));
        }
    }
    if let Some(text) = v.as_str() {
        let len = text.chars().count() as u64;
        if let Some(min) = obj.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            fail(format!("shorter than {min} characters"));
        }
        if let Some(max) = obj.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            fail(format!("longer than {max} characters"));
        }
        if let Some(p) = obj.get("pattern").and_then(Value::as_str)
            && !regex_lite::Regex::new(p).is_ok_and(|re| re.is_match(text))
        {
            fail(format!("{text:?} does not match {p}"));
        }
    }
    validate_rest(root, obj, v, at, errs);
}

fn validate_rest(root: &Value, obj: &serde_json::Map<String, Value>, v: &Value, at: &str, errs: &mut Vec<String>) {
    let here = if at.is_empty() { "/" } else { at };
    if let Some(items) = v.as_array() {
        if let Some(min) = obj.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            errs.push(format!("{here}: fewer than {min} items"));
        }
        if let Some(max) = obj.get("maxItems").and_then(Value::as_u64)
            && (items.len() as u64) > max
        {
            errs.push(format!("{here}: more than {max} items"));
        }
        if let Some(item_schema) = obj.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(root, item_schema, item, &format!("{at}/{i}"), errs);
            }
        }
    }
    if let Some(o) = v.as_object() {
        if let Some(req) = obj.get("required").and_then(Value::as_array) {
            for r in req.iter().filter_map(Value::as_str) {
                if !o.contains_key(r) {
                    errs.push(format!("{here}: {r} is required"));
                }
            }
        }
        let props = obj.get("properties").and_then(Value::as_object);
        for (k, val) in o {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate(root, ps, val, &format!("{at}/{k}"), errs),
                None => {
                    if let Some(ap) = obj.get("additionalProperties") {
                        if ap == &Value::Bool(false) {
                            errs.push(format!("{here}: property {k} is not allowed"));
                        } else {
                            validate(root, ap, val, &format!("{at}/{k}"), errs);
                        }
                    }
                }
            }
        }
    }
    if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
        for s in all {
            validate(root, s, v, at, errs);
        }
    }
    if let Some(any) = obj.get("anyOf").and_then(Value::as_array)
        && !any.iter().any(|s| valid(root, s, v))
    {
        errs.push(format!("{here}: matches none of anyOf"));
    }
    if let Some(one) = obj.get("oneOf").and_then(Value::as_array) {
        let n = one.iter().filter(|s| valid(root, s, v)).count();
        if n != 1 {
            errs.push(format!("{here}: matches {n} of oneOf (exactly one needed)"));
        }
    }
    if let Some(not) = obj.get("not")
        && valid(root, not, v)
    {
        errs.push(format!("{here}: matches a schema it must not match"));
    }
    if let Some(cond) = obj.get("if") {
        let branch = if valid(root, cond, v) { obj.get("then") } else { obj.get("else") };
        if let Some(b) = branch {
            validate(root, b, v, at, errs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(v: Value) -> Schema {
        let mut v = v;
        v["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        check_keywords(&v, &v, "#").unwrap();
        Schema { name: "t".into(), root: v }
    }

    #[test]
    fn checks_the_keywords_it_supports() {
        let s = schema(json!({
            "type": "object", "additionalProperties": false, "required": ["a"],
            "properties": {"a": {"type": "integer", "minimum": 1, "maximum": 3}, "b": {"$ref": "#/$defs/b"},
                "c": {"oneOf": [{"type": "string", "pattern": "^x"}, {"type": "integer"}]}},
            "$defs": {"b": {"type": "array", "items": {"enum": ["p", "q"]}, "maxItems": 2}},
            "if": {"required": ["b"]}, "then": {"not": {"required": ["c"]}}
        }));
        s.assert_valid(&json!({"a": 2, "b": ["p"]}));
        s.assert_valid(&json!({"a": 2, "c": "xy"}));
        for bad in [
            json!({}),
            json!({"a": 0}),
            json!({"a": 1.5}),
            json!({"a": 1, "z": 1}),
            json!({"a": 1, "b": ["r"]}),
            json!({"a": 1, "b": ["p", "p", "q"]}),
            json!({"a": 1, "c": "yx"}),
            json!({"a": 1, "b": [], "c": 1}),
        ] {
            s.assert_invalid(&bad);
        }
    }

    #[test]
    fn refuses_schemas_with_unknown_keywords() {
        let v =
            json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "string", "format": "date-time"});
        assert!(check_keywords(&v, &v, "#").unwrap_err().contains("format"));
    }
}
