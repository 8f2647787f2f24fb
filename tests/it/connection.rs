//! Connect, test, disconnect through the `connection` handler against the simulator.

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
    assert_eq!(
        sim.state().request_count(RouteKind::Login),
        0,
        "no /v2/login/ for an account without TOTP (a 500 in Tactical)"
    );
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
    let forged = lambda_glue::jwt::sign_hs256(
        "not-the-psa-key",
        &lambda_glue::jwt::claims_for(t.as_str(), "u", &[perms::SETTINGS_UPDATE], 60),
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
    for url in [
        "http://127.0.0.1:8000",
        "http://169.254.169.254/latest",
        "http://[::1]:80",
        "http://localhost:9000",
        "https://10.0.0.5",
        "https://172.16.4.4:8443",
        "https://192.168.1.10",
        "https://100.64.0.7",
        "https://[fd00::5]",
        "https://[64:ff9b::a00:5]",
    ] {
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

#[tokio::test]
async fn login_throttle_says_when_to_retry() {
    let p = Pipeline::new("throttle").await;
    let cfg = SimConfig {
        users: vec![User::new("ops", "pw-throttled", Some(b"12345678901234567890".to_vec()))],
        throttle: tactical_sim::ThrottleConfig { per_minute: 2, per_day: 300 },
        ..Default::default()
    };
    let sim = simulator(cfg).await;
    let t = tenant("throttle");
    let tok = admin_token(&t);
    p.call(
        Function::Connection,
        "PATCH",
        "/settings",
        &tok,
        Some(json!({"instance_url": sim.base_url(), "username": "ops", "password": "pw-throttled"})),
    )
    .await;
    let mut last = json!(null);
    for _ in 0..3 {
        last = p.call(Function::Connection, "POST", "/test", &tok, None).await.1;
    }
    assert_eq!(last["error"]["code"], "tactical_rate_limited", "{last}");
    assert!(last["error"]["message"].as_str().unwrap().contains("retry in"), "{last}");
    assert_eq!(sim.state().request_count(RouteKind::CheckCreds), 3, "a throttled login is not retried");
}

#[tokio::test]
async fn network_failures_are_told_apart() {
    let p = Pipeline::new_with("net", |env| {
        env.insert("TACTICAL_TIMEOUT_SECS".into(), "1".into());
        env.insert("TACTICAL_MAX_ATTEMPTS".into(), "1".into());
    })
    .await;
    let hanging = simulator(SimConfig::default()).await;
    hanging.state().set_fault(RouteKind::Root, tactical_sim::Fault::Hang);
    // A port nobody listens on: bind one, then free it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let cases = [
        ("https://tactical.example.invalid".to_owned(), "does not resolve"),
        // Refused reads like unreachable or blocked: the test button is not a port scanner.
        (format!("http://{closed}"), "could not connect"),
        (hanging.base_url(), "did not answer"),
    ];
    for (url, words) in cases {
        let t = tenant("net");
        let tok = admin_token(&t);
        let (s, v) = p
            .call(Function::Connection, "PATCH", "/settings", &tok, Some(json!({"instance_url": url, "api_key": KEY})))
            .await;
        assert_eq!(s, 200, "{v}");
        let (_, v) = p.call(Function::Connection, "POST", "/test", &tok, None).await;
        assert_eq!(v["error"]["code"], "tactical_unreachable", "{url}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(words), "{url}: {v}");
    }
}

#[tokio::test]
async fn an_expired_knox_token_is_renewed_without_totp_and_flags_reauth_with_totp() {
    let p = Pipeline::new("relogin").await;
    // The renewed token is used on the redelivery, after a (short) visibility timeout.
    p.redeliver_after(1).await;
    let secret = b"ABCDEFGHIJ0123456789".to_vec();
    let cfg = SimConfig {
        users: vec![User::new("svc", "pw-no-totp", None), User::new("human", "pw-with-totp", Some(secret.clone()))],
        ..Default::default()
    };
    let sim = simulator(cfg).await;
    let (a, b) = (tenant("relog-a"), tenant("relog-b"));
    let (ta, tb) = (admin_token(&a), admin_token(&b));
    p.call(
        Function::Connection,
        "PATCH",
        "/settings",
        &ta,
        Some(json!({"instance_url": sim.base_url(), "username": "svc", "password": "pw-no-totp"})),
    )
    .await;
    assert_eq!(p.call(Function::Connection, "POST", "/test", &ta, None).await.1["success"], true);
    p.call(
        Function::Connection,
        "PATCH",
        "/settings",
        &tb,
        Some(json!({"instance_url": sim.base_url(), "username": "human", "password": "pw-with-totp"})),
    )
    .await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let code = tactical_sim::totp_code(&secret, now);
    assert_eq!(
        p.call(Function::Connection, "POST", "/test", &tb, Some(json!({"totp_code": code}))).await.1["success"],
        true
    );
    let (_, v) = p.call(Function::Connection, "GET", "/settings", &tb, None).await;
    assert!(v["summary"]["knox_token_expires_at"].is_string(), "the token's expiry is kept: {v}");

    // Tactical forgets every token (5 h idle).
    sim.state().expire_tokens();
    let before = sim.state().request_count(RouteKind::CheckCreds);
    for tok in [&ta, &tb] {
        assert_eq!(p.call(Function::SyncClients, "POST", "/sync", tok, None).await.0, 202);
    }
    p.drain().await;
    let (_, run) = p.call(Function::SyncClients, "GET", "/runs/latest", &ta, None).await;
    assert_eq!(run["status"], "succeeded", "the account without TOTP logged in again: {run}");
    let (_, v) = p.call(Function::Connection, "GET", "/settings", &ta, None).await;
    assert_eq!(v["reauth_required"], false);

    let (_, run) = p.call(Function::SyncClients, "GET", "/runs/latest", &tb, None).await;
    assert_eq!(run["status"], "failed", "{run}");
    let (_, v) = p.call(Function::Connection, "GET", "/settings", &tb, None).await;
    assert_eq!(v["reauth_required"], true, "a TOTP account needs a person");
    assert_eq!(sim.state().request_count(RouteKind::CheckCreds) - before, 2, "one re-login per tenant");
    assert_eq!(sim.state().request_count(RouteKind::Login), 1, "no login without a code");
    // Scheduled work waits for the person.
    let tick = scheduler::tick(&p.deps).await.unwrap();
    assert!(!tick.started.iter().any(|s| s.starts_with(b.as_str())), "{tick:?}");
    assert!(tick.started.iter().any(|s| s.starts_with(a.as_str())), "{tick:?}");
    // Disconnect logs the token out of Tactical, best effort.
    p.call(Function::Connection, "POST", "/disconnect", &ta, None).await;
    assert_eq!(sim.state().request_count(RouteKind::Logout), 1);
}

#[tokio::test]
async fn the_summary_counts_mappings_assets_and_alerts() {
    let p = Pipeline::new("summary").await;
    let sim = simulator(SimConfig {
        fleet: tactical_sim::FleetSpec { alerts: 8, ..Default::default() },
        ..Default::default()
    })
    .await;
    let t = tenant("summary");
    let tok = admin_token(&t);
    connect(&p, &t, &sim).await;
    p.call(Function::SyncClients, "POST", "/sync", &tok, None).await;
    p.drain().await;
    let first = sim.state().clients()[0].id;
    p.call(Function::SyncClients, "PATCH", &format!("/mappings/{first}"), &tok, Some(json!({"client_id": "psa-x"})))
        .await;
    p.call(Function::SyncDevices, "POST", "/sync", &tok, None).await;
    p.call(Function::SyncAlerts, "POST", "/sync", &tok, None).await;
    p.drain().await;
    let (_, v) = p.call(Function::Connection, "GET", "/settings", &tok, None).await;
    let s = &v["summary"];
    assert_eq!((s["organizations"].clone(), s["mapped_organizations"].clone()), (json!(3), json!(1)), "{s}");
    let synced = sim.state().agents().iter().filter(|a| a.client_id == first).count() as i64;
    let by = &s["assets_by_status"];
    assert_eq!(
        by["online"].as_i64().unwrap() + by["offline"].as_i64().unwrap() + by["overdue"].as_i64().unwrap(),
        synced,
        "{s}"
    );
    let open = sim.state().alerts().iter().filter(|a| !a.resolved && a.agent_id.is_some()).count();
    assert_eq!(s["active_alerts"], json!(open), "{s}");
    for st in ["clients", "devices", "alerts"] {
        assert_eq!(s["last_runs"][st]["status"], "succeeded", "{st}: {s}");
    }
}

#[tokio::test]
async fn private_hosts_are_allowed_only_by_name_and_never_over_http() {
    let stack = shared_stack().await;
    let deps = deps_with(&stack, |env| {
        env.remove("TACTICAL_HOST_ALLOWLIST");
        env.insert("TACTICAL_PRIVATE_HOSTS".into(), "10.0.0.5".into());
    })
    .await;
    let t = tenant("onprem");
    let tok = admin_token(&t);
    let save =
        |url: &str| request("PATCH", "/settings", Some(&tok), Some(json!({"instance_url": url, "api_key": KEY})));
    let (s, v) = read(connection::handle(&deps, save("https://10.0.0.5")).await);
    assert_eq!(s, 200, "an on-premises host on TACTICAL_PRIVATE_HOSTS: {v}");
    let (s, v) = read(connection::handle(&deps, save("https://10.0.0.6")).await);
    assert_eq!((s, v["code"].clone()), (400, json!("blocked_address")), "{v}");
    for url in ["http://10.0.0.5", "http://api.example.com"] {
        let (s, v) = read(connection::handle(&deps, save(url)).await);
        assert_eq!(
            (s, v["code"].clone(), v["field"].clone()),
            (400, json!("validation_failed"), json!("instance_url")),
            "{url}: {v}"
        );
        assert!(v["message"].as_str().unwrap().contains("https"), "{v}");
    }
}

#[tokio::test]
async fn a_new_instance_url_never_receives_the_stored_credentials() {
    let p = Pipeline::new("rebind").await;
    let real = simulator(SimConfig::default()).await;
    let evil = simulator(SimConfig::default()).await;
    let t = tenant("rebind");
    let admin = admin_token(&t);
    let settings_only = token(&t, &[perms::SETTINGS_UPDATE]);
    let (s, v) = p
        .call(
            Function::Connection,
            "PATCH",
            "/settings",
            &admin,
            Some(json!({"instance_url": real.base_url(), "api_key": KEY})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(p.call(Function::Connection, "POST", "/test", &admin, None).await.1["success"], true);

    // Host, port or path: any change needs the credentials again, in the same save.
    let other_path = format!("{}/rmm", real.base_url());
    for url in [evil.base_url(), other_path] {
        let (s, v) = p
            .call(Function::Connection, "PATCH", "/settings", &settings_only, Some(json!({"instance_url": url})))
            .await;
        assert_eq!(
            (s, v["code"].clone(), v["field"].clone()),
            (400, json!("validation_failed"), json!("api_key")),
            "{url}: {v}"
        );
    }
    let (_, v) = p.call(Function::Connection, "GET", "/settings", &admin, None).await;
    assert_eq!(v["instance_url"], json!(real.base_url()), "the refused save changed nothing");
    let (_, v) = p.call(Function::Connection, "POST", "/test", &settings_only, None).await;
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(evil.state().total_requests(), 0, "nothing was sent to the new host");

    // With new credentials the new host is saved; the old key is gone, not kept for it.
    let new_key = "EVILKEY0000000000000000000000000";
    let (s, v) = p
        .call(
            Function::Connection,
            "PATCH",
            "/settings",
            &settings_only,
            Some(json!({"instance_url": evil.base_url(), "api_key": new_key})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["is_active"], false);
    assert_eq!(v["credentials"]["api_key_masked"], json!(format!("••••{}", &new_key[new_key.len() - 4..])));
    let (_, v) = p.call(Function::Connection, "POST", "/test", &settings_only, None).await;
    // The new host accepts the old key: a refusal shows it only ever saw the new one.
    assert_eq!(v["error"]["code"], "tactical_auth_failed", "{v}");
}

#[tokio::test]
async fn a_new_instance_url_drops_the_knox_account_and_token() {
    let p = Pipeline::new("rebind-knox").await;
    let users = vec![User::new("tech", "correct horse battery", None)];
    let real = simulator(SimConfig { users: users.clone(), ..Default::default() }).await;
    let other = simulator(SimConfig { users, ..Default::default() }).await;
    let t = tenant("rebind-knox");
    let tok = admin_token(&t);
    let knox = json!({"instance_url": real.base_url(), "auth_mode": "knox", "username": "tech", "password": "correct horse battery"});
    assert_eq!(p.call(Function::Connection, "PATCH", "/settings", &tok, Some(knox)).await.0, 200);
    assert_eq!(p.call(Function::Connection, "POST", "/test", &tok, None).await.1["success"], true);

    let (s, v) = p
        .call(
            Function::Connection,
            "PATCH",
            "/settings",
            &tok,
            Some(json!({"instance_url": other.base_url(), "username": "tech"})),
        )
        .await;
    assert_eq!((s, v["field"].clone()), (400, json!("password")), "{v}");
    let (_, v) = p.call(Function::Connection, "GET", "/settings", &tok, None).await;
    assert_eq!(v["credentials"]["has_knox_token"], true, "a refused save keeps everything");

    let (s, v) = p
        .call(
            Function::Connection,
            "PATCH",
            "/settings",
            &tok,
            Some(json!({"instance_url": other.base_url(), "username": "tech", "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["credentials"]["has_knox_token"], false, "the old host's token is gone");
    assert_eq!(v["credentials"]["has_password"], true);
    assert_eq!(other.state().total_requests(), 0);
}
