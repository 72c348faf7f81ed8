//! The family-erased view of trunks and clients that tests use to handle trunks of any family
//! together: one enum variant per family over the family's own types. The product has none:
//! the controller and the plan tool are generic over `provider::Family`, and
//! `provider::with_family!` is its one match from provider type to family. Tests may name every
//! family, so this view lives here.
#![allow(dead_code)]

use std::sync::Arc;

use secrecy::SecretString;
use siptrunk_operator::crd::{ProviderType, SipTrunkSpec};
use siptrunk_operator::metrics::Metrics;
use siptrunk_operator::model::{self, Applied, DesiredTrunk, Held, MarkerState, RemoteTrunk, TrunkChange};
use siptrunk_operator::provider::{
    self, AutocallsFamily, BolnaFamily, ClientConfig, Deleted, Family, HttpClient, LivekitFamily, ProviderError, list,
};

/// autocalls.ai / famulor trunks: wire types and diff of the family folder.
#[allow(unused_imports)]
pub mod autocalls {
    pub use siptrunk_operator::provider::autocalls::diff::*;
    pub use siptrunk_operator::provider::autocalls::wire::*;
}

/// bolna.ai trunks: wire types and diff of the family folder.
#[allow(unused_imports)]
pub mod bolna {
    pub use siptrunk_operator::provider::bolna::diff::*;
    pub use siptrunk_operator::provider::bolna::wire::*;
}

/// LiveKit SIP trunks: the pure side and family types of the family folder.
#[allow(unused_imports)]
pub mod livekit {
    pub use siptrunk_operator::provider::livekit::family::{Change, Trunk};
    pub use siptrunk_operator::provider::livekit::model::*;
}

/// `model::Observation` over the erased trunk.
pub type Observation = model::Observation<Remote>;
/// `model::Decision` over the erased trunk and change.
pub type Decision = model::Decision<Remote, Change>;
/// `model::TrunkIndex` over the erased trunk.
pub type TrunkIndex = model::TrunkIndex<Remote>;

/// The desired trunk the controller builds from a spec that passed validation, for a provider
/// of any type (what `with_family!` does in the product).
pub fn desired(spec: &SipTrunkSpec, provider: ProviderType, namespace: &str, name: &str, marker: &str) -> Desired {
    match provider {
        ProviderType::Autocalls | ProviderType::Famulor => {
            Desired::Autocalls(AutocallsFamily::translate(spec, provider, namespace, name, marker))
        }
        ProviderType::Bolna => Desired::Bolna(BolnaFamily::translate(spec, provider, namespace, name, marker)),
        ProviderType::Livekit => Desired::Livekit(LivekitFamily::translate(spec, provider, namespace, name, marker)),
    }
}

/// A trunk as observed at the provider, family-erased .
#[derive(Clone, Debug, PartialEq)]
pub enum Remote {
    /// autocalls.ai or famulor.
    Autocalls(autocalls::Trunk),
    /// bolna.ai.
    Bolna(bolna::Trunk),
    /// LiveKit SIP.
    Livekit(livekit::Trunk),
}

/// The trunk a spec asks for, family-erased.
#[derive(Clone, Debug, PartialEq)]
pub enum Desired {
    /// autocalls.ai or famulor.
    Autocalls(autocalls::Desired),
    /// bolna.ai.
    Bolna(bolna::Desired),
    /// LiveKit SIP.
    Livekit(livekit::Desired),
}

/// A partial update computed by the diff, family-erased.
#[derive(Clone, Debug)]
pub enum Change {
    /// autocalls/famulor PUT body.
    Autocalls(autocalls::Update),
    /// bolna PATCH body and DID additions/removals.
    Bolna(bolna::Change),
    /// LiveKit `update` of one trunk.
    Livekit(livekit::Change),
}

/// Calls `$body` with `$v` bound to the family value inside a family-erased enum (`Remote`,
/// `Desired` or `Change`): the one place that lists the families of these enums.
macro_rules! each_family {
    ($enum:ident, $e:expr, $v:ident => $body:expr) => {
        match $e {
            $enum::Autocalls($v) => $body,
            $enum::Bolna($v) => $body,
            $enum::Livekit($v) => $body,
        }
    };
}

