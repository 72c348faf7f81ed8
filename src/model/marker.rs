//! Ownership markers: `op:` and 12 hex digits of HMAC-SHA256, keyed with the operator's marker
//! key, over the object's identity (namespace and name). No tenant can compute a marker without
//! the key, and user text that reaches the provider may not carry anything marker-shaped.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;

/// Prefix of every marker token.
pub const PREFIX: &str = "op:";
/// Hex digits after the prefix (48 bits).
pub const DIGITS: usize = 12;
/// Length of a marker token.
pub const LEN: usize = PREFIX.len() + DIGITS;
/// Shortest key accepted (bytes).
pub const MIN_KEY_LEN: usize = 16;

/// The operator's marker key. Bound to nothing but the installation: it survives restarts
/// (kept in a Secret of the operator's namespace) and API-token rotation (not derived from any
/// token). Debug never prints it.
pub struct MarkerKey(SecretBox<Vec<u8>>);

impl std::fmt::Debug for MarkerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MarkerKey([redacted])")
    }
}

impl Clone for MarkerKey {
    fn clone(&self) -> Self {
        MarkerKey(SecretBox::new(Box::new(self.0.expose_secret().clone())))
    }
}

impl MarkerKey {
    /// A key from raw bytes; refused when shorter than `MIN_KEY_LEN`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(format!("the marker key must have at least {MIN_KEY_LEN} bytes, has {}", bytes.len()));
        }
        Ok(MarkerKey(SecretBox::new(Box::new(bytes.to_vec()))))
    }

    /// A fresh random 32-byte key (first start, demo, tests).
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        MarkerKey(SecretBox::new(Box::new(bytes.to_vec())))
    }

    /// The raw key, for storing it in its Secret.
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }

    /// The marker of the SipTrunk `namespace/name`.
    pub fn marker(&self, namespace: &str, name: &str) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(self.0.expose_secret()) {
            Ok(m) => m,
            // HMAC accepts keys of any length; this arm is unreachable in practice.
            Err(_) => return format!("{PREFIX}{}", "0".repeat(DIGITS)),
        };
        mac.update(b"siptrunk.dev/marker/v2\0");
        mac.update(namespace.as_bytes());
        mac.update(b"\0");
        mac.update(name.as_bytes());
        let digest = hex::encode(mac.finalize().into_bytes());
        format!("{PREFIX}{}", &digest[..DIGITS])
    }
}

/// The unkeyed marker of earlier releases (`op:` and 10 hex digits of SHA-256 over
/// `siptrunk.dev/namespace/name`). Accepted as proof only, never written: anyone can compute it.
pub fn legacy(namespace: &str, name: &str) -> String {
    use sha2::Digest;
    let digest = Sha256::digest(format!("siptrunk.dev/{namespace}/{name}").as_bytes());
    format!("{PREFIX}{}", &hex::encode(digest)[..10])
}

/// Whether a word is a marker token (ours or anyone's).
pub fn is_marker_token(word: &str) -> bool {
    word.starts_with(PREFIX)
}

/// Why user text may not reach the provider, or None when it may. User text (displayName, bolna
/// name) must not carry anything a marker check could mistake for a marker (`op:`, `key=`,
/// `managed-by=`, in any case) and no control characters.
pub fn user_text_problem(text: &str) -> Option<&'static str> {
    if text.chars().any(char::is_control) {
        return Some("must not contain control characters");
    }
    let lower = text.to_ascii_lowercase();
    if ["op:", "key=", "managed-by="].iter().any(|m| lower.contains(m)) {
        return Some("must not contain op:, key= or managed-by= (reserved for the operator's ownership marker)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_depends_on_key_and_identity() {
        let k = MarkerKey::from_bytes(&[7; 32]).expect("key");
        let other = MarkerKey::from_bytes(&[8; 32]).expect("key");
        assert_eq!(k.marker("ns", "a"), k.marker("ns", "a"));
        assert_ne!(k.marker("ns", "a"), k.marker("ns", "b"));
        assert_ne!(k.marker("ns-a", "b"), k.marker("ns", "a-b"));
        assert_ne!(k.marker("ns", "a"), other.marker("ns", "a"));
        assert_eq!(k.marker("ns", "a").len(), LEN);
        assert!(is_marker_token(&k.marker("ns", "a")));
    }

    #[test]
    fn short_keys_are_refused_and_debug_hides_the_key() {
        assert!(MarkerKey::from_bytes(b"short").is_err());
        let k = MarkerKey::from_bytes(b"0123456789abcdef-secret").expect("key");
        assert!(!format!("{k:?}").contains("secret"));
    }

    #[test]
    fn user_text_with_marker_shapes_or_control_characters_is_refused() {
        for bad in ["x op:0123456789ab", "OP:abc", "key=op:1", "Managed-By=x", "line\u{0}", "a\u{1b}[31m", "x\u{85}"] {
            assert!(user_text_problem(bad).is_some(), "{bad:?}");
        }
        for ok in ["Main line", "Ünïcödé — 東京", "op line", "key: value"] {
            assert_eq!(user_text_problem(ok), None, "{ok:?}");
        }
    }
}
