//! The Kubernetes API calls the real controller makes, in RBAC terms, over a scenario that
//! touches every feature (create, drift repair, password rotation, missing Secret, a
//! ClusterSipProvider, delete behind the finalizer, Events, leader election with renewal and
//! release), in both watch modes. The result must equal the committed
//! `tests/chart/controller-api-calls.json`, which the chart tests compare with the rendered
//! (Cluster)Roles in both directions. Refresh it after an intended change with
//! `SIPTRUNK_BLESS=1 cargo test --test rbac`.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{DEADLINE, is_ready, merge, ready_reason, trunk, wait_until};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use siptrunk_operator::controller;
use siptrunk_operator::crd::{SipTrunk, SipTrunkStatus};
use siptrunk_operator::emulator::{EmulatorConfig, Flavor, ProviderEmulator};
use siptrunk_operator::kubeemu::{EmulatorOptions, KubeEmulator};
use siptrunk_operator::leader::LeaseConfig;
use siptrunk_operator::runner::{self, Instance, RunOptions};

/// The chart's names for release `sip` in `siptrunk-system` (tests/chart/chartlib.py), and the
/// watched namespace of its namespaced scenario, so the chart test can match names and scopes.
const RELEASE_NS: &str = "siptrunk-system";
const LEASE: &str = "sip-siptrunk-operator-leader";
const MARKER_KEY: &str = "sip-siptrunk-operator-marker-key";
const WATCHED: &str = "voice";
const GOLDEN: &str = "tests/chart/controller-api-calls.json";

/// One observed call: verb, `group/resource[/sub]`, namespace (None: cluster-wide) and, for
/// Leases and Secret gets only, the object name (the chart limits get/update on Leases and get
/// on the marker-key Secret by name).
type Call = (String, String, String, Option<String>, Option<String>);

struct World {
    kube: KubeEmulator,
    client: Client,
    provider: ProviderEmulator,
    token: String,
}

impl World {
    async fn start() -> World {
        let kube = KubeEmulator::start(EmulatorOptions { crds: siptrunk_operator::crd::all(), ..Default::default() })
            .await
            .expect("kube emulation");
        let client = kube.client().expect("client");
        let token = "tok-rbac".to_string();
        let provider =
            ProviderEmulator::start(EmulatorConfig::new(Flavor::Autocalls).with_rate_limit(None).with_token(&token))
                .await
                .expect("provider emulator");
        let nss: Api<Namespace> = Api::all(client.clone());
        for ns in [WATCHED, RELEASE_NS] {
            nss.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": ns}})).expect("ns"))
                .await
                .expect("namespace");
        }
        let w = World { kube, client, provider, token };
        w.put_secret("provider-token", "token", &w.token.clone()).await;
        let spec = json!({
            "type": "autocalls",
            "apiTokenSecretRef": {"name": "provider-token", "key": "token"},
            "baseUrl": w.provider.base_url(),
            "allowInsecureHttp": true,
            "requestTimeout": "2s",
        });
        w.apply(
            "sipproviders",
            json!({"kind": "SipProvider", "metadata": {"name": "prov", "namespace": WATCHED}, "spec": spec.clone()}),
        )
        .await;
        let mut cluster_spec = spec;
        merge(&mut cluster_spec, json!({"apiTokenSecretRef": {"namespace": WATCHED}}));
        w.apply(
            "clustersipproviders",
            json!({"kind": "ClusterSipProvider", "metadata": {"name": "shared"}, "spec": cluster_spec}),
        )
        .await;
        w
    }

