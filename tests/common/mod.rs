//! End-to-end harness: a Kubernetes API (the in-process emulation, or a real cluster when
//! SIPTRUNK_E2E_KUBECONFIG is set), the provider emulator, and the real controller, plus
//! builders for SipTrunks and waits on conditions with deadlines.
#![allow(dead_code)]

pub mod family;
pub mod livekit;

#[allow(unused_imports)]
pub use family::{Family, World};

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use siptrunk_operator::controller;
use siptrunk_operator::crd::*;
use siptrunk_operator::emulator::{EmulatorConfig, Flavor, ProviderEmulator};
use siptrunk_operator::kubeemu::{EmulatorOptions, KubeEmulator};
use siptrunk_operator::runner::{Instance, RunOptions};

/// How long any wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// Name of the SipProvider every test trunk uses.
pub const PROVIDER: &str = "prov";

/// One test's world.
pub struct Env {
    /// Kubernetes client (emulated or real).
    pub client: Client,
    /// The emulated API server, when not running against a real cluster.
    pub kube: Option<KubeEmulator>,
    /// The provider emulator.
    pub provider: ProviderEmulator,
    /// Provider flavor.
    pub flavor: Flavor,
    /// Test namespace.
    pub ns: String,
    /// The provider API token.
    pub token: String,
    controller: Option<Instance>,
}

/// Controller settings of a test: its namespace, `concurrency` workers, and loopback allowed as
/// provider host (the emulators listen on 127.0.0.1).
pub fn test_config(ns: &str, concurrency: u16) -> controller::Config {
    controller::Config {
        namespace: Some(ns.to_string()),
        concurrency,
        egress: siptrunk_operator::provider::egress::EgressPolicy::loopback(),
        // Retries double from 1 s up to this: a test that injects failures converges within its
        // deadline whatever the dice (the default 5 min cap suits production, not a 30 s wait).
        max_backoff: Duration::from_secs(8),
        ..controller::Config::default()
    }
}

/// The provider type of a family.
pub fn provider_type(f: impl Into<Family>) -> ProviderType {
    match f.into() {
        Family::Autocalls => ProviderType::Autocalls,
        Family::Famulor => ProviderType::Famulor,
        Family::Bolna => ProviderType::Bolna,
        Family::Livekit => ProviderType::Livekit,
    }
}

async fn kube_client() -> (Client, Option<KubeEmulator>) {
    if std::env::var("SIPTRUNK_TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(std::env::var("SIPTRUNK_TEST_LOG").unwrap_or_default()))
            .with_test_writer()
            .try_init();
    }
    siptrunk_operator::kubeemu::install_crypto_provider();
    if let Ok(path) = std::env::var("SIPTRUNK_E2E_KUBECONFIG") {
        let kc = kube::config::Kubeconfig::read_from(&path).expect("read SIPTRUNK_E2E_KUBECONFIG");
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("kubeconfig");
        return (Client::try_from(cfg).expect("client"), None);
    }
    let emu = KubeEmulator::start(EmulatorOptions { crds: siptrunk_operator::crd::all(), ..Default::default() })
        .await
        .expect("start kube emulation");
    (emu.client().expect("client"), Some(emu))
}

/// The Kubernetes side of a test world — its namespace's SipTrunks, Secrets and Events — shared by
/// the harness of every provider emulator ([`Env`], [`livekit::LkEnv`]).
#[allow(async_fn_in_trait)]
pub trait Cluster {
    /// Kubernetes client (emulated or real).
    fn client(&self) -> &Client;

    /// The test namespace.
    fn namespace(&self) -> &str;

    /// SipTrunks of the test namespace.
    fn trunks(&self) -> Api<SipTrunk> {
        Api::namespaced(self.client().clone(), self.namespace())
    }

