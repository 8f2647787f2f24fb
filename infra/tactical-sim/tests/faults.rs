//! Injected faults: every kind, route/prefix targeting, "first N requests", clearing.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tactical_sim::{Fault, RouteKind, SimConfig};

#[tokio::test]
async fn latency_delays_only_the_targeted_route() {
    let sim = start(SimConfig::default()).await;
    let st = sim.state();
    st.set_fault(RouteKind::Clients, Fault::Latency(Duration::from_millis(400)));
    let t = Instant::now();
    let r = get(&sim, "/clients/").await;
    assert_eq!(r.status, 200);
    assert!(!r.json().as_array().unwrap().is_empty());
    assert!(t.elapsed() >= Duration::from_millis(400));
    let t = Instant::now();
    assert_eq!(get(&sim, "/agents/").await.status, 200);
    assert!(t.elapsed() < Duration::from_millis(400));
    st.clear_faults();
    let t = Instant::now();
    get(&sim, "/clients/").await;
    assert!(t.elapsed() < Duration::from_millis(400));
    sim.shutdown().await;
}

#[tokio::test]
async fn status_5xx_and_429() {
    let sim = start(SimConfig::default()).await;
    let st = sim.state();
    st.set_fault(RouteKind::Agents, Fault::Status5xx(502));
    let r = get(&sim, "/agents/").await;
    assert_eq!(r.status, 502);
    assert!(r.content_type().starts_with("text/html"));
    assert!(r.text.contains("502 Bad Gateway"));
    st.clear_faults();
    st.set_fault(RouteKind::Agents, Fault::Status5xx(500));
    let r = get(&sim, "/agents/").await;
    assert_eq!(r.status, 500);
    assert!(r.text.contains("Server Error (500)"));
    st.clear_faults();
    st.set_fault(RouteKind::Agents, Fault::TooManyRequests { retry_after_secs: 7 });
    let r = get(&sim, "/agents/").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("7"));
    assert_eq!(r.json(), json!({"detail": "Request was throttled. Expected available in 7 seconds."}));
    sim.shutdown().await;
}

#[tokio::test]
async fn first_n_requests_then_normal() {
    let sim = start(SimConfig::default()).await;
    let st = sim.state();
    st.set_fault_times("/beta/", Fault::Status5xx(503), 2);
    assert_eq!(get(&sim, "/beta/v1/agent/").await.status, 503);
    assert_eq!(get(&sim, "/agents/").await.status, 200, "prefix does not match");
    assert_eq!(get(&sim, "/beta/v1/client/").await.status, 503);
    assert_eq!(get(&sim, "/beta/v1/agent/").await.status, 200);
    let statuses: Vec<u16> = st.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![503, 200, 503, 200]);
    assert_eq!(st.requests()[0].fault, Some(Fault::Status5xx(503)));
    sim.shutdown().await;
}

#[tokio::test]
async fn hang_never_answers_until_shutdown() {
    let sim = start(SimConfig::default()).await;
    sim.state().set_fault(RouteKind::Agents, Fault::Hang);
    let c = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let err = c.get(format!("{}/agents/", sim.base_url())).header("X-API-KEY", KEY).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // other routes still answer
    assert_eq!(get(&sim, "/clients/").await.status, 200);
    // a hanging request does not block shutdown
    let url = format!("{}/agents/", sim.base_url());
    let pending =
        tokio::spawn(
            async move { client().get(url).header("X-API-KEY", KEY).send().await.map(|r| r.status().as_u16()) },
        );
    tokio::task::yield_now().await;
    let t = Instant::now();
    sim.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(3));
    let _ = pending.await;
}

#[tokio::test]
async fn malformed_json_body() {
    let sim = start(SimConfig::default()).await;
    sim.state().set_fault(RouteKind::Agents, Fault::MalformedJson);
    let r = get(&sim, "/agents/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type(), "application/json");
    assert!(!r.text.is_empty());
    assert!(serde_json::from_str::<serde_json::Value>(&r.text).is_err(), "{}", r.text);
    assert!(r.text.starts_with("[{\"agent_id\""));
    sim.shutdown().await;
}

#[tokio::test]
async fn reset_mid_body_breaks_the_transfer() {
    let sim = start(SimConfig::default()).await;
    sim.state().set_fault(RouteKind::Agents, Fault::ResetMidBody);
    let resp = client()
        .get(format!("{}/agents/", sim.base_url()))
        .header("X-API-KEY", KEY)
        .send()
        .await
        .expect("headers arrive");
    assert_eq!(resp.status().as_u16(), 200);
    let declared: usize = resp.headers()["content-length"].to_str().unwrap().parse().unwrap();
    assert!(declared > 100);
    let err = resp.bytes().await.expect_err("the body must fail");
    assert!(err.is_body() || err.is_decode() || err.is_request(), "{err:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn dashboard_html_fault_and_any_target() {
    let sim = start(SimConfig::default()).await;
    let st = sim.state();
    st.set_fault(tactical_sim::FaultTarget::Any, Fault::DashboardHtml);
    for p in ["/", "/agents/", "/no/route/"] {
        let r = get(&sim, p).await;
        assert_eq!(r.status, 200);
        assert!(r.content_type().starts_with("text/html"), "{p}");
    }
    st.clear_faults();
    assert_eq!(get(&sim, "/").await.content_type(), "application/json");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_fault_can_target_one_query_parameter() {
    let sim = start(SimConfig::default()).await;
    let st = sim.state();
    st.set_fault(
        tactical_sim::FaultTarget::RouteWithParam(RouteKind::BetaAgents, "client_id=1".into()),
        Fault::Status5xx(500),
    );
    assert_eq!(get(&sim, "/beta/v1/agent/?page=1&client_id=1").await.status, 500);
    assert_ne!(get(&sim, "/beta/v1/agent/?client_id=10&page=1").await.status, 500, "the whole pair must match");
    assert_eq!(get(&sim, "/beta/v1/agent/").await.status, 200);
    sim.shutdown().await;
}
