//! An UpdateExpression builder: every attribute name and value aliased (some are reserved words).

use crate::item::n;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// Builds `SET a = :a, ...` / `REMOVE ...` from (attribute, value-or-none) pairs.
#[derive(Default)]
pub struct Update {
    sets: Vec<String>,
    removes: Vec<String>,
    adds: Vec<String>,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

impl Update {
    pub fn set(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let i = self.names.len();
        self.names.insert(format!("#a{i}"), attr.to_owned());
        self.values.insert(format!(":v{i}"), v);
        self.sets.push(format!("#a{i} = :v{i}"));
        self
    }
    pub fn set_if_not_exists(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let i = self.names.len();
        self.names.insert(format!("#a{i}"), attr.to_owned());
        self.values.insert(format!(":v{i}"), v);
        self.sets.push(format!("#a{i} = if_not_exists(#a{i}, :v{i})"));
        self
    }
    pub fn set_opt(&mut self, attr: &str, v: Option<AttributeValue>) -> &mut Self {
        match v {
            Some(v) => self.set(attr, v),
            None => self.remove(attr),
        }
    }
    pub fn remove(&mut self, attr: &str) -> &mut Self {
        let i = self.names.len();
        self.names.insert(format!("#a{i}"), attr.to_owned());
        self.removes.push(format!("#a{i}"));
        self
    }
    pub fn add(&mut self, attr: &str, delta: i64) -> &mut Self {
        let i = self.names.len();
        self.names.insert(format!("#a{i}"), attr.to_owned());
        self.values.insert(format!(":v{i}"), n(delta));
        self.adds.push(format!("#a{i} :v{i}"));
        self
    }
    pub fn expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.sets.is_empty() {
            parts.push(format!("SET {}", self.sets.join(", ")));
        }
        if !self.removes.is_empty() {
            parts.push(format!("REMOVE {}", self.removes.join(", ")));
        }
        if !self.adds.is_empty() {
            parts.push(format!("ADD {}", self.adds.join(", ")));
        }
        parts.join(" ")
    }
}
