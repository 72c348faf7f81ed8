//! Fields a provider does not show back (issue 15): every written field is classified, the
//! unreliably visible ones are judged by the provider's value when shown and by the last-applied
//! record when not, and creates carry only the fields the provider's create page documents.

mod builders;
mod erased;

use builders::{autocalls_spec, bolna_spec, desired_autocalls, desired_bolna, set};
use erased::{Desired, Remote, TrunkIndex, autocalls, bolna};
use secrecy::SecretString;
use serde_json::{Value, json};
use siptrunk_operator::model::{self, Applied, Held, Shown};
use siptrunk_operator::provider::Family;

/// The classification each family declares through the family trait.
const AUTOCALLS_FIELDS: &[model::Field] = <siptrunk_operator::provider::autocalls::AutocallsFamily as Family>::FIELDS;
const BOLNA_FIELDS: &[model::Field] = <siptrunk_operator::provider::bolna::BolnaFamily as Family>::FIELDS;

fn applied(pairs: &[(&str, &str)]) -> Applied {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn wire(fields: &[model::Field]) -> Vec<&'static str> {
    fields.iter().map(|f| f.wire).collect()
}

// ---- famulor nickname ----------------------------------------------------------------------

/// A famulor trunk exactly as desired, read without its nickname.
fn famulor_in_sync() -> (autocalls::Desired, autocalls::Trunk) {
    let d = desired_autocalls(autocalls_spec(), "main-line");
    let o = autocalls::Trunk {
        id: 42,
        phone_number: d.phone_number.clone(),
        nickname: None,
        sip_username: d.sip_username.clone(),
        sip_address: d.sip_address.clone(),
        sip_calling_format: d.sip_calling_format.to_string(),
        inbound_authorization_type: d.inbound_authorization_type.to_string(),
        outbound_proxy: d.outbound_proxy,
        country_code: Some(d.country_code.clone()),
        ..Default::default()
    };
    (d, o)
}

#[test]
fn hidden_nickname_equal_to_the_record_is_not_sent() {
    let (d, o) = famulor_in_sync();
    let record = autocalls::applied_record(&d);
    assert_eq!(record, applied(&[("nickname", &d.nickname)]));
    assert!(autocalls::diff_applied(&d, &o, None, &record).is_empty());
}

#[test]
fn hidden_nickname_differing_from_the_record_is_sent() {
    let (d, o) = famulor_in_sync();
    let record = applied(&[("nickname", "Old name op:0123456789")]);
    let u = autocalls::diff_applied(&d, &o, None, &record);
    assert_eq!(serde_json::to_value(&u).unwrap(), json!({"nickname": d.nickname}));
}

#[test]
fn hidden_nickname_without_a_record_is_sent() {
    let (d, o) = famulor_in_sync();
    assert_eq!(autocalls::diff_applied(&d, &o, None, &Applied::new()).changed_fields(), ["nickname"]);
}

#[test]
fn shown_nickname_wins_over_the_record() {
    let (d, mut o) = famulor_in_sync();
    o.nickname = Some(Some(d.nickname.clone()));
    let stale = applied(&[("nickname", "Old name op:0123456789")]);
    assert!(autocalls::diff_applied(&d, &o, None, &stale).is_empty(), "shown and equal: nothing");
    o.nickname = Some(Some("renamed in the dashboard".into()));
    let current = autocalls::applied_record(&d);
    assert_eq!(autocalls::diff_applied(&d, &o, None, &current).changed_fields(), ["nickname"], "shown and changed");
    o.nickname = Some(None);
    assert_eq!(autocalls::diff_applied(&d, &o, None, &current).changed_fields(), ["nickname"], "null is drift");
}

// ---- bolna fields the list does not show ---------------------------------------------------

fn srtp_spec() -> Value {
    let s = set(bolna_spec(), "bolna.transport", json!("tls"));
    let s = set(s, "bolna.mediaEncryption", json!("sdes"));
    set(s, "bolna.mediaEncryptionOptimistic", json!(true))
}

