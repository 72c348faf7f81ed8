//! One harness over all four provider families: [`World`] is an autocalls/famulor/bolna world
//! ([`super::Env`], the provider emulator) or a LiveKit one ([`super::livekit::LkEnv`]), with a
//! family-neutral view of the provider side — remote trunks, foreign trunks, edits behind the
//! operator's back, faults on "the create call" and "the list call", call counts, credentials —
//! so that one scenario runs over every family.

use std::fmt;

use kube::Client;
use serde_json::{Value, json};
use siptrunk_operator::emulator::{Faults, Flavor};

use super::livekit::{KEY, LkEnv};
use super::{Cluster, DEADLINE, Env, wait_until};

/// A provider family as the end-to-end suites see it: the three API flavors of the provider
/// emulator, and LiveKit SIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// autocalls.ai.
    Autocalls,
    /// famulor (the autocalls API elsewhere).
    Famulor,
    /// bolna.ai.
    Bolna,
    /// LiveKit SIP.
    Livekit,
}

impl Family {
    /// The provider emulator's flavor, or None for LiveKit (its own emulator).
    pub fn emulator(self) -> Option<Flavor> {
        match self {
            Family::Autocalls => Some(Flavor::Autocalls),
            Family::Famulor => Some(Flavor::Famulor),
            Family::Bolna => Some(Flavor::Bolna),
            Family::Livekit => None,
        }
    }

    /// autocalls or famulor.
    pub fn is_autocalls_family(self) -> bool {
        matches!(self, Family::Autocalls | Family::Famulor)
    }
}

impl From<Flavor> for Family {
    fn from(f: Flavor) -> Self {
        match f {
            Flavor::Autocalls => Family::Autocalls,
            Flavor::Famulor => Family::Famulor,
            Flavor::Bolna => Family::Bolna,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Autocalls => "autocalls",
            Family::Famulor => "famulor",
            Family::Bolna => "bolna",
            Family::Livekit => "livekit",
        })
    }
}

/// The fault selector and call-count key of one LiveKit method.
pub fn lk_endpoint(method: &str) -> String {
    format!("POST /twirp/livekit.SIP/{method}")
}

/// LiveKit methods that change trunks.
const LK_WRITES: [&str; 5] = [
    "CreateSIPInboundTrunk",
    "CreateSIPOutboundTrunk",
    "UpdateSIPInboundTrunk",
    "UpdateSIPOutboundTrunk",
    "DeleteSIPTrunk",
];

/// Writes to one remote trunk, counted the same way for every family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Writes {
    /// Updates of the trunk (PUT, PATCH, `Update…Trunk`); not the create.
    pub updates: u32,
    /// Updates that carried a password.
    pub password_writes: u32,
}

/// One test's world on any family.
pub enum World {
    /// autocalls, famulor or bolna: the provider emulator.
    Api(Env),
    /// LiveKit: the LiveKit emulator.
    Lk(LkEnv),
}

impl Cluster for World {
    fn client(&self) -> &Client {
        match self {
            World::Api(e) => &e.client,
            World::Lk(e) => &e.client,
        }
    }

    fn namespace(&self) -> &str {
        match self {
            World::Api(e) => &e.ns,
            World::Lk(e) => &e.ns,
        }
    }
}

impl World {
    /// A world of `family` with default provider behaviour and a running controller.
    pub async fn start(family: Family) -> World {
        match family.emulator() {
            Some(f) => World::Api(Env::start(f).await),
            None => World::Lk(LkEnv::start().await),
        }
    }

    /// The family.
    pub fn family(&self) -> Family {
        match self {
            World::Api(e) => e.flavor.into(),
            World::Lk(_) => Family::Livekit,
        }
    }

    /// The autocalls/famulor/bolna world, for flavor-specific checks (panics on LiveKit).
    pub fn api(&self) -> &Env {
        match self {
            World::Api(e) => e,
            World::Lk(_) => panic!("an emulator-flavor check on the LiveKit world"),
        }
    }

    /// The LiveKit world, for LiveKit-specific checks (panics on the other families).
    pub fn lk(&self) -> &LkEnv {
        match self {
            World::Lk(e) => e,
            World::Api(_) => panic!("a LiveKit check on an emulator-flavor world"),
        }
    }

    /// The test namespace.
    pub fn ns(&self) -> &str {
        self.namespace()
    }

    /// The credential in the provider's token Secret (API token, or LiveKit API secret).
    pub fn token(&self) -> &str {
        match self {
            World::Api(e) => &e.token,
            World::Lk(e) => &e.secret,
        }
    }

    /// Starts (or restarts) the controller.
    pub fn start_controller(&mut self) {
        match self {
            World::Api(e) => e.start_controller(),
            World::Lk(e) => e.start_controller(),
        }
    }

    /// Aborts the controller mid-flight, like a crash.
    pub fn kill_controller(&mut self) {
        match self {
            World::Api(e) => e.kill_controller(),
            World::Lk(e) => e.kill_controller(),
        }
    }

    /// Stops the controller gracefully.
    pub async fn stop_controller(&mut self) {
        match self {
            World::Api(e) => e.stop_controller().await,
            World::Lk(e) => e.stop_controller().await,
        }
    }

