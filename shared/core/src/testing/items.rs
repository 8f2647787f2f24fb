//! A DynamoDB-shaped table in memory: items are JSON objects under (pk, sk), serialised the way
//! the DynamoDB adapter serialises them (`None` fields left out), so a domain type that does not
//! round-trip through the table fails here as it would in production.

use crate::ports::PortError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub(crate) type Item = Map<String, Value>;

/// One table: partition key → sort key → item (sort keys in byte order, as DynamoDB sorts them).
#[derive(Debug, Default)]
pub(crate) struct Table {
    parts: BTreeMap<String, BTreeMap<String, Item>>,
    /// (pk, sk) of every put, upsert and delete, in order: what tests count writes by.
    writes: Vec<(String, String)>,
}

/// The items DynamoDB accepts in one BatchGetItem / BatchWriteItem.
pub(crate) const BATCH_GET: usize = 100;
pub(crate) const BATCH_WRITE: usize = 25;

impl Table {
    pub fn get(&self, pk: &str, sk: &str) -> Option<&Item> {
        self.parts.get(pk)?.get(sk)
    }

    pub fn get_mut(&mut self, pk: &str, sk: &str) -> Option<&mut Item> {
        self.parts.get_mut(pk)?.get_mut(sk)
    }

    /// Whole-item put (PutItem): the `pk` and `sk` attributes are part of the item, as in DynamoDB.
    pub fn put(&mut self, pk: &str, sk: &str, mut item: Item) {
        item.insert("pk".into(), Value::String(pk.to_owned()));
        item.insert("sk".into(), Value::String(sk.to_owned()));
        self.writes.push((pk.to_owned(), sk.to_owned()));
        self.parts.entry(pk.to_owned()).or_default().insert(sk.to_owned(), item);
    }

    /// The item to update in place, created with only its keys if absent (UpdateItem).
    pub fn upsert(&mut self, pk: &str, sk: &str) -> &mut Item {
        self.writes.push((pk.to_owned(), sk.to_owned()));
        self.parts.entry(pk.to_owned()).or_default().entry(sk.to_owned()).or_insert_with(|| {
            let mut item = Item::new();
            item.insert("pk".into(), Value::String(pk.to_owned()));
            item.insert("sk".into(), Value::String(sk.to_owned()));
            item
        })
    }

    pub fn delete(&mut self, pk: &str, sk: &str) -> Option<Item> {
        self.writes.push((pk.to_owned(), sk.to_owned()));
        let part = self.parts.get_mut(pk)?;
        let old = part.remove(sk);
        if part.is_empty() {
            self.parts.remove(pk);
        }
        old
    }

    /// The write log since the last call (updates in place through `get_mut` are not in it).
    pub fn take_writes(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.writes)
    }

    /// A partition's items with sort keys starting with `prefix`, in sort-key order.
    pub fn query<'a>(&'a self, pk: &str, prefix: &str) -> std::vec::IntoIter<(&'a String, &'a Item)> {
        let Some(part) = self.parts.get(pk) else { return Vec::new().into_iter() };
        let hits: Vec<(&String, &Item)> =
            part.range(prefix.to_owned()..).take_while(|(sk, _)| sk.starts_with(prefix)).collect();
        hits.into_iter()
    }

    /// Every item of every partition (a scan; for the sparse index).
    pub fn scan(&self) -> impl Iterator<Item = &Item> {
        self.parts.values().flat_map(|p| p.values())
    }
}

/// A struct → item. `None` fields are left out, as the DynamoDB adapter does.
pub(crate) fn to_item<T: Serialize>(value: &T) -> Result<Item, PortError> {
    match serde_json::to_value(value).map_err(|e| PortError::Other(e.to_string()))? {
        Value::Object(o) => Ok(o.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        _ => Err(PortError::Other("only structs can be stored as items".into())),
    }
}

pub(crate) fn from_item<T: DeserializeOwned>(item: &Item) -> Result<T, PortError> {
    serde_json::from_value(Value::Object(item.clone())).map_err(|e| PortError::Corrupt(e.to_string()))
}

pub(crate) fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_default()
}

pub(crate) fn str_attr<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(Value::as_str)
}

pub(crate) fn set(item: &mut Item, attr: &str, v: impl Into<Value>) {
    item.insert(attr.to_owned(), v.into());
}

/// `SET attr = if_not_exists(attr, v)`.
pub(crate) fn set_if_not_exists(item: &mut Item, attr: &str, v: impl Into<Value>) {
    item.entry(attr.to_owned()).or_insert_with(|| v.into());
}

/// `SET attr = v` or `REMOVE attr`.
pub(crate) fn set_opt(item: &mut Item, attr: &str, v: Option<impl Into<Value>>) {
    match v {
        Some(v) => set(item, attr, v),
        None => {
            item.remove(attr);
        }
    }
}

/// `ADD attr delta` on a number (absent counts as 0).
pub(crate) fn add(item: &mut Item, attr: &str, delta: i64) {
    let old = item.get(attr).and_then(Value::as_i64).unwrap_or(0);
    item.insert(attr.to_owned(), Value::from(old.saturating_add(delta)));
}

/// BatchGetItem and BatchWriteItem refuse a request naming the same key twice (a
/// ValidationException, so an error the caller sees): checked per request of `size` keys.
pub(crate) fn check_batch_duplicates<'a>(keys: impl Iterator<Item = &'a str>, size: usize) -> Result<(), PortError> {
    let keys: Vec<&str> = keys.collect();
    for chunk in keys.chunks(size) {
        let mut seen = std::collections::HashSet::new();
        if chunk.iter().any(|k| !seen.insert(*k)) {
            return Err(PortError::Other("ValidationException: Provided list of item keys contains duplicates".into()));
        }
    }
    Ok(())
}
