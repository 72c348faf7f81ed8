//! `model::decide`: one table test per ownership case, and a property — for any mix of
//! unmarked, foreign-marked and own trunks, no decision writes to a trunk not proved ours
//! (or taken over for a stated reason: adoptExisting on an unmarked trunk, or our own create).

mod builders;
mod erased;

use builders::{autocalls_spec, desired_autocalls, marker};
use chrono::{Duration as ChronoDuration, Utc};
use erased::{Decision, Desired, Observation, Remote, TrunkIndex, autocalls};
use proptest::prelude::*;
use secrecy::SecretString;
use siptrunk_operator::crd::{CreateIntent, SipTrunkStatus};
use siptrunk_operator::model::decide::{INTENT_TTL, applied_hash, owner};
use siptrunk_operator::model::{AdoptReason, DeleteDecision, MatchInput, Owner, Wanted, decide, decide_delete};

const NAME: &str = "main-line";

fn desired() -> Desired {
    Desired::Autocalls(desired_autocalls(autocalls_spec(), NAME))
}

fn ours() -> String {
    marker("default", NAME)
}

/// A trunk with the desired natural key (or `number`), in sync but for the nickname.
fn trunk(id: i64, number: &str, nickname: Option<&str>) -> Remote {
    let d = desired_autocalls(autocalls_spec(), NAME);
    Remote::Autocalls(autocalls::Trunk {
        id,
        phone_number: number.into(),
        nickname: Some(nickname.map(str::to_string)),
        sip_username: d.sip_username.clone(),
        sip_address: d.sip_address.clone(),
        sip_calling_format: d.sip_calling_format.into(),
        inbound_authorization_type: d.inbound_authorization_type.into(),
        country_code: Some(d.country_code.clone()),
        ..Default::default()
    })
}

const NUMBER: &str = "+14155551234";

fn own(id: i64) -> Remote {
    let d = desired_autocalls(autocalls_spec(), NAME);
    trunk(id, NUMBER, Some(&d.nickname))
}

fn foreign(id: i64) -> Remote {
    trunk(id, NUMBER, Some(&format!("Other {}", marker("other-ns", "victim"))))
}

fn unmarked(id: i64) -> Remote {
    trunk(id, NUMBER, Some("made by hand"))
}

fn unseen(id: i64) -> Remote {
    let mut t = unmarked(id);
    if let Remote::Autocalls(a) = &mut t {
        a.nickname = None;
    }
    t
}

struct Case {
    obs: Observation,
    status: SipTrunkStatus,
    adopt: bool,
    suspended: Option<&'static str>,
    hash: Option<&'static str>,
}

impl Case {
    fn new(obs: Observation) -> Case {
        Case { obs, status: SipTrunkStatus::default(), adopt: false, suspended: None, hash: Some("h1") }
    }
    fn recorded(mut self, id: &str, hash: Option<&str>) -> Case {
        self.status.trunk_id = Some(id.into());
        self.status.credentials_hash = hash.map(str::to_string);
        self
    }
    fn intent(mut self, age_secs: i64, hash: Option<&str>) -> Case {
        self.status.create_intent = Some(CreateIntent {
            natural_key: desired().natural_key(),
            credentials_hash: hash.map(str::to_string),
            started_at: (Utc::now() - ChronoDuration::seconds(age_secs)).to_rfc3339(),
        });
        self
    }
    fn decide(&self) -> Decision {
        let d = desired();
        let m = ours();
        let pw = SecretString::from("s3cret");
        let want = Wanted {
            desired: &d,
            marker: &m,
            legacy_marker: None,
            password: Some(&pw),
            credentials_hash: self.hash,
            adopt_existing: self.adopt,
            suspended: self.suspended,
            now: Utc::now(),
        };
        decide(&self.obs, &want, &self.status)
    }
}

fn keyed(t: Remote) -> Observation {
    Observation { keyed: Some(t), ..Default::default() }
}

fn fields(c: &erased::Change) -> Vec<&'static str> {
    c.fields()
}

// ---- table: one test per ownership case ---------------------------------------------------

#[test]
fn nothing_there_creates() {
    assert!(matches!(Case::new(Observation::default()).decide(), Decision::Create));
}

#[test]
fn recorded_and_marked_in_sync_is_nothing() {
    let c = Case::new(Observation { recorded: Some(own(1)), ..Default::default() }).recorded("1", Some("h1"));
    assert!(matches!(c.decide(), Decision::Nothing { .. }), "{:?}", c.decide());
}

#[test]
fn recorded_and_marked_with_a_rotated_password_updates_only_the_password() {
    let c = Case::new(Observation { recorded: Some(own(1)), ..Default::default() }).recorded("1", Some("h0"));
    match c.decide() {
        Decision::Update { change, .. } => assert_eq!(fields(&change), ["sip_password"]),
        d => panic!("{d:?}"),
    }
}

