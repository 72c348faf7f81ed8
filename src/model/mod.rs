//! Provider-neutral view of desired and observed trunks: ownership markers, matching, and the
//! plan (create / update these fields / nothing / conflict / adopt). Pure functions, no I/O.

pub mod autocalls;
pub mod bolna;

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

/// The ownership token the operator writes into a field it controls: `op:` and ten hex digits
/// of SHA-256 over `namespace/name`. Deterministic, so a restarted operator or a rebuilt
/// cluster with the same objects recognises its trunks; short, so it fits a 50-character nickname.
pub fn marker(namespace: &str, name: &str) -> String {
    let digest = Sha256::digest(format!("siptrunk.dev/{namespace}/{name}").as_bytes());
    format!("op:{}", &hex::encode(digest)[..10])
}

/// How the provider shows a field the operator writes, on the reads the operator makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    /// Returned by every read: compared with the provider's value.
    Visible,
    /// Never returned (passwords; autocalls `sip_trunk_type`): a password is compared through
    /// its keyed hash in `status.credentialsHash`.
    WriteOnly,
    /// Returned by some endpoints or provider versions only: compared with the provider's value
    /// when it is shown, otherwise with the value recorded in `status.lastApplied`.
    Unreliable,
}

/// One field a family writes: its wire name, how the provider shows it, and where it can be set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// Name in the provider's JSON.
    pub wire: &'static str,
    /// How the provider shows it back.
    pub shown: Shown,
    /// In the body the provider's create page documents.
    pub on_create: bool,
    /// Changeable after creation (PUT/PATCH, or a sub-resource).
    pub on_update: bool,
}

/// Values last applied for the unreliably visible fields of one trunk (wire name → value;
/// booleans as `true`/`false`). Never holds a secret: passwords are tracked by their keyed hash.
pub type Applied = BTreeMap<String, String>;

/// Whether an unreliably visible field must be sent: against the provider's value where it is
/// shown, else against the record of what was last applied (no record: sent, then recorded).
pub fn unreliable_differs(field: &str, want: &str, shown: Option<&str>, applied: &Applied) -> bool {
    match shown {
        Some(v) => v.trim() != want,
        None => applied.get(field).map(String::as_str) != Some(want),
    }
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
        match self {
            Remote::Autocalls(t) => t
                .nickname
                .as_ref()
                .and_then(|n| n.as_deref())
                .and_then(|n| n.split_whitespace().find(|w| w.starts_with("op:")).map(str::to_string)),
            Remote::Bolna(t) => t
                .description
                .as_deref()
                .and_then(|d| d.split_whitespace().find_map(|w| w.strip_prefix("key=")).map(str::to_string)),
        }
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

    /// Spec fields the provider holds differently and the operator does not write, each with
    /// why (for status: the trunk is Ready, but not exactly as specified).
    pub fn not_applied(&self, observed: &Remote) -> Vec<String> {
        match (self, observed) {
            (Desired::Autocalls(d), Remote::Autocalls(o)) => autocalls::not_applied(d, o),
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
    /// unreliably visible fields the provider did not show.
    pub fn diff_applied(
        &self,
        observed: &Remote,
        password: Option<secrecy::SecretString>,
        applied: &Applied,
    ) -> Option<Change> {
        match (self, observed) {
            (Desired::Autocalls(d), Remote::Autocalls(o)) => {
                Some(Change::Autocalls(autocalls::diff_applied(d, o, password, applied)))
            }
            (Desired::Bolna(d), Remote::Bolna(o)) => Some(Change::Bolna(bolna::diff_applied(d, o, password, applied))),
            _ => None,
        }
    }

    /// The record to keep in `status.lastApplied` once the provider holds this trunk: the
    /// desired values of the family's unreliably visible fields.
    pub fn applied_record(&self) -> Applied {
        match self {
            Desired::Autocalls(d) => autocalls::applied_record(d),
            Desired::Bolna(d) => bolna::applied_record(d),
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

/// A resource of a desired trunk that another trunk of the account holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Held {
    /// A DID (as the spec writes it) live on the trunk with this id.
    Did {
        /// The number.
        number: String,
        /// The id of the trunk that holds it.
        trunk_id: String,
    },
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Held::Did { number, trunk_id } => write!(f, "DID {number} is on trunk {trunk_id}"),
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
    /// The natural key recorded before the last create call, if it never completed.
    pub pending_create_key: Option<&'a str>,
    /// spec.adoptExisting.
    pub adopt_existing: bool,
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

    /// What of `desired` other trunks of the account hold (why a create was refused as a
    /// conflict): bolna DIDs live on another trunk, in the order of the spec. O(trunks), so
    /// only called after a refused create.
    pub fn held_elsewhere(&self, desired: &Desired) -> Vec<Held> {
        let Desired::Bolna(d) = desired else {
            return Vec::new();
        };
        let mut held = Vec::new();
        for want in &d.phone_numbers {
            let n = bolna::normalize_number(&want.phone_number);
            let holder = self.by_id.values().find_map(|t| match t {
                Remote::Bolna(t)
                    if t.name != d.name && t.live_numbers().any(|h| bolna::normalize_number(&h.phone_number) == n) =>
                {
                    Some(t.id.clone())
                }
                _ => None,
            });
            if let Some(trunk_id) = holder {
                held.push(Held::Did { number: want.phone_number.clone(), trunk_id });
            }
        }
        held
    }

    fn by_key(&self, key: &str) -> Option<&Remote> {
        self.by_key.get(key).and_then(|ids| ids.first()).and_then(|id| self.by_id.get(id))
    }

    /// Finds the remote trunk for a spec: recorded id, then marker, then natural key (API.md §4.2).
    pub fn find(&self, input: &MatchInput<'_>) -> Match {
        if let Some(t) = input.recorded_id.and_then(|id| self.by_id.get(id)) {
            return Match::Owned(t.clone());
        }
        if let Some(t) = self.by_marker.get(input.marker).and_then(|id| self.by_id.get(id)) {
            return Match::Adoptable(t.clone(), AdoptReason::Marker);
        }
        if let Some(t) = input.pending_create_key.and_then(|k| self.by_key(k)) {
            return Match::Adoptable(t.clone(), AdoptReason::PendingCreate);
        }
        if let Some(t) = self.by_key(input.natural_key) {
            if input.adopt_existing {
                return Match::Adoptable(t.clone(), AdoptReason::Allowed);
            }
            return Match::Conflict(t.clone());
        }
        Match::Missing
    }
}
