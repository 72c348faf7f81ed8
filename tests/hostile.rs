//! Hostile responses: whatever bytes or JSON a provider (or something in between) sends, the
//! parsers and the HTTP client return an error and never panic.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use siptrunk_operator::crd::ProviderType;
use siptrunk_operator::metrics::Metrics;
use siptrunk_operator::provider::ProviderError;
use siptrunk_operator::provider::autocalls::wire::{Envelope, Trunk};
use siptrunk_operator::provider::bolna::wire as bolna;
use siptrunk_operator::provider::http::{ClientConfig, HttpClient, classify};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        // Names the parsers look for, so the shapes get close to real ones.
        prop_oneof![Just("data"), Just("id"), Just("error"), Just("message"), Just("errors"), Just("retry_after")]
            .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("data".to_string()),
            Just("id".to_string()),
            Just("phone_number".to_string()),
            Just("nickname".to_string()),
            Just("allowed_inbound_ips".to_string()),
            Just("gateways".to_string()),
            Just("phone_numbers".to_string()),
            Just("media_encryption".to_string()),
            Just("error".to_string()),
            Just("message".to_string()),
            Just("errors".to_string()),
            Just("detail".to_string()),
            Just("retry_after".to_string()),
            "[a-z_]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn autocalls_list_parser_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = serde_json::from_slice::<Envelope<Vec<Trunk>>>(&bytes);
        let _ = serde_json::from_slice::<Envelope<Trunk>>(&bytes);
    }

    #[test]
    fn bolna_list_parser_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = serde_json::from_slice::<Vec<bolna::Trunk>>(&bytes);
    }

    #[test]
    fn classify_survives_arbitrary_bytes_and_statuses(
        code in 100u16..1000,
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        retry in proptest::option::of(any::<u64>()),
    ) {
        let status = StatusCode::from_u16(code).unwrap();
        let e = classify(status, &bytes, retry.map(Duration::from_secs));
        let _ = (e.to_string(), e.reason(), e.is_transient());
    }

    #[test]
    fn autocalls_parser_survives_arbitrary_json(v in arb_json()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        let _ = serde_json::from_slice::<Envelope<Vec<Trunk>>>(&bytes);
        let _ = serde_json::from_value::<Envelope<Vec<Trunk>>>(v);
    }

    #[test]
    fn bolna_parser_survives_arbitrary_json(v in arb_json()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        let _ = serde_json::from_slice::<Vec<bolna::Trunk>>(&bytes);
        let _ = serde_json::from_value::<bolna::Trunk>(v);
    }

    #[test]
    fn classify_survives_arbitrary_json_and_keeps_the_status_class(code in 400u16..600, v in arb_json()) {
        let e = classify(StatusCode::from_u16(code).unwrap(), &serde_json::to_vec(&v).unwrap(), None);
        let expected = match code {
            401 | 403 => "Unauthorized",
            404 => "NotFound",
            409 => "Conflict",
            429 => "RateLimited",
            400 | 422 => "ProviderRejected",
            500.. => "ProviderUnavailable",
            _ => "ProviderProtocolError",
        };
        prop_assert_eq!(e.reason(), expected);
        prop_assert!(e.to_string().chars().count() < 20_000);
    }
}

// ---- explicit cases ------------------------------------------------------------------------

#[test]
fn html_page_is_not_a_trunk_list() {
    let html = b"<!DOCTYPE html><html><body><h1>Login</h1></body></html>";
    assert!(serde_json::from_slice::<Envelope<Vec<Trunk>>>(html).is_err());
    assert!(serde_json::from_slice::<Vec<bolna::Trunk>>(html).is_err());
}

