//! Provider-neutral view of desired and observed trunks: ownership markers, the account index
//! used for matching, and the one decision (create / update these fields / nothing / conflict /
//! adopt / pending / refuse). Pure functions, no I/O.

pub mod autocalls;
pub mod bolna;
pub mod decide;
pub mod marker;

use std::collections::HashMap;

pub use decide::{AdoptReason, Decision, DeleteDecision, Observation, Owner, Wanted, decide, decide_delete};
pub use marker::MarkerKey;

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

    /// Makes the change write the ownership marker even where the provider does not show the
    /// current value (famulor may return no nickname at all): used when adopting, so an adopted
    /// trunk always carries our marker afterwards. bolna's description is always returned, so
    /// its diff already covers it.
    pub fn write_marker(&mut self, desired: &Desired) {
        if let (Change::Autocalls(u), Desired::Autocalls(d)) = (self, desired) {
            u.nickname = Some(Some(d.nickname.clone()));
        }
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

    /// The `op:` marker token this trunk carries, if any (whoever's it is).
    pub fn marker_token(&self) -> Option<String> {
        let text = match self {
            Remote::Autocalls(t) => t.nickname.as_ref().and_then(|n| n.as_deref()),
            Remote::Bolna(t) => t.description.as_deref(),
        }?;
        text.split_whitespace()
            .map(|w| w.strip_prefix("key=").unwrap_or(w))
            .find(|w| marker::is_marker_token(w))
            .map(str::to_string)
    }

    /// Fills what a single-trunk read lacks from the list item of the same trunk: famulor's GET
    /// omits the nickname its list returns, and dropping it would hide our marker (or a
    /// stranger's nickname) from the diff.
    pub fn with_list_fields(self, listed: &Remote) -> Remote {
        match (self, listed) {
            (Remote::Autocalls(mut t), Remote::Autocalls(l)) => {
                if t.nickname.is_none() {
                    t.nickname = l.nickname.clone();
                }
                Remote::Autocalls(t)
            }
            (other, _) => other,
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

/// Inputs to matching.
pub struct MatchInput<'a> {
    /// The id recorded in status.
    pub recorded_id: Option<&'a str>,
    /// Our marker.
    pub marker: &'a str,
    /// The natural key of the desired trunk.
    pub natural_key: &'a str,
    /// The natural key of an unexpired create intent.
    pub pending_create_key: Option<&'a str>,
}

/// The account's trunks indexed by id, marker token and natural key, so matching one trunk is
/// O(1) however many the account holds.
#[derive(Clone, Debug, Default)]
pub struct TrunkIndex {
    by_id: HashMap<String, Remote>,
    by_marker: HashMap<String, String>,
    by_key: HashMap<String, Vec<String>>,
}

impl TrunkIndex {
    /// Indexes a full list.
    pub fn new(trunks: Vec<Remote>) -> Self {
        let n = trunks.len();
        let mut idx = TrunkIndex {
            by_id: HashMap::with_capacity(n),
            by_marker: HashMap::with_capacity(n),
            by_key: HashMap::with_capacity(n),
        };
        for t in trunks {
            idx.upsert(t);
        }
        idx
    }

    /// Number of trunks.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when the account holds no trunk.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The trunk with this id.
    pub fn get(&self, id: &str) -> Option<&Remote> {
        self.by_id.get(id)
    }

    /// Inserts or replaces a trunk (the controller's own writes keep the snapshot current).
    pub fn upsert(&mut self, t: Remote) {
        let id = t.id();
        self.remove(&id);
        if let Some(m) = t.marker_token() {
            self.by_marker.insert(m, id.clone());
        }
        self.by_key.entry(t.natural_key()).or_default().push(id.clone());
        self.by_id.insert(id, t);
    }

    /// Removes a trunk.
    pub fn remove(&mut self, id: &str) {
        if let Some(old) = self.by_id.remove(id) {
            if let Some(m) = old.marker_token()
                && self.by_marker.get(&m).map(String::as_str) == Some(id)
            {
                self.by_marker.remove(&m);
            }
            let key = old.natural_key();
            if let Some(ids) = self.by_key.get_mut(&key) {
                ids.retain(|i| i != id);
                if ids.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
    }

    fn by_key(&self, key: &str) -> Option<&Remote> {
        self.by_key.get(key).and_then(|ids| ids.first()).and_then(|id| self.by_id.get(id))
    }

    /// The trunks that could be this object's (API.md §4.2): the recorded id, our marker, the
    /// create intent's natural key and the desired natural key. `decide` judges them.
    pub fn find(&self, input: &MatchInput<'_>) -> Observation {
        Observation {
            recorded: input.recorded_id.and_then(|id| self.by_id.get(id)).cloned(),
            marked: self.by_marker.get(input.marker).and_then(|id| self.by_id.get(id)).cloned(),
            keyed: self.by_key(input.natural_key).cloned(),
            intended: input.pending_create_key.and_then(|k| self.by_key(k)).cloned(),
        }
    }
}
