//! Provider-neutral view of desired and observed trunks: ownership markers, matching, and the
//! plan (create / update these fields / nothing / conflict / adopt). Pure functions, no I/O.

pub mod autocalls;
pub mod bolna;

use sha2::{Digest, Sha256};

/// The ownership token the operator writes into a field it controls: `op:` and ten hex digits
/// of SHA-256 over `namespace/name`. Deterministic, so a restarted operator or a rebuilt
/// cluster with the same objects recognises its trunks; short, so it fits a 50-character nickname.
pub fn marker(namespace: &str, name: &str) -> String {
    let digest = Sha256::digest(format!("siptrunk.dev/{namespace}/{name}").as_bytes());
    format!("op:{}", &hex::encode(digest)[..10])
}

/// Whether an observed trunk carries our marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerState {
    /// Our marker is there.
    Ours,
    /// The field is there and does not carry our marker.
    NotOurs,
    /// The provider did not return the field (famulor lists): ownership cannot be seen.
    Unknown,
}

/// A trunk as observed at the provider.
#[derive(Clone, Debug, PartialEq)]
pub enum Remote {
    /// autocalls.ai or famulor.
    Autocalls(autocalls::Trunk),
    /// bolna.ai.
    Bolna(bolna::Trunk),
}

/// The trunk a spec asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Desired {
    /// autocalls.ai or famulor.
    Autocalls(autocalls::Desired),
    /// bolna.ai.
    Bolna(bolna::Desired),
}

/// A partial update computed by the diff.
#[derive(Clone, Debug)]
pub enum Change {
    /// autocalls/famulor PUT body.
    Autocalls(autocalls::Update),
    /// bolna PATCH body and DID additions/removals.
    Bolna(bolna::Change),
}

impl Change {
    /// Names of the changed fields.
    pub fn fields(&self) -> Vec<&'static str> {
        match self {
            Change::Autocalls(u) => u.changed_fields(),
            Change::Bolna(c) => c.changed_fields(),
        }
    }

    /// True when nothing would be sent.
    pub fn is_empty(&self) -> bool {
        self.fields().is_empty()
    }
}

impl Remote {
    /// The provider's id as a string.
    pub fn id(&self) -> String {
        match self {
            Remote::Autocalls(t) => t.id.to_string(),
            Remote::Bolna(t) => t.id.clone(),
        }
    }

    /// The natural key (autocalls: number|username|address; bolna: name).
    pub fn natural_key(&self) -> String {
        match self {
            Remote::Autocalls(t) => t.natural_key(),
            Remote::Bolna(t) => t.natural_key(),
        }
    }

    /// Whether this trunk carries `marker`.
    pub fn marker_state(&self, marker: &str) -> MarkerState {
        match self {
            Remote::Autocalls(t) => match &t.nickname {
                None => MarkerState::Unknown,
                Some(Some(n)) if n.split_whitespace().any(|w| w == marker) => MarkerState::Ours,
                Some(_) => MarkerState::NotOurs,
            },
            Remote::Bolna(t) => t.marker_state(marker),
        }
    }

    /// Inbound and outbound internal trunk ids, where the response carried them.
    pub fn trunk_ids(&self) -> (Option<String>, Option<String>) {
        match self {
            Remote::Autocalls(t) => (t.inbound_trunk_id.clone(), t.outbound_trunk_id.clone()),
            Remote::Bolna(_) => (None, None),
        }
    }
}

impl Desired {
    /// The natural key of the desired trunk.
    pub fn natural_key(&self) -> String {
        match self {
            Desired::Autocalls(d) => d.natural_key(),
            Desired::Bolna(d) => d.natural_key(),
        }
    }

    /// Field-by-field diff against an observed trunk of the same family; `password` is
    /// `Some` only when the keyed hash of the Secret's value differs from the applied one.
    pub fn diff(&self, observed: &Remote, password: Option<secrecy::SecretString>) -> Option<Change> {
        match (self, observed) {
            (Desired::Autocalls(d), Remote::Autocalls(o)) => Some(Change::Autocalls(autocalls::diff(d, o, password))),
            (Desired::Bolna(d), Remote::Bolna(o)) => Some(Change::Bolna(bolna::diff(d, o, password))),
            _ => None,
        }
    }
}

/// How a desired trunk relates to what the account holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Match {
    /// The trunk recorded in status (or carrying our marker) exists.
    Owned(Remote),
    /// A trunk with the natural key and no visible marker, which we may take over: because
    /// status records that we were creating exactly it when we lost track, or because the
    /// spec allows adoption.
    Adoptable(Remote, AdoptReason),
    /// A trunk with the natural key that is not ours; nothing is written.
    Conflict(Remote),
    /// Nothing matches: create.
    Missing,
}

/// Why an unmarked trunk may be adopted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdoptReason {
    /// It carries our marker.
    Marker,
    /// Status says a create of this natural key was in flight (crash or lost response).
    PendingCreate,
    /// The spec sets adoptExisting.
    Allowed,
}

/// Inputs to matching.
pub struct MatchInput<'a> {
    /// The id recorded in status.
    pub recorded_id: Option<&'a str>,
    /// Our marker.
    pub marker: &'a str,
    /// The natural key of the desired trunk.
    pub natural_key: &'a str,
    /// The natural key recorded before the last create call, if it never completed.
    pub pending_create_key: Option<&'a str>,
    /// spec.adoptExisting.
    pub adopt_existing: bool,
}

/// Finds the remote trunk for a spec: recorded id, then marker, then natural key (API.md §4.2).
pub fn find<'a>(trunks: impl IntoIterator<Item = &'a Remote> + Clone, input: &MatchInput<'_>) -> Match {
    if let Some(id) = input.recorded_id
        && let Some(t) = trunks.clone().into_iter().find(|t| t.id() == id)
    {
        return Match::Owned(t.clone());
    }
    if let Some(t) = trunks.clone().into_iter().find(|t| t.marker_state(input.marker) == MarkerState::Ours) {
        return Match::Adoptable(t.clone(), AdoptReason::Marker);
    }
    let keyed = |key: &str| trunks.clone().into_iter().find(|t| t.natural_key() == key).cloned();
    if let Some(pending) = input.pending_create_key
        && let Some(t) = keyed(pending)
    {
        return Match::Adoptable(t, AdoptReason::PendingCreate);
    }
    if let Some(t) = keyed(input.natural_key) {
        if input.adopt_existing {
            return Match::Adoptable(t, AdoptReason::Allowed);
        }
        return Match::Conflict(t);
    }
    Match::Missing
}
