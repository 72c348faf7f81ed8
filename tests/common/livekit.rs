//! The LiveKit flavor of the end-to-end harness: the same Kubernetes side and real controller
//! as [`super::Env`], with a [`LiveKitEmulator`] as the provider (a SipProvider of type livekit
//! with an API key, the API secret in the token Secret) and a LiveKit client of the same project
//! for edits "at the provider" (drift, foreign trunks).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use secrecy::SecretString;
use serde_json::{Value, json};
use siptrunk_operator::crd::SipProvider;
use siptrunk_operator::emulator::livekit::{LiveKitConfig, LiveKitEmulator};
use siptrunk_operator::kubeemu::KubeEmulator;
use siptrunk_operator::metrics::Metrics;
use siptrunk_operator::provider::livekit::{Client as LkClient, Config as LkConfig};
use siptrunk_operator::runner::{Instance, RunOptions};

use super::{Cluster, DEADLINE, PROVIDER, kube_client, merge, test_config, wait_until};

/// The emulated project's API key.
pub const KEY: &str = "APIe2eKey";

/// One LiveKit test's world.
pub struct LkEnv {
    /// Kubernetes client (emulated or real).
    pub client: Client,
    /// The emulated API server, when not running against a real cluster.
    pub kube: Option<KubeEmulator>,
    /// The LiveKit emulator.
    pub lk: LiveKitEmulator,
    /// Test namespace.
    pub ns: String,
    /// The project's API secret.
    pub secret: String,
    controller: Option<Instance>,
}

impl Cluster for LkEnv {
    fn client(&self) -> &Client {
        &self.client
    }

    fn namespace(&self) -> &str {
        &self.ns
    }
}

impl LkEnv {
    /// A world with a LiveKit project, its SipProvider and a running controller.
    pub async fn start() -> LkEnv {
        let (client, kube) = kube_client().await;
        let secret = format!("lk-secret-{:016x}", rand::random::<u64>());
        let lk = LiveKitEmulator::start(LiveKitConfig::default().with_key(KEY, secret.clone()))
            .await
            .expect("LiveKit emulator");
        let ns = format!("e2e-lk-{}", rand::random::<u32>());
        let nss: Api<Namespace> = Api::all(client.clone());
        nss.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": ns}})).expect("ns"))
            .await
            .expect("create namespace");
        let mut env = LkEnv { client, kube, lk, ns, secret, controller: None };
        env.put_secret("provider-token", "token", &env.secret.clone()).await;
        env.apply_provider(json!({})).await;
        env.start_controller();
        env
    }

    /// Starts (or restarts) the controller, scoped to the test namespace.
    pub fn start_controller(&mut self) {
        let opts = RunOptions { http_addr: None, controller: test_config(&self.ns, 8), lease: None };
        self.controller = Some(Instance::start(self.client.clone(), opts));
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

    /// Aborts the controller mid-flight, like a crash.
    pub fn kill_controller(&mut self) {
        if let Some(c) = self.controller.take() {
            c.kill();
        }
    }

    /// A client of the same project, for edits made at LiveKit by someone else.
    pub fn project(&self) -> LkClient {
        let mut cfg = LkConfig::new(self.lk.base_url(), KEY, SecretString::from(self.secret.clone()));
        cfg.allow_insecure_http = true;
        cfg.rate_per_second = 1000.0;
        cfg.burst = 100;
        LkClient::new(cfg, Arc::new(Metrics::default())).expect("project client")
    }

    /// Applies the test SipProvider (type livekit), merging `extra` into its spec.
    pub async fn apply_provider(&self, extra: Value) {
        let mut spec = json!({
            "type": "livekit",
            "apiKey": KEY,
            "apiTokenSecretRef": {"name": "provider-token", "key": "token"},
            "baseUrl": self.lk.base_url(),
            "allowInsecureHttp": true,
            "requestTimeout": "2s",
            "rateLimit": {"requestsPerMinute": 60000, "burst": 100}
        });
        merge(&mut spec, extra);
        let api: Api<SipProvider> = Api::namespaced(self.client.clone(), &self.ns);
        let obj = json!({"apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipProvider", "metadata": {"name": PROVIDER}, "spec": spec});
        api.patch(PROVIDER, &PatchParams::apply("e2e").force(), &Patch::Apply(&obj)).await.expect("apply provider");
    }

    /// Inbound and outbound trunks at LiveKit (passwords only as hashes).
    pub fn remote(&self) -> (Vec<Value>, Vec<Value>) {
        let s = self.lk.snapshot();
        let list = |k: &str| s[k].as_array().cloned().unwrap_or_default();
        (list("inbound"), list("outbound"))
    }

    /// Waits until LiveKit's state satisfies `pred`.
    pub async fn wait_remote(&self, what: &str, pred: impl Fn(&(Vec<Value>, Vec<Value>)) -> bool) {
        let got = wait_until(DEADLINE, || async { self.remote() }, |r| pred(r)).await;
        assert!(got.is_some(), "timed out waiting for LiveKit state: {what}; have {:?}", self.remote());
    }

    /// Calls of `POST /twirp/livekit.SIP/<method>`, any status.
    pub fn calls(&self, method: &str) -> u64 {
        let prefix = format!("POST /twirp/livekit.SIP/{method} ");
        self.lk.calls().iter().filter(|(k, _)| k.starts_with(&prefix)).map(|(_, n)| *n).sum()
    }

    /// Waits until `pred` holds for the emulator's call counts (`method` → calls).
    pub async fn wait_calls(&self, method: &str, at_least: u64) {
        let got = wait_until(DEADLINE, || async { self.calls(method) }, |n| *n >= at_least).await;
        assert!(got.is_some(), "timed out waiting for {at_least} calls of {method}; have {}", self.calls(method));
    }

    /// Tears down.
    pub async fn stop(mut self) {
        if let Some(c) = self.controller.take() {
            c.stop().await;
        }
        if let Some(k) = self.kube.take() {
            k.shutdown().await;
        } else {
            let nss: Api<Namespace> = Api::all(self.client.clone());
            let _ = nss.delete(&self.ns, &Default::default()).await;
        }
        self.lk.shutdown().await;
    }
}

/// A LiveKit SipTrunk: inbound (`numbers` called numbers) or outbound (to `sip.carrier.example`
/// with `numbers` as caller ids); the password Secret is `<name>-sip` with key `password`.
pub fn lk_trunk(name: &str, inbound: bool, numbers: &[&str]) -> Value {
    let block = if inbound {
        json!({"inbound": {"numbers": numbers}})
    } else {
        json!({"outbound": {"address": "sip.carrier.example", "transport": "tls", "numbers": numbers}})
    };
    json!({"apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipTrunk", "metadata": {"name": name}, "spec": {
        "providerRef": {"kind": "SipProvider", "name": PROVIDER},
        "displayName": format!("LK {name}"),
        "auth": {"type": "credentials", "username": "carrier", "passwordSecretRef": {"name": format!("{name}-sip"), "key": "password"}},
        "livekit": block
    }})
}
