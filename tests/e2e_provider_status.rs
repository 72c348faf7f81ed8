//! End-to-end: a SipProvider reports its health in status through the real controller: Ready
//! from the account's own list call (no call of its own), trunk count, last successful sync,
//! observedGeneration; a revoked token is Unauthorized, a missing token Secret SecretNotFound.

#[macro_use]
mod common;

use common::*;
use kube::Api;
use serde_json::json;
use siptrunk_operator::crd::SipProvider;

each_flavor! {
    provider_status_reports_token_health_and_trunk_count => provider_health;
    provider_status_reports_an_unavailable_provider_and_an_invalid_config => provider_unavailable_and_invalid;
}

fn ready_of(p: &SipProvider) -> Option<(String, String, String)> {
    let s = p.status.as_ref()?;
    let c = s.conditions.iter().find(|c| c.type_ == "Ready")?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn has_true(p: &SipProvider, type_: &str) -> bool {
    p.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

async fn wait_provider(env: &World, what: &str, pred: impl Fn(&SipProvider) -> bool) -> SipProvider {
    let api: Api<SipProvider> = Api::namespaced(env.client().clone(), env.ns());
    let mut last = None;
    let got = wait_until(
        DEADLINE,
        || {
            let api = api.clone();
            async move { api.get_opt(PROVIDER).await.ok().flatten() }
        },
        |p: &Option<SipProvider>| {
            last = p.as_ref().and_then(|p| p.status.clone());
            p.as_ref().is_some_and(&pred)
        },
    )
    .await;
    match got {
        Some(Some(p)) => p,
        _ => panic!("timed out waiting for the provider: {what}; last status {last:?}"),
    }
}

fn at_generation(p: &SipProvider) -> bool {
    p.status.as_ref().and_then(|s| s.observed_generation) == p.metadata.generation
        && p.status
            .as_ref()
            .is_some_and(|s| s.conditions.iter().all(|c| c.observed_generation == p.metadata.generation))
}

fn reason(p: &SipProvider) -> String {
    ready_of(p).map(|r| r.1).unwrap_or_default()
}

fn trunks(p: &SipProvider) -> Option<i64> {
    p.status.as_ref().and_then(|s| s.trunks)
}

async fn provider_health(flavor: Family) {
    let env = World::start(flavor).await;

    // No trunk yet: nothing has checked the token, and the status makes no call to find out.
    let p =
        wait_provider(&env, "NotChecked with 0 trunks", |p| reason(p) == "NotChecked" && trunks(p) == Some(0)).await;
    assert_eq!(ready_of(&p).map(|r| r.0).as_deref(), Some("Unknown"));
    assert!(at_generation(&p), "observedGeneration on status and conditions: {:?}", p.status);
    assert_eq!(env.total_calls(), 0, "provider status adds no provider call");

    // Trunks list through the account: the token is accepted, they are counted.
    for (name, n) in [("one", 1), ("two", 2)] {
        env.put_secret(&format!("{name}-sip"), "password", &format!("pw-{name}")).await;
        let mut t = trunk(flavor, name, n);
        merge(&mut t, json!({"spec": {"driftCheckInterval": "1s"}}));
        env.apply(&t).await.expect("apply");
        env.wait_ready(name).await;
    }
    let p =
        wait_provider(&env, "TokenAccepted with 2 trunks", |p| reason(p) == "TokenAccepted" && trunks(p) == Some(2))
            .await;
    assert_eq!(ready_of(&p).map(|r| r.0).as_deref(), Some("True"));
    assert!(at_generation(&p));
    assert!(!has_true(&p, "Stalled") && !has_true(&p, "Reconciling"), "{:?}", p.status);
    let synced = p.status.as_ref().and_then(|s| s.last_sync_time.clone()).expect("lastSyncTime after a list");
    assert!(chrono::DateTime::parse_from_rfc3339(&synced).is_ok(), "RFC 3339: {synced}");

    // A spec change is observed (generation 2) without losing the health.
    env.apply_provider(json!({"requestTimeout": "3s"})).await;
    wait_provider(&env, "generation 2 observed", |p| {
        p.metadata.generation == Some(2) && at_generation(p) && reason(p) == "TokenAccepted"
    })
    .await;

    // The provider revokes the token: the trunks' next list gets 401 and the provider says so.
    env.revoke_credential(None);
    let p = wait_provider(&env, "Unauthorized", |p| reason(p) == "Unauthorized").await;
    assert!(has_true(&p, "Stalled"), "a revoked token is for a human to fix: {:?}", p.status);
    let text = serde_json::to_string(&p.status).expect("json");
    assert!(!text.contains(env.token()), "the token never appears in status");
    assert!(
        p.status.as_ref().and_then(|s| s.last_sync_time.clone()).is_some_and(|t| t >= synced),
        "lastSyncTime keeps the last success"
    );

    // The token Secret goes: SecretNotFound, naming it.
    env.delete_secret("provider-token").await;
    let p = wait_provider(&env, "SecretNotFound", |p| reason(p) == "SecretNotFound").await;
    assert!(ready_of(&p).is_some_and(|r| r.2.contains("provider-token")), "names the Secret: {:?}", ready_of(&p));
    assert!(has_true(&p, "Stalled"));

    // A new, valid token in a new Secret (the old one is kept, Terminating, while trunks use
    // it: in-use protection): Ready again.
    let fresh = format!("tok-fresh-{}", rand::random::<u32>());
    env.accept_credential(&fresh);
    env.put_secret("provider-token-2", "token", &fresh).await;
    env.apply_provider(json!({"apiTokenSecretRef": {"name": "provider-token-2", "key": "token"}})).await;
    let p = wait_provider(&env, "TokenAccepted again", |p| reason(p) == "TokenAccepted").await;
    assert!(!has_true(&p, "Stalled"), "Stalled clears: {:?}", p.status);
    assert_eq!(trunks(&p), Some(2));

    // Deleting a trunk lowers the count.
    env.delete("two").await;
    env.wait_gone("two").await;
    wait_provider(&env, "1 trunk", |p| trunks(p) == Some(1)).await;
    env.stop().await;
}

/// A provider that answers 503 to the account's lists is ProviderUnavailable (Reconciling: the
/// operator retries, nobody has to act) and recovers by itself; a baseUrl the egress policy does
/// not allow is ProviderConfigInvalid (Stalled: a person must fix it) without a single call to it,
/// and recovers when the spec is fixed.
async fn provider_unavailable_and_invalid(flavor: Family) {
    let env = World::start(flavor).await;
    env.put_secret("one-sip", "password", "pw-one").await;
    let mut t = trunk(flavor, "one", 1);
    merge(&mut t, json!({"spec": {"driftCheckInterval": "1s"}}));
    env.apply(&t).await.expect("apply");
    env.wait_ready("one").await;
    wait_provider(&env, "TokenAccepted", |p| reason(p) == "TokenAccepted").await;

    env.faults().fail_share(&list_endpoint(flavor), 1.0, 503);
    let p = wait_provider(&env, "ProviderUnavailable", |p| reason(p) == "ProviderUnavailable").await;
    assert_eq!(ready_of(&p).map(|r| r.0).as_deref(), Some("False"));
    assert!(has_true(&p, "Reconciling") && !has_true(&p, "Stalled"), "retrying, not stalled: {:?}", p.status);
    assert!(ready_of(&p).is_some_and(|r| r.2.contains("503")), "says what failed: {:?}", ready_of(&p));
    env.faults().clear();
    let p = wait_provider(&env, "TokenAccepted after the outage", |p| reason(p) == "TokenAccepted").await;
    assert!(!has_true(&p, "Reconciling"), "{:?}", p.status);

    // A host outside the egress policy (the tests allow loopback only).
    env.reset_calls();
    env.apply_provider(json!({"baseUrl": "https://internal-admin.example.net/api"})).await;
    let p = wait_provider(&env, "ProviderConfigInvalid", |p| reason(p) == "ProviderConfigInvalid" && at_generation(p))
        .await;
    assert!(has_true(&p, "Stalled"), "a person must fix the spec: {:?}", p.status);
    assert!(
        ready_of(&p).is_some_and(|r| r.2.contains("internal-admin.example.net")),
        "names the refused host: {:?}",
        ready_of(&p)
    );
    assert_eq!(env.total_calls(), 0, "no call anywhere while the config is invalid");
    env.apply_provider(json!({})).await;
    let p =
        wait_provider(&env, "TokenAccepted after the fix", |p| reason(p) == "TokenAccepted" && at_generation(p)).await;
    assert!(!has_true(&p, "Stalled"), "{:?}", p.status);
    env.stop().await;
}
