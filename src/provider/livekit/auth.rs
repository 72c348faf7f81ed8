//! LiveKit access tokens for the server API: a JWT (HS256) signed with the project's API secret,
//! `iss` = API key, a short lifetime and the SIP admin grant.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Lifetime of a minted token: long enough for one request and its retries, short enough that a
/// leaked one is useless soon.
pub const TOKEN_TTL: Duration = Duration::from_secs(300);

/// The `sip` grant of a LiveKit token.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SipGrant {
    /// Manage trunks and dispatch rules.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
    /// Place and transfer calls.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub call: bool,
}

/// The claims the operator sends (and the emulator reads).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The API key.
    #[serde(default)]
    pub iss: String,
    /// Identity (empty for server calls).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub: String,
    /// Not before (seconds since the epoch).
    #[serde(default)]
    pub nbf: u64,
    /// Expiry (seconds since the epoch).
    #[serde(default)]
    pub exp: u64,
    /// The video grant (empty: no room permissions).
    #[serde(default)]
    pub video: serde_json::Map<String, serde_json::Value>,
    /// The SIP grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip: Option<SipGrant>,
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A token for trunk and dispatch-rule management, valid from `now` for `ttl`.
pub fn admin_token(api_key: &str, api_secret: &SecretString, now: u64, ttl: Duration) -> SecretString {
    let claims = Claims {
        iss: api_key.to_string(),
        nbf: now,
        exp: now + ttl.as_secs(),
        sip: Some(SipGrant { admin: true, call: false }),
        ..Claims::default()
    };
    sign(&claims, api_secret.expose_secret().as_bytes())
}

/// Signs `claims` as an HS256 JWT.
pub fn sign(claims: &Claims, secret: &[u8]) -> SecretString {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    // Serializing a struct of strings, integers and maps cannot fail.
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{body}");
    let signature = URL_SAFE_NO_PAD.encode(hs256(secret, signing_input.as_bytes()));
    SecretString::from(format!("{signing_input}.{signature}"))
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hs256(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length: new_from_slice never fails for it.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Why a token is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts with JSON header and claims.
    #[error("malformed token")]
    Malformed,
    /// `alg` is not HS256.
    #[error("unsupported signing algorithm")]
    Algorithm,
    /// The `iss` is not a known API key.
    #[error("unknown API key")]
    UnknownKey,
    /// The signature does not match the key's secret.
    #[error("invalid token signature")]
    Signature,
    /// Past `exp`, before `nbf`, or without `exp`.
    #[error("token expired or not yet valid")]
    Expired,
}

/// Checks a token: HS256, signed with the secret of its `iss` (looked up by `secret_of`), within
/// `nbf`..`exp` (± `leeway` seconds, `exp` required). Returns the claims.
pub fn verify(
    token: &str,
    secret_of: impl Fn(&str) -> Option<Vec<u8>>,
    now: u64,
    leeway: u64,
) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).map_err(|_| TokenError::Malformed);
    let header: serde_json::Value = serde_json::from_slice(&decode(h)?).map_err(|_| TokenError::Malformed)?;
    if header["alg"] != "HS256" {
        return Err(TokenError::Algorithm);
    }
    let claims: Claims = serde_json::from_slice(&decode(c)?).map_err(|_| TokenError::Malformed)?;
    let secret = secret_of(&claims.iss).ok_or(TokenError::UnknownKey)?;
    let expected = hs256(&secret, format!("{h}.{c}").as_bytes());
    if !constant_time_eq(&expected, &decode(s)?) {
        return Err(TokenError::Signature);
    }
    if claims.exp == 0 || now > claims.exp + leeway || claims.nbf > now + leeway {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_for(key: &str) -> Option<Vec<u8>> {
        (key == "APIkey1").then(|| b"s3cret-s3cret-s3cret-s3cret-0123".to_vec())
    }

    #[test]
    fn minted_token_verifies_and_carries_the_sip_admin_grant() {
        let secret = SecretString::from("s3cret-s3cret-s3cret-s3cret-0123");
        let t = admin_token("APIkey1", &secret, 1_000, TOKEN_TTL);
        let claims = verify(t.expose_secret(), secret_for, 1_010, 0).expect("valid");
        assert_eq!(claims.iss, "APIkey1");
        assert_eq!(claims.exp, 1_300);
        assert_eq!(claims.sip, Some(SipGrant { admin: true, call: false }));
        assert!(!t.expose_secret().contains("s3cret"), "the secret is not in the token");
    }

    #[test]
    fn wrong_secret_expired_unknown_key_and_alg_none_are_refused() {
        let good = SecretString::from("s3cret-s3cret-s3cret-s3cret-0123");
        let t = admin_token("APIkey1", &SecretString::from("another-secret"), 1_000, TOKEN_TTL);
        assert_eq!(verify(t.expose_secret(), secret_for, 1_010, 0), Err(TokenError::Signature));
        let t = admin_token("APIkey1", &good, 1_000, TOKEN_TTL);
        assert_eq!(verify(t.expose_secret(), secret_for, 1_301, 0), Err(TokenError::Expired));
        assert_eq!(verify(t.expose_secret(), secret_for, 990, 0), Err(TokenError::Expired));
        let t = admin_token("other", &good, 1_000, TOKEN_TTL);
        assert_eq!(verify(t.expose_secret(), secret_for, 1_010, 0), Err(TokenError::UnknownKey));
        // alg "none" with the signature stripped: a classic forgery.
        let claims = URL_SAFE_NO_PAD.encode(br#"{"iss":"APIkey1","exp":9999999999,"sip":{"admin":true}}"#);
        let forged = format!("{}.{claims}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#));
        assert_eq!(verify(&forged, secret_for, 1_010, 0), Err(TokenError::Algorithm));
        assert_eq!(verify("not a jwt", secret_for, 1_010, 0), Err(TokenError::Malformed));
    }

    #[test]
    fn token_without_expiry_is_refused() {
        let claims = Claims { iss: "APIkey1".into(), ..Claims::default() };
        let t = sign(&claims, b"s3cret-s3cret-s3cret-s3cret-0123");
        assert_eq!(verify(t.expose_secret(), secret_for, 5, 0), Err(TokenError::Expired));
    }
}