    /// Creates or replaces a Secret with one key.
    async fn put_secret(&self, name: &str, key: &str, value: &str) {
        let api: Api<Secret> = Api::namespaced(self.client().clone(), self.namespace());
        let s: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": self.namespace()},
            "data": {key: b64(value)}
        }))
        .expect("secret");
        api.patch(name, &PatchParams::apply("e2e").force(), &Patch::Apply(&s)).await.expect("apply secret");
    }

    /// Server-side applies a SipTrunk (as a GitOps tool would).
    async fn apply(&self, trunk: &Value) -> Result<SipTrunk, kube::Error> {
        let name = trunk["metadata"]["name"].as_str().unwrap_or_default().to_string();
        self.trunks().patch(&name, &PatchParams::apply("e2e").force(), &Patch::Apply(trunk)).await
    }

    /// Deletes a SipTrunk.
    async fn delete(&self, name: &str) {
        self.trunks().delete(name, &DeleteParams::default()).await.expect("delete trunk");
    }

    /// Waits until the trunk satisfies `pred`; panics with `what` and the last status at the deadline.
    async fn wait_for(&self, name: &str, what: &str, pred: impl Fn(&SipTrunk) -> bool) -> SipTrunk {
        wait_object(&self.trunks(), name, what, pred, |t| format!("{:?}", t.status)).await
    }

    /// Waits for Ready=True at the current generation.
    async fn wait_ready(&self, name: &str) -> SipTrunk {
        self.wait_for(name, "Ready=True at its generation", is_ready).await
    }

    /// Waits for Ready=False with `reason`.
    async fn wait_reason(&self, name: &str, reason: &str) -> SipTrunk {
        self.wait_for(name, &format!("Ready reason {reason}"), |t| ready_reason(t).as_deref() == Some(reason)).await
    }

    /// Waits until the object is gone.
    async fn wait_gone(&self, name: &str) {
        let api = self.trunks();
        let gone = wait_until(
            DEADLINE,
            || {
                let api = api.clone();
                let name = name.to_string();
                async move { api.get_opt(&name).await.ok().flatten().is_none() }
            },
            |g| *g,
        )
        .await;
        assert!(gone.is_some(), "timed out waiting for {name} to disappear");
    }

    /// Events (events.k8s.io/v1) about the named object in the test namespace.
    async fn events_for(&self, name: &str) -> Vec<k8s_openapi::api::events::v1::Event> {
        let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(self.client().clone(), self.namespace());
        let list = api.list(&Default::default()).await.expect("list events");
        list.items.into_iter().filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)).collect()
    }

    /// Events about `name` with this reason.
    async fn events_with_reason(&self, name: &str, reason: &str) -> Vec<k8s_openapi::api::events::v1::Event> {
        self.events_for(name).await.into_iter().filter(|e| e.reason.as_deref() == Some(reason)).collect()
    }
}

impl Cluster for Env {
    fn client(&self) -> &Client {
        &self.client
    }

    fn namespace(&self) -> &str {
        &self.ns
    }
}

impl Env {
    /// A world with default provider behaviour and a running controller.
    pub async fn start(flavor: Flavor) -> Env {
        Self::start_with(flavor, EmulatorConfig::new(flavor).with_rate_limit(None), true).await
    }

    /// A world with a custom provider emulator; the controller runs when `controller` is set.
    pub async fn start_with(flavor: Flavor, cfg: EmulatorConfig, controller: bool) -> Env {
        let (client, kube) = kube_client().await;
        let token = format!("tok-{}", rand::random::<u32>());
        let provider = ProviderEmulator::start(EmulatorConfig { tokens: vec![token.clone()], ..cfg })
            .await
            .expect("provider emulator");
        let ns = format!("e2e-{}", rand::random::<u32>());
        let nss: Api<Namespace> = Api::all(client.clone());
        nss.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": ns}})).expect("ns"))
            .await
            .expect("create namespace");
        let mut env = Env { client, kube, provider, flavor, ns, token, controller: None };
        env.put_secret("provider-token", "token", &env.token.clone()).await;
        env.apply_provider(json!({})).await;
        if controller {
            env.start_controller();
        }
        env
    }

    /// Starts (or restarts) the controller, scoped to the test namespace.
    pub fn start_controller(&mut self) {
        self.start_controller_with(|_| {});
    }

    /// Starts the controller with the test configuration changed by `tune`.
    pub fn start_controller_with(&mut self, tune: impl FnOnce(&mut controller::Config)) {
        let mut cfg = test_config(&self.ns, 8);
        tune(&mut cfg);
        let opts = RunOptions { http_addr: None, controller: cfg, lease: None };
        self.controller = Some(Instance::start(self.client.clone(), opts));
    }

