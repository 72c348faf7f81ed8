//! Tenancy end to end: a namespaced SipProvider serves only its own namespace, and a
//! ClusterSipProvider reads its API token only from the namespace it names. One controller
//! watches every namespace (scoped to this test by a label selector).

mod common;

use common::*;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use siptrunk_operator::controller;
use siptrunk_operator::crd::{ClusterSipProvider, SipTrunk};
use siptrunk_operator::emulator::{EmulatorConfig, Flavor};
use siptrunk_operator::runner::{Instance, RunOptions};

const LABEL: &str = "siptrunk.dev/e2e-run";

/// The test's world plus a second namespace and a controller over all namespaces.
struct Tenants {
    env: Env,
    other: String,
    controller: Instance,
}

impl Tenants {
    async fn start(flavor: Flavor) -> Tenants {
        let env = Env::start_with(flavor, EmulatorConfig::new(flavor).with_rate_limit(None), false).await;
        let other = format!("{}-b", env.ns);
        let nss: Api<Namespace> = Api::all(env.client.clone());
        nss.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": other}})).expect("ns"))
            .await
            .expect("create namespace");
        let opts = RunOptions {
            http_addr: None,
            controller: controller::Config {
                namespace: None,
                label_selector: Some(format!("{LABEL}={}", env.ns)),
                concurrency: 4,
                egress: siptrunk_operator::provider::egress::EgressPolicy::loopback(),
                ..Default::default()
            },
            lease: None,
        };
        let controller = Instance::start(env.client.clone(), opts);
        Tenants { env, other, controller }
    }

