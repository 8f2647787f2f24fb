//! The layers are held by crates (docs/architecture.md): the core (`shared`) depends on no AWS,
//! HTTP or Lambda crate, the adapters do not reach each other, and only the Lambda glue and the
//! function crates see the Lambda runtime. Read from `cargo metadata`, so a new dependency that
//! breaks the rule fails here, whatever the code does with it.

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

struct Graph {
    /// Package id → name.
    names: HashMap<String, String>,
    /// Package id → ids of its normal (not dev, not build) dependencies.
    deps: HashMap<String, Vec<String>>,
}

fn graph() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--manifest-path", manifest])
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata is JSON");
    let names = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap().to_owned(), p["name"].as_str().unwrap().to_owned()))
        .collect();
    let deps = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let normal = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null()))
                .map(|d| d["pkg"].as_str().unwrap().to_owned())
                .collect();
            (n["id"].as_str().unwrap().to_owned(), normal)
        })
        .collect();
    Graph { names, deps }
}

impl Graph {
    fn id(&self, name: &str) -> String {
        let ids: Vec<&String> = self.names.iter().filter(|(_, n)| *n == name).map(|(id, _)| id).collect();
        assert_eq!(ids.len(), 1, "one workspace package named {name}");
        ids[0].clone()
    }

    fn direct(&self, name: &str) -> BTreeSet<String> {
        self.deps[&self.id(name)].iter().map(|id| self.names[id].clone()).collect()
    }

    /// Every package `name` builds with (its normal dependencies, transitively).
    fn closure(&self, name: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![self.id(name)];
        while let Some(id) = todo.pop() {
            for d in &self.deps[&id] {
                if seen.insert(self.names[d].clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    }
}

/// The AWS SDK and its runtime (`aws-lc-rs` is rustls' crypto, not AWS: it stays allowed).
fn aws(n: &str) -> bool {
    (n.starts_with("aws-") || n.starts_with("aws_")) && !n.starts_with("aws-lc")
}
fn http_client(n: &str) -> bool {
    matches!(n, "reqwest" | "hyper" | "hyper-util" | "rustls" | "tactical-client")
}
fn lambda(n: &str) -> bool {
    n.starts_with("lambda_") || n == "lambda-glue"
}

#[test]
fn the_core_depends_on_no_aws_http_or_lambda_crate() {
    let g = graph();
    let core = g.closure("shared");
    let bad: Vec<&String> =
        core.iter().filter(|n| aws(n) || http_client(n) || lambda(n) || *n == "shared-aws").collect();
    assert!(bad.is_empty(), "the core crate must stay plain Rust, but it builds with {bad:?}");
    // The rule is only worth something if the graph is the real one.
    assert!(core.contains("serde") && core.contains("tokio"), "{core:?}");
}

#[test]
fn adapters_do_not_reach_each_other_or_the_lambda_runtime() {
    let g = graph();
    let store = g.direct("shared-aws");
    assert!(store.contains("shared") && store.contains("aws-sdk-dynamodb"), "{store:?}");
    let bad: Vec<&String> = store.iter().filter(|n| http_client(n) || lambda(n)).collect();
    assert!(bad.is_empty(), "shared-aws depends on {bad:?}");

    let tactical = g.closure("tactical-client");
    assert!(tactical.contains("reqwest") && tactical.contains("shared"), "{tactical:?}");
    let bad: Vec<&String> = tactical.iter().filter(|n| aws(n) || lambda(n) || *n == "shared-aws").collect();
    assert!(bad.is_empty(), "tactical-client builds with {bad:?}");
}

#[test]
fn function_crates_are_thin_over_the_glue() {
    let g = graph();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../functions");
    let mut functions = 0;
    for entry in std::fs::read_dir(root).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let direct = g.direct(&name);
        assert!(direct.contains("lambda-glue") && direct.contains("shared"), "{name}: {direct:?}");
        let bad: Vec<&String> = direct.iter().filter(|n| aws(n) || *n == "reqwest" || *n == "shared-aws").collect();
        assert!(bad.is_empty(), "{name} reaches adapters directly: {bad:?}");
        let mut files: Vec<String> = std::fs::read_dir(dir.join("src"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, ["lib.rs", "main.rs"], "{name}: a main.rs and a handler");
        functions += 1;
    }
    assert_eq!(functions, 8, "the eight functions of template.yaml");
}
