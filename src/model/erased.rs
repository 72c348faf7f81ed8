//! The family-erased view of trunks: one enum variant per family over the family's own types.
//! The controller and the plan tool work on each family's types (generic over
//! `provider::Family`); this view serves tests and tools that handle trunks of any family
//! together, and `controller::validate::desired`.

use secrecy::SecretString;

use super::{Applied, DesiredTrunk, Held, MarkerState, RemoteTrunk, TrunkChange, autocalls, bolna, livekit};

/// A trunk as observed at the provider, family-erased (the plan tool and tests; the controller
/// works on each family's own type).
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