impl Change {
    /// Names of the changed fields.
    pub fn fields(&self) -> Vec<&'static str> {
        each_family!(Change, self, c => c.fields())
    }

    /// True when nothing would be sent.
    pub fn is_empty(&self) -> bool {
        self.fields().is_empty()
    }

    /// Makes the change write the ownership marker even where the provider does not show the
    /// current value (famulor may return no nickname at all): used when adopting, so an adopted
    /// trunk always carries our marker afterwards. bolna's description is always returned, so
    /// its diff already covers it.
    pub fn write_marker(&mut self, desired: &Desired) {
        match (self, desired) {
            (Change::Autocalls(u), Desired::Autocalls(d)) => d.write_marker(u),
            (Change::Bolna(c), Desired::Bolna(d)) => d.write_marker(c),
            (Change::Livekit(c), Desired::Livekit(d)) => d.write_marker(c),
            _ => {}
        }
    }
}

impl TrunkChange for Change {
    fn fields(&self) -> Vec<&'static str> {
        Change::fields(self)
    }

    fn without_sub_resources(&mut self) {
        each_family!(Change, self, c => c.without_sub_resources())
    }
}

impl Remote {
    /// The provider's id as a string.
    pub fn id(&self) -> String {
        each_family!(Remote, self, t => t.id())
    }

    /// The natural key (autocalls: number|username|address; bolna: name).
    pub fn natural_key(&self) -> String {
        each_family!(Remote, self, t => RemoteTrunk::natural_key(t))
    }

    /// Whether this trunk carries `marker`.
    pub fn marker_state(&self, marker: &str) -> MarkerState {
        each_family!(Remote, self, t => RemoteTrunk::marker_state(t, marker))
    }

    /// The `op:` marker token this trunk carries, if any (whoever's it is).
    pub fn marker_token(&self) -> Option<String> {
        each_family!(Remote, self, t => t.marker_token())
    }

    /// Fills what a single-trunk read lacks from the list item of the same trunk: famulor's GET
    /// omits the nickname its list returns, and dropping it would hide our marker (or a
    /// stranger's nickname) from the diff.
    pub fn with_list_fields(self, listed: &Remote) -> Remote {
        match (self, listed) {
            (Remote::Autocalls(t), Remote::Autocalls(l)) => Remote::Autocalls(t.with_list_fields(l)),
            (Remote::Bolna(t), Remote::Bolna(l)) => Remote::Bolna(t.with_list_fields(l)),
            (Remote::Livekit(t), Remote::Livekit(l)) => Remote::Livekit(t.with_list_fields(l)),
            (other, _) => other,
        }
    }

    /// Inbound and outbound internal trunk ids, where the response carried them.
    pub fn trunk_ids(&self) -> (Option<String>, Option<String>) {
        each_family!(Remote, self, t => t.trunk_ids())
    }
}

impl RemoteTrunk for Remote {
    fn id(&self) -> String {
        Remote::id(self)
    }

    fn natural_key(&self) -> String {
        Remote::natural_key(self)
    }

    fn key_fields(&self) -> &'static str {
        each_family!(Remote, self, t => t.key_fields())
    }

    fn marker_text(&self) -> Option<&str> {
        each_family!(Remote, self, t => t.marker_text())
    }

    fn marker_state(&self, marker: &str) -> MarkerState {
        Remote::marker_state(self, marker)
    }

    fn trunk_ids(&self) -> (Option<String>, Option<String>) {
        Remote::trunk_ids(self)
    }

    fn with_list_fields(self, listed: &Self) -> Self {
        Remote::with_list_fields(self, listed)
    }
}

impl Desired {
    /// The natural key of the desired trunk.
    pub fn natural_key(&self) -> String {
        each_family!(Desired, self, d => d.natural_key())
    }

    /// Spec fields the provider holds differently and the operator does not write, each with
    /// why (for status: the trunk is Ready, but not exactly as specified).
    pub fn not_applied(&self, observed: &Remote) -> Vec<String> {
        match (self, observed) {
            (Desired::Autocalls(d), Remote::Autocalls(o)) => d.not_applied(o),
            (Desired::Bolna(d), Remote::Bolna(o)) => d.not_applied(o),
            (Desired::Livekit(d), Remote::Livekit(o)) => d.not_applied(o),
            _ => Vec::new(),
        }
    }