    /// Aborts the controller mid-flight, like a crash.
    pub fn kill_controller(&mut self) {
        if let Some(c) = self.controller.take() {
            c.kill();
        }
    }

    /// Stops the controller gracefully.
    pub async fn stop_controller(&mut self) {
        if let Some(c) = self.controller.take() {
            c.stop().await;
        }
    }

    /// The controller's metrics text.
    pub fn metrics(&self) -> String {
        self.controller.as_ref().map(|c| c.metrics.encode()).unwrap_or_default()
    }

    /// Deletes a Secret.
    pub async fn delete_secret(&self, name: &str) {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.ns);
        let _ = api.delete(name, &DeleteParams::default()).await;
    }

    /// Applies the test SipProvider, merging `extra` into its spec.
    pub async fn apply_provider(&self, extra: Value) {
        let mut spec = json!({
            "type": provider_type(self.flavor).as_str(),
            "apiTokenSecretRef": {"name": "provider-token", "key": "token"},
            "baseUrl": self.provider.base_url(),
            "allowInsecureHttp": true,
            "requestTimeout": "2s",
            "rateLimit": {"requestsPerMinute": 60000, "burst": 100}
        });
        merge(&mut spec, extra);
        let api: Api<SipProvider> = Api::namespaced(self.client.clone(), &self.ns);
        let obj = json!({"apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipProvider", "metadata": {"name": PROVIDER}, "spec": spec});
        api.patch(PROVIDER, &PatchParams::apply("e2e").force(), &Patch::Apply(&obj)).await.expect("apply provider");
    }

    /// `apply_provider`, then waits until the running controller has seen this generation (its
    /// provider status reports it as observed), so a trunk applied next is judged against it and
    /// not against the provider the cache held before.
    pub async fn apply_provider_seen(&self, extra: Value) {
        self.apply_provider(extra).await;
        let api: Api<SipProvider> = Api::namespaced(self.client.clone(), &self.ns);
        let seen = wait_until(
            Duration::from_secs(30),
            || async { api.get(PROVIDER).await.ok() },
            |p: &Option<SipProvider>| {
                p.as_ref().is_some_and(|p| {
                    p.status.as_ref().is_some_and(|s| s.observed_generation.is_some())
                        && p.status.as_ref().and_then(|s| s.observed_generation) == p.metadata.generation
                })
            },
        )
        .await;
        assert!(seen.is_some(), "the controller did not observe the new SipProvider generation within 30 s");
    }

    /// Stored trunks at the provider.
    pub fn remote(&self) -> Vec<Value> {
        self.provider.trunks(&self.token)
    }

    /// Waits until the provider state satisfies `pred`.
    pub async fn wait_remote(&self, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let got = wait_until(DEADLINE, || async { self.remote() }, |r| pred(r)).await;
        got.unwrap_or_else(|| panic!("timed out waiting for provider state: {what}; have {:?}", self.remote()))
    }

    /// Calls to the provider whose route contains `needle` and whose method is `method`.
    pub fn calls(&self, method: &str, needle: &str) -> u64 {
        self.provider
            .calls()
            .by_key
            .iter()
            .filter(|(k, _)| k.method == method && k.route.contains(needle))
            .map(|(_, n)| *n)
            .sum()
    }

    /// Tears down.
    /// On a real cluster the namespace is deleted while the controller still runs, so that its
    /// finalizers (trunks, in-use protection of the token Secret and SipProvider) are released.
    pub async fn stop(mut self) {
        if let Some(k) = self.kube.take() {
            self.stop_controller().await;
            k.shutdown().await;
        } else {
            let nss: Api<Namespace> = Api::all(self.client.clone());
            let _ = nss.delete(&self.ns, &DeleteParams::default()).await;
            let ns = self.ns.clone();
            let _ = wait_until(
                DEADLINE,
                || {
                    let (nss, ns) = (nss.clone(), ns.clone());
                    async move { nss.get_opt(&ns).await.ok().flatten().is_none() }
                },
                |gone| *gone,
            )
            .await;
            self.stop_controller().await;
        }
    }
}

