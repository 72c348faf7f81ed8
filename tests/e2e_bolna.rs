//! End-to-end, bolna.ai only: DIDs made equal to the spec (added, soft-deleted, compared without
//! their leading +), gateway and IP lists sent whole, and the fields bolna cannot change in place
//! refused by the API server.

mod common;

use common::*;
use serde_json::{Value, json};
use siptrunk_operator::crd::SipTrunk;
use siptrunk_operator::emulator::{EmulatorConfig, Flavor};

const B: Flavor = Flavor::Bolna;

/// A bolna trunk whose spec.bolna is merged with `bolna`.
fn bolna_trunk(name: &str, bolna: Value) -> Value {
    let mut t = trunk(B, name, 7);
    merge(&mut t, json!({"spec": {"bolna": bolna}}));
    t
}

fn dids(numbers: &[&str]) -> Value {
    json!({"phoneNumbers": numbers.iter().map(|n| json!({"number": n})).collect::<Vec<_>>()})
}

/// (number, deleted) of every DID the provider stores for the only trunk.
fn stored_dids(env: &Env) -> Vec<(String, bool)> {
    let r = env.only_remote();
    r["phone_numbers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p["phone_number"].as_str().unwrap_or_default().to_string(), p["deleted"].as_bool().unwrap_or(false)))
        .collect()
}

/// (number, id) pairs of status.phoneNumbers.
fn status_dids(t: &SipTrunk) -> Vec<(String, String)> {
    t.status
        .as_ref()
        .and_then(|s| s.phone_numbers.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|d| (d.number, d.id))
        .collect()
}

async fn started(name: &str, bolna: Value) -> (Env, SipTrunk) {
    let env = Env::start(B).await;
    env.put_secret(&format!("{name}-sip"), "password", "pw-bolna").await;
    env.apply(&bolna_trunk(name, bolna)).await.expect("apply");
    let t = env.wait_ready(name).await;
    (env, t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_did_is_registered_on_the_trunk_and_listed_in_status_with_its_id() {
    let (env, _) = started("add", dids(&["+14155560001"])).await;
    env.apply(&bolna_trunk("add", dids(&["+14155560001", "+14155560002"]))).await.expect("apply");
    let t = env.wait_ready("add").await;
    let live: Vec<_> = stored_dids(&env).into_iter().filter(|(_, deleted)| !deleted).map(|(n, _)| n).collect();
    assert_eq!(live, ["+14155560001", "+14155560002"]);
    let listed = status_dids(&t);
    assert_eq!(listed.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["+14155560001", "+14155560002"]);
    assert!(listed.iter().all(|(_, id)| !id.is_empty()), "each DID has its provider id: {listed:?}");
    assert_eq!(env.calls("POST", "/numbers"), 1, "one add call");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_did_is_soft_deleted_at_the_provider_and_dropped_from_status() {
    let (env, _) = started("remove", dids(&["+14155560011", "+14155560012"])).await;
    env.apply(&bolna_trunk("remove", dids(&["+14155560011"]))).await.expect("apply");
    let t = env.wait_for("remove", "one DID in status", |t| is_ready(t) && status_dids(t).len() == 1).await;
    assert_eq!(
        stored_dids(&env),
        [("+14155560011".to_string(), false), ("+14155560012".to_string(), true)],
        "the removed DID is soft-deleted"
    );
    assert_eq!(status_dids(&t)[0].0, "+14155560011", "status lists only live DIDs");
    assert_eq!(env.calls("DELETE", "/numbers"), 1, "one remove call");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn did_stored_without_plus_equals_the_spec_number_with_plus() {
    let (env, _) = started("plus", dids(&["919876543210"])).await;
    assert_eq!(stored_dids(&env), [("919876543210".to_string(), false)]);
    env.provider.reset_calls();
    env.apply(&bolna_trunk("plus", dids(&["+919876543210"]))).await.expect("apply");
    env.wait_ready("plus").await;
    assert_eq!(env.write_calls(), 0, "+91… in the spec and 91… at the provider are the same DID");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_gateway_list_is_sent_whole() {
    let gw = |port: u16| {
        json!({"gateways": [
            {"address": "sbc1.carrier.example", "port": 5060, "priority": 1},
            {"address": "sbc2.carrier.example", "port": port, "priority": 2}
        ]})
    };
    let (env, t) = started("gw", gw(5060)).await;
    env.apply(&bolna_trunk("gw", gw(5070))).await.expect("apply");
    env.wait_ready("gw").await;
    let r = env.only_remote();
    let stored: Vec<(String, i64)> = r["gateways"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| (g["gateway_address"].as_str().unwrap_or_default().to_string(), g["port"].as_i64().unwrap_or(0)))
        .collect();
    // bolna replaces the list with what the PATCH carries: the unchanged gateway must be in it.
    assert_eq!(stored, [("sbc1.carrier.example".to_string(), 5060), ("sbc2.carrier.example".to_string(), 5070)]);
    let id = t.status.and_then(|s| s.trunk_id).expect("id");
    assert_eq!(env.provider.trunk_stats(&env.token, &id).map(|s| (s.updates, s.password_writes)), Some((1, 0)));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_ip_list_is_sent_whole() {
    let env = Env::start(B).await;
    let t = with_ip_auth(trunk(B, "ips", 8), &["203.0.113.7", "198.51.100.0/28"]);
    env.apply(&t).await.expect("apply");
    env.wait_ready("ips").await;
    let t = with_ip_auth(trunk(B, "ips", 8), &["203.0.113.7", "198.51.100.0/28", "192.0.2.44"]);
    env.apply(&t).await.expect("apply");
    env.wait_ready("ips").await;
    let mut stored: Vec<String> = env.only_remote()["ip_identifiers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["ip_address"].as_str().map(str::to_string))
        .collect();
    stored.sort();
    assert_eq!(stored, ["192.0.2.44", "198.51.100.0/28", "203.0.113.7"]);
    env.stop().await;
}

/// Applies `changed` over `original` with no controller running; returns the refusal message.
async fn refused(original: Value, changed: Value) -> String {
    let env = Env::start_with(B, EmulatorConfig::new(B), false).await;
    env.apply(&original).await.expect("apply");
    let msg = match env.apply(&changed).await {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 422, "refused as invalid: {e:?}");
            e.message
        }
        other => panic!("the change was accepted: {other:?}"),
    };
    env.stop().await;
    msg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_type_change_is_refused_by_the_api_server_with_advice_to_recreate() {
    let original = trunk(B, "authfix", 9);
    let changed = with_ip_auth(trunk(B, "authfix", 9), &["203.0.113.7"]);
    let msg = refused(original, changed).await;
    assert!(msg.contains("auth.type") && msg.contains("delete this SipTrunk and create it again"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bolna_provider_change_is_refused_by_the_api_server_with_advice_to_recreate() {
    let original = trunk(B, "carrier", 10);
    let mut changed = trunk(B, "carrier", 10);
    merge(&mut changed, json!({"spec": {"bolna": {"provider": "twilio"}}}));
    let msg = refused(original, changed).await;
    assert!(msg.contains("bolna.provider") && msg.contains("delete and recreate"), "{msg}");
}