/// A bolna trunk as desired, as a list item that omits the unreliably visible fields.
fn bolna_listed(d: &bolna::Desired) -> bolna::Trunk {
    bolna::Trunk {
        id: "trk_1".into(),
        name: d.name.clone(),
        provider: Some(d.provider.clone()),
        description: Some(d.description.clone()),
        auth_username: d.auth_username.clone(),
        gateways: d.gateways.clone(),
        phone_numbers: Some(
            d.phone_numbers
                .iter()
                .map(|n| bolna::PhoneNumber {
                    id: "pn".into(),
                    phone_number: n.phone_number.clone(),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    }
}

#[test]
fn bolna_hidden_fields_equal_to_the_record_send_nothing() {
    let d = desired_bolna(srtp_spec(), "carrier-a");
    let record = bolna::applied_record(&d);
    assert_eq!(
        record,
        applied(&[
            ("media_encryption", "sdes"),
            ("media_encryption_optimistic", "true"),
            ("transport", "transport-tls")
        ])
    );
    let c = bolna::diff_applied(&d, &bolna_listed(&d), None, &record);
    assert!(c.changed_fields().is_empty(), "{:?}", c.changed_fields());
}

#[test]
fn bolna_hidden_fields_without_a_record_are_sent() {
    let d = desired_bolna(srtp_spec(), "carrier-a");
    let c = bolna::diff_applied(&d, &bolna_listed(&d), None, &Applied::new());
    assert_eq!(
        serde_json::to_value(&c.patch).unwrap(),
        json!({"transport": "transport-tls", "media_encryption": "sdes", "media_encryption_optimistic": true})
    );
}

#[test]
fn bolna_each_hidden_field_differing_from_the_record_is_sent_alone() {
    let d = desired_bolna(srtp_spec(), "carrier-a");
    let o = bolna_listed(&d);
    for (field, old, want) in [
        ("transport", "transport-udp", json!({"transport": "transport-tls"})),
        ("media_encryption", "no", json!({"media_encryption": "sdes"})),
        ("media_encryption_optimistic", "false", json!({"media_encryption_optimistic": true})),
    ] {
        let mut record = bolna::applied_record(&d);
        record.insert(field.into(), old.into());
        let c = bolna::diff_applied(&d, &o, None, &record);
        assert_eq!(serde_json::to_value(&c.patch).unwrap(), want, "{field}");
    }
}

#[test]
fn bolna_shown_value_wins_over_the_record() {
    let d = desired_bolna(srtp_spec(), "carrier-a");
    let mut o = bolna_listed(&d);
    o.media_encryption = Some("no".into()); // a get, or a provider version that shows it
    let c = bolna::diff_applied(&d, &o, None, &bolna::applied_record(&d));
    assert_eq!(serde_json::to_value(&c.patch).unwrap(), json!({"media_encryption": "sdes"}));
}

#[test]
fn bolna_unset_hidden_settings_are_neither_recorded_nor_sent() {
    let d = desired_bolna(bolna_spec(), "carrier-a");
    assert!(bolna::applied_record(&d).is_empty());
    assert!(bolna::diff_applied(&d, &bolna_listed(&d), None, &Applied::new()).changed_fields().is_empty());
}

#[test]
fn desired_diff_applied_dispatches_and_the_record_never_holds_a_password() {
    let d = Desired::Bolna(desired_bolna(srtp_spec(), "carrier-a"));
    let Desired::Bolna(b) = &d else { unreachable!() };
    let remote = Remote::Bolna(bolna_listed(b));
    let pw = Some(SecretString::from("hunter2-secret".to_string()));
    let c = d.diff_applied(&remote, pw, &d.applied_record()).expect("same family");
    assert_eq!(c.fields(), ["auth_password"]);
    let record = serde_json::to_string(&d.applied_record()).unwrap();
    assert!(!record.contains("hunter2"), "{record}");
}

// ---- classification ------------------------------------------------------------------------

#[test]
fn every_field_an_update_can_send_is_classified() {
    let full_ac = autocalls::Update {
        phone_number: Some(String::new()),
        nickname: Some(None),
        sip_username: Some(String::new()),
        sip_password: Some(SecretString::from("x".to_string())),
        sip_address: Some(String::new()),
        sip_calling_format: Some(String::new()),
        inbound_authorization_type: Some(String::new()),
        allowed_inbound_ips: Some(vec![]),
        country_code: Some(String::new()),
        outbound_proxy: Some(false),
    };
    let ac = wire(AUTOCALLS_FIELDS);
    for f in full_ac.changed_fields() {
        let class = AUTOCALLS_FIELDS.iter().find(|c| c.wire == f).unwrap_or_else(|| panic!("{f} unclassified"));
        assert!(class.on_update, "{f} is sent in updates");
    }
    assert!(ac.contains(&"sip_trunk_type"));
    let full_b = bolna::Change {
        patch: bolna::Patch {
            name: Some(String::new()),
            description: Some(String::new()),
            auth_username: Some(String::new()),
            auth_password: Some(SecretString::from("x".to_string())),
            gateways: Some(vec![]),
            ip_identifiers: Some(vec![]),
            allow: Some(String::new()),
            disallow: Some(String::new()),
            transport: Some(String::new()),
            media_encryption: Some(String::new()),
            media_encryption_optimistic: Some(true),
            qualify_frequency: Some(1),
            inbound_enabled: Some(true),
            outbound_leading_plus_enabled: Some(true),
            is_active: Some(true),
        },
        add_numbers: vec![bolna::DesiredNumber { phone_number: "1".into(), name: None }],
        remove_numbers: vec![],
    };
    for f in full_b.changed_fields() {
        let class = BOLNA_FIELDS.iter().find(|c| c.wire == f).unwrap_or_else(|| panic!("{f} unclassified"));
        assert!(class.on_update, "{f} is sent in updates");
    }
}

#[test]
fn unreliably_visible_fields_are_the_documented_ones() {
    let of = |fields: &[model::Field], shown: Shown| -> Vec<&'static str> {
        fields.iter().filter(|f| f.shown == shown).map(|f| f.wire).collect()
    };
    assert_eq!(of(AUTOCALLS_FIELDS, Shown::Unreliable), ["nickname"]);
    assert_eq!(of(AUTOCALLS_FIELDS, Shown::WriteOnly), ["sip_trunk_type", "sip_password"]);
    assert_eq!(
        of(BOLNA_FIELDS, Shown::Unreliable),
        ["auth_type", "transport", "media_encryption", "media_encryption_optimistic"]
    );
    assert_eq!(of(BOLNA_FIELDS, Shown::WriteOnly), ["auth_password"]);
    // Every recorded field is an unreliably visible one.
    let d = desired_bolna(srtp_spec(), "carrier-a");
    for k in bolna::applied_record(&d).keys() {
        assert!(of(BOLNA_FIELDS, Shown::Unreliable).contains(&k.as_str()), "{k}");
    }
}

// ---- create bodies -------------------------------------------------------------------------

fn keys(v: &Value) -> Vec<String> {
    v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

#[test]
fn bolna_create_sends_only_fields_the_create_page_documents() {
    let spec = set(srtp_spec(), "bolna.active", json!(false));
    let spec = set(spec, "bolna.qualifyFrequency", json!(30));
    let spec = set(spec, "bolna.inboundEnabled", json!(true));
    let spec = set(spec, "bolna.outboundLeadingPlus", json!(false));
    let spec = set(spec, "bolna.allowCodecs", json!("ulaw"));
    let spec = set(spec, "bolna.disallowCodecs", json!("all"));
    let d = desired_bolna(spec, "carrier-a");
    assert_eq!(d.is_active, Some(false));
    let pw = Some(SecretString::from("pw-create".to_string()));
    let body = serde_json::to_value(bolna::CreateBody::new(&d, pw)).unwrap();
    assert!(body.get("is_active").is_none(), "is_active is not on the create page: {body}");
    let documented: Vec<&str> = BOLNA_FIELDS.iter().filter(|f| f.on_create).map(|f| f.wire).collect();
    for k in keys(&body) {
        assert!(documented.contains(&k.as_str()), "{k} is not a documented create field");
    }
    let undocumented: Vec<&str> = BOLNA_FIELDS.iter().filter(|f| !f.on_create).map(|f| f.wire).collect();
    assert_eq!(undocumented, ["is_active"]);
}

#[test]
fn autocalls_create_sends_only_documented_fields() {
    let d = desired_autocalls(autocalls_spec(), "main-line");
    let pw = SecretString::from("pw-create".to_string());
    let documented: Vec<&str> = AUTOCALLS_FIELDS.iter().filter(|f| f.on_create).map(|f| f.wire).collect();
    for famulor in [false, true] {
        let body = serde_json::to_value(autocalls::CreateBody::new(&d, &pw, !famulor)).unwrap();
        for k in keys(&body) {
            assert!(documented.contains(&k.as_str()), "{k} is not a documented create field");
        }
        assert_eq!(body.get("nickname").is_some(), !famulor, "famulor's create page has no nickname");
    }
}

// ---- conflicts -----------------------------------------------------------------------------

#[test]
fn did_on_another_trunk_is_found_and_named() {
    let spec = set(bolna_spec(), "bolna.phoneNumbers", json!([{"number": "+14155550001"}, {"number": "+14155550002"}]));
    let d = desired_bolna(spec, "carrier-a");
    let holder = bolna::Trunk {
        id: "trk_other".into(),
        name: "someone-else".into(),
        phone_numbers: Some(vec![
            bolna::PhoneNumber { id: "pn1".into(), phone_number: "14155550002".into(), ..Default::default() },
            bolna::PhoneNumber {
                id: "pn2".into(),
                phone_number: "+14155550001".into(),
                deleted: true,
                ..Default::default()
            },
        ]),
        ..Default::default()
    };
    let index = TrunkIndex::new(vec![Remote::Bolna(holder)]);
    let held = index.held_elsewhere(&Desired::Bolna(d));
    assert_eq!(
        held,
        [Held::Did { number: "+14155550002".into(), trunk_id: "trk_other".into(), field: "spec.bolna.phoneNumbers" }],
        "soft-deleted DIDs are free"
    );
    assert_eq!(held[0].to_string(), "DID +14155550002 is on trunk trk_other");
}

#[test]
fn autocalls_has_no_did_conflicts_to_explain() {
    let d = Desired::Autocalls(desired_autocalls(autocalls_spec(), "main-line"));
    assert!(TrunkIndex::default().held_elsewhere(&d).is_empty());
}