#[test]
fn recorded_id_of_a_foreign_marked_trunk_is_a_conflict_even_with_adopt_existing() {
    for adopt in [false, true] {
        let mut c = Case::new(Observation { recorded: Some(foreign(9)), ..Default::default() }).recorded("9", None);
        c.adopt = adopt;
        match c.decide() {
            Decision::Conflict { trunk_id, owner, message } => {
                assert_eq!((trunk_id.as_str(), owner), ("9", Owner::Other));
                assert!(message.contains("status.trunkId"), "{message}");
            }
            d => panic!("{d:?}"),
        }
    }
}

#[test]
fn recorded_id_of_an_unmarked_trunk_is_refused_unless_adopt_existing() {
    let c = Case::new(Observation { recorded: Some(unmarked(9)), ..Default::default() }).recorded("9", Some("h1"));
    assert!(matches!(c.decide(), Decision::Conflict { owner: Owner::Nobody, .. }));
    let mut c = c;
    c.adopt = true;
    match c.decide() {
        Decision::Adopt { reason: AdoptReason::Allowed, change, .. } => {
            assert!(fields(&change).contains(&"nickname"), "the marker is written");
            assert!(fields(&change).contains(&"sip_password"), "an adopted trunk gets the password");
        }
        d => panic!("{d:?}"),
    }
}

#[test]
fn recorded_id_where_the_nickname_is_not_shown_is_refused() {
    let c = Case::new(Observation { recorded: Some(unseen(9)), ..Default::default() }).recorded("9", Some("h1"));
    assert!(matches!(c.decide(), Decision::Conflict { owner: Owner::Unseen, .. }));
}

#[test]
fn our_marker_without_status_is_adopted_and_its_password_sent() {
    let c = Case::new(Observation { marked: Some(own(4)), keyed: Some(own(4)), ..Default::default() });
    match c.decide() {
        Decision::Adopt { reason: AdoptReason::Marker, change, .. } => {
            assert_eq!(fields(&change), ["sip_password"], "no status: the password is not known to be applied")
        }
        d => panic!("{d:?}"),
    }
}

#[test]
fn our_marker_with_our_create_intent_counts_the_intents_password_as_applied() {
    let c = Case::new(Observation { marked: Some(own(4)), ..Default::default() }).intent(5, Some("h1"));
    match c.decide() {
        Decision::Adopt { reason: AdoptReason::Marker, change, .. } => assert!(change.is_empty(), "{change:?}"),
        d => panic!("{d:?}"),
    }
}

#[test]
fn an_unmarked_twin_is_a_conflict_and_adopt_existing_takes_it_with_the_password() {
    let c = Case::new(keyed(unmarked(5)));
    assert!(matches!(c.decide(), Decision::Conflict { owner: Owner::Nobody, .. }));
    let mut c = c;
    c.adopt = true;
    match c.decide() {
        Decision::Adopt { reason: AdoptReason::Allowed, change, .. } => {
            assert!(fields(&change).contains(&"sip_password") && fields(&change).contains(&"nickname"))
        }
        d => panic!("{d:?}"),
    }
}

#[test]
fn a_foreign_marked_twin_is_a_conflict_even_with_adopt_existing_or_an_intent() {
    for adopt in [false, true] {
        let mut c =
            Case::new(Observation { keyed: Some(foreign(6)), intended: Some(foreign(6)), ..Default::default() })
                .intent(5, Some("h1"));
        c.adopt = adopt;
        match c.decide() {
            Decision::Conflict { owner: Owner::Other, message, .. } => {
                assert!(message.contains("another SipTrunk's ownership marker"), "{message}")
            }
            d => panic!("{d:?}"),
        }
    }
}

#[test]
fn an_unseen_twin_is_never_adopted() {
    let mut c = Case::new(Observation { keyed: Some(unseen(6)), intended: Some(unseen(6)), ..Default::default() })
        .intent(5, Some("h1"));
    c.adopt = true;
    assert!(matches!(c.decide(), Decision::Conflict { owner: Owner::Unseen, .. }));
}

#[test]
fn an_unexpired_intent_adopts_the_unmarked_twin_and_resends_the_password() {
    let c = Case::new(Observation { keyed: Some(unmarked(7)), intended: Some(unmarked(7)), ..Default::default() })
        .intent(5, Some("h1"));
    match c.decide() {
        Decision::Adopt { reason: AdoptReason::PendingCreate, change, .. } => {
            assert!(fields(&change).contains(&"sip_password"), "the intent's hash is not proof: {change:?}");
            assert!(fields(&change).contains(&"nickname"));
        }
        d => panic!("{d:?}"),
    }
}

