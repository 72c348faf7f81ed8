//! End-to-end: what only LiveKit SIP has — inbound and outbound trunks side by side, a lost
//! create answer adopted by the create intent alone, look-alikes without a natural key, JWT
//! errors, LiveKit's refusal of ambiguous inbound trunks, faults under load — through the real
//! controller, the emulated Kubernetes API and the LiveKit emulator. The scenarios every family
//! shares (drift, rotation, policies, ownership attacks, crashes, provider status, ...) run over
//! LiveKit in the `each_flavor!` suites (e2e_trunk, e2e_lifecycle, e2e_ownership, e2e_applied,
//! e2e_provider_status).

#[macro_use]
mod common;

use common::Cluster;
use common::livekit::{LkEnv, lk_trunk};
use common::{merge, wait_until};
use serde_json::json;
use siptrunk_operator::crd::SipTrunk;
use siptrunk_operator::provider::livekit::wire::{SipOutboundTrunkInfo, SipTransport};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_livekit_refuses_is_provider_rejected() {
    let env = started().await;
    env.put_secret("a-sip", "password", PASSWORD).await;
    env.put_secret("b-sip", "password", PASSWORD).await;
    env.apply(&lk_trunk("a", true, &["+14155550100"])).await.expect("apply");
    env.wait_ready("a").await;
    // The same called number with the same credentials: LiveKit cannot tell the two apart.
    env.apply(&lk_trunk("b", true, &["+14155550100"])).await.expect("apply");
    let b = env.wait_reason("b", "ProviderRejected").await;
    assert!(common::ready_message(&b).contains("Conflicting inbound SIP Trunks"), "{}", common::ready_message(&b));
    assert_eq!(env.remote().0.len(), 1);
    let text = visible_text(&env, "b").await;
    assert!(!text.contains(PASSWORD) && !text.contains(&env.secret), "{text}");
    env.stop().await;
}

/// Crash safety without a natural key, under load: 12 trunks (6 inbound, 6 outbound) while 10 % of
/// all LiveKit calls fail with 503 and 30 % of creates are committed with their answer lost. Every
/// trunk converges, exactly one LiveKit trunk exists per SipTrunk (found again by its marker), and
/// each carries its own object's marker. (A reconcile makes up to three calls — both lists and the
/// create — so the deadline allows for many failed reconciles in a row at the 8 s retry cap.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_and_lost_create_answers_never_duplicate_a_livekit_trunk() {
    let env = started().await;
    let faults = env.lk.faults();
    for kind in ["Inbound", "Outbound"] {
        faults.drop_share_after_commit(&format!("POST /twirp/livekit.SIP/CreateSIP{kind}Trunk"), 0.3);
    }
    faults.fail_share("*", 0.1, 503);
    let names: Vec<(String, bool)> = (0..12).map(|i| (format!("t{i:02}"), i % 2 == 0)).collect();
    for (i, (name, inbound)) in names.iter().enumerate() {
        env.put_secret(&format!("{name}-sip"), "password", &format!("Pass-{i:04}-x")).await;
        let number = format!("+1415555{:04}", 1000 + i);
        env.apply(&lk_trunk(name, *inbound, &[number.as_str()])).await.expect("apply");
    }
    let ready = |t: &SipTrunk| {
        t.status.as_ref().is_some_and(|s| {
            s.observed_generation == t.metadata.generation
                && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
        })
    };
    let converged = wait_until(
        std::time::Duration::from_secs(120),
        || async { env.trunks().list(&Default::default()).await.map(|l| l.items).unwrap_or_default() },
        |ts: &Vec<SipTrunk>| ts.len() == 12 && ts.iter().all(ready),
    )
    .await;
    let Some(trunks) = converged else {
        let ts = env.trunks().list(&Default::default()).await.map(|l| l.items).unwrap_or_default();
        let stuck: Vec<String> = ts
            .iter()
            .filter(|t| !ready(t))
            .map(|t| format!("{:?}", t.status.as_ref().map(|s| &s.conditions)))
            .collect();
        panic!("not converged within 120 s: {stuck:#?}");
    };
    let mut ids: Vec<String> = trunks.iter().map(trunk_id).collect();
    faults.clear();
    let (inb, out) = env.remote();
    assert_eq!((inb.len(), out.len()), (6, 6), "one LiveKit trunk per SipTrunk: {inb:?} {out:?}");
    let mut markers: Vec<String> = inb
        .iter()
        .chain(out.iter())
        .map(|t| {
            let m = t["metadata"].as_str().unwrap_or_default();
            m.split_whitespace().find_map(|w| w.strip_prefix("key=")).unwrap_or_default().to_string()
        })
        .collect();
    markers.sort();
    markers.dedup();
    assert_eq!(markers.len(), 12, "every trunk carries its own object's marker: {markers:?}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12, "every SipTrunk records its own id");
    let failed: u64 = env
        .metrics()
        .lines()
        .filter(|l| l.starts_with("siptrunk_provider_calls_total") && l.contains("provider=\"livekit\""))
        .filter(|l| l.contains("status=\"503\"") || l.contains("status=\"error\""))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .map(|v| v as u64)
        .sum();
    assert!(failed > 0, "the faults fired");
    eprintln!("livekit faults: 12 trunks converged, {failed} failed calls, 0 duplicates");
    env.stop().await;
}
