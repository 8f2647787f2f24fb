//! Secret hygiene. A representative end-to-end flow (API key and Knox/TOTP
//! connections, save, test, syncs, webhook secret create and rotate, webhooks, alerts,
//! disconnect) runs while every log line of this test process is captured (JSON, debug level)
//! and every response body kept. No secret value may appear in any of them, except the webhook
//! secret where it is deliberately shown: `POST /webhook/secret` and `GET /webhook` for callers
//! with `system_settings:update`.

use integration_tests::*;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use shared::auth::perms;
use shared::ports::SecretName;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tactical_sim::{ApiKey, SimConfig, User};

/// Every log line of the test process, from the moment the capture is installed.
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

struct Capture(Arc<Mutex<Vec<u8>>>);
impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the process-wide subscriber (before `lambda_glue::telemetry::init`, whose `try_init`
/// then leaves it in place): JSON like production, at debug level, into memory.
fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || Capture(sink.clone()))
            .try_init();
        buf
    })
    .clone()
}

/// One response the flow saw: what was called, and the body.
struct Seen {
    what: String,
    body: String,
}

struct Flow {
    p: Pipeline,
    seen: Vec<Seen>,
}

impl Flow {
    async fn call(&mut self, f: Function, method: &str, path: &str, tok: &str, body: Option<Value>) -> Value {
        let (s, v) = self.p.call(f, method, path, tok, body).await;
        self.seen.push(Seen { what: format!("{method} {f:?}{path} ({s})"), body: v.to_string() });
        v
    }

    async fn webhook(&mut self, cache: &webhook::SecretCache, req: lambda_http::Request) -> u16 {
        let what = format!("POST webhook{}", req.uri().path());
        let (s, v) = read(webhook::handle_with(&self.p.deps, cache, req).await);
        self.seen.push(Seen { what: format!("{what} ({s})"), body: v.to_string() });
        s
    }

    async fn drain(&self) {
        self.p.drain().await;
    }
}

fn distinctive(label: &str) -> String {
    format!("{label}{:016x}", rand::random::<u64>())
}