    /// Field-by-field diff against an observed trunk of the same family, without a record of
    /// what was last applied (unreliably visible fields the provider did not show are sent).
    pub fn diff(&self, observed: &Remote, password: Option<secrecy::SecretString>) -> Option<Change> {
        self.diff_applied(observed, password, &Applied::new())
    }

    /// Field-by-field diff; `password` is `Some` only when the keyed hash of the Secret's value
    /// differs from the applied one; `applied` is `status.lastApplied`, which decides the
    /// unreliably visible fields the provider did not show. None: another API family.
    pub fn diff_applied(
        &self,
        observed: &Remote,
        password: Option<secrecy::SecretString>,
        applied: &Applied,
    ) -> Option<Change> {
        match (self, observed) {
            (Desired::Autocalls(d), Remote::Autocalls(o)) => {
                d.diff_applied(o, password, applied).map(Change::Autocalls)
            }
            (Desired::Bolna(d), Remote::Bolna(o)) => d.diff_applied(o, password, applied).map(Change::Bolna),
            (Desired::Livekit(d), Remote::Livekit(o)) => d.diff_applied(o, password, applied).map(Change::Livekit),
            _ => None,
        }
    }

    /// The record to keep in `status.lastApplied` once the provider holds this trunk: the
    /// desired values of the family's unreliably visible fields.
    pub fn applied_record(&self) -> Applied {
        each_family!(Desired, self, d => d.applied_record())
    }
}

impl DesiredTrunk for Desired {
    type Remote = Remote;
    type Change = Change;

    fn natural_key(&self) -> String {
        Desired::natural_key(self)
    }

    fn diff_applied(&self, observed: &Remote, password: Option<SecretString>, applied: &Applied) -> Option<Change> {
        Desired::diff_applied(self, observed, password, applied)
    }

    fn write_marker(&self, change: &mut Change) {
        change.write_marker(self)
    }

    fn applied_record(&self) -> Applied {
        Desired::applied_record(self)
    }

    fn not_applied(&self, observed: &Remote) -> Vec<String> {
        Desired::not_applied(self, observed)
    }

    fn held_elsewhere(&self, others: &[&Remote]) -> Vec<Held> {
        match self {
            Desired::Autocalls(_) | Desired::Livekit(_) => Vec::new(),
            Desired::Bolna(d) => {
                let same: Vec<&bolna::Trunk> = others
                    .iter()
                    .filter_map(|r| match r {
                        Remote::Bolna(t) => Some(t),
                        Remote::Autocalls(_) | Remote::Livekit(_) => None,
                    })
                    .collect();
                d.held_elsewhere(&same)
            }
        }
    }
}

impl From<autocalls::Trunk> for Remote {
    fn from(t: autocalls::Trunk) -> Self {
        Remote::Autocalls(t)
    }
}

impl From<livekit::Trunk> for Remote {
    fn from(t: livekit::Trunk) -> Self {
        Remote::Livekit(t)
    }
}

impl From<bolna::Trunk> for Remote {
    fn from(t: bolna::Trunk) -> Self {
        Remote::Bolna(t)
    }
}

/// A client for one provider account, family-erased .
pub enum ProviderClient {
    /// autocalls.ai or famulor.
    Autocalls(<AutocallsFamily as Family>::Client),
    /// bolna.ai.
    Bolna(<BolnaFamily as Family>::Client),
    /// LiveKit SIP.
    Livekit(<LivekitFamily as Family>::Client),
}

/// Evaluates `$body` with `$c` bound to the family client inside a [`ProviderClient`] and `$F`
/// naming its family.
macro_rules! each_client {
    ($e:expr, $c:ident, $F:ident => $body:expr) => {
        match $e {
            ProviderClient::Autocalls($c) => {
                #[allow(dead_code)]
                type $F = AutocallsFamily;
                $body
            }
            ProviderClient::Bolna($c) => {
                #[allow(dead_code)]
                type $F = BolnaFamily;
                $body
            }
            ProviderClient::Livekit($c) => {
                #[allow(dead_code)]
                type $F = LivekitFamily;
                $body
            }
        }
    };
}

