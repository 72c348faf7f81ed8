//! Step 2, validate: everything about a spec that can be checked without the network, for the
//! provider family it points at, and the desired trunk built from a valid spec. Pure.

use std::net::IpAddr;
use std::time::Duration;

use crate::crd::{AuthType, CallingFormat, NumberType, ProviderType, SipTrunkSpec};
use crate::model::{self, Desired, autocalls, bolna};
use crate::provider::capabilities;

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

fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else { return false };
    (7..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) && !digits.starts_with('0')
}

fn is_host(s: &str) -> bool {
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
    if let Some(n) = &spec.display_name
        && n.chars().count() > 30
    {
        err("spec.displayName", "must be at most 30 characters".into());
    }

    match provider {
        ProviderType::Autocalls | ProviderType::Famulor => {
            if spec.bolna.is_some() {
                err(
                    "spec.bolna",
                    format!("bolna settings cannot be used on a provider of type {family}; remove spec.bolna"),
                );
            }
            match spec.sip_address.as_deref() {
                None => err("spec.sipAddress", format!("is required for {family} trunks")),
                Some(a) if a.contains(':') && a.parse::<IpAddr>().is_err() => err(
                    "spec.sipAddress",
                    format!("{} must not carry a port or scheme; {family} has no port field", shown(a)),
                ),
                Some(a) if !is_host(a) => {
                    err("spec.sipAddress", format!("{} is not a host name or IP address", shown(a)))
                }
                Some(_) => {}
            }
            let number_type = spec.number_type.unwrap_or_default();
            match spec.phone_number.as_deref() {
                None => err("spec.phoneNumber", format!("is required for {family} trunks")),
                Some(n) if number_type == NumberType::Number && !is_e164(n) => err(
                    "spec.phoneNumber",
                    format!(
                        "{} is not E.164 with a leading + (e.g. +14155551234); use numberType: extension for extensions",
                        shown(n)
                    ),
                ),
                Some(n) if number_type == NumberType::Extension && !(1..=15).contains(&n.chars().count()) => {
                    err("spec.phoneNumber", "an extension must be 1-15 characters".into())
                }
                Some(_) => {}
            }
            match spec.country_code.as_deref() {
                None => {
                    err("spec.countryCode", format!("is required for {family} trunks (ISO 3166-1 alpha-2, e.g. US)"))
                }
                Some(c) if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_uppercase()) => err(
                    "spec.countryCode",
                    format!("{} must be two upper-case letters (ISO 3166-1 alpha-2, e.g. US)", shown(c)),
                ),
                Some(_) => {}
            }
            if spec.auth.password_secret_ref.is_none() {
                err(
                    "spec.auth.passwordSecretRef",
                    format!(
                        "is required for {family} trunks (outbound calls always authenticate with username and password)"
                    ),
                );
            }
        }
        ProviderType::Bolna => {
            for (set, path) in [
                (spec.sip_address.is_some(), "spec.sipAddress"),
                (spec.phone_number.is_some(), "spec.phoneNumber"),
                (spec.number_type.is_some(), "spec.numberType"),
                (spec.calling_format.is_some(), "spec.callingFormat"),
                (spec.country_code.is_some(), "spec.countryCode"),
                (spec.outbound_proxy.is_some(), "spec.outboundProxy"),
            ] {
                if set {
                    err(
                        path,
                        "is an autocalls/famulor setting; bolna trunks use spec.bolna (gateways, phoneNumbers)".into(),
                    );
                }
            }
            if spec.auth.type_ == AuthType::Credentials && spec.auth.password_secret_ref.is_none() {
                err("spec.auth.passwordSecretRef", "is required when auth.type is credentials".into());
            }
            match &spec.bolna {
                None => err("spec.bolna", "is required for bolna trunks (at least one gateway)".into()),
                Some(b) => {
                    if b.gateways.is_empty() || b.gateways.len() > 10 {
                        err("spec.bolna.gateways", "must list 1-10 gateways".into());
                    }
                    for (i, g) in b.gateways.iter().enumerate() {
                        if !is_host(&g.address) {
                            err(
                                &format!("spec.bolna.gateways[{i}].address"),
                                format!("{} is not a host name or IP address", shown(&g.address)),
                            );
                        }
                        if !(1..=65535).contains(&g.port) {
                            err(&format!("spec.bolna.gateways[{i}].port"), "must be 1-65535".into());
                        }
                        if b.gateways[..i]
                            .iter()
                            .any(|h| h.address.eq_ignore_ascii_case(&g.address) && h.port == g.port)
                        {
                            err(
                                &format!("spec.bolna.gateways[{i}]"),
                                "repeats an earlier gateway's address and port".into(),
                            );
                        }
                    }
                    if b.media_encryption == Some(crate::crd::MediaEncryption::Sdes)
                        && b.transport != Some(crate::crd::BolnaTransport::Tls)
                    {
                        err("spec.bolna.mediaEncryption", "sdes requires transport: tls".into());
                    }
                    let numbers = b.phone_numbers.as_deref().unwrap_or_default();
                    for (i, n) in numbers.iter().enumerate() {
                        let digits = bolna::normalize_number(&n.number);
                        if !(7..=15).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
                            err(
                                &format!("spec.bolna.phoneNumbers[{i}].number"),
                                format!("{} is not an E.164 number", shown(&n.number)),
                            );
                        }
                        if numbers[..i].iter().any(|m| bolna::normalize_number(&m.number) == digits) {
                            err(
                                &format!("spec.bolna.phoneNumbers[{i}].number"),
                                "is listed twice (numbers compare without +)".into(),
                            );
                        }
                    }
                }
            }
        }
    }
    errs
}

