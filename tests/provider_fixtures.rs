//! The provider's own examples (tests/fixtures/brief/, copied verbatim) and the error envelopes
//! of API.md §2.9, §3.10 and trap 11 go through the wire types and `classify` unchanged.

mod builders;

use std::time::Duration;

use builders::fixture;
use reqwest::StatusCode;
use siptrunk_operator::provider::ProviderError;
use siptrunk_operator::provider::autocalls::wire::{Envelope, Trunk};
use siptrunk_operator::provider::bolna::wire as bolna;
use siptrunk_operator::provider::http::classify;

fn autocalls_list(rel: &str) -> Vec<Trunk> {
    serde_json::from_str::<Envelope<Vec<Trunk>>>(&fixture(rel)).expect("list parses").data
}

fn bolna_list() -> Vec<bolna::Trunk> {
    serde_json::from_str(&fixture("brief/bolna_list.json")).expect("bolna list parses")
}

// ---- autocalls / famulor -------------------------------------------------------------------

#[test]
fn autocalls_get_response_carries_internal_trunk_ids_and_nickname() {
    let t: Envelope<Trunk> = serde_json::from_str(&fixture("brief/autocalls_get.json")).unwrap();
    let t = t.data;
    assert_eq!(t.id, 42);
    assert_eq!(t.phone_number, "1000");
    assert_eq!(t.nickname, Some(Some("Provider X — Main".to_string())));
    assert_eq!(t.inbound_trunk_id.as_deref(), Some("ST_xxxxxxxxxxxx"));
    assert_eq!(t.outbound_trunk_id.as_deref(), Some("ST_yyyyyyyyyyyy"));
    assert_eq!(t.allowed_inbound_ips, None);
    assert_eq!(t.country_code.as_deref(), Some("US"));
    assert_eq!(t.created_at.as_deref(), Some("2026-03-31T10:00:00.000000Z"));
}

#[test]
fn autocalls_list_items_have_no_internal_trunk_ids() {
    let list = autocalls_list("brief/autocalls_list.json");
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|t| t.inbound_trunk_id.is_none() && t.outbound_trunk_id.is_none()));
}

#[test]
fn autocalls_list_distinguishes_set_nickname_from_null_nickname() {
    let list = autocalls_list("brief/autocalls_list.json");
    assert_eq!(list[0].nickname, Some(Some("Provider X — Main".to_string())));
    assert_eq!(list[1].nickname, Some(None), "an explicit null is Some(None), not absent");
}

#[test]
fn famulor_list_without_nickname_field_reads_as_absent() {
    let list = autocalls_list("brief/famulor_list.json");
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|t| t.nickname.is_none()), "famulor omits nickname: absent, never null");
}

#[test]
fn allowed_inbound_ips_null_and_list_are_both_read() {
    let list = autocalls_list("brief/autocalls_list.json");
    assert_eq!(list[0].inbound_authorization_type, "auth");
    assert_eq!(list[0].allowed_inbound_ips, None);
    assert_eq!(list[1].inbound_authorization_type, "ip");
    assert_eq!(list[1].allowed_inbound_ips, Some(vec!["203.0.113.10".to_string(), "198.51.100.20".to_string()]));
    assert!(list[1].outbound_proxy);
}

#[test]
fn create_response_without_nickname_parses_inside_message_envelope() {
    #[derive(serde::Deserialize)]
    struct Written {
        message: String,
        data: Trunk,
    }
    let w: Written = serde_json::from_str(&fixture("brief/autocalls_create_response.json")).unwrap();
    assert_eq!(w.message, "SIP trunk created successfully.");
    assert_eq!(w.data.id, 42);
    assert_eq!(w.data.nickname, None);
    assert_eq!(w.data.inbound_trunk_id.as_deref(), Some("ST_xxxxxxxxxxxx"));
    // The same body also reads through the read envelope the client uses (message ignored).
    let env: Envelope<Trunk> = serde_json::from_str(&fixture("brief/autocalls_create_response.json")).unwrap();
    assert_eq!(env.data, w.data);
}

