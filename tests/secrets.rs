//! Secrets stay secret: the credentials hash is keyed and opaque, the client config's Debug
//! hides the token, and provider messages that echo a password are cleaned by `redact`.

use std::time::Duration;

use reqwest::StatusCode;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use siptrunk_operator::controller::error::{Error, redact};
use siptrunk_operator::controller::reconcile::credentials_hash;
use siptrunk_operator::crd::ProviderType;
use siptrunk_operator::provider::http::{ClientConfig, classify};

const TOKEN: &str = "17|Zq8wTOKENvalue0123456789abcdef";
const PASSWORD: &str = "Pa55-word-that-must-not-leak";

fn s(v: &str) -> SecretString {
    SecretString::from(v.to_string())
}

#[test]
fn credentials_hash_is_deterministic() {
    assert_eq!(credentials_hash(&s(TOKEN), &s(PASSWORD)), credentials_hash(&s(TOKEN), &s(PASSWORD)));
}

#[test]
fn credentials_hash_changes_with_the_password() {
    assert_ne!(
        credentials_hash(&s(TOKEN), &s(PASSWORD)),
        credentials_hash(&s(TOKEN), &s("Pa55-word-that-must-not-leaK"))
    );
}

#[test]
fn credentials_hash_is_keyed_by_the_token() {
    assert_ne!(credentials_hash(&s(TOKEN), &s(PASSWORD)), credentials_hash(&s("18|other-token"), &s(PASSWORD)));
}

#[test]
fn credentials_hash_contains_neither_the_password_nor_the_token() {
    let h = credentials_hash(&s(TOKEN), &s(PASSWORD));
    assert!(!h.contains(PASSWORD) && !h.contains(TOKEN), "{h}");
    assert!(!h.contains(&hex::encode(PASSWORD)), "not a hex dump of the password: {h}");
}

#[test]
fn credentials_hash_is_not_an_unkeyed_digest_of_the_password() {
    let h = credentials_hash(&s(TOKEN), &s(PASSWORD));
    let plain = hex::encode(Sha256::digest(PASSWORD.as_bytes()));
    assert!(!plain.contains(h.trim_start_matches("hmac-sha256:")), "{h}");
    assert!(h.starts_with("hmac-sha256:") && h.len() > "hmac-sha256:".len() + 16, "{h}");
}

#[test]
fn credentials_hash_of_an_empty_password_is_still_a_keyed_hash() {
    let h = credentials_hash(&s(TOKEN), &s(""));
    assert!(h.starts_with("hmac-sha256:"), "{h}");
    assert_ne!(h, credentials_hash(&s("other"), &s("")));
}

#[test]
fn client_config_debug_hides_the_token() {
    let cfg = ClientConfig {
        provider: ProviderType::Autocalls,
        base_url: "https://app.autocalls.ai/api".into(),
        token: s(TOKEN),
        timeout: Duration::from_secs(10),
        rate_per_second: 1.0,
        burst: 5,
        ca_bundle: None,
        allow_insecure_http: false,
        list_budget: Default::default(),
        api_key: None,
    };
    let dbg = format!("{cfg:?} {cfg:#?}");
    assert!(!dbg.contains(TOKEN) && !dbg.contains("Zq8wTOKEN"), "{dbg}");
    assert!(dbg.contains("app.autocalls.ai"), "the rest is still shown: {dbg}");
}

/// Error bodies, one per status class, that echo the submitted password back.
fn echoing_bodies() -> Vec<(u16, String)> {
    vec![
        (400, format!(r#"{{"error": "password {PASSWORD} is not allowed"}}"#)),
        (401, format!(r#"{{"error": "Invalid API key", "message": "bad {PASSWORD}"}}"#)),
        (404, format!(r#"{{"error": "no trunk with sip_password={PASSWORD}"}}"#)),
        (409, format!(r#"{{"error": "duplicate {PASSWORD}"}}"#)),
        (
            422,
            format!(
                r#"{{"message": "{PASSWORD} is weak", "errors": {{"sip_password": ["The value {PASSWORD} is too weak."]}}}}"#
            ),
        ),
        (422, format!(r#"{{"detail": [{{"loc": ["body", "auth_password"], "msg": "bad value {PASSWORD}"}}]}}"#)),
        (500, format!(r#"{{"error": "Failed to update SIP trunk ({PASSWORD}). Please try again."}}"#)),
        (404, format!(r#"{{"error": 404, "message": "auth_password {PASSWORD} rejected"}}"#)),
        (418, format!(r#"{{"message": "{PASSWORD}"}}"#)),
    ]
}

#[test]
fn echoing_bodies_do_reach_the_error_message() {
    // Guard for the next test: the echo really is in the Display text before redaction.
    for (code, body) in echoing_bodies() {
        let text = classify(StatusCode::from_u16(code).unwrap(), body.as_bytes(), None).to_string();
        assert!(text.contains(PASSWORD), "{code}: {text}");
    }
}

#[test]
fn redacted_provider_errors_never_contain_the_password() {
    for (code, body) in echoing_bodies() {
        let e = Error::Provider(classify(StatusCode::from_u16(code).unwrap(), body.as_bytes(), None));
        let text = redact(&e.to_string(), &[PASSWORD, TOKEN]);
        assert!(!text.contains(PASSWORD), "{code}: {text}");
        assert!(text.contains("[redacted]"), "{code}: {text}");
    }
}

#[test]
fn redact_removes_every_occurrence_of_every_secret() {
    let msg = format!("{PASSWORD} and {TOKEN} and again {PASSWORD}");
    let out = redact(&msg, &[PASSWORD, TOKEN]);
    assert_eq!(out, "[redacted] and [redacted] and again [redacted]");
}

#[test]
fn redact_handles_a_password_with_json_special_characters() {
    let pw = r#"q"uo\te"#;
    let body = serde_json::to_vec(&serde_json::json!({"error": format!("bad {pw}")})).unwrap();
    let text = classify(StatusCode::NOT_FOUND, &body, None).to_string();
    assert!(!redact(&text, &[pw]).contains(pw));
}

#[test]
fn a_password_cut_by_message_truncation_does_not_leak_its_prefix() {
    let body = serde_json::to_vec(&serde_json::json!({"error": format!("{}{PASSWORD}", "x".repeat(290))})).unwrap();
    let text = redact(&classify(StatusCode::NOT_FOUND, &body, None).to_string(), &[PASSWORD]);
    assert!(!text.contains(&PASSWORD[..10]), "{text}");
}
