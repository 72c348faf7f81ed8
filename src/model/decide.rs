//! The one decision: `decide(observation, wanted, status) -> Decision` holds every matching,
//! ownership and password rule; the controller executes it and `plan` prints it. Pure.
//!
//! Rules (README "Ownership and trust"):
//! - Only a trunk that carries this object's marker is proved ours. `status.trunkId` is a hint
//!   that says where to look, never proof.
//! - An unmarked trunk may be taken over only when the spec says `adoptExisting`, or when an
//!   unexpired create intent of this object names its natural key (our create lost its answer).
//!   A trunk carrying anybody else's marker is never taken over; where the provider does not
//!   show the marker field, nothing is taken over.
//! - The password is sent when its keyed hash differs from the hash applied to *this* trunk:
//!   status records it for the trunk it recorded; a create intent's hash counts only for a trunk
//!   that carries our marker (our create made it); an adopted unmarked trunk gets the password.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::marker::is_marker_token;
use super::{DesiredTrunk, RemoteTrunk, TrunkChange};
use crate::crd::{CreateIntent, SipTrunkStatus};

/// How long a create intent may adopt an unmarked trunk with its natural key. A lost create
/// response is retried within seconds (backoff caps at 5 minutes), so 15 minutes covers a few
/// retries and a controller restart, and a forgotten intent cannot claim a trunk made later.
pub const INTENT_TTL: Duration = Duration::from_secs(15 * 60);

/// Who a trunk belongs to, as far as the provider's data shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// It carries this object's marker.
    Us,
    /// It carries a marker that is not ours: another SipTrunk's (or another installation's).
    Other,
    /// The marker field is there and carries no marker.
    Nobody,
    /// The provider did not return the marker field.
    Unseen,
}

/// Why a trunk not yet recorded as ours is taken over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdoptReason {
    /// It carries our marker (status was lost, or a create lost its answer).
    Marker,
    /// Unmarked, and an unexpired create intent of this object names its natural key.
    PendingCreate,
    /// Unmarked, and the spec sets adoptExisting.
    Allowed,
}

/// The account's trunks that could be this object's, found through the account index.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation<R> {
    /// The trunk with `status.trunkId`, when the account holds it.
    pub recorded: Option<R>,
    /// The trunk carrying our marker.
    pub marked: Option<R>,
    /// The trunk with the desired natural key.
    pub keyed: Option<R>,
    /// The trunk with the create intent's natural key.
    pub intended: Option<R>,
}

impl<R> Default for Observation<R> {
    fn default() -> Self {
        Observation { recorded: None, marked: None, keyed: None, intended: None }
    }
}

/// What the object wants, beside its status.
pub struct Wanted<'a, D> {
    /// The desired trunk (nickname/description already carry `marker`).
    pub desired: &'a D,
    /// This object's marker.
    pub marker: &'a str,
    /// The unkeyed marker of releases before the keyed one, accepted as proof for the trunk
    /// status records (never for one found otherwise), so that an upgrade keeps its trunks and
    /// rewrites their marker.
    pub legacy_marker: Option<&'a str>,
    /// The password from its Secret, if the trunk uses one.
    pub password: Option<&'a SecretString>,
    /// Keyed hash of that password.
    pub credentials_hash: Option<&'a str>,
    /// spec.adoptExisting.
    pub adopt_existing: bool,
    /// Why writes are suspended (`Paused`, `ObserveOnly`), if they are.
    pub suspended: Option<&'static str>,
    /// Now, to expire create intents.
    pub now: DateTime<Utc>,
}

