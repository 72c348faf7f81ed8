//! Controller validation (step 2): what each provider family requires and refuses, with a
//! message that names the field path. Table tests: each row is one spec and the path that must
//! be reported (or none for a valid spec).

mod builders;

use std::time::Duration;

use builders::{autocalls_spec, bolna_spec, set, spec};
use serde_json::{Value, json};
use siptrunk_operator::controller::validate::{describe, parse_duration, validate};
use siptrunk_operator::crd::ProviderType::{self, Autocalls, Bolna, Famulor};

/// One row: a name, the provider family, the spec, and the field path that must be reported
/// (`None`: the spec must be valid).
type Row = (&'static str, ProviderType, Value, Option<&'static str>);

fn check(rows: Vec<Row>) {
    let mut failures = Vec::new();
    for (name, provider, v, want) in rows {
        let errs = validate(&spec(v), provider);
        match want {
            None if !errs.is_empty() => {
                failures.push(format!("{name} ({provider:?}): expected valid, got {}", describe(&errs)))
            }
            Some(path) if !errs.iter().any(|e| e.path == path) => {
                failures.push(format!("{name} ({provider:?}): expected an error at {path}, got [{}]", describe(&errs)))
            }
            Some(path) => {
                let e = errs.iter().find(|e| e.path == path).unwrap();
                if e.message.trim().is_empty() {
                    failures.push(format!("{name}: error at {path} has no message"));
                }
            }
            None => {}
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn ac(path: &str, value: Value) -> Value {
    set(autocalls_spec(), path, value)
}

fn bo(path: &str, value: Value) -> Value {
    set(bolna_spec(), path, value)
}

fn ip_auth(ips: Value) -> Value {
    json!({"type": "ip", "username": "myuser", "passwordSecretRef": {"name": "s"}, "allowedInboundIps": ips})
}

#[test]
fn the_base_specs_are_valid_for_their_families() {
    check(vec![
        ("autocalls base", Autocalls, autocalls_spec(), None),
        ("famulor base", Famulor, autocalls_spec(), None),
        ("bolna base", Bolna, bolna_spec(), None),
    ]);
}

#[test]
fn autocalls_and_famulor_require_their_fields() {
    let mut rows = Vec::new();
    for p in [Autocalls, Famulor] {
        rows.push(("no sipAddress", p, ac("sipAddress", Value::Null), Some("spec.sipAddress")));
        rows.push(("no phoneNumber", p, ac("phoneNumber", Value::Null), Some("spec.phoneNumber")));
        rows.push(("no countryCode", p, ac("countryCode", Value::Null), Some("spec.countryCode")));
        rows.push(("no password", p, ac("auth.passwordSecretRef", Value::Null), Some("spec.auth.passwordSecretRef")));
        rows.push((
            "ip auth still needs the password (outbound authenticates)",
            p,
            ac("auth", json!({"type": "ip", "username": "myuser", "allowedInboundIps": ["203.0.113.7"]})),
            Some("spec.auth.passwordSecretRef"),
        ));
    }
    check(rows);
}

#[test]
fn bolna_requires_its_block_and_password_only_for_credentials() {
    check(vec![
        ("no bolna block", Bolna, bo("bolna", Value::Null), Some("spec.bolna")),
        ("no gateways", Bolna, bo("bolna.gateways", json!([])), Some("spec.bolna.gateways")),
        (
            "credentials without password",
            Bolna,
            bo("auth.passwordSecretRef", Value::Null),
            Some("spec.auth.passwordSecretRef"),
        ),
        (
            "ip auth without password is fine",
            Bolna,
            bo("auth", json!({"type": "ip", "username": "acme_pbx", "allowedInboundIps": ["203.0.113.7"]})),
            None,
        ),
    ]);
}

#[test]
fn phone_numbers_are_e164_for_number_trunks_and_short_for_extensions() {
    let ext = |n: &str| set(ac("numberType", json!("extension")), "phoneNumber", json!(n));
    check(vec![
        ("E.164", Autocalls, ac("phoneNumber", json!("+4930123456")), None),
        ("15 digits", Autocalls, ac("phoneNumber", json!("+123456789012345")), None),
        ("missing +", Autocalls, ac("phoneNumber", json!("14155551234")), Some("spec.phoneNumber")),
        ("16 digits", Autocalls, ac("phoneNumber", json!("+1234567890123456")), Some("spec.phoneNumber")),
        ("too short", Autocalls, ac("phoneNumber", json!("+12345")), Some("spec.phoneNumber")),
        ("leading zero", Autocalls, ac("phoneNumber", json!("+0415555123")), Some("spec.phoneNumber")),
        ("letters", Autocalls, ac("phoneNumber", json!("+1415CALLME")), Some("spec.phoneNumber")),
        ("spaces", Famulor, ac("phoneNumber", json!("+1 415 555 1234")), Some("spec.phoneNumber")),
        ("extension on a number trunk", Autocalls, ac("phoneNumber", json!("1000")), Some("spec.phoneNumber")),
        ("extension", Autocalls, ext("1000"), None),
        ("extension of 15", Autocalls, ext("123456789012345"), None),
        ("extension of 16", Autocalls, ext("1234567890123456"), Some("spec.phoneNumber")),
        ("empty extension", Famulor, ext(""), Some("spec.phoneNumber")),
    ]);
}

#[test]
fn sip_address_is_a_host_without_port_or_scheme() {
    check(vec![
        ("host", Autocalls, ac("sipAddress", json!("sip.carrier.example")), None),
        ("ipv4", Autocalls, ac("sipAddress", json!("203.0.113.7")), None),
        ("ipv6", Autocalls, ac("sipAddress", json!("2001:db8::1")), None),
        ("host:port", Autocalls, ac("sipAddress", json!("sip.carrier.example:5060")), Some("spec.sipAddress")),
        ("ip:port", Famulor, ac("sipAddress", json!("203.0.113.7:5060")), Some("spec.sipAddress")),
        ("[v6]:port", Autocalls, ac("sipAddress", json!("[2001:db8::1]:5060")), Some("spec.sipAddress")),
        ("scheme", Autocalls, ac("sipAddress", json!("sip:sip.carrier.example")), Some("spec.sipAddress")),
        ("url", Autocalls, ac("sipAddress", json!("https://sip.carrier.example")), Some("spec.sipAddress")),
        ("underscore", Autocalls, ac("sipAddress", json!("sip_carrier.example")), Some("spec.sipAddress")),
        ("empty label", Autocalls, ac("sipAddress", json!("sip..example")), Some("spec.sipAddress")),
        ("empty", Autocalls, ac("sipAddress", json!("")), Some("spec.sipAddress")),
    ]);
}

#[test]
fn cidr_ranges_are_refused_on_autocalls_and_accepted_on_bolna() {
    let bolna_ip = |ips: Value| bo("auth", json!({"type": "ip", "username": "acme_pbx", "allowedInboundIps": ips}));
    check(vec![
        ("plain ips", Autocalls, ac("auth", ip_auth(json!(["203.0.113.7", "2001:db8::1"]))), None),
        (
            "cidr on autocalls",
            Autocalls,
            ac("auth", ip_auth(json!(["203.0.113.7", "198.51.100.0/28"]))),
            Some("spec.auth.allowedInboundIps[1]"),
        ),
        (
            "cidr on famulor",
            Famulor,
            ac("auth", ip_auth(json!(["198.51.100.0/28"]))),
            Some("spec.auth.allowedInboundIps[0]"),
        ),
        ("cidr on bolna", Bolna, bolna_ip(json!(["198.51.100.0/28", "2001:db8::/32"])), None),
        ("bad prefix on bolna", Bolna, bolna_ip(json!(["198.51.100.0/33"])), Some("spec.auth.allowedInboundIps[0]")),
        ("not an ip", Autocalls, ac("auth", ip_auth(json!(["example.com"]))), Some("spec.auth.allowedInboundIps[0]")),
        ("octet overflow", Bolna, bolna_ip(json!(["256.1.1.1"])), Some("spec.auth.allowedInboundIps[0]")),
        ("ip auth with empty list", Autocalls, ac("auth", ip_auth(json!([]))), Some("spec.auth.allowedInboundIps")),
        (
            "credentials with a list",
            Autocalls,
            ac("auth.allowedInboundIps", json!(["203.0.113.7"])),
            Some("spec.auth.allowedInboundIps"),
        ),
    ]);
}

#[test]
fn bolna_settings_are_refused_on_autocalls_families_with_the_field_path() {
    let with_bolna = || ac("bolna", json!({"gateways": [{"address": "sip.zadarma.com"}]}));
    for p in [Autocalls, Famulor] {
        let errs = validate(&spec(with_bolna()), p);
        let e = errs.iter().find(|e| e.path == "spec.bolna").unwrap_or_else(|| panic!("{}", describe(&errs)));
        assert!(e.message.contains("spec.bolna"), "the message tells what to remove: {}", e.message);
    }
}

#[test]
fn autocalls_only_fields_are_refused_on_bolna_with_the_field_path() {
    check(vec![
        ("sipAddress", Bolna, bo("sipAddress", json!("sip.carrier.example")), Some("spec.sipAddress")),
        ("phoneNumber", Bolna, bo("phoneNumber", json!("+14155551234")), Some("spec.phoneNumber")),
        ("numberType", Bolna, bo("numberType", json!("number")), Some("spec.numberType")),
        ("callingFormat", Bolna, bo("callingFormat", json!("e164")), Some("spec.callingFormat")),
        ("countryCode", Bolna, bo("countryCode", json!("US")), Some("spec.countryCode")),
        ("outboundProxy", Bolna, bo("outboundProxy", json!(false)), Some("spec.outboundProxy")),
    ]);
}

#[test]
fn bolna_sdes_requires_tls() {
    check(vec![
        ("sdes + tls", Bolna, set(bo("bolna.mediaEncryption", json!("sdes")), "bolna.transport", json!("tls")), None),
        ("sdes alone", Bolna, bo("bolna.mediaEncryption", json!("sdes")), Some("spec.bolna.mediaEncryption")),
        (
            "sdes + udp",
            Bolna,
            set(bo("bolna.mediaEncryption", json!("sdes")), "bolna.transport", json!("udp")),
            Some("spec.bolna.mediaEncryption"),
        ),
        ("none + udp", Bolna, set(bo("bolna.mediaEncryption", json!("none")), "bolna.transport", json!("udp")), None),
    ]);
}

#[test]
fn bolna_duplicate_dids_are_refused_with_or_without_plus() {
    let dids = |v: Value| bo("bolna.phoneNumbers", v);
    check(vec![
        ("distinct", Bolna, dids(json!([{"number": "+919876543210"}, {"number": "+14155551234"}])), None),
        (
            "same twice",
            Bolna,
            dids(json!([{"number": "+919876543210"}, {"number": "+919876543210"}])),
            Some("spec.bolna.phoneNumbers[1].number"),
        ),
        (
            "with and without +",
            Bolna,
            dids(json!([{"number": "919876543210"}, {"number": "+919876543210"}])),
            Some("spec.bolna.phoneNumbers[1].number"),
        ),
        ("not a number", Bolna, dids(json!([{"number": "+91-98765"}])), Some("spec.bolna.phoneNumbers[0].number")),
    ]);
}

#[test]
fn bolna_gateways_are_checked_one_by_one() {
    let gws = |v: Value| bo("bolna.gateways", v);
    check(vec![
        ("port 0", Bolna, gws(json!([{"address": "a.example", "port": 0}])), Some("spec.bolna.gateways[0].port")),
        (
            "address with port",
            Bolna,
            gws(json!([{"address": "a.example:5060"}])),
            Some("spec.bolna.gateways[0].address"),
        ),
        (
            "repeat",
            Bolna,
            gws(json!([{"address": "a.example"}, {"address": "A.example", "priority": 2}])),
            Some("spec.bolna.gateways[1]"),
        ),
        (
            "same host other port",
            Bolna,
            gws(json!([{"address": "a.example"}, {"address": "a.example", "port": 5080}])),
            None,
        ),
        (
            "eleven",
            Bolna,
            gws(json!((0..11).map(|i| json!({"address": format!("gw{i}.example")})).collect::<Vec<_>>())),
            Some("spec.bolna.gateways"),
        ),
    ]);
}

#[test]
fn username_display_name_and_country_are_bounded() {
    check(vec![
        ("short username", Autocalls, ac("auth.username", json!("ab")), Some("spec.auth.username")),
        ("long username", Bolna, bo("auth.username", json!("u".repeat(129))), Some("spec.auth.username")),
        ("username with space", Autocalls, ac("auth.username", json!("my user")), Some("spec.auth.username")),
        ("display name of 31", Autocalls, ac("displayName", json!("d".repeat(31))), Some("spec.displayName")),
        ("lower-case country", Autocalls, ac("countryCode", json!("us")), Some("spec.countryCode")),
        ("subdivision country", Autocalls, ac("countryCode", json!("US-CA")), Some("spec.countryCode")),
    ]);
}

#[test]
fn drift_interval_is_parsed_and_has_a_minimum() {
    check(vec![
        ("30s", Autocalls, ac("driftCheckInterval", json!("30s")), None),
        ("1h30m", Bolna, bo("driftCheckInterval", json!("1h30m")), None),
        ("1s is the minimum", Autocalls, ac("driftCheckInterval", json!("1s")), None),
        ("0s", Autocalls, ac("driftCheckInterval", json!("0s")), Some("spec.driftCheckInterval")),
        ("500ms", Autocalls, ac("driftCheckInterval", json!("500ms")), Some("spec.driftCheckInterval")),
        ("no unit", Autocalls, ac("driftCheckInterval", json!("30")), Some("spec.driftCheckInterval")),
        ("days", Autocalls, ac("driftCheckInterval", json!("1d")), Some("spec.driftCheckInterval")),
        ("empty", Autocalls, ac("driftCheckInterval", json!("")), Some("spec.driftCheckInterval")),
    ]);
}

#[test]
fn parse_duration_reads_compound_durations() {
    assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
    assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
    assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
    assert_eq!(parse_duration("1m30s500ms"), Some(Duration::from_millis(90_500)));
    assert_eq!(parse_duration(" 2h "), Some(Duration::from_secs(7200)));
}

#[test]
fn parse_duration_refuses_malformed_input() {
    for bad in ["", "s", "30", "5x", "m5", "-5s", "1.5s", "5 m", "h"] {
        assert_eq!(parse_duration(bad), None, "{bad:?}");
    }
}

#[test]
fn parse_duration_refuses_overflow_instead_of_panicking() {
    assert_eq!(parse_duration("99999999999999999999s"), None);
    assert_eq!(parse_duration(&format!("{}h", u64::MAX)), None);
    assert_eq!(parse_duration(&format!("{}s{}s", u64::MAX, u64::MAX)), None);
}

#[test]
fn every_error_of_a_bad_spec_is_reported_at_once() {
    let v = set(set(ac("phoneNumber", json!("nope")), "sipAddress", json!("a:1")), "countryCode", json!("usa"));
    let errs = validate(&spec(v), Autocalls);
    let mut paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["spec.countryCode", "spec.phoneNumber", "spec.sipAddress"]);
}

#[test]
fn a_value_of_10_kb_is_cut_in_the_message_not_echoed_whole() {
    let huge = format!("sip.{}.example", "a".repeat(10_000));
    let errs = validate(&spec(set(autocalls_spec(), "sipAddress", json!(huge.clone()))), Autocalls);
    let text = describe(&errs);
    assert!(errs.iter().any(|e| e.path == "spec.sipAddress"), "still reported: {text}");
    assert!(text.len() < 400, "message of {} bytes: {text}", text.len());
    assert!(!text.contains(&huge), "the value is not echoed whole");
    assert!(text.contains("10012 characters"), "says how long the value was: {text}");
    // Short values are still quoted whole.
    let errs = validate(&spec(set(autocalls_spec(), "sipAddress", json!("bad host!"))), Autocalls);
    assert!(describe(&errs).contains("\"bad host!\""), "{}", describe(&errs));
}

#[test]
fn bolna_settings_on_another_family_name_the_type_without_a_wrong_article() {
    let v =
        set(autocalls_spec(), "bolna", json!({"gateways": [{"address": "sbc.example", "port": 5060, "priority": 1}]}));
    let text = describe(&validate(&spec(v), Autocalls));
    assert!(text.contains("provider of type autocalls"), "{text}");
    assert!(!text.contains("a autocalls"), "{text}");
}
