//! Provider-neutral view of desired and observed trunks: ownership markers, the account index
//! used for matching, and the one decision (create / update these fields / nothing / conflict /
//! adopt / pending / refuse). Pure functions, no I/O.

pub mod decide;
pub mod marker;

use std::collections::HashMap;

use secrecy::SecretString;

pub use decide::{AdoptReason, Decision, DeleteDecision, Observation, Owner, Wanted, decide, decide_delete};
pub use marker::MarkerKey;

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
pub type Applied = crate::crd::AppliedRecord;

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

/// A trunk of one provider family as the provider returns it: what matching, ownership and the
/// account index read. Implemented by each family's observed trunk type.
pub trait RemoteTrunk: Clone + std::fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The provider's id as a string.
    fn id(&self) -> String;

    /// The natural key (autocalls: number|username|address; bolna: name).
    fn natural_key(&self) -> String;

    /// What the natural key is made of, for messages.
    fn key_fields(&self) -> &'static str;

    /// The text of the field that carries ownership markers (autocalls/famulor nickname, bolna
    /// description); None when the provider did not return that field.
    fn marker_text(&self) -> Option<&str>;

    /// Whether this trunk carries `marker`.
    fn marker_state(&self, marker: &str) -> MarkerState;

    /// The `op:` marker token this trunk carries, if any (whoever's it is).
    fn marker_token(&self) -> Option<String> {
        self.marker_text()?
            .split_whitespace()
            .map(|w| w.strip_prefix("key=").unwrap_or(w))
            .find(|w| marker::is_marker_token(w))
            .map(str::to_string)
    }

    /// Inbound and outbound internal trunk ids, where the response carried them.
    fn trunk_ids(&self) -> (Option<String>, Option<String>) {
        (None, None)
    }

    /// Fills what a single-trunk read lacks from the list item of the same trunk.
    fn with_list_fields(self, _listed: &Self) -> Self {
        self
    }
}

/// A partial update of one family, computed by its diff.
pub trait TrunkChange: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// Names of the changed fields.
    fn fields(&self) -> Vec<&'static str>;

    /// True when nothing would be sent.
    fn is_empty(&self) -> bool {
        self.fields().is_empty()
    }

    /// Drops the sub-resource changes a create already made (bolna DIDs go with the create).
    fn without_sub_resources(&mut self) {}
}

/// The trunk a spec asks for, in one family: its natural key, its diff against an observed
/// trunk of the same family, and what status records of it.
pub trait DesiredTrunk: Clone + std::fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The family's observed trunk.
    type Remote: RemoteTrunk;
    /// The family's partial update.
    type Change: TrunkChange;

    /// The natural key of the desired trunk.
    fn natural_key(&self) -> String;

    /// Field-by-field diff; `password` is `Some` only when the keyed hash of the Secret's value
    /// differs from the applied one; `applied` is `status.lastApplied`, which decides the
    /// unreliably visible fields the provider did not show. None: `observed` cannot be compared
    /// with this trunk (the families here always compare; a family-erased view may not).
    fn diff_applied(
        &self,
        observed: &Self::Remote,
        password: Option<SecretString>,
        applied: &Applied,
    ) -> Option<Self::Change>;

    /// Field-by-field diff without a record of what was last applied (unreliably visible fields
    /// the provider did not show are sent).
    fn diff(&self, observed: &Self::Remote, password: Option<SecretString>) -> Option<Self::Change> {
        self.diff_applied(observed, password, &Applied::new())
    }

    /// Makes `change` write the ownership marker even where the provider does not show the
    /// current value: used when adopting, so an adopted trunk always carries our marker.
    fn write_marker(&self, change: &mut Self::Change);

    /// The record to keep in `status.lastApplied` once the provider holds this trunk.
    fn applied_record(&self) -> Applied;

    /// Spec fields the provider holds differently and the operator does not write, with why.
    fn not_applied(&self, _observed: &Self::Remote) -> Vec<String> {
        Vec::new()
    }

    /// What of this trunk the `others` hold (why a create was refused as a conflict), in the
    /// order of the spec.
    fn held_elsewhere(&self, _others: &[&Self::Remote]) -> Vec<Held> {
        Vec::new()
    }
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
        /// The spec field that asks for it (where to remove it from).
        field: &'static str,
    },
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Held::Did { number, trunk_id, .. } => write!(f, "DID {number} is on trunk {trunk_id}"),
        }
    }
}

