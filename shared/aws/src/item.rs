//! serde ↔ DynamoDB attribute values, so domain types stay plain serde structs.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};
use shared::ports::PortError;
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

pub fn to_attr(v: &Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(to_attr).collect()),
        Value::Object(o) => AttributeValue::M(o.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect()),
    }
}

pub fn from_attr(a: &AttributeValue) -> Value {
    match a {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => n
            .parse::<i64>()
            .map(Value::from)
            .ok()
            .or_else(|| n.parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number))
            .unwrap_or(Value::Null),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(l) => Value::Array(l.iter().map(from_attr).collect()),
        AttributeValue::M(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), from_attr(v))).collect::<Map<_, _>>()),
        AttributeValue::Ss(s) => Value::Array(s.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(ns) => Value::Array(
            ns.iter().filter_map(|n| n.parse::<f64>().ok()).filter_map(Number::from_f64).map(Value::Number).collect(),
        ),
        _ => Value::Null,
    }
}

/// A serde value (an enum, a nested struct or list) → one attribute.
pub fn attr_of<T: Serialize>(value: &T) -> Result<AttributeValue, PortError> {
    serde_json::to_value(value).map(|v| to_attr(&v)).map_err(|e| PortError::Other(e.to_string()))
}

/// A struct → item. `None` fields are left out rather than stored as NULL (smaller items).
pub fn to_item<T: Serialize>(value: &T) -> Result<Item, PortError> {
    match serde_json::to_value(value).map_err(|e| PortError::Other(e.to_string()))? {
        Value::Object(o) => Ok(o.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), to_attr(v))).collect()),
        _ => Err(PortError::Other("only structs can be stored as items".into())),
    }
}

pub fn from_item<T: DeserializeOwned>(item: &Item) -> Result<T, PortError> {
    let obj: Map<String, Value> = item.iter().map(|(k, v)| (k.clone(), from_attr(v))).collect();
    serde_json::from_value(Value::Object(obj)).map_err(|e| PortError::Corrupt(e.to_string()))
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Sample {
        pk: String,
        count: i64,
        ratio: f64,
        tags: Vec<String>,
        nested: Option<Box<Sample>>,
        flag: bool,
    }

    #[test]
    fn round_trips_structs() {
        let v = Sample { pk: "t#x".into(), count: -3, ratio: 0.5, tags: vec!["a".into()], nested: None, flag: true };
        let item = to_item(&v).unwrap();
        assert!(!item.contains_key("nested"));
        assert_eq!(from_item::<Sample>(&item).unwrap(), v);
    }
}