/// What to do with one SipTrunk.
#[derive(Clone, Debug)]
pub enum Decision<R, C> {
    /// Nothing matches: create (write the create intent first).
    Create,
    /// Our trunk differs: send `change` (only the fields that differ).
    Update {
        /// The trunk, proved ours.
        trunk: R,
        /// The partial update.
        change: C,
    },
    /// Take the trunk over, writing our marker with whatever else differs.
    Adopt {
        /// The trunk.
        trunk: R,
        /// Why it may be taken over.
        reason: AdoptReason,
        /// The partial update (may be empty when the marker is already visible).
        change: C,
    },
    /// Our trunk matches the spec.
    Nothing {
        /// The trunk, proved ours.
        trunk: R,
    },
    /// Writes are suspended: what they would do.
    Pending {
        /// The trunk when proved ours (recorded in status).
        trunk: Option<R>,
        /// Fields that would be sent, or `create trunk`.
        fields: Vec<String>,
        /// `Paused` or `ObserveOnly`.
        reason: &'static str,
    },
    /// A trunk with our natural key (or recorded id) is somebody else's, or nobody's and not
    /// ours to take: nothing is written.
    Conflict {
        /// The provider's id.
        trunk_id: String,
        /// Who it belongs to.
        owner: Owner,
        /// What happened and what to do.
        message: String,
    },
    /// Nothing can be done until the user changes something.
    Refuse {
        /// Bounded condition reason.
        reason: &'static str,
        /// What to fix.
        message: String,
    },
}

impl<R, C: TrunkChange> Decision<R, C> {
    /// The trunk the decision writes to (update, adopt): every one of them must be proved ours
    /// or be taken over for a stated reason.
    pub fn written_trunk(&self) -> Option<&R> {
        match self {
            Decision::Update { trunk, change } | Decision::Adopt { trunk, change, .. } if !change.is_empty() => {
                Some(trunk)
            }
            _ => None,
        }
    }

    /// True when the provider would be written.
    pub fn writes(&self) -> bool {
        matches!(self, Decision::Create) || self.written_trunk().is_some()
    }
}

/// Who owns `trunk`, judged from the field that carries markers (autocalls/famulor nickname,
/// bolna description).
pub fn owner<R: RemoteTrunk>(trunk: &R, marker: &str, legacy: Option<&str>) -> Owner {
    let Some(text) = trunk.marker_text() else { return Owner::Unseen };
    let words = || text.split_whitespace().map(|w| w.strip_prefix("key=").unwrap_or(w));
    if words().any(|w| w == marker || Some(w) == legacy) {
        Owner::Us
    } else if words().any(is_marker_token) || text.contains("op:") {
        Owner::Other
    } else {
        Owner::Nobody
    }
}

/// The create intent, when it has not expired.
pub fn active_intent(status: &SipTrunkStatus, now: DateTime<Utc>) -> Option<&CreateIntent> {
    let intent = status.create_intent.as_ref()?;
    let started = DateTime::parse_from_rfc3339(&intent.started_at).ok()?.with_timezone(&Utc);
    let age = now.signed_duration_since(started).to_std().unwrap_or_default();
    (age <= INTENT_TTL).then_some(intent)
}

/// Whose trunk the observation shows, before any field is compared.
enum Claim<R, C> {
    Owned(R),
    Adopt(R, AdoptReason),
    Missing,
    Blocked(Box<Decision<R, C>>),
}

fn conflict<R: RemoteTrunk, C>(trunk: &R, owner: Owner, recorded: bool) -> Decision<R, C> {
    let id = trunk.id();
    let key = trunk.key_fields();
    let message = match (owner, recorded) {
        (Owner::Other, true) => format!(
            "trunk {id} (status.trunkId) carries another SipTrunk's ownership marker; nothing is written to it. \
             Clear status.trunkId, or delete this SipTrunk with deletionPolicy: Orphan"
        ),
        (Owner::Other, false) => format!(
            "the account already has trunk {id} with the same {key}, and it carries another SipTrunk's ownership \
             marker; it cannot be taken over (not even with adoptExisting). Change the spec, or remove the other SipTrunk"
        ),
        (Owner::Nobody, true) => format!(
            "trunk {id} (status.trunkId) does not carry this SipTrunk's ownership marker (renamed at the provider, or \
             status edited); nothing is written to it. Restore the marker in its nickname/description, or set \
             spec.adoptExisting: true to take it over"
        ),
        (Owner::Nobody, false) => format!(
            "the account already has trunk {id} with the same {key} and without an ownership marker; set \
             spec.adoptExisting: true to take it over, or change the spec"
        ),
        (Owner::Unseen, _) | (Owner::Us, _) => format!(
            "the provider does not show the nickname of trunk {id} (same {key}), so its owner cannot be proved; \
             nothing is written to it. Check the account, or change the spec"
        ),
    };
    Decision::Conflict { trunk_id: id, owner, message }
}

