//! What a create costs on the Kubernetes side, and the crash window it leaves.
//!
//! A family whose create carries the ownership marker in a field the provider always shows back
//! (bolna `description`, LiveKit `metadata`) writes no create intent ahead of the create: the
//! marker alone proves a trunk whose answer was lost. These tests count the writes per created
//! trunk of each family, and open the window that saving makes: the controller is killed after
//! the provider committed a create and before any status recorded it; after a restart the trunk is
//! adopted, not duplicated, and a SipTrunk deleted meanwhile still takes its trunk with it.
//!
//! Write counting needs the emulated API server (it records every call); against a real cluster
//! (SIPTRUNK_E2E_KUBECONFIG) that test reports it has nothing to count and passes; the crash
//! tests run the same there.

mod common;

use std::time::Duration;

use common::*;
use kube::ResourceExt;
use kube::api::DeleteParams;
use siptrunk_operator::emulator::{EmulatorConfig, Flavor};

/// Kubernetes writes the controller makes for one trunk from first sight to Ready, by resource.
async fn writes_for_one_trunk(flavor: Flavor) -> Option<Vec<String>> {
    let env = Env::start(flavor).await;
    let Some(kube) = env.kube.as_ref() else {
        env.stop().await;
        return None;
    };
    env.put_secret("t1-sip", "password", "s3cret-Password-1").await;
    // The provider's own status write is done before counting starts.
    env.apply_provider_seen(serde_json::json!({})).await;
    kube.clear_calls();
    env.apply(&trunk(flavor, "t1", 1)).await.expect("apply trunk");
    env.wait_ready("t1").await;
    // A write is recorded when its response starts, which may be after the test saw its effect:
    // wait until the last status write and the Event are in the record.
    let record = || async {
        kube.calls()
            .into_iter()
            .filter(|c| !matches!(c.verb.as_str(), "get" | "list" | "watch"))
            // The test's own apply of the trunk.
            .filter(|c| c.field_manager.as_deref() != Some("e2e"))
            .filter(|c| c.name.as_deref() != Some(PROVIDER) && c.name.as_deref() != Some("provider-token"))
            .map(|c| format!("{} {}{}", c.verb, c.resource, c.subresource.map(|s| format!("/{s}")).unwrap_or_default()))
            .collect::<Vec<String>>()
    };
    let complete = |w: &Vec<String>| {
        w.last().is_some_and(|l| l == "patch siptrunks/status") && w.iter().any(|x| x == "create events")
    };
    let writes = wait_until(DEADLINE, record, complete).await.unwrap_or_default();
    env.stop().await;
    Some(writes)
}

async fn create_writes(flavor: Flavor, expected: usize) {
    let Some(writes) = writes_for_one_trunk(flavor).await else {
        println!("{flavor}: against a real cluster there is no call record to count");
        return;
    };
    println!("{flavor}: Kubernetes writes for one created trunk: {writes:?}");
    let on_trunk = writes.iter().filter(|w| w.contains("siptrunks") || w.contains("events")).count();
    assert_eq!(on_trunk, expected, "{flavor}: writes on the SipTrunk and its Events: {writes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bolna_create_costs_three_kubernetes_writes_finalizer_status_and_event() {
    create_writes(Flavor::Bolna, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_autocalls_create_writes_its_intent_ahead_and_costs_four() {
    create_writes(Flavor::Autocalls, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_famulor_create_writes_its_intent_ahead_and_costs_four() {
    create_writes(Flavor::Famulor, 4).await;
}

/// Starts a bolna world whose creates are committed at once and answered 20 s later, applies
/// one trunk, and kills the controller as soon as the provider holds it: nothing recorded it.
async fn crash_in_the_create_window() -> Env {
    let flavor = Flavor::Bolna;
    let mut env = Env::start_with(flavor, EmulatorConfig::new(flavor).with_rate_limit(None), false).await;
    env.provider.faults().delay(&create_endpoint(flavor), Duration::from_secs(20));
    env.put_secret("t1-sip", "password", "s3cret-Password-1").await;
    env.apply(&trunk(flavor, "t1", 1)).await.expect("apply trunk");
    env.start_controller();
    env.wait_remote("the create committed", |r| r.len() == 1).await;
    env.kill_controller();
    let t = env.trunks().get("t1").await.expect("get t1");
    let status = t.status.unwrap_or_default();
    assert!(
        status.trunk_id.is_none() && status.create_intent.is_none(),
        "the crash came before any record of the create: {status:?}"
    );
    env.provider.faults().clear();
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_lost_to_a_crash_is_adopted_by_its_marker_after_the_restart() {
    let mut env = crash_in_the_create_window().await;
    let id = remote_id(&env.only_remote());
    env.start_controller();
    let t = env.wait_ready("t1").await;
    assert_eq!(t.status.and_then(|s| s.trunk_id), Some(id.clone()), "the committed trunk is adopted");
    assert_eq!(env.remote().len(), 1, "no second trunk: {:?}", env.remote());
    assert!(env.provider.password_matches(&env.token, &id, "s3cret-Password-1"), "the Secret's password is set");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_deleted_after_a_crash_in_the_create_window_is_removed_at_the_provider() {
    let mut env = crash_in_the_create_window().await;
    // Deleted while no controller runs: the finalizer holds the object.
    env.trunks().delete("t1", &DeleteParams::default()).await.expect("delete t1");
    let t = env.trunks().get("t1").await.expect("t1 is held by its finalizer");
    assert!(t.metadata.deletion_timestamp.is_some() && !t.finalizers().is_empty());
    env.start_controller();
    env.wait_gone("t1").await;
    assert!(env.remote().is_empty(), "the trunk the lost create made is gone: {:?}", env.remote());
    env.stop().await;
}

/// A SipTrunk that never reached a create (its provider does not exist) is deleted without
/// waiting for any provider, even where creates write no intent ahead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_never_created_bolna_trunk_whose_provider_is_missing_deletes_at_once() {
    let env = Env::start(Flavor::Bolna).await;
    env.put_secret("t1-sip", "password", "s3cret-Password-1").await;
    let mut t = trunk(Flavor::Bolna, "t1", 1);
    merge(&mut t, serde_json::json!({"spec": {"providerRef": {"name": "nowhere"}}}));
    env.apply(&t).await.expect("apply trunk");
    env.wait_reason("t1", "ProviderNotFound").await;
    env.trunks().delete("t1", &DeleteParams::default()).await.expect("delete t1");
    env.wait_gone("t1").await;
    assert_eq!(env.provider.total_calls(), 0, "no provider call for a trunk that could not have been created");
    env.stop().await;
}
