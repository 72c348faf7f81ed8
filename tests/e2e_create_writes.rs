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

use common::family::{Family, World};
use common::*;
use kube::api::DeleteParams;
use kube::{Api, ResourceExt};
use siptrunk_operator::crd::SipProvider;
use siptrunk_operator::kubeemu::KubeEmulator;

fn kube_of(w: &World) -> Option<&KubeEmulator> {
    match w {
        World::Api(e) => e.kube.as_ref(),
        World::Lk(e) => e.kube.as_ref(),
    }
}

/// Kubernetes writes the controller makes for one trunk from first sight to Ready, by resource.
async fn writes_for_one_trunk(family: Family) -> Option<Vec<String>> {
    let w = World::start(family).await;
    if kube_of(&w).is_none() {
        w.stop().await;
        return None;
    }
    w.put_secret("t1-sip", "password", "s3cret-Password-1").await;
    // The provider's own status write is done before counting starts.
    let providers: Api<SipProvider> = Api::namespaced(w.client().clone(), w.namespace());
    let seen = wait_until(
        DEADLINE,
        || async { providers.get(PROVIDER).await.ok() },
        |p: &Option<SipProvider>| {
            p.as_ref().and_then(|p| p.status.as_ref()).is_some_and(|s| s.observed_generation.is_some())
        },
    )
    .await;
    assert!(seen.is_some(), "{family}: the controller did not observe the provider");
    let kube = kube_of(&w)?;
    kube.clear_calls();
    w.apply(&trunk(family, "t1", 1)).await.expect("apply trunk");
    w.wait_ready("t1").await;
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
    w.stop().await;
    Some(writes)
}

async fn create_writes(family: Family, expected: usize) {
    let Some(writes) = writes_for_one_trunk(family).await else {
        println!("{family}: against a real cluster there is no call record to count");
        return;
    };
    println!("{family}: Kubernetes writes for one created trunk: {writes:?}");
    let on_trunk = writes.iter().filter(|w| w.contains("siptrunks") || w.contains("events")).count();
    assert_eq!(on_trunk, expected, "{family}: writes on the SipTrunk and its Events: {writes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bolna_create_costs_three_kubernetes_writes_finalizer_status_and_event() {
    create_writes(Family::Bolna, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_livekit_create_costs_three_kubernetes_writes_finalizer_status_and_event() {
    create_writes(Family::Livekit, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_autocalls_create_writes_its_intent_ahead_and_costs_four() {
    create_writes(Family::Autocalls, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_famulor_create_writes_its_intent_ahead_and_costs_four() {
    create_writes(Family::Famulor, 4).await;
}

/// A world of `family` whose creates are committed at once and answered 20 s later: one trunk is
/// applied, and the controller is killed as soon as the provider holds it, before anything
/// recorded the create.
async fn crash_in_the_create_window(family: Family) -> World {
    let mut w = World::start(family).await;
    w.faults().delay(&w.create_endpoint(), Duration::from_secs(20));
    w.put_secret("t1-sip", "password", "s3cret-Password-1").await;
    w.apply(&trunk(family, "t1", 1)).await.expect("apply trunk");
    w.wait_remote("the create committed", |r| r.len() == 1).await;
    w.kill_controller();
    let t = w.trunks().get("t1").await.expect("get t1");
    let status = t.status.unwrap_or_default();
    assert!(
        status.trunk_id.is_none() && status.create_intent.is_none(),
        "{family}: the crash came before any record of the create: {status:?}"
    );
    w.faults().clear();
    w
}

async fn adopted_after_restart(family: Family) {
    let mut w = crash_in_the_create_window(family).await;
    let id = remote_id(&w.only_remote());
    w.start_controller();
    let t = w.wait_ready("t1").await;
    assert_eq!(t.status.and_then(|s| s.trunk_id), Some(id.clone()), "{family}: the committed trunk is adopted");
    assert_eq!(w.remote().len(), 1, "{family}: no second trunk: {:?}", w.remote());
    assert!(w.password_matches(&id, "s3cret-Password-1"), "{family}: the Secret's password is set");
    w.stop().await;
}

async fn removed_when_deleted_meanwhile(family: Family) {
    let mut w = crash_in_the_create_window(family).await;
    // Deleted while no controller runs: the finalizer holds the object.
    w.trunks().delete("t1", &DeleteParams::default()).await.expect("delete t1");
    let t = w.trunks().get("t1").await.expect("t1 is held by its finalizer");
    assert!(t.metadata.deletion_timestamp.is_some() && !t.finalizers().is_empty());
    w.start_controller();
    w.wait_gone("t1").await;
    assert!(w.remote().is_empty(), "{family}: the trunk the lost create made is gone: {:?}", w.remote());
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bolna_create_lost_to_a_crash_is_adopted_by_its_marker_after_the_restart() {
    adopted_after_restart(Family::Bolna).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_livekit_create_lost_to_a_crash_is_adopted_by_its_marker_after_the_restart() {
    adopted_after_restart(Family::Livekit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bolna_trunk_deleted_after_a_crash_in_the_create_window_is_removed_at_the_provider() {
    removed_when_deleted_meanwhile(Family::Bolna).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_livekit_trunk_deleted_after_a_crash_in_the_create_window_is_removed_at_the_provider() {
    removed_when_deleted_meanwhile(Family::Livekit).await;
}

/// A SipTrunk that never reached a create (its provider does not exist) is deleted without
/// waiting for any provider, even where creates write no intent ahead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_never_created_trunk_whose_provider_is_missing_deletes_at_once() {
    for family in [Family::Bolna, Family::Livekit] {
        let w = World::start(family).await;
        w.put_secret("t1-sip", "password", "s3cret-Password-1").await;
        let mut t = trunk(family, "t1", 1);
        merge(&mut t, serde_json::json!({"spec": {"providerRef": {"name": "nowhere"}}}));
        w.apply(&t).await.expect("apply trunk");
        w.wait_reason("t1", "ProviderNotFound").await;
        w.reset_calls();
        w.trunks().delete("t1", &DeleteParams::default()).await.expect("delete t1");
        w.wait_gone("t1").await;
        assert_eq!(w.total_calls(), 0, "{family}: no provider call for a trunk that could not have been created");
        w.stop().await;
    }
}