impl ProviderClient {
    /// Builds the client for one account.
    pub fn new(cfg: ClientConfig, metrics: Arc<Metrics>) -> Result<Self, String> {
        let http = HttpClient::new(cfg, metrics)?;
        Ok(match http.provider() {
            ProviderType::Autocalls | ProviderType::Famulor => ProviderClient::Autocalls(AutocallsFamily::client(http)),
            ProviderType::Bolna => ProviderClient::Bolna(BolnaFamily::client(http)),
            ProviderType::Livekit => ProviderClient::Livekit(LivekitFamily::client(http)),
        })
    }

    /// The account's provider type.
    pub fn provider(&self) -> ProviderType {
        self.http().provider()
    }

    /// Every trunk of the account (one list call, following pages if any); items that do not
    /// parse are left out.
    pub async fn list(&self) -> Result<Vec<Remote>, ProviderError> {
        Ok(self.list_all().await?.0)
    }

    /// Every trunk of the account that parses, and the items that do not.
    pub async fn list_all(&self) -> Result<(Vec<Remote>, Vec<list::Skipped>), ProviderError> {
        each_client!(self, c, F => {
            let (items, skipped) = F::list(c).await?;
            Ok((items.into_iter().map(Remote::from).collect(), skipped))
        })
    }

    /// The account's HTTP client (rate limiter, turns, 429 state).
    pub fn http(&self) -> &HttpClient {
        each_client!(self, c, F => F::http(c))
    }

    /// One trunk with everything the provider returns for it (autocalls: the internal trunk ids).
    pub async fn get(&self, id: &str) -> Result<Remote, ProviderError> {
        each_client!(self, c, F => F::get(c, id).await.map(Remote::from))
    }

    /// Creates the trunk; on famulor also writes the nickname marker through the phone-number
    /// endpoint. The error of that follow-up comes with the created trunk, whose id must be
    /// recorded even so.
    pub async fn create(
        &self,
        desired: &Desired,
        password: Option<SecretString>,
    ) -> Result<(Remote, Option<ProviderError>), ProviderError> {
        let (t, follow_up) = match (self, desired) {
            (ProviderClient::Autocalls(c), Desired::Autocalls(d)) => {
                AutocallsFamily::create(c, d, password).await.map(|(t, e)| (Remote::from(t), e))?
            }
            (ProviderClient::Bolna(c), Desired::Bolna(d)) => {
                BolnaFamily::create(c, d, password).await.map(|(t, e)| (Remote::from(t), e))?
            }
            (ProviderClient::Livekit(c), Desired::Livekit(d)) => {
                LivekitFamily::create(c, d, password).await.map(|(t, e)| (Remote::from(t), e))?
            }
            _ => return Err(family_mismatch()),
        };
        Ok((t, follow_up))
    }

    /// Applies a partial update computed by the diff; returns the trunk as it now is.
    pub async fn update(&self, observed: &Remote, change: &Change) -> Result<Remote, ProviderError> {
        match (self, observed, change) {
            (ProviderClient::Autocalls(c), Remote::Autocalls(o), Change::Autocalls(u)) => {
                AutocallsFamily::update(c, o, u).await.map(Remote::from)
            }
            (ProviderClient::Bolna(c), Remote::Bolna(o), Change::Bolna(ch)) => {
                BolnaFamily::update(c, o, ch).await.map(Remote::from)
            }
            (ProviderClient::Livekit(c), Remote::Livekit(o), Change::Livekit(ch)) => {
                LivekitFamily::update(c, o, ch).await.map(Remote::from)
            }
            _ => Err(family_mismatch()),
        }
    }

    /// A fresh read of one trunk for a delete decision (None: the provider answered 404).
    pub async fn read(&self, id: &str) -> Result<Option<Remote>, ProviderError> {
        each_client!(self, c, F => Ok(provider::read::<F>(c, id).await?.map(Remote::from)))
    }

    /// Deletes a trunk. Only after `read` and `model::decide_delete` proved it ours.
    pub async fn delete(&self, id: &str) -> Result<Deleted, ProviderError> {
        each_client!(self, c, F => provider::delete::<F>(c, id).await)
    }
}

fn family_mismatch() -> ProviderError {
    ProviderError::Protocol("desired trunk and provider are of different API families".into())
}