#[test]
fn autocalls_unknown_fields_are_ignored() {
    let body = r#"{"data": [{"id": 9, "phone_number": "+4930123456", "sip_username": "u1x",
        "sip_address": "h.example", "type": "sip", "type_label": "SIP", "future_field": {"x": [1]}}],
        "current_page": 1}"#;
    let list: Envelope<Vec<Trunk>> = serde_json::from_str(body).unwrap();
    assert_eq!(list.data[0].id, 9);
    assert_eq!(list.next_page_url, None);
}

#[test]
fn autocalls_next_page_url_is_read_when_present() {
    let body = r#"{"data": [], "next_page_url": "https://app.autocalls.ai/api/user/phone-numbers/sip-trunks?page=2"}"#;
    let list: Envelope<Vec<Trunk>> = serde_json::from_str(body).unwrap();
    assert!(list.next_page_url.unwrap().ends_with("?page=2"));
}

#[test]
fn autocalls_item_missing_its_id_is_refused() {
    // Every other field may be missing; the id is the one thing matching cannot do without.
    let body = r#"{"data": [{"phone_number": "1000"}]}"#;
    assert!(serde_json::from_str::<Envelope<Vec<Trunk>>>(body).is_err());
}

// ---- bolna ---------------------------------------------------------------------------------

#[test]
fn bolna_list_with_placeholders_parses() {
    let list = bolna_list();
    assert_eq!(list.len(), 1);
    let t = &list[0];
    assert_eq!(t.id, "<string>");
    assert_eq!(t.auth_type.as_deref(), Some("userpass"));
    assert_eq!(t.gateways[0].gateway_address, "sip.zadarma.com");
    assert_eq!((t.gateways[0].port, t.gateways[0].priority), (5060, 1));
    assert_eq!(t.ip_identifiers[0].ip_address, "15.207.90.192/31");
    assert_eq!(t.qualify_frequency, Some(123));
    assert_eq!(t.is_active, Some(true));
}

#[test]
fn bolna_transport_is_read_as_a_plain_string() {
    assert_eq!(bolna_list()[0].transport.as_deref(), Some("<string>"));
}

#[test]
fn bolna_soft_deleted_numbers_are_filtered_by_live_numbers() {
    let t = &bolna_list()[0];
    assert_eq!(t.phone_numbers.as_ref().map(Vec::len), Some(1), "the deleted entry is still parsed");
    assert_eq!(t.live_numbers().count(), 0, "the example's only number is deleted: true");
}

#[test]
fn bolna_live_numbers_keeps_numbers_not_marked_deleted() {
    let body = r#"[{"id": "t1", "phone_numbers": [
        {"id": "p1", "phone_number": "919876543210", "deleted": false},
        {"id": "p2", "phone_number": "+14155550000", "deleted": true},
        {"id": "p3", "phone_number": "+14155550001"}]}]"#;
    let list: Vec<bolna::Trunk> = serde_json::from_str(body).unwrap();
    let live: Vec<&str> = list[0].live_numbers().map(|n| n.id.as_str()).collect();
    assert_eq!(live, ["p1", "p3"]);
}

#[test]
fn bolna_unknown_fields_in_trunk_and_gateway_are_ignored() {
    let body = r#"[{"id": "t1", "user_id": "u", "agent_id": null, "ice_support": true,
        "gateways": [{"id": "g1", "created_at": "2023-11-07T05:31:56Z", "gateway_address": "a.example"}]}]"#;
    let list: Vec<bolna::Trunk> = serde_json::from_str(body).unwrap();
    assert_eq!(list[0].gateways[0].gateway_address, "a.example");
    assert_eq!((list[0].gateways[0].port, list[0].gateways[0].priority), (5060, 1), "documented defaults");
}

