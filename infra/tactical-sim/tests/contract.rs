//! Contract tests: every JSON fixture captured from a real Tactical RMM 1.5.1 server is
//! requested from the simulator and compared (same keys, same JSON types, same envelopes;
//! fixed strings and error bodies byte-equal).

mod common;

use std::collections::BTreeSet;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use tactical_sim::{NewAgent, Plat, SimConfig, User, totp_code};

const ALERT_AGENT_KEYS: &[&str] = &["hostname", "agent_id", "client", "site"];
const SOFTWARE_OPTIONAL: &[&str] = &["size", "source", "location", "publisher", "uninstall", "install_date"];

/// The WMI sections a real Windows agent reports beyond those of the captured agents (shape of
/// Tactical's own test data `wmi1.json`): checked present, then left out of the comparison.
const HEAVY_WMI: &[&str] = &["os", "mem", "usb", "desktop_monitor", "network_adapter"];

fn without_heavy_wmi(mut row: Value) -> Value {
    let wmi = row["wmi_detail"].as_object_mut().expect("wmi_detail");
    for k in HEAVY_WMI {
        let section = wmi.remove(*k).unwrap_or_else(|| panic!("a Windows row reports wmi_detail.{k}"));
        assert!(section.as_array().is_some_and(|a| a.iter().all(|x| x.is_array())), "{k}: WMI nested arrays");
    }
    row
}

