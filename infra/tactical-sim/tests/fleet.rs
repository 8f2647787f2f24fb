//! Fleet generation: determinism, realistic mix, state mutation, a 50,000-agent fleet.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tactical_sim::*;

fn cfg(seed: u64, spec: FleetSpec) -> SimConfig {
    SimConfig { seed, fleet: spec, ..SimConfig::default() }
}

type Fingerprint = (i64, String, String, i64, Plat, MonitoringType, String, i64, i64);

fn fingerprint(st: &SimState) -> Vec<Fingerprint> {
    st.agents()
        .into_iter()
        .map(|a| {
            (
                a.pk,
                a.agent_id,
                a.hostname,
                a.site_id,
                a.plat,
                a.monitoring_type,
                a.serial_number,
                a.offline_time,
                a.overdue_time,
            )
        })
        .collect()
}

#[test]
fn same_seed_same_fleet() {
    let spec = FleetSpec::sized(5, 3, 500);
    let a = SimState::new(cfg(7, spec.clone()));
    let b = SimState::new(cfg(7, spec.clone()));
    let c = SimState::new(cfg(8, spec));
    assert_eq!(fingerprint(&a), fingerprint(&b));
    assert_eq!(a.clients(), b.clients());
    assert_eq!(a.sites(), b.sites());
    let msgs =
        |s: &SimState| s.alerts().into_iter().map(|x| (x.id, x.message, x.severity, x.resolved)).collect::<Vec<_>>();
    assert_eq!(msgs(&a), msgs(&b));
    let sw = |s: &SimState| s.agents().into_iter().map(|x| s.software(&x.agent_id)).collect::<Vec<_>>();
    assert_eq!(sw(&a), sw(&b));
    assert_ne!(fingerprint(&a), fingerprint(&c));
    // ids: 40 letters, unique
    let ids: HashSet<String> = a.agents().into_iter().map(|x| x.agent_id).collect();
    assert_eq!(ids.len(), 500);
    assert!(ids.iter().all(|i| i.len() == 40 && i.chars().all(|c| c.is_ascii_alphabetic())));
}

#[test]
fn realistic_mix() {
    let st = SimState::new(cfg(42, FleetSpec::sized(10, 3, 3000)));
    let agents = st.agents();
    let n = agents.len() as f64;
    let share = |f: &dyn Fn(&AgentInfo) -> bool| agents.iter().filter(|a| f(a)).count() as f64 / n;
    let online = share(&|a| a.status == AgentStatus::Online);
    let offline = share(&|a| a.status == AgentStatus::Offline);
    let overdue = share(&|a| a.status == AgentStatus::Overdue);
    assert!((0.62..0.78).contains(&online), "online {online}");
    assert!((0.14..0.26).contains(&offline), "offline {offline}");
    assert!((0.06..0.14).contains(&overdue), "overdue {overdue}");
    assert!(share(&|a| a.plat == Plat::Windows) > 0.6);
    assert!(share(&|a| a.plat == Plat::Linux) > 0.1);
    assert!(share(&|a| a.plat == Plat::Darwin) > 0.05);
    assert!(share(&|a| a.monitoring_type == MonitoringType::Server) > 0.1);
    assert!(share(&|a| a.offline_time != 4 || a.overdue_time != 30) > 0.1, "some custom thresholds");
    assert!(share(&|a| a.logged_in_username == "None") > 0.1);
    assert!(agents.iter().any(|a| a.local_ips == "error getting local ips"), "some WMI failure strings");
    assert!(
        agents
            .iter()
            .filter(|a| a.plat != Plat::Windows && !a.local_ips.starts_with("error"))
            .all(|a| a.local_ips.contains('/'))
    );
    assert!(
        agents
            .iter()
            .filter(|a| a.plat == Plat::Windows && !a.local_ips.starts_with("error"))
            .all(|a| !a.local_ips.contains('/'))
    );
    assert!(agents.iter().all(|a| a.boot_time > 1.7e9));
    // every site has agents
    assert!(st.sites().iter().all(|s| s.agent_count > 0));
}