    async fn apply(&self, plural: &str, mut obj: Value) {
        obj["apiVersion"] = json!("siptrunk.dev/v1alpha1");
        let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let ns = obj["metadata"]["namespace"].as_str().map(str::to_string);
        let ar = kube::api::ApiResource {
            group: "siptrunk.dev".into(),
            version: "v1alpha1".into(),
            api_version: "siptrunk.dev/v1alpha1".into(),
            kind: obj["kind"].as_str().unwrap_or_default().into(),
            plural: plural.into(),
        };
        let api: Api<kube::api::DynamicObject> = match ns {
            Some(ns) => Api::namespaced_with(self.client.clone(), &ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        };
        api.patch(&name, &PatchParams::apply("rbac-test").force(), &Patch::Apply(&obj)).await.expect("apply");
    }

    async fn put_secret(&self, name: &str, key: &str, value: &str) {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), WATCHED);
        let s: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name},
            "stringData": {key: value}
        }))
        .expect("secret");
        api.patch(name, &PatchParams::apply("rbac-test").force(), &Patch::Apply(&s)).await.expect("apply secret");
    }

    fn trunks(&self) -> Api<SipTrunk> {
        Api::namespaced(self.client.clone(), WATCHED)
    }

    async fn apply_trunk(&self, t: &Value) {
        let name = t["metadata"]["name"].as_str().unwrap_or_default().to_string();
        self.trunks()
            .patch(&name, &PatchParams::apply("rbac-test").force(), &Patch::Apply(t))
            .await
            .expect("apply trunk");
    }

    async fn wait_trunk(&self, name: &str, what: &str, pred: impl Fn(&SipTrunk) -> bool) -> SipTrunk {
        let api = self.trunks();
        let got = wait_until(
            DEADLINE,
            || async { api.get_opt(name).await.ok().flatten() },
            |t| t.as_ref().is_some_and(&pred),
        )
        .await;
        match got {
            Some(Some(t)) => t,
            _ => panic!(
                "timed out waiting for {name}: {what}; now {:?}",
                api.get_opt(name).await.ok().flatten().and_then(|t| t.status)
            ),
        }
    }

    async fn wait_remote(&self, what: &str, pred: impl Fn(&[Value]) -> bool) {
        let ok = wait_until(DEADLINE, || async { self.provider.trunks(&self.token) }, |r| pred(r)).await;
        assert!(
            ok.is_some(),
            "timed out waiting for the provider: {what}; have {:?}",
            self.provider.trunks(&self.token)
        );
    }

    /// Waits until a provider object reports Ready=True.
    async fn wait_provider_ready(&self, plural: &str, ns: Option<&str>, name: &str) {
        let kind = if plural == "sipproviders" { "SipProvider" } else { "ClusterSipProvider" };
        let ar = kube::api::ApiResource {
            group: "siptrunk.dev".into(),
            version: "v1alpha1".into(),
            api_version: "siptrunk.dev/v1alpha1".into(),
            kind: kind.into(),
            plural: plural.into(),
        };
        let api: Api<kube::api::DynamicObject> = match ns {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        };
        let ready = |o: &kube::api::DynamicObject| {
            o.data["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
        };
        let got = wait_until(
            DEADLINE,
            || async { api.get_opt(name).await.ok().flatten() },
            |o| o.as_ref().is_some_and(ready),
        )
        .await;
        assert!(got.is_some(), "{kind} {name} never reported Ready=True");
    }

    /// The controller's calls (told from the test's own by the operator's User-Agent).
    fn controller_calls(&self) -> Vec<siptrunk_operator::kubeemu::ApiCall> {
        self.kube.calls().into_iter().filter(|c| c.user_agent == runner::USER_AGENT).collect()
    }
}

fn trunk_id(t: &SipTrunk) -> String {
    t.status.as_ref().and_then(|s: &SipTrunkStatus| s.trunk_id.clone()).unwrap_or_default()
}