#[test]
fn bolna_phone_numbers_given_as_a_count_read_as_unknown() {
    let list: Vec<bolna::Trunk> = serde_json::from_str(r#"[{"id": "t1", "phone_numbers": 3}]"#).unwrap();
    assert_eq!(list[0].phone_numbers, None);
    assert_eq!(list[0].live_numbers().count(), 0);
}

#[test]
fn bolna_media_encryption_no_is_a_string_and_a_boolean_false_is_tolerated() {
    let list: Vec<bolna::Trunk> =
        serde_json::from_str(r#"[{"id": "a", "media_encryption": "no"}, {"id": "b", "media_encryption": false}]"#)
            .unwrap();
    assert_eq!(list[0].media_encryption.as_deref(), Some("no"));
    assert_eq!(list[1].media_encryption.as_deref(), Some("no"));
}

// ---- error envelopes -----------------------------------------------------------------------

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap()
}

#[test]
fn famulor_401_with_error_and_message_is_unauthorized() {
    let e = classify(status(401), br#"{"error": "Invalid API key", "message": "The API key is invalid."}"#, None);
    match e {
        ProviderError::Unauthorized { status, message } => {
            assert_eq!(status, 401);
            assert!(message.contains("Invalid API key"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn laravel_401_unauthenticated_message_is_unauthorized() {
    let e = classify(status(401), br#"{"message": "Unauthenticated."}"#, None);
    assert_eq!(e, ProviderError::Unauthorized { status: 401, message: "Unauthenticated.".into() });
}

#[test]
fn forbidden_403_is_unauthorized_with_its_status() {
    let e = classify(status(403), br#"{"error": "Insufficient permissions", "message": "..."}"#, None);
    assert!(matches!(e, ProviderError::Unauthorized { status: 403, .. }), "{e:?}");
}

#[test]
fn not_found_404_carries_the_provider_message() {
    let e = classify(status(404), br#"{"error": "SIP trunk not found."}"#, None);
    assert_eq!(e, ProviderError::NotFound { message: "SIP trunk not found.".into() });
}

#[test]
fn conflict_409_is_conflict() {
    let body = br#"{"error": "A SIP trunk with this phone number, username and address already exists."}"#;
    assert!(matches!(classify(status(409), body, None), ProviderError::Conflict { .. }));
}

#[test]
fn validation_422_keeps_field_errors() {
    let body = br#"{"message": "The given data was invalid.", "errors": {
        "sip_address": ["The sip address field is required."],
        "sip_calling_format": ["The selected sip calling format is invalid."]}}"#;
    match classify(status(422), body, None) {
        ProviderError::Invalid { status, message, fields } => {
            assert_eq!(status, 422);
            assert_eq!(message, "The given data was invalid.");
            assert_eq!(fields["sip_address"], ["The sip address field is required."]);
            assert_eq!(fields["sip_calling_format"], ["The selected sip calling format is invalid."]);
            assert_eq!(fields.len(), 2);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn validation_422_display_names_the_fields() {
    let body =
        br#"{"message": "x", "errors": {"allowed_inbound_ips": ["The allowed inbound ips field is required."]}}"#;
    let text = classify(status(422), body, None).to_string();
    assert!(text.contains("allowed_inbound_ips: The allowed inbound ips field is required."), "{text}");
}

#[test]
fn bad_request_400_is_invalid() {
    let e = classify(status(400), br#"{"error": "Phone number is already scheduled for release."}"#, None);
    assert!(matches!(e, ProviderError::Invalid { status: 400, .. }), "{e:?}");
}

#[test]
fn rate_limit_429_takes_retry_after_from_the_body() {
    let body = br#"{"error": "Rate limit exceeded", "message": "Too many requests", "retry_after": 60}"#;
    assert_eq!(
        classify(status(429), body, None),
        ProviderError::RateLimited { retry_after: Some(Duration::from_secs(60)) }
    );
}

#[test]
fn rate_limit_429_prefers_the_retry_after_header_over_the_body() {
    let body = br#"{"error": "Rate limit exceeded", "retry_after": 60}"#;
    let e = classify(status(429), body, Some(Duration::from_secs(7)));
    assert_eq!(e, ProviderError::RateLimited { retry_after: Some(Duration::from_secs(7)) });
}

#[test]
fn rate_limit_429_with_string_retry_after_in_the_body_is_read() {
    let e = classify(status(429), br#"{"retry_after": "12"}"#, None);
    assert_eq!(e, ProviderError::RateLimited { retry_after: Some(Duration::from_secs(12)) });
}

#[test]
fn rate_limit_429_without_any_hint_has_no_retry_after() {
    assert_eq!(classify(status(429), b"", None), ProviderError::RateLimited { retry_after: None });
}

#[test]
fn rate_limit_429_caps_an_absurd_retry_after() {
    // A hostile or broken body must not park the account for centuries (or overflow Instant).
    let e = classify(status(429), br#"{"retry_after": 18446744073709551615}"#, None);
    match e {
        ProviderError::RateLimited { retry_after: Some(d) } => assert!(d <= Duration::from_secs(3600), "{d:?}"),
        other => panic!("{other:?}"),
    }
    let e = classify(status(429), b"", Some(Duration::from_secs(u64::MAX)));
    match e {
        ProviderError::RateLimited { retry_after: Some(d) } => assert!(d <= Duration::from_secs(3600), "{d:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn server_error_500_is_transient_with_the_message() {
    let body = br#"{"error": "Failed to create SIP trunk. Please try again or contact support."}"#;
    match classify(status(500), body, None) {
        ProviderError::Transient(m) => assert!(m.contains("HTTP 500") && m.contains("Failed to create SIP trunk")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn html_error_page_is_summarized_by_status() {
    let body = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
    match classify(status(502), body, None) {
        ProviderError::Transient(m) => {
            assert!(m.contains("502"));
            assert!(!m.contains("<html"), "HTML must not leak into messages: {m}");
        }
        other => panic!("{other:?}"),
    }
    let e = classify(status(401), b"<html>Login</html>", None);
    assert!(matches!(e, ProviderError::Unauthorized { status: 401, .. }), "status decides, not body: {e:?}");
}

#[test]
fn empty_body_uses_the_canonical_reason() {
    assert_eq!(classify(status(404), b"", None), ProviderError::NotFound { message: "Not Found".into() });
}

#[test]
fn bolna_error_with_integer_code_uses_the_message() {
    let e = classify(status(404), br#"{"error": 404, "message": "Trunk not found"}"#, None);
    assert_eq!(e, ProviderError::NotFound { message: "Trunk not found".into() });
    let e = classify(status(400), br#"{"error": 1001, "message": "gateways are required"}"#, None);
    assert!(matches!(&e, ProviderError::Invalid { message, .. } if message == "gateways are required"), "{e:?}");
}

#[test]
fn framework_422_detail_array_is_read_as_field_errors() {
    let body = br#"{"detail": [{"loc": ["body", "gateways", 0, "port"], "msg": "value is not a valid integer"}]}"#;
    match classify(status(422), body, None) {
        ProviderError::Invalid { fields, .. } => {
            assert_eq!(fields["body.gateways.0.port"], ["value is not a valid integer"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn redirect_is_a_protocol_error_not_success() {
    let e = classify(status(302), b"", None);
    assert!(matches!(e, ProviderError::Protocol(_)), "{e:?}");
    assert!(e.is_transient());
}

#[test]
fn very_long_messages_are_truncated() {
    let long = "x".repeat(10_000);
    let body = serde_json::to_vec(&serde_json::json!({"error": long})).unwrap();
    match classify(status(404), &body, None) {
        ProviderError::NotFound { message } => assert!(message.chars().count() <= 301, "{}", message.len()),
        other => panic!("{other:?}"),
    }
}