fn claim<D: DesiredTrunk>(
    obs: &Observation<D::Remote>,
    want: &Wanted<'_, D>,
    intent: Option<&CreateIntent>,
) -> Claim<D::Remote, D::Change> {
    let intended = |t: &D::Remote| intent.is_some_and(|i| i.natural_key == t.natural_key());
    let wanted_key = want.desired.natural_key();
    // 1. The recorded id says where to look; the marker proves it.
    if let Some(t) = &obs.recorded {
        return match owner(t, want.marker, want.legacy_marker) {
            Owner::Us => Claim::Owned(t.clone()),
            Owner::Nobody if intended(t) => Claim::Adopt(t.clone(), AdoptReason::PendingCreate),
            Owner::Nobody if want.adopt_existing && t.natural_key() == wanted_key => {
                Claim::Adopt(t.clone(), AdoptReason::Allowed)
            }
            o => Claim::Blocked(Box::new(conflict(t, o, true))),
        };
    }
    // 2. Our marker, wherever it is.
    if let Some(t) = obs.marked.as_ref().filter(|t| owner(*t, want.marker, None) == Owner::Us) {
        return Claim::Adopt(t.clone(), AdoptReason::Marker);
    }
    // 3. The trunk our own create may have made (its answer was lost).
    if let Some(t) = obs.intended.as_ref().filter(|t| intended(t)) {
        return match owner(t, want.marker, None) {
            Owner::Us => Claim::Adopt(t.clone(), AdoptReason::Marker),
            Owner::Nobody => Claim::Adopt(t.clone(), AdoptReason::PendingCreate),
            o => Claim::Blocked(Box::new(conflict(t, o, false))),
        };
    }
    // 4. The natural key: somebody's trunk, or an unmarked one we may be allowed to take.
    if let Some(t) = &obs.keyed {
        return match owner(t, want.marker, None) {
            Owner::Us => Claim::Adopt(t.clone(), AdoptReason::Marker),
            Owner::Nobody if want.adopt_existing => Claim::Adopt(t.clone(), AdoptReason::Allowed),
            o => Claim::Blocked(Box::new(conflict(t, o, false))),
        };
    }
    Claim::Missing
}

/// The hash of the password `trunk` already has, as far as anything proves it.
pub fn applied_hash<R: RemoteTrunk>(
    status: &SipTrunkStatus,
    trunk: &R,
    how: Option<AdoptReason>,
    intent: Option<&CreateIntent>,
) -> Option<String> {
    let recorded = status.trunk_id.as_deref() == Some(trunk.id().as_str());
    match how {
        // Recorded and proved: status holds what was applied to it.
        None => status.credentials_hash.clone(),
        // Ours by marker: our create made it, with the intent's password if that create is the
        // one status has no answer of; else status's hash if it recorded this very trunk.
        Some(AdoptReason::Marker) => match intent.filter(|i| i.natural_key == trunk.natural_key()) {
            Some(i) if !recorded => i.credentials_hash.clone(),
            _ if recorded => status.credentials_hash.clone(),
            _ => None,
        },
        // Unmarked: only a create whose answer was read (it recorded the id) applied a password.
        Some(AdoptReason::PendingCreate) if recorded => status.credentials_hash.clone(),
        Some(_) => None,
    }
}

/// The one decision for one SipTrunk.
pub fn decide<D: DesiredTrunk>(
    obs: &Observation<D::Remote>,
    want: &Wanted<'_, D>,
    status: &SipTrunkStatus,
) -> Decision<D::Remote, D::Change> {
    let intent = active_intent(status, want.now);
    let decision = match claim(obs, want, intent) {
        Claim::Blocked(d) => return *d,
        Claim::Missing => Decision::Create,
        Claim::Owned(trunk) => match change_for(want, status, &trunk, None, intent) {
            None => return other_family(),
            Some(change) if change.is_empty() => Decision::Nothing { trunk },
            Some(change) => Decision::Update { trunk, change },
        },
        Claim::Adopt(trunk, reason) => match change_for(want, status, &trunk, Some(reason), intent) {
            None => return other_family(),
            Some(change) => Decision::Adopt { trunk, reason, change },
        },
    };
    match want.suspended {
        Some(reason) => suspend(decision, reason),
        None => decision,
    }
}