#[tokio::test]
async fn every_fixture_matches_the_simulator() {
    let secret = b"contract-test-secret".to_vec();
    let cfg = SimConfig {
        users: vec![User::new("totpuser", "pw-totp", Some(secret.clone())), User::new("plainuser", "pw-plain", None)],
        ..SimConfig::default()
    };
    let sim = start(cfg).await;
    let st = sim.state();
    let site = st.sites()[0].id;
    // explicit, fully-populated agents for the detail fixtures
    let win = st.add_agent(NewAgent::new(site, Plat::Windows)).unwrap();
    let lnx = st.add_agent(NewAgent { software: None, ..NewAgent::new(site, Plat::Linux) }).unwrap();
    let offline = st.add_agent(NewAgent::new(site, Plat::Windows)).unwrap();
    st.make_offline(&offline.agent_id).unwrap();
    let alert_id = st.alerts().iter().find(|a| a.agent_id.is_some()).expect("an agent alert").id;

    let mut covered: BTreeSet<String> = BTreeSet::new();
    let mut check = |name: &str, ours: &Value, allow_missing: &[&str], opaque: &[&str]| {
        assert_shape(name, &fixture(name), ours, allow_missing, opaque);
        covered.insert(name.to_string());
    };

    let r = send(client().get(format!("{}/", sim.base_url()))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), fixture("GET_root.json"));
    check("GET_root.json", &r.json(), &[], &[]);

    let r = get(&sim, "/agents/").await;
    assert_eq!(r.status, 200);
    check("GET_agents.json", &r.json(), &[], &[]);

    let r = get(&sim, "/agents/?detail=false").await;
    check("GET_agents_detail_false.json", &r.json(), &[], &[]);

    let r = get(&sim, &format!("/agents/{}/", win.agent_id)).await;
    assert_eq!(r.status, 200);
    check("GET_agents_AGENTID.json", &without_heavy_wmi(r.json()), &[], &[]);

    let r = get(&sim, &format!("/agents/{}/", lnx.agent_id)).await;
    let v = r.json();
    assert!(v["local_ips"].as_str().unwrap().contains('/'), "posix local_ips carry a CIDR: {}", v["local_ips"]);
    check("GET_agents_AGENTID_linux.json", &v, &[], &[]);

    let r = get(&sim, &format!("/alerts/{alert_id}/")).await;
    check("GET_alerts_ID.json", &r.json(), &[], &[]);

    let r = get(&sim, "/beta/v1/agent/?page=999").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), fixture("GET_beta_v1_agent_page_past_end_404.json"));
    check("GET_beta_v1_agent_page_past_end_404.json", &r.json(), &[], &[]);

    let r = get(&sim, "/beta/v1/agent/?page=2&page_size=3").await;
    assert_eq!(r.status, 200);
    check("GET_beta_v1_agent_page_size3_page2.json", &r.json(), &[], &["wmi_detail"]);
    // and the platform-specific wmi_detail shape against a Windows row
    let r = get(&sim, &format!("/beta/v1/agent/?hostname={}", win.hostname)).await;
    let fx = fixture("GET_beta_v1_agent_page_size3_page2.json");
    assert_shape("beta windows row", &fx["results"][0], &without_heavy_wmi(r.json()["results"][0].clone()), &[], &[]);

    let r = get(&sim, "/beta/v1/client/").await;
    check("GET_beta_v1_client.json", &r.json(), &[], &[]);
    let r = get(&sim, "/beta/v1/site/?page_size=2").await;
    check("GET_beta_v1_site_page_size2.json", &r.json(), &[], &[]);
    let r = get(&sim, "/clients/").await;
    check("GET_clients.json", &r.json(), &[], &[]);
    let r = get(&sim, "/clients/sites/").await;
    check("GET_clients_sites.json", &r.json(), &[], &[]);
    let r = get(&sim, "/scripts/").await;
    check("GET_scripts.json", &r.json(), &[], &[]);
    let r = get(&sim, "/software/").await;
    check("GET_software.json", &r.json(), SOFTWARE_OPTIONAL, &[]);
    let r = get(&sim, &format!("/software/{}/", lnx.agent_id)).await;
    assert_eq!(r.json(), fixture("GET_software_AGENTID_no_inventory.json"));
    check("GET_software_AGENTID_no_inventory.json", &r.json(), &[], &[]);

    let r = req_json(
        &sim,
        Method::PATCH,
        "/alerts/",
        &json!({"timeFilter": 30, "resolvedFilter": false, "snoozedFilter": false}),
    )
    .await;
    check("PATCH_alerts_open_filter.json", &r.json(), ALERT_AGENT_KEYS, &[]);
    let r = req_json(&sim, Method::PATCH, "/alerts/", &json!({"top": 3})).await;
    check("PATCH_alerts_top3.json", &r.json(), ALERT_AGENT_KEYS, &[]);

    // remote actions
    let cmd = json!({"shell": "cmd", "cmd": "ipconfig", "timeout": 30, "run_as_user": false});
    let script =
        json!({"script": 1, "output": "wait", "args": [], "env_vars": [], "timeout": 90, "run_as_user": false});
    st.set_nats_up(false);
    let r = req_json(&sim, Method::POST, &format!("/agents/{}/cmd/", win.agent_id), &cmd).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), fixture("POST_agents_AGENTID_cmd_when_nats_down.json"));
    check("POST_agents_AGENTID_cmd_when_nats_down.json", &r.json(), &[], &[]);
    let r = req_json(&sim, Method::POST, &format!("/agents/{}/runscript/", win.agent_id), &script).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), fixture("POST_agents_AGENTID_runscript_wait_when_nats_down.json"));
    check("POST_agents_AGENTID_runscript_wait_when_nats_down.json", &r.json(), &[], &[]);
    st.set_nats_up(true);
    let r = req_json(&sim, Method::POST, &format!("/agents/{}/reboot/", offline.agent_id), &json!({})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), fixture("POST_agents_AGENTID_reboot_agent_unreachable_400.json"));
    check("POST_agents_AGENTID_reboot_agent_unreachable_400.json", &r.json(), &[], &[]);

    // knox login
    let post = |path: &str, body: Value| client().post(format!("{}{path}", sim.base_url())).json(&body);
    let r = send(post("/v2/checkcreds/", json!({"username": "totpuser", "password": "nope"}))).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), fixture("POST_v2_checkcreds_bad_password_400.json"));
    check("POST_v2_checkcreds_bad_password_400.json", &r.json(), &[], &[]);
    let r = send(post("/v2/checkcreds/", json!({"username": "plainuser", "password": "pw-plain"}))).await;
    assert_eq!(r.status, 200);
    check("POST_v2_checkcreds_no_totp_user.json", &r.json(), &[], &[]);
    let r = send(post("/v2/checkcreds/", json!({"username": "totpuser", "password": "pw-totp"}))).await;
    assert_eq!(r.json(), fixture("POST_v2_checkcreds_totp_user.json"));
    check("POST_v2_checkcreds_totp_user.json", &r.json(), &[], &[]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let code = totp_code(&secret, now);
    let r = send(post("/v2/login/", json!({"username": "totpuser", "password": "pw-totp", "twofactor": code}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    check("POST_v2_login_ok.json", &r.json(), &[], &[]);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = send(post("/v2/login/", json!({"username": "totpuser", "password": "pw-totp", "twofactor": wrong}))).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), fixture("POST_v2_login_wrong_code_400.json"));
    check("POST_v2_login_wrong_code_400.json", &r.json(), &[], &[]);

    // errors
    let r = send(client().get(format!("{}/agents/", sim.base_url())).header("X-API-KEY", "NOPE")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), fixture("error_401_bad_key.json"));
    check("error_401_bad_key.json", &r.json(), &[], &[]);
    let r = get(&sim, "/alerts/").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.json(), fixture("error_405_GET_alerts.json"));
    check("error_405_GET_alerts.json", &r.json(), &[], &[]);

    // every JSON fixture that is a server response must have been covered
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(fixtures_dir()).expect("fixtures dir") {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if name.ends_with(".json") && !name.starts_with("webhook_") && !covered.contains(&name) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "fixtures without a contract check: {missing:?}");
    assert!(covered.len() >= 25, "only {} fixtures covered", covered.len());
    sim.shutdown().await;
}

#[tokio::test]
async fn html_404_and_301_match_the_fixtures() {
    let sim = start(SimConfig::default()).await;
    let r = get(&sim, "/no/such/route/").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.content_type(), "text/html; charset=utf-8");
    assert_eq!(r.text, fixture_text("error_404_unknown_route.html"));

    let r = get(&sim, "/clients").await;
    let fx = fixture_text("GET_clients_without_slash_301.headers.txt");
    assert!(fx.starts_with("HTTP/1.1 301"));
    assert_eq!(r.status, 301);
    for line in fx.lines().skip(1).filter(|l| l.contains(':')) {
        let (k, v) = line.split_once(':').unwrap();
        if k.eq_ignore_ascii_case("connection") {
            continue;
        }
        assert_eq!(r.header(k).as_deref(), Some(v.trim()), "header {k}");
    }
    sim.shutdown().await;
}
