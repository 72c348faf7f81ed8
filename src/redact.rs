//! Redaction of secrets from text that leaves the process (conditions, Events, logs, errors):
//! every form a provider may echo a secret back in — raw, JSON-escaped (also twice),
//! URL-encoded, base64 (standard and URL-safe, at any alignment inside a longer encoding) —
//! and each of them cut off by truncation at the end of the text. Below both the controller
//! and the provider layer; pure.

/// Secrets shorter than this are not redacted (they would match ordinary text); the controller
/// refuses passwords this short before any provider call.
pub const MIN_SECRET_LEN: usize = 3;
/// Shortest encoded fragment that is redacted on its own (base64 at an offset, truncated tail).
const MIN_FRAGMENT: usize = 4;

const MARK: &str = "[redacted]";

/// Removes every form of each secret from `message`.
pub fn redact(message: &str, secrets: &[&str]) -> String {
    let mut out = message.to_string();
    for s in secrets.iter().filter(|s| s.len() >= MIN_SECRET_LEN) {
        let mut forms = forms(s);
        // Longest first, so a form containing another is removed whole.
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        forms.dedup();
        for f in &forms {
            if !f.is_empty() {
                out = out.replace(f.as_str(), MARK);
            }
        }
        for f in &forms {
            out = cut_tail(out, f, if f == *s { MIN_SECRET_LEN } else { MIN_FRAGMENT });
        }
    }
    out
}

/// A secret's beginning left at the end of a truncated text (optionally followed by `…`).
fn cut_tail(out: String, form: &str, min: usize) -> String {
    let body = out.trim_end_matches('…').trim_end_matches("...");
    let cut = (min..form.len()).rev().filter(|&k| form.is_char_boundary(k)).find(|&k| body.ends_with(&form[..k]));
    match cut {
        Some(k) => format!("{}{MARK}…", &body[..body.len() - k]),
        None => out,
    }
}

/// The forms one secret can come back in.
pub fn forms(secret: &str) -> Vec<String> {
    let json1 = json_escape(secret);
    let json2 = json_escape(&json1);
    let mut v = vec![
        secret.to_string(),
        json1,
        json2,
        percent_encode(secret, false),
        percent_encode(secret, true),
        percent_encode(secret, false).to_ascii_lowercase_hex(),
    ];
    for alphabet in [STANDARD, URL_SAFE] {
        for offset in 0..3 {
            if let Some(f) = base64_fragment(secret.as_bytes(), offset, alphabet)
                && f.len() >= MIN_FRAGMENT
            {
                v.push(f);
            }
        }
    }
    v
}

fn json_escape(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default().to_string()
}

/// Percent-encoding of everything but RFC 3986 unreserved characters; `plus` writes spaces as
/// `+` (form encoding).
fn percent_encode(s: &str, plus: bool) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' if plus => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

trait LowerHex {
    fn to_ascii_lowercase_hex(&self) -> String;
}

impl LowerHex for String {
    /// `%2F` → `%2f`, leaving the unreserved characters as they are.
    fn to_ascii_lowercase_hex(&self) -> String {
        let mut out = String::with_capacity(self.len());
        let mut rest = 0;
        for c in self.chars() {
            if c == '%' {
                rest = 2;
                out.push(c);
            } else if rest > 0 {
                rest -= 1;
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The base64 characters that depend only on the secret's bytes when it starts `offset` bytes
/// into a longer encoded text (e.g. `user:password` in a Basic header).
fn base64_fragment(secret: &[u8], offset: usize, alphabet: &[u8; 64]) -> Option<String> {
    let mut bytes = vec![0u8; offset];
    bytes.extend_from_slice(secret);
    let mut chars = Vec::with_capacity(bytes.len() * 4 / 3 + 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..=chunk.len() {
            chars.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize]);
        }
    }
    let first = (8 * offset).div_ceil(6);
    let last = (8 * bytes.len()) / 6;
    (first < last).then(|| String::from_utf8_lossy(&chars[first..last]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "Pa\"ss\\word-Q7 ü/+";

    fn b64(bytes: &[u8]) -> String {
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = (u32::from(chunk[0]) << 16)
                | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
                | u32::from(*chunk.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(STANDARD[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn assert_clean(text: &str) {
        let r = redact(text, &[PW]);
        assert!(r.contains(MARK), "nothing redacted in {r}");
        for f in forms(PW) {
            assert!(!r.contains(&f), "form {f:?} left in {r}");
        }
        assert!(!r.contains("word-Q7"), "{r}");
    }

    #[test]
    fn every_form_is_redacted() {
        let json = serde_json::json!({"sip_password": PW}).to_string();
        assert_clean(&format!("The given data was invalid: {json}"));
        assert_clean(&format!("echo: {}", serde_json::to_string(&json).expect("json")));
        assert_clean(&format!("GET /x?password={}&a=1", percent_encode(PW, false)));
        assert_clean(&format!("form: password={}", percent_encode(PW, true)));
        assert_clean(&format!("form: password={}", percent_encode(PW, false).to_ascii_lowercase_hex()));
        assert_clean(&format!("body: {}", b64(PW.as_bytes())));
        for prefix in ["u:", "us:", "use:"] {
            let basic = b64(format!("{prefix}{PW}").as_bytes());
            let r = redact(&format!("Authorization: Basic {basic}"), &[PW]);
            assert!(r.contains(MARK), "{prefix}: {r}");
        }
    }

    #[test]
    fn truncated_forms_are_redacted() {
        let json = json_escape(PW);
        let r = redact(&format!("invalid: {{\"sip_password\":\"{}…", &json[..9]), &[PW]);
        assert!(!r.contains(&json[..9]), "{r}");
        let r = redact(&format!("password {}...", &PW[..5]), &[PW]);
        assert!(!r.contains(&PW[..5]), "{r}");
    }

    #[test]
    fn short_and_absent_secrets_leave_text_alone() {
        assert_eq!(redact("a ab abc", &["ab"]), "a ab abc");
        assert_eq!(redact("nothing here", &[PW]), "nothing here");
    }
}