fn other_family<R, C>() -> Decision<R, C> {
    Decision::Refuse {
        reason: "InvalidSpec",
        message: "the trunk at the provider belongs to another API family".into(),
    }
}

/// The partial update for a trunk we own or take over (None: another API family).
fn change_for<D: DesiredTrunk>(
    want: &Wanted<'_, D>,
    status: &SipTrunkStatus,
    trunk: &D::Remote,
    how: Option<AdoptReason>,
    intent: Option<&CreateIntent>,
) -> Option<D::Change> {
    let applied = applied_hash(status, trunk, how, intent);
    let send = want.credentials_hash.is_some() && want.credentials_hash != applied.as_deref();
    let password = want.password.filter(|_| send).cloned();
    // Unreliably visible fields the provider did not show are judged by status.lastApplied.
    let record = status.last_applied.clone().unwrap_or_default();
    let mut change = want.desired.diff_applied(trunk, password, &record)?;
    if how.is_some() && owner(trunk, want.marker, None) != Owner::Us {
        want.desired.write_marker(&mut change);
    }
    Some(change)
}

fn suspend<R: RemoteTrunk, C: TrunkChange>(decision: Decision<R, C>, reason: &'static str) -> Decision<R, C> {
    let fields = |c: &C| c.fields().into_iter().map(String::from).collect::<Vec<_>>();
    match decision {
        Decision::Create => Decision::Pending { trunk: None, fields: vec!["create trunk".into()], reason },
        Decision::Update { trunk, change } => Decision::Pending { fields: fields(&change), trunk: Some(trunk), reason },
        Decision::Adopt { trunk, reason: how, change } => {
            let mut f = fields(&change);
            f.insert(0, format!("adopt trunk {} ({how:?})", trunk.id()));
            let proved = how == AdoptReason::Marker;
            Decision::Pending { trunk: proved.then_some(trunk), fields: f, reason }
        }
        other => other,
    }
}

/// What the finalizer does with the provider's trunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeleteDecision {
    /// Delete the trunk with this id.
    Delete(String),
    /// Nothing provably ours is there: release the object without a provider write.
    Nothing,
    /// Keep the finalizer: the trunk cannot be proved ours.
    Refuse(String),
}

/// Deletion, judged on a fresh read of the recorded trunk (`current`; None when the provider
/// answered 404). Only a trunk carrying our marker, or the unmarked trunk our own create made
/// (recorded id, unexpired intent for its natural key), is deleted.
pub fn decide_delete<R: RemoteTrunk>(
    current: Option<&R>,
    marker: &str,
    legacy: Option<&str>,
    status: &SipTrunkStatus,
    now: DateTime<Utc>,
) -> DeleteDecision {
    let Some(t) = current else { return DeleteDecision::Nothing };
    let id = t.id();
    let ours_by_intent = status.trunk_id.as_deref() == Some(id.as_str())
        && active_intent(status, now).is_some_and(|i| i.natural_key == t.natural_key());
    match owner(t, marker, legacy) {
        Owner::Us => DeleteDecision::Delete(id),
        Owner::Nobody if ours_by_intent => DeleteDecision::Delete(id),
        Owner::Other => DeleteDecision::Refuse(format!(
            "trunk {id} carries another SipTrunk's ownership marker; not deleting it. Set deletionPolicy: Orphan \
             to release this SipTrunk"
        )),
        Owner::Nobody => DeleteDecision::Refuse(format!(
            "trunk {id} does not carry this SipTrunk's ownership marker (renamed at the provider, or status \
             edited); not deleting it. Restore the marker, or set deletionPolicy: Orphan to release this SipTrunk"
        )),
        Owner::Unseen => DeleteDecision::Refuse(format!(
            "the provider does not show the nickname of trunk {id}, so it cannot be proved ours; not deleting it. \
             Set deletionPolicy: Orphan to release this SipTrunk"
        )),
    }
}