#[test]
fn an_intent_whose_create_response_was_read_keeps_the_recorded_password() {
    // famulor: created (id and hash recorded), the nickname follow-up failed.
    let c = Case::new(Observation { recorded: Some(unmarked(7)), ..Default::default() })
        .recorded("7", Some("h1"))
        .intent(5, Some("h1"));
    match c.decide() {
        Decision::Adopt { reason: AdoptReason::PendingCreate, change, .. } => {
            assert_eq!(fields(&change), ["nickname"])
        }
        d => panic!("{d:?}"),
    }
}

#[test]
fn an_expired_intent_adopts_nothing() {
    let age = INTENT_TTL.as_secs() as i64 + 60;
    let c = Case::new(Observation { keyed: Some(unmarked(7)), intended: Some(unmarked(7)), ..Default::default() })
        .intent(age, Some("h1"));
    assert!(matches!(c.decide(), Decision::Conflict { owner: Owner::Nobody, .. }));
}

#[test]
fn suspended_writes_report_the_same_decision_as_pending_fields() {
    let mut c = Case::new(Observation { recorded: Some(own(1)), ..Default::default() }).recorded("1", Some("h0"));
    c.suspended = Some("Paused");
    match c.decide() {
        Decision::Pending { fields, trunk, reason } => {
            assert_eq!(fields, ["sip_password"], "paused and writing branches judge the password alike");
            assert!(trunk.is_some());
            assert_eq!(reason, "Paused");
        }
        d => panic!("{d:?}"),
    }
    let mut c = Case::new(Observation::default());
    c.suspended = Some("ObserveOnly");
    assert!(matches!(c.decide(), Decision::Pending { trunk: None, .. }));
    let mut c = Case::new(keyed(foreign(3)));
    c.suspended = Some("Paused");
    assert!(matches!(c.decide(), Decision::Conflict { .. }), "a conflict is reported while paused too");
}

#[test]
fn the_other_api_family_is_refused() {
    let bolna = Remote::Bolna(erased::bolna::Trunk {
        id: "b1".into(),
        description: Some(format!("x key={}", ours())),
        ..Default::default()
    });
    let c = Case::new(Observation { recorded: Some(bolna), ..Default::default() }).recorded("b1", None);
    assert!(matches!(c.decide(), Decision::Refuse { reason: "InvalidSpec", .. }));
}

#[test]
fn applied_hash_counts_an_intent_only_for_a_marked_trunk() {
    let c = Case::new(Observation::default()).intent(5, Some("hi"));
    let intent = c.status.create_intent.as_ref();
    assert_eq!(applied_hash(&c.status, &own(1), Some(AdoptReason::Marker), intent).as_deref(), Some("hi"));
    assert_eq!(applied_hash(&c.status, &unmarked(1), Some(AdoptReason::PendingCreate), intent), None);
    assert_eq!(applied_hash(&c.status, &unmarked(1), Some(AdoptReason::Allowed), intent), None);
}

#[test]
fn owner_reads_nickname_and_bolna_description() {
    let m = ours();
    assert_eq!(owner(&own(1), &m, None), Owner::Us);
    assert_eq!(owner(&foreign(1), &m, None), Owner::Other);
    assert_eq!(owner(&unmarked(1), &m, None), Owner::Nobody);
    assert_eq!(owner(&unseen(1), &m, None), Owner::Unseen);
    assert_eq!(owner(&trunk(1, NUMBER, Some("x op:0000000000")), &m, Some("op:0000000000")), Owner::Us);
    let b = |d: &str| {
        Remote::Bolna(erased::bolna::Trunk { id: "b".into(), description: Some(d.into()), ..Default::default() })
    };
    assert_eq!(owner(&b(&format!("L managed-by=siptrunk-operator key={m}")), &m, None), Owner::Us);
    assert_eq!(owner(&b("L managed-by=siptrunk-operator key=op:123456789abc"), &m, None), Owner::Other);
    assert_eq!(owner(&b("made by hand"), &m, None), Owner::Nobody);
}

// ---- deletion ------------------------------------------------------------------------------

#[test]
fn deletion_needs_our_marker_or_our_own_recorded_create() {
    let m = ours();
    let now = Utc::now();
    let recorded = Case::new(Observation::default()).recorded("1", None);
    assert_eq!(decide_delete(Some(&own(1)), &m, None, &recorded.status, now), DeleteDecision::Delete("1".into()));
    assert_eq!(decide_delete::<Remote>(None, &m, None, &recorded.status, now), DeleteDecision::Nothing);
    for t in [foreign(1), unmarked(1), unseen(1)] {
        assert!(matches!(decide_delete(Some(&t), &m, None, &recorded.status, now), DeleteDecision::Refuse(_)));
    }
    let ours_unmarked = Case::new(Observation::default()).recorded("1", None).intent(5, None);
    assert_eq!(
        decide_delete(Some(&unmarked(1)), &m, None, &ours_unmarked.status, now),
        DeleteDecision::Delete("1".into())
    );
    let expired = Case::new(Observation::default()).recorded("1", None).intent(INTENT_TTL.as_secs() as i64 + 5, None);
    assert!(matches!(decide_delete(Some(&unmarked(1)), &m, None, &expired.status, now), DeleteDecision::Refuse(_)));
}

