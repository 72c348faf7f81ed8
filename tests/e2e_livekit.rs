//! End-to-end: SipTrunks on a LiveKit SIP provider, through the real controller, the emulated
//! Kubernetes API and the LiveKit emulator.

#[macro_use]
mod common;

use common::Cluster;
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

/// Calls that change the project (create, update, delete of trunks).
fn writes(env: &LkEnv) -> u64 {
    [
        "CreateSIPInboundTrunk",
        "CreateSIPOutboundTrunk",
        "UpdateSIPInboundTrunk",
        "UpdateSIPOutboundTrunk",
        "DeleteSIPTrunk",
    ]
    .iter()
    .map(|m| env.calls(m))
    .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_change_sends_only_the_changed_field() {
    let env = started().await;
    env.put_secret("in-sip", "password", PASSWORD).await;
    env.apply(&lk_trunk("in", true, &["+14155550100"])).await.expect("apply");
    let id = trunk_id(&env.wait_ready("in").await);
    let mut t = lk_trunk("in", true, &["+14155550100"]);
    merge(&mut t, json!({"spec": {"livekit": {"inbound": {"mediaEncryption": "require"}}}}));
    env.apply(&t).await.expect("apply change");
    env.wait_ready("in").await;
    env.wait_remote("SRTP required", |(inb, _)| {
        inb.first().is_some_and(|t| t["media_encryption"] == "SIP_MEDIA_ENCRYPT_REQUIRE")
    })
    .await;
    let updates = env.lk.updates();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(
        (updates[0].trunk_id.as_str(), updates[0].fields.as_slice()),
        (id.as_str(), ["media_encryption"].as_slice())
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_trunk_costs_no_write_over_drift_windows() {
    let env = started().await;
    env.put_secret("out-sip", "password", PASSWORD).await;
    env.apply(&lk_trunk("out", false, &["+14155550100"])).await.expect("apply");
    env.wait_ready("out").await;
    let after_create = writes(&env);
    assert_eq!(after_create, 1, "one create");
    // Four more drift windows (one list of each kind per window).
    let lists = env.calls("ListSIPOutboundTrunk");
    env.wait_calls("ListSIPOutboundTrunk", lists + 4).await;
    assert_eq!(writes(&env), after_create, "no write after the create: {:?}", env.lk.calls());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_password_secret_is_reported_without_livekit_calls() {
    let env = started().await;
    env.apply(&lk_trunk("in", true, &["+14155550100"])).await.expect("apply");
    let t = env.wait_reason("in", "SecretNotFound").await;
    assert!(common::ready_message(&t).contains("in-sip"), "{}", common::ready_message(&t));
    assert_eq!(env.lk.total_calls(), 0, "no LiveKit call while the Secret is missing");
    env.put_secret("in-sip", "password", PASSWORD).await;
    env.wait_ready("in").await;
    assert_eq!(env.remote().0.len(), 1);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_orphan_deletion_policy_leaves_the_livekit_trunk() {
    let env = started().await;
    env.put_secret("in-sip", "password", PASSWORD).await;
    let mut t = lk_trunk("in", true, &["+14155550100"]);
    merge(&mut t, json!({"spec": {"deletionPolicy": "Orphan"}}));
    env.apply(&t).await.expect("apply");
    let id = trunk_id(&env.wait_ready("in").await);
    env.delete("in").await;
    env.wait_gone("in").await;
    let (inb, _) = env.remote();
    assert_eq!(inb.len(), 1);
    assert_eq!(inb[0]["sip_trunk_id"], id.as_str());
    assert_eq!(env.calls("DeleteSIPTrunk"), 0);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_status_trunk_id_neither_updates_nor_deletes_the_foreign_trunk() {
    let env = started().await;
    env.put_secret("victim-sip", "password", PASSWORD).await;
    env.put_secret("attacker-sip", "password", "Attacker-pass-0003").await;
    env.apply(&lk_trunk("victim", false, &["+14155550100"])).await.expect("apply");
    env.apply(&lk_trunk("attacker", false, &["+14155550101"])).await.expect("apply");
    let vid = trunk_id(&env.wait_ready("victim").await);
    env.wait_ready("attacker").await;
    let before = env.remote().1.into_iter().find(|t| t["sip_trunk_id"] == vid.as_str()).expect("victim trunk");
    let writes_before = writes(&env);
    env.trunks()
        .patch_status(
            "attacker",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"status": {"trunkId": vid}})),
        )
        .await
        .expect("status patch");
    let mut touched = lk_trunk("attacker", false, &["+14155550101"]);
    merge(&mut touched, json!({"spec": {"livekit": {"outbound": {"destinationCountry": "DE"}}}}));
    env.apply(&touched).await.expect("apply");
    let a = env.wait_reason("attacker", "Conflict").await;
    assert!(common::ready_message(&a).contains(&vid), "{}", common::ready_message(&a));
    let after = env.remote().1.into_iter().find(|t| t["sip_trunk_id"] == vid.as_str()).expect("victim trunk");
    assert_eq!(after, before, "the victim's trunk is unchanged");
    env.delete("attacker").await;
    let a = env.wait_reason("attacker", "DeletionBlocked").await;
    assert!(common::ready_message(&a).contains(&vid), "{}", common::ready_message(&a));
    assert!(env.remote().1.iter().any(|t| t["sip_trunk_id"] == vid.as_str()), "the victim's trunk stays");
    assert_eq!(writes(&env), writes_before, "no LiveKit write at all");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_carrying_our_marker_is_found_again_when_status_was_lost() {
    let env = started().await;
    env.put_secret("in-sip", "password", PASSWORD).await;
    env.apply(&lk_trunk("in", true, &["+14155550100"])).await.expect("apply");
    let id = trunk_id(&env.wait_ready("in").await);
    let lost = env
        .trunks()
        .patch_status(
            "in",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"status": {"trunkId": null}})),
        )
        .await
        .expect("status patch");
    assert_eq!(trunk_id(&lost), "", "status lost its trunk id");
    // A spec change makes the controller look again right away.
    let mut t = lk_trunk("in", true, &["+14155550100"]);
    merge(&mut t, json!({"spec": {"displayName": "LK in renamed"}}));
    env.apply(&t).await.expect("apply");
    let t = env.wait_for("in", "Ready with the same trunk id", |t| common::is_ready(t) && trunk_id(t) == id).await;
    assert_eq!(trunk_id(&t), id);
    assert_eq!(env.remote().0.len(), 1, "no second trunk");
    assert_eq!(env.calls("CreateSIPInboundTrunk"), 1);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_crash_after_a_lost_create_answer_never_duplicates() {
    let mut env = started().await;
    env.put_secret("out-sip", "password", PASSWORD).await;
    env.lk.faults().drop_next_after_commit("POST /twirp/livekit.SIP/CreateSIPOutboundTrunk", 1);
    env.apply(&lk_trunk("out", false, &["+14155550100"])).await.expect("apply");
    env.wait_calls("CreateSIPOutboundTrunk", 1).await;
    env.kill_controller();
    env.start_controller();
    let t = env.wait_ready("out").await;
    let (_, out) = env.remote();
    assert_eq!(out.len(), 1, "no duplicate: {out:?}");
    assert_eq!(trunk_id(&t), out[0]["sip_trunk_id"].as_str().unwrap_or_default());
    assert_eq!(env.calls("CreateSIPOutboundTrunk"), 1);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_livekit_provider_reports_its_token_health_and_trunk_count() {
    let env = started().await;
    env.put_secret("in-sip", "password", PASSWORD).await;
    env.apply(&lk_trunk("in", true, &["+14155550100"])).await.expect("apply");
    env.wait_ready("in").await;
    let api: kube::Api<siptrunk_operator::crd::SipProvider> = kube::Api::namespaced(env.client.clone(), &env.ns);
    let healthy = wait_until(
        common::DEADLINE,
        || async { api.get(common::PROVIDER).await.ok().and_then(|p| p.status) },
        |s| {
            s.as_ref().is_some_and(|s| {
                s.trunks == Some(1) && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
            })
        },
    )
    .await;
    assert!(healthy.is_some(), "provider status: {:?}", api.get(common::PROVIDER).await.ok().and_then(|p| p.status));
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