#[tokio::test]
async fn no_secret_reaches_a_log_line_or_a_response() {
    let logs = capture_logs();
    tracing::info!(marker = "hygiene-capture-check", "capture installed");
    assert!(
        String::from_utf8_lossy(&logs.lock().unwrap()).contains("hygiene-capture-check"),
        "another subscriber was installed first (run this test without TEST_LOG)"
    );

    // Distinctive values, so a match can only be a leak.
    let api_key = distinctive("HYGIENEAPIKEY");
    let wrong_key = distinctive("HYGIENEWRONGKEY");
    let password = distinctive("hygiene-password-");
    let totp_password = distinctive("hygiene-totp-password-");
    let totp_secret = distinctive("HYGIENETOTPSECRET");
    let cfg = SimConfig {
        api_keys: vec![ApiKey::full(api_key.clone())],
        users: vec![
            User::new("hygiene-tech", password.clone(), None),
            User::new("hygiene-admin", totp_password.clone(), Some(totp_secret.as_bytes().to_vec())),
        ],
        ..SimConfig::default()
    };
    let sim = simulator(cfg).await;
    let p = Pipeline::new_with("hygiene", |env| {
        env.insert("WEBHOOK_BASE_URL".into(), "https://hooks.example.test".into());
    })
    .await;
    let mut flow = Flow { p, seen: Vec::new() };
    let cache = webhook::SecretCache::new(Duration::ZERO, Duration::ZERO);
    let mut webhook_secrets = Vec::new();

    // 1. API key: save, read, test, sync everything, webhook secret and rotation, alerts.
    let t = tenant("hygiene-key");
    let tok = admin_token(&t);
    let reader = token(&t, &[perms::SETTINGS_READ]);
    flow.call(
        Function::Connection,
        "PATCH",
        "/settings",
        &tok,
        Some(json!({"instance_url": sim.base_url(), "auth_mode": "api_key", "api_key": wrong_key})),
    )
    .await;
    let v = flow.call(Function::Connection, "POST", "/test", &tok, Some(json!({}))).await;
    assert_eq!(v["error"]["code"], "tactical_auth_failed", "{v}");
    flow.call(Function::Connection, "PATCH", "/settings", &tok, Some(json!({"api_key": api_key}))).await;
    flow.call(Function::Connection, "GET", "/settings", &tok, None).await;
    let v = flow.call(Function::Connection, "POST", "/test", &tok, Some(json!({}))).await;
    assert_eq!(v["success"], true, "{v}");
    flow.call(Function::SyncClients, "POST", "/sync", &tok, None).await;
    flow.drain().await;
    let v = flow.call(Function::SyncClients, "GET", "/mappings", &tok, None).await;
    for m in v["mappings"].as_array().unwrap() {
        let path = format!("/mappings/{}", m["id"].as_str().unwrap());
        flow.call(Function::SyncClients, "PATCH", &path, &tok, Some(json!({"client_id": "psa-h"}))).await;
    }
    flow.call(Function::SyncDevices, "POST", "/sync", &tok, None).await;
    flow.drain().await;
    flow.call(Function::SyncDevices, "GET", "/runs/latest", &tok, None).await;
    flow.call(Function::SyncDevices, "GET", "/assets", &tok, None).await;
    let v = flow.call(Function::Connection, "GET", "/webhook", &tok, None).await;
    assert_eq!(v["has_secret"], false);
    for _ in 0..2 {
        let v = flow.call(Function::Connection, "POST", "/webhook/secret", &tok, None).await;
        webhook_secrets.push(v["secret"].as_str().expect("shown on creation").to_owned());
    }
    flow.call(Function::Connection, "GET", "/webhook", &tok, None).await;
    flow.call(Function::Connection, "GET", "/webhook", &reader, None).await;
    flow.call(Function::Connection, "GET", "/settings", &reader, None).await;
    let agent = sim.state().agents()[0].agent_id.clone();
    for (i, secret) in webhook_secrets.iter().enumerate() {
        let body = json!({"agent_id": agent, "alert_id": (500 + i).to_string(), "event": "failure", "message": "disk \"C:\" full"}).to_string();
        assert_eq!(flow.webhook(&cache, raw_webhook(t.as_str(), Some(secret), &body, "")).await, 202);
    }
    let body = json!({"agent_id": agent, "alert_id": "600", "event": "failure"}).to_string();
    assert_eq!(flow.webhook(&cache, raw_webhook(t.as_str(), Some(&wrong_key), &body, "")).await, 401);
    flow.drain().await;
    flow.call(Function::SyncAlerts, "POST", "/sync", &tok, None).await;
    flow.drain().await;
    flow.call(Function::SyncAlerts, "GET", "/runs/latest", &tok, None).await;
    flow.call(Function::SyncAlerts, "GET", "/alerts?limit=500", &tok, None).await;
    flow.call(Function::Connection, "POST", "/disconnect", &tok, None).await;
    assert_eq!(flow.webhook(&cache, raw_webhook(t.as_str(), Some(&webhook_secrets[1]), &body, "")).await, 401);

    // 2. Knox: a user without TOTP (checkcreds token), then one with TOTP (code asked, a wrong
    //    code, the right one); both syncs use the Knox token.
    let mut knox_tokens = Vec::new();
    for (user, pw, totp) in [("hygiene-tech", &password, None), ("hygiene-admin", &totp_password, Some(&totp_secret))] {
        let t = tenant("hygiene-knox");
        let tok = admin_token(&t);
        flow.call(
            Function::Connection,
            "PATCH",
            "/settings",
            &tok,
            Some(json!({"instance_url": sim.base_url(), "auth_mode": "knox", "username": user, "password": pw})),
        )
        .await;
        if let Some(secret) = totp {
            let v = flow.call(Function::Connection, "POST", "/test", &tok, Some(json!({}))).await;
            assert_eq!(v["totp_required"], true, "{v}");
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            let good = tactical_sim::totp_code(secret.as_bytes(), now);
            let bad = format!("{:06}", (good.parse::<u32>().unwrap() + 500_000) % 1_000_000);
            flow.call(Function::Connection, "POST", "/test", &tok, Some(json!({"totp_code": bad}))).await;
            let v = flow.call(Function::Connection, "POST", "/test", &tok, Some(json!({"totp_code": good}))).await;
            assert_eq!(v["success"], true, "{v}");
        } else {
            let v = flow.call(Function::Connection, "POST", "/test", &tok, Some(json!({}))).await;
            assert_eq!(v["success"], true, "{v}");
        }
        let knox = flow.p.deps.secrets.get(&t, SecretName::KnoxToken).await.unwrap().expect("knox token stored");
        knox_tokens.push(knox.expose_secret().to_owned());
        flow.call(Function::Connection, "GET", "/settings", &tok, None).await;
        flow.call(Function::SyncClients, "POST", "/sync", &tok, None).await;
        flow.drain().await;
        let v = flow.call(Function::SyncClients, "GET", "/runs/latest", &tok, None).await;
        assert_eq!(v["status"], "succeeded", "{v}");
        flow.call(Function::Connection, "POST", "/disconnect", &tok, None).await;
    }

    // What must never show: every credential, the JWT key, the callers' tokens themselves.
    let mut never: Vec<(&str, String)> = vec![
        ("API key", api_key.clone()),
        ("wrong API key", wrong_key.clone()),
        ("password", password.clone()),
        ("TOTP user's password", totp_password.clone()),
        ("TOTP secret", totp_secret.clone()),
        ("JWT key", lambda_glue::jwt::DEV_JWT_KEY.to_owned()),
        ("PSA token", tok.clone()),
        ("PSA read token", reader.clone()),
    ];
    never.extend(knox_tokens.iter().map(|k| ("Knox token", k.clone())));
    assert!(knox_tokens.iter().all(|k| k.len() >= 20), "real tokens: {knox_tokens:?}");

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let lines: Vec<&str> = text.lines().filter(|l| !l.contains("\"target\":\"tactical_sim")).collect();
    assert!(lines.len() > 50, "the flow was logged: {} lines", lines.len());
    let mut leaks = Vec::new();
    for (what, secret) in
        never.iter().chain(webhook_secrets.iter().map(|s| ("webhook secret", s.clone())).collect::<Vec<_>>().iter())
    {
        for l in &lines {
            if l.contains(secret.as_str()) {
                leaks.push(format!("log: {what} in {l}"));
            }
        }
    }
    for seen in &flow.seen {
        for (what, secret) in &never {
            if seen.body.contains(secret.as_str()) {
                leaks.push(format!("response: {what} in {}: {}", seen.what, seen.body));
            }
        }
        // The one documented place a secret is returned: the webhook secret, to update callers.
        let allowed = seen.what.starts_with("POST Connection/webhook/secret (")
            || seen.what.starts_with("GET Connection/webhook (");
        for s in &webhook_secrets {
            if seen.body.contains(s.as_str()) && !allowed {
                leaks.push(format!("response: webhook secret in {}: {}", seen.what, seen.body));
            }
        }
    }
    assert!(leaks.is_empty(), "leaks found:\n{}", leaks.join("\n"));
    // And the webhook secret is shown where documented (update callers), not to readers.
    let shown: Vec<&str> = flow
        .seen
        .iter()
        .filter(|s| webhook_secrets.iter().any(|w| s.body.contains(w.as_str())))
        .map(|s| s.what.as_str())
        .collect();
    assert!(
        shown
            .iter()
            .all(|w| w.starts_with("POST Connection/webhook/secret (") || w.starts_with("GET Connection/webhook (")),
        "{shown:?}"
    );
    assert_eq!(shown.iter().filter(|w| w.starts_with("POST Connection/webhook/secret")).count(), 2, "{shown:?}");
    let reads: Vec<&Seen> = flow.seen.iter().filter(|s| s.what.starts_with("GET Connection/webhook")).collect();
    assert!(
        reads.iter().any(|s| s.body.contains(webhook_secrets[1].as_str())),
        "update callers see the current secret"
    );
    assert!(!reads.last().unwrap().body.contains(webhook_secrets[1].as_str()), "readers do not");
    eprintln!("hygiene: {} log lines and {} responses checked, 0 leaks", lines.len(), flow.seen.len());
    integration_tests::cleanup::drop_stack(&flow.p.stack).await;
}

