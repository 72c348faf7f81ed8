//! Step 2, validate: everything about a spec that can be checked without the network, for the
//! provider family it points at, and the desired trunk built from a valid spec. Pure.

use std::net::IpAddr;
use std::time::Duration;

use crate::crd::{AuthType, ProviderType, SipTrunkSpec};
use crate::model;
use crate::provider::{capabilities, with_family};

/// One problem with one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Path such as `spec.auth.allowedInboundIps[1]`.
    pub path: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Joins field errors into one condition message.
pub fn describe(errors: &[FieldError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Parses durations such as `30s`, `5m`, `1h30m`, `500ms`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut num = String::new();
    let mut chars = s.trim().chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        let unit = match c {
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                Duration::from_millis(n)
            }
            's' => Duration::from_secs(n),
            'm' => Duration::from_secs(n.checked_mul(60)?),
            'h' => Duration::from_secs(n.checked_mul(3600)?),
            _ => return None,
        };
        total = total.checked_add(unit)?;
        any = true;
    }
    (any && num.is_empty()).then_some(total)
}

/// Longest user value quoted whole in a message (a 10 kB value would swamp conditions, Events
/// and logs).
pub const SHOWN_MAX: usize = 64;

/// A user value as quoted in a message: whole when short, else its start and its length.
pub fn shown(v: &str) -> String {
    let n = v.chars().count();
    if n <= SHOWN_MAX {
        return format!("{v:?}");
    }
    let head: String = v.chars().take(SHOWN_MAX - 16).collect();
    format!("{head:?}… ({n} characters)")
}

/// Whether `s` is an E.164 number with a leading +.
pub fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else { return false };
    (7..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) && !digits.starts_with('0')
}

/// Whether `s` is a host name or an IP address.
pub fn is_host(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, prefix)) = s.split_once('/') else { return false };
    match (ip.parse::<IpAddr>(), prefix.parse::<u8>()) {
        (Ok(IpAddr::V4(_)), Ok(p)) => p <= 32,
        (Ok(IpAddr::V6(_)), Ok(p)) => p <= 128,
        _ => false,
    }
}

/// Checks a spec against what the provider family supports. Empty means valid.
pub fn validate(spec: &SipTrunkSpec, provider: ProviderType) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut err = |path: &str, message: String| errs.push(FieldError { path: path.to_string(), message });
    let caps = capabilities(provider);
    let family = provider.as_str();

    let username = &spec.auth.username;
    if !(3..=128).contains(&username.chars().count()) {
        err("spec.auth.username", format!("must be 3-128 characters, has {}", username.chars().count()));
    }
    if username.chars().any(char::is_whitespace) {
        err("spec.auth.username", "must not contain whitespace".into());
    }
    let ips = spec.auth.allowed_inbound_ips.as_deref().unwrap_or_default();
    match spec.auth.type_ {
        AuthType::Ip if ips.is_empty() => {
            err("spec.auth.allowedInboundIps", "must list at least one address when auth.type is ip".into())
        }
        AuthType::Credentials if !ips.is_empty() => {
            err("spec.auth.allowedInboundIps", "must be empty when auth.type is credentials".into())
        }
        _ => {}
    }
    for (i, ip) in ips.iter().enumerate() {
        let path = format!("spec.auth.allowedInboundIps[{i}]");
        if ip.parse::<IpAddr>().is_ok() {
            continue;
        }
        if is_cidr(ip) {
            if !caps.cidr_allow_list {
                err(&path, format!("{} is a CIDR range; {family} accepts plain IP addresses only", shown(ip)));
            }
        } else {
            err(
                &path,
                format!(
                    "{} is not an IP address{}",
                    shown(ip),
                    if caps.cidr_allow_list { " or CIDR range" } else { "" }
                ),
            );
        }
    }
    if let Some(d) = &spec.drift_check_interval {
        match parse_duration(d) {
            Some(v) if v >= super::accounts::MIN_DRIFT => {}
            Some(_) => err("spec.driftCheckInterval", "must be at least 1s".into()),
            None => err("spec.driftCheckInterval", format!("{} is not a duration such as 30s, 5m or 1h", shown(d))),
        }
    }
    if let Some(n) = &spec.display_name {
        if n.chars().count() > 30 {
            err("spec.displayName", "must be at most 30 characters".into());
        }
        if let Some(problem) = model::marker::user_text_problem(n) {
            err("spec.displayName", problem.into());
        }
    }

    with_family!(provider, F => {
        // The settings of other families, refused in one place: each family names its own.
        for (path, set) in spec.family_settings() {
            if set && !F::SETTINGS.contains(&path) {
                err(
                    path,
                    format!(
                        "cannot be used on a provider of type {family}, whose trunks are described by {}; remove {path}",
                        F::SETTINGS.join(", ")
                    ),
                );
            }
        }
        F::validate(spec, provider, &mut err)
    });
    errs
}

/// Shortest SIP password a provider accepts: autocalls/famulor document at least 3 characters;
/// bolna documents none, and anything shorter cannot be redacted from provider messages, so
/// the same floor applies.
pub fn min_password_len(_provider: ProviderType) -> usize {
    crate::redact::MIN_SECRET_LEN.max(3)
}

/// Why a SIP password cannot be sent, or None. Never includes the password.
pub fn password_problem(password: &secrecy::SecretString, provider: ProviderType) -> Option<String> {
    use secrecy::ExposeSecret;
    let n = password.expose_secret().chars().count();
    let min = min_password_len(provider);
    if n < min {
        return Some(format!("has {n} characters; {} requires at least {min}", provider.as_str()));
    }
    if password.expose_secret().chars().any(char::is_control) {
        return Some("contains control characters".into());
    }
    None
}

/// Default bolna trunk name: `<namespace>-<name>`, cut to 100 characters.
pub fn default_bolna_name(namespace: &str, name: &str) -> String {
    crate::provider::bolna::translate::default_name(namespace, name)
}
