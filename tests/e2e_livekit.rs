//! End-to-end: SipTrunks on a LiveKit SIP provider, through the real controller, the emulated
//! Kubernetes API and the LiveKit emulator.

#[macro_use]
mod common;

use common::livekit::{LkEnv, lk_trunk};
use common::{merge, wait_until};
use serde_json::json;
use siptrunk_operator::crd::SipTrunk;
use siptrunk_operator::provider::livekit::wire::{SipOutboundTrunkInfo, SipOutboundTrunkUpdate, SipTransport};

const PASSWORD: &str = "Carrier-pass-0001";

fn trunk_id(t: &SipTrunk) -> String {
    t.status.as_ref().and_then(|s| s.trunk_id.clone()).unwrap_or_default()
}

/// The status and every Event about `name`, as text (where no secret may appear).
async fn visible_text(env: &LkEnv, name: &str) -> String {
    let t = env.trunks().get(name).await.expect("trunk");
    let events = env.events_for(name).await;
    format!(
        "{} {}",
        serde_json::to_string(&t.status).unwrap_or_default(),
        serde_json::to_string(&events).unwrap_or_default()
    )
}

async fn started() -> LkEnv {
    let env = LkEnv::start().await;
    // Drift is looked for every second.
    env.apply_provider(json!({"driftCheckInterval": "1s"})).await;
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_and_outbound_trunks_become_ready_with_the_livekit_ids() {
    let env = started().await;
    env.put_secret("in-sip", "password", PASSWORD).await;
    env.put_secret("out-sip", "password", PASSWORD).await;
    env.apply(&lk_trunk("in", true, &["+14155550100"])).await.expect("apply inbound");
    env.apply(&lk_trunk("out", false, &["+14155550100"])).await.expect("apply outbound");
    let tin = env.wait_ready("in").await;
    let tout = env.wait_ready("out").await;
    let (inb, outb) = env.remote();
    assert_eq!((inb.len(), outb.len()), (1, 1), "one trunk of each kind: {inb:?} {outb:?}");
    assert_eq!(trunk_id(&tin), inb[0]["sip_trunk_id"].as_str().unwrap_or_default());
    assert_eq!(trunk_id(&tout), outb[0]["sip_trunk_id"].as_str().unwrap_or_default());
    assert!(trunk_id(&tin).starts_with("ST_"), "{}", trunk_id(&tin));
    // The marker is in metadata, the display name in name, the password applied.
    let meta = inb[0]["metadata"].as_str().unwrap_or_default();
    assert!(meta.starts_with("managed-by=siptrunk-operator key=op:") && meta.ends_with("part=inbound"), "{meta}");
    assert_eq!(inb[0]["name"], "LK in");
    assert_eq!(outb[0]["address"], "sip.carrier.example");
    assert!(env.lk.password_matches(&trunk_id(&tin), PASSWORD));
    assert!(env.lk.password_matches(&trunk_id(&tout), PASSWORD));
    assert_eq!(env.calls("CreateSIPInboundTrunk") + env.calls("CreateSIPOutboundTrunk"), 2);
    // Printer-column summary: numbers, and the carrier of the outbound trunk.
    let summary = tout.status.as_ref().and_then(|s| s.summary.clone());
    assert!(format!("{summary:?}").contains("sip.carrier.example"), "{summary:?}");
    for name in ["in", "out"] {
        let text = visible_text(&env, name).await;
        assert!(!text.contains(PASSWORD), "password in status/events of {name}: {text}");
        assert!(!text.contains(&env.secret), "API secret in status/events of {name}: {text}");
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_corrected_with_an_update_of_only_the_changed_fields() {
    let env = started().await;
    env.put_secret("out-sip", "password", PASSWORD).await;
    env.apply(&lk_trunk("out", false, &["+14155550100"])).await.expect("apply");
    let id = trunk_id(&env.wait_ready("out").await);
    let before = env.lk.updates().len();
    // Someone edits the trunk at LiveKit: transport and caller ids.
    let project = env.project();
    let drift = SipOutboundTrunkUpdate {
        transport: Some(SipTransport::Udp as i32),
        numbers: Some(siptrunk_operator::provider::livekit::wire::ListUpdate::set(vec!["+14155559999".into()])),
        ..Default::default()
    };
    project.update_outbound(&id, drift).await.expect("drift at LiveKit");
    env.wait_remote("transport back to tls", |(_, out)| {
        out.first().is_some_and(|t| t["transport"] == "SIP_TRANSPORT_TLS" && t["numbers"] == json!(["+14155550100"]))
    })
    .await;
    let updates = env.lk.updates();
    let ours: Vec<_> = updates[before + 1..].iter().filter(|u| u.trunk_id == id).collect();
    assert_eq!(ours.len(), 1, "one corrective update: {updates:?}");
    let mut fields = ours[0].fields.clone();
    fields.sort();
    assert_eq!(fields, ["numbers", "transport"], "only the drifted fields are named");
    assert_eq!(env.calls("CreateSIPOutboundTrunk"), 1, "never re-created");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_rotation_sends_the_password_alone_once_and_never_recreates() {
    let env = started().await;
    env.put_secret("in-sip", "password", PASSWORD).await;
    env.apply(&lk_trunk("in", true, &["+14155550100"])).await.expect("apply");
    let id = trunk_id(&env.wait_ready("in").await);
    let rotated = "Rotated-pass-0002";
    env.put_secret("in-sip", "password", rotated).await;
    let ok = wait_until(common::DEADLINE, || async { env.lk.password_matches(&id, rotated) }, |m| *m).await;
    assert!(ok.is_some(), "the rotated password reaches LiveKit");
    // Further reconciles (drift checks every second) send nothing more: wait for two more lists.
    let lists = env.calls("ListSIPInboundTrunk");
    env.wait_calls("ListSIPInboundTrunk", lists + 2).await;
    let updates: Vec<_> = env.lk.updates().into_iter().filter(|u| u.trunk_id == id).collect();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0].fields, ["auth_password"], "the password goes alone");
    assert_eq!(env.calls("CreateSIPInboundTrunk"), 1, "a rotation never re-creates");
    assert_eq!(env.calls("DeleteSIPTrunk"), 0);
    let text = visible_text(&env, "in").await;
    assert!(!text.contains(PASSWORD) && !text.contains(rotated), "password in status/events: {text}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_answer_is_adopted_by_its_marker_not_duplicated() {
    let env = started().await;
    env.put_secret("in-sip", "password", PASSWORD).await;
    env.lk.faults().drop_next_after_commit("POST /twirp/livekit.SIP/CreateSIPInboundTrunk", 1);
    env.apply(&lk_trunk("in", true, &["+14155550100"])).await.expect("apply");
    let t = env.wait_ready("in").await;
    let (inb, _) = env.remote();
    assert_eq!(inb.len(), 1, "no duplicate: {inb:?}");
    assert_eq!(trunk_id(&t), inb[0]["sip_trunk_id"].as_str().unwrap_or_default());
    assert_eq!(env.calls("CreateSIPInboundTrunk"), 1, "the create is not repeated");
    assert!(env.lk.password_matches(&trunk_id(&t), PASSWORD));
    // The create intent says which password that create sent: it is not sent again.
    assert!(env.lk.updates().is_empty(), "{:?}", env.lk.updates());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_with_another_objects_marker_is_neither_adopted_nor_touched() {
    let env = started().await;
    let project = env.project();
    let foreign_meta = "managed-by=siptrunk-operator key=op:ffffffffffff part=outbound";
    let foreign = project
        .create_outbound(SipOutboundTrunkInfo {
            name: "LK out".into(),
            metadata: foreign_meta.into(),
            address: "sip.carrier.example".into(),
            transport: SipTransport::Tls as i32,
            numbers: vec!["+14155550100".into()],
            auth_username: "carrier".into(),
            ..Default::default()
        })
        .await
        .expect("foreign trunk");
    // An unmarked look-alike: LiveKit has no natural key, so even adoptExisting cannot take it.
    let unmarked = project
        .create_outbound(SipOutboundTrunkInfo {
            name: "LK out".into(),
            address: "sip.carrier.example".into(),
            transport: SipTransport::Tls as i32,
            numbers: vec!["+14155550100".into()],
            auth_username: "carrier".into(),
            ..Default::default()
        })
        .await
        .expect("unmarked trunk");
    env.put_secret("out-sip", "password", PASSWORD).await;
    let mut t = lk_trunk("out", false, &["+14155550100"]);
    merge(&mut t, json!({"spec": {"adoptExisting": true}}));
    env.apply(&t).await.expect("apply");
    let id = trunk_id(&env.wait_ready("out").await);
    assert!(id != foreign.sip_trunk_id && id != unmarked.sip_trunk_id, "its own trunk: {id}");
    let (_, out) = env.remote();
    assert_eq!(out.len(), 3, "{out:?}");
    let meta = |i: &str| out.iter().find(|t| t["sip_trunk_id"] == i).map(|t| t["metadata"].clone());
    assert_eq!(meta(&foreign.sip_trunk_id), Some(json!(foreign_meta)), "the foreign trunk is untouched");
    assert_eq!(meta(&unmarked.sip_trunk_id), Some(json!("")), "the unmarked trunk is untouched");
    assert!(
        env.lk.updates().iter().all(|u| u.trunk_id == id),
        "no update of anybody else's trunk: {:?}",
        env.lk.updates()
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_sip_trunk_deletes_the_livekit_trunk() {
    let env = started().await;
    env.put_secret("out-sip", "password", PASSWORD).await;
    env.put_secret("in-sip", "password", PASSWORD).await;
    env.apply(&lk_trunk("out", false, &["+14155550100"])).await.expect("apply");
    env.apply(&lk_trunk("in", true, &["+14155550101"])).await.expect("apply");
    env.wait_ready("out").await;
    let keep = trunk_id(&env.wait_ready("in").await);
    env.delete("out").await;
    env.wait_gone("out").await;
    let (inb, out) = env.remote();
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(inb.len(), 1, "the other trunk stays");
    assert_eq!(inb[0]["sip_trunk_id"], keep.as_str());
    assert_eq!(env.calls("DeleteSIPTrunk"), 1);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_api_secret_is_reported_on_the_trunk_without_leaking_it() {
    let env = started().await;
    env.put_secret("provider-token", "token", "not-the-secret-0000").await;
    env.put_secret("in-sip", "password", PASSWORD).await;
    env.apply(&lk_trunk("in", true, &["+14155550100"])).await.expect("apply");
    let t = env.wait_reason("in", "Unauthorized").await;
    let text = format!("{:?}", t.status);
    assert!(!text.contains("not-the-secret-0000") && !text.contains("eyJ"), "{text}");
    assert!(env.remote().0.is_empty());
    env.stop().await;
}