/// The repository's own files, walked from its root (build output and local tools left out).
fn repo_files(exts: &[&str]) -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let mut out = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), "target" | ".git" | ".local" | "node_modules" | "corpus" | "artifacts") {
                    dirs.push(path);
                }
            } else if exts.iter().any(|e| name.ends_with(&format!(".{e}"))) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The comment part of each line (`//` in Rust, `#` elsewhere), with its line number.
fn comments(path: &std::path::Path) -> Vec<(usize, String)> {
    let marker = if path.extension().is_some_and(|e| e == "rs") { "//" } else { "#" };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().enumerate().filter_map(|(i, l)| l.find(marker).map(|at| (i + 1, l[at..].to_owned()))).collect()
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown page's headings (outside code blocks), repeats numbered as GitHub does.
fn anchors(page: &str) -> std::collections::HashSet<String> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    let mut out = std::collections::HashSet::new();
    let mut fenced = false;
    for line in page.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let hashes = line.len() - line.trim_start_matches('#').len();
        if fenced || hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(&line[hashes..]);
        let n = seen.entry(base.clone()).or_insert(0);
        out.insert(if *n == 0 { base.clone() } else { format!("{base}-{n}") });
        *n += 1;
    }
    out
}

/// Comments (and docs pages) must make sense to someone holding only this repository: they state
/// the reason themselves or point at its docs/ pages, never at a reference kept outside it (numbered lists of
/// another project's defects, tracker numbers, section numbers of a document a clone lacks).
#[test]
fn source_comments_point_only_at_what_a_clone_has() {
    let outside = [
        regex_lite::Regex::new(r"(?i)\bpitfalls?\b").unwrap(),
        regex_lite::Regex::new(r"(?i)tactical-api\.md|original-pitfalls|shared/reference").unwrap(),
        regex_lite::Regex::new(r"(?i)\bissues? #?[0-9]").unwrap(),
        regex_lite::Regex::new(r"§ ?[0-9]").unwrap(),
    ];
    let files = repo_files(&["rs", "toml", "sh", "yaml", "yml", "py"]);
    assert!(files.len() > 50, "the walk found the sources ({} files)", files.len());
    let mut bad = Vec::new();
    for f in &files {
        for (n, c) in comments(f) {
            if outside.iter().any(|re| re.is_match(&c)) {
                bad.push(format!("{}:{n}: {}", f.display(), c.trim()));
            }
        }
    }
    // The Markdown pages are prose through and through.
    for f in repo_files(&["md"]) {
        for (i, line) in std::fs::read_to_string(&f).unwrap().lines().enumerate() {
            if outside.iter().any(|re| re.is_match(line)) {
                bad.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(bad.is_empty(), "comments and docs pointing outside the repository:\n{}", bad.join("\n"));
}

/// Every `docs/<page>.md` a comment names exists, and every `#anchor` after it is a heading of
/// that page, so a renamed section cannot leave comments pointing nowhere.
#[test]
fn doc_links_in_comments_resolve() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let link = regex_lite::Regex::new(r"docs/([A-Za-z0-9_-]+\.md)(#[A-Za-z0-9_-]+)?").unwrap();
    let mut pages = std::collections::HashMap::new();
    let (mut bad, mut checked) = (Vec::new(), 0);
    for f in repo_files(&["rs", "toml", "sh", "yaml", "yml", "py"]) {
        for (n, c) in comments(&f) {
            for m in link.captures_iter(&c) {
                checked += 1;
                let page = &m[1];
                let heads = pages
                    .entry(page.to_owned())
                    .or_insert_with(|| std::fs::read_to_string(root.join("docs").join(page)).ok().map(|t| anchors(&t)));
                let ok = match (heads, m.get(2)) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(h), Some(a)) => h.contains(&a.as_str()[1..]),
                };
                if !ok {
                    bad.push(format!("{}:{n}: {}", f.display(), &m[0]));
                }
            }
        }
    }
    assert!(checked > 10, "the check saw the links ({checked})");
    assert!(bad.is_empty(), "links to docs that do not resolve:\n{}", bad.join("\n"));
}