#[tokio::test]
async fn mutations_are_visible_through_the_api() {
    let sim = start(cfg(3, FleetSpec::sized(3, 2, 20))).await;
    let st = sim.state();
    let a = st.agents()[0].clone();
    let other_site = st.sites().into_iter().find(|s| s.client_id != a.client_id).unwrap();
    st.move_agent(&a.agent_id, other_site.id).unwrap();
    let v = get(&sim, &format!("/beta/v1/agent/?hostname={}", a.hostname)).await.json();
    assert_eq!(v["results"][0]["site"], json!(other_site.id));
    let v = get(&sim, &format!("/agents/{}/", a.agent_id)).await.json();
    assert_eq!(v["site"], json!(other_site.id));
    assert_ne!(v["client"], json!(a.client_name));

    let alert = st.raise_alert(NewAlert::availability(a.agent_id.clone())).unwrap();
    st.remove_agent(&a.agent_id).unwrap();
    assert_eq!(get(&sim, &format!("/agents/{}/", a.agent_id)).await.status, 404);
    assert!(st.alert(alert).is_none(), "alerts cascade");
    assert_eq!(st.move_agent(&a.agent_id, 1), Err(SimError::UnknownAgent(a.agent_id.clone())));

    let c = st.add_client("Brand New Client");
    let s = st.add_site(c, "Only Site").unwrap();
    let added = st
        .add_agent(NewAgent { hostname: Some("NEW-HOST-1".into()), last_seen: None, ..NewAgent::new(s, Plat::Linux) })
        .unwrap();
    assert_eq!(added.status, AgentStatus::Online);
    let v = get(&sim, "/agents/?detail=false").await.json();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|r| r["hostname"] == json!("NEW-HOST-1") && r["client"] == json!("Brand New Client"))
    );
    let v = get(&sim, "/clients/").await.json();
    let nc = v.as_array().unwrap().iter().find(|c| c["name"] == json!("Brand New Client")).unwrap();
    assert_eq!(nc["agent_count"], json!(1));
    assert_eq!(nc["sites"][0]["agent_count"], json!(1));
    let t = time::OffsetDateTime::now_utc() - time::Duration::minutes(10);
    st.set_agent_last_seen(&added.agent_id, t).unwrap();
    assert_eq!(st.agent(&added.agent_id).unwrap().status, AgentStatus::Offline);
    st.set_agent_thresholds(&added.agent_id, 4, 5).unwrap();
    assert_eq!(st.agent(&added.agent_id).unwrap().status, AgentStatus::Overdue);
    assert_eq!(
        st.add_agent(NewAgent { agent_id: Some(added.agent_id.clone()), ..NewAgent::new(s, Plat::Windows) })
            .unwrap_err(),
        SimError::DuplicateAgentId(added.agent_id.clone())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn fifty_thousand_agents_generate_and_page() {
    let t = Instant::now();
    // About generation and paging at scale: real row weight (50 pages of ~110 MB) and Tactical's
    // per-row time would dominate, so both are off here.
    let sim = start(SimConfig {
        heavy_rows: false,
        row_cost: Duration::ZERO,
        ..cfg(42, FleetSpec { clients: 50, sites_per_client: 4, agents: 50_000, software_per_agent: 8, alerts: 2_000 })
    })
    .await;
    let generated = t.elapsed();
    let st = sim.state();
    assert_eq!(st.agent_count(), 50_000);
    let c = client();
    let t = Instant::now();
    let mut seen = HashSet::with_capacity(50_000);
    let mut last = 0;
    let mut url = Some(format!("{}/beta/v1/agent/?page_size=1000", sim.base_url()));
    let mut pages = 0;
    while let Some(u) = url {
        let r = send(c.get(&u).header("X-API-KEY", KEY)).await;
        assert_eq!(r.status, 200);
        let v = r.json();
        assert_eq!(v["count"], json!(50_000));
        for row in v["results"].as_array().unwrap() {
            let id = row["id"].as_i64().unwrap();
            assert!(id > last, "ordered by id");
            last = id;
            assert!(seen.insert(row["agent_id"].as_str().unwrap().to_string()));
        }
        pages += 1;
        url = v["next"].as_str().map(str::to_string);
    }
    let paged = t.elapsed();
    assert_eq!(pages, 50);
    assert_eq!(seen.len(), 50_000);
    eprintln!("50k agents: generated in {generated:?}, paged (50 x 1000) in {paged:?}");
    sim.shutdown().await;
}