/// Waits until the named object satisfies `pred`; at the deadline panics with `what` and
/// `show` of the last version seen (its status).
pub async fn wait_object<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    pred: impl Fn(&K) -> bool,
    show: impl Fn(&K) -> String,
) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut last = None;
    let got = wait_until(
        DEADLINE,
        || {
            let api = api.clone();
            let name = name.to_string();
            async move { api.get_opt(&name).await.ok().flatten() }
        },
        |o: &Option<K>| {
            last = o.clone();
            o.as_ref().is_some_and(&pred)
        },
    )
    .await;
    match got {
        Some(Some(o)) => o,
        _ => {
            panic!("timed out waiting for {name}: {what}; last status: {}", last.map(|o| show(&o)).unwrap_or_default())
        }
    }
}

/// Polls `probe` until `done` accepts its value or the deadline passes (returns None then).
pub async fn wait_until<T, F, Fut>(deadline: Duration, mut probe: F, mut done: impl FnMut(&T) -> bool) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        let v = probe().await;
        if done(&v) {
            return Some(v);
        }
        if tokio::time::Instant::now() >= end {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn b64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Deep-merges `patch` into `base` (objects merge, everything else replaces; null removes).
pub fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(&k);
                } else {
                    merge(b.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (b, p) => *b = p,
    }
}

