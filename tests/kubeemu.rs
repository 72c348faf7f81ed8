//! Tests of the Kubernetes API emulation through the real kube client, kube-runtime and kubectl.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use siptrunk_operator::crd::{self, SipTrunk};
use siptrunk_operator::kubeemu::{EmulatorOptions, KubeEmulator};
use std::time::Duration;

type R = Result<(), Box<dyn std::error::Error + Send + Sync>>;

async fn emu() -> Result<(KubeEmulator, kube::Client), Box<dyn std::error::Error + Send + Sync>> {
    let e = KubeEmulator::start(EmulatorOptions { crds: crd::all(), ..Default::default() }).await?;
    let c = e.client()?;
    Ok((e, c))
}

fn trunk(name: &str) -> Result<SipTrunk, serde_json::Error> {
    serde_json::from_value(json!({
        "apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipTrunk",
        "metadata": {"name": name},
        "spec": {
            "providerRef": {"kind": "SipProvider", "name": "p"},
            "phoneNumber": "+14155551234",
            "sipAddress": "sip.example.com",
            "auth": {"type": "credentials", "username": "user1", "passwordSecretRef": {"name": "s", "key": "password"}},
            "callingFormat": "+e164",
            "countryCode": "US"
        }
    }))
}

fn code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

#[tokio::test]
async fn crud_conflict_and_generation() -> R {
    let (emu, client) = emu().await?;
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let s: Secret = serde_json::from_value(json!({"metadata": {"name": "s"}, "stringData": {"password": "pw"}}))?;
    let created = secrets.create(&PostParams::default(), &s).await?;
    assert!(created.metadata.uid.is_some());
    let got = secrets.get("s").await?;
    assert_eq!(got.metadata.resource_version, created.metadata.resource_version);
    assert_eq!(secrets.list(&ListParams::default()).await?.items.len(), 1);
    let dup = secrets.create(&PostParams::default(), &s).await;
    assert_eq!(dup.as_ref().err().and_then(code), Some(409));

    let trunks: Api<SipTrunk> = Api::default_namespaced(client.clone());
    let t = trunks.create(&PostParams::default(), &trunk("t1")?).await?;
    assert_eq!(t.metadata.generation, Some(1));
    assert_eq!(t.spec.deletion_policy, Default::default());
    // replace with a new spec value: generation 2
    let mut t2 = t.clone();
    t2.spec.display_name = Some("Main".into());
    let t2 = trunks.replace("t1", &PostParams::default(), &t2).await?;
    assert_eq!(t2.metadata.generation, Some(2));
    // stale resourceVersion: 409
    let mut stale = t.clone();
    stale.spec.display_name = Some("Other".into());
    let err = trunks.replace("t1", &PostParams::default(), &stale).await;
    assert_eq!(err.as_ref().err().and_then(code), Some(409));
    // metadata-only and status changes do not bump generation
    let p = trunks.patch("t1", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}}))).await?;
    assert_eq!(p.metadata.generation, Some(2));
    let p = trunks.patch_status("t1", &PatchParams::default(), &Patch::Merge(json!({"status": {"trunkId": "42"}}))).await?;
    assert_eq!(p.metadata.generation, Some(2));
    assert_eq!(p.status.and_then(|s| s.trunk_id).as_deref(), Some("42"));
    // status in a main-resource write is ignored
    let p = trunks.patch("t1", &PatchParams::default(), &Patch::Merge(json!({"status": {"trunkId": "99"}}))).await?;
    assert_eq!(p.status.and_then(|s| s.trunk_id).as_deref(), Some("42"));
    // missing namespace is a 404, creating it makes it work
    let other: Api<Secret> = Api::namespaced(client.clone(), "nope");
    assert_eq!(other.create(&PostParams::default(), &s).await.err().as_ref().and_then(code), Some(404));
    let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    nss.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "nope"}}))?).await?;
    other.create(&PostParams::default(), &s).await?;
    assert_eq!(Api::<Secret>::all(client.clone()).list(&ListParams::default()).await?.items.len(), 2);
    // label selector and paging
    let sel = trunks.list(&ListParams::default().labels("a=b")).await?;
    assert_eq!(sel.items.len(), 1);
    assert!(trunks.list(&ListParams::default().labels("a!=b")).await?.items.is_empty());
    for i in 0..5 {
        trunks.create(&PostParams::default(), &trunk(&format!("page{i}"))?).await?;
    }
    let page = trunks.list(&ListParams::default().limit(2)).await?;
    assert_eq!(page.items.len(), 2);
    let rest = trunks.list(&ListParams::default().limit(10).continue_token(page.metadata.continue_.as_deref().unwrap_or(""))).await?;
    assert_eq!(rest.items.len(), 4);
    // delete without finalizers removes
    trunks.delete("t1", &DeleteParams::default()).await?;
    assert_eq!(trunks.get("t1").await.err().as_ref().and_then(code), Some(404));
    let calls = emu.calls();
    assert!(calls.iter().any(|c| c.rbac() == "patch siptrunk.dev/siptrunks/status"));
    assert!(calls.iter().any(|c| c.rbac() == "update siptrunk.dev/siptrunks"));
    assert!(calls.iter().any(|c| c.rbac() == "list /secrets" && c.namespace.is_none()));
    emu.shutdown().await;
    Ok(())
}
