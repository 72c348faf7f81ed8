//! Shared test helpers: spec builders written as YAML-like JSON, fixture loading, and shortcuts
//! from a spec to the desired trunk the controller would build.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::{Value, json};
use siptrunk_operator::crd::{ProviderType, SipTrunkSpec};
use siptrunk_operator::model::MarkerKey;
use siptrunk_operator::provider::Family;
use siptrunk_operator::provider::autocalls::{AutocallsFamily, wire as autocalls};
use siptrunk_operator::provider::bolna::{BolnaFamily, wire as bolna};

/// Path of a file under `tests/fixtures/`.
pub fn fixture_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// Raw text of a fixture.
pub fn fixture(rel: &str) -> String {
    std::fs::read_to_string(fixture_path(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

/// A minimal valid autocalls/famulor spec (credentials auth, E.164 number).
pub fn autocalls_spec() -> Value {
    json!({
        "providerRef": {"kind": "SipProvider", "name": "autocalls-prod"},
        "displayName": "Main line",
        "phoneNumber": "+14155551234",
        "numberType": "number",
        "sipAddress": "sip.carrier.example",
        "auth": {
            "type": "credentials",
            "username": "myuser",
            "passwordSecretRef": {"name": "main-line-sip", "key": "password"}
        },
        "callingFormat": "+e164",
        "countryCode": "US",
        "outboundProxy": false
    })
}

/// A minimal valid bolna spec (credentials auth, one gateway, one DID).
pub fn bolna_spec() -> Value {
    json!({
        "providerRef": {"kind": "SipProvider", "name": "bolna-prod"},
        "displayName": "Carrier A",
        "auth": {
            "type": "credentials",
            "username": "acme_pbx",
            "passwordSecretRef": {"name": "carrier-a-sip"}
        },
        "bolna": {
            "provider": "zadarma",
            "gateways": [{"address": "sip.zadarma.com", "port": 5060, "priority": 1}],
            "phoneNumbers": [{"number": "+919876543210"}]
        }
    })
}

/// Sets `value` at a dotted path (`auth.type`, `bolna.gateways`), creating objects on the way;
/// `Value::Null` removes the key.
pub fn set(mut v: Value, path: &str, value: Value) -> Value {
    let parts: Vec<&str> = path.split('.').collect();
    let mut cur = &mut v;
    for p in &parts[..parts.len() - 1] {
        let obj = cur.as_object_mut().expect("object on path");
        cur = obj.entry(p.to_string()).or_insert_with(|| json!({}));
    }
    let obj = cur.as_object_mut().expect("object at path");
    let last = parts[parts.len() - 1].to_string();
    if value.is_null() {
        obj.remove(&last);
    } else {
        obj.insert(last, value);
    }
    v
}

/// Deserializes a spec the way the controller sees it.
pub fn spec(v: Value) -> SipTrunkSpec {
    serde_json::from_value(v).expect("spec deserializes")
}

/// The marker key of unit tests (an installation's key is random and kept in a Secret).
pub fn test_key() -> MarkerKey {
    MarkerKey::from_bytes(b"siptrunk unit-test marker key, never used elsewhere").expect("key")
}

/// The marker of `ns/name` under the unit-test key.
pub fn marker(ns: &str, name: &str) -> String {
    test_key().marker(ns, name)
}

/// The autocalls/famulor desired trunk built by the controller for `spec` in `ns/name`.
pub fn desired_autocalls(v: Value, name: &str) -> autocalls::Desired {
    AutocallsFamily::translate(&spec(v), ProviderType::Autocalls, "default", name, &marker("default", name))
}

/// The bolna desired trunk built by the controller for `spec` in `ns/name`.
pub fn desired_bolna(v: Value, name: &str) -> bolna::Desired {
    BolnaFamily::translate(&spec(v), ProviderType::Bolna, "default", name, &marker("default", name))
}

/// Wraps a spec into a full SipTrunk object.
pub fn trunk_object(spec: Value) -> Value {
    json!({
        "apiVersion": "siptrunk.dev/v1alpha1",
        "kind": "SipTrunk",
        "metadata": {"name": "main-line", "namespace": "default"},
        "spec": spec
    })
}
