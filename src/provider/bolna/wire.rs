//! bolna.ai wire types: the trunk and its DIDs as the provider returns them, the desired trunk,
//! the create body and the PATCH with DID additions and removals. No I/O.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use crate::model::MarkerState;

/// A gateway as sent and returned (extra fields such as `id` are ignored: trap 14).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Gateway {
    /// Host or IP.
    pub gateway_address: String,
    /// SIP port.
    #[serde(default = "default_port")]
    pub port: i64,
    /// Lower is preferred.
    #[serde(default = "default_priority")]
    pub priority: i64,
}

fn default_port() -> i64 {
    5060
}
fn default_priority() -> i64 {
    1
}

/// An IP identifier (IPv4 or CIDR).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct IpIdentifier {
    /// Address or range.
    pub ip_address: String,
}

/// A DID on a trunk.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct PhoneNumber {
    /// Phone-number id.
    #[serde(default)]
    pub id: String,
    /// Stored exactly as submitted.
    #[serde(default)]
    pub phone_number: String,
    /// Optional label.
    #[serde(default)]
    pub name: Option<String>,
    /// Soft-delete flag (trap 17).
    #[serde(default)]
    pub deleted: bool,
}

/// A trunk as bolna returns it. Every field but `id` optional; unknown fields ignored.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct Trunk {
    /// Opaque string id.
    pub id: String,
    /// Unique per account.
    #[serde(default)]
    pub name: String,
    /// Carrier label.
    #[serde(default)]
    pub provider: Option<String>,
    /// Free text; carries our marker.
    #[serde(default)]
    pub description: Option<String>,
    /// `userpass` or `ip-based` (missing from some responses: trap 14).
    #[serde(default)]
    pub auth_type: Option<String>,
    /// Only on userpass trunks.
    #[serde(default)]
    pub auth_username: Option<String>,
    /// Gateways.
    #[serde(default)]
    pub gateways: Vec<Gateway>,
    /// IP identifiers.
    #[serde(default)]
    pub ip_identifiers: Vec<IpIdentifier>,
    /// DIDs, possibly including soft-deleted ones; some list responses carry a count instead.
    #[serde(default, deserialize_with = "numbers_or_count")]
    pub phone_numbers: Option<Vec<PhoneNumber>>,
    /// Allowed codecs.
    #[serde(default)]
    pub allow: Option<String>,
    /// Disallowed codecs.
    #[serde(default)]
    pub disallow: Option<String>,
    /// `transport-udp|tcp|tls`.
    #[serde(default)]
    pub transport: Option<String>,
    /// `"no"` or `"sdes"` (a string, trap 15); tolerate a boolean false.
    #[serde(default, deserialize_with = "string_or_bool")]
    pub media_encryption: Option<String>,
    /// Optimistic SRTP.
    #[serde(default)]
    pub media_encryption_optimistic: Option<bool>,
    /// Keep-alive seconds.
    #[serde(default)]
    pub qualify_frequency: Option<i64>,
    /// Inbound calls accepted.
    #[serde(default)]
    pub inbound_enabled: Option<bool>,
    /// Leading + on outbound.
    #[serde(default)]
    pub outbound_leading_plus_enabled: Option<bool>,
    /// In service.
    #[serde(default)]
    pub is_active: Option<bool>,
}

fn numbers_or_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<PhoneNumber>>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Array(_) => serde_json::from_value(v).map_err(serde::de::Error::custom)?,
        _ => None,
    })
}

fn string_or_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Bool(false) => Some("no".into()),
        serde_json::Value::Bool(true) => Some("sdes".into()),
        _ => None,
    })
}

impl Trunk {
    /// bolna's uniqueness key: the name.
    pub fn natural_key(&self) -> String {
        self.name.clone()
    }

    /// Our marker lives in the description as a `key=<marker>` token.
    pub fn marker_state(&self, marker: &str) -> MarkerState {
        match &self.description {
            None => MarkerState::NotOurs,
            Some(d) if d.split_whitespace().any(|w| w.strip_prefix("key=") == Some(marker)) => MarkerState::Ours,
            Some(_) => MarkerState::NotOurs,
        }
    }

    /// Live (not soft-deleted) DIDs.
    pub fn live_numbers(&self) -> impl Iterator<Item = &PhoneNumber> {
        self.phone_numbers.iter().flatten().filter(|n| !n.deleted)
    }
}

/// Compares numbers without their leading + (trap 17).
pub fn normalize_number(n: &str) -> String {
    n.trim().trim_start_matches('+').to_string()
}

/// A desired DID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DesiredNumber {
    /// As the user wrote it.
    pub phone_number: String,
    /// Label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The trunk the spec asks for, in wire terms. Optional settings left unset in the spec are
/// `None` and never diffed (the provider default stands).
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// Unique name.
    pub name: String,
    /// Carrier label (create only).
    pub provider: String,
    /// Description with the marker token.
    pub description: String,
    /// `userpass` or `ip-based` (create only).
    pub auth_type: &'static str,
    /// Username on userpass trunks.
    pub auth_username: Option<String>,
    /// Gateways, sorted by priority then address.
    pub gateways: Vec<Gateway>,
    /// Sorted IP identifiers.
    pub ip_identifiers: Vec<IpIdentifier>,
    /// DIDs.
    pub phone_numbers: Vec<DesiredNumber>,
    /// Allowed codecs.
    pub allow: Option<String>,
    /// Disallowed codecs.
    pub disallow: Option<String>,
    /// Transport wire value.
    pub transport: Option<&'static str>,
    /// Media encryption wire value.
    pub media_encryption: Option<&'static str>,
    /// Optimistic SRTP.
    pub media_encryption_optimistic: Option<bool>,
    /// Keep-alive seconds.
    pub qualify_frequency: Option<i64>,
    /// Inbound enabled.
    pub inbound_enabled: Option<bool>,
    /// Leading plus.
    pub outbound_leading_plus_enabled: Option<bool>,
    /// Active flag.
    pub is_active: Option<bool>,
}