    async fn put_secret(&self, ns: &str, name: &str, key: &str, value: &str) {
        let api: Api<Secret> = Api::namespaced(self.env.client.clone(), ns);
        let s: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
            "stringData": {key: value}
        }))
        .expect("secret");
        api.patch(name, &PatchParams::apply("e2e").force(), &Patch::Apply(&s)).await.expect("apply secret");
    }

    /// Applies a trunk in `ns`, labelled for this test's controller.
    async fn apply_trunk(&self, ns: &str, mut t: Value) {
        merge(&mut t, json!({"metadata": {"labels": {LABEL: self.env.ns}}}));
        let name = t["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let api: Api<SipTrunk> = Api::namespaced(self.env.client.clone(), ns);
        api.patch(&name, &PatchParams::apply("e2e").force(), &Patch::Apply(&t)).await.expect("apply trunk");
    }

    async fn wait(&self, ns: &str, name: &str, what: &str, pred: impl Fn(&SipTrunk) -> bool) -> SipTrunk {
        let api: Api<SipTrunk> = Api::namespaced(self.env.client.clone(), ns);
        let got = wait_until(
            DEADLINE,
            || {
                let api = api.clone();
                async move { api.get_opt(name).await.ok().flatten() }
            },
            |t: &Option<SipTrunk>| t.as_ref().is_some_and(&pred),
        )
        .await;
        match got {
            Some(Some(t)) => t,
            _ => panic!("{ns}/{name}: timed out waiting for {what}"),
        }
    }

    async fn stop(self) {
        self.controller.stop().await;
        let nss: Api<Namespace> = Api::all(self.env.client.clone());
        let _ = nss.delete(&self.other, &DeleteParams::default()).await;
        self.env.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespaced_provider_is_invisible_from_another_namespace() {
    let flavor = Flavor::Autocalls;
    let t = Tenants::start(flavor).await;
    let (a, b) = (t.env.ns.clone(), t.other.clone());
    // Control: the provider works for a trunk of its own namespace.
    t.put_secret(&a, "home-sip", "password", "pw-home").await;
    t.apply_trunk(&a, trunk(flavor, "home", 1)).await;
    t.wait(&a, "home", "Ready", is_ready).await;
    t.env.provider.reset_calls();

    // The same reference from namespace B.
    t.put_secret(&b, "away-sip", "password", "pw-away").await;
    t.apply_trunk(&b, trunk(flavor, "away", 2)).await;
    let got = t.wait(&b, "away", "ProviderNotFound", |x| ready_reason(x).as_deref() == Some("ProviderNotFound")).await;
    assert!(ready_message(&got).contains(&format!("SipProvider {b}/{PROVIDER}")), "{}", ready_message(&got));
    assert_eq!(t.env.provider.total_calls(), 0, "no provider call for a trunk of another namespace");
    assert_eq!(t.env.remote().len(), 1, "only the home trunk exists");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_provider_reads_its_token_only_from_the_namespace_it_names() {
    let flavor = Flavor::Bolna;
    let t = Tenants::start(flavor).await;
    let (a, b) = (t.env.ns.clone(), t.other.clone());
    // A second account whose token only namespace A holds.
    let token_a = format!("tok-a-{}", rand::random::<u32>());
    t.env.provider.add_token(&token_a, None);
    let cp = format!("shared-{a}");
    let api: Api<ClusterSipProvider> = Api::all(t.env.client.clone());
    let obj = json!({
        "apiVersion": "siptrunk.dev/v1alpha1", "kind": "ClusterSipProvider", "metadata": {"name": cp},
        "spec": {
            "type": "bolna",
            "apiTokenSecretRef": {"namespace": a, "name": "shared-token", "key": "token"},
            "baseUrl": t.env.provider.base_url(), "allowInsecureHttp": true, "requestTimeout": "2s"
        }
    });
    api.patch(&cp, &PatchParams::apply("e2e").force(), &Patch::Apply(&obj)).await.expect("cluster provider");

    // B holds a Secret of the same name with a token that works: it must be ignored.
    t.put_secret(&b, "shared-token", "token", &t.env.token).await;
    t.put_secret(&b, "team-sip", "password", "pw-team").await;
    let mut tr = trunk(flavor, "team", 3);
    merge(&mut tr, json!({"spec": {"providerRef": {"kind": "ClusterSipProvider", "name": cp}}}));
    t.env.provider.reset_calls();
    t.apply_trunk(&b, tr).await;
    let got = t.wait(&b, "team", "SecretNotFound", |x| ready_reason(x).as_deref() == Some("SecretNotFound")).await;
    assert!(
        ready_message(&got).contains(&format!("Secret {a}/shared-token")),
        "names the namespace it reads: {}",
        ready_message(&got)
    );
    assert_eq!(t.env.provider.total_calls(), 0, "no provider call without the token");

    // The token appears in A: the trunk wakes up and lands in A's account, not in B's.
    t.put_secret(&a, "shared-token", "token", &token_a).await;
    let got = t.wait(&b, "team", "Ready", is_ready).await;
    assert_eq!(t.env.provider.trunks(&token_a).len(), 1, "created with the token of namespace {a}");
    assert!(t.env.remote().is_empty(), "nothing used the token of the trunk's own namespace");
    assert_eq!(got.namespace().as_deref(), Some(b.as_str()));
    let _ = api.delete(&cp, &DeleteParams::default()).await;
    t.stop().await;
}

/// Issue 11, reproduction 1 across namespaces: two tenants share a ClusterSipProvider, and a
/// SipTrunk of the same name in namespace B asks to adopt A's trunk (same natural key,
/// `adoptExisting: true`, another password). The marker binds namespace and name, so B's object
/// sees another object's marker: Conflict, nothing written, A undisturbed, and deleting B's object
/// releases nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopt_existing_across_namespaces_never_takes_another_tenants_trunk() {
    let flavor = Flavor::Autocalls;
    let t = Tenants::start(flavor).await;
    let (a, b) = (t.env.ns.clone(), t.other.clone());
    let cp = format!("shared-{a}");
    let api: Api<ClusterSipProvider> = Api::all(t.env.client.clone());
    let obj = json!({
        "apiVersion": "siptrunk.dev/v1alpha1", "kind": "ClusterSipProvider", "metadata": {"name": cp},
        "spec": {
            "type": "autocalls",
            "apiTokenSecretRef": {"namespace": a, "name": "shared-token", "key": "token"},
            "baseUrl": t.env.provider.base_url(), "allowInsecureHttp": true, "requestTimeout": "2s"
        }
    });
    api.patch(&cp, &PatchParams::apply("e2e").force(), &Patch::Apply(&obj)).await.expect("cluster provider");
    t.put_secret(&a, "shared-token", "token", &t.env.token).await;
    let on_shared = |n: u32| {
        let mut tr = trunk(flavor, "line", n);
        merge(&mut tr, json!({"spec": {"providerRef": {"kind": "ClusterSipProvider", "name": cp}}}));
        tr
    };

    // Tenant A's trunk.
    t.put_secret(&a, "line-sip", "password", "pw-tenant-a").await;
    t.apply_trunk(&a, on_shared(7)).await;
    let victim = t.wait(&a, "line", "Ready", is_ready).await;
    let vid = victim.status.as_ref().and_then(|s| s.trunk_id.clone()).expect("victim id");
    let nickname = |env: &Env| {
        env.remote().into_iter().find(|r| remote_id(r) == vid).map(|r| r["nickname"].as_str().unwrap_or("").to_string())
    };
    let before = nickname(&t.env).expect("victim trunk");
    t.env.provider.reset_calls();

    // Tenant B: same object name, same natural key, adoptExisting, its own password.
    t.put_secret(&b, "line-sip", "password", "pw-tenant-b").await;
    let mut attacker = on_shared(7);
    merge(&mut attacker, json!({"spec": {"adoptExisting": true}}));
    t.apply_trunk(&b, attacker).await;
    let got = t.wait(&b, "line", "Conflict", |x| ready_reason(x).as_deref() == Some("Conflict")).await;
    assert!(ready_message(&got).contains(&vid), "names the trunk: {}", ready_message(&got));
    assert!(got.status.as_ref().and_then(|s| s.trunk_id.clone()).is_none(), "no id recorded: {:?}", got.status);
    assert!(!ready_message(&got).contains(&a), "B is not told A's namespace: {}", ready_message(&got));
    assert_eq!(t.env.write_calls(), 0, "nothing written to the provider");
    assert_eq!(nickname(&t.env).as_deref(), Some(before.as_str()), "A's marker untouched");
    assert!(t.env.provider.password_matches(&t.env.token, &vid, "pw-tenant-a"), "A keeps its password");
    let a_now = t.wait(&a, "line", "Ready", is_ready).await;
    assert_eq!(a_now.status.as_ref().and_then(|s| s.trunk_id.clone()).as_deref(), Some(vid.as_str()));

    // Deleting B's object releases nothing.
    let bt: Api<SipTrunk> = Api::namespaced(t.env.client.clone(), &b);
    bt.delete("line", &DeleteParams::default()).await.expect("delete");
    let gone = wait_until(
        DEADLINE,
        || {
            let bt = bt.clone();
            async move { bt.get_opt("line").await.ok().flatten().is_none() }
        },
        |g| *g,
    )
    .await;
    assert!(gone.is_some(), "B's object goes");
    assert!(nickname(&t.env).is_some(), "A's trunk still exists at the provider");
    assert_eq!(t.env.write_calls(), 0, "no delete, no update was sent");
    let _ = api.delete(&cp, &DeleteParams::default()).await;
    t.stop().await;
}