/// Runs the scenario against a controller watching `namespace` (None: all) and returns its calls.
async fn observe(namespace: Option<&str>) -> BTreeSet<Call> {
    let w = World::start().await;
    let config = kube::Config::new(w.kube.url().parse().expect("url"));
    let client = runner::client(config).expect("controller client");
    let mut lease = LeaseConfig::new(LEASE, RELEASE_NS, "rbac-test-pod");
    lease.lease_duration = Duration::from_secs(2);
    lease.retry_period = Duration::from_millis(100);
    let instance = Instance::start(
        client,
        RunOptions {
            http_addr: None,
            controller: controller::Config {
                namespace: namespace.map(str::to_string),
                label_selector: None,
                concurrency: 4,
                marker_key: controller::marker_key::MarkerKeySource::Secret {
                    namespace: Some(RELEASE_NS.into()),
                    name: MARKER_KEY.into(),
                },
                egress: siptrunk_operator::provider::egress::EgressPolicy::loopback(),
                ..controller::Config::default()
            },
            lease: Some(lease),
        },
    );

    // Create, with a short drift interval so that the repair below is quick.
    w.put_secret("main-sip", "password", "first-password").await;
    let mut main = trunk(Flavor::Autocalls, "main", 1);
    merge(&mut main, json!({"metadata": {"namespace": WATCHED}, "spec": {"driftCheckInterval": "1s"}}));
    w.apply_trunk(&main).await;
    let id = trunk_id(&w.wait_trunk("main", "Ready", is_ready).await);

    // Drift: a human edits the trunk at the provider; the controller puts it back.
    w.provider.edit_trunk(&w.token, &id, json!({"sip_address": "drifted.example"}));
    w.wait_remote("drift repaired", |r| r.iter().any(|t| t["sip_address"] == "sip.carrier.example")).await;
    w.wait_remote("drift seen", |_| w.provider.trunk_stats(&w.token, &id).is_some_and(|s| s.updates >= 1)).await;
    // The same drift again: the same Event (reason and note) counts in its series (a patch).
    w.provider.edit_trunk(&w.token, &id, json!({"sip_address": "drifted.example"}));
    w.wait_remote("drift repaired again", |_| w.provider.trunk_stats(&w.token, &id).is_some_and(|s| s.updates >= 2))
        .await;
    w.wait_remote("repaired", |r| r.iter().any(|t| t["sip_address"] == "sip.carrier.example")).await;

    // Password rotation through the Secret watch.
    w.put_secret("main-sip", "password", "second-password").await;
    w.wait_remote("password rotated", |_| w.provider.password_matches(&w.token, &id, "second-password")).await;

    // A missing Secret is reported (and an Event published) without provider calls.
    let mut lonely = trunk(Flavor::Autocalls, "lonely", 2);
    merge(&mut lonely, json!({"metadata": {"namespace": WATCHED}}));
    w.apply_trunk(&lonely).await;
    w.wait_trunk("lonely", "SecretNotFound", |t| ready_reason(t).as_deref() == Some("SecretNotFound")).await;

    // A trunk on the ClusterSipProvider.
    w.put_secret("shared-sip", "password", "third-password").await;
    let mut shared = trunk(Flavor::Autocalls, "shared", 3);
    merge(
        &mut shared,
        json!({"metadata": {"namespace": WATCHED}, "spec": {"providerRef": {"kind": "ClusterSipProvider", "name": "shared"}}}),
    );
    w.apply_trunk(&shared).await;
    w.wait_trunk("shared", "Ready", is_ready).await;

    // Provider health in the providers' status (a ClusterSipProvider's only from an instance
    // that watches every namespace).
    w.wait_provider_ready("sipproviders", Some(WATCHED), "prov").await;
    if namespace.is_none() {
        w.wait_provider_ready("clustersipproviders", None, "shared").await;
    }

    // A SipDispatchRule (here on a provider that is not livekit: finalizer, status, Event, and
    // a deletion that releases the finalizer without a provider call).
    let rules: Api<siptrunk_operator::crd::dispatch::SipDispatchRule> = Api::namespaced(w.client.clone(), WATCHED);
    w.apply(
        "sipdispatchrules",
        json!({"kind": "SipDispatchRule", "metadata": {"name": "support", "namespace": WATCHED}, "spec": {
            "providerRef": {"name": "prov"}, "trunkRefs": [{"name": "main"}], "rule": {"direct": {"roomName": "lobby"}}
        }}),
    )
    .await;
    let refused = wait_until(
        DEADLINE,
        || async { rules.get_opt("support").await.ok().flatten() },
        |r| {
            r.as_ref()
                .and_then(|r| r.status.as_ref())
                .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.reason == "ProviderNotLiveKit"))
        },
    )
    .await;
    assert!(refused.is_some(), "the rule was not reconciled");
    rules.delete("support", &DeleteParams::default()).await.expect("delete rule");
    let gone = wait_until(DEADLINE, || async { rules.get_opt("support").await.ok().flatten().is_none() }, |g| *g).await;
    assert!(gone.is_some(), "the rule was not deleted");

    // Delete behind the finalizer: the remote trunk goes, then the object.
    w.trunks().delete("main", &DeleteParams::default()).await.expect("delete");
    let api = w.trunks();
    let gone = wait_until(DEADLINE, || async { api.get_opt("main").await.ok().flatten().is_none() }, |g| *g).await;
    assert!(gone.is_some(), "main was not deleted");
    w.wait_remote("remote trunk deleted", |r| r.iter().all(|t| t["id"].to_string().trim_matches('"') != id)).await;

    // The lease has been renewed at least once; a graceful stop releases it.
    let renewed = wait_until(
        DEADLINE,
        || async { w.controller_calls() },
        |calls| calls.iter().filter(|c| c.resource == "leases" && c.verb == "update").count() >= 2,
    )
    .await;
    assert!(renewed.is_some(), "the leader never renewed its lease");
    instance.stop().await;
    let leases: Api<Lease> = Api::namespaced(w.client.clone(), RELEASE_NS);
    let held = leases.get(LEASE).await.expect("lease").spec.and_then(|s| s.holder_identity);
    assert_eq!(held, None, "a graceful stop releases the lease");

    let calls = w.controller_calls();
    assert!(!calls.is_empty(), "no call carried the operator's User-Agent");
    let out = calls
        .into_iter()
        .map(|c| {
            let resource = match &c.subresource {
                Some(s) => format!("{}/{s}", c.resource),
                None => c.resource.clone(),
            };
            // Names only where the chart limits a verb by name: the Lease, the marker-key Secret.
            let named = c.resource == "leases" || (c.resource == "secrets" && c.verb == "get");
            let name = if named { c.name.clone() } else { None };
            (c.verb, c.api_group, resource, c.namespace, name)
        })
        .collect();
    w.kube.shutdown().await;
    w.provider.shutdown().await;
    out
}

