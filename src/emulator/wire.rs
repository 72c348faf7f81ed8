//! Wire helpers shared by both APIs: timestamps, generated ids, JSON responses and each flavor's error shapes.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};

use super::Flavor;

/// autocalls/famulor: `2026-03-31T10:00:00.000000Z`.
pub(crate) fn ts_micros(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// bolna: `2023-11-07T05:31:56Z`.
pub(crate) fn ts_seconds(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `ST_` + 12 alphanumerics, like the documented voice-trunk ids.
pub(crate) fn voice_trunk_id(rng: &mut impl Rng) -> String {
    let tail: String = (0..12).map(|_| char::from(rng.sample(Alphanumeric))).collect();
    format!("ST_{tail}")
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A 26-character ULID-like id: 10 characters of millisecond time, 16 random.
pub(crate) fn ulid_like(rng: &mut impl Rng, now: DateTime<Utc>) -> String {
    let mut ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    let mut time = [0u8; 10];
    for slot in time.iter_mut().rev() {
        *slot = CROCKFORD[(ms % 32) as usize];
        ms /= 32;
    }
    let mut out: String = time.iter().map(|&b| char::from(b)).collect();
    out.extend((0..16).map(|_| char::from(CROCKFORD[rng.random_range(0..32)])));
    out
}

pub(crate) fn random_token(rng: &mut impl Rng, flavor: Flavor) -> String {
    let body: String = (0..40).map(|_| char::from(rng.sample(Alphanumeric))).collect();
    match flavor {
        // Laravel Sanctum style `<n>|<random>`, as in the autocalls key example.
        Flavor::Autocalls | Flavor::Famulor => format!("1|{body}"),
        Flavor::Bolna => format!("bn-{body}"),
    }
}

pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// The integer `error` code of a bolna error body; not a catalogue, just distinct per status.
fn bolna_code(status: StatusCode) -> u16 {
    1000 + status.as_u16().saturating_sub(400)
}

/// autocalls/famulor `{"error": msg}`; bolna `{"error": <int>, "message": msg}`.
pub(crate) fn error(flavor: Flavor, status: StatusCode, msg: &str) -> Response {
    let body = match flavor {
        Flavor::Autocalls | Flavor::Famulor => json!({ "error": msg }),
        Flavor::Bolna => json!({ "error": bolna_code(status), "message": msg }),
    };
    json_response(status, body)
}

/// 401 for a missing or unknown token, in the flavor's shape.
pub(crate) fn unauthorized(flavor: Flavor, header_missing: bool) -> Response {
    let body = match (flavor, header_missing) {
        (Flavor::Autocalls, _) => json!({ "message": "Unauthenticated." }),
        (Flavor::Famulor, true) => json!({
            "error": "Missing Authorization header",
            "message": "Please provide your API key in the Authorization header as 'Bearer <key>'."
        }),
        (Flavor::Famulor, false) => json!({
            "error": "Invalid API key",
            "message": "The provided API key is invalid or has been revoked."
        }),
        (Flavor::Bolna, _) => json!({
            "error": bolna_code(StatusCode::UNAUTHORIZED),
            "message": "Invalid or missing API key"
        }),
    };
    json_response(StatusCode::UNAUTHORIZED, body)
}

/// 429 in the flavor's shape; `retry_after_header` adds `Retry-After`.
pub(crate) fn rate_limited(flavor: Flavor, retry_after: u64, retry_after_header: bool) -> Response {
    let body = match flavor {
        Flavor::Autocalls | Flavor::Famulor => json!({
            "error": "Rate limit exceeded",
            "message": "Too many requests. Please slow down and try again later.",
            "retry_after": retry_after
        }),
        Flavor::Bolna => json!({
            "error": bolna_code(StatusCode::TOO_MANY_REQUESTS),
            "message": "Rate limit exceeded. Please retry after some time."
        }),
    };
    let mut resp = json_response(StatusCode::TOO_MANY_REQUESTS, body);
    if retry_after_header {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    }
    resp
}

/// An injected error status for `endpoint` ("METHOD /route"), in the shape the provider uses for it.
pub(crate) fn injected(flavor: Flavor, endpoint: &str, status: StatusCode) -> Response {
    match status.as_u16() {
        401 => unauthorized(flavor, false),
        429 => rate_limited(flavor, 1, false),
        422 if flavor.is_autocalls_family() => {
            json_response(status, json!({ "message": "The given data was invalid.", "errors": {} }))
        }
        500 if flavor.is_autocalls_family() => {
            let msg = match endpoint {
                "POST /user/phone-numbers/sip-trunks" => {
                    "Failed to create SIP trunk. Please try again or contact support."
                }
                "PUT /user/phone-numbers/sip-trunks/{id}" => {
                    "Failed to update SIP trunk. Please try again or contact support."
                }
                "DELETE /user/phone-numbers/{id}" => {
                    "Failed to release phone number. Please try again or contact support."
                }
                _ => "Server Error",
            };
            error(flavor, status, msg)
        }
        _ => error(flavor, status, status.canonical_reason().unwrap_or("Error")),
    }
}