#[test]
fn anchors_follow_github() {
    let page =
        "# Receive alerts\n## Events: `RMM Alert Changed`\n```\n# not a heading\n```\n## A (b), c\n## A (b), c\n";
    let a = anchors(page);
    for want in ["receive-alerts", "events-rmm-alert-changed", "a-b-c", "a-b-c-1"] {
        assert!(a.contains(want), "{want} in {a:?}");
    }
    assert!(!a.contains("not-a-heading"));
}

/// The same for the Markdown links between the docs pages and from the README.
#[test]
fn doc_links_between_pages_resolve() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let link = regex_lite::Regex::new(r"\]\(([A-Za-z0-9_./-]*\.md)?(#[A-Za-z0-9_-]+)?\)").unwrap();
    let mut pages: Vec<_> =
        repo_files(&["md"]).into_iter().filter(|p| p.parent().is_some_and(|d| d.ends_with("docs"))).collect();
    pages.push(root.join("README.md"));
    let (mut bad, mut checked) = (Vec::new(), 0);
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for m in link.captures_iter(&text) {
            let target = match m.get(1) {
                Some(f) => page.parent().unwrap().join(f.as_str()),
                None if m.get(2).is_some() => page.clone(),
                None => continue,
            };
            checked += 1;
            let ok = match (std::fs::read_to_string(&target), m.get(2)) {
                (Err(_), _) => false,
                (Ok(_), None) => true,
                (Ok(t), Some(a)) => anchors(&t).contains(&a.as_str()[1..]),
            };
            if !ok {
                bad.push(format!("{}: {}", page.display(), &m[0]));
            }
        }
    }
    assert!(checked > 20, "the check saw the links ({checked})");
    assert!(bad.is_empty(), "links between docs that do not resolve:\n{}", bad.join("\n"));
}