#[test]
fn truncated_json_is_an_error() {
    let body = br#"{"data": [{"id": 42, "phone_number": "1000", "sip_userna"#;
    assert!(serde_json::from_slice::<Envelope<Vec<Trunk>>>(body).is_err());
    assert!(serde_json::from_slice::<Vec<bolna::Trunk>>(br#"[{"id": "a", "gateways": [{"#).is_err());
}

#[test]
fn autocalls_id_as_a_string_is_an_error() {
    let body = br#"{"data": [{"id": "42", "phone_number": "1000"}]}"#;
    assert!(serde_json::from_slice::<Envelope<Vec<Trunk>>>(body).is_err());
}

#[test]
fn bolna_gateways_as_an_object_is_an_error() {
    let body = br#"[{"id": "a", "gateways": {"gateway_address": "x.example"}}]"#;
    assert!(serde_json::from_slice::<Vec<bolna::Trunk>>(body).is_err());
}

#[test]
fn bolna_id_as_a_number_is_an_error() {
    assert!(serde_json::from_slice::<Vec<bolna::Trunk>>(br#"[{"id": 7}]"#).is_err());
}

#[test]
fn data_as_an_object_where_a_list_is_expected_is_an_error() {
    assert!(serde_json::from_slice::<Envelope<Vec<Trunk>>>(br#"{"data": {"id": 1}}"#).is_err());
    assert!(serde_json::from_slice::<Envelope<Vec<Trunk>>>(br#"{"message": "ok"}"#).is_err());
}

#[test]
fn allowed_inbound_ips_as_placeholder_objects_is_an_error() {
    // The create page's curl example shows `[{}]` (trap 5); a response like that is not a list of IPs.
    let body = br#"{"data": [{"id": 1, "allowed_inbound_ips": [{}]}]}"#;
    assert!(serde_json::from_slice::<Envelope<Vec<Trunk>>>(body).is_err());
}

#[test]
fn huge_numbers_are_errors_not_wraparounds() {
    for body in [
        &br#"{"data": [{"id": 9223372036854775808}]}"#[..],
        br#"{"data": [{"id": 1e300}]}"#,
        br#"{"data": [{"id": 1e400}]}"#,
        br#"{"data": [{"id": -99999999999999999999999}]}"#,
    ] {
        assert!(serde_json::from_slice::<Envelope<Vec<Trunk>>>(body).is_err(), "{}", String::from_utf8_lossy(body));
    }
    let body = br#"[{"id": "a", "qualify_frequency": 1e400}]"#;
    assert!(serde_json::from_slice::<Vec<bolna::Trunk>>(body).is_err());
    let body = br#"[{"id": "a", "gateways": [{"gateway_address": "x", "port": 99999999999999999999}]}]"#;
    assert!(serde_json::from_slice::<Vec<bolna::Trunk>>(body).is_err());
}

#[test]
fn deeply_nested_json_is_refused_without_overflowing_the_stack() {
    let deep = format!("{{\"data\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(serde_json::from_slice::<Envelope<Vec<Trunk>>>(deep.as_bytes()).is_err());
    assert!(matches!(classify(StatusCode::BAD_REQUEST, deep.as_bytes(), None), ProviderError::Invalid { .. }));
}

#[test]
fn classify_with_wrong_types_in_every_field_still_classifies_by_status() {
    let body = br#"{"error": {"nested": true}, "message": 12, "errors": ["not", "a", "map"], "retry_after": -5, "detail": "x"}"#;
    assert_eq!(classify(StatusCode::TOO_MANY_REQUESTS, body, None), ProviderError::RateLimited { retry_after: None });
    let e = classify(StatusCode::UNPROCESSABLE_ENTITY, body, None);
    assert!(matches!(&e, ProviderError::Invalid { status: 422, fields, .. } if fields.is_empty()), "{e:?}");
}

// ---- through the HTTP client ---------------------------------------------------------------

/// Serves one canned HTTP response on a local port and returns the port.
async fn serve_once(response: Vec<u8>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        if let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 8192];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let _ = sock.write_all(&response).await;
            let _ = sock.shutdown().await;
        }
    });
    port
}

fn client(port: u16) -> HttpClient {
    let cfg = ClientConfig {
        provider: ProviderType::Famulor,
        base_url: format!("http://127.0.0.1:{port}/api"),
        token: SecretString::from("1|test-token".to_string()),
        timeout: Duration::from_secs(5),
        rate_per_second: 1000.0,
        burst: 10,
        ca_bundle: None,
        allow_insecure_http: true,
        list_budget: Default::default(),
        api_key: None,
    };
    HttpClient::new(cfg, Arc::new(Metrics::default())).unwrap()
}

async fn send_to(response: &str) -> Result<Value, ProviderError> {
    let port = serve_once(response.as_bytes().to_vec()).await;
    client(port).send::<()>(Method::GET, "/user/phone-numbers/sip-trunks", None, "list").await.map(|r| r.body)
}

#[tokio::test]
async fn an_absurd_retry_after_header_is_capped_instead_of_overflowing() {
    let e = send_to("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 18446744073709551615\r\nContent-Length: 0\r\n\r\n")
        .await;
    match e {
        Err(ProviderError::RateLimited { retry_after: Some(d) }) => assert!(d <= Duration::from_secs(3600), "{d:?}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_absurd_body_retry_after_is_capped_instead_of_overflowing() {
    let body = r#"{"error": "Rate limit exceeded", "retry_after": 18446744073709551615}"#;
    let resp = format!("HTTP/1.1 429 Too Many Requests\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    assert!(matches!(send_to(&resp).await, Err(ProviderError::RateLimited { retry_after: Some(_) })));
}

#[tokio::test]
async fn a_200_with_an_html_body_is_a_protocol_error() {
    let body = "<html><body>Welcome</body></html>";
    let resp = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    let e = send_to(&resp).await.expect_err("HTML is not a success body");
    assert!(matches!(&e, ProviderError::Protocol(m) if !m.contains("<html")), "{e:?}");
}

#[tokio::test]
async fn a_body_cut_short_is_an_error() {
    let resp = "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"data\": [{\"id\": 1";
    let e = send_to(resp).await.expect_err("a truncated body is not success");
    assert!(e.is_transient(), "{e:?}");
}

#[tokio::test]
async fn a_302_redirect_to_a_login_page_is_not_followed() {
    let resp = "HTTP/1.1 302 Found\r\nLocation: https://app.famulor.de/login\r\nContent-Length: 0\r\n\r\n";
    assert!(matches!(send_to(resp).await, Err(ProviderError::Protocol(_))));
}

#[tokio::test]
async fn an_empty_success_body_is_null() {
    let resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(send_to(resp).await.unwrap(), Value::Null);
}