// ---- property ------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Kind {
    Own,
    Foreign,
    Unmarked,
    Unseen,
}

fn make(kind: Kind, id: i64, same_key: bool) -> Remote {
    let number = if same_key { NUMBER.to_string() } else { format!("+1415555{:04}", 2000 + id) };
    let d = desired_autocalls(autocalls_spec(), NAME);
    match kind {
        Kind::Own => trunk(id, &number, Some(&d.nickname)),
        Kind::Foreign => trunk(id, &number, Some(&format!("X {}", marker("ns", &format!("o{id}"))))),
        Kind::Unmarked => trunk(id, &number, Some("hand made")),
        Kind::Unseen => {
            let mut t = trunk(id, &number, None);
            if let Remote::Autocalls(a) = &mut t {
                a.nickname = None;
            }
            t
        }
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Own), Just(Kind::Foreign), Just(Kind::Unmarked), Just(Kind::Unseen)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the account holds and whatever status claims, a write goes only to a trunk
    /// carrying our marker, or to an unmarked one taken over for a stated reason that holds.
    #[test]
    fn no_decision_writes_to_a_trunk_not_proved_ours(
        trunks in prop::collection::vec((kind(), any::<bool>()), 0..6),
        recorded in prop::option::of(0usize..8),
        intent in prop::option::of((any::<bool>(), 0i64..2000)),
        adopt in any::<bool>(),
        hash in prop::option::of(prop_oneof![Just("h1"), Just("h2")]),
        status_hash in prop::option::of(prop_oneof![Just("h1"), Just("h2")]),
    ) {
        let remotes: Vec<Remote> =
            trunks.iter().enumerate().map(|(i, (k, same))| make(*k, i as i64 + 1, *same)).collect();
        let idx = TrunkIndex::new(remotes);
        let d = desired();
        let m = ours();
        let mut status = SipTrunkStatus {
            trunk_id: recorded.map(|i| (i + 1).to_string()),
            credentials_hash: status_hash.map(str::to_string),
            ..Default::default()
        };
        if let Some((same, age)) = intent {
            status.create_intent = Some(CreateIntent {
                natural_key: if same { d.natural_key() } else { "elsewhere".into() },
                credentials_hash: Some("h1".into()),
                started_at: (Utc::now() - ChronoDuration::seconds(age)).to_rfc3339(),
            });
        }
        let now = Utc::now();
        let intent_key = siptrunk_operator::model::decide::active_intent(&status, now).map(|i| i.natural_key.clone());
        let key = d.natural_key();
        let obs = idx.find(&MatchInput {
            recorded_id: status.trunk_id.as_deref(),
            marker: &m,
            natural_key: &key,
            pending_create_key: intent_key.as_deref(),
        });
        let pw = SecretString::from("s3cret");
        let want = Wanted {
            desired: &d, marker: &m, legacy_marker: None, password: Some(&pw), credentials_hash: hash,
            adopt_existing: adopt, suspended: None, now,
        };
        let decision = decide(&obs, &want, &status);
        if let Decision::Adopt { trunk, .. } | Decision::Update { trunk, .. } | Decision::Nothing { trunk } = &decision {
            let who = owner(trunk, &m, None);
            let ok = match (&decision, who) {
                (_, Owner::Us) => true,
                (Decision::Adopt { reason: AdoptReason::Allowed, .. }, Owner::Nobody) => adopt,
                (Decision::Adopt { reason: AdoptReason::PendingCreate, .. }, Owner::Nobody) => {
                    intent_key.as_deref() == Some(trunk.natural_key().as_str())
                }
                _ => false,
            };
            prop_assert!(ok, "{decision:?} writes to a trunk owned by {who:?} ({reason:?})", reason = reason_of(&decision));
            // Adopted unmarked trunks get the password: an intent's hash is no proof.
            if who == Owner::Nobody && hash.is_some() && status.trunk_id.as_deref() != Some(trunk.id().as_str()) {
                let sent = match &decision { Decision::Adopt { change, .. } => change.fields().contains(&"sip_password"), _ => false };
                prop_assert!(sent, "{decision:?}");
            }
        }
        if let Decision::Create = &decision {
            prop_assert!(obs.keyed.is_none() && obs.recorded.is_none(), "a create only where nothing has our key: {obs:?}");
        }
    }
}

fn reason_of(d: &Decision) -> Option<AdoptReason> {
    match d {
        Decision::Adopt { reason, .. } => Some(*reason),
        _ => None,
    }
}
