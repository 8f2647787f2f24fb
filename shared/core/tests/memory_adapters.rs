//! What the in-memory adapters add to the contract: production behaviour LocalStack does not
//! show, and the knobs tests drive them with.

use shared::TenantId;
use shared::domain::status::AgentStatus;
use shared::messages::{QueueKind, SyncMessage, SyncType, Trigger};
use shared::ports::{AssetWrite, BusEvent, EventPublisher, InventoryStore, MessageQueue, StartOutcome, Store};
use shared::tactical::types::{AlertChange, AlertFilter, BetaAgentQuery, RunCommand, RunScript, ScriptRun};
use shared::tactical::{TacticalApi, TacticalError};
use shared::testing::contract::{sample_asset, sample_run};
use shared::testing::{FakeAgent, FakeTactical, MemoryEvents, MemoryQueue, MemoryStore, Route, TacticalAction};

fn t(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

#[tokio::test]
async fn a_batch_write_naming_one_asset_twice_fails_as_in_dynamodb() {
    let (store, t) = (MemoryStore::new(), t("dupes"));
    let a = sample_asset(&t, 1, 1);
    let w = AssetWrite { asset: a.clone(), mapping: None };
    assert!(store.write_assets(&t, &[w.clone(), w.clone()]).await.is_err());
    // Keys in different batches of 25 are separate requests.
    let mut many: Vec<AssetWrite> =
        (0..25).map(|n| AssetWrite { asset: sample_asset(&t, n + 10, 1), mapping: None }).collect();
    many.push(w);
    store.write_assets(&t, &many).await.unwrap();
    assert_eq!(store.item_count(&t), 26);
}

#[tokio::test]
async fn the_store_clock_expires_locks_without_sleeping() {
    let (store, t) = (MemoryStore::new(), t("clock"));
    let first = sample_run(&t, SyncType::Devices);
    assert!(matches!(store.try_start_run(&first, 7200).await.unwrap(), StartOutcome::Started(_)));
    assert!(matches!(
        store.try_start_run(&sample_run(&t, SyncType::Devices), 7200).await.unwrap(),
        StartOutcome::AlreadyRunning { .. }
    ));
    assert!(store.try_lock(&t, "relogin", 30).await.unwrap());
    store.advance_clock(7201);
    assert!(matches!(
        store.try_start_run(&sample_run(&t, SyncType::Devices), 7200).await.unwrap(),
        StartOutcome::Started(_)
    ));
    assert!(store.try_lock(&t, "relogin", 30).await.unwrap());
}

fn start(t: &TenantId, i: usize) -> SyncMessage {
    SyncMessage::StartRun {
        tenant: t.clone(),
        run_id: format!("r{i}"),
        sync_type: SyncType::Clients,
        trigger: Trigger::Manual,
    }
}

#[tokio::test]
async fn a_queue_can_fail_half_way() {
    let (q, t) = (MemoryQueue::new(), t("q"));
    q.fail_after(Some(15));
    let msgs: Vec<SyncMessage> = (0..23).map(|i| start(&t, i)).collect();
    assert!(q.send(QueueKind::SyncClients, &msgs).await.is_err());
    assert_eq!(q.pending(QueueKind::SyncClients), 10, "the first batch of ten went out");
    q.fail_after(None);
    q.send(QueueKind::SyncClients, &msgs).await.unwrap();
    assert_eq!(q.drain(QueueKind::SyncClients).len(), 33);
    assert_eq!(q.pending(QueueKind::SyncClients), 0);
}

#[tokio::test]
async fn a_message_over_sqs_limit_is_refused() {
    let (q, t) = (MemoryQueue::new(), t("big"));
    let big = SyncMessage::SoftwareBatch {
        tenant: t.clone(),
        run_id: "r".into(),
        batch: 1,
        part: 0,
        agent_ids: vec!["a".repeat(100); 3000],
    };
    assert!(q.send(QueueKind::SyncSoftware, &[big]).await.is_err());
}

#[tokio::test]
async fn events_are_recorded_unless_failing() {
    let ev = MemoryEvents::new();
    let e = BusEvent { detail_type: "Asset Status Changed", detail: serde_json::json!({"event_id": "1"}) };
    ev.publish(std::slice::from_ref(&e)).await.unwrap();
    ev.set_failing(true);
    assert!(ev.publish(std::slice::from_ref(&e)).await.is_err());
    assert_eq!(ev.take(), vec![e]);
    assert!(ev.published().is_empty());
}

#[tokio::test]
async fn the_fake_pages_agents_as_tactical_does() {
    let tac = FakeTactical::small_fleet();
    let q = |client, page, page_size| BetaAgentQuery { client_id: client, page, page_size, ..Default::default() };
    let p1 = tac.beta_agents_page(&q(Some(1), 1, 2)).await.unwrap();
    assert_eq!((p1.count, p1.results.len(), p1.next.is_some()), (3, 2, true));
    let p2 = tac.beta_agents_page(&q(Some(1), 2, 2)).await.unwrap();
    assert_eq!((p2.results.len(), p2.next), (1, None));
    let past = tac.beta_agents_page(&q(Some(1), 3, 2)).await.unwrap_err();
    assert!(matches!(past, TacticalError::NotFound { detail: Some(d), .. } if d == "Invalid page."));
    assert_eq!(tac.beta_agents_page(&q(None, 1, 100)).await.unwrap().count, 5);
    let clients = tac.clients().await.unwrap();
    assert_eq!(clients.iter().map(|c| c.agent_count).collect::<Vec<_>>(), [Some(3), Some(2)]);
    tac.remove_client(2);
    assert_eq!(tac.agents_slim(None).await.unwrap().len(), 3, "a deleted client's agents are gone");
    assert_eq!(tac.agent("agent-acme-3").await.unwrap().site_name.as_deref(), Some("Branch"));
    assert_eq!(tac.agent_row("agent-acme-3").await.unwrap().id, 0, "the classic detail has no pk");
}

#[tokio::test]
async fn the_fake_fails_on_demand_and_counts_calls() {
    let tac = FakeTactical::small_fleet();
    tac.fail_next(Route::Clients, TacticalError::Server { status: 502 });
    tac.fail_next(Route::Clients, TacticalError::Unauthorized { detail: "Invalid token.".into() });
    assert!(tac.clients().await.unwrap_err().is_transient());
    assert!(matches!(tac.clients().await, Err(TacticalError::Unauthorized { .. })));
    assert!(tac.clients().await.is_ok());
    tac.fail_always(Route::SoftwareFor, Some(TacticalError::Timeout(std::time::Duration::from_secs(30))));
    assert!(tac.software_for("agent-acme-1").await.is_err());
    assert!(tac.software_for("agent-acme-1").await.is_err());
    tac.fail_always(Route::SoftwareFor, None);
    assert_eq!(tac.software_for("agent-acme-1").await.unwrap().map(|s| s.len()), Some(2));
    assert_eq!(tac.software_for("agent-acme-2").await.unwrap(), None, "no inventory is not an empty one");
    assert_eq!((tac.calls(Route::Clients), tac.calls(Route::SoftwareFor)), (3, 4));
}

#[tokio::test]
async fn remote_actions_act_on_the_fleet() {
    let tac = FakeTactical::small_fleet();
    let cmd =
        RunCommand { shell: "cmd".into(), cmd: "ipconfig".into(), timeout: 30, run_as_user: false, custom_shell: None };
    assert_eq!(tac.run_command("agent-acme-1", &cmd).await.unwrap().output, "ran: ipconfig\n");
    assert!(matches!(tac.run_command("agent-globex-2", &cmd).await, Err(TacticalError::AgentUnreachable)), "offline");
    tac.set_status("agent-globex-2", AgentStatus::Online);
    tac.reboot("agent-globex-2").await.unwrap();
    tac.set_script_output(1, "C: 80% used\n");
    let script =
        |wait| RunScript { script_id: 1, args: vec![], env_vars: vec![], timeout: 60, run_as_user: false, wait };
    assert!(
        matches!(tac.run_script("agent-acme-2", &script(true)).await.unwrap(), ScriptRun::Completed(o) if o.output == "C: 80% used\n")
    );
    assert!(
        matches!(tac.run_script("agent-acme-2", &script(false)).await.unwrap(), ScriptRun::Accepted { message } if message == "Disk usage will now be run on ACME-WS-2")
    );
    assert_eq!(tac.scripts(false).await.unwrap().len(), 1, "hidden and community scripts left out");
    assert_eq!(tac.scripts(true).await.unwrap().len(), 2);
    tac.change_alert(1, AlertChange::Snooze { days: 2 }).await.unwrap();
    let open = AlertFilter { time_filter: 30, resolved_filter: false, snoozed_filter: false };
    assert!(tac.alerts(&open).await.unwrap().is_empty(), "a snoozed alert is not open");
    tac.change_alerts_bulk(&[1, 99], AlertChange::Resolve).await.unwrap();
    assert!(tac.alert(1).await.unwrap().resolved);
    assert!(matches!(tac.change_alert(99, AlertChange::Resolve).await, Err(TacticalError::NotFound { .. })));
    assert_eq!(tac.actions().len(), 6);
    assert_eq!(tac.actions()[1], TacticalAction::Reboot { agent_id: "agent-globex-2".into() });
    tac.add_agent(FakeAgent::new(999, "agent-new", "NEW", 1, 10));
    assert_eq!(tac.clients().await.unwrap()[0].agent_count, Some(4));
}
