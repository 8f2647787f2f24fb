//! Behaviour of the simulated API (routing quirks, auth, lists, beta, alerts, software,
//! scripts, remote actions, dashboard mode, counters).

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use tactical_sim::*;
use time::OffsetDateTime;

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn trailing_slash_is_mandatory_for_every_method() {
    let sim = start(SimConfig::default()).await;
    let c = client();
    for m in [Method::GET, Method::POST, Method::PUT, Method::PATCH] {
        // no credentials: the redirect happens before authentication
        let r = send(c.request(m.clone(), format!("{}/clients", sim.base_url()))).await;
        assert_eq!(r.status, 301, "{m}");
        assert_eq!(r.header("location").as_deref(), Some("/clients/"), "{m}");
        assert_eq!(r.text, "");
    }
    let r = get(&sim, "/agents?detail=false").await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location").as_deref(), Some("/agents/?detail=false"));
    let r = get(&sim, "/v2/checkcreds").await;
    assert_eq!(r.header("location").as_deref(), Some("/v2/checkcreds/"));
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_and_objects() {
    let sim = start(SimConfig::default()).await;
    // no route: Django's HTML page
    for p in ["/nope/", "/agents/tooShortAgentId/", "/agents/tooShortAgentId/cmd/", "/beta/v2/agent/"] {
        let r = get(&sim, p).await;
        assert_eq!(r.status, 404, "{p}");
        assert!(r.content_type().starts_with("text/html"), "{p}");
        assert!(r.text.contains("<h1>Not Found</h1>"));
    }
    // known route, unknown object: DRF JSON
    let r = get(&sim, &format!("/agents/{}/", "x".repeat(40))).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.content_type(), "application/json");
    assert_eq!(r.json(), json!({"detail": "No Agent matches the given query."}));
    let r = get(&sim, "/alerts/99999/").await;
    assert_eq!(r.json(), json!({"detail": "No Alert matches the given query."}));
    let r = get(&sim, "/clients/9999/").await;
    assert_eq!(r.json(), json!({"detail": "No Client matches the given query."}));
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let sim = start(SimConfig::default()).await;
    let r = get(&sim, "/alerts/").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow").as_deref(), Some("POST, PATCH, OPTIONS"));
    assert_eq!(r.json(), json!({"detail": "Method \"GET\" not allowed."}));
    let r = req_json(&sim, Method::POST, "/beta/v1/agent/", &json!({})).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.json(), json!({"detail": "Method \"POST\" not allowed."}));
    let r = req_json(&sim, Method::DELETE, "/clients/", &json!({})).await;
    assert_eq!(r.status, 405);
    assert!(r.header("allow").unwrap().contains("GET"));
    sim.shutdown().await;
}

