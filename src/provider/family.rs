//! A provider family as a type: the types of its desired trunk, observed trunk and partial
//! update, the spec's translation and validation, where its marker and natural key live (the
//! model traits), the capabilities the code consults, and the client operations. One
//! implementation per family folder (`provider/autocalls`, `provider/bolna`, `provider/livekit`); famulor is a
//! configuration of the autocalls family. The controller's reconcile is generic over it, and
//! [`with_family!`] is the one place a provider type is mapped to its family.

use std::future::Future;

use secrecy::SecretString;

use super::error::ProviderError;
use super::http::HttpClient;
use super::list::Skipped;
use crate::crd::{ProviderType, SipTrunkSpec, SipTrunkStatus};
use crate::model::{self, DesiredTrunk, RemoteTrunk, TrunkChange};

/// What a provider can do, declared instead of discovered by failing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Create and update accept `nickname` (autocalls); otherwise it is set through the
    /// phone-number endpoint and read from the phone-number list (famulor, API.md §2.10).
    pub nickname_in_trunk_writes: bool,
    /// The trunk carries DIDs as a sub-resource (bolna): a create sends them along.
    pub dids: bool,
    /// IP allow-lists accept CIDR ranges (bolna).
    pub cidr_allow_list: bool,
    /// List items lack ids only a single-trunk read returns (autocalls internal trunk ids,
    /// trap 2): a trunk about to be written is read once when status has none.
    pub ids_only_on_get: bool,
    /// The create request itself carries the ownership marker, in a field the provider always
    /// shows back (bolna `description`, LiveKit `metadata`): a trunk whose create answer was lost
    /// is recognised by the marker alone, so the create needs no write-ahead intent in status
    /// (one Kubernetes write less per created trunk). autocalls may drop the nickname of a create
    /// (older API revision) and famulor sets it by a follow-up call: they write the intent first.
    pub marker_in_create: bool,
}

/// Who reports an error about one spec field: its path and what is wrong.
pub type FieldSink<'a> = &'a mut dyn FnMut(&str, String);

/// A provider API family.
pub trait Family: Send + Sync + Sized + 'static {
    /// The trunk a spec asks for.
    type Desired: DesiredTrunk<Remote = Self::Remote, Change = Self::Change>;
    /// A trunk as the provider returns it.
    type Remote: RemoteTrunk;
    /// A partial update computed by the diff.
    type Change: TrunkChange;
    /// The client of one account.
    type Client: Send + Sync + 'static;

    /// Every field the family writes, with how the provider shows it back (visible, write-only,
    /// unreliably visible) and where it can be set. tests/unreliable_fields.rs checks it against
    /// every field the family's creates and updates can send.
    const FIELDS: &'static [model::Field];

    /// The family's own settings of a spec, by path (of `SipTrunkSpec::family_settings`): the
    /// settings of other families are refused before [`Family::validate`] runs.
    const SETTINGS: &'static [&'static str];

    /// What the provider of type `provider` (a configuration of this family) can do.
    fn capabilities(provider: ProviderType) -> Capabilities;

    /// Default rate limit of the provider of type `provider`: (requests per second, burst).
    fn default_rate(provider: ProviderType) -> (f64, u32);

    /// The family's own checks of a spec (the checks common to all families come first).
    fn validate(spec: &SipTrunkSpec, provider: ProviderType, err: FieldSink<'_>);

    /// The desired trunk of a spec that passed validation; `marker` is written after the
    /// display name.
    fn translate(
        spec: &SipTrunkSpec,
        provider: ProviderType,
        namespace: &str,
        name: &str,
        marker: &str,
    ) -> Self::Desired;

    /// The number(s) and address a spec shows in `status.summary`.
    fn summary(spec: &SipTrunkSpec) -> (Option<String>, Option<String>);

    /// Records family-specific observations in status (bolna: the live DIDs and their ids).
    fn project(_remote: &Self::Remote, _status: &mut SipTrunkStatus) {}

    /// The client of one account.
    fn client(http: HttpClient) -> Self::Client;

    /// The account's HTTP client (rate limiter, turns, 429 state).
    fn http(client: &Self::Client) -> &HttpClient;

    /// Every trunk of the account that parses, and the items that do not.
    fn list(
        client: &Self::Client,
    ) -> impl Future<Output = Result<(Vec<Self::Remote>, Vec<Skipped>), ProviderError>> + Send;

    /// One trunk with everything the provider returns for it.
    fn get(client: &Self::Client, id: &str) -> impl Future<Output = Result<Self::Remote, ProviderError>> + Send;

    /// A fresh read of one trunk for a delete decision, with everything ownership needs.
    fn read(client: &Self::Client, id: &str) -> impl Future<Output = Result<Self::Remote, ProviderError>> + Send;

    /// Creates the trunk. An error of a follow-up call comes with the created trunk, whose id
    /// must be recorded even so.
    fn create(
        client: &Self::Client,
        desired: &Self::Desired,
        password: Option<SecretString>,
    ) -> impl Future<Output = Result<(Self::Remote, Option<ProviderError>), ProviderError>> + Send;

    /// Applies a partial update computed by the diff; returns the trunk as it now is.
    fn update(
        client: &Self::Client,
        observed: &Self::Remote,
        change: &Self::Change,
    ) -> impl Future<Output = Result<Self::Remote, ProviderError>> + Send;

    /// Deletes a trunk. Only after `read` and `model::decide_delete` proved it ours.
    fn delete(client: &Self::Client, id: &str) -> impl Future<Output = Result<(), ProviderError>> + Send;
}

