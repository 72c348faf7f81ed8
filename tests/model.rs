//! Diff and matching (API.md §2.6, §3.6, §4 and traps 1, 5-8, 17): only what changed is sent,
//! equal trunks produce nothing, and a desired trunk finds its remote twin in the documented order.

mod builders;
mod erased;

use builders::{autocalls_spec, bolna_spec, desired_autocalls, desired_bolna, set};
use erased::{Desired, Observation, Remote, TrunkIndex, autocalls, bolna};
use secrecy::SecretString;
use serde_json::{Value, json};
use siptrunk_operator::crd::ProviderType;
use siptrunk_operator::model::{MarkerState, MatchInput};

const SECRET: &str = "hunter2-very-secret";

fn password() -> Option<SecretString> {
    Some(SecretString::from(SECRET.to_string()))
}

/// The remote trunk exactly as the controller would have created it for `autocalls_spec()`.
fn observed_autocalls_for(d: &autocalls::Desired) -> autocalls::Trunk {
    autocalls::Trunk {
        id: 42,
        phone_number: d.phone_number.clone(),
        nickname: Some(Some(d.nickname.clone())),
        sip_username: d.sip_username.clone(),
        sip_address: d.sip_address.clone(),
        sip_calling_format: d.sip_calling_format.to_string(),
        inbound_authorization_type: d.inbound_authorization_type.to_string(),
        allowed_inbound_ips: (d.inbound_authorization_type == "ip").then(|| d.allowed_inbound_ips.clone()),
        outbound_proxy: d.outbound_proxy,
        country_code: Some(d.country_code.clone()),
        ..Default::default()
    }
}

fn in_sync() -> (autocalls::Desired, autocalls::Trunk) {
    let d = desired_autocalls(autocalls_spec(), "main-line");
    let o = observed_autocalls_for(&d);
    (d, o)
}

