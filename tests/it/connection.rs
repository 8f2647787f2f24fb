//! Issue 4: connect, test, disconnect through the `connection` handler against the simulator.

use integration_tests::*;
use serde_json::json;
use shared::auth::perms;
use tactical_sim::{RouteKind, SimConfig, User};

const KEY: &str = tactical_sim::DEFAULT_API_KEY;

#[tokio::test]
async fn api_key_connection_is_saved_masked_tested_and_activated() {
    let p = Pipeline::new("conn-ok").await;
    let sim = simulator(SimConfig::default()).await;
    let t = tenant("conn-ok");
    let tok = admin_token(&t);
    let (s, v) = p
        .call(
            Function::Connection,
            "PATCH",
            "/settings",
            &tok,
            Some(json!({"instance_url": format!("{}/api/", sim.base_url()), "api_key": KEY})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["instance_url"], json!(sim.base_url()), "trailing /api/ removed");
    assert_eq!(v["auth_mode"], "api_key");
    assert_eq!(v["is_active"], false, "not active before a test");
    assert_eq!(v["credentials"]["api_key_masked"], json!(format!("••••{}", &KEY[KEY.len() - 4..])));
    assert!(!v.to_string().contains(KEY), "the key never comes back");

    let (s, v) = p.call(Function::Connection, "POST", "/test", &tok, None).await;
    assert_eq!(s, 200);
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(v["clients"], 3);
    assert_eq!(v["agents"], 12);

    let (_, v) = p.call(Function::Connection, "GET", "/settings", &tok, None).await;
    assert_eq!(v["is_active"], true);
    assert!(v["connected_at"].is_string());
    assert_eq!(v["summary"]["is_active"], true);
}

#[tokio::test]
async fn the_dashboard_host_is_named_instead_of_passing() {
    let p = Pipeline::new("conn-dash").await;
    let sim = simulator(SimConfig { dashboard_mode: true, ..Default::default() }).await;
    let t = tenant("dash");
    let tok = admin_token(&t);
    p.call(
        Function::Connection,
        "PATCH",
        "/settings",
        &tok,
        Some(json!({"instance_url": sim.base_url(), "api_key": KEY})),
    )
    .await;
    let (_, v) = p.call(Function::Connection, "POST", "/test", &tok, None).await;
    assert_eq!(v["success"], false);
    assert_eq!(v["error"]["code"], "tactical_dashboard_host", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("API host"));
    let (_, v) = p.call(Function::Connection, "GET", "/settings", &tok, None).await;
    assert_eq!(v["is_active"], false);
}

#[tokio::test]
async fn beta_api_off_and_bad_key_say_what_to_fix() {
    let p = Pipeline::new("conn-beta").await;
    let sim = simulator(SimConfig { beta_enabled: false, ..Default::default() }).await;
    let t = tenant("beta");
    let tok = admin_token(&t);
    p.call(
        Function::Connection,
        "PATCH",
        "/settings",
        &tok,
        Some(json!({"instance_url": sim.base_url(), "api_key": KEY})),
    )
    .await;
    let (_, v) = p.call(Function::Connection, "POST", "/test", &tok, None).await;
    assert_eq!(v["error"]["code"], "tactical_beta_api_disabled", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("BETA_API_ENABLED"));

    let t2 = tenant("badkey");
    let tok2 = admin_token(&t2);
    p.call(
        Function::Connection,
        "PATCH",
        "/settings",
        &tok2,
        Some(json!({"instance_url": sim.base_url(), "api_key": "WRONGKEY000000000000000000000000"})),
    )
    .await;
    let (_, v) = p.call(Function::Connection, "POST", "/test", &tok2, None).await;
    assert_eq!(v["error"]["code"], "tactical_auth_failed", "{v}");
    assert!(!v.to_string().contains("WRONGKEY"), "the key is not echoed");
}

#[tokio::test]
async fn knox_without_totp_takes_the_checkcreds_token_and_never_calls_login() {
    let p = Pipeline::new("knox-nototp").await;
    let cfg = SimConfig { users: vec![User::new("tech", "correct horse battery", None)], ..Default::default() };
    let sim = simulator(cfg).await;
    let t = tenant("knox1");
    let tok = admin_token(&t);
    let (s, v) = p
        .call(Function::Connection, "PATCH", "/settings", &tok, Some(json!({"instance_url": sim.base_url(), "auth_mode": "knox", "username": "tech", "password": "correct horse battery"})))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["credentials"]["username"], "tech");
    assert_eq!(v["credentials"]["has_password"], true);
    assert!(!v.to_string().contains("correct horse"));
    let (_, v) = p.call(Function::Connection, "POST", "/test", &tok, None).await;
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(sim.state().request_count(RouteKind::Login), 0, "pitfall 3: no /v2/login/ for an account without TOTP");
    assert_eq!(sim.state().request_count(RouteKind::CheckCreds), 1);
    let (_, v) = p.call(Function::Connection, "GET", "/settings", &tok, None).await;
    assert_eq!(v["credentials"]["has_knox_token"], true);
    assert!(v["credentials"]["knox_token_masked"].as_str().unwrap().starts_with("••••"));
}