/// Evaluates `$body` with the type alias `$F` naming the family of the provider type
/// `$provider`: the one exhaustive match from provider type to family.
macro_rules! with_family {
    ($provider:expr, $F:ident => $body:expr) => {
        match $provider {
            $crate::crd::ProviderType::Autocalls | $crate::crd::ProviderType::Famulor => {
                #[allow(unused_imports)]
                use $crate::provider::Family as _;
                #[allow(dead_code)]
                type $F = $crate::provider::autocalls::AutocallsFamily;
                $body
            }
            $crate::crd::ProviderType::Bolna => {
                #[allow(unused_imports)]
                use $crate::provider::Family as _;
                #[allow(dead_code)]
                type $F = $crate::provider::bolna::BolnaFamily;
                $body
            }
            $crate::crd::ProviderType::Livekit => {
                #[allow(unused_imports)]
                use $crate::provider::Family as _;
                #[allow(dead_code)]
                type $F = $crate::provider::livekit::LivekitFamily;
                $body
            }
        }
    };
}
pub(crate) use with_family;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_provider_type_maps_to_its_family_and_declares_what_the_code_reads() {
        let caps = |t| with_family!(t, F => F::capabilities(t));
        let autocalls = caps(ProviderType::Autocalls);
        let famulor = caps(ProviderType::Famulor);
        let bolna = caps(ProviderType::Bolna);
        // famulor is the autocalls family with the nickname on the phone-number resource.
        assert!(autocalls.nickname_in_trunk_writes && !famulor.nickname_in_trunk_writes);
        assert_eq!(Capabilities { nickname_in_trunk_writes: true, ..famulor }, autocalls);
        assert!(autocalls.ids_only_on_get && !autocalls.dids && !autocalls.cidr_allow_list);
        assert!(bolna.dids && bolna.cidr_allow_list && !bolna.ids_only_on_get && !bolna.nickname_in_trunk_writes);
        assert!(bolna.marker_in_create && !autocalls.marker_in_create && !famulor.marker_in_create);
        assert!(caps(ProviderType::Livekit).marker_in_create);
        let rate = |t| with_family!(t, F => F::default_rate(t));
        assert_eq!(rate(ProviderType::Autocalls), (1.0, 5));
        assert_eq!(rate(ProviderType::Famulor), (1.6, 4));
        assert_eq!(rate(ProviderType::Bolna), (800.0 / 60.0, 20));
    }

    #[test]
    fn every_family_setting_of_the_spec_belongs_to_exactly_one_family() {
        let spec: SipTrunkSpec = serde_json::from_value(serde_json::json!({
            "providerRef": {"kind": "SipProvider", "name": "p"},
            "auth": {"type": "credentials", "username": "user"},
        }))
        .unwrap_or_else(|e| panic!("spec: {e}"));
        for (path, _) in spec.family_settings() {
            // The families (not the provider types: famulor is the autocalls family) that own it.
            let mut owners: Vec<&[&str]> = ProviderType::ALL
                .into_iter()
                .map(|t| with_family!(t, F => F::SETTINGS))
                .filter(|own| own.contains(&path))
                .collect();
            owners.sort();
            owners.dedup();
            assert_eq!(owners.len(), 1, "{path} belongs to {owners:?}");
        }
        for t in ProviderType::ALL {
            let own = with_family!(t, F => F::SETTINGS);
            assert!(own.iter().all(|p| spec.family_settings().iter().any(|(q, _)| q == p)), "{t:?}: {own:?}");
        }
    }
}
