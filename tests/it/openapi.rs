//! docs/openapi.yaml and the handlers agree: every documented operation is served by the function
//! it names, answers with a documented status, errors are `Error` objects, every operation needs a
//! token, and undocumented paths are 404.

use integration_tests::*;
use serde_json::Value;
use serde_yaml::Value as Yaml;

fn spec() -> Yaml {
    let path = format!("{}/../docs/openapi.yaml", env!("CARGO_MANIFEST_DIR"));
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn functions(path_item: &Yaml) -> Vec<Function> {
    let names: Vec<String> = match &path_item["x-function"] {
        Yaml::String(s) => vec![s.clone()],
        Yaml::Sequence(v) => v.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect(),
        _ => panic!("every path names its function"),
    };
    names
        .iter()
        .map(|n| match n.as_str() {
            "connection" => Function::Connection,
            "sync-clients" => Function::SyncClients,
            "sync-devices" => Function::SyncDevices,
            "sync-alerts" => Function::SyncAlerts,
            "sync-software" => Function::SyncSoftware,
            "remote-actions" => Function::RemoteActions,
            other => panic!("unknown function {other}"),
        })
        .collect()
}

/// Fills `{param}` with the parameter's documented example.
fn concrete(path: &str, item: &Yaml) -> String {
    let mut p = path.to_owned();
    for param in item["parameters"].as_sequence().into_iter().flatten() {
        let name = param["name"].as_str().unwrap();
        p = p.replace(&format!("{{{name}}}"), param["example"].as_str().expect("path parameters have an example"));
    }
    p
}

fn error_codes(spec: &Yaml) -> Vec<String> {
    spec["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn handlers_answer_every_documented_operation_as_documented() {
    let p = Pipeline::new("openapi").await;
    let spec = spec();
    let codes = error_codes(&spec);
    let t = tenant("openapi");
    let admin = admin_token(&t);
    let mut checked = 0;
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        let path = path.as_str().unwrap();
        for f in functions(item) {
            for method in ["get", "post", "patch", "put", "delete"] {
                let Some(op) = item.get(method) else { continue };
                let documented: Vec<u16> = op["responses"]
                    .as_mapping()
                    .unwrap()
                    .keys()
                    .map(|k| k.as_str().unwrap().parse().unwrap())
                    .collect();
                let url = concrete(path, item);
                let body = matches!(method, "post" | "patch").then(|| serde_json::json!({}));
                let (status, v) = p.call(f, &method.to_uppercase(), &url, &admin, body.clone()).await;
                assert!(
                    documented.contains(&status),
                    "{method} {path} on {f:?}: {status} is not documented ({documented:?}): {v}"
                );
                assert!(!(status == 404 && v["message"] == "no such route"), "{method} {path} is not served by {f:?}");
                if status >= 400 {
                    assert_error(&v, &codes, &format!("{method} {path}"));
                }
                // No token: 401 with an Error body.
                let (status, v) = read(p.handle(f, request(&method.to_uppercase(), &url, None, body.clone())).await);
                assert_eq!(status, 401, "{method} {path} without a token");
                assert_error(&v, &codes, path);
                // The documented permission is enforced: a token without it is refused.
                let (status, v) = p.call(f, &method.to_uppercase(), &url, &token(&t, &[]), body).await;
                assert_eq!(status, 403, "{method} {path} without {:?}", op["x-permission"]);
                assert_error(&v, &codes, path);
                checked += 1;
            }
        }
    }
    assert!(checked >= 18, "the spec covers the handlers ({checked} operations)");
    // Undocumented paths are not served.
    for f in [
        Function::Connection,
        Function::SyncClients,
        Function::SyncDevices,
        Function::SyncAlerts,
        Function::SyncSoftware,
    ] {
        let (status, v) = p.call(f, "GET", "/undocumented", &admin, None).await;
        assert_eq!(status, 404, "{f:?}: {v}");
    }
}

fn assert_error(v: &Value, codes: &[String], what: &str) {
    let code = v["code"].as_str().unwrap_or_else(|| panic!("{what}: not an Error object: {v}"));
    assert!(codes.iter().any(|c| c == code), "{what}: code {code} is not in the Error enum");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {v}");
}