#[tokio::test]
async fn knox_with_totp_asks_for_the_code_then_logs_in() {
    let p = Pipeline::new("knox-totp").await;
    let secret = b"12345678901234567890".to_vec();
    let cfg =
        SimConfig { users: vec![User::new("admin", "pw-for-totp-user", Some(secret.clone()))], ..Default::default() };
    let sim = simulator(cfg).await;
    let t = tenant("knox2");
    let tok = admin_token(&t);
    p.call(Function::Connection, "PATCH", "/settings", &tok, Some(json!({"instance_url": sim.base_url(), "auth_mode": "knox", "username": "admin", "password": "pw-for-totp-user"}))).await;
    let (_, v) = p.call(Function::Connection, "POST", "/test", &tok, None).await;
    assert_eq!((v["success"].clone(), v["totp_required"].clone()), (json!(false), json!(true)), "{v}");
    assert_eq!(v["error"]["code"], "tactical_totp_required");

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let good = tactical_sim::totp_code(&secret, now);
    let bad = format!("{:06}", (good.parse::<u32>().unwrap() + 500_000) % 1_000_000);
    let (_, v) = p.call(Function::Connection, "POST", "/test", &tok, Some(json!({"totp_code": bad}))).await;
    assert_eq!(v["success"], false);
    assert_eq!(v["error"]["field"], "totp_code", "{v}");

    let (_, v) = p.call(Function::Connection, "POST", "/test", &tok, Some(json!({"totp_code": good}))).await;
    assert_eq!(v["success"], true, "{v}");
    let (s, v) = p.call(Function::Connection, "POST", "/test", &tok, Some(json!({"totp_code": "12ab"}))).await;
    assert_eq!((s, v["field"].clone()), (400, json!("totp_code")));
}