fn body(u: &autocalls::Update) -> Value {
    serde_json::to_value(u).unwrap()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

// ---- autocalls / famulor diff --------------------------------------------------------------

#[test]
fn autocalls_equal_trunk_yields_an_empty_update() {
    let (d, o) = in_sync();
    let u = autocalls::diff(&d, &o, None);
    assert!(u.is_empty(), "{:?}", u.changed_fields());
    assert_eq!(body(&u), json!({}));
}

#[test]
fn autocalls_update_sends_only_the_changed_field() {
    let (d, mut o) = in_sync();
    o.sip_calling_format = "national".into();
    let u = autocalls::diff(&d, &o, None);
    assert_eq!(body(&u), json!({"sip_calling_format": "+e164"}));
}

#[test]
fn autocalls_update_json_has_exactly_the_changed_keys() {
    let (d, mut o) = in_sync();
    o.sip_username = "other".into();
    o.outbound_proxy = true;
    o.phone_number = "+14155550000".into();
    let v = body(&autocalls::diff(&d, &o, None));
    assert_eq!(keys(&v), ["outbound_proxy", "phone_number", "sip_username"]);
    assert_eq!(v["outbound_proxy"], json!(false));
    assert_eq!(v["sip_username"], json!("myuser"));
}

#[test]
fn autocalls_password_is_sent_only_when_passed() {
    let (d, o) = in_sync();
    assert!(body(&autocalls::diff(&d, &o, None)).get("sip_password").is_none());
    let v = body(&autocalls::diff(&d, &o, password()));
    assert_eq!(v, json!({"sip_password": SECRET}));
}

#[test]
fn autocalls_switch_to_ip_auth_carries_the_allow_list_in_the_same_update() {
    let spec = set(autocalls_spec(), "auth.type", json!("ip"));
    let spec = set(spec, "auth.allowedInboundIps", json!(["203.0.113.7"]));
    let d = desired_autocalls(spec, "main-line");
    let (_, o) = in_sync(); // observed still on auth with a null allow-list
    let v = body(&autocalls::diff(&d, &o, None));
    assert_eq!(v, json!({"inbound_authorization_type": "ip", "allowed_inbound_ips": ["203.0.113.7"]}));
}

#[test]
fn autocalls_switch_to_ip_carries_the_allow_list_even_if_the_stale_list_already_matches() {
    let spec = set(autocalls_spec(), "auth.type", json!("ip"));
    let spec = set(spec, "auth.allowedInboundIps", json!(["203.0.113.7"]));
    let d = desired_autocalls(spec, "main-line");
    let (_, mut o) = in_sync();
    o.allowed_inbound_ips = Some(vec!["203.0.113.7".into()]);
    let v = body(&autocalls::diff(&d, &o, None));
    assert_eq!(v["allowed_inbound_ips"], json!(["203.0.113.7"]), "trap 8: required in the same request");
}

#[test]
fn autocalls_switch_to_auth_does_not_send_an_allow_list() {
    let (d, mut o) = in_sync();
    o.inbound_authorization_type = "ip".into();
    o.allowed_inbound_ips = Some(vec!["203.0.113.7".into()]);
    let v = body(&autocalls::diff(&d, &o, None));
    assert_eq!(v, json!({"inbound_authorization_type": "auth"}));
}

#[test]
fn autocalls_ip_list_order_and_duplicates_are_not_drift() {
    let spec = set(autocalls_spec(), "auth.type", json!("ip"));
    let spec = set(spec, "auth.allowedInboundIps", json!(["198.51.100.42", "203.0.113.7", "198.51.100.42"]));
    let d = desired_autocalls(spec, "main-line");
    let mut o = observed_autocalls_for(&d);
    o.allowed_inbound_ips = Some(vec!["203.0.113.7".into(), "198.51.100.42".into(), "203.0.113.7".into()]);
    assert!(autocalls::diff(&d, &o, None).is_empty());
}

#[test]
fn autocalls_ip_list_with_a_different_member_is_sent_whole() {
    let spec = set(autocalls_spec(), "auth.type", json!("ip"));
    let spec = set(spec, "auth.allowedInboundIps", json!(["203.0.113.7", "198.51.100.42"]));
    let d = desired_autocalls(spec, "main-line");
    let mut o = observed_autocalls_for(&d);
    o.allowed_inbound_ips = Some(vec!["203.0.113.7".into()]);
    let v = body(&autocalls::diff(&d, &o, None));
    assert_eq!(v, json!({"allowed_inbound_ips": ["198.51.100.42", "203.0.113.7"]}));
}

#[test]
fn autocalls_null_and_empty_allow_list_are_equal_on_auth_trunks() {
    let (d, mut o) = in_sync();
    o.allowed_inbound_ips = Some(vec![]);
    assert!(autocalls::diff(&d, &o, None).is_empty());
    o.allowed_inbound_ips = None;
    assert!(autocalls::diff(&d, &o, None).is_empty());
}

#[test]
fn autocalls_absent_nickname_without_a_record_is_sent() {
    let (d, mut o) = in_sync();
    o.nickname = None; // famulor: the field is not returned at all, and nothing was recorded
    assert_eq!(autocalls::diff(&d, &o, None).changed_fields(), ["nickname"]);
}

#[test]
fn autocalls_null_nickname_is_drift_and_sets_our_nickname() {
    let (d, mut o) = in_sync();
    o.nickname = Some(None);
    let v = body(&autocalls::diff(&d, &o, None));
    assert_eq!(v, json!({"nickname": d.nickname}));
}

#[test]
fn autocalls_renamed_nickname_is_drift() {
    let (d, mut o) = in_sync();
    o.nickname = Some(Some("Someone renamed it".into()));
    assert_eq!(autocalls::diff(&d, &o, None).changed_fields(), ["nickname"]);
}

#[test]
fn autocalls_address_compare_ignores_case() {
    let (d, mut o) = in_sync();
    o.sip_address = "SIP.Carrier.EXAMPLE".into();
    assert!(autocalls::diff(&d, &o, None).is_empty());
    let d2 = desired_autocalls(set(autocalls_spec(), "sipAddress", json!("Sip.Carrier.Example")), "main-line");
    let o2 = observed_autocalls_for(&d);
    assert!(autocalls::diff(&d2, &o2, None).is_empty());
}

#[test]
fn autocalls_country_is_not_corrected_on_number_trunks() {
    let (d, mut o) = in_sync();
    assert_eq!(d.sip_trunk_type, "number");
    o.country_code = Some("CA".into()); // inferred by the provider from the DID (trap 6)
    assert!(autocalls::diff(&d, &o, None).is_empty());
}

#[test]
fn autocalls_country_is_corrected_on_extension_trunks() {
    let spec = set(set(autocalls_spec(), "numberType", json!("extension")), "phoneNumber", json!("1000"));
    let d = desired_autocalls(spec, "main-line");
    let mut o = observed_autocalls_for(&d);
    o.country_code = Some("DE".into());
    assert_eq!(body(&autocalls::diff(&d, &o, None)), json!({"country_code": "US"}));
    o.country_code = Some("us".into());
    assert!(autocalls::diff(&d, &o, None).is_empty(), "country compare ignores case");
}

#[test]
fn autocalls_update_debug_never_shows_the_password() {
    let (d, o) = in_sync();
    let u = autocalls::diff(&d, &o, password());
    let dbg = format!("{u:?} {:?}", erased::Change::Autocalls(u.clone()));
    assert!(!dbg.contains(SECRET), "{dbg}");
    assert!(dbg.contains("sip_password"), "the field name is still reported: {dbg}");
}

#[test]
fn autocalls_create_body_debug_hides_the_password_but_json_carries_it() {
    let (d, _) = in_sync();
    let pw = SecretString::from(SECRET.to_string());
    let b = autocalls::CreateBody::new(&d, &pw, true);
    assert!(!format!("{b:?}").contains(SECRET));
    let v = serde_json::to_value(&b).unwrap();
    assert_eq!(v["sip_password"], json!(SECRET));
    assert_eq!(v["sip_trunk_type"], json!("number"));
    assert!(v.get("allowed_inbound_ips").is_none(), "auth trunks send no allow-list");
}

#[test]
fn famulor_create_body_omits_the_nickname() {
    let (d, _) = in_sync();
    let pw = SecretString::from(SECRET.to_string());
    let v = serde_json::to_value(autocalls::CreateBody::new(&d, &pw, false)).unwrap();
    assert!(v.get("nickname").is_none());
}

// ---- bolna diff ----------------------------------------------------------------------------

fn observed_bolna_for(d: &bolna::Desired) -> bolna::Trunk {
    bolna::Trunk {
        id: "trk_1".into(),
        name: d.name.clone(),
        provider: Some(d.provider.clone()),
        description: Some(d.description.clone()),
        auth_type: Some(d.auth_type.to_string()),
        auth_username: d.auth_username.clone(),
        gateways: d.gateways.clone(),
        ip_identifiers: d.ip_identifiers.clone(),
        phone_numbers: Some(
            d.phone_numbers
                .iter()
                .enumerate()
                .map(|(i, n)| bolna::PhoneNumber {
                    id: format!("pn_{i}"),
                    phone_number: n.phone_number.clone(),
                    name: n.name.clone(),
                    deleted: false,
                })
                .collect(),
        ),
        allow: Some("ulaw,alaw".into()),
        disallow: Some("all".into()),
        transport: Some("transport-udp".into()),
        media_encryption: Some("no".into()),
        qualify_frequency: Some(60),
        inbound_enabled: Some(false),
        outbound_leading_plus_enabled: Some(true),
        is_active: Some(true),
        ..Default::default()
    }
}

fn bolna_in_sync() -> (bolna::Desired, bolna::Trunk) {
    let d = desired_bolna(bolna_spec(), "carrier-a");
    let o = observed_bolna_for(&d);
    (d, o)
}

fn patch(c: &bolna::Change) -> Value {
    serde_json::to_value(&c.patch).unwrap()
}

#[test]
fn bolna_equal_trunk_yields_no_patch_and_no_number_calls() {
    let (d, o) = bolna_in_sync();
    let c = bolna::diff(&d, &o, None);
    assert!(c.changed_fields().is_empty(), "{:?}", c.changed_fields());
    assert_eq!(patch(&c), json!({}));
}

#[test]
fn bolna_unset_optional_settings_are_not_compared() {
    let (d, mut o) = bolna_in_sync();
    assert_eq!((d.transport, d.qualify_frequency, d.is_active), (None, None, None));
    o.transport = Some("transport-tcp".into());
    o.qualify_frequency = Some(5);
    o.is_active = Some(false);
    o.allow = Some("opus".into());
    o.media_encryption = Some("sdes".into());
    assert!(bolna::diff(&d, &o, None).changed_fields().is_empty());
}

#[test]
fn bolna_set_optional_settings_are_sent_when_they_differ() {
    let spec = set(bolna_spec(), "bolna.transport", json!("tls"));
    let spec = set(spec, "bolna.qualifyFrequency", json!(30));
    let spec = set(spec, "bolna.active", json!(false));
    let spec = set(spec, "bolna.allowCodecs", json!("ulaw,alaw"));
    let d = desired_bolna(spec, "carrier-a");
    let o = observed_bolna_for(&desired_bolna(bolna_spec(), "carrier-a"));
    let v = patch(&bolna::diff(&d, &o, None));
    assert_eq!(v, json!({"transport": "transport-tls", "qualify_frequency": 30, "is_active": false}));
}

#[test]
fn bolna_gateways_in_another_order_are_not_drift() {
    let gws = json!([
        {"address": "sbc1.carrier.example", "port": 5060, "priority": 1},
        {"address": "sbc2.carrier.example", "port": 5061, "priority": 2}
    ]);
    let d = desired_bolna(set(bolna_spec(), "bolna.gateways", gws), "carrier-a");
    let mut o = observed_bolna_for(&d);
    o.gateways.reverse();
    o.gateways[0].gateway_address = o.gateways[0].gateway_address.to_uppercase();
    assert!(bolna::diff(&d, &o, None).changed_fields().is_empty());
}

#[test]
fn bolna_changed_gateway_sends_the_whole_list() {
    let gws = json!([
        {"address": "sbc1.carrier.example", "priority": 1},
        {"address": "sbc2.carrier.example", "priority": 2}
    ]);
    let d = desired_bolna(set(bolna_spec(), "bolna.gateways", gws), "carrier-a");
    let mut o = observed_bolna_for(&d);
    o.gateways[1].port = 5080;
    let v = patch(&bolna::diff(&d, &o, None));
    assert_eq!(keys(&v), ["gateways"]);
    assert_eq!(v["gateways"].as_array().unwrap().len(), 2, "lists are replaced wholesale");
}

#[test]
fn bolna_ip_identifiers_compare_as_a_set_and_are_sent_whole() {
    let spec = set(
        bolna_spec(),
        "auth",
        json!({"type": "ip", "username": "acme_pbx",
        "allowedInboundIps": ["198.51.100.0/28", "203.0.113.7"]}),
    );
    let d = desired_bolna(spec, "carrier-a");
    let mut o = observed_bolna_for(&d);
    o.ip_identifiers.reverse();
    assert!(bolna::diff(&d, &o, None).changed_fields().is_empty());
    o.ip_identifiers.pop();
    let v = patch(&bolna::diff(&d, &o, None));
    assert_eq!(v, json!({"ip_identifiers": [{"ip_address": "198.51.100.0/28"}, {"ip_address": "203.0.113.7"}]}));
}

#[test]
fn bolna_numbers_compare_without_the_leading_plus() {
    let (d, mut o) = bolna_in_sync();
    o.phone_numbers.as_mut().unwrap()[0].phone_number = "919876543210".into(); // stored without +
    let c = bolna::diff(&d, &o, None);
    assert!(c.add_numbers.is_empty() && c.remove_numbers.is_empty());
}

#[test]
fn bolna_soft_deleted_number_is_ignored_and_the_number_added_again() {
    let (d, mut o) = bolna_in_sync();
    o.phone_numbers.as_mut().unwrap()[0].deleted = true;
    let c = bolna::diff(&d, &o, None);
    assert_eq!(c.add_numbers.len(), 1);
    assert_eq!(c.add_numbers[0].phone_number, "+919876543210");
    assert!(c.remove_numbers.is_empty(), "a soft-deleted number is not removed again");
}

#[test]
fn bolna_missing_numbers_are_added_and_extra_ones_removed() {
    let spec =
        set(bolna_spec(), "bolna.phoneNumbers", json!([{"number": "+919876543210"}, {"number": "+14155550100"}]));
    let d = desired_bolna(spec, "carrier-a");
    let mut o = observed_bolna_for(&desired_bolna(bolna_spec(), "carrier-a"));
    o.phone_numbers.as_mut().unwrap().push(bolna::PhoneNumber {
        id: "pn_extra".into(),
        phone_number: "4930123456".into(),
        ..Default::default()
    });
    let c = bolna::diff(&d, &o, None);
    let added: Vec<&str> = c.add_numbers.iter().map(|n| n.phone_number.as_str()).collect();
    assert_eq!(added, ["+14155550100"]);
    assert_eq!(c.remove_numbers, [("pn_extra".to_string(), "4930123456".to_string())]);
    assert_eq!(c.changed_fields(), ["phone_numbers"]);
    assert!(c.patch.is_empty(), "DIDs go through their own endpoints, not the PATCH");
}

#[test]
fn bolna_password_is_sent_only_when_passed_and_only_on_userpass_trunks() {
    let (d, o) = bolna_in_sync();
    assert_eq!(patch(&bolna::diff(&d, &o, None)), json!({}));
    assert_eq!(patch(&bolna::diff(&d, &o, password())), json!({"auth_password": SECRET}));
    let ip =
        set(bolna_spec(), "auth", json!({"type": "ip", "username": "acme_pbx", "allowedInboundIps": ["203.0.113.7"]}));
    let d_ip = desired_bolna(ip, "carrier-a");
    let o_ip = observed_bolna_for(&d_ip);
    assert_eq!(patch(&bolna::diff(&d_ip, &o_ip, password())), json!({}));
}

#[test]
fn bolna_change_debug_never_shows_the_password() {
    let (d, o) = bolna_in_sync();
    let c = bolna::diff(&d, &o, password());
    let dbg = format!("{c:?} {:?}", erased::Change::Bolna(c.clone()));
    assert!(!dbg.contains(SECRET), "{dbg}");
    let b = bolna::CreateBody::new(&d, password());
    assert!(!format!("{b:?}").contains(SECRET));
    assert_eq!(serde_json::to_value(&b).unwrap()["auth_password"], json!(SECRET));
}

#[test]
fn bolna_renamed_trunk_is_renamed_in_place() {
    let (d, mut o) = bolna_in_sync();
    o.name = "someone-else-renamed".into();
    assert_eq!(patch(&bolna::diff(&d, &o, None)), json!({"name": d.name}));
}

#[test]
fn bolna_media_encryption_none_is_sent_as_the_string_no() {
    let d = desired_bolna(set(bolna_spec(), "bolna.mediaEncryption", json!("none")), "carrier-a");
    let mut o = observed_bolna_for(&d);
    o.media_encryption = Some("sdes".into());
    assert_eq!(patch(&bolna::diff(&d, &o, None)), json!({"media_encryption": "no"}));
}

// ---- marker --------------------------------------------------------------------------------

#[test]
fn marker_is_deterministic_and_differs_per_object() {
    assert_eq!(builders::marker("ns", "a"), builders::marker("ns", "a"));
    assert_ne!(builders::marker("ns", "a"), builders::marker("ns", "b"));
    assert_ne!(builders::marker("ns-a", "b"), builders::marker("ns", "a-b"));
    assert!(builders::marker("ns", "a").starts_with("op:"));
    let other = siptrunk_operator::model::MarkerKey::from_bytes(&[1; 32]).expect("key");
    assert_ne!(other.marker("ns", "a"), builders::marker("ns", "a"), "another key, another marker");
}

#[test]
fn nickname_fits_50_characters_and_carries_the_marker_for_long_names() {
    let long_name = "a".repeat(253);
    for display in [None, Some("x".repeat(30)), Some("Ünïcödé line — 東京 ☎☎☎☎☎☎☎☎☎☎☎☎☎".to_string())]
    {
        let spec = match &display {
            Some(n) => set(autocalls_spec(), "displayName", json!(n)),
            None => set(autocalls_spec(), "displayName", Value::Null),
        };
        let d = desired_autocalls(spec, &long_name);
        let marker = builders::marker("default", &long_name);
        assert!(d.nickname.chars().count() <= 50, "{} chars: {}", d.nickname.chars().count(), d.nickname);
        assert!(d.nickname.split_whitespace().any(|w| w == marker), "{}", d.nickname);
    }
}

#[test]
fn observed_nickname_with_our_marker_is_recognised_as_ours() {
    let (d, o) = in_sync();
    let marker = builders::marker("default", "main-line");
    assert_eq!(Remote::Autocalls(o.clone()).marker_state(&marker), MarkerState::Ours);
    assert_eq!(Remote::Autocalls(o).marker_state(&builders::marker("default", "other")), MarkerState::NotOurs);
    let famulor = autocalls::Trunk { nickname: None, ..observed_autocalls_for(&d) };
    assert_eq!(Remote::Autocalls(famulor).marker_state(&marker), MarkerState::Unknown);
}

#[test]
fn bolna_description_carries_the_marker() {
    let (_, o) = bolna_in_sync();
    assert_eq!(Remote::Bolna(o).marker_state(&builders::marker("default", "carrier-a")), MarkerState::Ours);
}

// ---- matching: the index finds candidates, `decide` judges them (tests/decide.rs) ------------

fn ac(id: i64, number: &str, nickname: Option<Option<&str>>) -> Remote {
    Remote::Autocalls(autocalls::Trunk {
        id,
        phone_number: number.into(),
        nickname: nickname.map(|n| n.map(str::to_string)),
        sip_username: "myuser".into(),
        sip_address: "sip.carrier.example".into(),
        ..Default::default()
    })
}

fn key(number: &str) -> String {
    autocalls::natural_key(number, "myuser", "sip.carrier.example")
}

fn input<'a>(marker: &'a str, natural_key: &'a str) -> MatchInput<'a> {
    MatchInput { recorded_id: None, marker, natural_key, pending_create_key: None }
}

fn ids(o: &Observation) -> [Option<String>; 4] {
    [&o.recorded, &o.marked, &o.keyed, &o.intended].map(|r| r.as_ref().map(Remote::id))
}

#[test]
fn the_index_finds_recorded_marked_keyed_and_intended_candidates() {
    let m = builders::marker("default", "main-line");
    let nick = format!("Main {m}");
    let idx = TrunkIndex::new(vec![
        ac(1, "+14155551234", Some(Some(&nick))),
        ac(2, "+14155559999", None),
        ac(3, "+14155550000", Some(None)),
    ]);
    let k = key("+14155559999");
    let intent = key("+14155550000");
    let o = idx.find(&MatchInput { recorded_id: Some("2"), pending_create_key: Some(&intent), ..input(&m, &k) });
    assert_eq!(ids(&o), [Some("2".into()), Some("1".into()), Some("2".into()), Some("3".into())]);
    let o = idx.find(&MatchInput { recorded_id: Some("999"), ..input(&m, &key("+1999")) });
    assert_eq!(ids(&o), [None, Some("1".into()), None, None], "an unknown recorded id finds nothing");
}

#[test]
fn natural_keys_match_despite_address_case() {
    let m = builders::marker("default", "main-line");
    let mut r = ac(8, "+14155551234", None);
    if let Remote::Autocalls(t) = &mut r {
        t.sip_address = "SIP.Carrier.Example".into();
    }
    let idx = TrunkIndex::new(vec![r]);
    let k = key("+14155551234");
    assert_eq!(idx.find(&input(&m, &k)).keyed.map(|r| r.id()).as_deref(), Some("8"));
}

#[test]
fn index_forgets_a_removed_trunk_everywhere() {
    let m = builders::marker("default", "main-line");
    let nick = format!("Main {m}");
    let mut idx = TrunkIndex::new(vec![ac(1, "+14155551234", Some(Some(&nick)))]);
    idx.remove("1");
    let k = key("+14155551234");
    assert!(idx.is_empty());
    assert_eq!(idx.find(&MatchInput { recorded_id: Some("1"), ..input(&m, &k) }), Observation::default());
}

#[test]
fn index_upsert_moves_the_natural_key_and_marker_with_the_trunk() {
    let m = builders::marker("default", "main-line");
    let nick = format!("Main {m}");
    let mut idx = TrunkIndex::new(vec![ac(1, "+14155551234", Some(Some(&nick)))]);
    // Our write changed the number and someone removed the nickname.
    idx.upsert(ac(1, "+14155550000", Some(None)));
    assert_eq!(idx.len(), 1);
    let old_key = key("+14155551234");
    let new_key = key("+14155550000");
    assert_eq!(idx.find(&input(&m, &old_key)), Observation::default(), "old key and old marker are gone");
    assert_eq!(ids(&idx.find(&input(&m, &new_key))), [None, None, Some("1".into()), None]);
}

#[test]
fn index_upsert_of_a_new_trunk_is_found_by_its_marker() {
    let m = builders::marker("default", "main-line");
    let mut idx = TrunkIndex::default();
    let (_, o) = in_sync();
    idx.upsert(Remote::Autocalls(o));
    let k = key("+14155551234");
    assert!(idx.find(&input(&m, &k)).marked.is_some());
}

#[test]
fn index_removing_one_of_two_trunks_with_the_same_key_keeps_the_other() {
    let m = builders::marker("default", "main-line");
    let mut idx = TrunkIndex::new(vec![ac(1, "+14155551234", None), ac(2, "+14155551234", None)]);
    idx.remove("1");
    let k = key("+14155551234");
    assert_eq!(idx.find(&input(&m, &k)).keyed.map(|r| r.id()).as_deref(), Some("2"));
}

#[test]
fn bolna_trunks_are_found_by_marker_in_the_description_and_by_name() {
    let (d, o) = bolna_in_sync();
    let m = builders::marker("default", "carrier-a");
    let idx = TrunkIndex::new(vec![Remote::Bolna(o.clone())]);
    assert!(idx.find(&input(&m, &d.name)).marked.is_some());
    let foreign = bolna::Trunk { description: Some("hand made".into()), ..o };
    let idx = TrunkIndex::new(vec![Remote::Bolna(foreign)]);
    let found = idx.find(&input(&m, &d.name));
    assert!(found.marked.is_none() && found.keyed.is_some());
}

#[test]
fn desired_diff_against_the_other_family_is_refused() {
    let d = erased::desired(
        &builders::spec(autocalls_spec()),
        ProviderType::Autocalls,
        "default",
        "x",
        &builders::marker("default", "x"),
    );
    let (_, o) = bolna_in_sync();
    assert!(d.diff(&Remote::Bolna(o), None).is_none());
    assert!(matches!(d, Desired::Autocalls(_)));
}