/// Default bolna trunk name: `<namespace>-<name>`, cut to 100 characters.
pub fn default_bolna_name(namespace: &str, name: &str) -> String {
    format!("{namespace}-{name}").chars().take(100).collect()
}

/// Builds the desired trunk from a spec that passed `validate`.
pub fn desired(spec: &SipTrunkSpec, provider: ProviderType, namespace: &str, name: &str) -> Desired {
    let marker = model::marker(namespace, name);
    let label = spec.display_name.clone().unwrap_or_else(|| name.to_string());
    match provider {
        ProviderType::Autocalls | ProviderType::Famulor => {
            let label: String = label.chars().take(50 - marker.len() - 1).collect();
            let ip = spec.auth.type_ == AuthType::Ip;
            Desired::Autocalls(autocalls::Desired {
                sip_trunk_type: match spec.number_type.unwrap_or_default() {
                    NumberType::Number => "number",
                    NumberType::Extension => "extension",
                },
                phone_number: spec.phone_number.clone().unwrap_or_default(),
                nickname: format!("{} {marker}", label.trim()),
                sip_username: spec.auth.username.clone(),
                sip_address: spec.sip_address.clone().unwrap_or_default().to_ascii_lowercase(),
                sip_calling_format: spec.calling_format.unwrap_or(CallingFormat::PlusE164).as_str(),
                inbound_authorization_type: if ip { "ip" } else { "auth" },
                allowed_inbound_ips: if ip {
                    autocalls::normalize_ips(spec.auth.allowed_inbound_ips.as_deref().unwrap_or_default())
                } else {
                    Vec::new()
                },
                country_code: spec.country_code.clone().unwrap_or_default(),
                outbound_proxy: spec.outbound_proxy.unwrap_or(false),
            })
        }
        ProviderType::Bolna => {
            let b = spec.bolna.clone().unwrap_or_else(|| crate::crd::BolnaSettings {
                name: None,
                provider: "custom".into(),
                gateways: vec![],
                phone_numbers: None,
                allow_codecs: None,
                disallow_codecs: None,
                transport: None,
                media_encryption: None,
                media_encryption_optimistic: None,
                qualify_frequency: None,
                inbound_enabled: None,
                outbound_leading_plus: None,
                active: None,
            });
            let userpass = spec.auth.type_ == AuthType::Credentials;
            let mut gateways: Vec<bolna::Gateway> = b
                .gateways
                .iter()
                .map(|g| bolna::Gateway {
                    gateway_address: g.address.to_ascii_lowercase(),
                    port: g.port.into(),
                    priority: g.priority.into(),
                })
                .collect();
            gateways.sort_by(|a, b| {
                (a.priority, &a.gateway_address, a.port).cmp(&(b.priority, &b.gateway_address, b.port))
            });
            let mut ip_identifiers: Vec<bolna::IpIdentifier> = if userpass {
                vec![]
            } else {
                spec.auth
                    .allowed_inbound_ips
                    .iter()
                    .flatten()
                    .map(|ip| bolna::IpIdentifier { ip_address: ip.trim().to_string() })
                    .collect()
            };
            ip_identifiers.sort();
            ip_identifiers.dedup();
            Desired::Bolna(bolna::Desired {
                name: b.name.clone().unwrap_or_else(|| default_bolna_name(namespace, name)),
                provider: b.provider.clone(),
                description: format!("{} managed-by=siptrunk-operator key={marker}", label.trim()),
                auth_type: if userpass { "userpass" } else { "ip-based" },
                auth_username: userpass.then(|| spec.auth.username.clone()),
                gateways,
                ip_identifiers,
                phone_numbers: b
                    .phone_numbers
                    .iter()
                    .flatten()
                    .map(|n| bolna::DesiredNumber { phone_number: n.number.clone(), name: n.name.clone() })
                    .collect(),
                allow: b.allow_codecs.clone(),
                disallow: b.disallow_codecs.clone(),
                transport: b.transport.map(|t| t.as_wire()),
                media_encryption: b.media_encryption.map(|m| m.as_wire()),
                media_encryption_optimistic: b.media_encryption_optimistic,
                qualify_frequency: b.qualify_frequency.map(i64::from),
                inbound_enabled: b.inbound_enabled,
                outbound_leading_plus_enabled: b.outbound_leading_plus,
                is_active: b.active,
            })
        }
    }
}