/// Ready=True with observedGeneration equal to the generation.
pub fn is_ready(t: &SipTrunk) -> bool {
    t.status.as_ref().is_some_and(|s| {
        s.observed_generation == t.metadata.generation
            && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

/// The Ready condition's reason.
pub fn ready_reason(t: &SipTrunk) -> Option<String> {
    t.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready")).map(|c| c.reason.clone())
}

/// The Ready condition's message.
pub fn ready_message(t: &SipTrunk) -> String {
    t.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

/// A valid SipTrunk for a family, as JSON (tests tweak it with `merge`). The password Secret
/// is `<name>-sip` with key `password`. On LiveKit it is an outbound trunk (the kind with a
/// carrier address, like the other families' trunks), caller id `+1415557<n>`.
pub fn trunk(family: impl Into<Family>, name: &str, n: u32) -> Value {
    let spec = match family.into() {
        Family::Autocalls | Family::Famulor => json!({
            "providerRef": {"kind": "SipProvider", "name": PROVIDER},
            "displayName": format!("Line {n}"),
            "phoneNumber": format!("+1415555{:04}", n % 10000),
            "numberType": "number",
            "sipAddress": "sip.carrier.example",
            "auth": {"type": "credentials", "username": format!("user{n:04}"), "passwordSecretRef": {"name": format!("{name}-sip"), "key": "password"}},
            "callingFormat": "+e164",
            "countryCode": "US"
        }),
        Family::Livekit => json!({
            "providerRef": {"kind": "SipProvider", "name": PROVIDER},
            "displayName": format!("Line {n}"),
            "auth": {"type": "credentials", "username": format!("user{n:04}"), "passwordSecretRef": {"name": format!("{name}-sip"), "key": "password"}},
            "livekit": {"outbound": {
                "address": "sip.carrier.example",
                "transport": "tls",
                "numbers": [format!("+1415557{:04}", n % 10000)]
            }}
        }),
        Family::Bolna => json!({
            "providerRef": {"kind": "SipProvider", "name": PROVIDER},
            "displayName": format!("Line {n}"),
            "auth": {"type": "credentials", "username": format!("user{n:04}"), "passwordSecretRef": {"name": format!("{name}-sip"), "key": "password"}},
            "bolna": {
                "provider": "custom",
                "gateways": [{"address": "sbc1.carrier.example", "port": 5060, "priority": 1}],
                "phoneNumbers": [{"number": format!("+1415556{:04}", n % 10000)}],
                "inboundEnabled": true
            }
        }),
    };
    json!({"apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipTrunk", "metadata": {"name": name}, "spec": spec})
}

/// The same trunk with IP authentication for inbound calls.
pub fn with_ip_auth(mut t: Value, ips: &[&str]) -> Value {
    merge(&mut t, json!({"spec": {"auth": {"type": "ip", "allowedInboundIps": ips}}}));
    if t["spec"]["bolna"].is_object()
        && let Some(a) = t["spec"]["auth"].as_object_mut()
    {
        a.remove("passwordSecretRef");
    }
    t
}

/// Labels map helper.
pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A trunk's name.
pub fn name_of(t: &SipTrunk) -> String {
    t.name_any()
}

/// One module `$name` with one test per listed family (`fn_name: Variant`) running `$scenario`.
#[allow(unused_macros)]
macro_rules! family_tests {
    ($name:ident => $scenario:path; $($f:ident: $F:ident),*) => {
        mod $name {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $f() { $scenario(crate::common::Family::$F).await }
            )*
        }
    };
}

/// Runs one async scenario (`async fn(Family)`) for each provider family — autocalls, famulor,
/// bolna and LiveKit — as separate tests named `<behaviour>::<family>`; the scenario starts its
/// [`World`] with `World::start(family)`. Use with `#[macro_use] mod common;`.
#[allow(unused_macros)]
macro_rules! each_flavor {
    ($($name:ident => $scenario:path;)*) => {$(
        family_tests!($name => $scenario; autocalls: Autocalls, famulor: Famulor, bolna: Bolna, livekit: Livekit);
    )*};
}

/// [`each_flavor!`] without LiveKit, for scenarios that cannot apply to it (each use says why):
/// autocalls, famulor and bolna.
#[allow(unused_macros)]
macro_rules! each_api_flavor {
    ($($name:ident => $scenario:path;)*) => {$(
        family_tests!($name => $scenario; autocalls: Autocalls, famulor: Famulor, bolna: Bolna);
    )*};
}

/// The documented route of the trunk collection (list and create) of a flavor.
pub fn trunks_route(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Autocalls | Flavor::Famulor => "/user/phone-numbers/sip-trunks",
        Flavor::Bolna => "/sip-trunks/trunks",
    }
}

/// The fault selector of the create call of a family (on LiveKit: of the outbound trunk that
/// [`trunk`] makes there).
pub fn create_endpoint(family: impl Into<Family>) -> String {
    match family.into().emulator() {
        Some(f) => format!("POST {}", trunks_route(f)),
        None => family::lk_endpoint("CreateSIPOutboundTrunk"),
    }
}

/// The fault selector of the list call of a family (on LiveKit: the outbound list).
pub fn list_endpoint(family: impl Into<Family>) -> String {
    match family.into().emulator() {
        Some(f) => format!("GET {}", trunks_route(f)),
        None => family::lk_endpoint("ListSIPOutboundTrunk"),
    }
}

/// A stored remote trunk's id as text (integer on autocalls/famulor, string on bolna and on
/// LiveKit, where [`World::remote`] copies `sip_trunk_id` to `id`).
pub fn remote_id(r: &Value) -> String {
    r["id"].as_str().map(str::to_string).unwrap_or_else(|| r["id"].to_string())
}

impl Env {
    /// Calls of one exact endpoint ("METHOD /route/template"), any status.
    pub fn endpoint_calls(&self, endpoint: &str) -> u64 {
        self.provider.calls().endpoint(endpoint)
    }

    /// Provider write calls (POST, PUT, PATCH, DELETE), any route and status.
    pub fn write_calls(&self) -> u64 {
        let c = self.provider.calls();
        ["POST", "PUT", "PATCH", "DELETE"].iter().map(|m| c.method(m)).sum()
    }

    /// Waits until the provider has counted `at_least` calls of `endpoint`.
    pub async fn wait_endpoint_calls(&self, endpoint: &str, at_least: u64) {
        let got = wait_until(DEADLINE, || async { self.endpoint_calls(endpoint) }, |n| *n >= at_least).await;
        assert!(
            got.is_some(),
            "timed out waiting for {at_least} calls of {endpoint}; have {}",
            self.endpoint_calls(endpoint)
        );
    }

    /// The one stored remote trunk (panics unless the account holds exactly one).
    pub fn only_remote(&self) -> Value {
        let r = self.remote();
        assert_eq!(r.len(), 1, "exactly one trunk at the provider: {r:?}");
        r[0].clone()
    }
}

/// The condition of `type_` on a trunk, if present.
pub fn condition(t: &SipTrunk, type_: &str) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    t.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == type_).cloned())
}