impl Desired {
    /// bolna's uniqueness key.
    pub fn natural_key(&self) -> String {
        self.name.clone()
    }
}

fn expose_opt<S: Serializer>(s: &Option<SecretString>, ser: S) -> Result<S::Ok, S::Error> {
    match s {
        Some(s) => ser.serialize_str(s.expose_secret()),
        None => ser.serialize_none(),
    }
}

/// Create body; `auth_password` serialized only into the request.
#[derive(Serialize)]
pub struct CreateBody<'a> {
    name: &'a str,
    provider: &'a str,
    description: &'a str,
    auth_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose_opt")]
    auth_password: Option<SecretString>,
    gateways: &'a [Gateway],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    ip_identifiers: &'a [IpIdentifier],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    phone_numbers: &'a [DesiredNumber],
    #[serde(skip_serializing_if = "Option::is_none")]
    allow: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disallow: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transport: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_encryption: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_encryption_optimistic: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qualify_frequency: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inbound_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outbound_leading_plus_enabled: Option<bool>,
}

impl<'a> CreateBody<'a> {
    /// Builds the create request: only fields the create page documents (`is_active` is not
    /// one; the diff after the create sets it).
    pub fn new(d: &'a Desired, password: Option<SecretString>) -> Self {
        CreateBody {
            name: &d.name,
            provider: &d.provider,
            description: &d.description,
            auth_type: d.auth_type,
            auth_username: d.auth_username.as_deref(),
            auth_password: if d.auth_type == "userpass" { password } else { None },
            gateways: &d.gateways,
            ip_identifiers: &d.ip_identifiers,
            phone_numbers: &d.phone_numbers,
            allow: d.allow.as_deref(),
            disallow: d.disallow.as_deref(),
            transport: d.transport,
            media_encryption: d.media_encryption,
            media_encryption_optimistic: d.media_encryption_optimistic,
            qualify_frequency: d.qualify_frequency,
            inbound_enabled: d.inbound_enabled,
            outbound_leading_plus_enabled: d.outbound_leading_plus_enabled,
        }
    }
}

impl std::fmt::Debug for CreateBody<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateBody")
            .field("name", &self.name)
            .field("auth_password", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// PATCH body: only changed fields; lists whole (API.md §3.6).
#[derive(Serialize, Default, Clone)]
pub struct Patch {
    /// New name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_username: Option<String>,
    /// New password (keyed hash changed).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose_opt")]
    pub auth_password: Option<SecretString>,
    /// Whole gateway list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateways: Option<Vec<Gateway>>,
    /// Whole identifier list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_identifiers: Option<Vec<IpIdentifier>>,
    /// Codecs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<String>,
    /// Codecs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disallow: Option<String>,
    /// Transport.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// Media encryption.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_encryption: Option<String>,
    /// Optimistic SRTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_encryption_optimistic: Option<bool>,
    /// Keep-alive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualify_frequency: Option<i64>,
    /// Inbound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound_enabled: Option<bool>,
    /// Leading plus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_leading_plus_enabled: Option<bool>,
    /// Active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
}

/// Everything a bolna update does: one PATCH and DID calls.
#[derive(Clone, Default)]
pub struct Change {
    /// Fields for the PATCH (empty: no PATCH).
    pub patch: Patch,
    /// DIDs to add.
    pub add_numbers: Vec<DesiredNumber>,
    /// Phone-number ids to remove, with the number for messages.
    pub remove_numbers: Vec<(String, String)>,
}

impl std::fmt::Debug for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Change").field("fields", &self.changed_fields()).finish()
    }
}

impl Patch {
    fn fields(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let p = self;
        if p.name.is_some() {
            v.push("name");
        }
        if p.description.is_some() {
            v.push("description");
        }
        if p.auth_username.is_some() {
            v.push("auth_username");
        }
        if p.auth_password.is_some() {
            v.push("auth_password");
        }
        if p.gateways.is_some() {
            v.push("gateways");
        }
        if p.ip_identifiers.is_some() {
            v.push("ip_identifiers");
        }
        if p.allow.is_some() {
            v.push("allow");
        }
        if p.disallow.is_some() {
            v.push("disallow");
        }
        if p.transport.is_some() {
            v.push("transport");
        }
        if p.media_encryption.is_some() {
            v.push("media_encryption");
        }
        if p.media_encryption_optimistic.is_some() {
            v.push("media_encryption_optimistic");
        }
        if p.qualify_frequency.is_some() {
            v.push("qualify_frequency");
        }
        if p.inbound_enabled.is_some() {
            v.push("inbound_enabled");
        }
        if p.outbound_leading_plus_enabled.is_some() {
            v.push("outbound_leading_plus_enabled");
        }
        if p.is_active.is_some() {
            v.push("is_active");
        }
        v
    }

    /// True when no PATCH is needed.
    pub fn is_empty(&self) -> bool {
        self.fields().is_empty()
    }
}

impl Change {
    /// Names of everything this change touches.
    pub fn changed_fields(&self) -> Vec<&'static str> {
        let mut v = self.patch.fields();
        if !self.add_numbers.is_empty() || !self.remove_numbers.is_empty() {
            v.push("phone_numbers");
        }
        v
    }
}