fn to_json(calls: &BTreeSet<Call>) -> Value {
    Value::Array(
        calls
            .iter()
            .map(|(verb, group, resource, ns, name)| {
                json!({"verb": verb, "apiGroup": group, "resource": resource, "namespace": ns, "name": name})
            })
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn controller_api_calls_equal_the_committed_list() {
    let (cluster, namespaced) = tokio::join!(observe(None), observe(Some(WATCHED)));

    // In namespaced mode nothing namespaced is read or written outside the watched namespace
    // and the release namespace: that is what lets the chart use a Role there.
    for (verb, _, resource, ns, _) in &namespaced {
        let cluster_scoped = resource.starts_with("clustersipproviders");
        assert!(
            cluster_scoped || ns.as_deref() == Some(WATCHED) || ns.as_deref() == Some(RELEASE_NS),
            "namespaced mode made a cluster-wide call: {verb} {resource}"
        );
    }
    for (verb, _, resource, _, _) in cluster.iter().chain(&namespaced) {
        assert!(!resource.is_empty(), "non-resource request {verb}: the chart grants no nonResourceURLs");
    }

    let text = serde_json::to_string_pretty(&json!({
        "about": "Kubernetes API calls of the controller, by tests/rbac.rs; compared with the chart's RBAC by tests/chart/test_rbac_calls.py. Regenerate: SIPTRUNK_BLESS=1 cargo test --test rbac",
        "release": {"name": "sip", "namespace": RELEASE_NS, "lease": LEASE},
        "modes": {
            "cluster": {"values": {}, "calls": to_json(&cluster)},
            "namespaced": {"values": {"watchNamespace": WATCHED}, "calls": to_json(&namespaced)},
        }
    }))
    .expect("json")
        + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    if std::env::var("SIPTRUNK_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &text).expect("write golden");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "the controller's API calls differ from {GOLDEN}; if intended, run SIPTRUNK_BLESS=1 cargo test --test rbac \
         and let tests/chart check the chart's rules against it.\nobserved:\n{text}"
    );
}