#[tokio::test]
async fn root_probe_needs_no_auth_and_json_everywhere() {
    let sim = start(SimConfig::default()).await;
    let r = send(client().get(format!("{}/", sim.base_url()))).await;
    assert_eq!((r.status, r.content_type().as_str()), (200, "application/json"));
    assert_eq!(r.json(), json!({"status": "ok"}));
    for p in
        ["/agents/", "/clients/", "/clients/sites/", "/software/", "/scripts/", "/beta/v1/agent/", "/beta/v1/client/"]
    {
        let r = get(&sim, p).await;
        assert_eq!(r.status, 200, "{p}");
        assert_eq!(r.content_type(), "application/json", "{p}");
        let v = r.json();
        assert!(v.is_array() || v.is_object(), "{p}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn authentication_order_and_errors() {
    let users = vec![User::new("plain", "pw", None)];
    let mut keys = vec![ApiKey::full(KEY), ApiKey::expired("EXPIREDKEY000000000000000000000X")];
    keys.push(ApiKey::read_only("READONLYKEY00000000000000000000X"));
    let sim = start(SimConfig { users, api_keys: keys, ..SimConfig::default() }).await;
    let url = format!("{}/clients/", sim.base_url());
    let c = client();

    let r = send(c.get(&url)).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Token"));
    assert_eq!(r.json(), json!({"detail": "Authentication credentials were not provided."}));

    let r = send(c.get(&url).header("X-API-KEY", "WRONG")).await;
    assert_eq!((r.status, r.json()), (401, json!({"detail": "Invalid token."})));
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Token"));

    let r = send(c.get(&url).header("X-API-KEY", "EXPIREDKEY000000000000000000000X")).await;
    assert_eq!((r.status, r.json()), (401, json!({"detail": "The token has expired."})));

    // knox runs first: a bad token fails even with a valid key
    let r =
        send(c.get(&url).header("Authorization", format!("Token {}", "ab".repeat(32))).header("X-API-KEY", KEY)).await;
    assert_eq!((r.status, r.json()), (401, json!({"detail": "Invalid token."})));

    // Bearer is ignored by knox
    let r = send(c.get(&url).header("Authorization", "Bearer whatever").header("X-API-KEY", KEY)).await;
    assert_eq!(r.status, 200);
    let r = send(c.get(&url).header("Authorization", "Bearer whatever")).await;
    assert_eq!((r.status, r.json()), (401, json!({"detail": "Authentication credentials were not provided."})));

    // a knox token works, alone or with a bad key (knox wins)
    let r = send(
        c.post(format!("{}/v2/checkcreds/", sim.base_url())).json(&json!({"username": "plain", "password": "pw"})),
    )
    .await;
    let token = r.json()["token"].as_str().unwrap().to_string();
    let r = send(c.get(&url).header("Authorization", format!("Token {token}")).header("X-API-KEY", "WRONG")).await;
    assert_eq!(r.status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn knox_checkcreds_login_totp_and_logout() {
    let secret = b"12345678901234567890".to_vec();
    let users = vec![User::new("totpuser", "pw1", Some(secret.clone())), User::new("plain", "pw2", None)];
    let sim = start(SimConfig { users, ..SimConfig::default() }).await;
    let st = sim.state();
    let c = client();
    let url = |p: &str| format!("{}{p}", sim.base_url());

    // non-TOTP: token at once, 180 s TTL, extended to 5 h by the first use
    let r = send(c.post(url("/v2/checkcreds/")).json(&json!({"username": "plain", "password": "pw2"}))).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["totp"], json!(false));
    let token = v["token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 64);
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(v["expiry"].as_str().unwrap().ends_with('Z'));
    let ttl = st.token_expiry(&token).unwrap() - OffsetDateTime::now_utc();
    assert!(ttl.whole_seconds() > 170 && ttl.whole_seconds() <= 180, "{ttl}");
    let r = send(c.get(url("/agents/")).header("Authorization", format!("Token {token}"))).await;
    assert_eq!(r.status, 200);
    let ttl = st.token_expiry(&token).unwrap() - OffsetDateTime::now_utc();
    assert!(ttl.whole_minutes() >= 299, "{ttl}");

    // TOTP user: checkcreds says so, login with twofactor (±10 steps accepted)
    let r = send(c.post(url("/v2/checkcreds/")).json(&json!({"username": "totpuser", "password": "pw1"}))).await;
    assert_eq!(r.json(), json!({"totp": true}));
    let skewed = totp_code(&secret, unix_now() - 240);
    let r =
        send(c.post(url("/v2/login/")).json(&json!({"username": "totpuser", "password": "pw1", "twofactor": skewed})))
            .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["username"], json!("totpuser"));
    assert_eq!(v["name"], Value::Null);
    let t2 = v["token"].as_str().unwrap().to_string();
    let too_old = totp_code(&secret, unix_now() - 400);
    let r =
        send(c.post(url("/v2/login/")).json(&json!({"username": "totpuser", "password": "pw1", "twofactor": too_old})))
            .await;
    assert_eq!((r.status, r.json()), (400, json!("Bad credentials")));
    // wrong password on login: DRF serializer error
    let r =
        send(c.post(url("/v2/login/")).json(&json!({"username": "totpuser", "password": "x", "twofactor": "123456"})))
            .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"non_field_errors": ["Unable to log in with provided credentials."]}));
    // missing twofactor / non-TOTP user on /v2/login/ / missing username on checkcreds: HTML 500
    let r = send(c.post(url("/v2/login/")).json(&json!({"username": "totpuser", "password": "pw1"}))).await;
    assert_eq!(r.status, 500);
    assert!(r.content_type().starts_with("text/html"));
    let r =
        send(c.post(url("/v2/login/")).json(&json!({"username": "plain", "password": "pw2", "twofactor": "123456"})))
            .await;
    assert_eq!(r.status, 500);
    let r = send(c.post(url("/v2/checkcreds/")).json(&json!({"password": "pw2"}))).await;
    assert_eq!(r.status, 500);

    // logout: knox only
    let r = send(c.post(url("/logout/")).header("X-API-KEY", KEY)).await;
    assert_eq!(r.status, 401);
    let r = send(c.post(url("/logout/")).header("Authorization", format!("Token {t2}"))).await;
    assert_eq!(r.status, 204);
    let r = send(c.get(url("/agents/")).header("Authorization", format!("Token {t2}"))).await;
    assert_eq!((r.status, r.json()), (401, json!({"detail": "Invalid token."})));
    // expiring all tokens
    st.expire_tokens();
    let r = send(c.get(url("/agents/")).header("Authorization", format!("Token {token}"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(st.request_count(RouteKind::Login), 5);
    assert_eq!(st.request_count(RouteKind::CheckCreds), 3);
    assert_eq!(st.request_count(RouteKind::Logout), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn knox_tokens_live_on_the_token_clock_as_tactical_counts_them() {
    let users = vec![User::new("plain", "pw2", None)];
    let sim = start(SimConfig { users, ..SimConfig::default() }).await;
    let st = sim.state();
    let c = client();
    let url = |p: &str| format!("{}{p}", sim.base_url());
    let checkcreds = || async {
        let r = send(c.post(url("/v2/checkcreds/")).json(&json!({"username": "plain", "password": "pw2"}))).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["token"].as_str().unwrap().to_string()
    };
    let use_token = |t: String| {
        let c = c.clone();
        let u = url("/clients/");
        async move { send(c.get(u).header("Authorization", format!("Token {t}"))).await.status }
    };

    // A checkcreds token unused for 180 s is dead.
    let unused = checkcreds().await;
    st.advance_clock(time::Duration::seconds(181));
    assert_eq!(use_token(unused.clone()).await, 401);
    assert!(st.token_expiry(&unused).is_none(), "knox deletes an expired token when it is presented");

    // Used once, it lives 5 h from that use; uses within 10 minutes do not move the expiry
    // (MIN_REFRESH_INTERVAL), a later one does.
    let t = checkcreds().await;
    st.advance_clock(time::Duration::seconds(170));
    assert_eq!(use_token(t.clone()).await, 200);
    let first = st.token_expiry(&t).unwrap();
    st.advance_clock(time::Duration::seconds(300));
    assert_eq!(use_token(t.clone()).await, 200);
    assert_eq!(st.token_expiry(&t).unwrap(), first, "moved by less than 600 s: not saved");
    st.advance_clock(time::Duration::seconds(400));
    assert_eq!(use_token(t.clone()).await, 200);
    let second = st.token_expiry(&t).unwrap();
    assert!(second - first >= time::Duration::seconds(700), "{first} → {second}");
    // 5 h idle kills it.
    st.advance_clock(time::Duration::seconds(5 * 3600 + 1));
    assert_eq!(use_token(t).await, 401);

    // Lifetimes are configurable.
    st.set_knox_times(KnoxTimes { checkcreds_ttl: time::Duration::seconds(5), ..KnoxTimes::default() });
    let short = checkcreds().await;
    st.advance_clock(time::Duration::seconds(6));
    assert_eq!(use_token(short).await, 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn login_endpoints_are_throttled_per_ip() {
    let users = vec![User::new("plain", "pw", None)];
    let sim =
        start(SimConfig { users, throttle: ThrottleConfig { per_minute: 3, per_day: 300 }, ..SimConfig::default() })
            .await;
    let c = client();
    let url = format!("{}/v2/checkcreds/", sim.base_url());
    let bad = json!({"username": "plain", "password": "wrong"});
    for _ in 0..3 {
        let r = send(c.post(&url).json(&bad)).await;
        assert_eq!(r.status, 400);
    }
    let r = send(c.post(&url).json(&json!({"username": "plain", "password": "pw"}))).await;
    assert_eq!(r.status, 429);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((55..=60).contains(&wait), "{wait}");
    assert_eq!(r.json(), json!({"detail": format!("Request was throttled. Expected available in {wait} seconds.")}));
    // the login endpoint has its own bucket
    let r = send(
        c.post(format!("{}/v2/login/", sim.base_url()))
            .json(&json!({"username": "plain", "password": "nope", "twofactor": "1"})),
    )
    .await;
    assert_eq!(r.status, 400);
    // authenticated requests are not throttled
    let r = send(c.post(&url).header("X-API-KEY", KEY).json(&bad)).await;
    assert_eq!(r.status, 400);
    // the per-day rate applies too
    sim.state().set_throttle(ThrottleConfig { per_minute: 100, per_day: 1 });
    assert_eq!(send(c.post(&url).json(&bad)).await.status, 400);
    let r = send(c.post(&url).json(&bad)).await;
    assert_eq!(r.status, 429);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(wait > 86_000, "{wait}");
    sim.shutdown().await;
}

#[tokio::test]
async fn agents_list_detail_filters_and_status() {
    let sim = start(SimConfig { fleet: FleetSpec::sized(3, 2, 40), ..SimConfig::default() }).await;
    let st = sim.state();
    let agents = st.agents();
    let r = get(&sim, "/agents/").await;
    let full = r.json();
    assert_eq!(full.as_array().unwrap().len(), 40);
    for row in full.as_array().unwrap() {
        let a = agents.iter().find(|a| a.agent_id == row["agent_id"]).unwrap();
        assert_eq!(row["status"], json!(a.status.as_str()));
        assert!(row.get("id").is_none() && row.get("site").is_none() && row.get("total_ram").is_none());
    }
    for q in ["false", "FALSE", "0", "no"] {
        let v = get(&sim, &format!("/agents/?detail={q}")).await.json();
        let keys: Vec<&String> = v[0].as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 5, "{q}: {keys:?}");
        assert!(v[0]["id"].is_i64());
    }
    let v = get(&sim, "/agents/?detail=true").await.json();
    assert!(v[0].get("status").is_some());

    let c0 = st.clients()[0].clone();
    let site = c0.site_ids[0];
    let v = get(&sim, &format!("/agents/?client={}&detail=false", c0.id)).await.json();
    assert_eq!(v.as_array().unwrap().len(), c0.agent_count);
    assert!(v.as_array().unwrap().iter().all(|r| r["client"] == json!(c0.name)));
    let other_client = st.clients()[1].id;
    let v = get(&sim, &format!("/agents/?site={site}&client={other_client}&detail=false")).await.json();
    let in_site = agents.iter().filter(|a| a.site_id == site).count();
    assert!(in_site > 0);
    assert_eq!(v.as_array().unwrap().len(), in_site, "site wins over client");
    let v = get(&sim, "/agents/?monitoring_type=server").await.json();
    let servers = agents.iter().filter(|a| a.monitoring_type == MonitoringType::Server).count();
    assert!(servers > 0);
    assert_eq!(v.as_array().unwrap().len(), servers);
    let r = get(&sim, "/agents/?monitoring_type=laptop").await;
    assert_eq!((r.status, r.json()), (400, json!("monitoring type does not exist")));

    // status changes are reflected at request time; logged_username derivation
    let a = &agents[0];
    st.set_logged_in_username(&a.agent_id, "alice").unwrap();
    st.set_logged_in_username(&a.agent_id, "None").unwrap();
    st.make_online(&a.agent_id).unwrap();
    let row = |v: &Value| v.as_array().unwrap().iter().find(|r| r["agent_id"] == json!(a.agent_id)).cloned().unwrap();
    let r = row(&get(&sim, "/agents/").await.json());
    assert_eq!(
        (r["status"].clone(), r["logged_username"].clone(), r["italic"].clone()),
        (json!("online"), json!("alice"), json!(true))
    );
    st.make_offline(&a.agent_id).unwrap();
    let r = row(&get(&sim, "/agents/").await.json());
    assert_eq!(
        (r["status"].clone(), r["logged_username"].clone(), r["italic"].clone()),
        (json!("offline"), json!("-"), json!(false))
    );
    st.make_overdue(&a.agent_id).unwrap();
    assert_eq!(row(&get(&sim, "/agents/").await.json())["status"], json!("overdue"));
    let d = get(&sim, &format!("/agents/{}/", a.agent_id)).await.json();
    assert_eq!(d["status"], json!("overdue"));
    assert_eq!(d["site"], json!(a.site_id));
    assert_eq!(d["client"], json!(a.client_name));
    sim.shutdown().await;
}

#[tokio::test]
async fn role_scoping_applies_to_classic_api_not_beta() {
    let keys = vec![
        ApiKey::full(KEY),
        ApiKey::clients("ACMEONLYKEY000000000000000000000", vec![1]),
        ApiKey::read_only("READONLYKEY00000000000000000000X"),
    ];
    let sim = start(SimConfig { api_keys: keys, fleet: FleetSpec::sized(3, 2, 30), ..SimConfig::default() }).await;
    let st = sim.state();
    let c = client();
    let g = |key: &str, p: &str| c.get(format!("{}{p}", sim.base_url())).header("X-API-KEY", key.to_string());
    let acme = "ACMEONLYKEY000000000000000000000";
    let agents = st.agents();
    let mine = agents.iter().filter(|a| a.client_id == 1).count();
    assert!(mine > 0 && mine < agents.len());
    let v = send(g(acme, "/agents/?detail=false")).await.json();
    assert_eq!(v.as_array().unwrap().len(), mine);
    let v = send(g(acme, "/clients/")).await.json();
    assert_eq!(v.as_array().unwrap().len(), 1);
    let outside = agents.iter().find(|a| a.client_id != 1).unwrap();
    let r = send(g(acme, &format!("/agents/{}/", outside.agent_id))).await;
    assert_eq!((r.status, r.json()), (403, json!({"detail": "You do not have permission to perform this action."})));
    let r = send(g(acme, &format!("/agents/{}/", "Q".repeat(40)))).await;
    assert_eq!(r.status, 404);
    let r = send(g(acme, "/clients/2/")).await;
    assert_eq!(r.status, 403);
    // beta ignores scoping
    let v = send(g(acme, "/beta/v1/agent/")).await.json();
    assert_eq!(v["count"], json!(agents.len()));
    // read-only: lists fine, actions 403
    let ro = "READONLYKEY00000000000000000000X";
    assert_eq!(send(g(ro, "/agents/")).await.status, 200);
    let a = &agents[0].agent_id;
    let body = json!({"shell": "cmd", "cmd": "dir", "timeout": 30, "run_as_user": false});
    for (m, p) in [
        (Method::POST, format!("/agents/{a}/cmd/")),
        (Method::POST, format!("/agents/{a}/runscript/")),
        (Method::POST, format!("/agents/{a}/reboot/")),
        (Method::PUT, "/alerts/1/".to_string()),
    ] {
        let r = send(c.request(m, format!("{}{p}", sim.base_url())).header("X-API-KEY", ro).json(&body)).await;
        assert_eq!(r.status, 403, "{p}");
    }
    let r =
        send(c.request(Method::PATCH, format!("{}/alerts/", sim.base_url())).header("X-API-KEY", ro).json(&json!({})))
            .await;
    assert_eq!(r.status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn beta_pagination_filters_and_quirks() {
    // About paging, not timing: Tactical's per-row time scaled down.
    let row_cost = Duration::from_micros(50);
    let sim = start(SimConfig { fleet: FleetSpec::sized(4, 3, 1205), row_cost, ..SimConfig::default() }).await;
    let st = sim.state();
    let host = sim.addr().to_string();
    let v = get(&sim, "/beta/v1/agent/").await.json();
    assert_eq!(v["count"], json!(1205));
    assert_eq!(v["results"].as_array().unwrap().len(), 100);
    assert_eq!(v["previous"], Value::Null);
    assert_eq!(v["next"], json!(format!("http://{host}/beta/v1/agent/?page=2")));
    assert!(v["results"][0].get("status").is_none());
    assert!(v["results"][0]["last_seen"].is_string());

    let v = get(&sim, "/beta/v1/agent/?page_size=5000").await.json();
    assert_eq!(v["results"].as_array().unwrap().len(), 1000, "page_size clamps to 1000");
    let v = get(&sim, "/beta/v1/agent/?page_size=1000&page=2").await.json();
    assert_eq!(v["results"].as_array().unwrap().len(), 205);
    assert_eq!(v["next"], Value::Null);
    assert_eq!(v["previous"], json!(format!("http://{host}/beta/v1/agent/?page_size=1000")));
    let v = get(&sim, "/beta/v1/agent/?page=3&page_size=10").await.json();
    assert_eq!(v["previous"], json!(format!("http://{host}/beta/v1/agent/?page=2&page_size=10")));
    assert_eq!(v["next"], json!(format!("http://{host}/beta/v1/agent/?page=4&page_size=10")));
    for bad in ["page=3&page_size=1000", "page=0", "page=abc", "page=-1"] {
        let r = get(&sim, &format!("/beta/v1/agent/?{bad}")).await;
        assert_eq!((r.status, r.json()), (404, json!({"detail": "Invalid page."})), "{bad}");
    }
    let v = get(&sim, "/beta/v1/agent/?page=last&page_size=1000").await.json();
    assert_eq!(v["results"].as_array().unwrap().len(), 205);

    // ?agent_id= is a 500 on the real server
    let a0 = st.agents()[0].clone();
    let r = get(&sim, &format!("/beta/v1/agent/?agent_id={}", a0.agent_id)).await;
    assert_eq!(r.status, 500);
    assert!(r.content_type().starts_with("text/html"));

    // filters
    let agents = st.agents();
    let n_client = agents.iter().filter(|a| a.client_id == 2).count();
    let v = get(&sim, "/beta/v1/agent/?client_id=2&page_size=1000").await.json();
    assert_eq!(v["count"], json!(n_client));
    let site = agents[5].site_id;
    let v = get(&sim, &format!("/beta/v1/agent/?site={site}&page_size=1000")).await.json();
    assert_eq!(v["count"], json!(agents.iter().filter(|a| a.site_id == site).count()));
    assert!(v["results"].as_array().unwrap().iter().all(|r| r["site"] == json!(site)));
    let v = get(&sim, &format!("/beta/v1/agent/?hostname={}", a0.hostname)).await.json();
    assert_eq!(v["count"], json!(1));
    assert_eq!(v["results"][0]["agent_id"], json!(a0.agent_id));
    let v = get(&sim, "/beta/v1/agent/?search=lnx&page_size=1000").await.json();
    let lnx = agents.iter().filter(|a| a.hostname.to_lowercase().contains("lnx")).count();
    assert!(lnx > 0);
    // search_fields = hostname and services: Windows agents whose services name a lnx host too
    let rows = v["results"].as_array().unwrap();
    let by_services = rows.iter().filter(|r| !r["hostname"].as_str().unwrap().to_lowercase().contains("lnx")).count();
    assert!(by_services > 0);
    assert_eq!(v["count"], json!(lnx + by_services));
    assert!(rows.iter().all(|r| r["hostname"].as_str().unwrap().to_lowercase().contains("lnx")
        || r["services"].to_string().to_lowercase().contains("lnx")));
    let v = get(&sim, "/beta/v1/agent/?plat=darwin&monitoring_type=workstation&page_size=1000").await.json();
    let mac =
        agents.iter().filter(|a| a.plat == Plat::Darwin && a.monitoring_type == MonitoringType::Workstation).count();
    assert!(mac > 0);
    assert_eq!(v["count"], json!(mac));
    let r = get(&sim, "/beta/v1/agent/?plat=beos").await;
    assert_eq!(r.status, 400);
    assert!(r.json()["plat"][0].as_str().unwrap().contains("beos is not one of the available choices"));
    let v = get(&sim, "/beta/v1/agent/?ordering=-id&page_size=3").await.json();
    let ids: Vec<i64> = v["results"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![1205, 1204, 1203]);
    let v = get(&sim, "/beta/v1/agent/?client_id=3&ordering=-id&page_size=2&page=2").await.json();
    assert_eq!(v["next"], json!(format!("http://{host}/beta/v1/agent/?client_id=3&ordering=-id&page=3&page_size=2")));

    // detail by integer pk, with status; agent_id in the path is a 404
    let v = get(&sim, &format!("/beta/v1/agent/{}/", a0.pk)).await.json();
    assert_eq!(v["id"], json!(a0.pk));
    assert_eq!(v["status"], json!(a0.status.as_str()));
    assert!(v["serial_number"].is_string());
    let r = get(&sim, &format!("/beta/v1/agent/{}/", a0.agent_id)).await;
    assert_eq!((r.status, r.json()), (404, json!({"detail": "No Agent matches the given query."})));
    let r = req_json(&sim, Method::PUT, &format!("/beta/v1/agent/{}/", a0.pk), &json!({})).await;
    assert_eq!(r.status, 500);

    // sites paginate, clients do not
    let v = get(&sim, "/beta/v1/site/?page_size=5").await.json();
    assert_eq!(v["count"], json!(12));
    assert_eq!(v["results"].as_array().unwrap().len(), 5);
    let v = get(&sim, "/beta/v1/client/").await.json();
    assert_eq!(v.as_array().unwrap().len(), 4);

    // beta disabled: HTML 404 everywhere under /beta/
    st.set_beta_enabled(false);
    for p in ["/beta/v1/agent/", "/beta/v1/client/", "/beta/v1/", "/beta/v1/agent/1/"] {
        let r = get(&sim, p).await;
        assert_eq!(r.status, 404, "{p}");
        assert!(r.content_type().starts_with("text/html"));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn alerts_patch_filters_and_updates() {
    let sim =
        start(SimConfig { fleet: FleetSpec { alerts: 60, ..FleetSpec::sized(3, 2, 40) }, ..SimConfig::default() })
            .await;
    let st = sim.state();
    let all = st.alerts();
    assert_eq!(all.len(), 60);
    for t in [AlertType::Availability, AlertType::Check, AlertType::Task, AlertType::Custom] {
        assert!(all.iter().any(|a| a.alert_type == t), "{t:?}");
    }
    for s in [Severity::Info, Severity::Warning, Severity::Error] {
        assert!(all.iter().any(|a| a.severity == s), "{s:?}");
    }
    assert!(all.iter().any(|a| a.resolved) && all.iter().any(|a| a.snoozed) && all.iter().any(|a| a.hidden));
    assert!(
        all.iter()
            .filter(|a| a.alert_type == AlertType::Availability)
            .all(|a| a.severity == Severity::Error && a.message.ends_with(" is overdue."))
    );

    // an old alert, beyond the 30-day window
    let agent = st.agents()[0].clone();
    let old = st
        .raise_alert(NewAlert {
            alert_time: Some(OffsetDateTime::now_utc() - time::Duration::days(40)),
            ..NewAlert::availability(agent.agent_id.clone())
        })
        .unwrap();
    let v = get(&sim, &format!("/alerts/{old}/")).await.json();
    assert_eq!(
        v["message"],
        json!(format!("{} in {}, {} is overdue.", agent.hostname, agent.client_name, agent.site_name))
    );
    assert_eq!(v["severity"], json!("error"));
    let all = st.alerts();

    // anything else → all alerts (hidden and resolved too)
    let v = req_json(&sim, Method::PATCH, "/alerts/", &json!({"status": "active"})).await.json();
    assert_eq!(v.as_array().unwrap().len(), all.len());
    // top → oldest open first
    let open: Vec<&AlertInfo> = all.iter().filter(|a| !a.resolved && !a.snoozed && !a.hidden).collect();
    let v = req_json(&sim, Method::PATCH, "/alerts/", &json!({"top": 3})).await.json();
    assert_eq!(v["alerts_count"], json!(open.len()));
    let times: Vec<&str> = v["alerts"].as_array().unwrap().iter().map(|a| a["alert_time"].as_str().unwrap()).collect();
    assert_eq!(times.len(), 3);
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(v["alerts"][0]["id"], json!(old), "the 40-day-old alert is the oldest open one");
    // dashboard "open" filter
    let v = req_json(
        &sim,
        Method::PATCH,
        "/alerts/",
        &json!({"timeFilter": 30, "resolvedFilter": false, "snoozedFilter": false}),
    )
    .await
    .json();
    let rows = v.as_array().unwrap();
    let expected = all.iter().filter(|a| !a.resolved && !a.snoozed && a.id != old).count();
    assert_eq!(rows.len(), expected);
    assert!(rows.iter().all(|r| r["resolved"] == json!(false) && r["snoozed"] == json!(false)));
    // resolvedFilter true (or absent) does not filter
    let v = req_json(&sim, Method::PATCH, "/alerts/", &json!({"resolvedFilter": true})).await.json();
    assert_eq!(v.as_array().unwrap().len(), all.len());
    let v = req_json(&sim, Method::PATCH, "/alerts/", &json!({"severityFilter": ["warning", "info"]})).await.json();
    let n = all.iter().filter(|a| a.severity != Severity::Error).count();
    assert!(n > 0);
    assert_eq!(v.as_array().unwrap().len(), n);
    let v = req_json(&sim, Method::PATCH, "/alerts/", &json!({"clientFilter": [agent.client_id]})).await.json();
    let agents = st.agents();
    let n = all
        .iter()
        .filter(|a| {
            a.agent_id
                .as_ref()
                .is_some_and(|id| agents.iter().any(|g| &g.agent_id == id && g.client_id == agent.client_id))
        })
        .count();
    assert_eq!(v.as_array().unwrap().len(), n);

    // PUT resolve / snooze / unsnooze
    let id = open[0].id;
    let r = req_json(&sim, Method::PUT, &format!("/alerts/{id}/"), &json!({"type": "snooze"})).await;
    assert_eq!(r.status, 400);
    let r = req_json(&sim, Method::PUT, &format!("/alerts/{id}/"), &json!({"type": "snooze", "snooze_days": 2})).await;
    assert_eq!((r.status, r.json()), (200, json!("ok")));
    assert!(st.alert(id).unwrap().snoozed);
    let r = req_json(&sim, Method::PUT, &format!("/alerts/{id}/"), &json!({"type": "unsnooze"})).await;
    assert_eq!(r.json(), json!("ok"));
    assert!(!st.alert(id).unwrap().snoozed);
    let r = req_json(&sim, Method::PUT, &format!("/alerts/{id}/"), &json!({"type": "resolve"})).await;
    assert_eq!(r.json(), json!("ok"));
    let v = get(&sim, &format!("/alerts/{id}/")).await.json();
    assert_eq!(v["resolved"], json!(true));
    assert!(v["resolved_on"].as_str().unwrap().ends_with('Z'));
    // state helpers
    let new_id = st.raise_alert(NewAlert::custom(None, Severity::Info, "no agent here")).unwrap();
    let v = get(&sim, &format!("/alerts/{new_id}/")).await.json();
    assert!(v.get("hostname").is_none() && v["agent"].is_null());
    st.resolve_alert(new_id).unwrap();
    assert!(st.alert(new_id).unwrap().resolved);
    sim.shutdown().await;
}

#[tokio::test]
async fn software_inventory() {
    let sim = start(SimConfig {
        fleet: FleetSpec { software_per_agent: 12, ..FleetSpec::sized(3, 2, 300) },
        ..SimConfig::default()
    })
    .await;
    let st = sim.state();
    let v = get(&sim, "/software/").await.json();
    let rows = v.as_array().unwrap();
    let with_inv = st.agents().iter().filter(|a| a.software_count.is_some()).count();
    assert_eq!(rows.len(), with_inv);
    assert!(rows.len() > 100);
    // names that differ only by case/whitespace exist (catalog normalisation matters)
    let mut seen = std::collections::HashMap::<String, std::collections::HashSet<String>>::new();
    let mut minimal = 0;
    for r in rows {
        assert!(r["agent"].is_i64() && r["id"].is_i64());
        for item in r["software"].as_array().unwrap() {
            let name = item["name"].as_str().unwrap();
            seen.entry(name.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase())
                .or_default()
                .insert(name.to_string());
            if item.get("publisher").is_none() {
                minimal += 1;
                assert_eq!(item.as_object().unwrap().len(), 2);
            }
        }
    }
    assert!(seen.values().any(|v| v.len() > 1), "expected spelling variants");
    assert!(minimal > 0, "expected some name+version-only items");
    let shared = seen.values().filter(|v| !v.is_empty()).count();
    assert!(shared < rows.len() * 12, "names are shared across agents");

    // posix agents have no inventory: []
    let lnx = st.agents().into_iter().find(|a| a.plat == Plat::Linux).unwrap();
    let r = get(&sim, &format!("/software/{}/", lnx.agent_id)).await;
    assert_eq!((r.status, r.json()), (200, json!([])));
    // mutations
    st.set_software(&lnx.agent_id, vec![SoftwareItem::new("curl", "8.5.0", "Debian")]).unwrap();
    st.install_software(&lnx.agent_id, SoftwareItem::minimal("jq", "1.7")).unwrap();
    let v = get(&sim, &format!("/software/{}/", lnx.agent_id)).await.json();
    assert_eq!(v["agent"], json!(lnx.pk));
    let names: Vec<&str> = v["software"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["curl", "jq"]);
    assert!(st.uninstall_software(&lnx.agent_id, "curl").unwrap());
    let v = get(&sim, &format!("/software/{}/", lnx.agent_id)).await.json();
    assert_eq!(v["software"].as_array().unwrap().len(), 1);
    st.clear_software(&lnx.agent_id).unwrap();
    assert_eq!(get(&sim, &format!("/software/{}/", lnx.agent_id)).await.json(), json!([]));
    // refresh: posix → 400
    let r = req_json(&sim, Method::PUT, &format!("/software/{}/", lnx.agent_id), &json!({})).await;
    assert_eq!((r.status, r.json()), (400, json!("Not available for linux")));
    sim.shutdown().await;
}

#[tokio::test]
async fn scripts_listing() {
    let sim = start(SimConfig::default()).await;
    let v = get(&sim, "/scripts/").await.json();
    let rows = v.as_array().unwrap();
    assert!(rows.iter().all(|s| s["hidden"] == json!(false)));
    assert!(rows.iter().any(|s| s["script_type"] == json!("builtin")));
    let v = get(&sim, "/scripts/?showCommunityScripts=false").await.json();
    assert!(!v.as_array().unwrap().is_empty());
    assert!(v.as_array().unwrap().iter().all(|s| s["script_type"] == json!("userdefined")));
    let v2 = get(&sim, "/scripts/?showHiddenScripts=true").await.json();
    assert!(v2.as_array().unwrap().iter().any(|s| s["hidden"] == json!(true)));
    assert!(v2.as_array().unwrap().len() > rows.len());
    sim.shutdown().await;
}

#[tokio::test]
async fn remote_actions_online_offline_natsdown() {
    // About the answers, not their timing (set explicitly below for the wait).
    let sim = start(SimConfig { action_wait: ActionWait::Instant, ..SimConfig::default() }).await;
    let st = sim.state();
    let site = st.sites()[0].id;
    let on =
        st.add_agent(NewAgent { hostname: Some("WIN-TEST-ON".into()), ..NewAgent::new(site, Plat::Windows) }).unwrap();
    let off = st.add_agent(NewAgent::new(site, Plat::Windows)).unwrap();
    let due = st.add_agent(NewAgent::new(site, Plat::Windows)).unwrap();
    let lnx = st.add_agent(NewAgent::new(site, Plat::Linux)).unwrap();
    st.make_offline(&off.agent_id).unwrap();
    st.make_overdue(&due.agent_id).unwrap();
    let post = |id: &str, what: &str, body: Value| {
        let p = format!("/agents/{id}/{what}/");
        let sim = &sim;
        async move { req_json(sim, Method::POST, &p, &body).await }
    };
    let cmd = json!({"shell": "cmd", "cmd": "echo hello", "timeout": 30, "run_as_user": false});
    let r = post(&on.agent_id, "cmd", cmd.clone()).await;
    assert_eq!((r.status, r.json()), (200, json!("hello\r\n")));
    let r = post(
        &on.agent_id,
        "cmd",
        json!({"shell": "powershell", "cmd": "Get-Service", "timeout": 30, "run_as_user": false}),
    )
    .await;
    assert!(r.json().as_str().unwrap().contains("Get-Service"));
    for id in [&off.agent_id, &due.agent_id] {
        let r = post(id, "cmd", cmd.clone()).await;
        assert_eq!((r.status, r.json()), (400, json!("Unable to contact the agent")));
    }
    // missing keys → HTML 500; custom shell needs custom_shell
    let r = post(&on.agent_id, "cmd", json!({"shell": "cmd", "cmd": "dir", "timeout": 30})).await;
    assert_eq!(r.status, 500);
    let r =
        post(&on.agent_id, "cmd", json!({"shell": "custom", "cmd": "dir", "timeout": 30, "run_as_user": false})).await;
    assert_eq!(r.status, 500);
    let r = post(
        &on.agent_id,
        "cmd",
        json!({"shell": "custom", "custom_shell": "C:\\pwsh.exe", "cmd": "dir", "timeout": 30, "run_as_user": false}),
    )
    .await;
    assert_eq!(r.status, 200);

    let script = |output: &str, id: i64| json!({"script": id, "output": output, "args": ["-x"], "env_vars": [], "timeout": 90, "run_as_user": false});
    let r = post(&on.agent_id, "runscript", script("wait", 1)).await;
    assert_eq!(r.status, 200);
    assert!(r.json().as_str().unwrap().contains("Get Uptime"));
    let r = post(&off.agent_id, "runscript", script("wait", 1)).await;
    assert_eq!((r.status, r.json()), (200, json!("timeout")));
    let r = post(&off.agent_id, "runscript", script("forget", 1)).await;
    assert_eq!((r.status, r.json()), (200, json!(format!("Get Uptime will now be run on {}", off.hostname))));
    let r = post(&on.agent_id, "runscript", script("wait", 999)).await;
    assert_eq!((r.status, r.json()), (404, json!({"detail": "No Script matches the given query."})));

    let r = post(&on.agent_id, "reboot", json!({})).await;
    assert_eq!((r.status, r.json()), (200, json!("ok")));
    let r = post(&off.agent_id, "reboot", json!({})).await;
    assert_eq!((r.status, r.json()), (400, json!("Unable to contact the agent")));

    // scheduled reboot (PATCH)
    let patch = |id: &str, dt: &str| {
        let p = format!("/agents/{id}/reboot/");
        let body = json!({"datetime": dt});
        let sim = &sim;
        async move { req_json(sim, Method::PATCH, &p, &body).await }
    };
    let r = patch(&on.agent_id, "2099-01-01T10:00").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["time"], json!("January 01, 2099 at 10:00 AM"));
    assert_eq!(v["agent"], json!("WIN-TEST-ON"));
    assert!(v["task_name"].as_str().unwrap().starts_with("TacticalRMM_SchedReboot_"));
    assert_eq!(patch(&on.agent_id, "2001-01-01T10:00").await.json(), json!("Date cannot be set in the past"));
    assert_eq!(patch(&on.agent_id, "tomorrow").await.json(), json!("Invalid date"));
    let r = patch(&lnx.agent_id, "2099-01-01T10:00").await;
    assert_eq!((r.status, r.json()), (400, json!("Not currently implemented for linux")));

    // NATS down
    st.set_nats_up(false);
    let r = post(&on.agent_id, "cmd", cmd.clone()).await;
    assert_eq!((r.status, r.json()), (200, json!("natsdown")));
    let r = post(&on.agent_id, "runscript", script("wait", 1)).await;
    assert_eq!((r.status, r.json()), (200, json!("natsdown")));
    let r = post(&on.agent_id, "runscript", script("forget", 1)).await;
    assert_eq!(r.json(), json!("Get Uptime will now be run on WIN-TEST-ON"));
    let r = patch(&on.agent_id, "2099-01-01T10:00").await;
    assert_eq!((r.status, r.json()), (400, json!("natsdown")));
    let r = post(&on.agent_id, "reboot", json!({})).await;
    assert_eq!(r.status, 400);
    st.set_nats_up(true);

    // configurable wait for failure answers
    st.set_action_wait(ActionWait::Fixed(Duration::from_millis(300)));
    let t = Instant::now();
    let r = post(&off.agent_id, "cmd", cmd.clone()).await;
    assert_eq!(r.status, 400);
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(st.request_count(RouteKind::AgentCmd), 9);
    sim.shutdown().await;
}

#[tokio::test]
async fn dashboard_mode_answers_html_everywhere() {
    let sim = start(SimConfig { dashboard_mode: true, ..SimConfig::default() }).await;
    for p in ["/", "/agents/", "/clients/", "/beta/v1/agent/", "/whatever", "/v2/checkcreds/"] {
        let r = get(&sim, p).await;
        assert_eq!(r.status, 200, "{p}");
        assert!(r.content_type().starts_with("text/html"), "{p}");
        assert!(r.text.contains("<div id=q-app>"));
    }
    let r = req_json(&sim, Method::POST, "/v2/checkcreds/", &json!({"username": "a", "password": "b"})).await;
    assert_eq!(r.status, 200);
    assert!(r.content_type().starts_with("text/html"));
    sim.state().set_dashboard_mode(false);
    assert_eq!(get(&sim, "/").await.json(), json!({"status": "ok"}));
    sim.shutdown().await;
}

#[tokio::test]
async fn request_counters_and_log() {
    let sim = start(SimConfig::default()).await;
    let st = sim.state();
    get(&sim, "/agents/").await;
    get(&sim, "/agents/").await;
    get(&sim, "/clients").await; // 301, unmatched
    send(client().get(format!("{}/clients/", sim.base_url()))).await; // 401
    assert_eq!(st.request_count(RouteKind::Agents), 2);
    assert_eq!(st.request_count(RouteKind::Clients), 1);
    assert_eq!(st.unmatched_request_count(), 1);
    assert_eq!(st.total_requests(), 4);
    let log = st.requests();
    let statuses: Vec<u16> = log.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 200, 301, 401]);
    assert_eq!(log[0].credential, Some("api_key"));
    assert_eq!(log[3].credential, None);
    st.reset_counters();
    assert_eq!(st.total_requests(), 0);
    assert!(st.requests().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn alert_changes_validate_like_tactical() {
    let sim = start(SimConfig::default()).await;
    let st = sim.state();
    let agent = st.agents()[0].agent_id.clone();
    let a = st.raise_alert(NewAlert::check(agent.clone(), Severity::Warning, "Disk C: 95%")).unwrap();
    let b = st.raise_alert(NewAlert::check(agent, Severity::Error, "Disk D: 99%")).unwrap();
    let put = |body: Value| {
        let sim = &sim;
        async move { req_json(sim, Method::PUT, &format!("/alerts/{a}/"), &body).await }
    };
    // PUT: an unknown type and a snooze without days are notify_error strings; bad days a 500.
    let r = put(json!({"type": "close"})).await;
    assert_eq!((r.status, r.json()), (400, json!("There was an error in the request data")));
    let r = put(json!({"type": "snooze"})).await;
    assert_eq!((r.status, r.json()), (400, json!("Missing 'snoozed_days' when trying to snooze alert")));
    assert_eq!(put(json!({"type": "snooze", "snooze_days": "two"})).await.status, 500);
    assert!(!st.alert(a).unwrap().snoozed);
    let r = req_json(&sim, Method::PUT, "/alerts/999999/", &json!({"type": "resolve"})).await;
    assert_eq!((r.status, r.json()), (404, json!({"detail": "No Alert matches the given query."})));

    // Bulk: resolve, or snooze with days; anything else "The request was invalid".
    let bulk = |body: Value| {
        let sim = &sim;
        async move { req_json(sim, Method::POST, "/alerts/bulk/", &body).await }
    };
    for body in [
        json!({"bulk_action": "unsnooze", "alerts": [a, b]}),
        json!({"bulk_action": "snooze", "alerts": [a, b]}),
        json!({"bulk_action": "close", "alerts": [a]}),
    ] {
        let r = bulk(body.clone()).await;
        assert_eq!((r.status, r.json()), (400, json!("The request was invalid")), "{body}");
    }
    assert_eq!(bulk(json!({"bulk_action": "resolve"})).await.status, 500, "a missing key is a KeyError");
    assert_eq!(bulk(json!({"bulk_action": "resolve", "alerts": ["x"]})).await.status, 500);
    let r = bulk(json!({"bulk_action": "snooze", "alerts": [a, b, 999999], "snooze_days": 2})).await;
    assert_eq!((r.status, r.json()), (200, json!("ok")), "unknown ids are skipped silently");
    assert!(st.alert(a).unwrap().snoozed && st.alert(b).unwrap().snoozed);
    let r = bulk(json!({"bulk_action": "resolve", "alerts": [a, b]})).await;
    assert_eq!(r.json(), json!("ok"));
    let (x, y) = (st.alert(a).unwrap(), st.alert(b).unwrap());
    assert!(x.resolved && y.resolved && !x.snoozed && !y.snoozed, "a resolve ends the snooze");
    sim.shutdown().await;
}

#[tokio::test]
async fn agent_history_reports_results_after_the_run() {
    let sim = start(SimConfig::default()).await;
    let st = sim.state();
    let site = st.sites()[0].id;
    let on = st.add_agent(NewAgent::new(site, Plat::Linux)).unwrap();
    let off = st.add_agent(NewAgent::new(site, Plat::Linux)).unwrap();
    st.make_offline(&off.agent_id).unwrap();
    st.set_report_delay(Duration::from_secs(3600));
    let run = |id: &str, script: i64, output: &str| {
        let p = format!("/agents/{id}/runscript/");
        let body = json!({"script": script, "output": output, "args": [], "env_vars": ["K=v"], "timeout": 30, "run_as_user": false});
        let sim = &sim;
        async move { req_json(sim, Method::POST, &p, &body).await }
    };
    // The waited-for answer is stdout then stderr, with no exit code.
    let r = run(&on.agent_id, 9, "wait").await;
    assert_eq!(r.json(), json!(format!("Checking disk space on {}\nC: is 97% full\n", on.hostname)));
    run(&on.agent_id, 1, "forget").await;
    let r = req_json(
        &sim,
        Method::POST,
        &format!("/agents/{}/cmd/", on.agent_id),
        &json!({"shell": "bash", "cmd": "hostname", "timeout": 10, "run_as_user": false}),
    )
    .await;
    assert_eq!(r.status, 200);
    let history = |id: &str| {
        let p = format!("/agents/{id}/history/");
        let sim = &sim;
        async move { get(sim, &p).await }
    };
    let r = history(&on.agent_id).await;
    assert_eq!(r.status, 200);
    let rows = r.json().as_array().unwrap().clone();
    assert_eq!(rows.len(), 3);
    for row in &rows {
        let keys: Vec<&str> = row.as_object().unwrap().keys().map(String::as_str).collect();
        for k in
            ["id", "time", "type", "command", "username", "results", "script_results", "agent", "script", "script_name"]
        {
            assert!(keys.contains(&k), "{k} in {row}");
        }
        assert!(row["script_results"].is_null() && row["results"].is_null(), "not reported yet: {row}");
    }
    let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert!(!ids.windows(2).all(|w| w[0] < w[1]), "no order to rely on: {ids:?}");
    assert_eq!(st.report_runs_now(), 3);
    let rows = history(&on.agent_id).await.json().as_array().unwrap().clone();
    let failed = rows.iter().find(|r| r["script"] == 9).unwrap();
    assert_eq!(failed["type"], "script_run");
    assert_eq!(failed["script_results"]["retcode"], 3);
    assert_eq!(failed["script_results"]["stderr"], "C: is 97% full\n");
    assert_eq!(failed["script_results"]["id"], failed["id"]);
    assert!(failed["script_results"]["execution_time"].as_f64().unwrap() > 0.0);
    let cmd = rows.iter().find(|r| r["type"] == "cmd_run").unwrap();
    assert_eq!(
        (cmd["command"].clone(), cmd["results"].clone()),
        (json!("hostname"), json!(format!("{}\n", on.hostname)))
    );
    assert!(!serde_json::to_string(&rows).unwrap().contains("K=v"), "env vars are not in the history");

    // An offline agent: the row exists, its results never come.
    assert_eq!(run(&off.agent_id, 1, "forget").await.status, 200);
    st.report_runs_now();
    let rows = history(&off.agent_id).await.json();
    assert_eq!((rows[0]["type"].clone(), rows[0]["script_results"].clone()), (json!("script_run"), Value::Null));
    assert_eq!(history("x".repeat(40).as_str()).await.status, 404);
}

#[tokio::test]
async fn agents_check_in_on_the_simulated_clock_and_stop_when_told() {
    let sim = start(SimConfig { fleet: FleetSpec::sized(1, 1, 6), ..SimConfig::default() }).await;
    let st = sim.state();
    let agents = st.agents();
    for a in &agents {
        st.set_agent_thresholds(&a.agent_id, 4, 30).unwrap();
        st.make_online(&a.agent_id).unwrap();
    }
    let (quiet, down) = (&agents[0], &agents[1]);
    st.make_offline(&down.agent_id).unwrap();
    st.stop_checkins(&quiet.agent_id).unwrap();
    let before = st.agent(&agents[2].agent_id).unwrap();
    let t0 = st.now();
    st.advance_clock(time::Duration::minutes(10));
    assert!(st.now() - t0 >= time::Duration::minutes(10));
    let rows = get(&sim, "/agents/").await.json();
    let row = |id: &str| rows.as_array().unwrap().iter().find(|r| r["agent_id"] == json!(id)).cloned().unwrap();
    // Checking in: last_seen moved with the clock (within the check-in interval), still online.
    let r = row(&agents[2].agent_id);
    assert_eq!(r["status"], json!("online"));
    let after = st.agent(&agents[2].agent_id).unwrap();
    assert!(after.last_seen.unwrap() > before.last_seen.unwrap() + time::Duration::minutes(9), "{after:?}");
    // Nothing but last_seen changes on its own.
    assert_eq!(
        (after.boot_time, &after.public_ip, &after.local_ips),
        (before.boot_time, &before.public_ip, &before.local_ips)
    );
    // Told to stop: offline after 10 minutes, overdue after 30, as Tactical computes it.
    assert_eq!(row(&quiet.agent_id)["status"], json!("offline"));
    assert_eq!(row(&down.agent_id)["status"], json!("offline"), "a down agent does not come back by itself");
    st.advance_clock(time::Duration::minutes(25));
    let q = st.agent(&quiet.agent_id).unwrap();
    assert_eq!(q.status, AgentStatus::Overdue, "{:?} now {}", q.last_seen, st.now());
    let d = get(&sim, &format!("/agents/{}/", quiet.agent_id)).await.json();
    assert_eq!(d["status"], json!("overdue"));
    // Resumed: online at once, and it keeps checking in.
    st.resume_checkins(&quiet.agent_id).unwrap();
    st.advance_clock(time::Duration::minutes(20));
    assert_eq!(st.agent(&quiet.agent_id).unwrap().status, AgentStatus::Online);
}

#[tokio::test]
async fn a_page_of_1000_windows_agents_weighs_over_100_mb_and_search_matches_services() {
    // About size, not timing: the row cost is scaled down (the time still grows with the rows).
    let row_cost = Duration::from_micros(100);
    let fleet = FleetSpec { clients: 1, sites_per_client: 1, agents: 1, software_per_agent: 0, alerts: 0 };
    let sim = start(SimConfig { fleet, row_cost, ..SimConfig::default() }).await;
    let st = sim.state();
    let site = st.sites()[0].id;
    for _ in 0..1000 {
        st.add_agent(NewAgent { software: Some(vec![]), ..NewAgent::new(site, Plat::Windows) }).unwrap();
    }
    let t = Instant::now();
    let r = get(&sim, "/beta/v1/agent/?plat=windows&page_size=1000").await;
    assert_eq!(r.status, 200);
    assert!(t.elapsed() >= row_cost * 8 * 1000, "served in {:?}", t.elapsed());
    assert!(r.text.len() >= 100_000_000, "a 1000-row Windows page is {} bytes", r.text.len());
    assert_eq!(r.text.matches("\"agent_id\":").count(), 1000);
    drop(r);
    let v = get(&sim, "/beta/v1/agent/?plat=windows&page_size=2").await.json();
    let rows = v["results"].as_array().unwrap();
    let services = rows[0]["services"].as_array().expect("a Windows row carries its services");
    assert!(services.len() > 200);
    for k in ["pid", "name", "status", "binpath", "username", "autodelay", "start_type", "description", "display_name"]
    {
        assert!(services[0].get(k).is_some(), "service key {k}");
    }
    for k in ["os", "mem", "usb", "desktop_monitor", "network_adapter", "network_config", "bios", "comp_sys"] {
        assert!(rows[0]["wmi_detail"].get(k).is_some(), "wmi_detail key {k}");
    }

    // search= also matches the services JSON: a row whose services name another agent's host
    let (a, b) = (&rows[0], &rows[1]);
    let term = b["hostname"].as_str().unwrap();
    assert!(!a["hostname"].as_str().unwrap().contains(term));
    let r = get(&sim, &format!("/beta/v1/agent/?search={term}&page_size=1000")).await;
    let found: Vec<Value> = r.json()["results"].as_array().unwrap().iter().map(|x| x["agent_id"].clone()).collect();
    assert!(found.contains(&b["agent_id"]));
    assert!(found.contains(&a["agent_id"]), "the services JSON matched too");

    // posix rows are light
    let lnx = st.add_agent(NewAgent::new(site, Plat::Linux)).unwrap();
    let r = get(&sim, &format!("/beta/v1/agent/?hostname={}", lnx.hostname)).await;
    assert!(r.text.len() < 10_000, "a posix row is {} bytes", r.text.len());
    sim.shutdown().await;
}

#[tokio::test]
async fn the_beta_list_ignores_the_key_scope_and_agents_honours_it() {
    let mut cfg = SimConfig::default();
    let sim = start(cfg.clone()).await;
    let clients = sim.state().clients();
    let one = clients[0].id;
    drop(sim);
    cfg.api_keys.push(ApiKey::clients("SCOPEDKEY0000000000000000000001", vec![one]));
    let sim = start(cfg).await;
    let scoped = |path: &str| {
        send(client().get(format!("{}{path}", sim.base_url())).header("X-API-KEY", "SCOPEDKEY0000000000000000000001"))
    };
    let total = sim.state().agent_count();
    let r = scoped("/beta/v1/agent/?page_size=1000").await;
    assert_eq!(r.json()["count"].as_u64(), Some(total as u64), "beta ignores the scope");
    let r = scoped("/agents/?detail=false").await;
    let n = r.json().as_array().unwrap().len();
    assert!(n > 0 && n < total, "/agents/ honours the scope: {n} of {total}");
    let r = scoped("/clients/").await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    let r = scoped("/beta/v1/agent/?page=99").await;
    assert_eq!((r.status, r.json()), (404, json!({"detail": "Invalid page."})));
    sim.shutdown().await;
}
