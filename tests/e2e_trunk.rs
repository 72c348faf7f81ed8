//! End-to-end: a SipTrunk becomes a provider trunk through the real controller, for every
//! provider family; deletion removes it; missing and invalid input makes no provider call.

#[macro_use]
mod common;

use common::*;
use serde_json::json;

each_flavor! {
    applied_trunk_is_created_once_with_spec_fields_and_secret_password => created_once;
    deleted_trunk_is_removed_from_provider_and_finalizer_released => deleted;
    missing_password_secret_is_reported_without_provider_calls => missing_secret;
    unknown_provider_is_reported_without_provider_calls => unknown_provider;
    spec_the_provider_would_reject_is_invalid_without_provider_calls => invalid_spec;
}

async fn created_once(flavor: Family) {
    let env = World::start(flavor).await;
    env.put_secret("main-sip", "password", "first-secret-pw").await;
    let t = trunk(flavor, "main", 1);
    env.apply(&t).await.expect("apply");
    let done = env.wait_ready("main").await;
    let status = done.status.clone().expect("status");

    let remote = env.remote();
    assert_eq!(remote.len(), 1, "exactly one trunk at the provider: {remote:?}");
    let r = &remote[0];
    let id = r["id"].as_str().map(str::to_string).unwrap_or_else(|| r["id"].to_string());
    assert_eq!(status.trunk_id.as_deref(), Some(id.as_str()), "status.trunkId is the provider's id");
    assert!(env.password_matches(&id, "first-secret-pw"), "the Secret's password was sent");
    match flavor {
        Family::Autocalls | Family::Famulor => {
            assert_eq!(r["phone_number"], "+14155550001");
            assert_eq!(r["sip_username"], "user0001");
            assert_eq!(r["sip_address"], "sip.carrier.example");
            assert_eq!(r["sip_calling_format"], "+e164");
            assert_eq!(r["inbound_authorization_type"], "auth");
            assert_eq!(r["country_code"], "US");
            assert_eq!(
                status.inbound_trunk_id.as_deref(),
                r["inbound_trunk_id"].as_str(),
                "inbound id from the provider"
            );
            assert_eq!(
                status.outbound_trunk_id.as_deref(),
                r["outbound_trunk_id"].as_str(),
                "outbound id from the provider"
            );
            assert!(status.inbound_trunk_id.as_deref().is_some_and(|s| s.starts_with("ST_")));
            let nick = r["nickname"].as_str().unwrap_or_default();
            assert!(nick.contains("op:"), "nickname carries the ownership marker: {nick:?}");
        }
        Family::Bolna => {
            assert_eq!(r["auth_type"], "userpass");
            assert_eq!(r["auth_username"], "user0001");
            assert_eq!(r["gateways"][0]["gateway_address"], "sbc1.carrier.example");
            assert!(r["description"].as_str().unwrap_or_default().contains("key=op:"));
            let dids = status.phone_numbers.clone().unwrap_or_default();
            assert_eq!(dids.len(), 1, "the DID and its provider id are in status");
        }
        Family::Livekit => {
            assert_eq!(r["kind"], "outbound");
            assert_eq!(r["name"], "Line 1", "the display name is the trunk's name");
            assert_eq!(r["address"], "sip.carrier.example");
            assert_eq!(r["transport"], "SIP_TRANSPORT_TLS");
            assert_eq!(r["numbers"], json!(["+14155570001"]));
            assert_eq!(r["auth_username"], "user0001");
            assert!(id.starts_with("ST_"), "{id}");
            let meta = r["metadata"].as_str().unwrap_or_default();
            assert!(meta.contains("key=op:") && meta.ends_with("part=outbound"), "metadata carries the marker: {meta}");
        }
    }
    assert!(status.credentials_hash.as_deref().is_some_and(|h| h.starts_with("hmac-sha256:")));
    let conds: Vec<_> = status.conditions.iter().map(|c| (c.type_.as_str(), c.observed_generation)).collect();
    assert!(conds.contains(&("Ready", done.metadata.generation)), "Ready carries observedGeneration: {conds:?}");
    env.stop().await;
}

async fn deleted(flavor: Family) {
    let env = World::start(flavor).await;
    env.put_secret("gone-sip", "password", "pw-to-delete").await;
    env.apply(&trunk(flavor, "gone", 2)).await.expect("apply");
    env.wait_ready("gone").await;
    assert_eq!(env.remote().len(), 1);
    env.delete("gone").await;
    env.wait_gone("gone").await;
    assert!(env.remote().is_empty(), "the provider holds no trunk after delete: {:?}", env.remote());
    env.stop().await;
}

async fn missing_secret(flavor: Family) {
    let env = World::start(flavor).await;
    env.reset_calls();
    env.apply(&trunk(flavor, "nosecret", 3)).await.expect("apply");
    let t = env.wait_reason("nosecret", "SecretNotFound").await;
    assert!(ready_message(&t).contains("nosecret-sip"), "the message names the Secret: {}", ready_message(&t));
    assert_eq!(env.total_calls(), 0, "no provider call while the Secret is missing");
    // Creating the Secret wakes the trunk.
    env.put_secret("nosecret-sip", "password", "late-password").await;
    env.wait_ready("nosecret").await;
    assert_eq!(env.remote().len(), 1);
    env.stop().await;
}

async fn unknown_provider(flavor: Family) {
    let env = World::start(flavor).await;
    env.put_secret("orphan-sip", "password", "pw-orphan").await;
    env.reset_calls();
    let mut t = trunk(flavor, "orphan", 4);
    merge(&mut t, json!({"spec": {"providerRef": {"name": "does-not-exist"}}}));
    env.apply(&t).await.expect("apply");
    let t = env.wait_reason("orphan", "ProviderNotFound").await;
    assert!(ready_message(&t).contains("does-not-exist"));
    assert_eq!(env.total_calls(), 0, "no provider call for an unknown provider");
    env.stop().await;
}

async fn invalid_spec(flavor: Family) {
    let env = World::start(flavor).await;
    env.put_secret("bad-sip", "password", "pw-bad").await;
    env.reset_calls();
    // Valid for the schema, but not for this provider family.
    let mut t = trunk(flavor, "bad", 5);
    let field = match flavor {
        Family::Autocalls | Family::Famulor => {
            t = with_ip_auth(t, &["198.51.100.0/28"]);
            "spec.auth.allowedInboundIps[0]"
        }
        Family::Bolna | Family::Livekit => {
            merge(&mut t, json!({"spec": {"countryCode": "US"}}));
            "spec.countryCode"
        }
    };
    env.apply(&t).await.expect("the schema accepts it; the controller must refuse it");
    let got = env.wait_reason("bad", "InvalidSpec").await;
    assert!(ready_message(&got).contains(field), "the condition names {field}: {}", ready_message(&got));
    let stalled = got.status.as_ref().map(|s| s.conditions.iter().any(|c| c.type_ == "Stalled" && c.status == "True"));
    assert_eq!(stalled, Some(true), "Stalled=True for a spec the user must fix");
    assert_eq!(env.total_calls(), 0, "no provider call for an invalid spec");
    env.stop().await;
}
