//! The simulator's one clock: `advance_clock` moves everything Tactical reads from its own clock
//! (agent status and reachability, knox tokens, login throttles, alert times, snoozes) together.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use reqwest::Method;
use serde_json::json;
use tactical_sim::*;

#[tokio::test]
async fn one_advance_ages_tokens_agents_and_throttles_together() {
    let users = vec![User::new("plain", "pw", None), User::new("otp", "pw", Some(b"12345678901234567890".to_vec()))];
    let throttle = ThrottleConfig { per_minute: 2, per_day: 300 };
    let sim = start(SimConfig {
        users,
        throttle,
        fleet: FleetSpec::sized(1, 1, 3),
        action_wait: ActionWait::Instant,
        ..SimConfig::default()
    })
    .await;
    let st = sim.state();
    let c = client();
    let url = |p: &str| format!("{}{p}", sim.base_url());
    let agents = st.agents();
    for a in &agents {
        st.set_agent_thresholds(&a.agent_id, 4, 300).unwrap(); // offline after 4 min, overdue after 5 h
        st.make_online(&a.agent_id).unwrap();
    }
    let (quiet, busy) = (&agents[0], &agents[1]);
    st.stop_checkins(&quiet.agent_id).unwrap();

    let creds = json!({"username": "plain", "password": "pw"});
    let r = send(c.post(url("/v2/checkcreds/")).json(&creds)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.json()["token"].as_str().unwrap().to_string();
    let knox = |path: String| c.get(url(&path)).header("Authorization", format!("Token {token}"));
    assert_eq!(send(knox("/clients/".into())).await.status, 200, "the first use extends the token to 5 h");
    // The per-minute login bucket is full.
    assert_eq!(send(c.post(url("/v2/checkcreds/")).json(&creds)).await.status, 200);
    assert_eq!(send(c.post(url("/v2/checkcreds/")).json(&creds)).await.status, 429);

    // One hour on: the token (5 h) lives, the throttle window has passed, the quiet agent is
    // offline and unreachable, the one checking in is still online and reachable.
    st.advance_clock(time::Duration::hours(1));
    let r = send(knox(format!("/agents/{}/", quiet.agent_id))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["status"], json!("offline"));
    assert_eq!(send(knox(format!("/agents/{}/ping/", quiet.agent_id))).await.json()["status"], json!("offline"));
    assert_eq!(send(knox(format!("/agents/{}/ping/", busy.agent_id))).await.json()["status"], json!("online"));
    let cmd = json!({"shell": "cmd", "cmd": "hostname", "timeout": 30, "run_as_user": false});
    let r = send(
        c.post(url(&format!("/agents/{}/cmd/", quiet.agent_id)))
            .header("Authorization", format!("Token {token}"))
            .json(&cmd),
    )
    .await;
    assert_eq!((r.status, r.json()), (400, json!("Unable to contact the agent")));
    assert_eq!(send(c.post(url("/v2/checkcreds/")).json(&creds)).await.status, 200, "a new minute, a new bucket");

    // An alert raised now carries the simulated time.
    let id = st.raise_alert(NewAlert::check(&busy.agent_id, Severity::Warning, "disk")).unwrap();
    let raised = st.alert(id).unwrap().alert_time;
    assert!((raised - st.now()).abs() < time::Duration::seconds(5), "{raised} vs {}", st.now());

    // Five idle hours later the token is dead and the quiet agent overdue, in one step.
    st.advance_clock(time::Duration::hours(5) + time::Duration::minutes(1));
    assert_eq!(send(knox("/clients/".into())).await.status, 401);
    assert_eq!(st.agent(&quiet.agent_id).unwrap().status, AgentStatus::Overdue);
    assert_eq!(st.agent(&busy.agent_id).unwrap().status, AgentStatus::Online);

    // TOTP codes are checked against the wall clock: the client computing them cannot be moved.
    let unix = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let login = json!({"username": "otp", "password": "pw", "twofactor": totp_code(b"12345678901234567890", unix)});
    let r = send(c.post(url("/v2/login/")).json(&login)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    sim.shutdown().await;
}

#[tokio::test]
async fn snoozed_alerts_wake_at_the_hourly_unsnooze_run_after_their_time() {
    let sim = start(SimConfig { fleet: FleetSpec::sized(1, 1, 2), ..SimConfig::default() }).await;
    let st = sim.state();
    let agent = st.agents()[0].agent_id.clone();
    let id = st.raise_alert(NewAlert::check(&agent, Severity::Error, "cpu")).unwrap();
    st.snooze_alert(id, 1).unwrap();
    let r = req_json(&sim, Method::PATCH, "/alerts/", &json!({"snoozedFilter": false})).await;
    assert!(r.json().as_array().unwrap().iter().all(|a| a["id"] != json!(id)), "snoozed: filtered out");

    st.advance_clock(time::Duration::hours(23));
    assert!(st.alert(id).unwrap().snoozed, "a day has not passed");
    // Past snooze_until, the next run at minute 10 of an hour wakes it (within 61 minutes).
    st.advance_clock(time::Duration::hours(1) + time::Duration::minutes(61));
    let al = st.alert(id).unwrap();
    assert!(!al.snoozed, "{al:?}");
    let r = req_json(&sim, Method::PATCH, "/alerts/", &json!({"snoozedFilter": false})).await;
    let row = r.json().as_array().unwrap().iter().find(|a| a["id"] == json!(id)).cloned().unwrap();
    assert_eq!((row["snoozed"].clone(), row["snooze_until"].clone()), (json!(false), json!(null)));
    sim.shutdown().await;
}