    /// The controller's metrics text.
    pub fn metrics(&self) -> String {
        match self {
            World::Api(e) => e.metrics(),
            World::Lk(e) => e.metrics(),
        }
    }

    /// Applies the test SipProvider, merging `extra` into its spec.
    pub async fn apply_provider(&self, extra: Value) {
        match self {
            World::Api(e) => e.apply_provider(extra).await,
            World::Lk(e) => e.apply_provider(extra).await,
        }
    }

    /// Deletes a Secret.
    pub async fn delete_secret(&self, name: &str) {
        let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
            kube::Api::namespaced(self.client().clone(), self.namespace());
        let _ = api.delete(name, &Default::default()).await;
    }

    /// Tears down.
    pub async fn stop(self) {
        match self {
            World::Api(e) => e.stop().await,
            World::Lk(e) => e.stop().await,
        }
    }

    // -----------------------------------------------------------------------------------------
    // The provider side

    /// Remote trunks, passwords only as hashes. LiveKit: outbound then inbound trunks, each
    /// with `id` (its `sip_trunk_id`) and `kind` added.
    pub fn remote(&self) -> Vec<Value> {
        match self {
            World::Api(e) => e.remote(),
            World::Lk(e) => {
                let (inb, out) = e.remote();
                let tag = |kind: &'static str| {
                    move |mut t: Value| {
                        let id = t["sip_trunk_id"].clone();
                        if let Some(m) = t.as_object_mut() {
                            m.insert("id".into(), id);
                            m.insert("kind".into(), json!(kind));
                        }
                        t
                    }
                };
                out.into_iter().map(tag("outbound")).chain(inb.into_iter().map(tag("inbound"))).collect()
            }
        }
    }

    /// The remote trunk with this id.
    pub fn remote_by_id(&self, id: &str) -> Option<Value> {
        self.remote().into_iter().find(|r| super::remote_id(r) == id)
    }

    /// The one remote trunk (panics unless the account holds exactly one).
    pub fn only_remote(&self) -> Value {
        let r = self.remote();
        assert_eq!(r.len(), 1, "exactly one trunk at the provider: {r:?}");
        r[0].clone()
    }

    /// Waits until the remote trunks satisfy `pred`.
    pub async fn wait_remote(&self, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let got = wait_until(DEADLINE, || async { self.remote() }, |r| pred(r)).await;
        got.unwrap_or_else(|| panic!("timed out waiting for provider state: {what}; have {:?}", self.remote()))
    }

    /// Whether the remote trunk `id` holds this SIP password.
    pub fn password_matches(&self, id: &str, password: &str) -> bool {
        match self {
            World::Api(e) => e.provider.password_matches(&e.token, id, password),
            World::Lk(e) => e.lk.password_matches(id, password),
        }
    }

    /// Updates (and password updates) of the remote trunk `id` so far. autocalls/famulor count
    /// every PUT, bolna every PATCH, LiveKit every `Update…Trunk` request naming it.
    pub fn writes_to(&self, id: &str) -> Writes {
        match self {
            World::Api(e) => {
                let s = e.provider.trunk_stats(&e.token, id).unwrap_or_else(|| panic!("no trunk {id} at the provider"));
                Writes { updates: s.updates, password_writes: s.password_writes }
            }
            World::Lk(e) => {
                let ups: Vec<_> = e.lk.updates().into_iter().filter(|u| u.trunk_id == id).collect();
                let pw = ups.iter().filter(|u| u.fields.contains(&"auth_password")).count();
                Writes { updates: ups.len() as u32, password_writes: pw as u32 }
            }
        }
    }

    /// Fault knobs; selectors from [`super::create_endpoint`], [`super::list_endpoint`], `"*"`.
    pub fn faults(&self) -> &Faults {
        match self {
            World::Api(e) => e.provider.faults(),
            World::Lk(e) => e.lk.faults(),
        }
    }

    /// The create call of this family (see [`super::create_endpoint`]).
    pub fn create_endpoint(&self) -> String {
        super::create_endpoint(self.family())
    }

    /// The list call of this family (see [`super::list_endpoint`]).
    pub fn list_endpoint(&self) -> String {
        super::list_endpoint(self.family())
    }

    /// Calls of one endpoint ("METHOD /route/template"), any status.
    pub fn endpoint_calls(&self, endpoint: &str) -> u64 {
        match self {
            World::Api(e) => e.endpoint_calls(endpoint),
            World::Lk(e) => {
                let prefix = format!("{endpoint} ");
                e.lk.calls().iter().filter(|(k, _)| k.starts_with(&prefix)).map(|(_, n)| *n).sum()
            }
        }
    }

    /// Calls of one endpoint answered with `status`.
    pub fn endpoint_calls_with(&self, endpoint: &str, status: u16) -> u64 {
        match self {
            World::Api(e) => e.provider.calls().get(endpoint, status),
            World::Lk(e) => e.lk.calls().get(&format!("{endpoint} {status}")).copied().unwrap_or_default(),
        }
    }

    /// Calls of one endpoint whose connection was dropped after the commit.
    pub fn dropped_calls(&self, endpoint: &str) -> u64 {
        match self {
            World::Api(e) => e.provider.calls().get(endpoint, siptrunk_operator::emulator::CallCounts::DROPPED),
            World::Lk(e) => e.lk.calls().get(&format!("{endpoint} dropped")).copied().unwrap_or_default(),
        }
    }

    /// Waits until `endpoint` has been called `at_least` times.
    pub async fn wait_endpoint_calls(&self, endpoint: &str, at_least: u64) {
        let got = wait_until(DEADLINE, || async { self.endpoint_calls(endpoint) }, |n| *n >= at_least).await;
        assert!(
            got.is_some(),
            "timed out waiting for {at_least} calls of {endpoint}; have {}",
            self.endpoint_calls(endpoint)
        );
    }

    /// Calls that change trunks at the provider (create, update, delete), any status.
    pub fn write_calls(&self) -> u64 {
        match self {
            World::Api(e) => e.write_calls(),
            World::Lk(_) => LK_WRITES.iter().map(|m| self.endpoint_calls(&lk_endpoint(m))).sum(),
        }
    }

    /// Delete calls of trunks.
    pub fn delete_calls(&self) -> u64 {
        match self {
            World::Api(e) => e.calls("DELETE", ""),
            World::Lk(_) => self.endpoint_calls(&lk_endpoint("DeleteSIPTrunk")),
        }
    }

    /// The call counts as text, for failure messages.
    pub fn calls_text(&self) -> String {
        match self {
            World::Api(e) => e.provider.calls().to_json().to_string(),
            World::Lk(e) => format!("{:?}", e.lk.calls()),
        }
    }

    /// All provider calls.
    pub fn total_calls(&self) -> u64 {
        match self {
            World::Api(e) => e.provider.total_calls(),
            World::Lk(e) => e.lk.total_calls(),
        }
    }

    /// Forgets the call counts (and LiveKit's recorded updates).
    pub fn reset_calls(&self) {
        match self {
            World::Api(e) => e.provider.reset_calls(),
            World::Lk(e) => e.lk.reset_calls(),
        }
    }

    /// The text of a remote trunk's field that carries ownership markers: autocalls/famulor
    /// `nickname`, bolna `description`, LiveKit `metadata`.
    pub fn marker_text(&self, r: &Value) -> String {
        let field = match self.family() {
            Family::Autocalls | Family::Famulor => "nickname",
            Family::Bolna => "description",
            Family::Livekit => "metadata",
        };
        r[field].as_str().unwrap_or_default().to_string()
    }

    /// A trunk someone else made at the provider, for an unrelated carrier
    /// (`sip.attacker.example`, username `attacker`, number `+14155559999`), whose marker field
    /// (see [`World::marker_text`]) holds `marker_text`. Returns its id.
    pub fn seed_foreign(&self, marker_text: &str) -> String {
        match self {
            World::Api(e) => {
                let seed = match e.flavor {
                    Flavor::Autocalls | Flavor::Famulor => json!({
                        "phone_number": "+14155559999", "sip_username": "attacker",
                        "sip_address": "sip.attacker.example", "nickname": marker_text,
                    }),
                    Flavor::Bolna => json!({
                        "name": "foreign", "description": marker_text,
                        "gateways": [{"gateway_address": "sip.attacker.example", "port": 5060, "priority": 1}],
                    }),
                };
                e.provider.seed_trunk(&e.token, seed)
            }
            World::Lk(e) => {
                let seed = json!({
                    "name": "foreign", "metadata": marker_text, "address": "sip.attacker.example",
                    "numbers": ["+14155559999"], "auth_username": "attacker", "auth_password": "attacker-pw",
                });
                e.lk.seed_trunk(false, seed).expect("seed a LiveKit trunk")
            }
        }
    }

    /// Makes `other` a second credential of the same account, so the current one can be revoked
    /// later without losing the trunks. LiveKit: nothing yet (a key has one secret; see
    /// [`World::revoke_credential`]).
    pub fn share_account(&self, other: &str) {
        if let World::Api(e) = self {
            e.provider.add_token(&e.token, Some("shared"));
            e.provider.add_token(other, Some("shared"));
        }
    }

    /// The provider stops accepting the current credential. LiveKit: the project's secret is
    /// regenerated as `successor` (a random one when None); elsewhere the token is revoked and
    /// `successor` must have been shared with [`World::share_account`].
    pub fn revoke_credential(&self, successor: Option<&str>) {
        match self {
            World::Api(e) => e.provider.revoke_token(&e.token),
            World::Lk(e) => {
                let random = format!("lk-regenerated-{:016x}", rand::random::<u64>());
                e.lk.add_key(KEY, successor.unwrap_or(&random));
            }
        }
    }

    /// The provider accepts `fresh` from now on: a new API token in its own account, or LiveKit's
    /// project secret regenerated as `fresh`.
    pub fn accept_credential(&self, fresh: &str) {
        match self {
            World::Api(e) => e.provider.add_token(fresh, None),
            World::Lk(e) => e.lk.add_key(KEY, fresh),
        }
    }
}
