//! Live status refresh (domain/status_refresh.rs) on the in-memory adapters, through
//! `status_refresh::request` and `sync::handle_message`: what tests/it/status.rs checks on
//! LocalStack.

mod common;

use common::{pump, sees_nothing, synced, tenant};
use shared::TenantId;
use shared::domain::asset::asset_id_for;
use shared::domain::status::AgentStatus;
use shared::domain::status_refresh;
use shared::messages::SyncType;
use shared::ports::InventoryStore;
use shared::testing::{Route, TestBed};

async fn refresh(bed: &TestBed, t: &TenantId) {
    status_refresh::request(&bed.deps, t).await.unwrap();
    pump(bed, SyncType::Devices).await;
}

async fn status_of(bed: &TestBed, t: &TenantId, agent: &str) -> AgentStatus {
    bed.store.get_assets(t, &[asset_id_for(t, agent)]).await.unwrap()[0].agent_status
}

#[tokio::test]
async fn only_transitions_are_written_each_with_one_event() {
    let (bed, t) = (TestBed::new(), tenant("status-transitions"));
    synced(&bed, &t).await;
    refresh(&bed, &t).await;
    assert!(bed.events.take().is_empty(), "the assets already hold Tactical's statuses");
    assert_eq!(bed.tactical.calls(Route::AgentStatuses), 2, "one listing per mapped client");

    bed.tactical.set_status("agent-acme-1", AgentStatus::Offline);
    bed.tactical.set_status("agent-globex-2", AgentStatus::Online);
    let before = bed.store.get_assets(&t, &[asset_id_for(&t, "agent-acme-2")]).await.unwrap();
    refresh(&bed, &t).await;
    let events = bed.events.take();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|e| e.detail_type == "Asset Status Changed"));
    let acme = events.iter().find(|e| e.detail["agent_id"] == "agent-acme-1").expect("acme-1's event");
    assert_eq!((acme.detail["from"].as_str(), acme.detail["to"].as_str()), (Some("online"), Some("offline")));
    assert_eq!(acme.detail["client_id"], "psa-1");
    assert_eq!(status_of(&bed, &t, "agent-acme-1").await, AgentStatus::Offline);
    assert_eq!(status_of(&bed, &t, "agent-globex-2").await, AgentStatus::Online);
    let after = bed.store.get_assets(&t, &[asset_id_for(&t, "agent-acme-2")]).await.unwrap();
    assert_eq!(after, before, "an agent without a transition is not written");

    refresh(&bed, &t).await;
    assert!(bed.events.take().is_empty(), "no transition, no event");
}

#[tokio::test]
async fn a_failed_publish_records_nothing_and_the_retry_publishes_the_same_event() {
    let (bed, t) = (TestBed::new(), tenant("status-outbox"));
    synced(&bed, &t).await;
    refresh(&bed, &t).await;
    bed.tactical.set_status("agent-acme-1", AgentStatus::Overdue);
    bed.events.set_failing(true);
    status_refresh::request(&bed.deps, &t).await.unwrap();
    let msg = bed.queue.drain(shared::messages::QueueKind::SyncDevices).remove(0);
    let first = shared::domain::sync::handle_message(&bed.deps, msg.clone(), 1).await;
    assert!(matches!(first, shared::domain::sync::Outcome::Retry(_)), "{first:?}");
    assert_eq!(status_of(&bed, &t, "agent-acme-1").await, AgentStatus::Online, "nothing recorded unpublished");
    bed.events.set_failing(false);
    shared::domain::sync::handle_message(&bed.deps, msg, 2).await;
    let events = bed.events.take();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].detail["to"], "overdue");
    assert_eq!(status_of(&bed, &t, "agent-acme-1").await, AgentStatus::Overdue);
}

#[tokio::test]
async fn a_second_tenant_on_the_same_bed_sees_nothing_of_the_first() {
    let (bed, a, b) = (TestBed::new(), tenant("status-iso-a"), tenant("status-iso-b"));
    synced(&bed, &a).await;
    common::connect(&bed, &b).await;
    bed.tactical.set_status("agent-acme-1", AgentStatus::Offline);
    refresh(&bed, &b).await;
    assert!(bed.events.take().is_empty(), "B maps no client: nothing of A's fleet is refreshed for B");
    sees_nothing(&bed, &b).await;
    assert_eq!(status_of(&bed, &a, "agent-acme-1").await, AgentStatus::Online, "A's asset untouched");
}

/// The sort keys written under the tenant's status partition since the last call.
fn status_writes(bed: &TestBed, t: &TenantId) -> Vec<String> {
    let pk = format!("{t}#status");
    bed.store.take_writes().into_iter().filter(|(p, _)| *p == pk).map(|(_, sk)| sk).collect()
}

#[tokio::test]
async fn a_transition_rewrites_its_clients_statuses_not_the_member_list() {
    let (bed, t) = (TestBed::new(), tenant("status-writes"));
    synced(&bed, &t).await;
    bed.store.take_writes();
    refresh(&bed, &t).await;
    let first = status_writes(&bed, &t);
    for client in [1, 2] {
        assert!(
            first.contains(&format!("snapshot#{client}#members#0000")),
            "the first refresh records the lists: {first:?}"
        );
    }

    // One transition in client 1: its statuses and the observation record, nothing else.
    bed.tactical.set_status("agent-acme-1", AgentStatus::Offline);
    refresh(&bed, &t).await;
    assert_eq!(bed.events.take().len(), 1);
    assert_eq!(status_writes(&bed, &t), vec!["snapshot#1#statuses".to_owned(), "observed".to_owned()]);
    assert_eq!(status_of(&bed, &t, "agent-acme-1").await, AgentStatus::Offline);

    // The kept list still lines up: the next transition is seen against it, once.
    bed.tactical.set_status("agent-acme-1", AgentStatus::Online);
    refresh(&bed, &t).await;
    let events = bed.events.take();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].detail["from"].as_str(), events[0].detail["to"].as_str()), (Some("offline"), Some("online")));
    assert_eq!(status_writes(&bed, &t), vec!["snapshot#1#statuses".to_owned(), "observed".to_owned()]);

    // An agent joins client 2: its list is written again, with the statuses; client 1 untouched.
    bed.tactical.add_agent(shared::testing::FakeAgent::new(203, "agent-globex-3", "GLOBEX-WS-3", 2, 20));
    refresh(&bed, &t).await;
    assert!(bed.events.take().is_empty(), "not an asset yet: no transition");
    assert_eq!(
        status_writes(&bed, &t),
        vec!["snapshot#2#members#0000".to_owned(), "snapshot#2#statuses".to_owned(), "observed".to_owned()]
    );
    refresh(&bed, &t).await;
    assert_eq!(status_writes(&bed, &t), vec!["observed".to_owned()], "unchanged: only the observation time");
}