impl Held {
    /// The spec field that asks for the held resource.
    pub fn field(&self) -> &'static str {
        match self {
            Held::Did { field, .. } => field,
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
///
/// Held for every trunk of every account (P4, issue 12): the items are boxed, so the hash tables,
/// which keep about 1.6 slots per item, hold pointers instead of whole items, and keys are
/// `Box<str>` (no spare capacity).
#[derive(Clone, Debug)]
pub struct TrunkIndex<R> {
    by_id: HashMap<Box<str>, Box<R>>,
    by_marker: HashMap<Box<str>, Box<str>>,
    by_key: HashMap<Box<str>, Vec<Box<str>>>,
}

impl<R> Default for TrunkIndex<R> {
    fn default() -> Self {
        TrunkIndex { by_id: HashMap::new(), by_marker: HashMap::new(), by_key: HashMap::new() }
    }
}

impl<R: RemoteTrunk> TrunkIndex<R> {
    /// Indexes a full list.
    pub fn new(trunks: Vec<R>) -> Self {
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
    pub fn get(&self, id: &str) -> Option<&R> {
        self.by_id.get(id).map(|r| &**r)
    }

    /// Inserts or replaces a trunk (the controller's own writes keep the snapshot current).
    pub fn upsert(&mut self, t: R) {
        let id: Box<str> = t.id().into();
        self.remove(&id);
        if let Some(m) = t.marker_token() {
            self.by_marker.insert(m.into(), id.clone());
        }
        let ids = self.by_key.entry(t.natural_key().into()).or_default();
        ids.push(id.clone());
        ids.shrink_to_fit();
        self.by_id.insert(id, Box::new(t));
    }

    /// Removes a trunk.
    pub fn remove(&mut self, id: &str) {
        if let Some(old) = self.by_id.remove(id) {
            if let Some(m) = old.marker_token()
                && self.by_marker.get(m.as_str()).map(|i| &**i) == Some(id)
            {
                self.by_marker.remove(m.as_str());
            }
            let key = old.natural_key();
            if let Some(ids) = self.by_key.get_mut(key.as_str()) {
                ids.retain(|i| &**i != id);
                if ids.is_empty() {
                    self.by_key.remove(key.as_str());
                }
            }
        }
    }

    /// What of `desired` other trunks of the account hold (why a create was refused as a
    /// conflict): bolna DIDs live on another trunk, in the order of the spec. O(trunks), so
    /// only called after a refused create.
    pub fn held_elsewhere<D: DesiredTrunk<Remote = R>>(&self, desired: &D) -> Vec<Held> {
        let others: Vec<&R> = self.by_id.values().map(|r| &**r).collect();
        desired.held_elsewhere(&others)
    }

    fn by_key(&self, key: &str) -> Option<&R> {
        self.by_key.get(key).and_then(|ids| ids.first()).and_then(|id| self.get(id))
    }

    /// The trunks that could be this object's (API.md §4.2): the recorded id, our marker, the
    /// create intent's natural key and the desired natural key. `decide` judges them.
    pub fn find(&self, input: &MatchInput<'_>) -> Observation<R> {
        Observation {
            recorded: input.recorded_id.and_then(|id| self.get(id)).cloned(),
            marked: self.by_marker.get(input.marker).and_then(|id| self.get(id)).cloned(),
            keyed: self.by_key(input.natural_key).cloned(),
            intended: input.pending_create_key.and_then(|k| self.by_key(k)).cloned(),
        }
    }
}