#[tokio::test]
async fn permissions_come_from_the_token_only() {
    let p = Pipeline::new("perm").await;
    let t = tenant("perm");
    let (s, v) = read(connection::handle(&p.deps, request("GET", "/settings", None, None)).await);
    assert_eq!((s, v["code"].clone()), (401, json!("unauthenticated")));
    let forged = shared::auth::sign_hs256(
        "not-the-psa-key",
        &shared::auth::claims_for(t.as_str(), "u", &[perms::SETTINGS_UPDATE], 60),
    );
    let (s, _) = p.call(Function::Connection, "GET", "/settings", &forged, None).await;
    assert_eq!(s, 401);

    let reader = token(&t, &[perms::SETTINGS_READ]);
    let (s, _) = p.call(Function::Connection, "GET", "/settings", &reader, None).await;
    assert_eq!(s, 200);
    for (m, path) in [("PATCH", "/settings"), ("POST", "/test"), ("POST", "/disconnect")] {
        let (s, v) = p.call(Function::Connection, m, path, &reader, Some(json!({}))).await;
        assert_eq!((s, v["code"].clone()), (403, json!("forbidden")), "{m} {path}");
    }
    let nobody = token(&t, &[]);
    let (s, _) = p.call(Function::Connection, "GET", "/settings", &nobody, None).await;
    assert_eq!(s, 403);
    let (s, _) = p.call(Function::Connection, "GET", "/nope", &reader, None).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn saves_are_partial_and_validated_field_by_field() {
    let p = Pipeline::new("partial").await;
    let t = tenant("partial");
    let tok = admin_token(&t);
    let (s, v) = p
        .call(
            Function::Connection,
            "PATCH",
            "/settings",
            &tok,
            Some(json!({"schedules": {"device_sync": {"enabled": true, "interval_minutes": 30}}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = p
        .call(
            Function::Connection,
            "PATCH",
            "/settings",
            &tok,
            Some(json!({"instance_url": "api.example.com", "api_key": "ABCDEFGHIJKLMNOP1234"})),
        )
        .await;
    assert_eq!(s, 200);
    let (_, v) = p.call(Function::Connection, "GET", "/settings", &tok, None).await;
    assert_eq!(
        v["schedules"]["device_sync"],
        json!({"enabled": true, "interval_minutes": 30}),
        "credentials save kept the schedule"
    );
    assert_eq!(v["instance_url"], "https://api.example.com");

    let cases = [
        (json!({"instance_url": "ftp://x"}), "instance_url"),
        (
            json!({"schedules": {"alert_polling": {"enabled": true, "interval_minutes": 2}}}),
            "schedules.alert_polling.interval_minutes",
        ),
        (json!({"api_key": ""}), "api_key"),
        (json!({"auth_mode": "password"}), "auth_mode"),
        (json!({"username": "x"}), "auth_mode"),
    ];
    for (body, field) in cases {
        let (s, v) = p.call(Function::Connection, "PATCH", "/settings", &tok, Some(body.clone())).await;
        assert_eq!(
            (s, v["code"].clone(), v["field"].clone()),
            (400, json!("validation_failed"), json!(field)),
            "{body} → {v}"
        );
    }
    let (s, v) = p.call(Function::Connection, "PATCH", "/settings", &tok, Some(json!({"apikey": "x"}))).await;
    assert_eq!(s, 400);
    assert!(v["message"].as_str().unwrap().contains("apikey"), "{v}");
    // Nothing of the refused saves landed.
    let (_, v) = p.call(Function::Connection, "GET", "/settings", &tok, None).await;
    assert_eq!(v["instance_url"], "https://api.example.com");
}

#[tokio::test]
async fn loopback_and_metadata_addresses_are_refused_without_the_allowlist() {
    let stack = shared_stack().await;
    let deps = deps_with(&stack, |env| {
        env.remove("TACTICAL_HOST_ALLOWLIST");
    })
    .await;
    let t = tenant("ssrf");
    let tok = admin_token(&t);
    for url in ["http://127.0.0.1:8000", "http://169.254.169.254/latest", "http://[::1]:80", "http://localhost:9000"] {
        let req = request("PATCH", "/settings", Some(&tok), Some(json!({"instance_url": url, "api_key": KEY})));
        let (s, v) = read(connection::handle(&deps, req).await);
        assert_eq!(
            (s, v["code"].clone(), v["field"].clone()),
            (400, json!("blocked_address"), json!("instance_url")),
            "{url}: {v}"
        );
    }
    assert!(deps.store.get_integration(&t).await.unwrap().is_none(), "nothing saved");
}

#[tokio::test]
async fn disconnect_clears_secrets_keeps_mappings_and_refuses_work() {
    let p = Pipeline::new("disc").await;
    let sim = simulator(SimConfig::default()).await;
    let t = tenant("disc");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    let (s, _) = p.call(Function::SyncClients, "POST", "/sync", &tok, None).await;
    assert_eq!(s, 202);
    p.drain().await;
    let (s, v) = p.call(Function::Connection, "POST", "/disconnect", &tok, None).await;
    assert_eq!(s, 200, "{v}");
    for name in shared::ports::SecretName::ALL {
        assert!(p.deps.secrets.get(&t, name).await.unwrap().is_none(), "{name:?} cleared");
    }
    let (_, v) = p.call(Function::SyncClients, "GET", "/mappings", &tok, None).await;
    assert_eq!(v["mappings"].as_array().unwrap().len(), 3, "mappings kept");
    let (s, v) = p.call(Function::SyncDevices, "POST", "/sync", &tok, None).await;
    assert_eq!((s, v["code"].clone()), (409, json!("integration_inactive")), "{v}");
    let (_, v) = p.call(Function::Connection, "GET", "/settings", &tok, None).await;
    assert_eq!(v["is_active"], false);
    assert_eq!(v["credentials"]["has_api_key"], false);
}
